// What the guest kernel prints, word for word, by the generation of its messages (GuestSpec.logStyle: '2.6' for
// 2.6.32 (read in v2.6.32.33, avsm/linux-2.6.32-xen-oprofile@5bf7b33598d), '3.x' for RHEL 7's 3.10, '4.x' for
// 4.x-5.x, '6.x'). Each line names the kernel function that prints it. The stamp is the CPU's local_clock()
// (sched_clock.ts; 2.6.32's printk takes cpu_clock()), as printk takes it.
import { s64 } from '../units.js';

export type LogStyle = '2.6' | '3.x' | '4.x' | '6.x';

/**
 * kvm_register_clock(txt) after the CPU's MSR_KVM_SYSTEM_TIME_NEW write (arch/x86/kernel/kvmclock.c): "msr H:L" in 3.x
 * (the halves of pa | 1), "msr %llx" in 4.x-5.x; later kernels print nothing (null).
 */
export function kvmRegisterClock(style: LogStyle, cpu: number, pa: bigint, txt: string): string | null {
  if (style === '6.x') return null;
  const v = pa | 1n;
  const msr = style === '3.x' ? `${(v >> 32n).toString(16)}:${(v & 0xFFFFFFFFn).toString(16)}` : v.toString(16);
  return `kvm-clock: cpu ${cpu}, msr ${msr}, ${txt}`;
}

/** kvm_sched_clock_init() (4.x on; 2.6.32 has no sched clock offset and prints nothing: null). */
export const schedOffset = (style: LogStyle, offset: bigint) => (style === '2.6' ? null : `kvm-clock: using sched offset of ${offset} cycles`);

/** Whether clocksource_register() prints the "clocksource: NAME: mask: ..." line (2.6.32's prints nothing). */
export const printsRegistration = (style: LogStyle) => style !== '2.6';

/** tsc_init() (arch/x86/kernel/tsc.c): the rate in MHz with three decimals of kHz ("Detected ... processor." in 2.6.32). */
export function tscDetected(style: LogStyle, khz: number): string {
  const mhz = `${Math.trunc(khz / 1000)}.${String(khz % 1000).padStart(3, '0')}`;
  return style === '2.6' ? `Detected ${mhz} MHz processor.` : `tsc: Detected ${mhz} MHz processor`;
}

/** timekeeping_notify() via clocksource_select() (2.6.32: clocksource_select() itself, "Switching to"). */
export const switchedTo = (style: LogStyle, name: string) =>
  (style === '2.6' ? `Switching to clocksource ${name}` : `clocksource: Switched to clocksource ${name}`);

/** mark_tsc_unstable(reason), and the sched_clock it takes down with it (clear_sched_clock_stable; 2.6.32 clears
 *  sched_clock_stable without a word: null). */
export const tscUnstable = (style: LogStyle, reason: string) => `${style === '2.6' ? '' : 'tsc: '}Marking TSC unstable due to ${reason}`;
export const schedClockUnstable = (style: LogStyle) => (style === '2.6' ? null : 'sched_clock: Marking unstable');

/** check_tsc_sync_source() when the last run failed (arch/x86/kernel/tsc_sync.c). */
export const tscWarpMeasured = (maxWarp: bigint) => `Measured ${s64(maxWarp)} cycles TSC warp between CPUs, turning off TSC clock.`;
export const tscWarpedRandomly = () => 'TSC warped randomly between CPUs';
/** check_tsc_sync_target() before it writes IA32_TSC_ADJUST (4.10+, backported to RHEL 7.4). */
export const tscAdjustCompensate = (cpu: number, observed: bigint, adjust: bigint) => `TSC ADJUST compensate: CPU${cpu} observed ${observed} warp. Adjust: ${adjust}`;

/** acpi_processor_hotadd_init() and do_boot_cpu() for a hot-added CPU. */
export const hotAdded = (cpu: number) => `CPU${cpu} has been hot-added`;
export const bootingCpu = (cpu: number) => `smpboot: Booting Node 0 Processor ${cpu} APIC 0x${cpu.toString(16)}`;

/** watchdog_timer_fn() (kernel/watchdog.c; softlockup_tick() in 2.6.32): duration in get_timestamp() units, the task
 *  the CPU was running (the idle task: "swapper" on every CPU in 2.6.32, "swapper/N" from 3.x). */
export const softLockup = (style: LogStyle, cpu: number, stuck: bigint) =>
  `BUG: soft lockup - CPU#${cpu} stuck for ${stuck}s! [${style === '2.6' ? 'swapper' : `swapper/${cpu}`}:0]`;

