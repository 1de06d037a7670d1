// kernel/rcu/tree_stall.h (kernel/rcutree.c in 3.x): the RCU CPU stall detector.
//
// A grace period ends when every online CPU has passed a quiescent state; a CPU that runs guest code
// passes one at its next tick. A vCPU the host does not run -- preempted, stopped, or a hot-added CPU
// still in its bring-up with interrupts off -- cannot, and holds the grace period open. Every CPU's tick
// runs check_cpu_stall(): once jiffies reach jiffies_stall (gp_start + rcu_jiffies_till_stall_check())
// plus RCU_STALL_RAT_DELAY, print_other_cpu_stall() reports the holders ("{ 8} (detected by 1, t=...
// jiffies") and re-arms jiffies_stall 3 * timeout + 3 jiffies later. Grace periods are taken to be always
// wanted (a busy guest): with no holder they complete at once. rcu_cpu_stall_reset() (GUEST_STOPPED)
// suppresses the rest of the grace period (3.x: jiffies + ULONG_MAX / 2).
export const RCU_STALL_RAT_DELAY = 2n;
/** Reports printed per grace period (the kernel goes on every 3 * timeout + 3 jiffies; the rest are counted). */
export const RCU_REPORTS_PRINTED = 100;

export interface RcuStall {
  /** jiffies at the start of the grace period now open (null: none is held open). */
  gpStart: bigint | null;
  jiffiesStall: bigint;
  /** rcu_jiffies_till_stall_check(): CONFIG_RCU_CPU_STALL_TIMEOUT * HZ. */
  timeoutJiffies: bigint;
  /** The CPUs holding it (in its qsmask, not yet passed a quiescent state). */
  holders: Set<number>;
  /** The grace period number (g=). */
  gpNum: bigint;
  /** rcu_cpu_stall_reset() was called during this grace period. */
  suppressed: boolean;
  /** Reports made in this grace period. */
  reports: number;
}

export function newRcuStall(timeoutS: number, hz: number): RcuStall {
  return { gpStart: null, jiffiesStall: 0n, timeoutJiffies: BigInt(timeoutS * hz), holders: new Set(), gpNum: 0n, suppressed: false, reports: 0 };
}

/**
 * The CPUs that cannot pass a quiescent state now (`stuck`). A grace period is held open by the CPUs that were stuck
 * when it started; a CPU that gets stuck later passed its quiescent state for it first (it was running: its tick
 * did), so it only holds the next one -- which starts the moment the last holder of this one passes (a busy guest
 * always wants one). A CPU coming online joins the next grace period too (rcu_prepare_cpu: qsmaskinit).
 */
export function rcuHolders(r: RcuStall, stuck: Set<number>, jiffies: bigint): void {
  if (r.gpStart !== null) {
    const left = new Set([...r.holders].filter((c) => stuck.has(c)));
    if (left.size) { r.holders = left; return; }
    r.gpStart = null;
    r.suppressed = false;
  }
  r.holders = new Set(stuck);
  if (stuck.size === 0) return;
  r.gpNum++;
  r.gpStart = jiffies;
  r.jiffiesStall = jiffies + r.timeoutJiffies;
  r.suppressed = false;
  r.reports = 0;
}

/**
 * The reports the kernel would have printed after the first RCU_REPORTS_PRINTED of this grace period, up to jiffies:
 * one every 3 * timeout + 3 + RCU_STALL_RAT_DELAY jiffies (each re-arms the check that far ahead). Counted once:
 * jiffies_stall moves on as their re-arms would have moved it.
 */
export function rcuUnprintedReports(r: RcuStall, jiffies: bigint): bigint {
  if (r.gpStart === null || r.suppressed || r.reports < RCU_REPORTS_PRINTED) return 0n;
  const due = r.jiffiesStall + RCU_STALL_RAT_DELAY, rearm = 3n * r.timeoutJiffies + 3n;
  if (jiffies < due) return 0n;
  const n = (jiffies - due) / (rearm + RCU_STALL_RAT_DELAY) + 1n;
  r.jiffiesStall = due + (n - 1n) * (rearm + RCU_STALL_RAT_DELAY) + rearm;
  return n;
}

/** check_cpu_stall() at a tick: the holders to report, or null. Re-arms as print_other_cpu_stall() does. */
export function checkCpuStall(r: RcuStall, jiffies: bigint): { holders: number[]; t: bigint; g: bigint } | null {
  if (r.gpStart === null || r.suppressed || r.holders.size === 0) return null;
  if (jiffies < r.jiffiesStall + RCU_STALL_RAT_DELAY) return null;
  r.jiffiesStall = jiffies + 3n * r.timeoutJiffies + 3n;
  r.reports++;
  return { holders: [...r.holders].sort((a, b) => a - b), t: jiffies - r.gpStart, g: r.gpNum };
}

/**
 * check_cpu_stall() on `cpu` at its tick while its own bit is still in the grace period's mask: once jiffies reach
 * jiffies_stall, print_cpu_stall() ("self-detected stall") and the same re-arm.
 */
export function checkSelfStall(r: RcuStall, cpu: number, jiffies: bigint): { t: bigint; g: bigint } | null {
  if (r.gpStart === null || r.suppressed || !r.holders.has(cpu)) return null;
  if (jiffies < r.jiffiesStall) return null;
  r.jiffiesStall = jiffies + 3n * r.timeoutJiffies + 3n;
  r.reports++;
  return { t: jiffies - r.gpStart, g: r.gpNum };
}

/** The jiffies value at which the next report is due (null: none pending). */
export function rcuNextReportJiffies(r: RcuStall): bigint | null {
  if (r.gpStart === null || r.suppressed || r.holders.size === 0 || r.reports >= RCU_REPORTS_PRINTED) return null;
  return r.jiffiesStall + RCU_STALL_RAT_DELAY;
}

/** rcu_cpu_stall_reset(): no report for the rest of this grace period. */
export function rcuCpuStallReset(r: RcuStall): void {
  if (r.gpStart !== null) r.suppressed = true;
}
