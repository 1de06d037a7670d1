// Batch forms of the per-sample formulas: loops over u64 arrays in linear
// memory (pointer + count), so JS pays one call per batch, not per sample.
// The SIMD build (ASC_FEATURE_SIMD) runs 4 samples per step where it pays;
// the scalar tail and the scalar build use the very same formula functions.
import { M32 } from "./wide";
import { pvclockScaleDelta } from "./pvclock";
import { kvmScaleTsc } from "./kvm";
import { clocksourceCyc2ns } from "./clocksource";
import { hvReadTscPage } from "./hyperv";
import { perfTscToNs, perfWidenShort } from "./perf";

// @ts-ignore: decorator
@inline function lanesLo(a: v128, b: v128): v128 { return i32x4.shuffle(a, b, 0, 2, 4, 6); }
// @ts-ignore: decorator
@inline function lanesHi(a: v128, b: v128): v128 { return i32x4.shuffle(a, b, 1, 3, 5, 7); }

/**
 * Bits [95:32] of x * m for the 4 u64 whose low halves are `lo` and high
 * halves `hi` (as i32x4 lanes), m splatted as i32x4: hi*m + (lo*m >> 32).
 * Stores samples 0,1 at dst and 2,3 at dst + 16.
 */
// @ts-ignore: decorator
@inline function mulShr32x4(lo: v128, hi: v128, m: v128, add: v128, dst: usize): void {
  const l01 = i64x2.extmul_low_i32x4_u(lo, m), l23 = i64x2.extmul_high_i32x4_u(lo, m);
  const h01 = i64x2.extmul_low_i32x4_u(hi, m), h23 = i64x2.extmul_high_i32x4_u(hi, m);
  v128.store(dst, i64x2.add(i64x2.add(h01, i64x2.shr_u(l01, 32)), add));
  v128.store(dst, i64x2.add(i64x2.add(h23, i64x2.shr_u(l23, 32)), add), 16);
}

/**
 * The 128-bit products a * b (b = (b0, b1) splatted as i32x4) for two u64
 * lanes given as 32-bit halves in the low or high pair of lanes of
 * lo/hi, shifted right by `shift` (1..63).
 */
// @ts-ignore: decorator
@inline function mulShr64x2(p00: v128, p01: v128, p10: v128, p11: v128, shift: i32): v128 {
  const m32 = i64x2.splat(<i64>M32);
  const mid = i64x2.add(i64x2.add(i64x2.shr_u(p00, 32), v128.and(p01, m32)), v128.and(p10, m32));
  const lo = v128.or(i64x2.shl(mid, 32), v128.and(p00, m32));
  const hi = i64x2.add(i64x2.add(p11, i64x2.shr_u(p01, 32)), i64x2.add(i64x2.shr_u(p10, 32), i64x2.shr_u(mid, 32)));
  return v128.or(i64x2.shr_u(lo, shift), i64x2.shl(hi, 64 - shift));
}

/** 4 samples of mul_u64_u64_shr(x, b, shift) with shift in 1..63: 8 widening multiplies. */
// @ts-ignore: decorator
@inline function mulU64U64Shrx4(src: usize, dst: usize, b0: v128, b1: v128, shift: i32, add: v128): void {
  const v0 = v128.load(src), v1 = v128.load(src, 16);
  const lo = lanesLo(v0, v1), hi = lanesHi(v0, v1);
  const r01 = mulShr64x2(i64x2.extmul_low_i32x4_u(lo, b0), i64x2.extmul_low_i32x4_u(lo, b1),
                         i64x2.extmul_low_i32x4_u(hi, b0), i64x2.extmul_low_i32x4_u(hi, b1), shift);
  const r23 = mulShr64x2(i64x2.extmul_high_i32x4_u(lo, b0), i64x2.extmul_high_i32x4_u(lo, b1),
                         i64x2.extmul_high_i32x4_u(hi, b0), i64x2.extmul_high_i32x4_u(hi, b1), shift);
  v128.store(dst, i64x2.add(r01, add));
  v128.store(dst, i64x2.add(r23, add), 16);
}

