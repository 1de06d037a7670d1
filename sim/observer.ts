// What the guest's clocks did, judged from the points where the engine evaluates them: just before and just
// after every host event, at every guest timer, at the end. Between two such points a clock is smooth (one
// rate, no step), so a step shows as a pair of points at one instant and a wrong rate as a pair spanning an
// interval. The anomalies and their merging keep tsclab's vocabulary: backwards (a step back, or a vCPU behind
// another's read where the guest may order the reads), jump (ahead of real time), stall (lost time).
import type { Anomaly, AnomalyType, SimClock } from './types.js';

/** One vCPU's clocks at one point. */
export interface Point {
  tsc: bigint;
  kvmclock: bigint | null;
  schedClock: bigint;
  monotonic: bigint;
  hv: bigint | null;
  /** Its kvmclock read returned the page's value unclamped under a trusted STABLE bit. */
  stable: boolean;
}

/** Steps smaller than this at one instant are neither jumps nor stalls (the 1 ms of the old read loop's slack). */
const SLACK_MIN = 1_000_000n;
/** Reads on two CPUs can be ordered this closely: a vCPU further behind another's value than this goes back. */
export const CROSS_MIN = 1_000n;
const CLOCKS: [SimClock, keyof Point][] = [['kvmclock', 'kvmclock'], ['sched_clock', 'schedClock'], ['monotonic', 'monotonic']];

interface Open { t: bigint; until: bigint; size: bigint; count: number }

export class Observer {
  /** Each vCPU's last point; `gap`: it stopped reading after it (not run, stopped), so the next pair spans a gap. */
  private last: ({ t: bigint; p: Point; gap?: boolean } | null)[] = [];
  private stalls = new Map<string, Open>();
  readonly anomalies: Anomaly[] = [];
  /** Points evaluated (the cost of a run). */
  points = 0n;

  /**
   * @param period the resolution of rate checks: a clock's gain or loss per period against its slack (old read loop).
   * @param from points before this real time are not judged (observe.from: a long quiet prefix).
   */
  constructor(readonly period: bigint, readonly from = 0n) {}

  /** vCPU v's last point (null: none yet). */
  lastPoint(v: number): { t: bigint; p: Point } | null { return this.last[v] ?? null; }

  /** Forget vCPU v's history (it comes online fresh). */
  forget(v: number): void { this.last[v] = null; }

  /** A clock the guest kernel re-bases itself (a Xen restore): its next point continues from `value`. */
  rebase(v: number, clock: 'kvmclock', value: bigint): void {
    const l = this.last[v];
    if (l) this.last[v] = { ...l, p: { ...l.p, [clock]: value } };
  }

  /** The points of every reading vCPU at real time t. */
  observe(t: bigint, points: (Point | null)[]): void {
    if (t < this.from) return;
    let kmax: bigint | null = null, kmaxCpu = -1, mmax: bigint | null = null, mmaxCpu = -1;
    points.forEach((p, v) => {
      const prev = this.last[v];
      if (!p) { if (prev) prev.gap = true; return; }
      this.points++;
      if (prev) this.pair(v, prev.t, prev.p, t, p, prev.gap ?? false);
      this.last[v] = { t, p };
      if (p.stable && p.kvmclock !== null && (kmax === null || p.kvmclock > kmax)) { kmax = p.kvmclock; kmaxCpu = v; }
      if (mmax === null || p.monotonic > mmax) { mmax = p.monotonic; mmaxCpu = v; }
    });
    // across vCPUs: a value behind another vCPU's at the same instant (kvmclock only where STABLE is trusted:
    // elsewhere the clamp hides it; CLOCK_MONOTONIC always)
    points.forEach((p, v) => {
      if (!p) return;
      const kb = kmax !== null && p.stable && p.kvmclock !== null && v !== kmaxCpu ? kmax - p.kvmclock : 0n;
      const mb = mmax !== null && v !== mmaxCpu ? mmax - p.monotonic : 0n;
      this.across(t, v, 'kvmclock', kb);
      this.across(t, v, 'monotonic', mb);
    });
  }

  /** Open episodes of a condition seen at consecutive points (a vCPU behind another, a Hyper-V disagreement): one while
   *  it lasts from point to point (the clocks are smooth between them). */
  private readonly open = new Map<string, Anomaly>();

  private across(t: bigint, v: number, clock: SimClock, size: bigint): void {
    this.episode('time-backwards', t, v, clock, size, size > CROSS_MIN, true);
  }

  private episode(type: AnomalyType, t: bigint, v: number, clock: SimClock, size: bigint, on: boolean, across = false): void {
    const key = `${type}:${v}:${clock}`, open = this.open.get(key);
    if (!on) { this.open.delete(key); return; }
    if (open) { open.count++; open.until = t; if (size > open.size) open.size = size; return; }
    this.record(type, t, v, clock, size, across);
    this.open.set(key, this.lastOf.get(`${type}:${v}:${clock}:${across}`)!);
  }

  private pair(v: number, t0: bigint, a: Point, t1: bigint, b: Point, gap: boolean): void {
    const elapsed = t1 - t0;
    if (b.tsc < a.tsc) this.record('time-backwards', t1, v, 'tsc', a.tsc - b.tsc);
    for (const [clock, key] of CLOCKS) {
      const x = a[key] as bigint | null, y = b[key] as bigint | null;
      if (x === null || y === null) continue;
      this.step(v, clock, t0, t1, elapsed, x, y, gap);
    }
    if (a.hv !== null && b.hv !== null && b.hv < a.hv) this.record('time-backwards', t1, v, 'hv-reference', a.hv - b.hv);
  }

