// KVM's per-VM and per-vCPU time state (arch/x86/kvm/x86.c), as rules over
// the host below it. Every formula goes through the Wasm kernel; this file
// holds the state machine: kvm_synchronize_tsc with its historical forms, the
// masterclock, kvmclock page updates, KVM_GET/SET_CLOCK, KVM_VCPU_TSC_OFFSET,
// kvm_set_tsc_khz, vcpu_load on an unstable host, MSR writes, host resume.
// See docs/kvm-rules.md for what each rule set does and where it comes from.
import type { Kernel, PvclockTimeInfo } from '../bindings/index.js';
import { PVCLOCK_TSC_STABLE_BIT, PVCLOCK_GUEST_STOPPED } from '../bindings/index.js';
import type { Host } from './host.js';
import type { RuleSet } from './scenario.js';
import { u64, s64 } from './units.js';

export const KVM_CLOCK_TSC_STABLE = 2;
export const KVM_CLOCK_REALTIME = 1 << 2;
export const KVM_CLOCK_HOST_TSC = 1 << 3;
const KVM_CLOCK_VALID_FLAGS = KVM_CLOCK_TSC_STABLE | KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC;
const USEC_PER_SEC = 1_000_000n;

export interface KvmClockData { clock: bigint; flags: number; realtime: bigint; hostTsc: bigint }

/** What each historical rule set does differently (docs/kvm-rules.md). */
export interface Rules {
  name: RuleSet;
  /** How a TSC write is judged synchronizing: v4 (usdiff < 1 s), window (+-1 s, data == 0), gated (window only after user_set_tsc). */
  sync: 'v4' | 'window' | 'gated';
  /** Guest WRMSR(TSC) runs the matching heuristic too (kvm_write_tsc of <= v4.x/v5.x). */
  guestWriteMatches: boolean;
  /** A guest TSC_ADJUST write requests KVM_REQ_CLOCK_UPDATE (recent x86.c); v4.x only moves the offset. */
  tscAdjustUpdatesClock: boolean;
  /** vcpu_load on an unstable host sets tsc_catchup (2.6.37's "Unify TSC logic" did not). */
  catchup: boolean;
  /** KVM_VCPU_TSC_OFFSET and KVM_CLOCK_REALTIME exist (5.16+). */
  tscOffsetAttr: boolean;
  /** PVCLOCK_TSC_STABLE_BIT additionally needs equal L1 offsets on all vCPUs (kvm-model-rules.md). */
  stableNeedsEqualOffsets: boolean;
}

export const RULES: Record<RuleSet, Rules> = {
  'v2.6.37': { name: 'v2.6.37', sync: 'v4', guestWriteMatches: true, tscAdjustUpdatesClock: false, catchup: false, tscOffsetAttr: false, stableNeedsEqualOffsets: false },
  'v4.x': { name: 'v4.x', sync: 'v4', guestWriteMatches: true, tscAdjustUpdatesClock: false, catchup: true, tscOffsetAttr: false, stableNeedsEqualOffsets: false },
  'v5.x': { name: 'v5.x', sync: 'window', guestWriteMatches: false, tscAdjustUpdatesClock: true, catchup: true, tscOffsetAttr: true, stableNeedsEqualOffsets: false },
  modern: { name: 'modern', sync: 'gated', guestWriteMatches: false, tscAdjustUpdatesClock: true, catchup: true, tscOffsetAttr: true, stableNeedsEqualOffsets: true },
};

