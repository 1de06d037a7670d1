// KVM's guest-TSC arithmetic: arch/x86/kvm/x86.c (kvm_get_time_scale,
// kvm_scale_tsc, set_tsc_khz, the nested helpers) and x86.h (nsec_to_cycles).
import { mulU64U64Shr, mulU64U32Div, mulS64U64Shr } from "./wide";
import { pvclockScaleDelta } from "./pvclock";

/**
 * kvm_get_time_scale(scaled_hz, base_hz, &shift, &mul): a (shift, mul) pair so
 * that ((x shifted by shift) * mul) >> 32 ~= x * scaled_hz / base_hz, rounding
 * down. Writes mul (u32) at out and shift (i32) at out + 4. Returns 1, or 0 when
 * no pair exists (a zero rate, or base so small against scaled that the
 * kernel's loops would never end: the kernel never calls it that way).
 */
export function kvmGetTimeScale(scaledHz: u64, baseHz: u64, out: usize): i32 {
  if (scaledHz == 0 || baseHz == 0) return 0;
  let tps64 = baseHz;
  let scaled64 = scaledHz;
  let shift: i32 = 0;
  while (tps64 > scaled64 * 2 || (tps64 & 0xFFFFFFFF00000000) != 0) {
    tps64 >>= 1;
    shift--;
  }
  let tps32 = <u32>tps64;
  if (tps32 == 0) return 0;
  while (<u64>tps32 <= scaled64 || (scaled64 & 0xFFFFFFFF00000000) != 0) {
    if ((scaled64 & 0xFFFFFFFF00000000) != 0 || (tps32 & 0x80000000) != 0) scaled64 >>= 1;
    else tps32 <<= 1;
    shift++;
  }
  // div_frac(): a 32-bit dividend shifted up 32, divided by a 32-bit divisor.
  const mul = <u32>(((scaled64 & 0xFFFFFFFF) << 32) / <u64>tps32);
  store<u32>(out, mul);
  store<i32>(out + 4, shift);
  return 1;
}

/** kvm_scale_tsc: identity at the default ratio, else mul_u64_u64_shr(tsc, ratio, frac). */
// @ts-ignore: decorator
@inline export function kvmScaleTsc(tsc: u64, ratio: u64, fracBits: u32): u64 {
  return ratio != (<u64>1 << <u64>fracBits) ? mulU64U64Shr(tsc, ratio, fracBits) : tsc;
}

/** The largest ratio each vendor accepts (exclusive bound in set_tsc_khz). */
export function kvmMaxTscScalingRatio(fracBits: u32): u64 {
  return fracBits == 48 ? 0xFFFFFFFFFFFFFFFF : 0x000000FFFFFFFFFF;
}

/**
 * The scaling ratio set_tsc_khz computes: mul_u64_u32_div(1 << frac, user, host),
 * floor. Returns 0 when KVM rejects it (ratio 0 or >= the vendor maximum).
 */
export function kvmTscScalingRatio(userKhz: u32, hostKhz: u32, fracBits: u32): u64 {
  const ratio = mulU64U32Div(<u64>1 << <u64>fracBits, userKhz, hostKhz);
  if (ratio == 0 || ratio >= kvmMaxTscScalingRatio(fracBits)) return 0;
  return ratio;
}

/** adjust_tsc_khz(khz, ppm): khz * (10^6 + ppm) / 10^6 in u64. */
// @ts-ignore: decorator
@inline export function adjustTscKhz(khz: u32, ppm: i32): u64 {
  return <u64>khz * <u64>(1000000 + ppm) / 1000000;
}

// kvm_set_tsc_khz outcomes
export const SET_TSC_KHZ_NO_SCALING: i32 = 0;   // within tolerance: guest runs at host rate
export const SET_TSC_KHZ_SCALED: i32 = 1;       // hardware scaling with a ratio
export const SET_TSC_KHZ_CATCHUP: i32 = 2;      // faster than host, no hardware scaling
export const SET_TSC_KHZ_ZERO: i32 = -1;        // user_tsc_khz == 0: default ratio, -1
export const SET_TSC_KHZ_BELOW_HOST: i32 = -2;  // "user requested TSC rate below hardware speed"
export const SET_TSC_KHZ_BAD_RATIO: i32 = -3;   // "Invalid TSC scaling ratio"
export const SET_TSC_KHZ_ABOVE_MAX: i32 = -4;   // vCPU ioctl: user_tsc_khz >= max_guest_tsc_khz

