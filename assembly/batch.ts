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
  // the schoolbook carries without overflow: t = p10 + (p00 >> 32) < 2^64, w = (t & M32) + p01 < 2^64
  const t = i64x2.add(p10, i64x2.shr_u(p00, 32));
  const w = i64x2.add(v128.and(t, m32), p01);
  const hi = i64x2.add(i64x2.add(p11, i64x2.shr_u(t, 32)), i64x2.shr_u(w, 32));
  // bits [shift, shift + 64) of the product: from 32 on, the low word's part is w's low half alone
  if (shift >= 32) return v128.or(i64x2.shr_u(v128.and(w, m32), shift - 32), i64x2.shl(hi, 64 - shift));
  const lo = v128.or(i64x2.shl(w, 32), v128.and(p00, m32));
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

/** 4 pvclock samples from p: delta = tsc - tsc_timestamp, pre-shifted by `op` (0: none, 1: right, 2: left). */
// @ts-ignore: decorator
@inline function pvclockx4(tsc: usize, out: usize, p: usize, ts: v128, st: v128, m: v128, op: i32, amount: i32): void {
  let d0 = i64x2.sub(v128.load(tsc + p), ts), d1 = i64x2.sub(v128.load(tsc + p, 16), ts);
  if (op == 1) { d0 = i64x2.shr_u(d0, amount); d1 = i64x2.shr_u(d1, amount); }
  else if (op == 2) { d0 = i64x2.shl(d0, amount); d1 = i64x2.shl(d1, amount); }
  mulShr32x4(lanesLo(d0, d1), lanesHi(d0, d1), m, st, out + p);
}

/**
 * out[i] = __pvclock_read_cycles(page, tsc[i]) for one page's fields. The SIMD loop is specialised per shift
 * direction (chosen once per call, not tested per step) and runs 8 samples a step.
 */
export function pvclockReadBatch(tsc: usize, out: usize, n: u32,
                                 tscTimestamp: u64, systemTime: u64, mul: u32, shift: i32): void {
  let i: u32 = 0;
  if (ASC_FEATURE_SIMD) {
    if (shift > -64 && shift < 64) {
      const ts = i64x2.splat(<i64>tscTimestamp), st = i64x2.splat(<i64>systemTime);
      const m = i32x4.splat(<i32>mul);
      if (shift == 0) {
        for (; i + 8 <= n; i += 8) {
          const p = <usize>i << 3;
          pvclockx4(tsc, out, p, ts, st, m, 0, 0);
          pvclockx4(tsc, out, p + 32, ts, st, m, 0, 0);
        }
      } else if (shift < 0) {
        const a = -shift;
        for (; i + 8 <= n; i += 8) {
          const p = <usize>i << 3;
          pvclockx4(tsc, out, p, ts, st, m, 1, a);
          pvclockx4(tsc, out, p + 32, ts, st, m, 1, a);
        }
      } else {
        for (; i + 8 <= n; i += 8) {
          const p = <usize>i << 3;
          pvclockx4(tsc, out, p, ts, st, m, 2, shift);
          pvclockx4(tsc, out, p + 32, ts, st, m, 2, shift);
        }
      }
    }
  }
  for (; i < n; i++) {
    const p = <usize>i << 3;
    store<u64>(out + p, systemTime + pvclockScaleDelta(load<u64>(tsc + p) - tscTimestamp, mul, shift));
  }
}

/**
 * x * m mod 2^64 for the two u64 lanes of x and a u32 m, without i64x2.mul (emulated on SSE4): the low halves'
 * widening product plus the cross term hi * m (mod 2^32) already in the high halves -- i32x4.mul(x, [0, m, 0, m]).
 * `lo` holds x's two low halves in its lanes 0 and 1 (or 2 and 3 with `high`).
 */
// @ts-ignore: decorator
@inline function mulU64U32Wrapx2(x: v128, lo: v128, high: bool, m: v128, m0m: v128): v128 {
  const ll = high ? i64x2.extmul_high_i32x4_u(lo, m) : i64x2.extmul_low_i32x4_u(lo, m);
  return i64x2.add(ll, i32x4.mul(x, m0m));
}

/** The SIMD steps of kvmScaleTscBatch (4 samples each): returns where the scalar tail starts. */
// @ts-ignore: decorator
@inline function scaleLoop(tsc: usize, out: usize, n: u32, ratio: u64, shift: i32, offset: u64): u32 {
  const b0 = i32x4.splat(<i32>(ratio & M32)), b1 = i32x4.splat(<i32>(ratio >> 32));
  const add = i64x2.splat(<i64>offset);
  let i: u32 = 0;
  for (; i + 4 <= n; i += 4) {
    const p = <usize>i << 3;
    mulU64U64Shrx4(tsc + p, out + p, b0, b1, shift, add);
  }
  return i;
}

/** out[i] = kvm_scale_tsc(tsc[i], ratio) + offset: the L1 guest TSC at host TSC tsc[i]. */
export function kvmScaleTscBatch(tsc: usize, out: usize, n: u32, ratio: u64, fracBits: u32, offset: u64): void {
  let i: u32 = 0;
  if (ratio == (<u64>1 << <u64>fracBits)) {
    for (; i < n; i++) store<u64>(out + (<usize>i << 3), load<u64>(tsc + (<usize>i << 3)) + offset);
    return;
  }
  if (ASC_FEATURE_SIMD) {
    // the two ratio formats hardware has, VMX's 48 fraction bits and SVM's 32, each with its shift a constant (V8
    // would otherwise rebuild the variable vector shift's count every step); any other width variable
    if (fracBits == 48) i = scaleLoop(tsc, out, n, ratio, 48, offset);
    else if (fracBits == 32) i = scaleLoop(tsc, out, n, ratio, 32, offset);
    else if (fracBits > 0 && fracBits < 64) i = scaleLoop(tsc, out, n, ratio, <i32>fracBits, offset);
  }
  for (; i < n; i++) {
    const p = <usize>i << 3;
    store<u64>(out + p, kvmScaleTsc(load<u64>(tsc + p), ratio, fracBits) + offset);
  }
}