export interface KvmVcpu {
  id: number;
  /** vcpu->cpu: the pCPU it was last loaded on (-1: never). */
  pcpu: number;
  running: boolean;
  ratio: bigint;
  offset: bigint;
  virtualTscKhz: number;
  virtualTscMult: number;
  virtualTscShift: number;
  tscAdjust: bigint;
  thisTscGeneration: number;
  thisTscNsec: bigint;
  thisTscWrite: bigint;
  lastGuestTsc: bigint;
  lastHostTsc: bigint;
  tscCatchup: boolean;
  hwTscKhz: number;
  page: Required<PvclockTimeInfo>;
  kvmclockEnabled: boolean;
  stoppedRequest: boolean;
  clockUpdatePending: boolean;
}

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
  /** Whether the last page written carried PVCLOCK_TSC_STABLE_BIT. */
  lastStable = false;
  /** The Hyper-V reference TSC page (arch/x86/kvm/hyperv.c): sequence 0 = invalid. */
  hvTscPage = { sequence: 0, scale: 0n, offset: 0n };
  /** The guest asked for re-enlightenment notifications: after KVM_SET_CLOCK the page is left as it is (HOST_CHANGED). */
  hvReenlightenment = false;
  private hvHostChanged = false;
  /** KVM_SET_TSC_KHZ on the VM: the rate new vCPUs get. */
  defaultTscKhz: number;
  readonly events: { t: bigint; e: KvmEvent }[] = [];

  constructor(readonly k: Kernel, readonly host: Host, rules: RuleSet, tscKhz: number | undefined, t: bigint) {
    this.rules = RULES[rules];
    this.defaultTscKhz = tscKhz ?? host.khz;
    // kvm_arch_init_vm: kvmclock starts at 0 when the VM is created.
    this.kvmclockOffset = u64(-host.ns(t));
  }

  get online(): number { return this.vcpus.length; }
  private get defaultRatio(): bigint { return 1n << BigInt(this.host.fracBits); }

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

  /** kvm_set_tsc_khz for one vCPU; returns the kernel's decision. */
  setTscKhz(v: KvmVcpu, khz: number, t: bigint): ReturnType<Kernel['kvmSetTscKhz']> {
    const r = this.k.kvmSetTscKhz({ userKhz: khz, hostKhz: this.host.khz, hasTscControl: this.host.hasTscControl, fracBits: this.host.fracBits });
    v.virtualTscKhz = r.virtualTscKhz;
    v.virtualTscMult = r.virtualTscMult;
    v.virtualTscShift = r.virtualTscShift;
    v.ratio = r.ratio;
    if (r.result === 'catchup') v.tscCatchup = true;
    if (r.result === 'error' && r.message) this.log(t, `kvm: ${r.message}`);
    return r;
  }

  /** kvm_arch_vcpu_create + postcreate: a vCPU whose TSC is synchronized with data 0. */
  createVcpu(t: bigint, pcpu: number): KvmVcpu {
    const v: KvmVcpu = {
      id: this.vcpus.length, pcpu, running: false, ratio: this.defaultRatio, offset: 0n, virtualTscKhz: 0,
      virtualTscMult: 0, virtualTscShift: 0, tscAdjust: 0n, thisTscGeneration: 0, thisTscNsec: 0n, thisTscWrite: 0n,
      lastGuestTsc: 0n, lastHostTsc: 0n, tscCatchup: false, hwTscKhz: 0,
      page: { version: 0, tscTimestamp: 0n, systemTime: 0n, tscToSystemMul: 0, tscShift: 0, flags: 0 },
      kvmclockEnabled: false, stoppedRequest: false, clockUpdatePending: false,
    };
    this.vcpus.push(v);
    this.setTscKhz(v, this.defaultTscKhz, t);
    this.synchronizeTsc(v, null, t);
    return v;
  }

  /** kvm_synchronize_tsc(vcpu, user_value): NULL at creation, else a host-initiated TSC write. */
  synchronizeTsc(v: KvmVcpu, user: bigint | null, t: bigint): void {
    let data = user ?? 0n;
    let offset = this.computeL1TscOffset(v, data, t);
    const ns = this.host.ns(t);
    const elapsed = ns - this.lastTscNsec;
    let synchronizing = false;
    if (this.rules.sync === 'v4') {
      // v4.6 kvm_write_tsc: usdiff = (s64)(data - last_write) * 1000 / khz - elapsed/1000, |usdiff| < 1 s
      let usdiff = USEC_PER_SEC;
      if (v.virtualTscKhz) {
        const d = s64(s64(data - this.lastTscWrite) * 1000n);
        usdiff = d / BigInt(v.virtualTscKhz) - u64(elapsed) / 1000n;
        if (usdiff < 0n) usdiff = -usdiff;
      }
      synchronizing = usdiff < USEC_PER_SEC;
    } else if (v.virtualTscKhz) {
      if (data === 0n) synchronizing = true;
      else if (this.rules.sync === 'window' || this.userSetTsc) {
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
    this.commitTscSync(v, offset, data, ns, matched, user !== null, t);
  }

  /** __kvm_synchronize_tsc. */
  private commitTscSync(v: KvmVcpu, offset: bigint, data: bigint, ns: bigint, matched: boolean, userSet: boolean, t: bigint): void {
    if (userSet) this.userSetTsc = true;
    this.lastTscNsec = ns;
    this.lastTscWrite = data;
    this.lastTscKhz = v.virtualTscKhz;
    this.lastTscOffset = offset;
    v.lastGuestTsc = data;
    v.offset = offset;
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
    this.trackTscMatching(t, !matched);
  }

  private vcpusMatched(): boolean {
    return this.nrVcpusMatchedTsc + 1 === this.online;
  }

  /** kvm_track_tsc_matching: ask for a masterclock update when it may change. */
  private trackTscMatching(t: bigint, newGeneration: boolean): void {
    const could = this.host.tscClocksource && this.vcpusMatched();
    if (this.rules.sync === 'v4' ? could || this.useMasterClock : (this.useMasterClock && newGeneration) || this.useMasterClock !== could) {
      this.updateMasterclock(t, newGeneration ? 'new TSC generation' : 'vCPUs matched');
    }
  }

  /** kvm_update_masterclock: recompute use_master_clock, take one (ns, TSC) snapshot, update every vCPU's clock. */
  updateMasterclock(t: bigint, reason: string): void {
    const was = this.useMasterClock;
    this.useMasterClock = this.host.tscClocksource && this.vcpusMatched() && !this.backwardsTscObserved;
    if (this.useMasterClock) {
      this.masterKernelNs = this.host.ns(t);
      this.masterCycleNow = this.host.tsc(0, t);
    }
    if (was !== this.useMasterClock) this.events.push({ t, e: { kind: 'masterclock', on: this.useMasterClock, reason } });
    for (const v of this.vcpus) this.requestClockUpdate(v, t);
  }

  /** KVM_REQ_CLOCK_UPDATE: served now if the vCPU runs, else at its next entry. */
  requestClockUpdate(v: KvmVcpu, t: bigint): void {
    if (v.running) this.guestTimeUpdate(v, t);
    else v.clockUpdatePending = true;
  }

  /** kvm_guest_time_update: rewrite the vCPU's pvclock page. */
  guestTimeUpdate(v: KvmVcpu, t: bigint): void {
    v.clockUpdatePending = false;
    let hostTsc: bigint, kernelNs: bigint;
    if (this.useMasterClock) { hostTsc = this.masterCycleNow; kernelNs = this.masterKernelNs; }
    else { hostTsc = this.host.tsc(Math.max(v.pcpu, 0), t); kernelNs = this.host.ns(t); }
    let tscTimestamp = this.k.kvmReadL1Tsc(hostTsc, v.ratio, v.offset, this.host.fracBits);
    if (v.tscCatchup) {
      const tsc = this.k.computeGuestTsc(kernelNs, { thisTscNsec: v.thisTscNsec, thisTscWrite: v.thisTscWrite,
        virtualTscMult: v.virtualTscMult, virtualTscShift: v.virtualTscShift });
      if (tsc > tscTimestamp) {
        v.offset = u64(v.offset + (tsc - tscTimestamp)); // adjust_tsc_offset_guest
        tscTimestamp = tsc;
      }
    }
    let tgtKhz = this.host.khz;
    if (this.host.hasTscControl) tgtKhz = Number(this.k.kvmScaleTsc(BigInt(tgtKhz), v.ratio, this.host.fracBits)) || 1;
    if (v.hwTscKhz !== tgtKhz) {
      const { shift, mul } = this.k.kvmGetTimeScale(1_000_000_000n, BigInt(tgtKhz) * 1000n);
      v.page.tscShift = shift;
      v.page.tscToSystemMul = mul;
      v.hwTscKhz = tgtKhz;
    }
    v.page.tscTimestamp = tscTimestamp;
    v.page.systemTime = u64(kernelNs + this.kvmclockOffset);
    v.lastGuestTsc = tscTimestamp;
    if (!v.kvmclockEnabled) return;
    const stable = this.stableBit();
    if (stable !== this.lastStable) {
      this.lastStable = stable;
      this.events.push({ t, e: { kind: 'stable', on: stable } });
    }
    let flags = stable ? PVCLOCK_TSC_STABLE_BIT : 0;
    if (v.stoppedRequest) { flags |= PVCLOCK_GUEST_STOPPED; v.stoppedRequest = false; }
    // the guest-visible GUEST_STOPPED stays until the guest clears it
    v.page.flags = flags | (v.page.flags & PVCLOCK_GUEST_STOPPED);
    v.page.version = (v.page.version + 2) >>> 0;
    if (v.id === 0) this.hvSetupTscPage();
  }

  /** kvm_hv_setup_tsc_page from vCPU 0's clock: the page's scale/offset, or sequence 0 where it cannot be expressed. */
  private hvSetupTscPage(): void {
    if (this.hvHostChanged) return; // re-enlightenment: the guest is told, the page stays
    const p = this.k.hvTscPageParams(this.vcpus[0].page);
    if (!p) { this.hvTscPage = { sequence: 0, scale: 0n, offset: 0n }; return; }
    if (p.scale === this.hvTscPage.scale && p.offset === this.hvTscPage.offset && this.hvTscPage.sequence) return;
    let seq = (this.hvTscPage.sequence + 1) >>> 0;
    if (seq === 0 || seq === 0xFFFFFFFF) seq = 1;
    this.hvTscPage = { sequence: seq, ...p };
  }

  /** Whether pages carry PVCLOCK_TSC_STABLE_BIT now. */
  stableBit(): boolean {
    if (!this.useMasterClock) return false;
    if (!this.rules.stableNeedsEqualOffsets) return true;
    return this.vcpus.every((v) => v.offset === this.vcpus[0].offset);
  }

  /** KVM_GET_CLOCK. */
  getClock(t: bigint, wallNs: bigint): KvmClockData {
    const hostTsc = this.host.tsc(0, t);
    if (this.useMasterClock) {
      const { shift, mul } = this.k.kvmGetTimeScale(1_000_000_000n, BigInt(this.host.khz) * 1000n);
      const clock = this.k.pvclockReadCycles({ tscTimestamp: this.masterCycleNow, systemTime: u64(this.masterKernelNs + this.kvmclockOffset),
        tscToSystemMul: mul, tscShift: shift }, hostTsc);
      const flags = KVM_CLOCK_TSC_STABLE | (this.rules.tscOffsetAttr ? KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC : 0);
      return { clock, flags, realtime: wallNs, hostTsc };
    }
    return { clock: u64(this.host.ns(t) + this.kvmclockOffset), flags: 0, realtime: 0n, hostTsc };
  }

  /** KVM_SET_CLOCK. REALTIME (5.16+) adds the time since `realtime`, never stepping back. */
  setClock(t: bigint, data: KvmClockData, wallNs: bigint): void {
    if (this.hvReenlightenment && this.hvTscPage.sequence) this.hvHostChanged = true;
    if (data.flags & ~KVM_CLOCK_VALID_FLAGS) throw new Error(`KVM_SET_CLOCK: invalid flags 0x${data.flags.toString(16)} (-EINVAL)`);
    if (!this.rules.tscOffsetAttr) {
      if (data.flags !== 0) throw new Error('KVM_SET_CLOCK: flags must be 0 on this KVM (-EINVAL)');
      // pre-5.16: kvmclock_offset += clock - get_kvmclock_ns(), then a masterclock update
      const now = this.kvmclockNs(t);
      this.kvmclockOffset = u64(this.kvmclockOffset + data.clock - now);
      this.updateMasterclock(t, 'KVM_SET_CLOCK');
      return;
    }
    // kvm_start_pvclock_update: a fresh masterclock snapshot
    this.useMasterClock = this.host.tscClocksource && this.vcpusMatched() && !this.backwardsTscObserved;
    if (this.useMasterClock) { this.masterKernelNs = this.host.ns(t); this.masterCycleNow = this.host.tsc(0, t); }
    let clock = data.clock;
    if (data.flags & KVM_CLOCK_REALTIME && wallNs > data.realtime) clock = u64(clock + (wallNs - data.realtime));
    this.kvmclockOffset = u64(clock - (this.useMasterClock ? this.masterKernelNs : this.host.ns(t)));
    for (const v of this.vcpus) this.requestClockUpdate(v, t);
  }

  /** get_kvmclock_ns(): the VM's kvmclock now, as the host computes it. */
  kvmclockNs(t: bigint): bigint {
    return this.getClock(t, 0n).clock;
  }

  /** KVM_GET_DEVICE_ATTR KVM_VCPU_TSC_OFFSET. */
  getTscOffset(v: KvmVcpu): bigint {
    if (!this.rules.tscOffsetAttr) throw new Error('KVM_VCPU_TSC_OFFSET: -ENXIO (this KVM predates 5.16)');
    return v.offset;
  }

  /** KVM_SET_DEVICE_ATTR KVM_VCPU_TSC_OFFSET: matched when the offset equals the last one written. */
  setTscOffset(v: KvmVcpu, offset: bigint, t: bigint): void {
    if (!this.rules.tscOffsetAttr) throw new Error('KVM_VCPU_TSC_OFFSET: -ENXIO (this KVM predates 5.16)');
    const matched = v.virtualTscKhz !== 0 && this.lastTscKhz === v.virtualTscKhz && this.lastTscOffset === offset;
    const tsc = this.k.kvmReadL1Tsc(this.host.tsc(Math.max(v.pcpu, 0), t), v.ratio, offset, this.host.fracBits);
    this.commitTscSync(v, offset, tsc, this.host.ns(t), matched, true, t);
  }

  /** WRMSR from the guest or from userspace (host-initiated). */
  writeMsr(v: KvmVcpu, msr: 'IA32_TSC' | 'IA32_TSC_ADJUST', value: bigint, hostInitiated: boolean, t: bigint): void {
    if (msr === 'IA32_TSC') {
      if (hostInitiated) { this.synchronizeTsc(v, u64(value), t); return; }
      const before = v.offset;
      if (this.rules.guestWriteMatches) this.synchronizeTsc(v, u64(value), t);
      else {
        const adj = u64(this.computeL1TscOffset(v, u64(value), t) - v.offset);
        v.offset = u64(v.offset + adj);
        this.requestClockUpdate(v, t);
      }
      v.tscAdjust = s64(v.tscAdjust + (v.offset - before));
      return;
    }
    if (!hostInitiated) {
      const adj = s64(value) - v.tscAdjust;
      v.offset = u64(v.offset + adj); // adjust_tsc_offset_guest
      if (this.rules.tscAdjustUpdatesClock) this.requestClockUpdate(v, t);
    }
    v.tscAdjust = s64(value);
  }

  /** RDMSR(IA32_TSC): the L1 TSC. */
  readTsc(v: KvmVcpu, t: bigint): bigint {
    return this.l1Tsc(v, t);
  }

  /** The guest enables kvmclock on a vCPU (MSR_KVM_SYSTEM_TIME_NEW): a global clock update. */
  enableKvmclock(v: KvmVcpu, t: bigint): void {
    v.kvmclockEnabled = true;
    for (const w of this.vcpus) this.requestClockUpdate(w, t);
  }

  /** KVM_KVMCLOCK_CTRL: tell the guest it was stopped (PVCLOCK_GUEST_STOPPED). */
  kvmclockCtrl(v: KvmVcpu, t: bigint): void {
    if (!v.kvmclockEnabled) throw new Error(`KVM_KVMCLOCK_CTRL: vCPU ${v.id} has no kvmclock (-EINVAL)`);
    v.stoppedRequest = true;
    this.requestClockUpdate(v, t);
  }

  /** kvm_arch_vcpu_load on pCPU p (the unstable-host path; pending clock updates served at entry). */
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
        v.offset = this.computeL1TscOffset(v, v.lastGuestTsc, t);
        if (this.rules.catchup) v.tscCatchup = true;
      }
      if (!this.useMasterClock || first) for (const w of this.vcpus) this.requestClockUpdate(w, t);
    }
    v.running = true;
    if (v.clockUpdatePending) this.guestTimeUpdate(v, t);
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
      v.offset = u64(v.offset + this.k.kvmScaleTsc(delta, v.ratio, this.host.fracBits));
      v.lastHostTsc = local;
    }
    this.lastTscNsec = 0n;
    this.lastTscWrite = 0n;
    this.updateMasterclock(t, 'host TSC went backwards across suspend');
  }

  private log(t: bigint, text: string): void {
    this.events.push({ t, e: { kind: 'host-log', text } });
  }
}
