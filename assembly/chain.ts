// The clock chain's steps (bindings/chain.ts): each formula of the host -> guest
// chain run forward, or inverted, over a u64 array in place, with piecewise
// parameters. Forward is the kernel's own formula (batch.ts; u64 wraps as C's).
// The inverse of a step f(x) = c + M(x - x0) (M monotone and exact, c and x0
// the step's additive constants, mod 2^64) is x0 + the smallest u with
// M(u) >= y - c: see docs/convert.md for the definitions.
import { M32, mulHi64 } from "./wide";
import { pvclockScaleDelta } from "./pvclock";
import { kvmScaleTsc } from "./kvm";
import { clocksourceCyc2ns } from "./clocksource";
import { hvReadTscPage } from "./hyperv";
import { perfTscToNs, perfWidenShort } from "./perf";
import { mulU64U32Shr } from "./wide";
import { pvclockReadBatch, kvmScaleTscBatch, clocksourceCyc2nsBatch, hvReadTscPageBatch, perfTscToNsBatch } from "./batch";

// Step kinds and the u64 slots of their parameter blocks (PARAM_SLOTS each).
export const KIND_KVM: u32 = 0;       // ratio, fracBits, offset
export const KIND_PVCLOCK: u32 = 1;   // tsc_timestamp, system_time, mul, shift (s64)
export const KIND_HV: u32 = 2;        // scale, offset
export const KIND_PERF: u32 = 3;      // time_zero, time_mult, time_shift, short, time_cycles, time_mask
export const KIND_CYC2NS: u32 = 4;    // mult, shift
export const KIND_TSC2NSEC: u32 = 5;  // mult, shift, offset
export const PARAM_SLOTS: u32 = 8;

// Why an inverse has no answer (chainFailCode()).
export const FAIL_BEYOND_U64: u32 = 1; // every input up to 2^64-1 stays below y
export const FAIL_WRAPS: u32 = 2;      // the formula's 64-bit arithmetic wraps before it reaches y
let failCode: u32 = 0;
let failCandidate: u64 = 0;

export function chainFailCode(): u32 { return failCode; }

// @ts-ignore: decorator
@inline function p(params: usize, slot: u32): u64 { return load<u64>(params + (<usize>slot << 3)); }

/**
 * ceil((hi:lo) / d) for a 128-bit numerator and d != 0, or fail (FAIL_BEYOND_U64)
 * when the quotient does not fit 64 bits. Divisors below 2^32 take 32-bit digits
 * (four native divisions); larger ones the shift-subtract loop.
 */
function ceilDiv128(hi: u64, lo: u64, d: u64): u64 {
  if (hi >= d) { failCode = FAIL_BEYOND_U64; return 0; }
  let q: u64, r: u64;
  if (d <= M32) {
    // hi < d < 2^32: the quotient's high digits are 0
    const r1 = hi;                                   // < d
    const n2 = (r1 << 32) | (lo >> 32);
    const q2 = n2 / d, r2 = n2 % d;
    const n3 = (r2 << 32) | (lo & M32);
    const q3 = n3 / d;
    r = n3 % d;
    q = (q2 << 32) | q3;
  } else {
    // Hacker's Delight divlu (Knuth D with 32-bit digits): normalise d, two digit steps, each quotient digit
    // estimated from the top digits and corrected at most twice
    const s = <u64>clz<u64>(d);
    const v = d << s;
    const vn1 = v >> 32, vn0 = v & M32;
    const un32 = s == 0 ? hi : (hi << s) | (lo >> (64 - s));
    const un10 = lo << s;
    const un1 = un10 >> 32, un0 = un10 & M32;
    let q1 = un32 / vn1;
    let rhat = un32 - q1 * vn1;
    while (q1 > M32 || q1 * vn0 > ((rhat << 32) | un1)) {
      q1--;
      rhat += vn1;
      if (rhat > M32) break;
    }
    const un21 = ((un32 << 32) | un1) - q1 * v;
    let q0 = un21 / vn1;
    rhat = un21 - q0 * vn1;
    while (q0 > M32 || q0 * vn0 > ((rhat << 32) | un0)) {
      q0--;
      rhat += vn1;
      if (rhat > M32) break;
    }
    q = (q1 << 32) | q0;
    r = (((un21 << 32) | un0) - q0 * v) >> s;
  }
  if (r != 0) {
    if (q == 0xFFFFFFFFFFFFFFFF) { failCode = FAIL_BEYOND_U64; return 0; }
    q++;
  }
  return q;
}

/** The smallest u with floor(u * a / 2^b) >= z (b in 0..64), or a fail code. */
function ceilMulShrInverse(z: u64, a: u64, b: u32): u64 {
  if (z == 0) return 0;
  if (a == 0) { failCode = FAIL_BEYOND_U64; return 0; }
  // z << b as 128 bits
  const hi: u64 = b == 0 ? 0 : b >= 64 ? z : z >> <u64>(64 - b);
  const lo: u64 = b >= 64 ? 0 : z << <u64>b;
  return ceilDiv128(hi, lo, a);
}

