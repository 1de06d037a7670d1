// kernel/watchdog.c: the soft-lockup detector. Every CPU has an hrtimer that fires every sample_period
// (watchdog_thresh * 2 / 5 s, so 4 s) of CLOCK_MONOTONIC; it wakes the CPU's watchdog thread, which
// stamps watchdog_touch_ts = get_timestamp() (local_clock() >> 30, "2^30 ~= 10^9") when it runs, and
// checks is_softlockup(): the CPU is stuck if the timestamp now is past touch_ts + 2 * watchdog_thresh.
// On a running vCPU the thread runs right after each firing, so a report needs local_clock to leap more
// than 20 units between two firings: a vCPU that did not run for that long (its kvmclock kept counting),
// or a clock leap. kvm_check_and_clear_guest_paused() (PVCLOCK_GUEST_STOPPED) forgives it.
export interface Softlockup {
  /** watchdog_touch_ts per CPU, in get_timestamp() units; null: touched (re-stamp at the next firing). */
  touchTs: (bigint | null)[];
  /** The CLOCK_MONOTONIC time of each CPU's next hrtimer expiry. */
  nextExpiry: bigint[];
  /** soft_watchdog_warn: reported once until the thread runs again. */
  warned: boolean[];
  /** 2 * watchdog_thresh, in get_timestamp() units. */
  thresh: bigint;
  /** sample_period, ns. */
  periodNs: bigint;
}

export function newSoftlockup(watchdogThresh: number): Softlockup {
  return { touchTs: [], nextExpiry: [], warned: [], thresh: BigInt(2 * watchdogThresh), periodNs: (BigInt(2 * watchdogThresh) * 1_000_000_000n) / 5n };
}

/** get_timestamp(): local_clock() >> 30. */
export const getTimestamp = (localClockNs: bigint): bigint => localClockNs >> 30n;

/** watchdog_enable() on a CPU that comes online: the thread stamps, the hrtimer starts one period from now. */
export function softlockupStart(s: Softlockup, cpu: number, monotonic: bigint, localClock: bigint): void {
  s.touchTs[cpu] = getTimestamp(localClock);
  s.nextExpiry[cpu] = monotonic + s.periodNs;
  s.warned[cpu] = false;
}

/** touch_softlockup_watchdog(): the next firing re-stamps instead of judging. */
export function touchSoftlockupWatchdog(s: Softlockup, cpu: number): void {
  s.touchTs[cpu] = null;
}

/**
 * watchdog_timer_fn() on `cpu` with its clocks now, then the watchdog thread's __touch_watchdog(): returns the
 * seconds stuck when it reports "BUG: soft lockup - CPU#N stuck for Ns!", else null. `paused`: the vCPU's page
 * had PVCLOCK_GUEST_STOPPED (kvm_check_and_clear_guest_paused consumed it).
 */
export function watchdogTimerFn(s: Softlockup, cpu: number, monotonic: bigint, localClock: bigint, paused: boolean): bigint | null {
  const now = getTimestamp(localClock);
  // hrtimer_forward_now: the next expiry is the first period boundary after now
  const e = s.nextExpiry[cpu];
  s.nextExpiry[cpu] = monotonic < e ? e : e + ((monotonic - e) / s.periodNs + 1n) * s.periodNs;
  const touch = s.touchTs[cpu];
  let report: bigint | null = null;
  if (touch !== null && !paused) {
    const stuck = now > touch + s.thresh; // is_softlockup(): time_after(now, touch_ts + thresh)
    if (stuck && !s.warned[cpu]) { report = now - touch; s.warned[cpu] = true; }
    if (!stuck) s.warned[cpu] = false;
  }
  s.touchTs[cpu] = now; // the woken thread runs at once on a running vCPU: __touch_watchdog()
  return report;
}

/**
 * The firings a running vCPU makes between two host events, in closed form: each one stamps, none reports
 * (local_clock moves like CLOCK_MONOTONIC there). Leaves the state as after the last firing before `monotonic`.
 */
export function softlockupAdvance(s: Softlockup, cpu: number, monotonic: bigint, localClock: bigint): void {
  const e = s.nextExpiry[cpu];
  if (monotonic < e) return;
  const fired = (monotonic - e) / s.periodNs; // index of the last firing at or before now
  const last = e + fired * s.periodNs;
  s.nextExpiry[cpu] = last + s.periodNs;
  s.touchTs[cpu] = getTimestamp(localClock - (monotonic - last));
  s.warned[cpu] = false;
}