/** The SIMD steps of clocksourceCyc2nsBatch (4 samples each), the shift a constant when inlined with one. */
// @ts-ignore: decorator
@inline function cyc2nsLoop(cycles: usize, out: usize, n: u32, mult: u32, s: i32): u32 {
  const m = i32x4.splat(<i32>mult), m0m = i32x4(0, <i32>mult, 0, <i32>mult);
  let i: u32 = 0;
  for (; i + 4 <= n; i += 4) {
    const p = <usize>i << 3;
    const v0 = v128.load(cycles + p), v1 = v128.load(cycles + p, 16);
    const lo = lanesLo(v0, v1);
    v128.store(out + p, i64x2.shr_u(mulU64U32Wrapx2(v0, lo, false, m, m0m), s));
    v128.store(out + p, i64x2.shr_u(mulU64U32Wrapx2(v1, lo, true, m, m0m), s), 16);
  }
  return i;
}

/**
 * out[i] = clocksource_cyc2ns(cycles[i], mult, shift). In the SIMD build the shift is made a constant of its loop
 * (V8 otherwise rebuilds a variable vector shift's count every step: a third of the loop) for the shifts real
 * clocksources register with -- clocks_calc_mult_shift gives 21..24 for 64-bit counters (tsc, kvm-clock) and up to
 * 32 for 24- and 32-bit ones (acpi_pm, hpet) at rates from 1 MHz to 10 GHz -- and stays variable for the rest
 * (jiffies' 8, ...).
 */
export function clocksourceCyc2nsBatch(cycles: usize, out: usize, n: u32, mult: u32, shift: u32): void {
  let i: u32 = 0;
  if (ASC_FEATURE_SIMD) {
    switch (shift) {
      case 20: i = cyc2nsLoop(cycles, out, n, mult, 20); break;
      case 21: i = cyc2nsLoop(cycles, out, n, mult, 21); break;
      case 22: i = cyc2nsLoop(cycles, out, n, mult, 22); break;
      case 23: i = cyc2nsLoop(cycles, out, n, mult, 23); break;
      case 24: i = cyc2nsLoop(cycles, out, n, mult, 24); break;
      case 25: i = cyc2nsLoop(cycles, out, n, mult, 25); break;
      case 26: i = cyc2nsLoop(cycles, out, n, mult, 26); break;
      case 27: i = cyc2nsLoop(cycles, out, n, mult, 27); break;
      case 28: i = cyc2nsLoop(cycles, out, n, mult, 28); break;
      case 29: i = cyc2nsLoop(cycles, out, n, mult, 29); break;
      case 30: i = cyc2nsLoop(cycles, out, n, mult, 30); break;
      case 31: i = cyc2nsLoop(cycles, out, n, mult, 31); break;
      case 32: i = cyc2nsLoop(cycles, out, n, mult, 32); break;
      default: i = cyc2nsLoop(cycles, out, n, mult, <i32>shift);
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
    if (!short && timeShift == 32) {
      // x86's own case: cyc2ns_shift is the largest shift <= 32 whose mult fits 32 bits (clocks_calc_mult_shift from
      // 32 down), so 32 for every TSC above 1 GHz. Then quot is the high half and rem the low half: pvclock's form,
      // time_zero + hi * mult + ((lo * mult) >> 32), two widening multiplies a pair of samples and no variable shift
      const z = i64x2.splat(<i64>timeZero), m = i32x4.splat(<i32>timeMult);
      for (; i + 4 <= n; i += 4) {
        const p = <usize>i << 3;
        const c0 = v128.load(cyc + p), c1 = v128.load(cyc + p, 16);
        mulShr32x4(lanesLo(c0, c1), lanesHi(c0, c1), m, z, out + p);
      }
    } else if (!short && timeShift < 32) {
      // quot * mult and rem * mult, each wrapping mod 2^64 as the kernel's u64 does: the widening form, 4 a step
      const z = i64x2.splat(<i64>timeZero), m = i32x4.splat(<i32>timeMult), m0m = i32x4(0, <i32>timeMult, 0, <i32>timeMult);
      const s = <i32>timeShift;
      const remMask = i64x2.splat(<i64>((<u64>1 << <u64>timeShift) - 1));
      for (; i + 4 <= n; i += 4) {
        const p = <usize>i << 3;
        const c0 = v128.load(cyc + p), c1 = v128.load(cyc + p, 16);
        const q0 = i64x2.shr_u(c0, s), q1 = i64x2.shr_u(c1, s);
        const r0 = v128.and(c0, remMask), r1 = v128.and(c1, remMask);
        const qlo = lanesLo(q0, q1), rlo = lanesLo(r0, r1);
        // rem < 2^time_shift < 2^32: its product is the low halves' widening one, nothing to wrap
        v128.store(out + p, i64x2.add(i64x2.add(z, mulU64U32Wrapx2(q0, qlo, false, m, m0m)),
          i64x2.shr_u(i64x2.extmul_low_i32x4_u(rlo, m), s)));
        v128.store(out + p, i64x2.add(i64x2.add(z, mulU64U32Wrapx2(q1, qlo, true, m, m0m)),
          i64x2.shr_u(i64x2.extmul_high_i32x4_u(rlo, m), s)), 16);
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