/** out[i] = __pvclock_read_cycles(page, tsc[i]) for one page's fields. */
export function pvclockReadBatch(tsc: usize, out: usize, n: u32,
                                 tscTimestamp: u64, systemTime: u64, mul: u32, shift: i32): void {
  let i: u32 = 0;
  if (ASC_FEATURE_SIMD) {
    if (shift > -64 && shift < 64) {
      const ts = i64x2.splat(<i64>tscTimestamp), st = i64x2.splat(<i64>systemTime);
      const m = i32x4.splat(<i32>mul);
      const right = shift < 0, amount = right ? -shift : shift;
      for (; i + 4 <= n; i += 4) {
        const p = <usize>i << 3;
        let d0 = i64x2.sub(v128.load(tsc + p), ts), d1 = i64x2.sub(v128.load(tsc + p, 16), ts);
        if (right) { d0 = i64x2.shr_u(d0, amount); d1 = i64x2.shr_u(d1, amount); }
        else { d0 = i64x2.shl(d0, amount); d1 = i64x2.shl(d1, amount); }
        mulShr32x4(lanesLo(d0, d1), lanesHi(d0, d1), m, st, out + p);
      }
    }
  }
  for (; i < n; i++) {
    const p = <usize>i << 3;
    store<u64>(out + p, systemTime + pvclockScaleDelta(load<u64>(tsc + p) - tscTimestamp, mul, shift));
  }
}

/** out[i] = kvm_scale_tsc(tsc[i], ratio) + offset: the L1 guest TSC at host TSC tsc[i]. */
export function kvmScaleTscBatch(tsc: usize, out: usize, n: u32, ratio: u64, fracBits: u32, offset: u64): void {
  let i: u32 = 0;
  if (ratio == (<u64>1 << <u64>fracBits)) {
    for (; i < n; i++) store<u64>(out + (<usize>i << 3), load<u64>(tsc + (<usize>i << 3)) + offset);
    return;
  }
  if (ASC_FEATURE_SIMD) {
    if (fracBits > 0 && fracBits < 64) {
      const b0 = i32x4.splat(<i32>(ratio & M32)), b1 = i32x4.splat(<i32>(ratio >> 32));
      const add = i64x2.splat(<i64>offset);
      for (; i + 4 <= n; i += 4) {
        const p = <usize>i << 3;
        mulU64U64Shrx4(tsc + p, out + p, b0, b1, <i32>fracBits, add);
      }
    }
  }
  for (; i < n; i++) {
    const p = <usize>i << 3;
    store<u64>(out + p, kvmScaleTsc(load<u64>(tsc + p), ratio, fracBits) + offset);
  }
}

/** out[i] = clocksource_cyc2ns(cycles[i], mult, shift). */
export function clocksourceCyc2nsBatch(cycles: usize, out: usize, n: u32, mult: u32, shift: u32): void {
  let i: u32 = 0;
  if (ASC_FEATURE_SIMD) {
    const m = i64x2.splat(<i64>mult);
    const s = <i32>shift;
    for (; i + 4 <= n; i += 4) {
      const p = <usize>i << 3;
      v128.store(out + p, i64x2.shr_u(i64x2.mul(v128.load(cycles + p), m), s));
      v128.store(out + p, i64x2.shr_u(i64x2.mul(v128.load(cycles + p, 16), m), s), 16);
    }
  }
  for (; i < n; i++) {
    const p = <usize>i << 3;
    store<u64>(out + p, clocksourceCyc2ns(load<u64>(cycles + p), mult, shift));
  }
}

/** out[i] = hv_read_tsc_page_tsc's time for tsc[i]: mul_u64_u64_shr(tsc, scale, 64) + offset. */
export function hvReadTscPageBatch(tsc: usize, out: usize, n: u32, scale: u64, offset: u64): void {
  for (let i: u32 = 0; i < n; i++) {
    const p = <usize>i << 3;
    store<u64>(out + p, hvReadTscPage(scale, offset, load<u64>(tsc + p)));
  }
}

/** out[i] = the perf_event_mmap_page conversion of cyc[i] (short counters widened first). */
export function perfTscToNsBatch(cyc: usize, out: usize, n: u32, timeZero: u64, timeMult: u32, timeShift: u32,
                                 short: bool, timeCycles: u64, timeMask: u64): void {
  let i: u32 = 0;
  if (ASC_FEATURE_SIMD) {
    if (!short) {
      const z = i64x2.splat(<i64>timeZero), m = i64x2.splat(<i64>timeMult);
      const s = <i32>timeShift;
      const remMask = i64x2.splat(<i64>((<u64>1 << <u64>timeShift) - 1));
      for (; i + 2 <= n; i += 2) {
        const p = <usize>i << 3;
        const c = v128.load(cyc + p);
        const quot = i64x2.shr_u(c, s), rem = v128.and(c, remMask);
        v128.store(out + p, i64x2.add(i64x2.add(z, i64x2.mul(quot, m)), i64x2.shr_u(i64x2.mul(rem, m), s)));
      }
    }
  }
  for (; i < n; i++) {
    const p = <usize>i << 3;
    let c = load<u64>(cyc + p);
    if (short) c = perfWidenShort(c, timeCycles, timeMask);
    store<u64>(out + p, perfTscToNs(c, timeZero, timeMult, timeShift));
  }
}
