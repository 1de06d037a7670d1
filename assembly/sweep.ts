// In-Wasm differential sweep: millions of seeded inputs (biased to the edges:
// 0, 1, 2^32 +- 1, 2^63, 2^64 - 1) through the kernel's formulas and through
// a second, independent implementation of the same arithmetic, counting
// disagreements. The second implementations are deliberately naive: 16-bit
// limb schoolbook products and bit-serial long division.
import { mulU64U64Shr, mulU64U32Shr, mulU64U32Div, mulS64U64Shr } from "./wide";
import { pvclockScaleDelta } from "./pvclock";
import { kvmScaleTsc } from "./kvm";
import { clocksourceCyc2ns } from "./clocksource";
import { perfTscToNs } from "./perf";
import { splitmix64 } from "./warp";
import { pvclockReadBatch, kvmScaleTscBatch, clocksourceCyc2nsBatch, perfTscToNsBatch } from "./batch";

export const SWEEP_MUL_U64_U64_SHR: i32 = 0;
export const SWEEP_MUL_U64_U32_SHR: i32 = 1;
export const SWEEP_MUL_U64_U32_DIV: i32 = 2;
export const SWEEP_MUL_S64_U64_SHR: i32 = 3;
export const SWEEP_PVCLOCK_SCALE_DELTA: i32 = 4;
export const SWEEP_BATCHES: i32 = 5;

const rng = memory.data(8, 8);
const ref = memory.data(16, 8); // the reference multiply's 128-bit result (lo, hi)

/** Schoolbook 64x64 -> 128 over 16-bit limbs (the second implementation). */
function mulRef(a: u64, b: u64): void {
  let r0: u64 = 0, r1: u64 = 0; // 128-bit accumulator as two u64
  for (let i: u32 = 0; i < 4; i++) {
    const ai = (a >> <u64>(i * 16)) & 0xFFFF;
    for (let j: u32 = 0; j < 4; j++) {
      const p = ai * ((b >> <u64>(j * 16)) & 0xFFFF); // < 2^32
      const s = (i + j) * 16;                          // 0..96
      // add p << s into (r1:r0)
      let lo: u64 = 0, hi: u64 = 0;
      if (s == 0) { lo = p; }
      else if (s < 64) { lo = p << <u64>s; hi = p >> <u64>(64 - s); }
      else { hi = p << <u64>(s - 64); }
      const n0 = r0 + lo;
      r1 += hi + (n0 < r0 ? 1 : 0);
      r0 = n0;
    }
  }
  store<u64>(ref, r0);
  store<u64>(ref, r1, 8);
}

/** (hi:lo) >> shift, one bit at a time: shares nothing with shr128. */
function shrRef(lo: u64, hi: u64, shift: u32): u64 {
  for (let k: u32 = 0; k < shift; k++) {
    lo = (lo >>> 1) | ((hi & 1) << 63);
    hi = hi >>> 1;
  }
  return lo;
}

// @ts-ignore: decorator
@inline function refShr(shift: u32): u64 {
  return shrRef(load<u64>(ref), load<u64>(ref, 8), shift);
}

/** floor(x / d) for the 96-bit x = (hi:lo), bit by bit, low 64 bits of the quotient. */
function divRef(lo: u64, hi: u64, d: u64): u64 {
  let rem: u64 = 0, q: u64 = 0;
  for (let bit: i32 = 127; bit >= 0; bit--) {
    const b = bit >= 64 ? (hi >> <u64>(bit - 64)) & 1 : (lo >> <u64>bit) & 1;
    const top = rem >> 63;
    rem = (rem << 1) | b;
    q <<= 1;
    if (top != 0 || rem >= d) { rem -= d; q |= 1; }
  }
  return q;
}

/** An input biased towards the values where hand-split arithmetic breaks. */
function edgy(): u64 {
  const r = splitmix64(rng);
  switch (<u32>(r & 15)) {
    case 0: return 0;
    case 1: return 1;
    case 2: return 0xFFFFFFFF;
    case 3: return 0x100000000;
    case 4: return 0x100000001;
    case 5: return 0x8000000000000000;
    case 6: return 0xFFFFFFFFFFFFFFFF;
    case 7: return 0x7FFFFFFFFFFFFFFF;
    case 8: return splitmix64(rng) >> (r >> 58); // small magnitudes
    default: return splitmix64(rng);
  }
}

const firstBad = memory.data(64, 8);

// @ts-ignore: decorator
@inline function note(bad: u32, a: u64, b: u64, c: u64, got: u64, want: u64): u32 {
  if (bad == 0) {
    store<u64>(firstBad, a);
    store<u64>(firstBad, b, 8);
    store<u64>(firstBad, c, 16);
    store<u64>(firstBad, got, 24);
    store<u64>(firstBad, want, 32);
  }
  return bad + 1;
}

const BATCH: u32 = 64;
const bufIn = memory.data(<i32>(BATCH * 8), 16);
const bufOut = memory.data(<i32>(BATCH * 8), 16);

