// The old read-loop engine's guest (kept for the engine comparison only).
// Guest Linux: the clocksources it chooses between (kvm-clock, tsc), its
// sched_clock and timekeeper, tsc_sync at vCPU hot-add (the Wasm warp loop),
// the lockup/stall/hung-task detectors, and printk. It sees the machine only
// through its vCPUs: clock reads (Wasm) and MSR writes (to KVM).
import { clocksourceMask, formatClocksourceLine, PVCLOCK_TSC_STABLE_BIT, type Kernel } from '../../bindings/index.js';
import type { GuestSpec } from '../scenario.js';
import type { Anomaly, LogLine } from '../types.js';
import type { SimRecord } from '../../bindings/index.js';
import { cyclesOf, nsOf, s64, u64, NSEC_PER_SEC } from '../units.js';

/** What the guest needs from the machine below it. */
export interface GuestPort {
  readonly k: Kernel;
  now(): bigint;
  /** Advance real time while the guest is busy (the warp loop). */
  spend(ns: bigint): void;
  vcpuCount(): number;
  /** A clock read on vCPU i now (through the Wasm tables). */
  read(i: number): ReturnType<Kernel['simRead']>;
  /** The scenario's seed (the guest's own random draws derive from it). */
  seed(): bigint;
  /** Whether vCPU i is in the guest now (not preempted, stopped or descheduled). */
  running(i: number): boolean;
  /** How far the timekeeping clocksource runs ahead of true time (ppb): what a converged NTP daemon corrects. */
  clocksourceDriftPpb(cs: 'kvm-clock' | 'tsc'): bigint;
  /** The parameters of vCPU i's TSC for the warp loop. */
  warpCpu(i: number): { ratio: bigint; offset: bigint; skew: bigint };
  hostTscNow(): bigint;
  hostKhz(): number;
  /** The rate of vCPU 0's TSC against real time, in kHz: what calibration against the PIT/HPET measures. */
  calibrateTscKhz(): number;
  fracBits(): 48 | 32;
  wrmsr(i: number, msr: 'IA32_TSC' | 'IA32_TSC_ADJUST', value: bigint): void;
  rdmsrTscAdjust(i: number): bigint;
  /** The guest changed what reads depend on (clocksource, sched_clock): rewrite the Wasm guest block. */
  guestChanged(): void;
  /** Which hypervisor's pvclock the guest has (its clocksource is kvm-clock or xen). */
  hypervisor(): 'kvm' | 'xen';
  /** Reset the pvclock clamp (pvclock_resume). */
  pvclockResume(): void;
  /** vCPU i's pvclock page as the guest sees it. */
  page(i: number): { tscToSystemMul: number; tscShift: number; flags: number };
  log(line: LogLine): void;
  anomaly(a: Omit<Anomaly, 'until' | 'count'> & Partial<Pick<Anomaly, 'count'>>): void;
}

const MASK64 = clocksourceMask(64);
/** How long a new clocksource rate must last before a guest's NTP daemon has taken it up (an assumption: hours). */
const NTP_SETTLE_NS = 3_600_000_000_000n;

export class Guest {
  /** Ratings: kvm-clock 400 (299 with invariant TSC), tsc 300 (0 once unstable). */
  kvmclockRating = 0;
  tscRating = 300;
  tscUnstable = false;
  clocksource: 'kvm-clock' | 'tsc' = 'tsc';
  tscKhz = 0;
  tscReg = { mult: 0, shift: 0, uncertaintyMargin: 0 };
  kvmReg = { mult: 0, shift: 0, uncertaintyMargin: 0 };
  schedMode: 'kvmclock' | 'tsc' = 'kvmclock';
  schedStable = false;
  schedOffset = 0n;
  schedMul = 0;
  schedShift = 0;
  tk = { cycles: 0n, ns: 0n };
  online: boolean[] = [];
  /** GUEST_STOPPED touched the watchdogs on this vCPU: gaps seen before this real time are forgiven. */
  touchedUntil: bigint[] = [];
  private lastRcuReport = -1n;

  constructor(readonly spec: GuestSpec, readonly port: GuestPort) {}

  get tickNs(): bigint { return this.port.k.tickNsec(this.spec.hz); }

  printk(vcpu: number, text: string): void {
    const r = this.port.read(vcpu);
    this.port.log({ t: this.port.now(), source: 'guest', vcpu, stamp: r.schedClock, text });
  }