/**
 * kvm_set_tsc_khz + set_tsc_khz. With viaIoctl, the vCPU KVM_SET_TSC_KHZ ioctl
 * in front of it: -EINVAL at or above max_guest_tsc_khz, and 0 meaning the host
 * rate. Output slots (u64) at out: ratio, thresh_lo, thresh_hi,
 * virtual_tsc_mult, virtual_tsc_shift (as i64), max_guest_tsc_khz. hostKhz != 0.
 */
export function kvmSetTscKhz(userKhz: u32, hostKhz: u32, hasTscControl: bool, fracBits: u32,
                             tolerancePpm: i32, viaIoctl: bool, out: usize): i32 {
  memory.fill(out, 0, 48);
  const defaultRatio = <u64>1 << <u64>fracBits;
  const maxGuestKhz = hasTscControl
    ? min<u64>(0x7FFFFFFF, kvmScaleTsc(<u64>hostKhz, kvmMaxTscScalingRatio(fracBits), fracBits))
    : 0;
  store<u64>(out + 40, maxGuestKhz);
  store<u64>(out, defaultRatio);
  if (viaIoctl) {
    if (hasTscControl && <u64>userKhz >= maxGuestKhz) return SET_TSC_KHZ_ABOVE_MAX;
    if (userKhz == 0) userKhz = hostKhz;
  }
  if (userKhz == 0) return SET_TSC_KHZ_ZERO;
  kvmGetTimeScale(<u64>userKhz * 1000, 1000000000, out + 24);
  store<i64>(out + 32, <i64>load<i32>(out + 28));
  store<u64>(out + 24, <u64>load<u32>(out + 24));
  const lo = adjustTscKhz(hostKhz, -tolerancePpm);
  const hi = adjustTscKhz(hostKhz, tolerancePpm);
  store<u64>(out + 8, lo);
  store<u64>(out + 16, hi);
  if (!(<u64>userKhz < lo || <u64>userKhz > hi)) return SET_TSC_KHZ_NO_SCALING;
  if (!hasTscControl) return userKhz > hostKhz ? SET_TSC_KHZ_CATCHUP : SET_TSC_KHZ_BELOW_HOST;
  const ratio = mulU64U32Div(defaultRatio, userKhz, hostKhz);
  if (ratio == 0 || ratio >= kvmMaxTscScalingRatio(fracBits)) return SET_TSC_KHZ_BAD_RATIO;
  store<u64>(out, ratio);
  return SET_TSC_KHZ_SCALED;
}

/** kvm_compute_l1_tsc_offset: target_tsc - kvm_scale_tsc(host_tsc, ratio), mod 2^64. */
// @ts-ignore: decorator
@inline export function kvmComputeTscOffset(targetTsc: u64, hostTsc: u64, ratio: u64, fracBits: u32): u64 {
  return targetTsc - kvmScaleTsc(hostTsc, ratio, fracBits);
}

/** kvm_read_l1_tsc: the L1 guest TSC at a host TSC. */
// @ts-ignore: decorator
@inline export function kvmReadL1Tsc(hostTsc: u64, ratio: u64, offset: u64, fracBits: u32): u64 {
  return kvmScaleTsc(hostTsc, ratio, fracBits) + offset;
}

/** kvm_calc_nested_tsc_offset: L2's effective offset (signed scaling rounds toward 0). */
export function kvmCalcNestedTscOffset(l1Offset: u64, l2Offset: u64, l2Multiplier: u64, fracBits: u32): u64 {
  const scaled = l2Multiplier == (<u64>1 << <u64>fracBits)
    ? l1Offset
    : <u64>mulS64U64Shr(<i64>l1Offset, l2Multiplier, fracBits);
  return scaled + l2Offset;
}

/** kvm_calc_nested_tsc_multiplier: L2's effective ratio. */
export function kvmCalcNestedTscMultiplier(l1Multiplier: u64, l2Multiplier: u64, fracBits: u32): u64 {
  return l2Multiplier != (<u64>1 << <u64>fracBits) ? mulU64U64Shr(l1Multiplier, l2Multiplier, fracBits) : l1Multiplier;
}

/** nsec_to_cycles: pvclock_scale_delta(ns, virtual_tsc_mult, virtual_tsc_shift). */
export function nsecToCycles(ns: u64, virtualTscMult: u32, virtualTscShift: i32): u64 {
  return pvclockScaleDelta(ns, virtualTscMult, virtualTscShift);
}

/** compute_guest_tsc: this_tsc_write + scale(kernel_ns - this_tsc_nsec). */
export function computeGuestTsc(kernelNs: u64, thisTscNsec: u64, thisTscWrite: u64,
                                virtualTscMult: u32, virtualTscShift: i32): u64 {
  return thisTscWrite + pvclockScaleDelta(kernelNs - thisTscNsec, virtualTscMult, virtualTscShift);
}