/**
 * Runs `count` cases of `kind` from `seed`. Returns how many disagreed; the
 * first disagreement's inputs (a, b, c), result and expected value are left at
 * sweepFirstBad(). SWEEP_BATCHES checks the batch loops (SIMD in the SIMD
 * build) against the scalar formula, sample by sample, count batches of 64.
 */
export function sweep(kind: i32, seed: u64, count: u32): u32 {
  store<u64>(rng, seed);
  memory.fill(firstBad, 0, 64);
  let bad: u32 = 0;
  for (let k: u32 = 0; k < count; k++) {
    const a = edgy(), b = edgy();
    const s = <u32>(splitmix64(rng) & 127);
    switch (kind) {
      case SWEEP_MUL_U64_U64_SHR: {
        mulRef(a, b);
        const got = mulU64U64Shr(a, b, s), want = refShr(s);
        if (got != want) bad = note(bad, a, b, s, got, want);
        break;
      }
      case SWEEP_MUL_U64_U32_SHR: {
        mulRef(a, b & 0xFFFFFFFF);
        const got = mulU64U32Shr(a, <u32>b, s), want = refShr(s);
        if (got != want) bad = note(bad, a, b & 0xFFFFFFFF, s, got, want);
        break;
      }
      case SWEEP_MUL_U64_U32_DIV: {
        let d = <u32>(splitmix64(rng) >> (32 + (s & 31)));
        if (d == 0) d = 1;
        mulRef(a, b & 0xFFFFFFFF);
        const got = mulU64U32Div(a, <u32>b, d), want = divRef(load<u64>(ref), load<u64>(ref, 8), <u64>d);
        if (got != want) bad = note(bad, a, b & 0xFFFFFFFF, d, got, want);
        break;
      }
      case SWEEP_MUL_S64_U64_SHR: {
        // Reference: two's complement 128-bit product, negated to magnitude and back.
        mulRef(a, b);
        let lo = load<u64>(ref), hi = load<u64>(ref, 8);
        if (<i64>a < 0) hi -= b;               // (a - 2^64) * b = a*b - b*2^64
        const neg = <i64>hi < 0;
        if (neg) { lo = ~lo + 1; hi = ~hi + (lo == 0 ? 1 : 0); }
        let want = shrRef(lo, hi, s);
        if (neg) want = <u64>0 - want;
        const got = <u64>mulS64U64Shr(<i64>a, b, s);
        if (got != want) bad = note(bad, a, b, s, got, want);
        break;
      }
      case SWEEP_PVCLOCK_SCALE_DELTA: {
        const shift = <i32>(s & 63) - 32;      // -32..31
        const d = shift < 0 ? a >> <u64>(-shift) : a << <u64>shift;
        mulRef(d, b & 0xFFFFFFFF);
        const got = pvclockScaleDelta(a, <u32>b, shift), want = refShr(32);
        if (got != want) bad = note(bad, a, b & 0xFFFFFFFF, <u64>shift, got, want);
        break;
      }
      case SWEEP_BATCHES: {
        for (let i: u32 = 0; i < BATCH; i++) store<u64>(bufIn + (<usize>i << 3), edgy());
        const n = BATCH - <u32>(s & 7);        // ragged tails too
        const mul = <u32>b, shift = <i32>(s & 63) - 32;
        pvclockReadBatch(bufIn, bufOut, n, a, b, mul, shift);
        for (let i: u32 = 0; i < n; i++) {
          const x = load<u64>(bufIn + (<usize>i << 3));
          const want = b + pvclockScaleDelta(x - a, mul, shift), got = load<u64>(bufOut + (<usize>i << 3));
          if (got != want) bad = note(bad, x, a, b, got, want);
        }
        const fracBits: u32 = (s & 1) ? 48 : 32;
        kvmScaleTscBatch(bufIn, bufOut, n, a, fracBits, b);
        for (let i: u32 = 0; i < n; i++) {
          const x = load<u64>(bufIn + (<usize>i << 3));
          const want = kvmScaleTsc(x, a, fracBits) + b, got = load<u64>(bufOut + (<usize>i << 3));
          if (got != want) bad = note(bad, x, a, fracBits, got, want);
        }
        const csShift = s & 63;
        clocksourceCyc2nsBatch(bufIn, bufOut, n, mul, csShift);
        for (let i: u32 = 0; i < n; i++) {
          const x = load<u64>(bufIn + (<usize>i << 3));
          const want = clocksourceCyc2ns(x, mul, csShift), got = load<u64>(bufOut + (<usize>i << 3));
          if (got != want) bad = note(bad, x, mul, csShift, got, want);
        }
        perfTscToNsBatch(bufIn, bufOut, n, a, mul, csShift, false, 0, 0);
        for (let i: u32 = 0; i < n; i++) {
          const x = load<u64>(bufIn + (<usize>i << 3));
          const want = perfTscToNs(x, a, mul, csShift), got = load<u64>(bufOut + (<usize>i << 3));
          if (got != want) bad = note(bad, x, a, mul, got, want);
        }
        break;
      }
      default: return 0xFFFFFFFF;
    }
  }
  return bad;
}

/** Where sweep() left its first disagreement: a, b, c, got, want (u64 each). */
export function sweepFirstBad(): usize {
  return firstBad;
}
