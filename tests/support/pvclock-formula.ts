// The kernel's formulas written out in BigInt for the packaging tests, independent of
// tsclab's own code (oracle included): __pvclock_read_cycles and splitmix64.
const M64 = (1n << 64n) - 1n;

/** system_time + pvclock_scale_delta(tsc - tsc_timestamp, mul, shift), every step mod 2^64 as in C. */
export function pvclockRead(p: { tscTimestamp: bigint; systemTime: bigint; tscToSystemMul: number; tscShift: number }, tsc: bigint): bigint {
  let delta = (tsc - p.tscTimestamp) & M64;
  delta = p.tscShift < 0 ? delta >> BigInt(-p.tscShift) : (delta << BigInt(p.tscShift)) & M64;
  return (p.systemTime + ((delta * BigInt(p.tscToSystemMul)) >> 32n)) & M64;
}

/** One splitmix64 step: [next state, output]. */
export function splitmix(s: bigint): [bigint, bigint] {
  s = (s + 0x9e3779b97f4a7c15n) & M64;
  let z = s;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
  return [s, z ^ (z >> 31n)];
}
