// Guest Linux on its vCPUs, driven by events: it boots, brings hot-added CPUs up (tsc_sync.ts), keeps time
// (timekeeping.ts, sched_clock and the kvmclock clamp here) and runs its detectors (softlockup.ts,
// rcu_stall.ts, hung_task.ts, watchdog.ts) as timers in its own clocks. Between two host events every clock
// is a closed-form function of real time, so the guest is advanced in one step unless one of its timers can
// change something first; the time a timer fires is found exactly (the smallest real time at which the
// guest's clock reaches its expiry).
import { clocksourceMask, formatClocksourceLine, PVCLOCK_TSC_STABLE_BIT, type Kernel } from '../../bindings/index.js';
import type { GuestSpec } from '../scenario.js';
import type { Observer, Point } from '../observer.js';
import type { GuestPort } from './port.js';
import type { Anomaly } from '../types.js';
import { advance, cloneTk, ktimeGet, newTimekeeper, reanchor, tick, type Timekeeper } from './timekeeping.js';
import { newSoftlockup, softlockupAdvance, softlockupStart, touchSoftlockupWatchdog, watchdogTimerFn, type Softlockup } from './softlockup.js';
import { checkCpuStall, checkSelfStall, newRcuStall, rcuUnprintedReports, RCU_REPORTS_PRINTED, RCU_STALL_RAT_DELAY, rcuCpuStallReset, rcuHolders, rcuNextReportJiffies, type RcuStall } from './rcu_stall.js';
import { rtCharge, RT_PERIOD_NS } from './sched_rt.js';
import { checkHungTasks, newHungTask, nextHungTaskCheck, resetHungTaskDetector, startHungTaskDetector, type HungTask } from './hung_task.js';
import { clocksourceTouchWatchdog, watchdogFormFor, watchdogMargin, watchdogRound, type Watchdog } from './clocksource.js';
import { checkTscSyncTarget } from './tsc_sync.js';
import * as printk from './printk.js';
import { pvclockReadAll } from './pvclock.js';
import { nativeSchedClock, newSchedClock, schedClockRead, type SchedClock } from './sched_clock.js';
import { firstTime } from './expiry.js';
import { nsOf, u64 } from '../units.js';

const MASK64 = clocksourceMask(64);
/** How long a new clocksource rate must last before a guest's NTP daemon has taken it up (an assumption: hours). */
const NTP_SETTLE_NS = 3_600_000_000_000n;

/** The guest's clocks on every vCPU at one real time, as its code would read them. */
export interface View {
  t: bigint;
  /** pvclock's global last_value after the reads up to t. */
  lastValue: bigint;
  /** Per vCPU (null: it does not run guest code now). */
  points: (Point | null)[];
  /** Its page carries PVCLOCK_GUEST_STOPPED. */
  stopped: boolean[];
  /** The timekeeper as ticked up to t. */
  tk: Timekeeper;
  /** The CPU with do_timer duty (-1: none runs). */
  tickCpu: number;
  /** The timekeeping clocksource's reading on each vCPU. */
  cs: bigint[];
  /** The real time of the last tick the view's timekeeper took (null: it took none). */
  tickedAt: bigint | null;
  /** vCPU 0's TSC (running or not): what KVM's reference counter MSR reads it at. */
  tsc0: bigint;
}

type TimerKind = 'tick' | 'soft' | 'rcu' | 'rcu-self' | 'hung' | 'wd' | 'ntp';
interface Timer { t: bigint; kind: TimerKind; cpu: number }

export class Guest {
  /** Ratings: kvm-clock 400 (299 with invariant TSC), tsc 300 (0 once unstable). */
  kvmclockRating = 0;
  tscRating = 300;
  tscUnstable = false;
  clocksource: 'kvm-clock' | 'tsc' = 'tsc';
  tscKhz = 0;
  tscReg = { mult: 0, shift: 0, uncertaintyMargin: 0, maxIdleNs: 0n };
  kvmReg = { mult: 0, shift: 0, uncertaintyMargin: 0 };
  /** sched_clock: kvm_sched_clock_read (kvmclock - offset), Xen's, or native cyc2ns (sched_clock.ts). */
  sched: SchedClock = newSchedClock();
  /** cpu_online_mask; a CPU in bring-up is not in it but runs code and holds RCU. */
  online: boolean[] = [];
  bringingUp: number | null = null;
  /** CPUs in a section with interrupts off (the boot CPU and the new one during tsc_sync's runs): no tick there. */
  readonly irqsOff = new Set<number>();
  /** The invariant-TSC CPUID bit as a Xen guest sees it (Xen can mask it). */
  xenNonstopTsc = true;
  /** pvclock's last_value (arch/x86/kernel/pvclock.c): one for all vCPUs. */
  lastValue = 0n;
  /** The NTP daemon's frequency correction (ppb), and the rate it is converging to. */
  ntpPpb = 0n;
  private ntpTarget: { ppb: bigint; since: bigint } | null = null;

  tk!: Timekeeper;
  /** The real time of the last tick the timekeeper took (ticks are on a TICK_NSEC grid of real time). */
  private lastTickAt = 0n;
  /** A discontinuity: the next tick is taken on its own (its jiffies come before the accumulation). */
  private tickHeld = false;
  soft: Softlockup;
  rcu: RcuStall;
  hung: HungTask;
  wd: Watchdog;
  /** Rounds of the watchdog to run one by one (after a discontinuity, until a rotation passes). */
  private wdUnsettled = 0;
  /** CPUs whose next soft-lockup firing must be judged (they resumed, or their clock stepped). */
  private softPending = new Set<number>();
  /** The last committed view, and its sched_clock values (unstable sched_clock never goes back). */
  private committed: View | null = null;
  private lastSched: bigint[] = [];
  private timers: Timer[] = [];
  /** Booted: its timekeeper and detectors exist. */
  booted = false;

