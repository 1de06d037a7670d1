// Clocksource registration arithmetic: kernel/time/clocksource.c
// (clocks_calc_mult_shift, __clocksource_update_freq_scale,
// clocks_calc_max_nsecs) and kernel/time/jiffies.c.

const NSEC_PER_SEC: u64 = 1000000000;

/** clocksource_cyc2ns: ((u64)cycles * mult) >> shift. The product wraps mod 2^64. */
// @ts-ignore: decorator
@inline export function clocksourceCyc2ns(cycles: u64, mult: u32, shift: u32): u64 {
  return (cycles * <u64>mult) >> <u64>shift;
}

/**
 * clocks_calc_mult_shift(&mult, &shift, from, to, maxsec): the most accurate
 * (mult, shift) converting `from` Hz to `to` Hz without overflowing 64 bits
 * over maxsec seconds. Writes mult (u32) at out, shift (u32) at out + 4. from != 0.
 */
export function clocksCalcMultShift(from: u32, to: u32, maxsec: u32, out: usize): void {
  let sftacc: u32 = 32;
  let tmp: u64 = (<u64>maxsec * <u64>from) >> 32;
  while (tmp != 0) {
    tmp >>= 1;
    sftacc--;
  }
  let sft: u32 = 32;
  for (; sft > 0; sft--) {
    tmp = <u64>to << <u64>sft;
    tmp += <u64>(from / 2);
    tmp /= <u64>from;
    if ((tmp >> <u64>sftacc) == 0) break;
  }
  store<u32>(out, <u32>tmp);
  store<u32>(out + 4, sft);
}

/** clocksource_max_adjustment: 11% of mult, as u32. */
// @ts-ignore: decorator
@inline function maxAdjustment(mult: u32): u32 {
  return <u32>((<u64>mult * 11) / 100);
}

// Output slots of clocksourceUpdateFreqScale (u64 each).
export const CS_MULT: usize = 0;
export const CS_SHIFT: usize = 8;
export const CS_MAXADJ: usize = 16;
export const CS_MAX_CYCLES: usize = 24;
export const CS_MAX_IDLE_NS: usize = 32;
export const CS_MARGIN: usize = 40;

/**
 * __clocksource_update_freq_scale(cs, scale, freq) followed by
 * clocksource_update_max_deferment. freq == 0 keeps the given mult/shift (the
 * jiffies clocksources). margin is cs->uncertainty_margin as preset (0 = derive
 * it); maxSkewNs is WATCHDOG_MAX_SKEW of the kernel version modelled.
 * Returns 1, or 0 when the kernel itself would divide by zero.
 */
export function clocksourceUpdateFreqScale(mask: u64, scale: u32, freq: u32, mult: u32, shift: u32,
                                           margin: u32, maxSkewNs: u32, thresholdNs: u32, out: usize): i32 {
  if (freq != 0) {
    let sec: u64 = mask / <u64>freq;
    if (scale == 0) return 0;
    sec /= <u64>scale;
    if (sec == 0) sec = 1;
    else if (sec > 600 && mask > 0xFFFFFFFF) sec = 600;
    clocksCalcMultShift(freq, <u32>(NSEC_PER_SEC / <u64>scale), <u32>(sec * <u64>scale), out);
    mult = load<u32>(out);
    shift = load<u32>(out + 4);
  }
  if (scale != 0 && freq != 0 && margin == 0) {
    const period = scale * freq; // u32 * u32 in C: wraps
    if (period == 0) return 0;
    margin = <u32>(NSEC_PER_SEC / <u64>period);
    if (margin < 2 * maxSkewNs) margin = 2 * maxSkewNs;
  } else if (margin == 0) {
    margin = thresholdNs;
  }
  let maxadj = maxAdjustment(mult);
  while (freq != 0 && (mult + maxadj < mult || mult - maxadj > mult)) {
    mult >>= 1;
    shift--;
    maxadj = maxAdjustment(mult);
  }
  // clocks_calc_max_nsecs
  const div = mult + maxadj; // u32 sum, as in C
  if (div == 0) return 0;
  let maxCycles: u64 = 0xFFFFFFFFFFFFFFFF / <u64>div;
  if (maxCycles > mask) maxCycles = mask;
  const maxNsecs = clocksourceCyc2ns(maxCycles, mult - maxadj, shift) >> 1;
  store<u64>(out + CS_MULT, <u64>mult);
  store<u64>(out + CS_SHIFT, <u64>shift);
  store<u64>(out + CS_MAXADJ, <u64>maxadj);
  store<u64>(out + CS_MAX_CYCLES, maxCycles);
  store<u64>(out + CS_MAX_IDLE_NS, maxNsecs);
  store<u64>(out + CS_MARGIN, <u64>margin);
  return 1;
}

/** JIFFIES_SHIFT of kernel/time/jiffies.c for a given HZ. */
export function jiffiesShift(hz: u32): u32 {
  return hz < 34 ? 6 : hz < 67 ? 7 : 8;
}

/** TICK_NSEC: (NSEC_PER_SEC + HZ/2) / HZ. */
export function tickNsec(hz: u32): u64 {
  return (NSEC_PER_SEC + <u64>(hz / 2)) / <u64>hz;
}

/** The mult of clocksource_jiffies: TICK_NSEC << JIFFIES_SHIFT, as u32. */
export function jiffiesMult(hz: u32): u32 {
  return <u32>(tickNsec(hz) << <u64>jiffiesShift(hz));
}

/**
 * The mult register_refined_jiffies(cycles_per_second) computes (x86 passes
 * CLOCK_TICK_RATE = PIT_TICK_RATE = 1193182).
 */
export function refinedJiffiesMult(hz: u32, cyclesPerSecond: u64): u32 {
  const cyclesPerTick = (cyclesPerSecond + <u64>(hz / 2)) / <u64>hz;
  let shiftHz: u64 = cyclesPerSecond << 8;
  shiftHz += cyclesPerTick / 2;
  shiftHz /= cyclesPerTick;
  let nsecPerTick: u64 = NSEC_PER_SEC << 8;
  nsecPerTick += <u64>(<u32>shiftHz / 2);
  nsecPerTick /= <u64>(<u32>shiftHz);
  return (<u32>nsecPerTick) << jiffiesShift(hz);
}
