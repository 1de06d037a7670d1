// arch/x86/kvm/x86.c: KVM's per-VM and per-vCPU time state, as rules over the
// host below it. This file is the state machine -- kvm_synchronize_tsc in its
// historical forms, the masterclock, kvm_guest_time_update, the requests that
// refresh a vCPU's pvclock page when it next enters the guest, KVM_GET/SET_CLOCK,
// KVM_VCPU_TSC_OFFSET, kvm_set_tsc_khz, vcpu_load on an unstable host, MSR
// writes, host resume; eras.ts says which form each kernel era has. Every
// formula goes through the Wasm kernel.
import type { Kernel, PvclockTimeInfo } from '../../bindings/index.js';
import { PVCLOCK_TSC_STABLE_BIT, PVCLOCK_GUEST_STOPPED } from '../../bindings/index.js';
import { hvSetupTscPage, type HvTscPage } from './hyperv.js';
import type { Host } from '../host/host.js';
import { rulesFor, type Commit, type RuleSet, type Rules } from './eras.js';
import { u64, s64 } from '../units.js';

export { RULES, RULE_SETS, rulesFor, resolveRuleSet, type Rules, type RuleSet, type Commit } from './eras.js';

export const KVM_CLOCK_TSC_STABLE = 2;
export const KVM_CLOCK_REALTIME = 1 << 2;
export const KVM_CLOCK_HOST_TSC = 1 << 3;
const KVM_CLOCK_VALID_FLAGS = KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC;
const USEC_PER_SEC = 1_000_000n;
const NSEC_PER_SEC = 1_000_000_000n;
/** KVMCLOCK_UPDATE_DELAY: msecs_to_jiffies(100). */
const KVMCLOCK_UPDATE_DELAY = 100_000_000n;

export interface KvmClockData { clock: bigint; flags: number; realtime: bigint; hostTsc: bigint }

/** The TSC fields of vcpu->arch, the pvclock page KVM writes for it, and its pending requests. */
export interface KvmVcpu {
  id: number;
  /** vcpu->cpu: the pCPU it was last loaded on (-1: never). */
  pcpu: number;
  /** In KVM_RUN, in the guest: requests are served at once (kvm_vcpu_kick), else at its next entry. */
  running: boolean;
  ratio: bigint;
  offset: bigint;
  virtualTscKhz: number;
  virtualTscMult: number;
  virtualTscShift: number;
  tscAdjust: bigint;
  thisTscGeneration: number;
  /** this_tsc_nsec/write; before generations, the vCPU's own last_tsc_nsec/write (compute_guest_tsc's base). */
  thisTscNsec: bigint;
  thisTscWrite: bigint;
  lastGuestTsc: bigint;
  lastHostTsc: bigint;
  tscCatchup: boolean;
  hwTscKhz: number;
  page: Required<PvclockTimeInfo>;
  kvmclockEnabled: boolean;
  stoppedRequest: boolean;
  /** KVM_REQ_CLOCK_UPDATE, pending until the vCPU next enters the guest. */
  clockUpdatePending: boolean;
  /** KVM_REQ_MASTERCLOCK_UPDATE, likewise. */
  masterclockUpdatePending: boolean;
  /** The reason given with the pending masterclock request (for the log). */
  masterclockReason: string;
  /** What the last page update under the masterclock was computed from (kvm_guest_time_update's inputs). */
  lastUpdateKey?: (bigint | number | boolean)[] | null;
  /** The LAPIC timer in TSC-deadline mode: IA32_TSC_DEADLINE (0: disarmed), expiries delivered, one pending. */
  tscDeadline?: bigint;
  deadlineFired?: number;
  deadlinePending?: boolean;
  /** Bumped at each write: an hrtimer armed by an earlier write is cancelled. */
  deadlineGen?: number;
}

/** One KVM tracepoint as it fired: its name and its TP_fast_assign fields (sim/kvm/trace.ts prints them). */
export type KvmTrace =
  | { name: 'kvm_write_tsc_offset'; vcpu: number; prev: bigint; next: bigint }
  | { name: 'kvm_track_tsc'; vcpu: number; nrMatched: number; online: number; masterclock: boolean; hostClock: string }
  | { name: 'kvm_update_master_clock'; masterclock: boolean; hostClock: string; offsetMatched: boolean }
  | { name: 'kvm_pvclock_update'; vcpu: number; version: number; tscTimestamp: bigint; systemTime: bigint; mul: number; shift: number; flags: number }
  | { name: 'kvm_msr'; vcpu: number; write: boolean; msr: number; data: bigint };

export type KvmEvent =
  | { kind: 'masterclock'; on: boolean; reason: string }
  | { kind: 'stable'; on: boolean }
  | { kind: 'host-log'; text: string };