  constructor(readonly spec: GuestSpec, readonly port: GuestPort, readonly observer: Observer) {
    this.soft = newSoftlockup(spec.watchdogThresh);
    this.rcu = newRcuStall(spec.rcuStallTimeout, spec.hz);
    this.hung = newHungTask(spec.dStateTask, spec.hungTaskTimeout, spec.hz);
    this.wd = {
      form: watchdogFormFor(spec.kernel, spec.clocksourceWatchdog), on: false, intervalJiffies: BigInt(spec.hz >> 1),
      nextJiffies: 0n, cpu: 0, csLast: null, wdLast: 0n, marginNs: 0n, skipLong: spec.logStyle === '6.x',
      intervalNs: 500_000_000n, maxIdleNs: 0n, tscMult: 0n, tscShift: 0n, tscKhz: 0n,
    };
  }

  get k(): Kernel { return this.port.k; }
  get tickNs(): bigint { return this.k.tickNsec(this.spec.hz); }
  private get xen(): boolean { return this.port.hypervisor() === 'xen'; }
  /** Whether the guest trusts PVCLOCK_TSC_STABLE_BIT (pvclock_set_flags). */
  get validStable(): boolean { return !this.xen && this.spec.kvmclock && this.spec.stableBit; }
  /** kvm-clock or xen: a pvclock-based clocksource exists. */
  private get pv(): boolean { return this.spec.kvmclock || this.xen; }

  // ---- evaluation ------------------------------------------------------------------------------------

  /** The CPUs that run guest code now: online or in bring-up, and run by the host. */
  private reading(i: number): boolean {
    return (this.online[i] || this.bringingUp === i) && this.port.running(i);
  }

  /** The guest's clocks at real time t (no state changes; t not before the last commit). */
  view(t: bigint): View {
    const n = this.port.vcpuCount();
    const raw = this.port.readAll(t);
    const trusted = this.validStable;
    // pvclock_clocksource_read on every CPU that reads (pvclock.ts)
    const { kvm, stableAt, stopped, lastValue: lv } = pvclockReadAll(raw, n, { pv: this.pv, trusted, reads: (i) => this.reading(i) }, this.lastValue);
    const tsc: bigint[] = [], cs: bigint[] = [];
    for (let i = 0; i < n; i++) {
      tsc[i] = raw[3 * i];
      cs[i] = this.tk.cs === 'tsc' ? tsc[i] : kvm[i];
    }
    const tickCpu = this.tickCpu();
    const tk = cloneTk(this.tk);
    let tickedAt: bigint | null = null;
    if (tickCpu >= 0 && !this.tickHeld) {
      const grid = t - (t % this.tickNs);
      if (grid > this.lastTickAt) {
        // the regular ticks up to the last one at or before t: the tick CPU's clocksource then
        const back = t - grid, rate = tk.cs === 'tsc' ? (back * BigInt(this.tscKhz)) / 1_000_000n : back;
        advance(tk, cs[tickCpu] - rate);
        tickedAt = grid;
      }
    }
    const points: (Point | null)[] = [];
    for (let i = 0; i < n; i++) {
      if (!this.reading(i)) { points[i] = null; continue; }
      const mono = ktimeGet(tk, cs[i]);
      const sched = schedClockRead(this.sched, tsc[i], kvm[i], mono, this.lastSched[i] ?? 0n);
      points[i] = { tsc: tsc[i], kvmclock: this.pv ? kvm[i] : null, schedClock: sched, monotonic: mono, hv: this.hvRead(tsc[i], kvm[i]), stable: stableAt[i] };
    }
    return { t, lastValue: lv, points, stopped, tk, tickCpu, cs, tickedAt, tsc0: tsc[0] };
  }

  /** The CPUs whose reads raise pvclock's last_value now, as a mask (bit i: vCPU i). */
  private readingMask(): bigint {
    let m = 0n;
    const n = this.port.vcpuCount();
    for (let i = 0; i < n; i++) if (this.reading(i)) m |= 1n << BigInt(i);
    return m;
  }

  /** CPU i's timekeeping clocksource at t, through the clamp as view() reads it (one vCPU, not all). */
  private csAt(t: bigint, i: number): bigint {
    const [tsc, raw, flags] = this.port.readOne(i, t);
    if (this.tk.cs === 'tsc') return tsc;
    if (!this.pv) return 0n;
    if (this.validStable && (Number(flags) & PVCLOCK_TSC_STABLE_BIT) !== 0) return raw;
    const m = this.port.maxPvclock(this.readingMask(), this.validStable, t);
    const lv = m > this.lastValue ? m : this.lastValue;
    return raw > lv ? raw : lv;
  }

  /** The timekeeper at t, as view(t) ticks it (the tick CPU's clocksource only). */
  tkAt(t: bigint): Timekeeper {
    const tk = cloneTk(this.tk), tc = this.tickCpu();
    if (tc >= 0 && !this.tickHeld) {
      const grid = t - (t % this.tickNs);
      if (grid > this.lastTickAt) {
        const back = t - grid, rate = tk.cs === 'tsc' ? (back * BigInt(this.tscKhz)) / 1_000_000n : back;
        advance(tk, this.csAt(t, tc) - rate);
      }
    }
    return tk;
  }

  /** CLOCK_MONOTONIC on CPU i at t, as view(t) reads it. */
  monotonicAt(t: bigint, i: number): bigint {
    return ktimeGet(this.tkAt(t), this.csAt(t, i));
  }

  /** Hyper-V reference time: the TSC page, or the reference counter (kvmclock / 100) at sequence 0. */
  private hvRead(tsc: bigint, kvm: bigint): bigint | null {
    const hv = this.port.hvPage();
    if (!hv.on) return null;
    // hv_read_tsc_page_tsc: mul_u64_u64_shr(tsc, scale, 64) + offset, in u64
    return hv.sequence !== 0 ? u64(((tsc * hv.scale) >> 64n) + hv.offset) : kvm / 100n;
  }

  /** Whether CPU i takes interrupts now: online, run by the host, and not in a section with them off. */
  private ticking(i: number): boolean {
    return this.online[i] && this.port.running(i) && !this.irqsOff.has(i);
  }

  /**
   * do_timer duty: the first CPU that takes interrupts (-1: none). (The kernel moves the duty only when its holder
   * goes idle; a holder with interrupts off for the tens of ms of a tsc_sync run is taken to hand it on.)
   */
  private tickCpu(): number {
    const n = this.port.vcpuCount();
    for (let i = 0; i < n; i++) if (this.ticking(i)) return i;
    return -1;
  }

