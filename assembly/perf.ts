// The TSC -> perf clock conversion documented in struct perf_event_mmap_page
// (include/uapi/linux/perf_event.h): what perf and trace tools apply to raw
// TSC stamps taken with rdtsc.

/**
 * With cap_user_time_short, cyc is first widened against time_cycles/time_mask:
 * cyc = time_cycles + ((cyc - time_cycles) & time_mask). Then
 * quot = cyc >> time_shift, rem = cyc & ((1 << time_shift) - 1),
 * ns = time_zero + quot * time_mult + ((rem * time_mult) >> time_shift),
 * every step in u64. timeShift lies in 0..63.
 */
// @ts-ignore: decorator
@inline export function perfTscToNs(cyc: u64, timeZero: u64, timeMult: u32, timeShift: u32): u64 {
  const quot = cyc >> <u64>timeShift;
  const rem = cyc & ((<u64>1 << <u64>timeShift) - 1);
  return timeZero + quot * <u64>timeMult + ((rem * <u64>timeMult) >> <u64>timeShift);
}

/** The cap_user_time_short widening of a short counter value. */
// @ts-ignore: decorator
@inline export function perfWidenShort(cyc: u64, timeCycles: u64, timeMask: u64): u64 {
  return timeCycles + ((cyc - timeCycles) & timeMask);
}
