// The scenario format: a world (hosts, one VM, its KVM rule set and guest
// kernel) and a timeline of actions. Validated with zod: unknown fields are
// errors, every error names the path, and a run never starts on a half-valid
// file. Every duration, count and u64 is bounded (the limits below, documented
// in docs/scenario-format.md, "Limits"), so that a valid scenario runs in
// bounded time and no host TSC wraps. docs/scenario-format.md documents the
// format with an example per action.
import { z } from 'zod';
import { parseDuration, shortDuration, U64 } from './units.js';
import { ScenarioError } from './scenario-error.js';
import { COMMITS, resolveRuleSet, rulesFor, type Commit, type RuleSet } from './kvm/eras.js';
import { CLOCK_FLAGS, MSRS, STEP_KINDS, eraLacks, expandSteps, exprNames, parseExpr, valueExpr, type MsrName, type Step } from './vmm/step-defs.js';
import { RECIPES } from './vmm/recipes.js';

const DAY = 86_400_000_000_000n;

/** The longest run: `until` (and any span inside a run) is at most 1000 days (~2.7 years: past the 208.5-day and
 *  497-day uptime bugs). */
export const MAX_UNTIL = 1000n * DAY;
/** Host uptime at real time 0: at most 100 years (uptime + until stays far inside u64 ns). */
export const MAX_UPTIME = 36_500n * DAY;
/** A host's TSC at the end of the run ((uptime + until) x tscKhz, plus its largest skew): at most 2^62 cycles, a
 *  quarter of the u64 range, so no host TSC wraps (29 years of uptime at 5 GHz). */
export const MAX_HOST_TSC = 1n << 62n;
/** Entries in `events`. */
export const MAX_EVENTS = 10_000;
/** Timeline entries a run may schedule: each event, 2 per vCPU per churn cycle, a preempt's end, a numad wait per
 *  vCPU, and the periodic kvmclock syncs (until / 300 s). */
export const MAX_SCHEDULED = 500_000n;
/** A churn's `run`: at least 1 us. */
export const MIN_CHURN_RUN = 1_000n;
/** Fixes per scenario (each is validated, patched, when the file is read). */
export const MAX_FIXES = 64;
/** Memory of a VM (for KSM), MiB: 16 TiB. */
export const MAX_MEMORY_MIB = 1 << 24;

/** The run-cost limits, overridable per call of parseScenario (tests use smaller budgets). */
export interface Limits { maxScheduled: bigint }
export const LIMITS: Readonly<Limits> = { maxScheduled: MAX_SCHEDULED };

/** A duration string: exact ns, within u64 (the bound for its role is checked with the timeline). */
const duration = z.string().transform((s, ctx) => {
  const ns = parseDuration(s);
  if (ns === null) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(s.length > 40 ? `${s.slice(0, 40)}...` : s)} is not a duration (like "150ms", "2.5s", "5180237s", "24h")` });
    return z.NEVER;
  }
  if (ns > U64) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is beyond 2^64-1 ns (about 584 years), the u64 every time is held in` });
    return z.NEVER;
  }
  return ns;
});

/** A 64-bit integer: a JSON string of digits (JSON numbers cannot hold 2^64) or a safe integer. */
const int64 = (min: bigint, max: bigint, what: string) => z.union([z.string(), z.number()]).transform((v, ctx) => {
  if (typeof v === 'number' ? !Number.isSafeInteger(v) : v.length > 40 || !/^-?\d+$/.test(v)) {
    ctx.addIssue({ code: 'custom', message: `${typeof v === 'string' && v.length > 40 ? `"${v.slice(0, 40)}..."` : JSON.stringify(v)} is not an integer (write large values as strings of digits)` });
    return z.NEVER;
  }
  const b = BigInt(v);
  if (b < min || b > max) {
    ctx.addIssue({ code: 'custom', message: `${v} is outside ${what}` });
    return z.NEVER;
  }
  return b;
});
const u64 = int64(0n, (1n << 64n) - 1n, 'u64 (0..2^64-1)');
const s64 = int64(-(1n << 63n), (1n << 63n) - 1n, 's64');
/** A TSC rate, kHz. At least 1 MHz: a guest calibrating a slower TSC through a scaling ratio (32 or 48 fraction
 *  bits) finds 0 kHz. At most 2^29-1 kHz (537 GHz): the guest kernel registers its TSC with NSEC_PER_SEC /
 *  (1000 x tsc_khz) in 32 bits, which a multiple of 2^29 kHz wraps to a division by zero. */
export const MIN_TSC_KHZ = 1000, MAX_TSC_KHZ = 2 ** 29 - 1;
const khz = z.number().int().min(1, 'a TSC rate of 0 kHz cannot exist')
  .min(MIN_TSC_KHZ, `at least ${MIN_TSC_KHZ} kHz (MIN_TSC_KHZ: a guest calibrating a slower TSC finds 0 kHz)`)
  .max(MAX_TSC_KHZ, `at most ${MAX_TSC_KHZ} kHz (MAX_TSC_KHZ: the kernel's 32-bit 1000 x tsc_khz divides by zero at 2^29 kHz)`);

export { RULE_SETS, type RuleSet } from './kvm/eras.js';

const Host = z.strictObject({
  name: z.string().min(1),
  /** TSC rate in kHz. */
  tscKhz: khz,
  pcpus: z.number().int().min(1).max(4096).default(8),
  /** Host uptime when the VM starts (real time 0): sets the host TSC then. */
  uptime: duration.prefault('1d'),
  /** Per-pCPU TSC skew in cycles (missing pCPUs: 0). */
  skew: z.array(s64).default([]),
  /** How far its TSC, counted at its calibrated tsc_khz, runs ahead of true time (its NTP frequency correction), in
   *  parts per 10^9: CLOCK_BOOTTIME follows true time, so kvmclock built on it (before 5.5) drifts from a masterclock page. */
  ntpDriftPpb: z.number().int().min(-1_000_000).max(1_000_000).default(0),
  /** Constant, non-stop, synchronized TSC. false: KVM sees check_tsc_unstable(). */
  tscStable: z.boolean().default(true),
  scaling: z.enum(['vmx', 'svm', 'none']).default('vmx'),
  /** The host's clocksource: the masterclock needs a TSC-based one. */
  clocksource: z.enum(['tsc', 'hpet', 'acpi_pm']).default('tsc'),
  /** KSM merging guest pages on this host (absent: off). */
  ksm: z.strictObject({
    /** max_page_sharing: 256 by default since v4.13; 0 = unlimited (the kernel before it). */
    maxPageSharing: z.number().int().min(0).max(1 << 30).default(256),
    /** Cost of one rmap_item in an rmap walk (TLB-flush IPIs), ns. */
    rmapItemCostNs: int64(1n, 1_000_000_000n, '1 ns..1 s').prefault(10_000),
  }).optional(),
  /** Other VMs on this host, for KSM: their memory and how many of their pages are not zero. */
  vms: z.array(z.strictObject({ name: z.string(), memoryMiB: z.number().int().min(1).max(MAX_MEMORY_MIB), nonZeroPages: z.number().int().min(0) }))
    .max(1024).default([]),
});

