// sched_clock(), local_clock() and the printk timestamp: kernel/sched/clock.c and the clocks under it.
//
// The raw clock is kvm_sched_clock_read() -- kvmclock less kvm_sched_clock_offset, taken at boot so that it starts
// near 0 (arch/x86/kernel/kvmclock.c) --, Xen's xen_sched_clock (NOW(), or NOW() less its value at boot), or the
// native TSC through cyc2ns (mul_u64_u32_shr(tsc, mul, shift) + offset, arch/x86/kernel/tsc.c). With
// sched_clock_stable() the raw clock is returned as is; otherwise sched_clock_local() keeps each CPU's clock on
// the GTOD clock and never lets it go back -- modelled at tick granularity: max(previous value, CLOCK_MONOTONIC).
import { u64 } from '../units.js';

export interface SchedClock {
  /** 'kvmclock': a pvclock (kvm-clock or Xen's) less the offset; 'tsc': native cyc2ns. */
  mode: 'kvmclock' | 'tsc';
  /** sched_clock_stable(): the raw clock, unfiltered. */
  stable: boolean;
  /** kvm_sched_clock_offset (or Xen's), or the cyc2ns offset. */
  offset: bigint;
  mul: number;
  shift: number;
}

export const newSchedClock = (): SchedClock => ({ mode: 'kvmclock', stable: false, offset: 0n, mul: 0, shift: 0 });

/** local_clock() on a CPU whose TSC, pvclock read and CLOCK_MONOTONIC are given; `previous` its last value. */
export function schedClockRead(sc: SchedClock, tsc: bigint, pvclock: bigint, monotonic: bigint, previous: bigint): bigint {
  if (sc.stable) return sc.mode === 'tsc' ? u64(((tsc * BigInt(sc.mul)) >> BigInt(sc.shift)) + sc.offset) : u64(pvclock - sc.offset);
  return monotonic > previous ? monotonic : previous;
}

/** cyc2ns set up at boot for the native clock (set_cyc2ns_scale): starting at 0 at the TSC value `tsc0`. */
export function nativeSchedClock(mult: number, shift: number, tsc0: bigint, stable: boolean): SchedClock {
  return { mode: 'tsc', stable, mul: mult, shift, offset: u64(-((tsc0 * BigInt(mult)) >> BigInt(shift))) };
}
