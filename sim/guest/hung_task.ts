// kernel/hung_task.c: khungtaskd wakes every hung_task_timeout_secs (schedule_timeout, in jiffies) and
// reports a task that has sat in D state, not switched, for longer than that. The task modelled here
// (guest.dStateTask) waits in synchronize_rcu(): it sleeps as long as a grace period is held open, so it
// hangs exactly when RCU does. reset_hung_task_detector() (GUEST_STOPPED) skips the next check.
export interface HungTask {
  on: boolean;
  timeoutJiffies: bigint;
  /** jiffies of khungtaskd's next check. */
  nextCheck: bigint;
  /** reset_hung_task_detector() was called: the next check is skipped. */
  reset: boolean;
  /** Already reported for the grace period that started at this jiffy. */
  reportedFor: bigint | null;
}

export function newHungTask(on: boolean, timeoutS: number, hz: number): HungTask {
  const timeoutJiffies = BigInt(timeoutS * hz);
  return { on, timeoutJiffies, nextCheck: timeoutJiffies, reset: false, reportedFor: null };
}

/**
 * khungtaskd's checks up to `jiffies`: a report (the jiffies the task has waited) when the grace period it
 * waits for has been open longer than the timeout at a check, else null.
 */
export function checkHungTasks(h: HungTask, jiffies: bigint, gpStart: bigint | null): bigint | null {
  if (!h.on || jiffies < h.nextCheck) return null;
  // the checks due by now: khungtaskd sleeps again timeout jiffies after each one
  const missed = (jiffies - h.nextCheck) / h.timeoutJiffies;
  h.nextCheck += (missed + 1n) * h.timeoutJiffies;
  if (h.reset) { h.reset = false; return null; }
  if (gpStart === null || h.reportedFor === gpStart) return null;
  const waited = jiffies - gpStart;
  if (waited <= h.timeoutJiffies) return null;
  h.reportedFor = gpStart;
  return waited;
}

/** The jiffies of the next check (for the engine to find when a report can come). */
export const nextHungTaskCheck = (h: HungTask): bigint | null => (h.on ? h.nextCheck : null);

/** reset_hung_task_detector(). */
export function resetHungTaskDetector(h: HungTask): void {
  h.reset = true;
}
