// kernel/sched_rt.c (RT bandwidth, 2.6.25 on; read in 2.6.32.33): update_curr_rt() charges the running RT task's
// delta of rq->clock_task -- sched_clock_cpu(), never moving back (update_rq_clock) -- to rt_rq->rt_time. Past
// sysctl_sched_rt_runtime (950 ms of every sysctl_sched_rt_period, 1 s) sched_rt_runtime_exceeded() throttles the RT
// runqueue: pick_next_task_rt() picks nothing until the period timer, an hrtimer on CLOCK_MONOTONIC, has paid
// rt_time back below the runtime, one runtime per period (do_sched_rt_period_timer: rt_time -= min(rt_time,
// overrun * runtime)). A sched_clock that leaps while an RT task runs is charged to it whole.
export const RT_PERIOD_NS = 1_000_000_000n;
export const RT_RUNTIME_NS = 950_000_000n;

export interface RtThrottle {
  /** rt_time after the charge, ns. */
  rtTimeNs: bigint;
  /** Periods of the period timer until rt_time < runtime: the smallest n with rt_time - n * runtime < runtime. */
  periods: bigint;
}

/** update_curr_rt() charging `delta` of rq->clock_task to an RT runqueue with nothing charged yet: null if it stays
 *  within its runtime. */
export function rtCharge(delta: bigint): RtThrottle | null {
  const rt = delta > 0n ? delta : 0n;
  if (rt <= RT_RUNTIME_NS) return null;
  return { rtTimeNs: rt, periods: rt / RT_RUNTIME_NS };
}
