// Durations and big integers as scenario files write them. Times inside the
// simulation are u64 nanoseconds as bigint; nothing passes through a float.

const UNITS: Record<string, bigint> = { ns: 1n, us: 1_000n, ms: 1_000_000n, s: 1_000_000_000n, min: 60_000_000_000n, h: 3_600_000_000_000n, d: 86_400_000_000_000n };

/** Longest duration text read (a u64 of ns has 20 digits; longer text is refused before any BigInt is made). */
export const MAX_DURATION_TEXT = 64;

/**
 * "150ms", "5180237s", "1.5s", "24h" -> ns. Decimal fractions are exact (no float). null when the text is not
 * a duration (or is longer than MAX_DURATION_TEXT). The result may exceed 2^64 - 1: callers bound it.
 */
export function parseDuration(text: string): bigint | null {
  if (text.length > MAX_DURATION_TEXT) return null;
  const m = /^(\d+)(?:\.(\d+))?(ns|us|ms|s|min|h|d)$/.exec(text.trim());
  if (!m) return null;
  const unit = UNITS[m[3]];
  const frac = m[2] ?? '';
  const scale = 10n ** BigInt(frac.length);
  const total = (BigInt(m[1]) * scale + BigInt(frac || '0')) * unit;
  if (total % scale !== 0n) return null; // finer than a nanosecond
  return total / scale;
}

/** ns -> the kernel's printk timestamp "[%5lu.%06lu]". */
export function printkTime(ns: bigint): string {
  const u = BigInt.asUintN(64, ns);
  const sec = u / 1_000_000_000n, usec = (u % 1_000_000_000n) / 1000n;
  return `[${sec.toString().padStart(5)}.${usec.toString().padStart(6, '0')}]`;
}

/** ns as seconds with 9 decimals, exactly. */
export function seconds(ns: bigint): string {
  const neg = ns < 0n, a = neg ? -ns : ns;
  return `${neg ? '-' : ''}${a / 1_000_000_000n}.${(a % 1_000_000_000n).toString().padStart(9, '0')}`;
}

/** A human duration for messages: "5180237.000000000s". */
export const fmtDuration = (ns: bigint): string => `${seconds(ns)}s`;

/** A duration in the largest unit that divides it exactly: 86400000000000n -> "1d", 1500000n -> "1500us". */
export function shortDuration(ns: bigint): string {
  for (const unit of ['d', 'h', 'min', 's', 'ms', 'us'] as const) {
    const u = UNITS[unit];
    if (ns !== 0n && ns % u === 0n) return `${ns / u}${unit}`;
  }
  return `${ns}ns`;
}

/** An exact decimal ("2596.142", "-1.5") scaled by 10^digits, with BigInt only; null when not such a number or when
 *  it has more than `digits` decimals. exactDecimal("4294967.296", 3) -> 4294967296n. */
export function exactDecimal(text: string, digits: number): bigint | null {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(text);
  if (!m || text.length > 400 || (m[3] ?? '').length > digits) return null;
  const v = BigInt(m[2]) * 10n ** BigInt(digits) + BigInt((m[3] ?? '').padEnd(digits, '0') || '0');
  return m[1] ? -v : v;
}

export const NSEC_PER_SEC = 1_000_000_000n;
export const U64 = (1n << 64n) - 1n;
export const u64 = (x: bigint): bigint => BigInt.asUintN(64, x);
export const s64 = (x: bigint): bigint => BigInt.asIntN(64, x);
/** floor(ns * khz / 10^6): cycles of a khz counter over ns. */
export const cyclesOf = (ns: bigint, khz: number): bigint => (ns * BigInt(khz)) / 1_000_000n;
/** floor(cycles * 10^6 / khz): the ns a khz counter takes to count `cycles`. */
export const nsOf = (cycles: bigint, khz: number | bigint): bigint => (cycles * 1_000_000n) / BigInt(khz);

/** One splitmix64 step on `state` (the generator assembly/warp.ts draws from too): [next state, output]. */
export function splitmix64(state: bigint): [next: bigint, value: bigint] {
  const next = u64(state + 0x9E3779B97F4A7C15n);
  let z = next;
  z = u64((z ^ (z >> 30n)) * 0xBF58476D1CE4E5B9n);
  z = u64((z ^ (z >> 27n)) * 0x94D049BB133111EBn);
  return [next, z ^ (z >> 31n)];
}
