// pvclock: arch/x86/include/asm/pvclock.h and arch/x86/kernel/pvclock.c.
// The guest reads a per-vCPU page and turns its TSC into nanoseconds.
import { mulU64U32Shr32 } from "./wide";

// struct pvclock_vcpu_time_info (packed, 32 bytes, little-endian)
export const PVTI_SIZE: usize = 32;
export const PVTI_VERSION: usize = 0;
export const PVTI_TSC_TIMESTAMP: usize = 8;
export const PVTI_SYSTEM_TIME: usize = 16;
export const PVTI_MUL: usize = 24;
export const PVTI_SHIFT: usize = 28;
export const PVTI_FLAGS: usize = 29;

export const PVCLOCK_TSC_STABLE_BIT: u8 = 1 << 0;
export const PVCLOCK_GUEST_STOPPED: u8 = 1 << 1;
export const PVCLOCK_COUNTS_FROM_ZERO: u8 = 1 << 2;

// Read status bits reported by pvclockClocksourceRead.
export const READ_RETRY: u32 = 1;          // odd or changed version: the reader must retry
export const READ_CLAMPED: u32 = 2;        // a smaller value was raised to the global last_value
export const READ_GUEST_STOPPED: u32 = 4;  // GUEST_STOPPED was seen and cleared (watchdogs touched)

// The clamp state of pvclock_clocksource_read (u64 slots):
export const ST_LAST_VALUE: usize = 0;     // the global atomic64 last_value
export const ST_VALID_FLAGS: usize = 8;    // pvclock_set_flags(): STABLE trusted or not
export const ST_DOWD: usize = 16;          // 1 = clear GUEST_STOPPED and touch watchdogs (not _nowd)
export const ST_STOPPED_COUNT: usize = 24; // how many reads consumed GUEST_STOPPED
export const ST_CLAMPED_COUNT: usize = 32; // how many reads were clamped to last_value

/**
 * pvclock_scale_delta: pre-shift the TSC delta (bits fall off either way),
 * then take bits [95:32] of delta * mul. shift is the s8 tsc_shift.
 */
// @ts-ignore: decorator
@inline export function pvclockScaleDelta(delta: u64, mul: u32, shift: i32): u64 {
  if (shift < 0) delta = shift > -64 ? delta >> <u64>(-shift) : 0;
  else delta = shift < 64 ? delta << <u64>shift : 0;
  return mulU64U32Shr32(delta, mul);
}

/** __pvclock_read_cycles: system_time + scale(tsc - tsc_timestamp). */
// @ts-ignore: decorator
@inline export function pvclockReadCycles(tscTimestamp: u64, systemTime: u64, mul: u32, shift: i32, tsc: u64): u64 {
  return systemTime + pvclockScaleDelta(tsc - tscTimestamp, mul, shift);
}

/** __pvclock_read_cycles over a page laid out as struct pvclock_vcpu_time_info. */
// @ts-ignore: decorator
@inline export function pvclockReadPage(page: usize, tsc: u64): u64 {
  return pvclockReadCycles(
    load<u64>(page + PVTI_TSC_TIMESTAMP), load<u64>(page + PVTI_SYSTEM_TIME),
    load<u32>(page + PVTI_MUL), <i32>load<i8>(page + PVTI_SHIFT), tsc);
}

/** pvclock_tsc_khz: (10^6 << 32) / mul, then undo the shift. mul != 0. */
export function pvclockTscKhz(mul: u32, shift: i32): u64 {
  let khz: u64 = (<u64>1000000 << 32) / <u64>mul;
  if (shift < 0) khz = shift > -64 ? khz << <u64>(-shift) : 0;
  else khz = shift < 64 ? khz >> <u64>shift : 0;
  return khz;
}

/**
 * pvclock_read_wallclock: kvmclock now + the wall clock at system_time 0,
 * split into seconds (returned) and nanoseconds (stored at nsecOut).
 */
export function pvclockReadWallclock(wallSec: u32, wallNsec: u32, now: u64, nsecOut: usize): u64 {
  const delta = now + <u64>wallSec * 1000000000 + <u64>wallNsec;
  store<u64>(nsecOut, delta % 1000000000);
  return delta / 1000000000;
}

/**
 * One pvclock_clocksource_read on `page` at guest TSC `tsc`, with the global
 * last_value clamp held in `state`. Returns the value; the status bits go to
 * statusOut. An odd version means the host is mid-update: READ_RETRY, value 0.
 * With dowd set, a GUEST_STOPPED flag is cleared in the page (the guest owns
 * that bit once set) and counted: that is pvclock_touch_watchdogs().
 * Only when STABLE is both trusted (valid_flags) and set is the clamp skipped.
 */
// @ts-ignore: decorator
@inline export function pvclockClocksourceReadAt(page: usize, tsc: u64, state: usize, statusOut: usize): u64 {
  const version = load<u32>(page + PVTI_VERSION);
  if (version & 1) { store<u32>(statusOut, READ_RETRY); return 0; }
  const ret = pvclockReadPage(page, tsc);
  const flags = load<u8>(page + PVTI_FLAGS);
  let status: u32 = 0;
  if (load<u64>(state + ST_DOWD) != 0 && (flags & PVCLOCK_GUEST_STOPPED) != 0) {
    store<u8>(page + PVTI_FLAGS, flags & ~PVCLOCK_GUEST_STOPPED);
    store<u64>(state + ST_STOPPED_COUNT, load<u64>(state + ST_STOPPED_COUNT) + 1);
    status |= READ_GUEST_STOPPED;
  }
  const valid = <u8>load<u64>(state + ST_VALID_FLAGS);
  if ((valid & PVCLOCK_TSC_STABLE_BIT) != 0 && (flags & PVCLOCK_TSC_STABLE_BIT) != 0) {
    store<u32>(statusOut, status);
    return ret;
  }
  const last = load<u64>(state + ST_LAST_VALUE);
  if (ret <= last) {
    if (ret < last) {
      store<u64>(state + ST_CLAMPED_COUNT, load<u64>(state + ST_CLAMPED_COUNT) + 1);
      status |= READ_CLAMPED;
    }
    store<u32>(statusOut, status);
    return last;
  }
  store<u64>(state + ST_LAST_VALUE, ret);
  store<u32>(statusOut, status);
  return ret;
}
