// kernel/time/timekeeping.c and kernel/time/tick-sched.c: the timekeeper and jiffies.
//
// The timekeeper accumulates the clocksource into xtime at each tick (update_wall_time, in shifted
// nanoseconds: exact, no rounding between ticks); ktime_get() on a CPU adds that CPU's clocksource
// delta since cycle_last, converted with one u64 multiply -- which wraps when the delta is huge, as after
// a clock leap (timekeeping_get_ns of 3.x-5.x: "nsec = cycle_delta * mult + xtime_nsec; nsec >>= shift").
// clocksource_delta() reads a delta with its top bits set as 0 (CLOCKSOURCE_VALIDATE_LAST_CYCLE, later
// max_raw_delta), so a clocksource that steps back makes time stand still instead of wrapping.
// jiffies follow ktime at the tick (tick_do_update_jiffies64), computed *before* the tick accumulates: after
// a leap the first tick's jiffies come from the wrapped product, the second tick's from the full delta.
//
// The engine ticks the timekeeper in closed form between host events (the ticks of a running guest are
// regular and change nothing but the anchor) and tick by tick only right after a discontinuity.
const U64 = (1n << 64n) - 1n;
const NSEC_PER_SEC = 1_000_000_000n;

export interface Timekeeper {
  /** The clocksource it reads: 'kvm-clock' (or xen) through the pvclock clamp, or 'tsc'. */
  cs: 'kvm-clock' | 'tsc';
  /** tk->mult (the clocksource's, with the NTP daemon's frequency correction) and tk->shift. */
  mult: bigint;
  shift: bigint;
  mask: bigint;
  /** Deltas above this read as 0 (CLOCKSOURCE_VALIDATE_LAST_CYCLE / max_raw_delta); 0: not checked. */
  maxRaw: bigint;
  /** tkr_mono.cycle_last: the clocksource value accumulated last. */
  cycleLast: bigint;
  /** CLOCK_MONOTONIC at cycle_last: whole seconds, and the sub-second part in shifted ns (xtime_nsec). */
  sec: bigint;
  nsecShifted: bigint;
  jiffies: bigint;
  /** last_jiffies_update, CLOCK_MONOTONIC ns. */
  lastJiffiesUpdate: bigint;
  tickNs: bigint;
}

export function newTimekeeper(o: { cs: Timekeeper['cs']; mult: number; shift: number; mask: bigint; maxRaw: boolean;
  cycles: bigint; monotonic: bigint; tickNs: bigint; jiffies: bigint }): Timekeeper {
  const shift = BigInt(o.shift);
  return {
    cs: o.cs, mult: BigInt(o.mult), shift, mask: o.mask, maxRaw: o.maxRaw ? o.mask - (o.mask >> 3n) : 0n,
    cycleLast: o.cycles, sec: o.monotonic / NSEC_PER_SEC, nsecShifted: (o.monotonic % NSEC_PER_SEC) << shift,
    jiffies: o.jiffies, lastJiffiesUpdate: o.monotonic - (o.monotonic % o.tickNs), tickNs: o.tickNs,
  };
}

/** clocksource_delta(now, last, mask): 0 when the delta has its top bits set (the clock stepped back). */
export function clocksourceDelta(tk: Timekeeper, now: bigint): bigint {
  const d = (now - tk.cycleLast) & tk.mask;
  return tk.maxRaw !== 0n && d > tk.maxRaw ? 0n : d;
}

/** ktime_get() on a CPU whose clocksource reads `cs`: xtime + the unaccumulated delta, in one wrapping u64 product. */
export function ktimeGet(tk: Timekeeper, cs: bigint): bigint {
  const d = clocksourceDelta(tk, cs);
  return tk.sec * NSEC_PER_SEC + (((d * tk.mult + tk.nsecShifted) & U64) >> tk.shift);
}

/** CLOCK_MONOTONIC at cycle_last (what ktime_get returns right after a tick). */
export function xtimeNs(tk: Timekeeper): bigint {
  return tk.sec * NSEC_PER_SEC + (tk.nsecShifted >> tk.shift);
}

/** update_wall_time(): accumulate the clocksource up to `cs` (exactly, in shifted ns); a negative delta does nothing. */
export function accumulate(tk: Timekeeper, cs: bigint): void {
  const d = clocksourceDelta(tk, cs);
  if (d === 0n) return;
  let ns = tk.nsecShifted + d * tk.mult;
  const secShifted = NSEC_PER_SEC << tk.shift;
  tk.sec += ns / secShifted;
  ns %= secShifted;
  tk.nsecShifted = ns;
  tk.cycleLast = (tk.cycleLast + d) & tk.mask;
}

/** tick_do_update_jiffies64(now): jiffies catch up with ktime in whole ticks. Returns how many. */
export function updateJiffies(tk: Timekeeper, now: bigint): bigint {
  const delta = now - tk.lastJiffiesUpdate;
  if (delta < tk.tickNs) return 0n;
  const ticks = delta / tk.tickNs;
  tk.jiffies += ticks;
  tk.lastJiffiesUpdate += ticks * tk.tickNs;
  return ticks;
}

/**
 * One tick on the CPU with do_timer duty, its clocksource reading `cs`: tick_sched_timer's `now` is
 * ktime_get() before the accumulation, jiffies follow it, then update_wall_time().
 */
export function tick(tk: Timekeeper, cs: bigint): void {
  updateJiffies(tk, ktimeGet(tk, cs));
  accumulate(tk, cs);
}

/** Ticks in closed form up to the clocksource reading `cs` (no wrap: each tick's delta was small). */
export function advance(tk: Timekeeper, cs: bigint): void {
  accumulate(tk, cs);
  updateJiffies(tk, xtimeNs(tk));
}

/**
 * A new clocksource or mult (clocksource switch, NTP, resume): the timekeeper re-anchors at CLOCK_MONOTONIC
 * `monotonic` -- its time now, as timekeeping_forward_now() leaves xtime (or, at resume, as suspend left it) --
 * and the clocksource reading `csValue`, so only time from here on is converted at the new rate.
 */
export function reanchor(tk: Timekeeper, o: { monotonic: bigint; csValue: bigint; cs?: Timekeeper['cs']; mult?: number; shift?: number; mask?: bigint }): void {
  if (o.cs) tk.cs = o.cs;
  if (o.mask !== undefined) { tk.maxRaw = tk.maxRaw === 0n ? 0n : o.mask - (o.mask >> 3n); tk.mask = o.mask; }
  if (o.mult !== undefined) tk.mult = BigInt(o.mult);
  if (o.shift !== undefined) tk.shift = BigInt(o.shift);
  tk.sec = o.monotonic / NSEC_PER_SEC;
  tk.nsecShifted = (o.monotonic % NSEC_PER_SEC) << tk.shift;
  tk.cycleLast = o.csValue;
}

export const cloneTk = (tk: Timekeeper): Timekeeper => ({ ...tk });
