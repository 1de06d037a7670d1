// Hyper-V reference TSC page: the host side of arch/x86/kvm/hyperv.c
// (compute_tsc_page_parameters) and the guest read of
// include/clocksource/hyperv_timer.h. Time is in 100 ns units.
import { mulU64U64Shr, mulU64U32Div } from "./wide";

/**
 * compute_tsc_page_parameters from a pvclock page's fields. Writes tsc_scale
 * (u64, 0.64 fixed point) at out and tsc_offset (u64, an s64) at out + 8.
 * Returns 1, or 0 when KVM cannot express the clock as a TSC page (not STABLE,
 * or tsc_to_system_mul >= 100 << (32 - tsc_shift)); the page then carries
 * sequence 0 and the guest falls back to the reference counter MSR.
 * shift must lie in -32..31.
 */
export function hvTscPageParams(tscTimestamp: u64, systemTime: u64, mul: u32, shift: i32, flags: u32, out: usize): i32 {
  if ((flags & 1) == 0) return 0; // PVCLOCK_TSC_STABLE_BIT
  // max_mul = 100ull << (32 - shift): a u64 shift, so it wraps for shifts below -25;
  // at -32 (a shift by 64, undefined in C) x86's shl and Wasm both shift by 0.
  if (<u64>mul >= (<u64>100 << <u64>(32 - shift))) return 0;
  const scale = mulU64U32Div(<u64>1 << <u64>(32 + shift), mul, 100);
  const offset = systemTime / 100 - mulU64U64Shr(tscTimestamp, scale, 64);
  store<u64>(out, scale);
  store<u64>(out + 8, offset);
  return 1;
}

/** hv_read_tsc_page_tsc: mul_u64_u64_shr(tsc, scale, 64) + offset, in 100 ns units. */
// @ts-ignore: decorator
@inline export function hvReadTscPage(scale: u64, offset: u64, tsc: u64): u64 {
  return mulU64U64Shr(tsc, scale, 64) + offset;
}
