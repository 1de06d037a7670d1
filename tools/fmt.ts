// Durations and rates as a person reads them: the unit that fits (s, ms, µs, ns), exact integers kept exact.
// Larger than a day: seconds with a day count beside ("6044209.287 s (69.96 d)").

const abs = (x: bigint) => (x < 0n ? -x : x);

/** ns in the unit that fits, exactly (trailing zeros dropped): 1234567n -> "1.234567 ms", 5n -> "5 ns". */
export function fmtDuration(ns: bigint, signed = false): string {
  const a = abs(ns), sign = ns < 0n ? '-' : signed ? '+' : '';
  const dec = (v: bigint, unit: bigint, digits: number, name: string) => {
    const whole = v / unit, frac = (v % unit).toString().padStart(digits, '0').replace(/0+$/, '');
    return `${sign}${whole}${frac ? `.${frac}` : ''} ${name}`;
  };
  if (a >= 86_400_000_000_000n) return `${dec(a, 1_000_000_000n, 9, 's')} (${(Number(a) / 86_400e9).toFixed(2)} d)`;
  if (a >= 1_000_000_000n) return dec(a, 1_000_000_000n, 9, 's');
  if (a >= 1_000_000n) return dec(a, 1_000_000n, 6, 'ms');
  if (a >= 1_000n) return dec(a, 1_000n, 3, 'µs');
  return `${sign}${a} ns`;
}

/** cycles at a rate: "13266090348023396 cycles (6044210.1 s at 2194843 kHz)". */
export function fmtCycles(cycles: bigint, khz?: number | bigint): string {
  if (!khz) return `${cycles} cycles`;
  return `${cycles} cycles (${fmtDuration((cycles * 1_000_000n) / BigInt(khz))} at ${khz} kHz)`;
}

/** A rate error in parts per million, signed, one decimal: 25.9 -> "+25.9 ppm". */
export const fmtPpm = (ppm: number) => `${ppm >= 0 ? '+' : ''}${ppm.toFixed(ppm !== 0 && Math.abs(ppm) < 0.1 ? 3 : 1)} ppm`;

/** The kernel's soft-lockup "seconds": get_timestamp() is local_clock() >> 30, units of 2^30 ns (1.074 s). */
export const SOFTLOCKUP_UNIT_NS = 1n << 30n;