  /**
   * kvm_register_clock(txt) on `cpu`, after its MSR_KVM_SYSTEM_TIME_NEW write: "kvm-clock: cpu N, msr H:L, txt"
   * (3.x prints the halves of pa | 1) or "msr %llx" (4.x-5.x); later kernels say nothing.
   */
  kvmRegisterClock(cpu: number, txt: string): void {
    if (this.spec.logStyle === '6.x') return;
    const pa = (this.spec.kvmclockPa + BigInt(cpu) * 64n) | 1n;
    const msr = this.spec.logStyle === '3.x' ? `${(pa >> 32n).toString(16)}:${(pa & 0xFFFFFFFFn).toString(16)}` : pa.toString(16);
    this.printk(cpu, `kvm-clock: cpu ${cpu}, msr ${msr}, ${txt}`);
  }

  /** Boot on vCPU 0 after kvmclock is enabled: clocksources, sched_clock, the timekeeper. */
  boot(): void {
    const { k } = this.port;
    const n = this.port.vcpuCount();
    this.online = Array.from({ length: n }, () => true);
    this.touchedUntil = Array.from({ length: n }, () => 0n);
    const xen = this.port.hypervisor() === 'xen';
    if (xen) {
      // printk before sched_clock_init(): sched_clock_cpu() returns 0
      this.port.log({ t: this.port.now(), source: 'guest', vcpu: 0, stamp: 0n, text: `Linux version ${this.spec.kernel} (Xen PV guest)` });
    }
    const r0 = this.port.read(0);
    if (xen) {
      // the xen clocksource (NOW(): host uptime), and xen_sched_clock -- with the offset read at init, or none (2.6.32)
      this.kvmReg = k.clocksourceRegisterHz(1_000_000_000, MASK64);
      this.kvmclockRating = 400;
      this.schedMode = 'kvmclock';
      // xen_sched_clock: NOW() itself (2.6.32.18+), NOW() minus the value at init (≈5.0+), or the vCPU's runstate
      // time, which starts near 0 when the vCPU does (modelled as NOW() minus NOW() at boot; steal not subtracted)
      this.schedOffset = this.spec.xenSchedClock === 'xen-clock' ? 0n : r0.kvmclock;
      this.schedStable = this.spec.schedClockStable ?? this.xenNonstopTsc;
      this.port.guestChanged(); // sched_clock_init(): printk stamps come from it from here on
      this.printk(0, formatClocksourceLine('xen', MASK64, this.kvmReg as never));
      this.tscKhz = Number(this.port.k.pvclockTscKhz(this.port.page(0)));
    } else if (this.spec.kvmclock) {
      // kvm-clock: tsc_khz from the page (pvclock_tsc_khz), sched_clock from kvmclock
      this.kvmReg = k.clocksourceRegisterHz(1_000_000_000, MASK64);
      this.kvmclockRating = this.spec.invariantTsc ? 299 : 400;
      this.schedMode = 'kvmclock';
      this.schedOffset = r0.kvmclock;
      this.schedStable = this.spec.schedClockStable ?? (this.spec.stableBit && r0.stable);
      this.port.guestChanged();
      this.kvmRegisterClock(0, 'primary cpu clock');
      this.printk(0, `kvm-clock: using sched offset of ${this.schedOffset} cycles`);
      this.printk(0, formatClocksourceLine('kvm-clock', MASK64, this.kvmReg as never));
      this.tscKhz = Number(this.port.k.pvclockTscKhz(this.port.page(0)));
    } else {
      // no pvclock page to take it from: calibrated against a timer that runs in real time, so the rate of
      // the guest's own (possibly scaled) TSC, not the host's
      this.tscKhz = this.port.calibrateTscKhz();
    }
    this.printk(0, `tsc: Detected ${Math.trunc(this.tscKhz / 1000)}.${String(this.tscKhz % 1000).padStart(3, '0')} MHz processor`);
    const tscReg = k.clocksourceRegisterKhz(this.tscKhz, MASK64);
    this.tscReg = tscReg;
    if (!this.spec.kvmclock) {
      // native sched_clock: cyc2ns from clocks_calc_mult_shift(khz, NSEC_PER_MSEC, 0), starting at 0 here
      const { mult, shift } = k.clocksCalcMultShift(this.tscKhz, 1_000_000, 0);
      this.schedMode = 'tsc';
      this.schedMul = mult;
      this.schedShift = shift;
      this.schedOffset = u64(-k.mulU64U32Shr(r0.tsc, mult, shift));
      this.schedStable = this.spec.schedClockStable ?? this.spec.invariantTsc;
    }
    this.printk(0, formatClocksourceLine('tsc', MASK64, tscReg));
    this.selectClocksource(true);
    this.port.guestChanged();
  }

  /** The invariant-TSC CPUID bit as a Xen guest sees it (Xen can mask it). */
  xenNonstopTsc = true;