  /** Takes the view as the guest's state: last_value, the timekeeper, sched_clock, the detectors' carried state. */
  private commit(v: View): void {
    // a CPU in bring-up runs code but is not online: its clocks are judged from when it is
    this.observer.observe(v.t, this.bringingUp === null ? v.points : v.points.map((p, i) => (i === this.bringingUp ? null : p)));
    this.checkHvBracket(v);
    this.lastValue = v.lastValue;
    if (v.tickedAt !== null) this.lastTickAt = v.tickedAt;
    this.tk = v.tk;
    v.points.forEach((p, i) => {
      if (!p) return;
      this.lastSched[i] = p.schedClock;
      if (this.ticking(i) && !this.softPending.has(i)) softlockupAdvance(this.soft, i, p.monotonic, p.schedClock);
    });
    // khungtaskd's checks with no grace period held open and no task blocked report nothing: skip them
    if (this.rcu.gpStart === null && !this.hung.blocked.length) checkHungTasks(this.hung, this.tk.jiffies, null);
    this.advanceWatchdog(v);
    this.committed = v;
  }

  /**
   * hyperv_clock's check_tsc_msr_tsc_page on every vCPU: the page read with this vCPU's TSC against the reference
   * counter MSR as KVM computes it (hyperv.c get_time_ref_counter): while the page is valid, the page's formula on
   * vCPU 0's TSC -- not kvmclock / 100, which it falls back to only without a page. So a page KVM kept across
   * KVM_SET_CLOCK (re-enlightenment) is still the counter; a disagreement is vCPUs whose TSCs differ.
   */
  private checkHvBracket(v: View): void {
    const hv = this.port.hvPage();
    if (!hv.on || hv.sequence === 0) return;
    const ref = u64(((v.tsc0 * hv.scale) >> 64n) + hv.offset);
    v.points.forEach((p, i) => {
      if (!p || p.hv === null) return;
      this.observer.hvBracket(v.t, i, p.hv > ref ? p.hv - ref : ref - p.hv);
    });
  }

  /** The guest's state at real time t, nothing having changed below it since the last commit. */
  advanceTo(t: bigint): void {
    if (this.committed && this.committed.t === t) return;
    this.commit(this.view(t));
  }

  /** The guest's clocks now (a printk's stamp, a measurement). */
  now(): View {
    const t = this.port.now();
    if (this.committed?.t === t) return this.committed;
    return this.view(t);
  }

  // ---- host events -------------------------------------------------------------------------------------

  /**
   * Something below the guest changed at real time t (a page, an offset, which vCPUs run): judge the step
   * its clocks took, let the guest react the way its code would, and find when its timers fire now.
   */
  boundary(): void {
    if (!this.booted) return;
    const t = this.port.now();
    // the machine took the guest's clocks at t before anything changed (Machine.syncAll); if it did not, nothing did
    if (this.committed!.t !== t) this.advanceTo(t);
    const before = this.committed!;
    let after = this.view(t);
    let changed = false;
    const n = after.points.length;
    for (let i = 0; i < n; i++) {
      const a = before.points[i], b = after.points[i];
      if (!a !== !b) { changed = true; if (b && !a) this.softPending.add(i); continue; }
      if (!a || !b) continue;
      if (a.kvmclock !== b.kvmclock || a.tsc !== b.tsc || a.stable !== b.stable || a.schedClock !== b.schedClock) {
        changed = true;
        if (b.schedClock - a.schedClock > 1_000_000_000n || b.schedClock < a.schedClock) this.softPending.add(i);
      }
      if (after.stopped[i]) changed = true;
    }
    if (!changed && after.tickCpu === before.tickCpu) { this.planTimers(); return; }
    // the tick CPU's clocksource stepped: its next tick comes on its own, jiffies first (the wrapped ktime);
    // with the tick held the view does not tick: take the reads, keep the timekeeper as it was
    const tc = after.tickCpu, bc = before.tickCpu;
    if (tc >= 0 && (bc < 0 || before.cs[tc] === undefined || after.cs[tc] !== before.cs[tc])) {
      this.tickHeld = true;
      after = this.view(t);
    }
    this.commit(after);
    this.consumeGuestStopped(after);
    this.updateRcuHolders();
    // the round across the step, then one whole round in the new regime: between host events both clocks are
    // linear, so that round's verdict is every later round's (clocks at different rates fail each round)
    this.wdUnsettled = this.rotationMatters(after) ? this.online.filter(Boolean).length + 1 : 2;
    this.planTimers();
  }

  /**
   * Whether the watchdog's rounds after a discontinuity must be run one by one until a rotation passes: only where
   * a round on one CPU, compared with the round before on another, can differ from one on the same CPU -- the CPUs'
   * TSCs (per-CPU form: less their kvm-clock) are apart. Otherwise the first round, across the step, is the only one
   * whose verdict can differ from the closed form.
   */
  private rotationMatters(v: View): boolean {
    if (!this.wd.on) return false;
    const boot = this.wd.form === 'boot-cpu';
    let lo: bigint | null = null, hi: bigint | null = null;
    v.points.forEach((p, i) => {
      if (!p || !this.online[i] || p.kvmclock === null) return;
      const d = boot ? p.tsc : ((p.tsc * this.wd.tscMult) >> this.wd.tscShift) - p.kvmclock;
      if (lo === null || d < lo) lo = d;
      if (hi === null || d > hi) hi = d;
    });
    if (lo === null || hi === null) return false;
    // a quarter of the margin (ns), or (boot-CPU form) 100 ns of TSC: well below what a round could call skew
    const bound = boot ? (this.wd.tscKhz * 100n) / 1_000_000n : this.wd.marginNs / 4n;
    return (hi as bigint) - (lo as bigint) > bound;
  }

  /** pvclock_touch_watchdogs() where a vCPU's page shows PVCLOCK_GUEST_STOPPED: its first read consumes it. */
  private consumeGuestStopped(v: View): void {
    v.stopped.forEach((s, i) => {
      if (!s || !v.points[i]) return;
      this.port.clearGuestStopped(i);
      touchSoftlockupWatchdog(this.soft, i);
      clocksourceTouchWatchdog(this.wd);
      rcuCpuStallReset(this.rcu);
      resetHungTaskDetector(this.hung);
    });
  }