export class Kvm {
  readonly rules: Rules;
  readonly vcpus: KvmVcpu[] = [];
  lastTscNsec = 0n;
  lastTscWrite = 0n;
  lastTscKhz = 0;
  lastTscOffset = 0n;
  curTscGeneration = 0;
  curTscNsec = 0n;
  curTscWrite = 0n;
  curTscOffset = 0n;
  nrVcpusMatchedTsc = 0;
  userSetTsc = false;
  useMasterClock = false;
  masterKernelNs = 0n;
  masterCycleNow = 0n;
  kvmclockOffset: bigint;
  backwardsTscObserved = false;
  /** ka->boot_vcpu_runs_old_kvmclock: vCPU 0's guest last enabled kvmclock through the old MSR (no masterclock then). */
  bootVcpuRunsOldKvmclock = false;
  /** Whether the last page written carried PVCLOCK_TSC_STABLE_BIT. */
  lastStable = false;
  /** The Hyper-V reference TSC page (arch/x86/kvm/hyperv.c): sequence 0 = invalid. */
  hvTscPage: HvTscPage = { sequence: 0, scale: 0n, offset: 0n };
  /** The guest asked for re-enlightenment notifications: after KVM_SET_CLOCK the page is left as it is (HOST_CHANGED). */
  hvReenlightenment = false;
  private hvHostChanged = false;
  /** kvm->arch.default_tsc_khz: the rate a new vCPU is created at (the host's, unless set VM-wide). */
  defaultTscKhz: number;
  /** When the delayed kvmclock_update_work is due (null: not queued). */
  private updateWorkAt: bigint | null = null;
  /** Runs fn at host time t (the host's workqueue; the machine wires it to its timeline). */
  defer: (t: bigint, fn: (t: bigint) => void) => void = (t, fn) => fn(t);
  readonly events: { t: bigint; e: KvmEvent }[] = [];
  /** With tracing on (the machine sets it): called for every tracepoint KVM fires, in order. */
  tracer: ((t: bigint, e: KvmTrace) => void) | null = null;

  constructor(readonly k: Kernel, readonly host: Host, rules: RuleSet | Rules, t: bigint,
              commits: Partial<Record<Commit, boolean>> = {}) {
    this.rules = typeof rules === 'string' ? rulesFor(rules, commits) : rules;
    this.defaultTscKhz = host.khz;
    // kvm_arch_init_vm: kvmclock starts at 0 when the VM is created
    this.kvmclockOffset = u64(-this.baseNs(t));
  }

  get online(): number { return this.vcpus.length; }

  /** Records a tracepoint (only with tracing on). */
  tp(t: bigint, e: KvmTrace): void { this.tracer?.(t, e); }

  /** kvm_vcpu_write_tsc_offset: the L1 offset changes (trace_kvm_write_tsc_offset(vcpu_id, l1_tsc_offset, l1_offset)). */
  private writeOffset(v: KvmVcpu, next: bigint, t: bigint): void {
    this.tp(t, { name: 'kvm_write_tsc_offset', vcpu: v.id, prev: v.offset, next });
    v.offset = next;
  }

  /** The host's vclock_mode as pvclock_gtod_data holds it: the TSC, or none for another clocksource. */
  private get hostClock(): string { return this.host.tscClocksource ? 'tsc' : this.host.clocksource === 'hpet' ? 'hpet' : 'none'; }
  private get defaultRatio(): bigint { return 1n << BigInt(this.host.fracBits); }
  has(c: Commit): boolean { return this.rules.commits[c]; }

  /**
   * The host clock kvmclock counts on: get_kernel_ns()/ktime_get_boot_ns() (NTP-slewed CLOCK_BOOTTIME)
   * before 53fafdbb8b21, CLOCK_MONOTONIC_RAW + the boot offset (get_kvmclock_base_ns) after.
   */
  baseNs(t: bigint): bigint {
    return this.has('53fafdbb8b21') ? this.host.rawNs(t) : this.host.bootNs(t);
  }

  /** kvm_scale_tsc(rdtsc() on the vCPU's pCPU, ratio) + offset: the L1 TSC. */
  l1Tsc(v: KvmVcpu, t: bigint): bigint {
    return this.k.kvmReadL1Tsc(this.host.tsc(Math.max(v.pcpu, 0), t), v.ratio, v.offset, this.host.fracBits);
  }

  private computeL1TscOffset(v: KvmVcpu, target: bigint, t: bigint): bigint {
    return this.k.kvmComputeTscOffset(target, this.host.tsc(Math.max(v.pcpu, 0), t), v.ratio, this.host.fracBits);
  }

  private nsecToCycles(v: KvmVcpu, ns: bigint): bigint {
    return this.k.nsecToCycles(u64(ns), v.virtualTscMult, v.virtualTscShift);
  }

  /** KVM_SET_TSC_KHZ on the VM (ffbb61d09fc5): the rate vCPUs created from now on start at; refused once one exists. */
  setDefaultTscKhz(khz: number): void {
    if (!this.has('ffbb61d09fc5')) throw new Error(`KVM_SET_TSC_KHZ on a VM: -ENOTTY (KVM ${this.rules.name} predates 6.0)`);
    if (this.vcpus.length) throw new Error('KVM_SET_TSC_KHZ on a VM: -EINVAL once vCPUs exist');
    this.defaultTscKhz = khz;
  }

  /** kvm_set_tsc_khz for one vCPU (KVM_SET_TSC_KHZ); returns the kernel's decision. */
  /** kvm_set_tsc_khz's result for a rate on this host (the same for every vCPU set to it). */
  private readonly tscKhzResults = new Map<number, ReturnType<Kernel['kvmSetTscKhz']>>();

  setTscKhz(v: KvmVcpu, khz: number, t: bigint): ReturnType<Kernel['kvmSetTscKhz']> {
    let r = this.tscKhzResults.get(khz);
    if (!r) {
      r = this.k.kvmSetTscKhz({ userKhz: khz, hostKhz: this.host.khz, hasTscControl: this.host.hasTscControl, fracBits: this.host.fracBits });
      this.tscKhzResults.set(khz, r);
    }
    v.virtualTscKhz = r.virtualTscKhz;
    v.virtualTscMult = r.virtualTscMult;
    v.virtualTscShift = r.virtualTscShift;
    v.ratio = r.ratio;
    if (r.result === 'catchup') v.tscCatchup = true;
    if (r.result === 'error' && r.message) this.log(t, `kvm: ${r.message}`);
    return r;
  }