const Guest = z.strictObject({
  kernel: z.string().default('linux'),
  bits: z.union([z.literal(32), z.literal(64)]).default(64),
  hz: z.number().int().min(24).max(10000).default(1000),
  /** kvm-clock available (KVM_FEATURE_CLOCKSOURCE2). */
  kvmclock: z.boolean().default(true),
  /** KVM_FEATURE_CLOCKSOURCE_STABLE_BIT: the guest trusts PVCLOCK_TSC_STABLE_BIT. */
  stableBit: z.boolean().default(true),
  /** CPUID invariant TSC (constant + nonstop): kvm-clock's rating drops to 299 below tsc's 300. */
  invariantTsc: z.boolean().default(false),
  /** CPUID TSC_ADJUST; false is clearcpuid=tsc_adjust. */
  tscAdjust: z.boolean().default(true),
  /** tsc=reliable: no warp check at hot-add, no clocksource watchdog on tsc. */
  tscReliable: z.boolean().default(false),
  /** The ~v4.10-4.1x clamp of TSC ADJUST compensation to 0..0x7FFFFFFF. */
  tscAdjustClamp: z.boolean().default(false),
  /** timekeeping's max_raw_delta check (modern): a huge clocksource delta reads as 0, not as a leap. */
  maxRawDelta: z.boolean().default(true),
  /** A task in D state that khungtaskd watches. */
  dStateTask: z.boolean().default(false),
  /** CONFIG_RCU_CPU_STALL_TIMEOUT, seconds. */
  rcuStallTimeout: z.number().int().min(3).max(300).default(21),
  /** watchdog_thresh, seconds (soft lockup at twice it). */
  watchdogThresh: z.number().int().min(1).max(60).default(10),
  hungTaskTimeout: z.number().int().min(1).default(120),
  /** Hyper-V enlightenments on KVM (hv_time): the guest reads the reference TSC page (or the reference counter). */
  hypervClock: z.boolean().default(false),
  /** ... and asked for re-enlightenment notifications, so KVM leaves the page unchanged across KVM_SET_CLOCK. */
  hvReenlightenment: z.boolean().default(false),
  /** Xen PV xen_sched_clock (arch/x86/xen/time.c): 'runstate' (≤2.6.35, ≤2.6.32.17: the vCPU's running + blocked
   *  time), 'xen-clock' (8a22b9996b00, 2.6.32.18+: NOW(), the host's uptime), 'xen-clock-offset' (≈5.0+: NOW() minus
   *  the value at init, continued across restore). */
  xenSchedClock: z.enum(['runstate', 'xen-clock', 'xen-clock-offset']).default('xen-clock-offset'),
  /** An NTP daemon that has converged: the timekeeper's mult is corrected by the clocksource's rate error against
   *  true time (adjtimex frequency), as ntpd/chronyd leave it after days. */
  ntp: z.boolean().default(false),
  /** Guest-physical address of the per-CPU kvmclock area (hv_clock): CPU n's pvti is at + 64 n (printed by kvm-clock). */
  kvmclockPa: u64.prefault('2147745792'),
  /** Force sched_clock unstable (the kernel-side fix for seed 001); default: what the CPU flags imply. */
  schedClockStable: z.boolean().optional(),
  /** The guest's printk/RCU wording generation. */
  logStyle: z.enum(['2.6', '3.x', '4.x', '6.x']).default('6.x'),
  /** The clocksource watchdog's form: 'per-cpu' (to 2025), 'boot-cpu' (the 2026 rewrite, 763aacf86f); default:
   *  what `kernel` implies (the rewrite from 7.1). */
  clocksourceWatchdog: z.enum(['per-cpu', 'boot-cpu']).optional(),
});

const Vm = z.strictObject({
  name: z.string().default('vm0'),
  host: z.string(),
  vcpus: z.number().int().min(1).max(64),
  maxVcpus: z.number().int().min(1).max(64).optional(),
  /** Guest TSC rate (KVM_SET_TSC_KHZ); absent: the first host's rate. */
  tscKhz: khz.optional(),
  /** Guest memory (for KSM), MiB, and how many of its pages are not zero. */
  memoryMiB: z.number().int().min(1).max(MAX_MEMORY_MIB).default(1024),
  nonZeroPages: z.number().int().min(0).default(0),
  /** pCPU each vCPU starts on (default vCPU i on pCPU i). */
  pcpus: z.array(z.number().int().min(0)).optional(),
  kvm: z.strictObject({
    /** The KVM era (sim/kvm/eras.ts); the old names v2.6.37, v5.x and modern are aliases. */
    rules: z.string().default('6.7+').transform((name, ctx): RuleSet => {
      const r = resolveRuleSet(name);
      if (typeof r === 'string') return r;
      ctx.addIssue({ code: 'custom', message: r.error });
      return z.NEVER;
    }),
    /** Commits added to (true) or removed from (false) the era: a backport, or a bisect point. */
    commits: z.partialRecord(z.enum(Object.keys(COMMITS) as [Commit, ...Commit[]]), z.boolean()).default({}),
    /** kvmclock_periodic_sync (KVMCLOCK_SYNC_PERIOD = 300 s). */
    periodicSync: z.boolean().default(true),
  }).prefault({}),
  guest: Guest.prefault({}),
  /** The hypervisor: KVM (default) or Xen (PV guest). */
  hypervisor: z.enum(['kvm', 'xen']).default('kvm'),
  xen: z.strictObject({
    /** tsc_mode: 0 default, 1 always_emulate, 2 native, 3 native_paravirt. */
    tscMode: z.union([z.literal(0), z.literal(1), z.literal(2), z.literal(3)]).default(0),
    /** The invariant-TSC CPUID bit (nonstop_tsc) as the guest sees it; masking it is the Xen-side fix. */
    cpuidNonstopTsc: z.boolean().default(true),
  }).prefault({}),
  /** The VMM (QEMU) and what differs between its versions. */
  vmm: z.strictObject({
    /** '2.9+' reads kvmclock from guest memory at cont when KVM_GET_CLOCK is not flagged reliable; '<2.9' does not. */
    qemu: z.enum(['<2.9', '2.9+']).default('2.9+'),
    /** Restoring a TSC by value (KVM_PUT_FULL_STATE) to the first guest entry: the guest TSC runs ahead of kvmclock by
     *  it. "about 100ms last time i checked" (Tosatti, seed 002, citing QEMU 6053a86fe7bd). */
    restoreWindow: duration.prefault('100ms'),
    /** Set the VM's TSC rate with the VM ioctl (KVM 6.0+, ffbb61d09fc5) before creating vCPUs, so a hot-added vCPU is
     *  created at it. QEMU (to 10.x) sets it per vCPU after creation instead (Dongli Zhang's 2026 patch proposes it). */
    vmWideTscKhz: z.boolean().default(false),
  }).prefault({}),
  /** The VMM's migration procedure when an event does not name one. */
  migration: z.enum(['legacy', 'precise', 'precise-scaled']).default('legacy'),
});

