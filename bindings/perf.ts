// The perf_event_mmap_page TSC conversion (include/uapi/linux/perf_event.h).
import type { Core } from './core.js';
import type { PerfTimeParams } from './types.js';
import { fromI64, int, object, u32, u64 } from './check.js';

export interface CheckedPerfParams {
  timeZero: bigint; timeMult: number; timeShift: number; short: boolean; timeCycles: bigint; timeMask: bigint;
}

export function checkPerfParams(f: string, params: unknown): CheckedPerfParams {
  const p = object<PerfTimeParams>(f, 'params', params);
  const short = p.timeMask !== undefined;
  return {
    timeZero: u64(f, 'params.timeZero', p.timeZero),
    timeMult: u32(f, 'params.timeMult', p.timeMult),
    timeShift: int(f, 'params.timeShift', p.timeShift, 0, 63),
    short,
    timeCycles: short ? u64(f, 'params.timeCycles', p.timeCycles ?? 0n) : 0n,
    timeMask: short ? u64(f, 'params.timeMask', p.timeMask) : 0n,
  };
}

export function perfApi(k: Core) {
  const x = k.x;
  return {
    /**
     * The documented TSC -> perf time conversion: time_zero + quot * time_mult +
     * ((rem * time_mult) >> time_shift), every step in u64; with timeMask
     * (cap_user_time_short) the counter is first widened against timeCycles.
     */
    perfTscToNs(tsc: bigint, params: PerfTimeParams): bigint {
      const f = 'perfTscToNs';
      const p = checkPerfParams(f, params);
      return fromI64(x.perfTscToNs(u64(f, 'tsc', tsc), p.timeZero, p.timeMult, p.timeShift, p.short ? 1 : 0, p.timeCycles, p.timeMask));
    },
  };
}