  /** kvm_arch_vcpu_create (at default_tsc_khz: the host's rate) + kvm_arch_vcpu_postcreate (a host TSC write of 0). */
  createVcpu(t: bigint, pcpu: number): KvmVcpu {
    const v: KvmVcpu = {
      id: this.vcpus.length, pcpu, running: false, ratio: this.defaultRatio, offset: 0n, virtualTscKhz: 0,
      virtualTscMult: 0, virtualTscShift: 0, tscAdjust: 0n, thisTscGeneration: 0, thisTscNsec: 0n, thisTscWrite: 0n,
      lastGuestTsc: 0n, lastHostTsc: 0n, tscCatchup: false, hwTscKhz: 0,
      page: { version: 0, tscTimestamp: 0n, systemTime: 0n, tscToSystemMul: 0, tscShift: 0, flags: 0 },
      kvmclockEnabled: false, stoppedRequest: false, clockUpdatePending: false, masterclockUpdatePending: false,
      masterclockReason: '',
    };
    this.vcpus.push(v);
    this.setTscKhz(v, this.defaultTscKhz, t);
    this.synchronizeTsc(v, null, t);
    return v;
  }

  /**
   * kvm_synchronize_tsc(vcpu, user_value) -- kvm_write_tsc before 5.x: NULL at creation, else a TSC write, from the
   * host (userspace) or, up to 5.9, from the guest (hostInitiated false).
   */
  synchronizeTsc(v: KvmVcpu, user: bigint | null, t: bigint, hostInitiated = true): void {
    let data = user ?? 0n;
    let offset = this.computeL1TscOffset(v, data, t);
    let ns = this.baseNs(t);
    const elapsed = ns - this.lastTscNsec;
    const { sync } = this.rules;
    if (sync === '5s') {
      // "close write to TSC within 5 seconds of another CPU is interpreted as an attempt to synchronize"
      let sdiff = s64(data - this.lastTscWrite);
      if (sdiff < 0n) sdiff = -sdiff;
      if (sdiff < this.nsecToCycles(v, 5n * NSEC_PER_SEC) && elapsed < 5n * NSEC_PER_SEC) {
        if (!this.host.tscUnstable) offset = this.lastTscOffset;
        else offset = u64(offset + this.nsecToCycles(v, elapsed));
        ns = this.lastTscNsec;
      }
      this.lastTscNsec = ns;
      this.lastTscWrite = data;
      this.lastTscOffset = offset;
      this.lastTscKhz = v.virtualTscKhz;
      this.writeOffset(v, offset, t);
      v.thisTscNsec = ns; // vcpu->arch.last_tsc_nsec/write: compute_guest_tsc's base
      v.thisTscWrite = data;
      v.lastGuestTsc = data;
      return;
    }
    let synchronizing = false;
    if (sync === 'usdiff') {
      // usdiff = (s64)(data - last_tsc_write) * 1000 / virtual_tsc_khz - elapsed / 1000, |usdiff| < 1 s
      let usdiff = USEC_PER_SEC;
      if (v.virtualTscKhz) {
        const d = s64(s64(data - this.lastTscWrite) * 1000n);
        usdiff = d / BigInt(v.virtualTscKhz) - u64(elapsed) / 1000n;
        if (usdiff < 0n) usdiff = -usdiff;
      }
      synchronizing = usdiff < USEC_PER_SEC;
    } else if (v.virtualTscKhz) {
      // "detection of vcpu initialization -- need to sync with other vCPUs" (4.12): `data == 0 && msr->host_initiated`,
      // so a guest's write of 0 (up to 5.9) is judged by the window; the window only after a user write (6.7)
      if (data === 0n && hostInitiated) synchronizing = true;
      else if (sync === 'window' || this.userSetTsc) {
        const tscExp = u64(this.lastTscWrite + this.nsecToCycles(v, elapsed));
        const tscHz = BigInt(v.virtualTscKhz) * 1000n;
        synchronizing = data < u64(tscExp + tscHz) && u64(data + tscHz) > tscExp;
      }
    }
    let matched = false;
    if (synchronizing && v.virtualTscKhz === this.lastTscKhz) {
      if (!this.host.tscUnstable) offset = this.curTscOffset;
      else {
        data = u64(data + this.nsecToCycles(v, elapsed));
        offset = this.computeL1TscOffset(v, data, t);
      }
      matched = true;
    }
    this.commitTscSync(v, offset, data, ns, matched, user !== null && hostInitiated, t);
  }

  /** __kvm_synchronize_tsc: the generation bookkeeping, then kvm_track_tsc_matching. */
  private commitTscSync(v: KvmVcpu, offset: bigint, data: bigint, ns: bigint, matched: boolean, userSet: boolean, t: bigint): void {
    if (userSet) this.userSetTsc = true;
    this.lastTscNsec = ns;
    this.lastTscWrite = data;
    this.lastTscKhz = v.virtualTscKhz;
    this.lastTscOffset = offset;
    v.lastGuestTsc = data;
    this.writeOffset(v, offset, t);
    if (!matched) {
      this.curTscGeneration++;
      this.curTscNsec = ns;
      this.curTscWrite = data;
      this.curTscOffset = offset;
      this.nrVcpusMatchedTsc = 0;
    } else if (v.thisTscGeneration !== this.curTscGeneration) {
      this.nrVcpusMatchedTsc++;
    }
    v.thisTscGeneration = this.curTscGeneration;
    v.thisTscNsec = this.curTscNsec;
    v.thisTscWrite = this.curTscWrite;
    this.trackTscMatching(v, t, !matched);
  }

  private vcpusMatched(): boolean {
    return this.nrVcpusMatchedTsc + 1 === this.online;
  }