  /** clocksource_select(): the highest rating wins; the timekeeper re-anchors on the new one. */
  selectClocksource(boot = false): void {
    const pv = this.spec.kvmclock || this.port.hypervisor() === 'xen';
    const want: 'kvm-clock' | 'tsc' = pv && this.kvmclockRating > (this.tscUnstable ? 0 : this.tscRating) ? 'kvm-clock' : 'tsc';
    if (!boot && want === this.clocksource) return;
    const r = this.port.read(0);
    // CLOCK_MONOTONIC starts at the boot clock (kvmclock ~0 at VM creation; Xen's NOW() is host uptime: 0)
    const monoNow = boot ? (this.port.hypervisor() === 'xen' ? 0n : r.kvmclock || 0n) : r.monotonic;
    this.clocksource = want;
    this.tk = { cycles: want === 'tsc' ? r.tsc : r.kvmclock, ns: monoNow };
    const name = want === 'tsc' ? 'tsc' : this.port.hypervisor() === 'xen' ? 'xen' : 'kvm-clock';
    this.printk(0, `clocksource: Switched to clocksource ${name}`);
    this.port.guestChanged();
  }

  /**
   * A Xen PV guest resumes after save/restore or migration: pvclock_resume() (last_value = 0), timekeeping
   * resumes on the new clock (CLOCK_MONOTONIC goes on from where it was), and with the offset rule
   * xen_sched_clock_offset = xen_clocksource_read() - xen_clock_value_saved.
   */
  xenResume(before: { kvmclock: bigint; monotonic: bigint }): void {
    this.port.pvclockResume();
    const r = this.port.read(0);
    if (this.clocksource !== 'tsc') this.tk = { cycles: r.kvmclock, ns: before.monotonic };
    // the offset form continues where it was; the runstate form restarts with the new domain's vCPUs; NOW() jumps
    if (this.spec.xenSchedClock === 'xen-clock-offset') this.schedOffset = r.kvmclock - (before.kvmclock - this.schedOffset);
    else if (this.spec.xenSchedClock === 'runstate') this.schedOffset = r.kvmclock;
    this.port.guestChanged();
  }


  /**
   * The timekeeper's mult and shift, for the Wasm guest block: the clocksource's, with a converged NTP daemon's
   * frequency correction (timekeeping_adjust moves tk->mult, not the clocksource's) when the guest runs one.
   */
  csReg(): { mult: number; shift: number } {
    const reg = this.clocksource === 'tsc' ? this.tscReg : this.kvmReg;
    if (!this.spec.ntp) return reg;
    const den = 1_000_000_000n + this.ntpPpb;
    return { mult: Number((BigInt(reg.mult) * 1_000_000_000n + den / 2n) / den), shift: reg.shift };
  }

  /**
   * The NTP daemon's frequency correction (ppb) and the rate it is converging to. It follows a new clocksource rate
   * only once that rate has lasted NTP_SETTLE_NS: a daemon's frequency loop takes hours, so a clock that changes
   * rate at an event keeps the old correction for a while (at boot the daemon starts from its drift file).
   */
  ntpPpb = 0n;
  private ntpTarget: { ppb: bigint; since: bigint } | null = null;

  /**
   * Called whenever the machine's clocks may have changed rate: takes up a rate that has lasted long enough
   * (re-anchoring the timekeeper, so that only time from now on is converted at the new mult); returns when
   * to look again, or null.
   */
  ntpTrack(now: bigint, boot = false): bigint | null {
    if (!this.spec.ntp) return null;
    const ppb = this.port.clocksourceDriftPpb(this.clocksource);
    if (ppb === this.ntpPpb) { this.ntpTarget = null; return null; }
    if (this.ntpTarget?.ppb !== ppb) this.ntpTarget = { ppb, since: now };
    if (!boot && now - this.ntpTarget.since < NTP_SETTLE_NS) return this.ntpTarget.since + NTP_SETTLE_NS;
    if (!boot) {
      const r = this.port.read(0);
      this.tk = { cycles: this.clocksource === 'tsc' ? r.tsc : r.kvmclock, ns: r.monotonic };
    }
    this.ntpPpb = ppb;
    this.ntpTarget = null;
    this.port.guestChanged();
    return null;
  }

  /** mark_tsc_unstable(reason). */
  markTscUnstable(reason: string): void {
    if (this.tscUnstable) return;
    this.tscUnstable = true;
    this.printk(0, `tsc: Marking TSC unstable due to ${reason}`);
    this.port.anomaly({ type: 'tsc-unstable', t: this.port.now(), size: 0n, unit: 'ns', reason });
    if (this.schedMode === 'tsc' && this.schedStable) {
      this.schedStable = false;
      this.printk(0, 'sched_clock: Marking unstable');
    }
    this.selectClocksource();
  }