/** Forward: the kernel's formula of one step at x. */
// @ts-ignore: decorator
@inline function forwardOne(kind: u32, q: usize, x: u64): u64 {
  switch (kind) {
    case KIND_KVM: return kvmScaleTsc(x, p(q, 0), <u32>p(q, 1)) + p(q, 2);
    case KIND_PVCLOCK: return p(q, 1) + pvclockScaleDelta(x - p(q, 0), <u32>p(q, 2), <i32>p(q, 3));
    case KIND_HV: return hvReadTscPage(p(q, 0), p(q, 1), x);
    case KIND_PERF: {
      const c = p(q, 3) != 0 ? perfWidenShort(x, p(q, 4), p(q, 5)) : x;
      return perfTscToNs(c, p(q, 0), <u32>p(q, 1), <u32>p(q, 2));
    }
    case KIND_CYC2NS: return clocksourceCyc2ns(x, <u32>p(q, 0), <u32>p(q, 1));
    default: return mulU64U32Shr(x, <u32>p(q, 0), <u32>p(q, 1)) + p(q, 2);
  }
}

/** The additive constant c of a step (its output frame): f(x) - c is monotone. */
// @ts-ignore: decorator
@inline function frameOut(kind: u32, q: usize): u64 {
  switch (kind) {
    case KIND_KVM: return p(q, 2);
    case KIND_PVCLOCK: return p(q, 1);
    case KIND_HV: return p(q, 1);
    case KIND_PERF: return p(q, 0);
    case KIND_CYC2NS: return 0;
    default: return p(q, 2);
  }
}

/** The input origin x0 of a step: pvclock's tsc_timestamp, else 0. */
// @ts-ignore: decorator
@inline function frameIn(kind: u32, q: usize): u64 {
  return kind == KIND_PVCLOCK ? p(q, 0) : 0;
}

/**
 * The inverse of one step at y: the smallest input x (relative to the frames)
 * whose forward value is >= y, or failCode set. failCode must be 0 on entry.
 */
function inverseOne(kind: u32, q: usize, y: u64): u64 {
  const z = y - frameOut(kind, q);
  switch (kind) {
    case KIND_KVM: {
      const ratio = p(q, 0), frac = <u32>p(q, 1);
      if (ratio == (<u64>1 << <u64>frac)) return z; // kvm_scale_tsc's identity
      const x = ceilMulShrInverse(z, ratio, frac);
      if (failCode) return 0;
      if ((mulHi64(x, ratio) >> <u64>frac) != 0) { failCode = FAIL_WRAPS; return 0; }
      return x;
    }
    case KIND_PVCLOCK: {
      const mul = p(q, 2), shift = <i32>p(q, 3);
      // v: the pre-shifted delta, the smallest with (v * mul) >> 32 >= z (that product never wraps)
      const v = ceilMulShrInverse(z, mul, 32);
      // with a left pre-shift, the inputs end where delta << shift wraps, long before v runs out of u64
      if (failCode) { if (shift > 0) failCode = FAIL_WRAPS; return 0; }
      let d: u64;
      if (shift < 0) {
        const k = <u64>(-shift);
        if (v > (0xFFFFFFFFFFFFFFFF >> k)) { failCode = FAIL_BEYOND_U64; return 0; }
        d = v << k;
      } else if (shift > 0) {
        const s = <u64>shift;
        d = (v >> s) + ((v & ((<u64>1 << s) - 1)) != 0 ? 1 : 0);
        // the kernel's delta << shift drops bits from 2^(64 - shift) on
        if ((d >> (64 - s)) != 0) { failCode = FAIL_WRAPS; return 0; }
      } else {
        d = v;
      }
      return frameIn(kind, q) + d;
    }
    case KIND_HV: return ceilMulShrInverse(z, p(q, 0), 64);
    case KIND_PERF: {
      const mult = p(q, 1), shift = <u32>p(q, 2);
      const x = ceilMulShrInverse(z, mult, shift);
      if (failCode) return 0;
      // the formula is exact (no u64 wrap in quot * mult, rem * mult or their sum) at x and x - 1
      if (!perfExactAt(x, mult, shift) || (x != 0 && !perfExactAt(x - 1, mult, shift))) { failCode = FAIL_WRAPS; return 0; }
      if (p(q, 3) != 0 && x - p(q, 4) > p(q, 5)) { failCode = FAIL_BEYOND_U64; return 0; }
      return x;
    }
    case KIND_CYC2NS: {
      const mult = p(q, 0);
      const x = ceilMulShrInverse(z, mult, <u32>p(q, 1));
      if (failCode) return 0;
      if (mulHi64(x, mult) != 0) { failCode = FAIL_WRAPS; return 0; }
      return x;
    }
    default: {
      const mult = p(q, 0), shift = <u32>p(q, 1);
      const x = ceilMulShrInverse(z, mult, shift);
      if (failCode) return 0;
      if (shift < 64 && (mulHi64(x, mult) >> <u64>shift) != 0) { failCode = FAIL_WRAPS; return 0; }
      return x;
    }
  }
}