/** The anomaly types a run reports (sim/types.ts AnomalyType). */
export const ANOMALY_TYPES = ['time-backwards', 'time-jump', 'time-stall', 'tsc-warp', 'tsc-adjust-compensate', 'tsc-unstable',
  'masterclock-off', 'soft-lockup', 'rcu-stall', 'hung-task', 'hv-page-mismatch'] as const;
const anomalyType = z.enum(ANOMALY_TYPES);

const at = { at: duration };
const vcpu = z.number().int().min(0);

// ---- VMM steps at the ioctl level (sim/vmm/steps.ts; docs/vmm-steps.md) ----------------------------------------
/** A numeric field of a step: an integer (a string of digits for 64-bit values) or "=expression" over saved values. */
const stepValue = z.union([z.number().int().refine(Number.isSafeInteger, 'not a safe integer (write large values as strings)'), z.string().max(2000)])
  .superRefine((v, ctx) => {
    try { valueExpr(v); } catch (e) { ctx.addIssue({ code: 'custom', message: (e as Error).message }); }
  });
const stepName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a name: letters, digits, _');
const stepCond = {
  /** Taken only when this expression is not 0 (evaluated when the step runs). */
  if: z.string().max(2000).superRefine((v, ctx) => {
    try { parseExpr(v); } catch (e) { ctx.addIssue({ code: 'custom', message: (e as Error).message }); }
  }).optional(),
  /** Skipped (and recorded as such) when the era's KVM lacks the ioctl, as a VMM that probes KVM_CAP_* does. */
  optional: z.boolean().optional(),
};
const msr = z.enum(Object.keys(MSRS) as [MsrName, ...MsrName[]]);
const attr = z.literal('KVM_VCPU_TSC_OFFSET');
const guestWrmsr = z.enum(['IA32_TSC', 'IA32_TSC_ADJUST', 'IA32_TSC_DEADLINE', 'MSR_KVM_SYSTEM_TIME', 'MSR_KVM_SYSTEM_TIME_NEW']);
const guestRdmsr = z.enum(['IA32_TSC', 'IA32_TSC_ADJUST', 'IA32_TSC_DEADLINE']);
const clockFlags = z.union([z.array(z.enum(Object.keys(CLOCK_FLAGS) as [keyof typeof CLOCK_FLAGS, ...(keyof typeof CLOCK_FLAGS)[]])).max(3), stepValue]);
/** A step inside a recipe or a `steps` list: the timeline's step actions without `at`, plus `wait`. */
export const StepSchema = z.discriminatedUnion('do', [
  z.strictObject({ do: z.literal('KVM_CREATE_VM'), ...stepCond, host: z.string() }),
  z.strictObject({ do: z.literal('KVM_CREATE_VCPU'), ...stepCond, pcpu: z.number().int().min(0).optional() }),
  z.strictObject({ do: z.literal('KVM_SET_TSC_KHZ'), ...stepCond, vcpu: vcpu.optional(), khz: stepValue }),
  z.strictObject({ do: z.literal('KVM_GET_TSC_KHZ'), ...stepCond, vcpu: vcpu.optional(), as: stepName.optional() }),
  z.strictObject({ do: z.literal('KVM_SET_MSRS'), ...stepCond, vcpu, msr, value: stepValue }),
  z.strictObject({ do: z.literal('KVM_GET_MSRS'), ...stepCond, vcpu, msr, as: stepName.optional() }),
  z.strictObject({ do: z.literal('KVM_GET_CLOCK'), ...stepCond, as: stepName.optional() }),
  z.strictObject({ do: z.literal('KVM_SET_CLOCK'), ...stepCond, clock: stepValue, flags: clockFlags.optional(), realtime: stepValue.optional(), host_tsc: stepValue.optional() }),
  z.strictObject({ do: z.literal('KVM_GET_DEVICE_ATTR'), ...stepCond, vcpu, attr, as: stepName.optional() }),
  z.strictObject({ do: z.literal('KVM_SET_DEVICE_ATTR'), ...stepCond, vcpu, attr, value: stepValue }),
  z.strictObject({ do: z.literal('KVM_KVMCLOCK_CTRL'), ...stepCond, vcpu }),
  z.strictObject({ do: z.literal('KVM_RUN'), ...stepCond, vcpu: vcpu.optional() }),
  z.strictObject({ do: z.literal('pause'), ...stepCond }),
  z.strictObject({ do: z.literal('read-pvclock'), ...stepCond, vcpu, as: stepName }),
  z.strictObject({ do: z.literal('let'), ...stepCond, as: stepName, value: stepValue }),
  z.strictObject({ do: z.literal('guest-rdtsc'), ...stepCond, vcpu, as: stepName.optional() }),
  z.strictObject({ do: z.literal('guest-rdmsr'), ...stepCond, vcpu, msr: guestRdmsr, as: stepName.optional() }),
  z.strictObject({ do: z.literal('guest-kvmclock'), ...stepCond, vcpu, as: stepName.optional() }),
  z.strictObject({ do: z.literal('guest-clock_gettime'), ...stepCond, vcpu, clock: z.enum(['CLOCK_MONOTONIC', 'CLOCK_REALTIME']), as: stepName.optional() }),
  z.strictObject({ do: z.literal('guest-wallclock'), ...stepCond, vcpu, as: stepName.optional() }),
  z.strictObject({ do: z.literal('guest-wrmsr'), ...stepCond, vcpu, msr: guestWrmsr, value: stepValue }),
  z.strictObject({ do: z.literal('KVM_GET_CLOCK_GUEST'), ...stepCond, vcpu, as: stepName.optional() }),
  z.strictObject({ do: z.literal('KVM_SET_CLOCK_GUEST'), ...stepCond, vcpu, pvti: stepName }),
  z.strictObject({ do: z.literal('wait'), ...stepCond, duration: z.string().refine((d) => parseDuration(d) !== null, 'not a duration') }),
]);
export type StepSpec = z.output<typeof StepSchema>;
const Event = z.discriminatedUnion('do', [
  z.strictObject({ ...at, do: z.literal('stop') }),
  z.strictObject({ ...at, do: z.literal('cont'), kvmclockCtrl: z.boolean().default(true) }),
  z.strictObject({
    ...at, do: z.literal('migrate'), to: z.string(),
    /** legacy: TSC by value (MSRs) + KVM_SET_CLOCK; precise: the KVM_VCPU_TSC_OFFSET recipe; precise-scaled: it, accounting for TSC scaling. */
    procedure: z.enum(['legacy', 'precise', 'precise-scaled']).optional(),
    downtime: duration,
    /** TSC restored to first entry on the destination (default vm.vmm.restoreWindow); a destination left paused waits here. */
    window: duration.optional(),
    /** Destination pCPU per vCPU (default: same numbers). */
    pcpus: z.array(z.number().int().min(0)).max(64).optional(),
  }),
  z.strictObject({ ...at, do: z.literal('save-restore'), downtime: duration, window: duration.optional(),
    procedure: z.enum(['legacy', 'precise', 'precise-scaled']).optional() }),
  z.strictObject({ ...at, do: z.literal('hot-add'), pcpu: z.number().int().min(0).optional() }),
  z.strictObject({ ...at, do: z.literal('move-vcpu'), vcpu, pcpu: z.number().int().min(0) }),
  z.strictObject({ ...at, do: z.literal('preempt'), vcpu, duration }),
  z.strictObject({
    ...at, do: z.literal('churn'), vcpus: z.array(vcpu).max(64).optional(), run: duration, wait: duration, until: duration,
  }),
  z.strictObject({ ...at, do: z.literal('numad-migrate') }),
  z.strictObject({ ...at, do: z.literal('host-suspend'), host: z.string(), duration, tsc: z.enum(['reset', 'rewind']).default('reset'), rewind: u64.prefault('0') }),
  z.strictObject({
    ...at, do: z.literal('recipe'),
    /** A built-in recipe (sim/vmm/recipes.ts) ... */
    recipe: z.string().optional(),
    /** ... or the steps themselves (a recipe copied and edited): steps, `wait`s, and groups {each: "vcpu", if, steps}. */
    steps: z.array(z.unknown()).max(1000).optional(),
    /** The recipe's parameters: $to (default: the VM's current host), $downtime (default 0s), $window (default
     *  vm.vmm.restoreWindow). */
    to: z.string().optional(), downtime: duration.optional(), window: duration.optional(),
  }),
  z.strictObject({ ...at, do: z.literal('KVM_CREATE_VM'), ...stepCond, host: z.string() }),
  z.strictObject({ ...at, do: z.literal('KVM_CREATE_VCPU'), ...stepCond, pcpu: z.number().int().min(0).optional() }),
  z.strictObject({ ...at, do: z.literal('KVM_SET_TSC_KHZ'), ...stepCond, vcpu: vcpu.optional(), khz: stepValue }),
  z.strictObject({ ...at, do: z.literal('KVM_GET_TSC_KHZ'), ...stepCond, vcpu: vcpu.optional(), as: stepName.optional() }),
  z.strictObject({ ...at, do: z.literal('KVM_SET_MSRS'), ...stepCond, vcpu, msr, value: stepValue }),
  z.strictObject({ ...at, do: z.literal('KVM_GET_MSRS'), ...stepCond, vcpu, msr, as: stepName.optional() }),
  z.strictObject({ ...at, do: z.literal('KVM_GET_CLOCK'), ...stepCond, as: stepName.optional() }),
  z.strictObject({ ...at, do: z.literal('KVM_SET_CLOCK'), ...stepCond, clock: stepValue, flags: clockFlags.optional(), realtime: stepValue.optional(), host_tsc: stepValue.optional() }),
  z.strictObject({ ...at, do: z.literal('KVM_GET_DEVICE_ATTR'), ...stepCond, vcpu, attr, as: stepName.optional() }),
  z.strictObject({ ...at, do: z.literal('KVM_SET_DEVICE_ATTR'), ...stepCond, vcpu, attr, value: stepValue }),
  z.strictObject({ ...at, do: z.literal('KVM_KVMCLOCK_CTRL'), ...stepCond, vcpu }),
  z.strictObject({ ...at, do: z.literal('KVM_RUN'), ...stepCond, vcpu: vcpu.optional() }),
  z.strictObject({ ...at, do: z.literal('pause'), ...stepCond }),
  z.strictObject({ ...at, do: z.literal('read-pvclock'), ...stepCond, vcpu, as: stepName }),
  z.strictObject({ ...at, do: z.literal('let'), ...stepCond, as: stepName, value: stepValue }),
  z.strictObject({ ...at, do: z.literal('guest-rdtsc'), ...stepCond, vcpu, as: stepName.optional() }),
  z.strictObject({ ...at, do: z.literal('guest-rdmsr'), ...stepCond, vcpu, msr: guestRdmsr, as: stepName.optional() }),
  z.strictObject({ ...at, do: z.literal('guest-kvmclock'), ...stepCond, vcpu, as: stepName.optional() }),
  z.strictObject({ ...at, do: z.literal('guest-clock_gettime'), ...stepCond, vcpu, clock: z.enum(['CLOCK_MONOTONIC', 'CLOCK_REALTIME']), as: stepName.optional() }),
  z.strictObject({ ...at, do: z.literal('guest-wallclock'), ...stepCond, vcpu, as: stepName.optional() }),
  z.strictObject({ ...at, do: z.literal('guest-wrmsr'), ...stepCond, vcpu, msr: guestWrmsr, value: stepValue }),
  z.strictObject({ ...at, do: z.literal('KVM_GET_CLOCK_GUEST'), ...stepCond, vcpu, as: stepName.optional() }),
  z.strictObject({ ...at, do: z.literal('KVM_SET_CLOCK_GUEST'), ...stepCond, vcpu, pvti: stepName }),
  z.strictObject({
    ...at, do: z.literal('wrmsr'), vcpu, msr: z.enum(['IA32_TSC', 'IA32_TSC_ADJUST']),
    value: int64(-(1n << 63n), (1n << 64n) - 1n, 'an MSR value (-2^63..2^64-1)').optional(),
    /** Read-modify-write (tsc_sync.c's compensation: rdmsr, add, wrmsr): the MSR's value at that instant plus this. */
    add: s64.optional(),
    by: z.enum(['guest', 'host']).default('guest'),
  }),
]);