  /** Whether the masterclock may be used now (pvclock_update_vm_gtod_copy). */
  private masterclockPossible(): boolean {
    if (!this.rules.masterclock || !this.host.tscClocksource || this.backwardsTscObserved || this.bootVcpuRunsOldKvmclock) return false;
    // the Woodhouse series: all vCPUs at one frequency is enough; offsets may differ
    if (this.rules.proposed) return this.vcpus.every((w) => w.ratio === this.vcpus[0].ratio && w.virtualTscKhz === this.vcpus[0].virtualTscKhz);
    return this.vcpusMatched();
  }

  /** kvm_track_tsc_matching: KVM_REQ_MASTERCLOCK_UPDATE on the written vCPU when the masterclock may change. */
  private trackTscMatching(v: KvmVcpu, t: bigint, newGeneration: boolean): void {
    if (!this.rules.masterclock) return;
    const could = this.masterclockPossible();
    const want = this.rules.trackMatching === 'eager'
      ? could || this.useMasterClock
      : (this.useMasterClock && newGeneration) || this.useMasterClock !== could;
    this.tp(t, { name: 'kvm_track_tsc', vcpu: v.id, nrMatched: this.nrVcpusMatchedTsc, online: this.online, masterclock: this.useMasterClock,
      hostClock: this.hostClock });
    if (!want) return;
    v.masterclockUpdatePending = true;
    v.masterclockReason = newGeneration ? 'new TSC generation' : 'vCPUs matched';
    if (v.running) this.serveRequests(v, t);
  }

  /** Requests are served when the vCPU enters the guest (vcpu_enter_guest): masterclock first, then its clock. */
  serveRequests(v: KvmVcpu, t: bigint): void {
    if (v.masterclockUpdatePending) {
      v.masterclockUpdatePending = false;
      this.updateMasterclock(t, v.masterclockReason);
    }
    if (v.clockUpdatePending) this.guestTimeUpdate(v, t);
    if (v.deadlinePending) this.deliverDeadline(v);
  }

  /**
   * kvm_update_masterclock / kvm_gen_update_masterclock: recompute use_master_clock, take one (ns, TSC)
   * snapshot, then KVM_REQ_CLOCK_UPDATE to every vCPU (kicked: the running ones are served now).
   */
  updateMasterclock(t: bigint, reason: string): void {
    this.pvclockUpdateVmGtodCopy(t, reason);
    for (const v of this.vcpus) this.requestClockUpdate(v, t);
  }

  /** pvclock_update_vm_gtod_copy: use_master_clock and the (master_kernel_ns, master_cycle_now) snapshot. */
  private pvclockUpdateVmGtodCopy(t: bigint, reason: string): void {
    const was = this.useMasterClock;
    this.useMasterClock = this.masterclockPossible();
    if (this.useMasterClock) {
      this.masterKernelNs = this.baseNs(t);
      this.masterCycleNow = this.host.tsc(0, t);
    }
    if (this.rules.masterclock) {
      this.tp(t, { name: 'kvm_update_master_clock', masterclock: this.useMasterClock, hostClock: this.hostClock, offsetMatched: this.vcpusMatched() });
    }
    if (was !== this.useMasterClock) this.events.push({ t, e: { kind: 'masterclock', on: this.useMasterClock, reason: this.masterclockWhy(reason) } });
  }

  /** Why use_master_clock is what it is now (for the log), after the request that recomputed it. */
  private masterclockWhy(request: string): string {
    if (this.useMasterClock) return `${request}: every vCPU in one TSC generation`;
    if (!this.host.tscClocksource) return `${request}: the host clocksource is not the TSC`;
    if (this.backwardsTscObserved) return `${request}: backwards TSC observed`;
    if (this.bootVcpuRunsOldKvmclock) return `${request}: vCPU 0 runs the old kvmclock MSR`;
    if (this.rules.proposed) return `${request}: the vCPUs' TSC frequencies differ`;
    return `${request}: nr_vcpus_matched_tsc + 1 != online_vcpus (${this.nrVcpusMatchedTsc + 1} of ${this.online})`;
  }

  /** KVM_REQ_CLOCK_UPDATE with a kick: served now if the vCPU is in the guest, else at its next entry. */
  requestClockUpdate(v: KvmVcpu, t: bigint): void {
    v.clockUpdatePending = true;
    if (v.running) this.guestTimeUpdate(v, t);
  }

  /**
   * KVM_REQ_GLOBAL_CLOCK_UPDATE from vCPU v (kvm_gen_kvmclock_update): v's own clock at its entry; the others'
   * from kvmclock_update_work KVMCLOCK_UPDATE_DELAY later (7e44e4495a39), or all at once before it.
   */
  globalClockUpdate(v: KvmVcpu, t: bigint): void {
    if (!this.has('7e44e4495a39')) { for (const w of this.vcpus) this.requestClockUpdate(w, t); return; }
    this.requestClockUpdate(v, t);
    this.queueUpdateWork(t + KVMCLOCK_UPDATE_DELAY);
  }

  /** schedule_delayed_work(&kvmclock_update_work): queued once; a second call while queued changes nothing. */
  queueUpdateWork(at: bigint): void {
    if (this.updateWorkAt !== null) return;
    this.updateWorkAt = at;
    this.defer(at, (now) => {
      this.updateWorkAt = null;
      for (const w of this.vcpus) this.requestClockUpdate(w, now); // kvmclock_update_fn: request + kick
    });
  }