/** Whether perf's u64 formula equals floor(x * mult / 2^shift) at x (nothing wrapped). */
function perfExactAt(x: u64, mult: u64, shift: u32): bool {
  const hi = mulHi64(x, mult), lo = x * mult;
  if (shift < 64 && (hi >> <u64>shift) != 0) return false; // the exact value itself needs more than 64 bits
  const exact = shift == 0 ? lo : shift >= 64 ? hi : (lo >> <u64>shift) | (hi << <u64>(64 - shift));
  return perfTscToNs(x, 0, <u32>mult, shift) == exact;
}

/** The segment in force at x: the last i with keys[i] <= x (keys ascending, keys[0] == 0). */
function segmentOf(keys: usize, nseg: u32, x: u64): u32 {
  let lo: u32 = 0, hi: u32 = nseg;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (load<u64>(keys + (<usize>mid << 3)) <= x) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** The one-parameter-set batch of a forward step over buf[0..n), in place (SIMD where batch.ts has it). */
function forwardRun(buf: usize, n: u32, kind: u32, q: usize): void {
  switch (kind) {
    case KIND_KVM: kvmScaleTscBatch(buf, buf, n, p(q, 0), <u32>p(q, 1), p(q, 2)); break;
    case KIND_PVCLOCK: pvclockReadBatch(buf, buf, n, p(q, 0), p(q, 1), <u32>p(q, 2), <i32>p(q, 3)); break;
    case KIND_HV: hvReadTscPageBatch(buf, buf, n, p(q, 0), p(q, 1)); break;
    case KIND_PERF: perfTscToNsBatch(buf, buf, n, p(q, 0), <u32>p(q, 1), <u32>p(q, 2), p(q, 3) != 0, p(q, 4), p(q, 5)); break;
    case KIND_CYC2NS: clocksourceCyc2nsBatch(buf, buf, n, <u32>p(q, 0), <u32>p(q, 1)); break;
    default:
      for (let i: u32 = 0; i < n; i++) {
        const a = buf + (<usize>i << 3);
        store<u64>(a, forwardOne(kind, q, load<u64>(a)));
      }
  }
}

/**
 * One step of the chain over buf[0..n) in place. params holds nseg blocks of
 * PARAM_SLOTS u64; keys the nseg input-domain keys where each block takes
 * effect (keys[0] = 0, ascending). Forward: each value is converted with the
 * block in force at it; runs of values in one segment (sorted input) go
 * through the batch loops. Inverse: the first segment, in key order, holding
 * an input whose value reaches y (its smallest such input, at least its key).
 * Returns n, or the index of the first value without an inverse
 * (chainFailCode() says why; the values before it are converted).
 */
export function chainStepBatch(buf: usize, n: u32, kind: u32, inverse: bool, params: usize, keys: usize, nseg: u32): u32 {
  failCode = 0;
  const stride = <usize>PARAM_SLOTS << 3;
  if (!inverse) {
    if (nseg <= 1) { forwardRun(buf, n, kind, params); return n; }
    let i: u32 = 0;
    while (i < n) {
      const s = segmentOf(keys, nseg, load<u64>(buf + (<usize>i << 3)));
      const lo = load<u64>(keys + (<usize>s << 3));
      const last = s + 1 == nseg;
      const hi = last ? 0 : load<u64>(keys + (<usize>(s + 1) << 3));
      let j = i + 1;
      while (j < n) {
        const x = load<u64>(buf + (<usize>j << 3));
        if (x < lo || (!last && x >= hi)) break;
        j++;
      }
      forwardRun(buf + (<usize>i << 3), j - i, kind, params + <usize>s * stride);
      i = j;
    }
    return n;
  }
  for (let i: u32 = 0; i < n; i++) {
    const a = buf + (<usize>i << 3);
    const y = load<u64>(a);
    let found = false;
    let x: u64 = 0;
    let why: u32 = FAIL_BEYOND_U64;
    for (let s: u32 = 0; s < nseg && !found; s++) {
      const q = params + <usize>s * stride;
      failCode = 0;
      let c = inverseOne(kind, q, y);
      if (failCode) { why = failCode; continue; }
      if (nseg > 1) {
        const lo = load<u64>(keys + (<usize>s << 3));
        if (c < lo) {
          c = lo;
          // the segment starts above the answer: its first input must still reach y (in the step's frame)
          if (forwardOne(kind, q, c) - frameOut(kind, q) < y - frameOut(kind, q)) continue;
        }
        if (s + 1 < nseg && c >= load<u64>(keys + (<usize>(s + 1) << 3))) continue;
      }
      x = c;
      found = true;
    }
    if (!found) { failCode = why; failCandidate = y; return i; }
    store<u64>(a, x);
  }
  failCode = 0;
  return n;
}

/** The value the last failed inverse was asked for. */
export function chainFailValue(): u64 { return failCandidate; }