const rcuPrefix = (style: LogStyle) => (style === '6.x' ? 'rcu: INFO: rcu_sched' : 'INFO: rcu_sched');
/** print_other_cpu_stall() (kernel/rcu/tree_stall.h; rcutree.c in 2.6.32 and 3.x), without CONFIG_RCU_CPU_STALL_INFO's detail. */
export const rcuOtherStall = (style: LogStyle, holders: number[], by: number, t: bigint) => (style === '2.6'
  ? `INFO: RCU detected CPU stalls:${holders.map((h) => ` ${h}`).join('')} (detected by ${by}, t=${t} jiffies)`
  : `${rcuPrefix(style)} detected stalls on CPUs/tasks: { ${holders.join(' ')}} (detected by ${by}, t=${t} jiffies)`);
/** print_cpu_stall(): the CPU found its own quiescent state missing. */
export const rcuSelfStall = (style: LogStyle, cpu: number, t: bigint) => (style === '2.6'
  ? `INFO: RCU detected CPU ${cpu} stall (t=${t} jiffies)`
  : `${rcuPrefix(style)} self-detected stall on CPU { ${cpu}}  (t=${t} jiffies)`);

/** check_hung_task() (kernel/hung_task.c, the same two lines from 2.6.32 on): the task's comm and pid. */
export const hungTask = (comm: string, pid: number, timeoutS: number) => [
  `INFO: task ${comm}:${pid} blocked for more than ${timeoutS} seconds.`,
  '"echo 0 > /proc/sys/kernel/hung_task_timeout_secs" disables this message.',
];

/** clocksource_watchdog() (kernel/time/clocksource.c): the per-CPU form's verdict, by generation. */
export function watchdogSkew(style: LogStyle, o: { cpu: number; csNs: bigint; wdNs: bigint; csNow: bigint; csLast: bigint; wdNow: bigint; wdLast: bigint }): string[] {
  if (style === '3.x') return [`Clocksource tsc unstable (delta = ${BigInt.asIntN(64, o.csNs - o.wdNs)} ns)`];
  const head = `clocksource: timekeeping watchdog on CPU${o.cpu}: Marking clocksource 'tsc' as unstable because the skew is too large:`;
  const pad = 'clocksource:                       ';
  if (style === '6.x') {
    return [head, `${pad}'kvm-clock' wd_nsec: ${o.wdNs} wd_now: ${o.wdNow.toString(16)} wd_last: ${o.wdLast.toString(16)} mask: ffffffffffffffff`,
      `${pad}'tsc' cs_nsec: ${o.csNs} cs_now: ${o.csNow.toString(16)} cs_last: ${o.csLast.toString(16)} mask: ffffffffffffffff`];
  }
  return [head, `${pad}'kvm-clock' wd_now: ${o.wdNow.toString(16)} wd_last: ${o.wdLast.toString(16)} mask: ffffffffffffffff`,
    `${pad}'tsc' cs_now: ${o.csNow.toString(16)} cs_last: ${o.csLast.toString(16)} mask: ffffffffffffffff`];
}

/** The 2026 rewrite's verdicts (763aacf86f): the boot CPU's frequency check, and the round robin across CPUs. */
export const watchdogFrequency = (wdNs: bigint, csNs: bigint) => [
  'clocksource: Marking clocksource tsc unstable due to frequency skew',
  `clocksource: Watchdog             kvm-clock interval: ${String(wdNs).padStart(16)}ns`,
  `clocksource: Clocksource                tsc interval: ${String(csNs).padStart(16)}ns`,
];
export const watchdogInterCpu = (lo: [number, bigint], hi: [number, bigint]) => [
  'clocksource: Marking clocksource tsc unstable due to inter CPU skew',
  `clocksource: CPU${lo[0]} ${String(lo[1]).padStart(16)} < CPU${hi[0]} ${String(hi[1]).padStart(16)} (cycles)`,
];

/** xen_banner() (arch/x86/xen/enlighten.c), from xen_start_kernel before start_kernel(). */
export const xenBanner = () => 'Booting paravirtualized kernel on Xen';
/** xen_vcpu_setup() (Debian's 2.6.32 xen kernels print it at boot and at every restore, KERN_DEBUG): "cpu N using
 *  vcpu_info at %p" -- without the per-CPU address, memory layout the model does not have. */
export const xenVcpuInfo = (cpu: number) => `cpu ${cpu} using vcpu_info`;

/** drivers/xen/manage.c do_suspend() before its stop_machine(xen_suspend): 2.6.32 without CONFIG_PREEMPT freezes no
 *  processes and prints only "suspending xenstore..."; later kernels freeze (and thaw after the resume) always. */
export const xenSuspend = (style: LogStyle) => (style === '2.6'
  ? ['suspending xenstore...']
  : ['Freezing user space processes ... (elapsed 0.00 seconds) done.']);
export const xenResumed = (style: LogStyle, cpus: number) => (style === '2.6'
  ? Array.from({ length: cpus }, (_, c) => xenVcpuInfo(c))
  : ['Restarting tasks ... done.']);