export const ScenarioSchema = z.strictObject({
  name: z.string().min(1),
  description: z.string().default(''),
  /** Where each parameter comes from, by path: "log: ..." (read off the incident's log), "derived: ..." (solved from
   *  the log's numbers, with the formula), "source: ..." (a kernel or VMM source), "assumed: ..." (not knowable). */
  provenance: z.record(z.string(), z.string()).default({}),
  seed: u64.prefault('1'),
  /** The run ends at this real time (VM start = 0). */
  until: duration,
  /** How the guest's clocks are judged (sim/observer.ts): a clock's rate against real time at the resolution of
   *  `period` (a gain or loss beyond max(period / 2048, 1 ms) per period), from real time `from` on. */
  observe: z.strictObject({ period: duration.prefault('10ms'), from: duration.prefault('0s') }).prefault({}),
  hosts: z.array(Host).min(1).max(64),
  vm: Vm,
  events: z.array(Event).max(MAX_EVENTS, `at most ${MAX_EVENTS} events (MAX_EVENTS)`).default([]),
  /** The anomaly types that make up the incident (default: every type where time went wrong); a fix cures it
   *  when none of them remain. */
  symptoms: z.array(anomalyType).optional(),
  /** Lines of the incident's real log, verbatim ("[5180237.377019] CPU8 has been hot-added"), to compare with the
   *  replay: `tsclab start` prints each beside the replay's first line of the same form. The simulation never reads
   *  them (they are the answer, not a parameter). */
  log: z.array(z.string().max(1000)).max(200).optional(),
  /** Named variants that cure the problem (or part of it, or, as a counter-example, not): JSON merge patches
   *  (RFC 7386) of this file, each with what it is expected to do -- `cures`: the symptoms gone with it, `leaves`:
   *  those still there (default: it cures every symptom). `npm start` fails when a run says otherwise. */
  fixes: z.array(z.strictObject({ name: z.string().min(1), description: z.string().default(''), patch: z.record(z.string(), z.unknown()),
    cures: z.array(anomalyType).optional(), leaves: z.array(anomalyType).optional() }))
    .max(MAX_FIXES, `at most ${MAX_FIXES} fixes`).default([]),
});