  /**
   * The CPUs that cannot pass a quiescent state: online (or in bring-up) and not run, or in bring-up -- and those
   * that run again but have not ticked yet (a CPU passes its quiescent state at its first tick).
   */
  private updateRcuHolders(ticked: ReadonlySet<number> = new Set()): void {
    const holders = new Set<number>();
    this.online.forEach((on, i) => { if (on && !this.port.running(i)) holders.add(i); });
    if (this.bringingUp !== null) holders.add(this.bringingUp);
    // holders that run again keep the grace period until their first tick
    for (const h of this.rcu.holders) if (!holders.has(h) && !ticked.has(h) && this.online[h] && this.port.running(h)) this.rcuFirstTick.add(h);
    for (const c of this.rcuFirstTick) { if (this.online[c] && this.port.running(c)) holders.add(c); else this.rcuFirstTick.delete(c); }
    const gp = this.rcu.gpNum;
    if (this.rcu.gpStart !== null) this.countUnprintedRcuReportsIfClosing(holders);
    rcuHolders(this.rcu, holders, this.tk.jiffies);
    if (this.rcu.gpNum !== gp) this.rcuReported = [];
  }

  /** Holders that run again, until their first tick (see updateRcuHolders). */
  private readonly rcuFirstTick = new Set<number>();

  /**
   * The first tick of CPUs that run again after holding the grace period: check_cpu_stall() runs there before the
   * quiescent state is reported, so a CPU whose own bit is still set once jiffies reach jiffies_stall reports a
   * self-detected stall (the tick CPU first: its tick brought jiffies up to date; the report re-arms the check).
   */
  private rcuFirstTicks(): void {
    const tc = this.tickCpu();
    this.countUnprintedRcuReports(); // their re-arms come first
    const cpus = [...this.rcuFirstTick].filter((c) => this.ticking(c)).sort((a, b) => (a === tc ? -1 : b === tc ? 1 : a - b));
    const ticked = new Set(cpus);
    for (const c of cpus) {
      const r = checkSelfStall(this.rcu, c, this.tk.jiffies);
      if (r) {
        this.printkAt(c, printk.rcuSelfStall(this.spec.logStyle, c, r.t));
        this.port.anomaly({ type: 'rcu-stall', t: this.port.now(), vcpu: c, size: r.t * this.tickNs, unit: 'ns', reason: 'self-detected' });
      }
      this.rcuFirstTick.delete(c);
    }
    this.updateRcuHolders(ticked);
  }

  // ---- timers ------------------------------------------------------------------------------------------

  private horizon = 0n;

  /** The real time of the guest's next timer that can change something, before `horizon` (null: none). */
  nextTimer(horizon: bigint): bigint | null {
    if (horizon !== this.horizon) { this.horizon = horizon; this.planTimers(); }
    return this.timers.length ? this.timers[0].t : null;
  }

  /** The smallest real time in [lo, hi] at which pred holds of the guest's view (pred monotone in t), or null. */
  firstTime(lo: bigint, hi: bigint, pred: (v: View) => boolean): bigint | null {
    return firstTime(lo, hi, (t) => pred(this.view(t)));
  }

