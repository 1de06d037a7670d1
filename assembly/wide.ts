// 64-bit multiply/divide helpers of include/linux/math64.h, with C unsigned
// semantics. Wasm has no 64x64->128 multiply (no mulhi), so every wide
// product is split into 32-bit halves by hand.
//
// Pitfall ported with care: a Wasm i64 shift by n is a shift by (n & 63), so
// a shift by 64 is a shift by 0. Every variable shift below is guarded.

// @ts-ignore: decorator
@inline export const M32: u64 = 0xFFFFFFFF;

/** (lo, hi) 128-bit value shifted right by `shift` (0..127), low 64 bits kept. */
// @ts-ignore: decorator
@inline export function shr128(lo: u64, hi: u64, shift: u32): u64 {
  if (shift == 0) return lo;
  if (shift < 64) return (lo >> <u64>shift) | (hi << <u64>(64 - shift));
  if (shift < 128) return hi >> <u64>(shift - 64);
  return 0;
}

/** High 64 bits of the 128-bit product a * b. */
// @ts-ignore: decorator
@inline export function mulHi64(a: u64, b: u64): u64 {
  const a0 = a & M32, a1 = a >> 32, b0 = b & M32, b1 = b >> 32;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >> 32) + (p01 & M32) + (p10 & M32);
  return p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
}

/**
 * mul_u64_u64_shr(a, mul, shift): the 128-bit product shifted right, truncated
 * to 64 bits (the kernel's `(u64)(((unsigned __int128)a * mul) >> shift)`).
 * shift may be 0..127; 64 gives the high half (Hyper-V's TSC page uses it).
 */
// @ts-ignore: decorator
@inline export function mulU64U64Shr(a: u64, b: u64, shift: u32): u64 {
  const a0 = a & M32, a1 = a >> 32, b0 = b & M32, b1 = b >> 32;
  const p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
  const mid = (p00 >> 32) + (p01 & M32) + (p10 & M32);
  const lo = (mid << 32) | (p00 & M32);
  const hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
  return shr128(lo, hi, shift);
}

/**
 * mul_u64_u32_shr(a, mul, shift): the 96-bit product a * mul shifted right,
 * truncated to 64 bits. shift may be 0..127.
 */
// @ts-ignore: decorator
@inline export function mulU64U32Shr(a: u64, mul: u32, shift: u32): u64 {
  const m = <u64>mul;
  const lo = (a & M32) * m;
  const mid = (a >> 32) * m + (lo >> 32); // < 2^64: cannot overflow
  return shr128((mid << 32) | (lo & M32), mid >> 32, shift);
}

/** mul_u64_u32_shr with shift 32: bits [95:32] of a * mul, the pvclock fast path. */
// @ts-ignore: decorator
@inline export function mulU64U32Shr32(a: u64, mul: u32): u64 {
  const m = <u64>mul;
  return (a >> 32) * m + (((a & M32) * m) >> 32);
}

/**
 * mul_u64_u32_div(a, mul, divisor): floor(a * mul / divisor) over the 96-bit
 * product, as the generic lib/math/div64.c computes it: the quotient's bits
 * above 63 are dropped (x86-64's `divq` would trap instead). divisor != 0.
 */
// @ts-ignore: decorator
@inline export function mulU64U32Div(a: u64, mul: u32, divisor: u32): u64 {
  const m = <u64>mul, d = <u64>divisor;
  const rl = (a & M32) * m;
  const rh = (a >> 32) * m + (rl >> 32);
  const qh = rh / d;
  const r = rh % d;
  const ql = ((r << 32) | (rl & M32)) / d; // < 2^32 because r < d
  return (qh << 32) | ql;
}

/**
 * mul_s64_u64_shr(a, b, shift): sign-magnitude, so it rounds toward zero:
 * |a| * b >> shift, negated when a < 0. |S64_MIN| is taken as 2^63.
 */
// @ts-ignore: decorator
@inline export function mulS64U64Shr(a: i64, b: u64, shift: u32): i64 {
  const mag: u64 = a < 0 ? <u64>0 - <u64>a : <u64>a;
  const r = mulU64U64Shr(mag, b, shift);
  return a < 0 ? <i64>(<u64>0 - r) : <i64>r;
}