  /** kvm_guest_time_update: rewrite the vCPU's pvclock page. */
  guestTimeUpdate(v: KvmVcpu, t: bigint): void {
    v.clockUpdatePending = false;
    // under the masterclock, with nothing it depends on changed since this vCPU's last update, the page comes out
    // the same (kvmclock_sync_fn every 300 s does this): only the version moves on
    const key = v.lastUpdateKey;
    if (this.useMasterClock && !v.tscCatchup && !v.stoppedRequest && !this.rules.proposed && v.kvmclockEnabled && this.lastStable
      && key && key[0] === this.masterCycleNow && key[1] === this.masterKernelNs && key[2] === this.kvmclockOffset
      && key[3] === v.offset && key[4] === v.ratio && key[5] === this.host.khz && key[6] === this.host.fracBits && key[7] === this.hvHostChanged) {
      v.page.version = (v.page.version + 2) >>> 0;
      this.tpPvclock(v, t);
      return;
    }
    v.lastUpdateKey = null;
    let hostTsc: bigint, kernelNs: bigint;
    if (this.useMasterClock) { hostTsc = this.masterCycleNow; kernelNs = this.masterKernelNs; }
    else { hostTsc = this.host.tsc(Math.max(v.pcpu, 0), t); kernelNs = this.baseNs(t); }
    let tscTimestamp = this.k.kvmReadL1Tsc(hostTsc, v.ratio, v.offset, this.host.fracBits);
    if (v.tscCatchup) {
      const tsc = this.k.computeGuestTsc(kernelNs, { thisTscNsec: v.thisTscNsec, thisTscWrite: v.thisTscWrite,
        virtualTscMult: v.virtualTscMult, virtualTscShift: v.virtualTscShift });
      if (tsc > tscTimestamp) {
        this.writeOffset(v, u64(v.offset + (tsc - tscTimestamp)), t); // adjust_tsc_offset_guest
        tscTimestamp = tsc;
      }
    }
    let tgtKhz = this.host.khz;
    if (this.host.hasTscControl) tgtKhz = Number(this.k.kvmScaleTsc(BigInt(tgtKhz), v.ratio, this.host.fracBits)) || 1;
    if (v.hwTscKhz !== tgtKhz) {
      const { shift, mul } = this.k.kvmGetTimeScale(NSEC_PER_SEC, BigInt(tgtKhz) * 1000n);
      v.page.tscShift = shift;
      v.page.tscToSystemMul = mul;
      v.hwTscKhz = tgtKhz;
    }
    v.page.tscTimestamp = tscTimestamp;
    v.page.systemTime = u64(kernelNs + this.kvmclockOffset);
    v.lastGuestTsc = tscTimestamp;
    if (!v.kvmclockEnabled) return;
    const stable = this.stableBit(v);
    if (stable !== this.lastStable) {
      this.lastStable = stable;
      this.events.push({ t, e: { kind: 'stable', on: stable } });
    }
    let flags = stable ? PVCLOCK_TSC_STABLE_BIT : 0;
    if (v.stoppedRequest) { flags |= PVCLOCK_GUEST_STOPPED; v.stoppedRequest = false; }
    // the guest-visible GUEST_STOPPED stays until the guest clears it
    v.page.flags = flags | (v.page.flags & PVCLOCK_GUEST_STOPPED);
    v.page.version = (v.page.version + 2) >>> 0;
    this.tpPvclock(v, t);
    if (v.id === 0) this.hvSetupTscPage();
    if (this.useMasterClock) {
      v.lastUpdateKey = [this.masterCycleNow, this.masterKernelNs, this.kvmclockOffset, v.offset, v.ratio, this.host.khz, this.host.fracBits, this.hvHostChanged];
    }
  }

  /** trace_kvm_pvclock_update(v->vcpu_id, &vcpu->hv_clock) after kvm_setup_guest_pvclock wrote the page. */
  private tpPvclock(v: KvmVcpu, t: bigint): void {
    const p = v.page;
    this.tp(t, { name: 'kvm_pvclock_update', vcpu: v.id, version: p.version, tscTimestamp: p.tscTimestamp, systemTime: p.systemTime,
      mul: p.tscToSystemMul, shift: p.tscShift, flags: p.flags });
  }

  /** kvm_hv_setup_tsc_page from vCPU 0's clock (sim/kvm/hyperv.ts). */
  private hvSetupTscPage(): void {
    this.hvTscPage = hvSetupTscPage(this.k, this.hvTscPage, this.vcpus[0].page, this.hvHostChanged);
  }


  /**
   * Whether vCPU v's page carries PVCLOCK_TSC_STABLE_BIT: "if (use_master_clock) pvclock_flags |=
   * PVCLOCK_TSC_STABLE_BIT" in every merged kernel; the Woodhouse series also needs v's offset to equal the others'.
   */
  stableBit(v: KvmVcpu = this.vcpus[0]): boolean {
    if (!this.useMasterClock) return false;
    if (!this.rules.proposed) return true;
    return this.vcpus.every((w) => w.offset === v.offset);
  }

  /** KVM_GET_CLOCK: get_kvmclock_ns() with its flags (108b249c453d), or get_kernel_ns() + kvmclock_offset before. */
  getClock(t: bigint, wallNs: bigint): KvmClockData {
    const hostTsc = this.host.tsc(0, t);
    if (!this.has('108b249c453d')) return { clock: u64(this.baseNs(t) + this.kvmclockOffset), flags: 0, realtime: 0n, hostTsc };
    if (this.useMasterClock) {
      // the masterclock snapshot extrapolated with the host TSC at the host's own rate (not the guest's)
      const { shift, mul } = this.k.kvmGetTimeScale(NSEC_PER_SEC, BigInt(this.host.khz) * 1000n);
      const clock = this.k.pvclockReadCycles({ tscTimestamp: this.masterCycleNow, systemTime: u64(this.masterKernelNs + this.kvmclockOffset),
        tscToSystemMul: mul, tscShift: shift }, hostTsc);
      const flags = KVM_CLOCK_TSC_STABLE | (this.rules.tscOffsetAttr ? KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC : 0);
      return { clock, flags, realtime: wallNs, hostTsc };
    }
    return { clock: u64(this.baseNs(t) + this.kvmclockOffset), flags: 0, realtime: 0n, hostTsc };
  }

