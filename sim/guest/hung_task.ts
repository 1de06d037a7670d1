// kernel/hung_task.c: khungtaskd wakes every hung_task_timeout_secs (schedule_timeout, in jiffies, from when it
// started at boot) and checks every task in D state (TASK_UNINTERRUPTIBLE): one whose switch count changed since
// the last check is only noted (last_switch_count); one that has not switched since the check before is reported,
// "INFO: task comm:pid blocked for more than N seconds.", while sysctl_hung_task_warnings (10) lasts -- at every
// check until it runs again. reset_hung_task_detector() (GUEST_STOPPED, 4.x on) skips the next check.
//
// Two kinds of D-state task are modelled: the RCU waiter (guest.dStateTask) that sleeps in synchronize_rcu() as long
// as a grace period is held open -- it hangs exactly when RCU does, and is reported once per grace period (the
// kernel would repeat it at every check, as below) -- and tasks the guest blocks on something it models (a Xen
// guest's xenwatch thread in kthread_stop() of an RT-throttled thread), checked as the kernel checks them.
export interface BlockedTask {
  comm: string;
  pid: number;
  /** jiffies when it entered D state. */
  since: bigint;
  /** jiffies when it runs again (its switch count moves: no later check reports it); null: blocked for good. */
  until: bigint | null;
  /** A check has seen it blocked (and noted its switch count): every later check reports it. */
  seen: boolean;
}

export interface HungTask {
  /** The RCU waiter exists (guest.dStateTask). */
  on: boolean;
  timeoutJiffies: bigint;
  /** jiffies of khungtaskd's next check. */
  nextCheck: bigint;
  /** reset_hung_task_detector() was called: the next check is skipped. */
  reset: boolean;
  /** Already reported for the grace period that started at this jiffy. */
  reportedFor: bigint | null;
  /** sysctl_hung_task_warnings: reports left. */
  warnings: number;
  /** The other tasks in D state now. */
  blocked: BlockedTask[];
}

/** sysctl_hung_task_warnings at boot. */
export const HUNG_TASK_WARNINGS = 10;

export function newHungTask(on: boolean, timeoutS: number, hz: number): HungTask {
  const timeoutJiffies = BigInt(timeoutS * hz);
  return { on, timeoutJiffies, nextCheck: timeoutJiffies, reset: false, reportedFor: null, warnings: HUNG_TASK_WARNINGS, blocked: [] };
}

/** khungtaskd starts (hung_task_init at boot, jiffies now): its first check is one timeout later. */
export function startHungTaskDetector(h: HungTask, jiffies: bigint): void {
  h.nextCheck = jiffies + h.timeoutJiffies;
}

/** A report: the RCU waiter (task null) or a blocked task, and how long it has waited (jiffies). */
export interface HungReport { task: BlockedTask | null; waited: bigint }

/**
 * khungtaskd's checks up to `jiffies` (the RCU waiter waits for the grace period that started at gpStart, if one is
 * open): the reports they print.
 */
export function checkHungTasks(h: HungTask, jiffies: bigint, gpStart: bigint | null): HungReport[] {
  if (jiffies < h.nextCheck) return [];
  // the checks due by now: khungtaskd sleeps again timeout jiffies after each one
  const missed = (jiffies - h.nextCheck) / h.timeoutJiffies;
  const first = h.nextCheck;
  h.nextCheck += (missed + 1n) * h.timeoutJiffies;
  if (h.reset) { h.reset = false; return []; }
  const out: HungReport[] = [];
  if (h.on && gpStart !== null && h.reportedFor !== gpStart && jiffies - gpStart > h.timeoutJiffies && h.warnings > 0) {
    h.reportedFor = gpStart;
    h.warnings--;
    out.push({ task: null, waited: jiffies - gpStart });
  }
  for (const task of h.blocked) {
    // the checks since it blocked and while it is (one at a time when the guest runs them as timers)
    const from = task.since > first ? first + ((task.since - first + h.timeoutJiffies - 1n) / h.timeoutJiffies) * h.timeoutJiffies : first;
    const last = task.until !== null && task.until <= jiffies ? task.until - 1n : jiffies;
    let checks = from > last ? 0n : (last - from) / h.timeoutJiffies + 1n;
    if (checks > 0n && !task.seen) { task.seen = true; checks--; }
    for (; checks > 0n && h.warnings > 0; checks--) {
      h.warnings--;
      out.push({ task, waited: jiffies - task.since });
    }
  }
  // a task that ran again left D state: no check sees it any more
  h.blocked = h.blocked.filter((t) => t.until === null || t.until > jiffies);
  return out;
}

/** The jiffies of the next check (for the engine to find when a report can come). */
export const nextHungTaskCheck = (h: HungTask): bigint => h.nextCheck;

/** reset_hung_task_detector(). */
export function resetHungTaskDetector(h: HungTask): void {
  h.reset = true;
}
