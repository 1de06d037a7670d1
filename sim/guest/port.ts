// What the guest sees of the machine below it: its vCPUs (whether the host runs them, their raw clocks),
// the MSRs it may write, and where its printk lines and the observed anomalies go. Nothing else.
import type { Kernel } from '../../bindings/index.js';
import type { Anomaly, LogLine } from '../types.js';

export interface GuestPort {
  readonly k: Kernel;
  /** Real time now (ns since the VM started). */
  now(): bigint;
  /** The scenario's seed (the guest's own random draws derive from it). */
  seed(): bigint;
  vcpuCount(): number;
  /** Whether the host runs vCPU i now (in KVM_RUN, in the guest; the VM not stopped). */
  running(i: number): boolean;
  /**
   * Every vCPU's raw clocks at real time t, from the state KVM holds now: [tsc, pvclock value of its page at that
   * TSC (no clamp), page flags] per vCPU. `into` is reused.
   */
  readAll(t: bigint, into?: bigint[]): bigint[];
  /** vCPU i's raw clocks at t, as one entry of readAll. */
  readOne(i: number, t: bigint): [bigint, bigint, bigint];
  /** The largest raw pvclock value at t among the vCPUs in mask (bit i) with kvmclock, leaving out STABLE pages when skipStable. */
  maxPvclock(mask: bigint, skipStable: boolean, t: bigint): bigint;
  /** The parameters of vCPU i's TSC for the warp loop. */
  warpCpu(i: number): { ratio: bigint; offset: bigint; skew: bigint };
  hostTscNow(): bigint;
  hostKhz(): number;
  /** The rate of vCPU 0's TSC against real time, in kHz: what calibration against the PIT/HPET measures. */
  calibrateTscKhz(): number;
  fracBits(): 48 | 32;
  /** The guest's WRMSR on vCPU i (KVM's kvm_set_msr_common). */
  wrmsr(i: number, msr: 'IA32_TSC' | 'IA32_TSC_ADJUST', value: bigint): void;
  rdmsrTscAdjust(i: number): bigint;
  /** The guest keeps vCPU i busy for ns of real time (the warp loop): the machine lets that time pass. */
  spend(ns: bigint): void;
  /** Which hypervisor's pvclock the guest has (its clocksource is kvm-clock or xen). */
  hypervisor(): 'kvm' | 'xen';
  /** vCPU i's pvclock page as the guest sees it. */
  page(i: number): { tscToSystemMul: number; tscShift: number; flags: number };
  /** The guest cleared PVCLOCK_GUEST_STOPPED in vCPU i's page (KVM keeps the guest's copy of that bit). */
  clearGuestStopped(i: number): void;
  /** The Hyper-V reference TSC page the guest reads (sequence 0: the reference counter MSR). */
  hvPage(): { on: boolean; sequence: number; scale: bigint; offset: bigint };
  /** How far a clocksource runs ahead of true time (ppb): what a converged NTP daemon corrects. */
  clocksourceDriftPpb(cs: 'kvm-clock' | 'tsc'): bigint;
  log(line: LogLine): void;
  /** Records an anomaly; returns it as stored (the guest may extend an episode it reported). */
  anomaly(a: Omit<Anomaly, 'until' | 'count'> & Partial<Pick<Anomaly, 'count' | 'until'>>): Anomaly;
}