  private planTimers(): void {
    this.timers = [];
    if (!this.booted || !this.committed) return;
    const now = this.committed.t, hi = this.horizon;
    if (hi <= now) return;
    const add = (t: bigint | null, kind: TimerKind, cpu = -1) => { if (t !== null && t <= hi) this.timers.push({ t, kind, cpu }); };
    const tc = this.tickCpu();
    if (this.tickHeld && tc >= 0) add(now - (now % this.tickNs) + this.tickNs, 'tick', tc);
    if (tc >= 0 && !this.tickHeld) {
      // soft lockup: the next firing of each CPU that resumed or whose clock stepped
      for (const cpu of this.softPending) {
        if (!this.ticking(cpu)) continue;
        // touched (GUEST_STOPPED, resume): its next firing re-stamps and cannot report; the closed form does that
        if (this.soft.touchTs[cpu] === null) { this.softPending.delete(cpu); continue; }
        const e = this.soft.nextExpiry[cpu];
        add(firstTime(now, hi, (t) => this.monotonicAt(t, cpu) >= e), 'soft', cpu);
      }
      const j = rcuNextReportJiffies(this.rcu);
      if (j !== null && this.detector() >= 0) add(firstTime(now + 1n, hi, (t) => this.tkAt(t).jiffies >= j), 'rcu');
      if (this.rcuFirstTick.size) add(now - (now % this.tickNs) + this.tickNs, 'rcu-self');
      const h = nextHungTaskCheck(this.hung);
      if ((this.hung.on && this.rcu.gpStart !== null) || this.hung.blocked.length) add(firstTime(now + 1n, hi, (t) => this.tkAt(t).jiffies >= h), 'hung');
      if (this.wd.on && this.wdUnsettled > 0) {
        const wj = this.wd.nextJiffies;
        add(firstTime(now + 1n, hi, (t) => this.tkAt(t).jiffies >= wj), 'wd');
      }
    }
    if (this.ntpTarget) add(this.ntpTarget.since + NTP_SETTLE_NS, 'ntp');
    this.timers.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0));
  }

  /** The CPU that reports an RCU stall: the tick CPU unless it holds the grace period, else the first one running. */
  private detector(): number {
    const tc = this.tickCpu();
    if (tc >= 0 && !this.rcu.holders.has(tc)) return tc;
    return this.online.findIndex((_, i) => this.ticking(i) && !this.rcu.holders.has(i));
  }

  /** Runs the earliest timer (at the machine's now, which the caller set to its time). */
  fireTimer(): void {
    const timer = this.timers.shift();
    if (!timer) return;
    const t = this.port.now();
    switch (timer.kind) {
      case 'tick': {
        // the held tick: jiffies from ktime_get() before the accumulation, then update_wall_time()
        const v = this.view(t);
        this.tickHeld = false;
        tick(this.tk, v.cs[timer.cpu]);
        this.lastTickAt = t - (t % this.tickNs);
        this.commit({ ...this.view(t) });
        this.rcuCheck();
        this.hungCheck();
        break;
      }
      case 'soft': {
        this.advanceTo(t);
        const v = this.committed!, p = v.points[timer.cpu];
        this.softPending.delete(timer.cpu);
        if (!p) break;
        const stuck = watchdogTimerFn(this.soft, timer.cpu, p.monotonic, p.schedClock, v.stopped[timer.cpu]);
        if (stuck !== null) {
          this.printkAt(timer.cpu, printk.softLockup(this.spec.logStyle, timer.cpu, stuck));
          this.port.anomaly({ type: 'soft-lockup', t, vcpu: timer.cpu, size: stuck, unit: 'units' });
        }
        break;
      }
      case 'rcu': this.advanceTo(t); this.rcuCheck(); break;
      case 'rcu-self': this.advanceTo(t); this.rcuFirstTicks(); break;
      case 'hung': this.advanceTo(t); this.hungCheck(); break;
      case 'wd': this.advanceTo(t); this.watchdogRoundNow(); break;
      case 'ntp': this.advanceTo(t); this.ntpTrack(t); break;
    }
    this.planTimers();
  }

  private rcuCheck(): void {
    const d = this.detector();
    if (d < 0) return;
    const r = checkCpuStall(this.rcu, this.tk.jiffies);
    if (!r) return;
    this.printkAt(d, printk.rcuOtherStall(this.spec.logStyle, r.holders, d, r.t));
    this.rcuReported = r.holders.map((h) =>
      this.port.anomaly({ type: 'rcu-stall', t: this.port.now(), vcpu: h, size: (r.t * this.tickNs), unit: 'ns', reason: `detected by ${d}` }));
  }

  /** The last RCU stall reports (one anomaly per holder): the grace period's unprinted repeats are added to them. */
  private rcuReported: Anomaly[] = [];

  /**
   * Past RCU_REPORTS_PRINTED reports in one grace period the kernel still prints one every 3 * timeout + 3 jiffies;
   * tsclab counts them instead (a 1000-day stall would print 1.3 million): into the last reports' count and until.
   */
  private countUnprintedRcuReports(): void {
    const extra = rcuUnprintedReports(this.rcu, this.tk.jiffies);
    if (extra === 0n) return;
    const every = (3n * this.rcu.timeoutJiffies + 3n + RCU_STALL_RAT_DELAY) * this.tickNs;
    for (const a of this.rcuReported) {
      const before = /; (\d+) more reports/.exec(a.reason ?? '');
      const total = extra + (before ? BigInt(before[1]) : 0n);
      a.count += Number(extra);
      a.until = this.port.now();
      a.reason = `${(a.reason ?? '').replace(/; \d+ more reports.*$/, '')}; ${total} more reports, one every ${every / 1_000_000n} ms ` +
        `(not printed: tsclab prints ${RCU_REPORTS_PRINTED} per grace period)`;
    }
  }

  /** Before a grace period closes (none of its holders is stuck any more): count what it did not print. */
  private countUnprintedRcuReportsIfClosing(stuck: Set<number>): void {
    if (![...this.rcu.holders].some((c) => stuck.has(c))) this.countUnprintedRcuReports();
  }

  /** The end of the run: what is still open is counted. */
  finish(): void {
    this.countUnprintedRcuReports();
  }

  private hungCheck(): void {
    const cpu = Math.max(this.tickCpu(), 0);
    for (const r of checkHungTasks(this.hung, this.tk.jiffies, this.rcu.gpStart)) {
      // the RCU waiter is a kworker (modelled name and pid)
      const [comm, pid] = r.task ? [r.task.comm, r.task.pid] : [`kworker/${cpu}:1`, 100 + cpu];
      for (const line of printk.hungTask(comm, pid, this.spec.hungTaskTimeout)) this.printkAt(cpu, line);
      this.port.anomaly({ type: 'hung-task', t: this.port.now(), vcpu: cpu, size: r.waited * this.tickNs, unit: 'ns', reason: `${comm}:${pid}` });
    }
  }

  // ---- the clocksource watchdog ----------------------------------------------------------------------

  /** Rounds the guest need not look at one by one: the rotation moves on; the last values are now's. */
  private advanceWatchdog(v: View): void {
    if (!this.wd.on || this.wdUnsettled > 0 || v.tk.jiffies < this.wd.nextJiffies) return;
    const rounds = (v.tk.jiffies - this.wd.nextJiffies) / this.wd.intervalJiffies + 1n;
    this.wd.nextJiffies += rounds * this.wd.intervalJiffies;
    if (this.wd.form === 'boot-cpu') {
      // the reads stay on the boot CPU; the CPU compared moves on one per round
      const p = v.points[0];
      if (p && p.kvmclock !== null && this.wd.csLast !== null) { this.wd.csLast = p.tsc; this.wd.wdLast = p.kvmclock; }
      const others = this.online.filter((o, i) => o && i !== 0).length;
      if (others > 0) this.wd.cpu = this.nextOther(this.wd.cpu, Number(rounds % BigInt(others)));
      return;
    }
    const cpu = this.rotate(this.wd.cpu, Number((rounds - 1n) % BigInt(Math.max(1, this.online.filter(Boolean).length))));
    const p = v.points[cpu];
    if (p && p.kvmclock !== null && this.wd.csLast !== null) { this.wd.csLast = p.tsc; this.wd.wdLast = p.kvmclock; }
    this.wd.cpu = this.rotate(cpu, 1);
  }

  /** The online CPU `steps` after cpu in the rotation (cpumask_next wrapping). */
  private rotate(cpu: number, steps: number): number {
    const n = this.online.length;
    let c = cpu;
    for (let s = 0; s < steps; s++) {
      for (let k = 1; k <= n; k++) { const x = (c + k) % n; if (this.online[x]) { c = x; break; } }
    }
    return c;
  }

  /** The boot-cpu form's next CPU to compare: `steps` online CPUs after cpu, the boot CPU skipped (-1: none). */
  private nextOther(cpu: number, steps = 1): number {
    const n = this.online.length;
    let c = cpu;
    for (let s = 0; s < steps; s++) {
      let found = -1;
      for (let k = 1; k <= n; k++) { const x = (c + k) % n; if (x !== 0 && this.online[x]) { found = x; break; } }
      if (found < 0) return -1;
      c = found;
    }
    return c;
  }

  private watchdogRoundNow(): void {
    const v = this.committed!;
    const boot = this.wd.form === 'boot-cpu';
    const cpu = boot ? 0 : this.wd.cpu;
    const p = v.points[cpu], b = v.points[0];
    this.wd.nextJiffies += this.wd.intervalJiffies;
    this.wdUnsettled--;
    const other = boot ? this.nextOther(this.wd.cpu) : cpu;
    if (boot && other >= 0) this.wd.cpu = other;
    if (!boot) this.wd.cpu = this.rotate(cpu, 1);
    if (!p || p.kvmclock === null || !b || b.kvmclock === null) return;
    const verdict = watchdogRound(this.wd, { cpu: boot && other >= 0 ? other : cpu, wd: p.kvmclock, cs: p.tsc, bootWd: b.kvmclock, bootCs: b.tsc,
      otherCs: boot && other >= 0 ? v.points[other]?.tsc ?? null : null, logStyle: this.spec.logStyle });
    if (verdict) {
      for (const line of verdict.lines) this.printkAt(cpu, line);
      this.markTscUnstable('clocksource watchdog');
    }
  }

  private startWatchdog(): void {
    // kvm-clock (no CLOCK_SOURCE_MUST_VERIFY) watches tsc while tsc is a candidate and not trusted (tsc=reliable)
    const on = this.spec.kvmclock && !this.xen && !this.tscUnstable && !this.spec.tscReliable;
    Object.assign(this.wd, {
      on, csLast: null, nextJiffies: this.tk.jiffies + this.wd.intervalJiffies, cpu: 0,
      marginNs: watchdogMargin(this.spec.logStyle, this.tscReg.uncertaintyMargin, this.kvmReg.uncertaintyMargin),
      tscMult: BigInt(this.tscReg.mult), tscShift: BigInt(this.tscReg.shift), tscKhz: BigInt(this.tscKhz),
      maxIdleNs: this.tscReg.maxIdleNs,
    });
    this.wdUnsettled = this.online.filter(Boolean).length + 1;
  }

  // ---- printk --------------------------------------------------------------------------------------------

  /** printk on `vcpu`, stamped with its local_clock() now. */
  printk(vcpu: number, text: string): void {
    const p = this.now().points[vcpu];
    this.port.log({ t: this.port.now(), source: 'guest', vcpu, stamp: p?.schedClock ?? 0n, text });
  }
  private printkAt(vcpu: number, text: string): void { this.printk(vcpu, text); }

  /**
   * kvm_register_clock(txt) on `cpu`, after its MSR_KVM_SYSTEM_TIME_NEW write: "kvm-clock: cpu N, msr H:L, txt"
   * (3.x prints the halves of pa | 1) or "msr %llx" (4.x-5.x); later kernels say nothing.
   */
  kvmRegisterClock(cpu: number, txt: string): void {
    const line = printk.kvmRegisterClock(this.spec.logStyle, cpu, this.spec.kvmclockPa + BigInt(cpu) * 64n, txt);
    if (line) this.printk(cpu, line);
  }


  // ---- boot and clocksources -----------------------------------------------------------------------------

  /** Boot on vCPU 0 after kvmclock is enabled: clocksources, sched_clock, the timekeeper, the detectors. */
  boot(): void {
    const { k } = this;
    const n = this.port.vcpuCount();
    this.online = Array.from({ length: n }, () => true);
    const t = this.port.now();
    // a provisional timekeeper, so that the first reads can be taken: jiffies start at INITIAL_JIFFIES
    this.tk = newTimekeeper({ cs: 'kvm-clock', mult: 1 << 23, shift: 23, mask: MASK64, maxRaw: this.spec.maxRawDelta,
      cycles: 0n, monotonic: 0n, tickNs: this.tickNs, jiffies: (1n << 32n) - 300n * BigInt(this.spec.hz) });
    this.tickHeld = true; // no tick until the timekeeper is set up below
    const style = this.spec.logStyle;
    if (this.xen) {
      // xen_start_kernel() points CPU 0's xen_vcpu at HYPERVISOR_shared_info while that is still
      // xen_dummy_shared_info (zeros): xen_clocksource_read() -- sched_clock, stable or not -- reads 0 until
      // xen_vcpu_setup() points it at the real vcpu_info (the next line)
      this.port.log({ t, source: 'guest', vcpu: 0, stamp: 0n,
        text: style === '2.6' ? printk.xenBanner() : `Linux version ${this.spec.kernel} (Xen PV guest)` });
    }
    const r0 = this.view(t).points[0]!;
    if (this.pv) {
      // until the clocksource is chosen, CLOCK_MONOTONIC runs on the pvclock from its boot value
      this.tk = newTimekeeper({ ...this.tk, mult: 1 << 23, shift: 23, mask: MASK64, maxRaw: this.spec.maxRawDelta, tickNs: this.tickNs,
        cycles: r0.kvmclock!, monotonic: this.xen ? 0n : r0.kvmclock! });
    }
    if (this.xen) {
      // the xen clocksource (NOW(): host uptime), and xen_sched_clock in the form this kernel has
      this.kvmReg = k.clocksourceRegisterHz(1_000_000_000, MASK64);
      this.kvmclockRating = 400;
      this.sched = { ...newSchedClock(), offset: this.spec.xenSchedClock === 'xen-clock' ? 0n : r0.kvmclock!,
        stable: this.spec.schedClockStable ?? this.xenNonstopTsc };
      if (style === '2.6') this.printk(0, printk.xenVcpuInfo(0));
      if (printk.printsRegistration(style)) this.printk(0, formatClocksourceLine('xen', MASK64, this.kvmReg as never));
      this.tscKhz = Number(k.pvclockTscKhz(this.port.page(0)));
    } else if (this.spec.kvmclock) {
      this.kvmReg = k.clocksourceRegisterHz(1_000_000_000, MASK64);
      this.kvmclockRating = this.spec.invariantTsc ? 299 : 400;
      this.sched = { ...newSchedClock(), offset: r0.kvmclock!, stable: this.spec.schedClockStable ?? (this.spec.stableBit && r0.stable) };
      this.kvmRegisterClock(0, 'primary cpu clock');
      const offsetLine = printk.schedOffset(style, this.sched.offset);
      if (offsetLine) this.printk(0, offsetLine);
      if (printk.printsRegistration(style)) this.printk(0, formatClocksourceLine('kvm-clock', MASK64, this.kvmReg as never));
      this.tscKhz = Number(k.pvclockTscKhz(this.port.page(0)));
    } else {
      // no pvclock page to take it from: calibrated against a timer that runs in real time
      this.tscKhz = this.port.calibrateTscKhz();
    }
    this.printk(0, printk.tscDetected(style, this.tscKhz));
    const tscReg = k.clocksourceRegisterKhz(this.tscKhz, MASK64);
    this.tscReg = tscReg;
    if (!this.spec.kvmclock) {
      // native sched_clock: cyc2ns from clocks_calc_mult_shift(khz, NSEC_PER_MSEC, 0), starting at 0 here
      const { mult, shift } = k.clocksCalcMultShift(this.tscKhz, 1_000_000, 0);
      this.sched = nativeSchedClock(mult, shift, r0.tsc, this.spec.schedClockStable ?? this.spec.invariantTsc);
    }
    if (printk.printsRegistration(style)) this.printk(0, formatClocksourceLine('tsc', MASK64, tscReg));
    this.selectClocksource(true);
    this.ntpTrack(t, true);
    this.booted = true;
    const v = this.view(t);
    for (let i = 0; i < n; i++) softlockupStart(this.soft, i, v.points[i]?.monotonic ?? 0n, v.points[i]?.schedClock ?? 0n);
    startHungTaskDetector(this.hung, this.tk.jiffies);
    this.startWatchdog();
    this.commit(v);
    this.updateRcuHolders();
  }

  /** clocksource_select(): the highest rating wins; the timekeeper re-anchors on the new one. */
  selectClocksource(boot = false): void {
    const want: 'kvm-clock' | 'tsc' = this.pv && this.kvmclockRating > (this.tscUnstable ? 0 : this.tscRating) ? 'kvm-clock' : 'tsc';
    if (!boot && want === this.clocksource) return;
    const t = this.port.now();
    const v = boot ? null : this.now();
    const reg = want === 'tsc' ? this.tscReg : this.kvmReg;
    if (boot) {
      // CLOCK_MONOTONIC starts at the boot clock (kvmclock ~0 at VM creation; Xen's NOW() is host uptime: 0)
      const r = this.view(t).points[0]!;
      this.clocksource = want;
      const mono = this.xen ? 0n : r.kvmclock ?? 0n;
      this.tk = newTimekeeper({ cs: want, mult: this.tkMult(reg, want), shift: reg.shift, mask: MASK64, maxRaw: this.spec.maxRawDelta,
        cycles: want === 'tsc' ? r.tsc : r.kvmclock ?? 0n, monotonic: mono, tickNs: this.tickNs, jiffies: this.tk.jiffies });
      this.tickHeld = false;
      this.lastTickAt = t - (t % this.tickNs);
    } else {
      // change_clocksource(): accumulate the old one up to now, then read on with the new one
      this.advanceTo(t);
      this.clocksource = want;
      // on the CPU that switches: the tick CPU, else any that runs (the state is the same on all, only the reads differ)
      const i = v!.tickCpu >= 0 ? v!.tickCpu : Math.max(v!.points.findIndex(Boolean), 0);
      const raw = this.port.readAll(t), rawKvm = raw[3 * i + 1];
      const csValue = want === 'tsc' ? raw[3 * i] : rawKvm > v!.lastValue ? rawKvm : v!.lastValue;
      reanchor(this.tk, { monotonic: ktimeGet(v!.tk, v!.cs[i]), cs: want, csValue, mult: this.tkMult(reg, want), shift: reg.shift });
      this.lastTickAt = t;
      this.committed = null;
      this.commit(this.view(t));
    }
    const name = want === 'tsc' ? 'tsc' : this.xen ? 'xen' : 'kvm-clock';
    this.printk(0, printk.switchedTo(this.spec.logStyle, name));
  }

  /** tk->mult: the clocksource's, with a converged NTP daemon's frequency correction when the guest runs one. */
  private tkMult(reg: { mult: number }, cs: 'kvm-clock' | 'tsc'): number {
    if (!this.spec.ntp) return reg.mult;
    const ppb = this.ntpTarget === null ? this.port.clocksourceDriftPpb(cs) : this.ntpPpb;
    const den = 1_000_000_000n + ppb;
    return Number((BigInt(reg.mult) * 1_000_000_000n + den / 2n) / den);
  }

  /**
   * The NTP daemon follows a new clocksource rate only once it has lasted NTP_SETTLE_NS (its frequency loop
   * takes hours); at boot it starts from its drift file. A new correction re-anchors the timekeeper.
   */
  ntpTrack(t: bigint, boot = false): void {
    if (!this.spec.ntp) return;
    const ppb = this.port.clocksourceDriftPpb(this.clocksource);
    if (ppb === this.ntpPpb) { this.ntpTarget = null; return; }
    if (this.ntpTarget?.ppb !== ppb) this.ntpTarget = { ppb, since: t };
    if (!boot && t - this.ntpTarget.since < NTP_SETTLE_NS) return;
    this.ntpPpb = ppb;
    this.ntpTarget = null;
    if (boot) return;
    this.advanceTo(t);
    const v = this.committed!, tc = Math.max(v.tickCpu, 0);
    const reg = this.clocksource === 'tsc' ? this.tscReg : this.kvmReg;
    reanchor(this.tk, { monotonic: ktimeGet(this.tk, v.cs[tc]), csValue: v.cs[tc], mult: this.tkMult(reg, this.clocksource) });
    this.lastTickAt = t;
    this.committed = null;
    this.commit(this.view(t));
  }

  /** After each host event: the NTP daemon looks at its clock's rate (a change starts its settling). */
  ntpNotice(t: bigint): void {
    if (!this.spec.ntp) return;
    const ppb = this.port.clocksourceDriftPpb(this.clocksource);
    if (ppb === this.ntpPpb) { this.ntpTarget = null; return; }
    if (this.ntpTarget?.ppb !== ppb) this.ntpTarget = { ppb, since: t };
  }

  /** mark_tsc_unstable(reason). */
  markTscUnstable(reason: string): void {
    if (this.tscUnstable) return;
    this.tscUnstable = true;
    this.wd.on = false;
    this.printk(0, printk.tscUnstable(this.spec.logStyle, reason));
    this.port.anomaly({ type: 'tsc-unstable', t: this.port.now(), size: 0n, unit: 'ns', reason });
    if (this.sched.mode === 'tsc' && this.sched.stable) {
      this.sched.stable = false;
      const line = printk.schedClockUnstable(this.spec.logStyle);
      if (line) this.printk(0, line);
    }
    this.selectClocksource();
  }

  /**
   * A Xen PV guest resumes after save/restore or migration: pvclock_resume() (last_value = 0), timekeeping resumes
   * on the new clock (CLOCK_MONOTONIC goes on from where it was), and xen_sched_clock in its form: the offset form
   * continues where it was, the runstate form restarts with the new domain's vCPUs, NOW() jumps.
   */
  /** sched_clock when the Xen PV guest suspended (the stop_machine thread's last charge), for xenResume(). */
  private xenSuspendSched: bigint | null = null;

  /** do_suspend() up to the hypercall: its lines, and the sched_clock that kstop/0, running xen_suspend, has been
   *  charged to. */
  xenSuspend(): void {
    for (const line of printk.xenSuspend(this.spec.logStyle)) this.printk(0, line);
    this.xenSuspendSched = this.now().points[0]?.schedClock ?? null;
  }

  xenResume(before: { kvmclock: bigint; monotonic: bigint }): void {
    const t = this.port.now();
    this.lastValue = 0n;
    const v = this.view(t);
    const k0 = v.points[0]!.kvmclock!;
    // timekeeping_resume(): xtime as suspend left it (CLOCK_MONOTONIC at the freeze), cycle_last from the new clock
    if (this.clocksource !== 'tsc') { reanchor(this.tk, { monotonic: before.monotonic, csValue: k0 }); this.lastTickAt = t; }
    if (this.spec.xenSchedClock === 'xen-clock-offset') this.sched.offset = k0 - (before.kvmclock - this.sched.offset);
    else if (this.spec.xenSchedClock === 'runstate') this.sched.offset = k0;
    // NOW() is the new host's uptime: the kernel re-bases across the restore, so the raw clock's step is not a jump
    // the guest promises to hide (sched_clock and CLOCK_MONOTONIC stay judged)
    v.points.forEach((p, i) => { if (p?.kvmclock != null) this.observer.rebase(i, 'kvmclock', p.kvmclock); });
    // timekeeping_resume() touches the soft-lockup watchdog of the CPU that resumes (the boot CPU); the others'
    // next firings judge their clocks' step
    touchSoftlockupWatchdog(this.soft, 0);
    v.points.forEach((p, i) => { if (p && i !== 0) this.softPending.add(i); });
    this.committed = null;
    const after = this.view(t);
    this.commit(after);
    for (const line of printk.xenResumed(this.spec.logStyle, this.online.length)) this.printk(0, line);
    this.xenStopMachineDestroy(after.points[0]?.schedClock ?? null);
    // the vCPUs run again: the grace period they held across the downtime ends at their first tick
    this.updateRcuHolders();
    this.planTimers();
  }

  /**
   * 2.6.32's do_suspend() ends in stop_machine_destroy(): xenwatch (pid 12: kernel threads are numbered as they are
   * created, and a one-vCPU 2.6.32 PV guest creates xenwatch twelfth, as seed 001's log shows) waits in kthread_stop()
   * for the "kstop" RT workqueue thread. That thread ran xen_suspend across the hypercall, so update_curr_rt() charged
   * it the whole step of sched_clock (rq->clock) from the suspend to now (sched_rt.ts): past the RT runtime its
   * runqueue is throttled, and it cannot run to exit until the period timer (CLOCK_MONOTONIC) has paid rt_time back
   * -- one second per 0.95 s charged. Later kernels (2.6.36 on) stop CPUs with the per-CPU cpu_stop threads and
   * destroy nothing: this wait is 2.6's ('2.6' logStyle).
   */
  private xenStopMachineDestroy(sched: bigint | null): void {
    const from = this.xenSuspendSched;
    this.xenSuspendSched = null;
    if (this.spec.logStyle !== '2.6' || from === null || sched === null) return;
    const throttle = rtCharge(sched - from);
    if (!throttle) return;
    const hz = BigInt(this.spec.hz);
    const since = this.tk.jiffies;
    this.hung.blocked.push({ comm: 'xenwatch', pid: 12, since, until: since + throttle.periods * (RT_PERIOD_NS * hz / 1_000_000_000n), seen: false });
  }

  // ---- CPU hot-add ----------------------------------------------------------------------------------------

  /** The ACPI notification of a new CPU, then cpu_up() on the boot CPU, which prints before it sends INIT/SIPI. */
  announceHotAdd(cpu: number): void {
    this.printk(0, printk.hotAdded(cpu));
    this.printk(0, printk.bootingCpu(cpu));
  }

  /** A vCPU comes online: start_secondary's clock registration, check_tsc_sync_target, then online. */
  bringUp(cpu: number, kvmclock: () => void): void {
    this.online[cpu] = false;
    this.bringingUp = cpu;
    this.observer.forget(cpu);
    this.updateRcuHolders();
    this.boundary();
    if (this.spec.kvmclock) {
      kvmclock(); // MSR_KVM_SYSTEM_TIME_NEW on it: a global clock update
      this.boundary();
      this.kvmRegisterClock(cpu, 'secondary cpu clock');
    }
    checkTscSyncTarget(this, cpu);
    this.bringingUp = null;
    this.online[cpu] = true;
    const v = this.now();
    softlockupStart(this.soft, cpu, v.points[cpu]?.monotonic ?? 0n, v.points[cpu]?.schedClock ?? 0n);
    this.updateRcuHolders();
    this.boundary();
  }

  /** Cycles the guest's own TSC runs in ns at its tsc_khz (for messages). */
  cyclesToNs(cycles: bigint): bigint {
    return nsOf(cycles, this.tscKhz || 1);
  }
}
