// Xen's vCPU time (xen/arch/x86/time.c as a guest sees it, docs/misc/tscmode.txt):
// the per-vCPU vcpu_time_info is the same pvclock ABI, but its system_time is
// Xen's own NOW() -- time since the host booted -- and Xen 3.4 sets no STABLE
// bit. tsc_mode decides what rdtsc returns after a save/restore or migration:
//   0 default: native while the host is TSC-safe; a restored/migrated PV domain is emulated from then on
//   1 always_emulate: emulated at the original host's frequency, continuing from the saved value (>= last + 1)
//   2 native: the destination host's TSC as it is (jumps, changes rate)
//   3 native_paravirt: native, with TSC_AUX counting restores and migrations (the "incarnation")
// It reuses the per-vCPU shape of the KVM model (offset, ratio, page) and overrides the rules that differ.
import type { Kernel } from '../../bindings/index.js';
import type { Host } from '../host/host.js';
import { Kvm, type KvmVcpu } from '../kvm/x86.js';
import { u64 } from '../units.js';

export type TscMode = 0 | 1 | 2 | 3;

export class Xen extends Kvm {
  /** Whether rdtsc is emulated for this domain now. */
  emulated: boolean;
  /** The guest TSC rate it was started at (what emulation keeps). */
  readonly originalKhz: number;
  /** TSC_AUX incarnation (tsc_mode 3). */
  incarnation = 0;

  constructor(k: Kernel, host: Host, readonly tscMode: TscMode, t: bigint, originalKhz?: number, emulated?: boolean) {
    super(k, host, '3.8-4.11', t);
    this.originalKhz = originalKhz ?? host.khz;
    this.defaultTscKhz = this.originalKhz;
    // default mode: native on a TSC-safe host (constant, synchronized); otherwise emulated
    this.emulated = emulated ?? (tscMode === 1 || (tscMode === 0 && host.tscUnstable));
    this.kvmclockOffset = 0n; // system_time is NOW(): host uptime
  }

  /** A Xen vCPU: TSC = host TSC (native), or the emulated counter at the original rate. */
  override createVcpu(t: bigint, pcpu: number): KvmVcpu {
    const v = super.createVcpu(t, pcpu);
    v.ratio = this.ratioFor();
    v.offset = 0n;
    if (this.emulated) v.offset = u64(-this.k.kvmScaleTsc(this.host.tsc(pcpu, t), v.ratio, this.host.fracBits)); // counts from 0
    return v;
  }

  /** Emulation at the original frequency on this host, as a scaling ratio; native: none. */
  ratioFor(): bigint {
    const one = 1n << BigInt(this.host.fracBits);
    if (!this.emulated || this.originalKhz === this.host.khz) return one;
    return (one * BigInt(this.originalKhz)) / BigInt(this.host.khz);
  }

  /** Masterclock: none under Xen. */
  override updateMasterclock(t: bigint): void {
    this.useMasterClock = false;
    for (const v of this.vcpus) this.requestClockUpdate(v, t);
  }

  /** A context switch rewrites the time record: no rate-limited global update. */
  override globalClockUpdate(v: KvmVcpu, t: bigint): void {
    for (const w of this.vcpus) this.requestClockUpdate(w, t);
  }

  override stableBit(): boolean {
    return false;
  }

  /** update_vcpu_system_time: (guest TSC, NOW()) now, scaled at the guest's TSC rate. */
  override guestTimeUpdate(v: KvmVcpu, t: bigint): void {
    v.clockUpdatePending = false;
    const khz = this.emulated ? this.originalKhz : this.host.khz;
    if (v.hwTscKhz !== khz) {
      const { shift, mul } = this.k.kvmGetTimeScale(1_000_000_000n, BigInt(khz) * 1000n);
      v.page.tscShift = shift;
      v.page.tscToSystemMul = mul;
      v.hwTscKhz = khz;
    }
    v.page.tscTimestamp = this.l1Tsc(v, t);
    v.page.systemTime = this.host.ns(t);
    v.lastGuestTsc = v.page.tscTimestamp;
    if (!v.kvmclockEnabled) return;
    v.page.flags &= ~1;
    v.page.version = (v.page.version + 2) >>> 0;
  }

  /** Xen has no vcpu_load unstable-host logic of KVM's kind: a context switch rewrites the time record. */
  override vcpuLoad(v: KvmVcpu, p: number, t: bigint): void {
    v.pcpu = p;
    v.running = true;
    this.guestTimeUpdate(v, t);
  }
}
