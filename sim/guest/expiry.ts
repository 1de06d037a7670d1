// When a guest timer fires: the smallest real time at which the guest's clock reaches the timer's expiry.
// Between two host events every guest clock is a non-decreasing function of real time (a pvclock page, a
// timekeeper accumulating it, jiffies following it), so "the clock has reached e" is monotone in real time
// and the first such instant is found by bisection on integer nanoseconds: at most 64 evaluations, exact.

/** The smallest t in [lo, hi] with pred(t), for pred monotone (false...false true...true) on [lo, hi]; null if none. */
export function firstTime(lo: bigint, hi: bigint, pred: (t: bigint) => boolean): bigint | null {
  if (hi < lo || !pred(hi)) return null;
  if (pred(lo)) return lo;
  // invariant: pred(lo) false, pred(hi) true
  while (hi - lo > 1n) {
    const mid = lo + (hi - lo) / 2n;
    if (pred(mid)) hi = mid; else lo = mid;
  }
  return hi;
}