  /**
   * A vCPU comes online: on its own CPU the target side of tsc_sync, on vCPU 0
   * the source side, through check_tsc_warp() in Wasm; up to 3 runs with
   * TSC_ADJUST compensation when the CPU has it.
   */
  bringUp(cpu: number): void {
    this.online[cpu] = false;
    this.touchedUntil[cpu] = 0n;
    const { k } = this.port;
    if (this.tscUnstable) { this.online[cpu] = true; return; } // unsynchronized_tsc(): no test
    // tsc_store_and_check_tsc_adjust(false): a hot-added vCPU is the first CPU of its own package
    let adjusted = this.spec.tscAdjust ? this.port.rdmsrTscAdjust(cpu) : 0n;
    if (this.spec.tscAdjust && this.spec.tscAdjustClamp && (adjusted < 0n || adjusted > 0x7FFFFFFFn)) adjusted = 0n;
    if (this.spec.tscReliable) { this.online[cpu] = true; return; } // skip_test
    let testRuns = this.spec.tscAdjust ? 3 : 1;
    // the lock arbitration and hand-off draws of each run: from the scenario's seed, per CPU
    let seed = this.port.seed() * 0x100n + BigInt(cpu);
    while (testRuns > 0) {
      const src = this.port.warpCpu(0), tgt = this.port.warpCpu(cpu);
      const hostStart = this.port.hostTscNow();
      const r = k.checkTscWarp({
        cpus: [{ ratio: src.ratio, offset: src.offset, skew: src.skew }, { ratio: tgt.ratio, offset: tgt.offset, skew: tgt.skew }],
        tscKhz: this.tscKhz, timeoutMs: 20, hostStart, seed: seed++, fracBits: this.port.fracBits(),
      });
      this.port.spend(nsOf(r.hostEnd - hostStart, this.port.hostKhz()));
      // check_tsc_sync_source
      if (r.nrWarps === 0) { testRuns = 0; break; }
      this.port.anomaly({ type: 'tsc-warp', t: this.port.now(), vcpu: cpu, size: r.maxWarp, unit: 'cycles' });
      if (--testRuns === 0 || r.randomWarps) {
        testRuns = 0;
        this.printk(0, `Measured ${s64(r.maxWarp)} cycles TSC warp between CPUs, turning off TSC clock.`);
        if (r.randomWarps) this.printk(0, 'TSC warped randomly between CPUs');
        this.markTscUnstable('check_tsc_sync_source failed');
        break;
      }
      // check_tsc_sync_target: compensate through TSC_ADJUST and retry
      let cur = s64(r.cpus[1].curMaxWarp);
      if (cur === 0n) cur = -s64(r.maxWarp);
      adjusted = s64(adjusted + cur);
      if (this.spec.tscAdjustClamp) adjusted = adjusted < 0n ? 0n : adjusted > 0x7FFFFFFFn ? 0x7FFFFFFFn : adjusted;
      // pr_warn first, then wrmsrl: the line is stamped before the write moves this CPU's TSC
      this.printk(cpu, `TSC ADJUST compensate: CPU${cpu} observed ${cur} warp. Adjust: ${adjusted}`);
      this.port.wrmsr(cpu, 'IA32_TSC_ADJUST', adjusted);
      this.port.anomaly({ type: 'tsc-adjust-compensate', t: this.port.now(), vcpu: cpu, size: adjusted, unit: 'cycles' });
    }
    this.online[cpu] = true;
  }