  /**
   * One clock over one pair of points: a step back, a gain or a loss beyond the slack. Between two points of a
   * vCPU that ran throughout, the slack is per observe.period (the old loop read every period); across a gap (it
   * did not run, so the old loop read nothing in between) it is that of one pair of reads.
   */
  private step(v: number, clock: SimClock, t0: bigint, t1: bigint, elapsed: bigint, x: bigint, y: bigint, gap: boolean): void {
    const key = `${v}:${clock}`;
    if (y < x) {
      // stepped back; across a gap that is also time lost (the pause, and the step)
      if (gap && elapsed > SLACK_MIN) this.openStall(key, t0, t1, elapsed + (x - y));
      this.closeStall(key, v, clock);
      this.record('time-backwards', t1, v, clock, x - y);
      return;
    }
    const adv = y - x;
    if (elapsed === 0n) {
      if (adv > SLACK_MIN) { this.closeStall(key, v, clock); this.record('time-jump', t1, v, clock, adv); }
      return;
    }
    if (gap) {
      // across a gap the old loop had one pair of reads: max(elapsed / 2048, 1 ms) either way, once
      const slack = elapsed >> 11n > SLACK_MIN ? elapsed >> 11n : SLACK_MIN;
      if (adv + slack < elapsed) { this.openStall(key, t0, t1, elapsed - adv); return; }
      this.closeStall(key, v, clock);
      if (adv > elapsed + slack) this.record('time-jump', t1, v, clock, adv - elapsed);
      return;
    }
    // per observe.period: the old loop read every period and allowed max(period / 2048, 1 ms) either way
    const slack = this.period >> 11n > SLACK_MIN ? this.period >> 11n : SLACK_MIN;
    // (and beyond a microsecond: a pair of points nanoseconds apart says nothing of a rate)
    if (adv + CROSS_MIN < elapsed && (elapsed - adv) * this.period > slack * elapsed) { this.openStall(key, t0, t1, elapsed - adv); return; }
    this.closeStall(key, v, clock);
    if (adv > elapsed + CROSS_MIN && (adv - elapsed) * this.period > slack * elapsed) {
      // a clock running fast: its gain per period, over the periods it covers (over less than a period: the gain)
      const perPeriod = elapsed >= this.period ? ((adv - elapsed) * this.period) / elapsed : adv - elapsed;
      const n = Number(elapsed / this.period > 1n ? elapsed / this.period : 1n);
      this.record('time-jump', t0 + (this.period < elapsed ? this.period : elapsed), v, clock, perPeriod, false, n, t1);
    }
  }

  private openStall(key: string, t0: bigint, t1: bigint, lost: bigint): void {
    const open = this.stalls.get(key);
    if (open) { open.until = t1; open.size += lost; open.count++; } else this.stalls.set(key, { t: t0, until: t1, size: lost, count: 1 });
  }

  private closeStall(key: string, v: number, clock: SimClock): void {
    const open = this.stalls.get(key);
    if (!open) return;
    this.stalls.delete(key);
    this.push({ type: 'time-stall', t: open.t, until: open.until, vcpu: v, clock, size: open.size, unit: 'ns', count: open.count });
  }

  /** Emits the stalls still open (the end of a run). */
  flush(): void {
    for (const key of [...this.stalls.keys()]) {
      const [v, clock] = key.split(':');
      this.closeStall(key, Number(v), clock as SimClock);
    }
  }

  /** The Hyper-V page against the reference counter on vCPU v at t: more than one 100 ns unit apart is a disagreement. */
  hvBracket(t: bigint, v: number, diff: bigint): void {
    this.episode('hv-page-mismatch', t, v, 'hv-reference', diff, diff > 1n);
  }

  /** The last anomaly of each kind (type, vCPU, clock, across): where a repeat within the window merges. */
  private readonly lastOf = new Map<string, Anomaly>();
  private get window(): bigint { return 3n * this.period > 1_000_000_000n ? 3n * this.period : 1_000_000_000n; }

  private record(type: AnomalyType, t: bigint, v: number, clock: SimClock, size: bigint, across = false, count = 1, until = t): void {
    // the same anomaly seen again within a second (or three periods) is one episode
    const last = this.lastOf.get(`${type}:${v}:${clock}:${across}`);
    if (last && t - last.until <= this.window) {
      last.count += count;
      last.until = until;
      if (size > last.size) last.size = size;
      return;
    }
    this.push({ type, t, until, vcpu: v, clock, size, count,
      unit: clock === 'tsc' ? 'cycles' : clock === 'hv-reference' ? '100ns' : 'ns', ...(across ? { across } : {}) });
  }

  private push(a: Anomaly): void {
    const key = `${a.type}:${a.vcpu}:${a.clock}:${!!a.across}`;
    if (a.type === 'time-stall') {
      // stall episodes close together are one (the old loop's merging): their losses add up
      const last = this.lastOf.get(key);
      if (last && a.t - last.until <= this.window) { last.until = a.until; last.size += a.size; last.count += a.count; return; }
    }
    this.anomalies.push(a);
    this.lastOf.set(key, a);
  }
}
