// The typed objects of the API. Field names follow the kernel structs in camelCase.

/** struct pvclock_vcpu_time_info (arch/x86/include/asm/pvclock-abi.h), 32 bytes packed. */
export interface PvclockTimeInfo {
  /** u32 seqlock: odd while the host updates the page. */
  version?: number;
  /** u64 guest TSC at the last update. */
  tscTimestamp: bigint;
  /** u64 nanoseconds at tscTimestamp. */
  systemTime: bigint;
  /** u32 0.32 fixed-point multiplier. */
  tscToSystemMul: number;
  /** s8 pre-shift of the TSC delta (negative: right shift); -32..31 accepted. */
  tscShift: number;
  /** u8: bit 0 PVCLOCK_TSC_STABLE_BIT, bit 1 PVCLOCK_GUEST_STOPPED, bit 2 PVCLOCK_COUNTS_FROM_ZERO. */
  flags?: number;
}

/** struct pvclock_wall_clock: wall time at which system_time was 0. */
export interface PvclockWallClock {
  version?: number;
  sec: number;
  nsec: number;
}

/** The fields of struct perf_event_mmap_page that convert a TSC to perf time. */
export interface PerfTimeParams {
  timeZero: bigint;
  timeMult: number;
  timeShift: number;
  /** With cap_user_time_short: the counter is widened against these first. */
  timeCycles?: bigint;
  timeMask?: bigint;
}

/** What __clocksource_update_freq_scale leaves in struct clocksource. */
export interface ClocksourceRegistration {
  mult: number;
  shift: number;
  maxadj: number;
  maxCycles: bigint;
  maxIdleNs: bigint;
  uncertaintyMargin: number;
}

export type FracBits = 48 | 32;