  /** KVM_SET_CLOCK, in the era's order; REALTIME (5.16) adds the time since `realtime`, never stepping back. */
  setClock(t: bigint, data: KvmClockData, wallNs: bigint): void {
    if (this.hvReenlightenment && this.hvTscPage.sequence && this.has('0469f2f7ab4c')) this.hvHostChanged = true;
    if (data.flags & ~KVM_CLOCK_VALID_FLAGS) throw new Error(`KVM_SET_CLOCK: invalid flags 0x${data.flags.toString(16)} (-EINVAL)`);
    if (!this.rules.tscOffsetAttr) {
      if (data.flags !== 0) throw new Error('KVM_SET_CLOCK: flags must be 0 on this KVM (-EINVAL)');
      if (!this.has('108b249c453d')) {
        // kvmclock_offset = clock - get_kernel_ns(); kvm_gen_update_masterclock(kvm) (RHEL 7.3's 3.10.0-514)
        this.kvmclockOffset = u64(data.clock - this.baseNs(t));
      } else {
        // 0bc48bea36d1 takes the snapshot first; before it, get_kvmclock_ns() still uses the old one (v4.11)
        if (this.has('0bc48bea36d1')) this.pvclockUpdateVmGtodCopy(t, 'KVM_SET_CLOCK');
        this.kvmclockOffset = u64(this.kvmclockOffset + data.clock - this.kvmclockNs(t));
      }
      this.updateMasterclock(t, 'KVM_SET_CLOCK');
      return;
    }
    // kvm_start_pvclock_update: a fresh masterclock snapshot
    this.pvclockUpdateVmGtodCopy(t, 'KVM_SET_CLOCK');
    let clock = data.clock;
    if (data.flags & KVM_CLOCK_REALTIME && wallNs > data.realtime) clock = u64(clock + (wallNs - data.realtime));
    this.kvmclockOffset = u64(clock - (this.useMasterClock ? this.masterKernelNs : this.baseNs(t)));
    for (const v of this.vcpus) this.requestClockUpdate(v, t);
  }

  /** get_kvmclock_ns(): the VM's kvmclock now, as the host computes it. */
  kvmclockNs(t: bigint): bigint {
    return this.getClock(t, 0n).clock;
  }

  /** KVM_GET_DEVICE_ATTR KVM_VCPU_TSC_OFFSET. */
  getTscOffset(v: KvmVcpu): bigint {
    if (!this.rules.tscOffsetAttr) throw new Error(`KVM_VCPU_TSC_OFFSET: -ENXIO (KVM ${this.rules.name} predates 5.16)`);
    return v.offset;
  }

  /** KVM_SET_DEVICE_ATTR KVM_VCPU_TSC_OFFSET: matched when the offset equals the last one written. */
  setTscOffset(v: KvmVcpu, offset: bigint, t: bigint): void {
    if (!this.rules.tscOffsetAttr) throw new Error(`KVM_VCPU_TSC_OFFSET: -ENXIO (KVM ${this.rules.name} predates 5.16)`);
    const matched = v.virtualTscKhz !== 0 && this.lastTscKhz === v.virtualTscKhz && this.lastTscOffset === offset;
    const tsc = this.k.kvmReadL1Tsc(this.host.tsc(Math.max(v.pcpu, 0), t), v.ratio, offset, this.host.fracBits);
    this.commitTscSync(v, offset, tsc, this.baseNs(t), matched, true, t);
  }

  /** WRMSR from the guest or from userspace (host-initiated), in kvm_set_msr_common. */
  writeMsr(v: KvmVcpu, msr: 'IA32_TSC' | 'IA32_TSC_ADJUST', value: bigint, hostInitiated: boolean, t: bigint): void {
    // the guest's WRMSR exit (kvm_emulate_wrmsr): trace_kvm_msr_write; userspace's KVM_SET_MSRS is not traced
    if (!hostInitiated) this.tp(t, { name: 'kvm_msr', vcpu: v.id, write: true, msr: msr === 'IA32_TSC' ? 0x10 : 0x3b, data: u64(value) });
    if (msr === 'IA32_TSC') {
      if (hostInitiated) { this.synchronizeTsc(v, u64(value), t); return; }
      const before = v.offset;
      if (!this.has('0c899c25d754')) this.synchronizeTsc(v, u64(value), t, false); // ≤5.9: guest writes run the matching too
      else {
        // 0c899c25d754: the offset moves by the difference; no matching and no KVM_REQ_CLOCK_UPDATE, so the
        // vCPU's page keeps the old tsc_timestamp until its next update
        const adj = u64(this.computeL1TscOffset(v, u64(value), t) - v.offset);
        this.writeOffset(v, u64(v.offset + adj), t);
      }
      v.tscAdjust = s64(v.tscAdjust + (v.offset - before));
      return;
    }
    if (!this.rules.tscAdjustMsr) return; // not emulated: the guest's CPUID never offered it
    if (!hostInitiated) {
      const adj = s64(value) - v.tscAdjust;
      this.writeOffset(v, u64(v.offset + adj), t); // adjust_tsc_offset_guest
      if (this.has('d9130a2dfdd4')) this.requestClockUpdate(v, t);
    }
    v.tscAdjust = s64(value);
  }

  /** RDMSR(IA32_TSC): the L1 TSC. */
  readTsc(v: KvmVcpu, t: bigint): bigint {
    return this.l1Tsc(v, t);
  }

