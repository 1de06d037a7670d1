// Where each conversion formula stops being exact, for given parameters: the
// first input at which its u64 arithmetic wraps (the overflow bug class of
// shared/reference/users.md §1.3), and how long that is at a clock rate.
// Plain BigInt: these are a handful of closed forms, not a hot loop.

const TWO64 = 1n << 64n;
const U64 = TWO64 - 1n;
const ceilDiv = (a: bigint, b: bigint) => (a + b - 1n) / b;

export interface Limit {
  formula: string;
  /** What wraps there. */
  what: string;
  /** The first input (a delta or a stamp) at which the formula's result is no longer the exact one; null: never below 2^64. */
  firstInexact: bigint | null;
  /** The rate the seconds are given at (Hz) and where it came from. */
  hz: bigint;
  hzFrom: string;
  /** firstInexact / hz, in ms (rounded down). */
  ms: bigint | null;
}

/** A rate in Hz from a ns-per-cycle fixed point mult / 2^shift: 10^9 * 2^shift / mult, rounded. */
const hzOf = (mult: bigint, shift: number) => (mult ? (1_000_000_000n << BigInt(shift)) / mult : 0n);

function limit(formula: string, what: string, first: bigint | null, hz: bigint | undefined, derived: bigint, name: string): Limit {
  const rate = hz ?? derived;
  return { formula, what, firstInexact: first !== null && first <= U64 ? first : null, hz: rate, hzFrom: hz !== undefined ? 'given' : name,
    ms: first !== null && first <= U64 && rate > 0n ? (first * 1000n) / rate : null };
}

/** clocksource_cyc2ns: (cycles * mult) wraps mod 2^64 from the first delta with cycles * mult >= 2^64. */
export const clocksourceLimit = (mult: bigint, shift: number, hz?: bigint): Limit =>
  limit(`clocksource_cyc2ns (mult ${mult}, shift ${shift})`, 'cycles * mult wraps at 2^64', mult ? ceilDiv(TWO64, mult) : null,
    hz, hzOf(mult, shift), 'the rate mult/shift stand for');

/**
 * perf's tsc_to_perf_time: the first counter value at which quot * mult, rem * mult or their sum leaves
 * 64 bits (the exact value floor(cyc * mult / 2^shift) is what it computes until then).
 */
export function perfLimit(mult: bigint, shift: number, hz?: bigint): Limit {
  const s = BigInt(shift);
  const cands: bigint[] = [];
  if (mult) {
    cands.push(ceilDiv(TWO64, mult) << s);        // quot * mult >= 2^64: quot = ceil(2^64 / mult)
    const rem = ceilDiv(TWO64, mult);             // rem * mult >= 2^64, possible only when rem < 2^shift
    if (rem < (1n << s)) cands.push(rem);
    cands.push(ceilDiv(TWO64 << s, mult));        // the exact result itself >= 2^64
  }
  const first = cands.length ? cands.reduce((a, b) => (a < b ? a : b)) : null;
  return limit(`perf tsc_to_perf_time (time_mult ${mult}, time_shift ${shift})`, 'quot * time_mult (or rem * time_mult) wraps at 2^64',
    first, hz, hzOf(mult, shift), 'the rate time_mult/time_shift stand for');
}

/** kvm_scale_tsc: the guest TSC (tsc * ratio) >> frac wraps u64 from tsc = ceil(2^(64 + frac) / ratio). */
export const kvmScaleTscLimit = (ratio: bigint, fracBits: number, hz?: bigint): Limit =>
  limit(`kvm_scale_tsc (ratio ${ratio}, frac bits ${fracBits})`, 'the scaled TSC passes 2^64',
    ratio > 1n << BigInt(fracBits) ? ceilDiv(TWO64 << BigInt(fracBits), ratio) : null, hz, hz ?? 0n, 'no rate (give --hz, the host TSC rate)');

/** pvclock_scale_delta: with tsc_shift > 0 the delta's left shift drops bits from 2^(64 - shift) on; never otherwise. */
export const pvclockLimit = (mul: bigint, shift: number, hz?: bigint): Limit =>
  limit(`pvclock_scale_delta (tsc_to_system_mul ${mul}, tsc_shift ${shift})`, 'delta << tsc_shift drops bits',
    shift > 0 ? 1n << BigInt(64 - shift) : null, hz,
    mul ? (shift >= 0 ? (1_000_000_000n << 32n) / (mul << BigInt(shift)) : (1_000_000_000n << BigInt(32 - shift)) / mul) : 0n, 'the rate mul/shift stand for');

/** trace-cmd tsc2nsec: mul_u64_u32_shr is 96-bit; only its result can pass 2^64, at ceil(2^(64 + shift) / mult). */
export const tsc2nsecLimit = (mult: bigint, shift: number, hz?: bigint): Limit =>
  limit(`trace-cmd tsc2nsec (mult ${mult}, shift ${shift})`, 'the ns value passes 2^64 (before the offset)',
    mult ? ceilDiv(TWO64 << BigInt(shift), mult) : null, hz, hzOf(mult, shift), 'the rate mult/shift stand for');

/** "1099.511 s (18.3 min)" */
export function showDuration(ms: bigint): string {
  const s = Number(ms) / 1000; // a display value only
  const units: [number, string][] = [[365.25 * 86400, 'years'], [86400, 'days'], [3600, 'h'], [60, 'min']];
  const big = units.find(([n]) => s >= n);
  return `${ms / 1000n}.${String(ms % 1000n).padStart(3, '0')} s${big ? ` (${(s / big[0]).toPrecision(3)} ${big[1]})` : ''}`;
}