  /**
   * The detectors, from what the periodic reads saw: a vCPU's local_clock
   * (soft lockup, 2^30-ns units, threshold 2 * watchdog_thresh) and
   * CLOCK_MONOTONIC/jiffies (RCU stall, hung task) leaping between two of its
   * reads, unless GUEST_STOPPED touched the watchdogs first.
   */
  detect(records: SimRecord[]): void {
    for (const rec of records) {
      if (rec.kind === 'watchdog') {
        const cs = s64(rec.now), wd = s64(rec.prev);
        this.printkAt(rec.vcpu, rec.t, this.port.read(rec.vcpu).schedClock,
          `clocksource: timekeeping watchdog on CPU${rec.vcpu}: Marking clocksource 'tsc' as unstable because the skew is too large:`);
        this.printkAt(rec.vcpu, rec.t, this.port.read(rec.vcpu).schedClock, `clocksource:                       'kvm-clock' wd_nsec: ${wd}`);
        this.printkAt(rec.vcpu, rec.t, this.port.read(rec.vcpu).schedClock, `clocksource:                       'tsc' cs_nsec: ${cs}`);
        this.markTscUnstable('clocksource watchdog');
        continue;
      }
      if (rec.kind !== 'gap') continue;
      const v = rec.vcpu;
      if (rec.t < this.touchedUntil[v]) continue; // pvclock_touch_watchdogs() after GUEST_STOPPED
      const leap = rec.now - rec.prev;
      if (rec.clock === 'sched_clock') {
        const units = (rec.now >> 30n) - (rec.prev >> 30n);
        if (units > BigInt(2 * this.spec.watchdogThresh)) {
          this.printkAt(v, rec.t, rec.now, `BUG: soft lockup - CPU#${v} stuck for ${units}s! [swapper/${v}:0]`);
          this.port.anomaly({ type: 'soft-lockup', t: rec.t, vcpu: v, size: units, unit: 'units' });
        }
      } else if (rec.clock === 'monotonic') {
        const jiffies = leap / this.tickNs;
        if (leap > BigInt(this.spec.rcuStallTimeout) * NSEC_PER_SEC && rec.t !== this.lastRcuReport) {
          this.lastRcuReport = rec.t;
          // print_other_cpu_stall on a CPU that kept running ("{ v} (detected by d, t=...)"), or print_cpu_stall
          // when none did (the stalled CPU reports itself)
          const d = this.online.findIndex((on, j) => on && j !== v && this.port.running(j));
          const rcu = this.spec.logStyle === '6.x' ? 'rcu: INFO: rcu_sched' : 'INFO: rcu_sched';
          // stamped with local_clock() (this read's sched_clock), not CLOCK_MONOTONIC
          const stamp = records.find((o) => o.kind === 'gap' && o.clock === 'sched_clock' && o.vcpu === v && o.t === rec.t)?.now
            ?? this.port.read(v).schedClock;
          this.printkAt(d < 0 ? v : d, rec.t, stamp, d < 0
            ? `${rcu} self-detected stall on CPU { ${v}}  (t=${jiffies} jiffies)`
            : `${rcu} detected stalls on CPUs/tasks: { ${v}} (detected by ${d}, t=${jiffies} jiffies)`);
          this.port.anomaly({ type: 'rcu-stall', t: rec.t, vcpu: v, size: leap, unit: 'ns' });
        }
        if (this.spec.dStateTask && leap > BigInt(this.spec.hungTaskTimeout) * NSEC_PER_SEC) {
          this.printkAt(v, rec.t, rec.now,
            `INFO: task kworker/${v}:1:${100 + v} blocked for more than ${this.spec.hungTaskTimeout} seconds.`);
          this.port.anomaly({ type: 'hung-task', t: rec.t, vcpu: v, size: leap, unit: 'ns' });
        }
      }
    }
  }

  private printkAt(vcpu: number, t: bigint, stamp: bigint, text: string): void {
    this.port.log({ t, source: 'guest', vcpu, stamp, text });
  }

  /**
   * KVMCLOCK_CTRL reached vCPU v: its next reads find GUEST_STOPPED and pvclock_touch_watchdogs() runs --
   * the soft-lockup, RCU and hung-task detectors forgive the gap, and clocksource_touch_watchdog() makes the
   * next clocksource watchdog round start afresh.
   */
  touch(v: number, until: bigint): void {
    this.touchedUntil[v] = until;
    this.port.k.simTouchWatchdog();
  }

  /** md: the two uncertainty margins since v5.14 (tsc 124 us + kvm-clock 124 us), WATCHDOG_THRESHOLD (62.5 ms) before. */
  get watchdogMarginNs(): bigint {
    return this.spec.logStyle === '6.x' ? BigInt(this.tscReg.uncertaintyMargin + this.kvmReg.uncertaintyMargin) : 62_500_000n;
  }

  /** Whether the guest trusts PVCLOCK_TSC_STABLE_BIT (pvclock_set_flags). */
  get validFlags(): number {
    // a Xen guest trusts STABLE only when the boot vCPU's record has it; Xen 3.4 never sets it
    if (this.port.hypervisor() === 'xen') return 0;
    return this.spec.kvmclock && this.spec.stableBit ? PVCLOCK_TSC_STABLE_BIT : 0;
  }

  /** Cycles the guest's own TSC runs in ns at its tsc_khz (for messages). */
  cyclesToNs(cycles: bigint): bigint {
    return nsOf(cycles, this.tscKhz || 1);
  }
  nsToCycles(ns: bigint): bigint {
    return cyclesOf(ns, this.tscKhz);
  }
}