  /** The guest writes MSR_KVM_SYSTEM_TIME_NEW on vCPU v (kvm_write_system_time): a global clock update. */
  enableKvmclock(v: KvmVcpu, t: bigint, gpa?: bigint): void {
    if (gpa !== undefined) this.tp(t, { name: 'kvm_msr', vcpu: v.id, write: true, msr: 0x4b564d01, data: gpa | 1n });
    v.kvmclockEnabled = true;
    this.globalClockUpdate(v, t);
  }

  /**
   * Userspace writes MSR_KVM_SYSTEM_TIME(_NEW) (KVM_SET_MSRS, host-initiated: kvm_write_system_time): the page is
   * (de)activated by bit 0 and KVM_REQ_GLOBAL_CLOCK_UPDATE is made, as for the guest's own write.
   */
  writeSystemTime(v: KvmVcpu, value: bigint, t: bigint): void {
    v.kvmclockEnabled = (value & 1n) === 1n;
    this.globalClockUpdate(v, t);
  }

  /** The wall clock page (struct pvclock_wall_clock) in guest memory, where the last MSR_KVM_WALL_CLOCK(_NEW) write put it. */
  wallClock = { version: 0, sec: 0, nsec: 0 };

  /**
   * kvm_write_wall_clock (an MSR_KVM_WALL_CLOCK(_NEW) write, by the guest or by userspace): the wall time at which
   * kvmclock was 0 -- ktime_get_real_ns() - get_kvmclock_ns(kvm) -- as sec (u32: "overflow in 2106") and nsec, inside
   * a version bump (an odd version is made even first).
   */
  writeWallClock(v: KvmVcpu, gpa: bigint, hostInitiated: boolean, t: bigint, wallNs: bigint): void {
    if (!hostInitiated) this.tp(t, { name: 'kvm_msr', vcpu: v.id, write: true, msr: 0x4b564d00, data: gpa });
    let version = this.wallClock.version;
    if (version & 1) version++;
    version = (version + 1) >>> 0;
    const epoch = u64(wallNs - this.kvmclockNs(t));
    const sec = Number((epoch / NSEC_PER_SEC) & 0xffffffffn), nsec = Number(epoch % NSEC_PER_SEC);
    this.wallClock = { version: (version + 1) >>> 0, sec, nsec };
  }

  /**
   * The guest writes MSR_KVM_SYSTEM_TIME (old) or MSR_KVM_SYSTEM_TIME_NEW (kvm_write_system_time, guest-initiated):
   * vCPU 0 switching between the two makes KVM_REQ_MASTERCLOCK_UPDATE (the old MSR forbids the masterclock), then
   * the page's enable bit and KVM_REQ_GLOBAL_CLOCK_UPDATE. The guest is in KVM: the requests are served at its re-entry.
   */
  guestWriteSystemTime(v: KvmVcpu, value: bigint, oldMsr: boolean, t: bigint): void {
    this.tp(t, { name: 'kvm_msr', vcpu: v.id, write: true, msr: oldMsr ? 0x12 : 0x4b564d01, data: u64(value) });
    if (v.id === 0 && this.rules.masterclock) {
      if (this.bootVcpuRunsOldKvmclock !== oldMsr) {
        v.masterclockUpdatePending = true;
        v.masterclockReason = `vCPU 0 switched to the ${oldMsr ? 'old' : 'new'} kvmclock MSR`;
      }
      this.bootVcpuRunsOldKvmclock = oldMsr;
    }
    this.writeSystemTime(v, value, t);
    if (v.running) this.serveRequests(v, t);
  }

  /** The pvclock page KVM computes for v at the masterclock's reference point (kvm_guest_time_update's inputs). */
  private masterPage(v: KvmVcpu): Required<PvclockTimeInfo> {
    let tgtKhz = this.host.khz;
    if (this.host.hasTscControl) tgtKhz = Number(this.k.kvmScaleTsc(BigInt(tgtKhz), v.ratio, this.host.fracBits)) || 1;
    const { shift, mul } = this.k.kvmGetTimeScale(NSEC_PER_SEC, BigInt(tgtKhz) * 1000n);
    return { version: v.page.version, tscTimestamp: this.k.kvmReadL1Tsc(this.masterCycleNow, v.ratio, v.offset, this.host.fracBits),
      systemTime: u64(this.masterKernelNs + this.kvmclockOffset), tscToSystemMul: mul, tscShift: shift,
      flags: this.stableBit(v) ? PVCLOCK_TSC_STABLE_BIT : 0 };
  }

  /** KVM_GET_CLOCK_GUEST (the Woodhouse series, proposed-2026): v's PV time info, only under the masterclock. */
  getClockGuest(v: KvmVcpu): Required<PvclockTimeInfo> {
    if (!this.rules.proposed) throw new Error(`KVM_GET_CLOCK_GUEST: -ENOTTY (KVM ${this.rules.name} lacks it)`);
    if (!this.useMasterClock) throw new Error('KVM_GET_CLOCK_GUEST: no masterclock, the KVM clock is not a function of the guest TSC (-EINVAL)');
    return this.masterPage(v);
  }

  /**
   * KVM_SET_CLOCK_GUEST (proposed-2026): a new reference point (as kvm_update_masterclock), the guest TSC then through
   * the user's pvclock (the intended clock) and through KVM's own (the actual one): kvmclock_offset takes the
   * difference; every vCPU's page is rewritten.
   */
  setClockGuest(v: KvmVcpu, pvti: PvclockTimeInfo, t: bigint): void {
    if (!this.rules.proposed) throw new Error(`KVM_SET_CLOCK_GUEST: -ENOTTY (KVM ${this.rules.name} lacks it)`);
    if (!this.useMasterClock) throw new Error('KVM_SET_CLOCK_GUEST: no masterclock (-EINVAL)');
    this.pvclockUpdateVmGtodCopy(t, 'KVM_SET_CLOCK_GUEST');
    if (!this.useMasterClock) throw new Error('KVM_SET_CLOCK_GUEST: no masterclock (-EINVAL)');
    const page = this.masterPage(v);
    const intended = this.k.pvclockReadCycles(pvti, page.tscTimestamp);
    const actual = this.k.pvclockReadCycles(page, page.tscTimestamp);
    this.kvmclockOffset = u64(this.kvmclockOffset + (intended - actual));
    for (const w of this.vcpus) this.requestClockUpdate(w, t);
  }