export type Scenario = z.output<typeof ScenarioSchema>;
export type ScenarioInput = z.input<typeof ScenarioSchema>;
export type HostSpec = Scenario['hosts'][number];
export type GuestSpec = Scenario['vm']['guest'];
export type ScenarioEvent = Scenario['events'][number];

export { ScenarioError } from './scenario-error.js';

/** A recipe event's parameters: $to (the VM's host when the recipe starts, unless given), $downtime, $window. */
export function recipeParams(s: Scenario, e: { to?: string; downtime?: bigint; window?: bigint }, host: string): Record<string, string> {
  return { to: e.to ?? host, downtime: `${e.downtime ?? 0n}ns`, window: `${e.window ?? s.vm.vmm.restoreWindow}ns` };
}
const stepDo = (raw: unknown) => (raw && typeof raw === 'object' && 'do' in raw ? `: ${String((raw as { do: unknown }).do)}` : '');

type Path = (string | number)[];
/** A problem's path as written in the file: `events[2].vcpu`; a key that is not a plain name is quoted, so that a
 *  provenance key such as "hosts[0].tscKhz, hosts[0].pcpus" reads as one key: `provenance["hosts[0].tscKhz, ..."]`. */
const fmtPath = (path: readonly PropertyKey[]) => path.reduce<string>((acc, p) => {
  if (typeof p === 'number') return `${acc}[${p}]`;
  const k = String(p);
  if (!/^[A-Za-z_$][\w$]*$/.test(k)) return `${acc}[${JSON.stringify(k)}]`;
  return acc ? `${acc}.${k}` : k;
}, '');
const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Sets a key as an own data property (a key "__proto__" from JSON stays a key, it does not set the prototype). */
function put(o: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
  else o[key] = value;
}

/** RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces. Iterative: any depth. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const root: Record<string, unknown> = isObject(target) ? { ...target } : {};
  const work: [Record<string, unknown>, Record<string, unknown>][] = [[root, patch]];
  for (let job = work.pop(); job; job = work.pop()) {
    const [out, p] = job;
    for (const [key, value] of Object.entries(p)) {
      if (value === null) delete out[key];
      else if (isObject(value)) {
        const cur = out[key];
        const next: Record<string, unknown> = isObject(cur) ? { ...cur } : {};
        put(out, key, next);
        work.push([next, value]);
      } else put(out, key, value);
    }
  }
  return root;
}

/** A problem: where, and what. */
interface Problem { path: string; message: string }
/** Control and direction characters from the file (in a key, say) escaped: one problem stays one line, as written. */
const printable = (s: string) => s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g,
  (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
const show = (p: Problem) => `${printable(p.path) || '(top level)'}: ${printable(p.message)}`;

/** The path string's segments: 'events[2].vcpu' -> ["events", 2, "vcpu"]; 'a["b.c"]' -> ["a", "b.c"]. */
const segments = (path: string): Path => [...path.matchAll(/\[("(?:[^"\\]|\\.)*")\]|\[(\d+)\]|([^.[\]]+)/g)]
  .map((m) => (m[1] !== undefined ? (JSON.parse(m[1]) as string) : m[2] !== undefined ? Number(m[2]) : m[3]));

/** A fix's problem, named by where it comes from: inside the patch when the patch writes that path, else the path
 *  of the patched scenario. */
function fixProblem(i: number, name: string, patch: unknown, p: Problem): string {
  let cur: unknown = patch;
  for (const seg of segments(p.path)) {
    if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, seg)) {
      return `fixes[${i}] (${printable(JSON.stringify(name))}), once its patch is applied: ${show(p)}`;
    }
    cur = (cur as Record<string | number, unknown>)[seg];
  }
  return `fixes[${i}].patch${p.path ? (p.path.startsWith('[') ? '' : '.') + printable(p.path) : ''}: ${printable(p.message)}`;
}

/** Parses and checks a scenario (the JSON value); throws ScenarioError naming each bad field. Every fix is applied
 *  and checked too, so a file is refused as a whole. `limits` lowers (or raises) the run-cost budgets. */
export function parseScenario(raw: unknown, file = '<scenario>', limits: Partial<Limits> = {}): Scenario {
  return parseWithFixes(raw, file, { ...LIMITS, ...limits }).base;
}

/** The scenario with fix `name` applied (its fixes list dropped), checked like any scenario. */
export function parseScenarioFix(raw: unknown, name: string, file = '<scenario>', limits: Partial<Limits> = {}): Scenario {
  const { base, fixed } = parseWithFixes(raw, file, { ...LIMITS, ...limits });
  const s = fixed.get(name);
  if (!s) throw new ScenarioError(file, [`fixes: no fix named "${name}" (it has: ${base.fixes.map((f) => f.name).join(', ') || 'none'})`]);
  return s;
}

function parseWithFixes(raw: unknown, file: string, lim: Limits): { base: Scenario; fixed: Map<string, Scenario> } {
  const base = parseOne(raw, lim);
  if ('problems' in base) throw new ScenarioError(file, base.problems.map(show));
  const s = base.scenario;
  const problems: string[] = [];
  const fixed = new Map<string, Scenario>();
  const rawFixes = (raw as { fixes?: { patch: unknown }[] }).fixes ?? [];
  s.fixes.forEach((f, i) => {
    if (fixed.has(f.name)) { problems.push(`fixes[${i}].name: two fixes are named "${f.name}"`); return; }
    const patch = rawFixes[i].patch;
    const patched = mergePatch(raw, { ...(patch as object), fixes: null }) as Record<string, unknown>;
    const r = parseOne({ ...patched, name: `${s.name} [${f.name}]` }, lim);
    if ('problems' in r) problems.push(...r.problems.map((p) => fixProblem(i, f.name, patch, p)));
    else fixed.set(f.name, r.scenario);
  });
  if (problems.length) throw new ScenarioError(file, problems);
  return { base: s, fixed };
}

/** One scenario value against the schema and the timeline's rules: the scenario or its problems. */
function parseOne(raw: unknown, lim: Limits): { scenario: Scenario } | { problems: Problem[] } {
  const r = ScenarioSchema.safeParse(raw);
  if (!r.success) return { problems: r.error.issues.map((i) => ({ path: fmtPath(i.path), message: i.message })) };
  const problems = check(r.data, lim);
  return problems.length ? { problems } : { scenario: r.data };
}

const SYNC_PERIOD = 300n * 1_000_000_000n; // KVMCLOCK_SYNC_PERIOD: the periodic kvmclock sync

function check(s: Scenario, lim: Limits): Problem[] {
  const out: Problem[] = [];
  const problem = (path: string, message: string) => out.push({ path, message });
  // ---- durations within their role's limit
  const within = (path: string, ns: bigint, max: bigint, name: string, why = '') => {
    if (ns > max) problem(path, `${shortDuration(ns)} is above the limit of ${shortDuration(max)} (${name}${why})`);
  };
  within('until', s.until, MAX_UNTIL, 'MAX_UNTIL');
  if (s.observe.period === 0n) problem('observe.period', 'must be above 0');
  within('observe.period', s.observe.period, MAX_UNTIL, 'MAX_UNTIL');
  within('observe.from', s.observe.from, MAX_UNTIL, 'MAX_UNTIL');
  s.events.forEach((e, i) => {
    for (const k of ['at', 'downtime', 'duration', 'run', 'wait', 'until'] as const) {
      const v = (e as Partial<Record<typeof k, bigint>>)[k];
      if (typeof v === 'bigint') within(`events[${i}].${k}`, v, MAX_UNTIL, 'MAX_UNTIL', ': no time in a run is past the longest run');
    }
  });

  // ---- the world
  const hosts = new Map(s.hosts.map((h) => [h.name, h]));
  if (hosts.size !== s.hosts.length) problem('hosts', 'two hosts share a name');
  const host = hosts.get(s.vm.host);
  if (!host) problem('vm.host', `"${s.vm.host}" is not a host (hosts: ${[...hosts.keys()].join(', ')})`);
  s.hosts.forEach((h, i) => {
    if (h.skew.length > h.pcpus) problem(`hosts[${i}].skew`, `${h.skew.length} values for ${h.pcpus} pCPUs`);
    h.vms.forEach((v, j) => { if (v.nonZeroPages > v.memoryMiB * 256) problem(`hosts[${i}].vms[${j}].nonZeroPages`, `${v.nonZeroPages} exceeds its ${v.memoryMiB * 256} pages`); });
    within(`hosts[${i}].uptime`, h.uptime, MAX_UPTIME, 'MAX_UPTIME');
    if (h.uptime > MAX_UPTIME || s.until > MAX_UNTIL) return;
    // the host TSC: uptime x kHz at real time 0, (uptime + until) x kHz at the end; suspends only lower it
    const khz = BigInt(h.tscKhz), start = (h.uptime * khz) / 1_000_000n, end = ((h.uptime + s.until) * khz) / 1_000_000n;
    const skew = h.skew.reduce((a, b) => (b > a ? b : a), 0n);
    if (end + skew > MAX_HOST_TSC) {
      problem(`hosts[${i}].uptime`, `the host's TSC would reach ${end + skew} cycles by the end of the run ((uptime + until) x tscKhz` +
        `${skew ? ' + skew' : ''}), above the limit of 2^62 = ${MAX_HOST_TSC} (MAX_HOST_TSC): lower uptime, until or tscKhz`);
    }
    h.skew.forEach((k, j) => {
      if (start + k < 0n) problem(`hosts[${i}].skew[${j}]`, `pCPU ${j}'s TSC would start at ${start + k} (uptime x tscKhz ${k < 0n ? '-' : '+'} ${k < 0n ? -k : k}): a TSC is never below 0`);
    });
  });
  if (s.vm.nonZeroPages > s.vm.memoryMiB * 256) problem('vm.nonZeroPages', `${s.vm.nonZeroPages} exceeds its ${s.vm.memoryMiB * 256} pages`);
  const maxVcpus = s.vm.maxVcpus ?? s.vm.vcpus;
  if (maxVcpus < s.vm.vcpus) problem('vm.maxVcpus', `${maxVcpus} is below vm.vcpus (${s.vm.vcpus})`);
  (s.vm.pcpus ?? []).forEach((p, i) => {
    if (host && p >= host.pcpus) problem(`vm.pcpus[${i}]`, `${p} is not a pCPU of ${host.name} (it has ${host.pcpus})`);
  });
  if (s.vm.pcpus && s.vm.pcpus.length !== s.vm.vcpus) problem('vm.pcpus', `${s.vm.pcpus.length} entries for ${s.vm.vcpus} vCPUs`);

  // ---- the timeline, walked with the vCPU count, the current host and each host's TSC (for suspends)
  let vcpus = s.vm.vcpus;
  let cur = host;
  let last = 0n;
  const tsc = new Map(s.hosts.map((h) => [h.name, { base: (h.uptime * BigInt(h.tscKhz)) / 1_000_000n + (h.skew[0] ?? 0n), epoch: 0n }]));
  let scheduled = BigInt(s.events.length), churnSteps = 0n, biggest = { i: -1, n: 0n };
  // the VMM steps: the KVM instance's vCPUs (0 after KVM_CREATE_VM), whether the VM runs (null: depends on a
  // condition), the names saved so far, the era
  const rules = rulesFor(s.vm.kvm.rules, s.vm.kvm.commits);
  let kvmVcpus = s.vm.vcpus;
  let running: boolean | null = true;
  const names = new Set<string>();
  const checkStep = (st: StepSpec, p: string) => {
    const lacks = eraLacks(rules, st as Step);
    if (lacks && !st.optional) problem(p, `${lacks} (the scenario's rule set; add "optional": true to skip it there, as a VMM that probes does)`);
    const refs = new Set<string>();
    try {
      if (st.if !== undefined) exprNames(parseExpr(st.if), refs);
      for (const k of ['khz', 'value', 'clock', 'flags', 'realtime', 'host_tsc'] as const) {
        const v = (st as Record<string, unknown>)[k];
        if (typeof v === 'string' || typeof v === 'number') { const n = valueExpr(v); if (n) exprNames(n, refs); }
      }
    } catch { /* the schema reported it */ }
    if (st.do === 'KVM_SET_CLOCK_GUEST') refs.add(st.pvti);
    for (const r of refs) if (!names.has(r)) problem(p, `"${r}" is not saved by any earlier step (an "as" names what a step read)`);
    if ('as' in st && st.as) names.add(st.as);
    if ('vcpu' in st && st.vcpu !== undefined && st.vcpu >= kvmVcpus) problem(`${p}.vcpu`, `${st.vcpu} is not a vCPU of this VM (it has ${kvmVcpus} now)`);
    const conditional = st.if !== undefined;
    switch (st.do) {
      case 'KVM_CREATE_VM': {
        const h = hosts.get(st.host);
        if (!h) { problem(`${p}.host`, `"${st.host}" is not a host`); break; }
        if (running === true) problem(p, 'KVM_CREATE_VM while the VM runs: pause it (or stop) first');
        cur = h;
        kvmVcpus = 0;
        break;
      }
      case 'KVM_CREATE_VCPU':
        if (kvmVcpus >= vcpus) problem(p, `the VM already has its ${vcpus} vCPUs (a new CPU for the guest is the hot-add action)`);
        if (st.pcpu !== undefined) checkPcpu(st.pcpu, cur, p);
        kvmVcpus++;
        break;
      case 'KVM_RUN':
        if (kvmVcpus !== vcpus) problem(p, `KVM_RUN with ${kvmVcpus} of the guest's ${vcpus} vCPUs created`);
        running = conditional && running !== true ? null : true;
        break;
      case 'pause': running = conditional && running !== false ? null : false; break;
      case 'wait':
        if (kvmVcpus !== vcpus) problem(p, `time passes while the VM has ${kvmVcpus} of its ${vcpus} vCPUs: create them first`);
        break;
      default: break;
    }
  };
  const checkPcpu = (pc: number, h: HostSpec | undefined, p: string) => {
    if (h && pc >= h.pcpus) problem(`${p}.pcpu`, `${pc} is not a pCPU of ${h.name} (it has ${h.pcpus})`);
  };
  s.events.forEach((e, i) => {
    const p = `events[${i}]`;
    if (e.at < last) problem(`${p}.at`, `events must be in time order (${e.at} ns is before the previous event)`);
    last = e.at;
    if (e.at > s.until) problem(`${p}.at`, 'after the end of the run (until)');
    const checkVcpu = (v: number) => {
      if (v >= vcpus) problem(`${p}.vcpu`, `${v} is not a vCPU of ${s.vm.name} (it has ${vcpus})`);
    };
    const checkPcpu = (pc: number, h = cur) => {
      if (h && pc >= h.pcpus) problem(`${p}.pcpu`, `${pc} is not a pCPU of ${h.name} (it has ${h.pcpus})`);
    };
    switch (e.do) {
      case 'migrate': {
        const to = hosts.get(e.to);
        if (!to) problem(`${p}.to`, `"${e.to}" is not a host`);
        else {
          (e.pcpus ?? []).forEach((pc, j) => { if (pc >= to.pcpus) problem(`${p}.pcpus[${j}]`, `${pc} is not a pCPU of ${to.name}`); });
          if ((e.procedure ?? s.vm.migration) === 'precise-scaled' && to.scaling === 'none' && to.tscKhz !== (s.vm.tscKhz ?? host?.tscKhz)) {
            problem(`${p}.procedure`, `precise-scaled needs TSC scaling on ${to.name} to keep the guest's rate`);
          }
          cur = to;
        }
        break;
      }
      case 'hot-add':
        kvmVcpus++;
        if (vcpus >= maxVcpus) problem(p, `${s.vm.name} already has its maximum of ${maxVcpus} vCPUs`);
        if (e.pcpu !== undefined) checkPcpu(e.pcpu);
        vcpus++;
        break;
      case 'move-vcpu': checkVcpu(e.vcpu); checkPcpu(e.pcpu); break;
      case 'preempt': checkVcpu(e.vcpu); scheduled++; break;
      case 'churn': {
        (e.vcpus ?? []).forEach(checkVcpu);
        if (e.until <= e.at) problem(`${p}.until`, 'must be after at');
        if (e.run < MIN_CHURN_RUN) problem(`${p}.run`, `must be at least ${shortDuration(MIN_CHURN_RUN)} (MIN_CHURN_RUN)`);
        else {
          // each vCPU waits, then runs, until the churn's end: two timeline entries per cycle
          const end = e.until < s.until ? e.until : s.until, step = e.run + e.wait;
          const cycles = end > e.at ? (end - e.at + step - 1n) / step : 0n;
          const n = 2n * cycles * BigInt(e.vcpus?.length ?? vcpus);
          churnSteps += n;
          scheduled += n;
          if (n > biggest.n) biggest = { i, n };
        }
        break;
      }
      case 'wrmsr':
        checkVcpu(e.vcpu);
        if ((e.value === undefined) === (e.add === undefined)) problem(p, 'a wrmsr needs exactly one of "value" (a write) and "add" (read, add, write)');
        if (e.msr === 'IA32_TSC_ADJUST' && !s.vm.guest.tscAdjust) problem(`${p}.msr`, 'the guest has no IA32_TSC_ADJUST (guest.tscAdjust is false)');
        break;
      case 'host-suspend': {
        const h = hosts.get(e.host), line = tsc.get(e.host);
        if (!h || !line) { problem(`${p}.host`, `"${e.host}" is not a host`); break; }
        if (e.at < line.epoch) { problem(p, `${e.host} is still suspended then (until ${line.epoch} ns)`); break; }
        const before = line.base + ((e.at - line.epoch) * BigInt(h.tscKhz)) / 1_000_000n;
        if (e.tsc === 'rewind' && e.rewind > before) {
          problem(`${p}.rewind`, `${e.rewind} cycles is more than ${e.host}'s TSC then (${before}): the TSC would wrap below 0`);
        }
        line.base = e.tsc === 'reset' ? 0n : before - e.rewind;
        line.epoch = e.at + e.duration;
        break;
      }
      case 'numad-migrate':
        if (!cur?.ksm) problem(p, `numad-migrate needs KSM on ${cur?.name ?? 'the host'} (hosts[].ksm)`);
        scheduled += BigInt(vcpus);
        break;
      case 'stop': running = false; break;
      case 'cont': running = true; break;
      case 'recipe': {
        if (s.vm.hypervisor === 'xen') { problem(p, 'VMM steps and recipes drive KVM: this VM runs on Xen'); break; }
        if ((e.recipe === undefined) === (e.steps === undefined)) { problem(p, 'a recipe needs exactly one of "recipe" (a built-in name) and "steps"'); break; }
        if (e.recipe !== undefined && !RECIPES[e.recipe]) { problem(`${p}.recipe`, `no recipe "${e.recipe}" (${Object.keys(RECIPES).join(', ')})`); break; }
        if (e.to !== undefined && !hosts.has(e.to)) { problem(`${p}.to`, `"${e.to}" is not a host`); break; }
        const template = e.recipe !== undefined ? RECIPES[e.recipe].steps : e.steps!;
        const expanded = expandSteps(template, recipeParams(s, e, cur?.name ?? ''), vcpus);
        for (const [j, raw] of expanded.entries()) {
          const r = StepSchema.safeParse(raw);
          const where = e.recipe !== undefined ? `${p} (recipe ${e.recipe}, step ${j + 1}${stepDo(raw)})` : `${p}.steps (step ${j + 1}${stepDo(raw)})`;
          if (!r.success) { for (const iss of r.error.issues) problem(`${where}${iss.path.length ? `.${fmtPath(iss.path)}` : ''}`, iss.message); continue; }
          checkStep(r.data, where);
        }
        if (kvmVcpus !== vcpus) problem(p, `the recipe ends with ${kvmVcpus} of the VM's ${vcpus} vCPUs created`);
        break;
      }
      default:
        if ((STEP_KINDS as readonly string[]).includes(e.do)) {
          if (s.vm.hypervisor === 'xen') { problem(p, 'VMM steps and recipes drive KVM: this VM runs on Xen'); break; }
          checkStep(e as unknown as StepSpec, p);
          if (kvmVcpus !== vcpus) problem(p, `${e.do} leaves the VM with ${kvmVcpus} of its ${vcpus} vCPUs until the next event: `
            + 'create the VM and its vCPUs in one {"do": "recipe", "steps": [...]} event');
        }
        break;
    }
  });

  // ---- each fix's expectation: symptoms of this scenario, each in one list at most, together all of them
  const symptoms = s.symptoms;
  s.fixes.forEach((f, i) => {
    if (!f.cures && !f.leaves) return;
    const cures = f.cures ?? [], leaves = f.leaves ?? [];
    for (const [key, list] of [['cures', cures], ['leaves', leaves]] as const) {
      list.forEach((t, j) => {
        if (symptoms && !symptoms.includes(t)) problem(`fixes[${i}].${key}[${j}]`, `"${t}" is not one of the scenario's symptoms (${symptoms.join(', ')})`);
        if (list.indexOf(t) !== j) problem(`fixes[${i}].${key}[${j}]`, `"${t}" is listed twice`);
      });
    }
    for (const t of cures) if (leaves.includes(t)) problem(`fixes[${i}]`, `"${t}" is both cured and left`);
    const missing = (symptoms ?? []).filter((t) => !cures.includes(t) && !leaves.includes(t));
    if (missing.length) problem(`fixes[${i}]`, `says neither whether it cures nor whether it leaves ${missing.map((t) => `"${t}"`).join(', ')} (each symptom in "cures" or "leaves")`);
  });

  // ---- the run's cost: its timeline entries (the guest between them costs nothing: sim/machine.ts)
  const syncs = s.vm.kvm.periodicSync ? s.until / SYNC_PERIOD : 0n;
  scheduled += syncs;
  if (scheduled > lim.maxScheduled) {
    problem(biggest.n * 2n > lim.maxScheduled ? `events[${biggest.i}]` : 'events',
      `the run would schedule ${scheduled} timeline entries (${s.events.length} events, ${churnSteps} churn steps` +
      `${biggest.i >= 0 ? ` of which events[${biggest.i}] makes ${biggest.n}` : ''}, ${syncs} periodic kvmclock syncs), ` +
      `above the limit of ${lim.maxScheduled} (MAX_SCHEDULED): a longer churn run/wait, a shorter churn or run`);
  }
  return out;
}