  /**
   * IA32_TSC_DEADLINE (kvm_set_lapic_tscdeadline_msr, guest or userspace): 0 disarms; a deadline at or below the
   * guest TSC now expires at once; else start_sw_tscdeadline arms an hrtimer for (deadline - guest TSC) at
   * virtual_tsc_khz from now, in host time -- a later change of the guest's TSC (an offset write, a restore) does not
   * move it, so the timer then fires early or late against the guest's TSC. The expiry is delivered when the vCPU
   * is in the guest (at once, or at its next entry), and the MSR then reads 0 (the one-shot deadline is consumed).
   */
  writeTscDeadline(v: KvmVcpu, value: bigint, hostInitiated: boolean, t: bigint): void {
    if (!hostInitiated) this.tp(t, { name: 'kvm_msr', vcpu: v.id, write: true, msr: 0x6e0, data: u64(value) });
    const gen = (v.deadlineGen ?? 0) + 1;
    v.deadlineGen = gen;
    v.deadlinePending = false;
    v.tscDeadline = u64(value);
    if (value === 0n) return;
    const guestTsc = this.l1Tsc(v, t);
    if (value <= guestTsc) { this.deadlineExpired(v, t); return; }
    const ns = ((value - guestTsc) * 1_000_000n) / BigInt(v.virtualTscKhz || this.host.khz);
    this.defer(t + ns, (now) => { if (v.deadlineGen === gen) this.deadlineExpired(v, now); });
  }

  private deadlineExpired(v: KvmVcpu, t: bigint): void {
    v.deadlinePending = true;
    if (v.running) this.deliverDeadline(v);
    void t;
  }

  /** kvm_apic_inject_pending_timer_irqs: the interrupt goes in and the deadline is consumed. */
  private deliverDeadline(v: KvmVcpu): void {
    if (!v.deadlinePending) return;
    v.deadlinePending = false;
    v.deadlineFired = (v.deadlineFired ?? 0) + 1;
    v.tscDeadline = 0n;
  }

  /** KVM_KVMCLOCK_CTRL: tell the guest it was stopped (PVCLOCK_GUEST_STOPPED). */
  kvmclockCtrl(v: KvmVcpu, t: bigint): void {
    if (!v.kvmclockEnabled) throw new Error(`KVM_KVMCLOCK_CTRL: vCPU ${v.id} has no kvmclock (-EINVAL)`);
    v.stoppedRequest = true;
    this.requestClockUpdate(v, t);
  }

  /** kvm_arch_vcpu_load on pCPU p, then the entry: the unstable-host path, then the pending requests. */
  vcpuLoad(v: KvmVcpu, p: number, t: bigint): void {
    if (v.pcpu !== p || this.host.tscUnstable) {
      const hostTsc = this.host.tsc(p, t);
      const tscDelta = v.lastHostTsc === 0n ? 0n : s64(hostTsc - v.lastHostTsc);
      if (tscDelta < 0n && !this.host.tscUnstable) {
        this.host.tscUnstable = true;
        this.log(t, 'clocksource: Marking TSC unstable due to KVM discovered backwards TSC');
        this.events.push({ t, e: { kind: 'host-log', text: 'KVM discovered backwards TSC' } });
      }
      const first = v.pcpu === -1;
      v.pcpu = p;
      if (this.host.tscUnstable) {
        this.writeOffset(v, this.computeL1TscOffset(v, v.lastGuestTsc, t), t);
        if (this.has('c285545f813d')) v.tscCatchup = true;
      }
      if (!this.useMasterClock || first) this.globalClockUpdate(v, t);
    }
    v.running = true;
    this.serveRequests(v, t);
  }

  /** kvm_arch_vcpu_put (and the last exit before it). */
  vcpuPut(v: KvmVcpu, t: bigint): void {
    v.lastHostTsc = this.host.tsc(Math.max(v.pcpu, 0), t);
    v.lastGuestTsc = this.l1Tsc(v, t);
    v.running = false;
  }

  /**
   * kvm_arch_enable_virtualization_cpu after a host resume: a stable host whose
   * TSC went back (S3 reset) compensates every vCPU and gives up the masterclock.
   */
  hostResumed(t: bigint): void {
    if (this.host.tscUnstable) { for (const v of this.vcpus) this.requestClockUpdate(v, t); return; }
    const local = this.host.tsc(0, t);
    let maxTsc = 0n;
    for (const v of this.vcpus) if (v.lastHostTsc > maxTsc) maxTsc = v.lastHostTsc;
    if (maxTsc <= local) return;
    const delta = maxTsc - local;
    this.backwardsTscObserved = true;
    for (const v of this.vcpus) {
      // tsc_offset_adjustment, applied through adjust_tsc_offset_host (scaled by the L1 ratio)
      this.writeOffset(v, u64(v.offset + this.k.kvmScaleTsc(delta, v.ratio, this.host.fracBits)), t);
      v.lastHostTsc = local;
    }
    this.lastTscNsec = 0n;
    this.lastTscWrite = 0n;
    this.updateMasterclock(t, 'host TSC went backwards across suspend');
  }

  protected log(t: bigint, text: string): void {
    this.events.push({ t, e: { kind: 'host-log', text } });
  }
}
