// The scenario format: a world (hosts, one VM, its KVM rule set and guest
// kernel) and a timeline of actions. Validated with zod: unknown fields are
// errors, every error names the path, and a run never starts on a half-valid
// file. docs/scenario-format.md documents it with an example per action.
import { z } from 'zod';
import { parseDuration } from './units.js';
import { COMMITS, resolveRuleSet, type Commit, type RuleSet } from './kvm/eras.js';

const duration = z.string().transform((s, ctx) => {
  const ns = parseDuration(s);
  if (ns === null) {
    ctx.addIssue({ code: 'custom', message: `"${s}" is not a duration (like "150ms", "2.5s", "5180237s", "24h")` });
    return z.NEVER;
  }
  return ns;
});

/** A 64-bit integer: a JSON string of digits (JSON numbers cannot hold 2^64) or a safe integer. */
const int64 = (min: bigint, max: bigint, what: string) => z.union([z.string(), z.number()]).transform((v, ctx) => {
  if (typeof v === 'number' ? !Number.isSafeInteger(v) : !/^-?\d+$/.test(v)) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not an integer (write large values as strings of digits)` });
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
const khz = z.number().int().min(1, 'a TSC rate of 0 kHz cannot exist').max(0xFFFFFFFF);

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
  vms: z.array(z.strictObject({ name: z.string(), memoryMiB: z.number().int().min(1), nonZeroPages: z.number().int().min(0) })).default([]),
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
  logStyle: z.enum(['3.x', '4.x', '6.x']).default('6.x'),
});

const Vm = z.strictObject({
  name: z.string().default('vm0'),
  host: z.string(),
  vcpus: z.number().int().min(1).max(64),
  maxVcpus: z.number().int().min(1).max(64).optional(),
  /** Guest TSC rate (KVM_SET_TSC_KHZ); absent: the first host's rate. */
  tscKhz: khz.optional(),
  /** Guest memory (for KSM), MiB, and how many of its pages are not zero. */
  memoryMiB: z.number().int().min(1).default(1024),
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

const at = { at: duration };
const vcpu = z.number().int().min(0);
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
    pcpus: z.array(z.number().int().min(0)).optional(),
  }),
  z.strictObject({ ...at, do: z.literal('save-restore'), downtime: duration, window: duration.optional(),
    procedure: z.enum(['legacy', 'precise', 'precise-scaled']).optional() }),
  z.strictObject({ ...at, do: z.literal('hot-add'), pcpu: z.number().int().min(0).optional() }),
  z.strictObject({ ...at, do: z.literal('move-vcpu'), vcpu, pcpu: z.number().int().min(0) }),
  z.strictObject({ ...at, do: z.literal('preempt'), vcpu, duration }),
  z.strictObject({
    ...at, do: z.literal('churn'), vcpus: z.array(vcpu).optional(), run: duration, wait: duration, until: duration,
  }),
  z.strictObject({ ...at, do: z.literal('numad-migrate') }),
  z.strictObject({ ...at, do: z.literal('host-suspend'), host: z.string(), duration, tsc: z.enum(['reset', 'rewind']).default('reset'), rewind: u64.prefault('0') }),
  z.strictObject({
    ...at, do: z.literal('wrmsr'), vcpu, msr: z.enum(['IA32_TSC', 'IA32_TSC_ADJUST']),
    value: int64(-(1n << 63n), (1n << 64n) - 1n, 'an MSR value (-2^63..2^64-1)'), by: z.enum(['guest', 'host']).default('guest'),
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
  /** Periodic clock reads on every vCPU: the period, and when they start (default 0). */
  observe: z.strictObject({ period: duration.prefault('10ms'), from: duration.prefault('0s') }).prefault({}),
  hosts: z.array(Host).min(1),
  vm: Vm,
  events: z.array(Event).default([]),
  /** The anomaly types that make up the incident (default: every type where time went wrong); a fix cures it
   *  when none of them remain. */
  symptoms: z.array(z.enum(['time-backwards', 'time-jump', 'time-stall', 'tsc-warp', 'tsc-adjust-compensate', 'tsc-unstable',
    'masterclock-off', 'soft-lockup', 'rcu-stall', 'hung-task', 'hv-page-mismatch'])).optional(),
  /** Named variants that cure the problem: JSON merge patches (RFC 7386) of this file. */
  fixes: z.array(z.strictObject({ name: z.string().min(1), description: z.string().default(''), patch: z.record(z.string(), z.unknown()) })).default([]),
});

export type Scenario = z.output<typeof ScenarioSchema>;
export type ScenarioInput = z.input<typeof ScenarioSchema>;
export type HostSpec = Scenario['hosts'][number];
export type GuestSpec = Scenario['vm']['guest'];
export type ScenarioEvent = Scenario['events'][number];

/** A scenario file that cannot be run: every problem, each with its path. */
export class ScenarioError extends Error {
  constructor(readonly file: string, readonly problems: string[]) {
    super(`${file}: invalid scenario\n${problems.map((p) => `  ${p}`).join('\n')}`);
  }
}

const fmtPath = (path: PropertyKey[]) => path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc ? `${acc}.${String(p)}` : String(p)), '');

/** RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = target !== null && typeof target === 'object' && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/** The scenario with fix `name` applied (its fixes list dropped), checked like any scenario. */
export function parseScenarioFix(raw: unknown, name: string, file = '<scenario>'): Scenario {
  const base = parseScenario(raw, file);
  const fix = base.fixes.find((f) => f.name === name);
  if (!fix) throw new ScenarioError(file, [`fixes: no fix named "${name}" (it has: ${base.fixes.map((f) => f.name).join(', ') || 'none'})`]);
  const patched = mergePatch(raw, { ...fix.patch, fixes: null }) as Record<string, unknown>;
  const s = parseScenario({ ...patched, name: `${base.name} [${name}]` }, `${file} (fix "${name}")`);
  return s;
}

/** Parses and checks a scenario (the JSON value); throws ScenarioError naming each bad field. */
export function parseScenario(raw: unknown, file = '<scenario>'): Scenario {
  const r = ScenarioSchema.safeParse(raw);
  if (!r.success) {
    throw new ScenarioError(file, r.error.issues.map((i) => `${fmtPath(i.path) || '(top level)'}: ${i.message}`));
  }
  const s = r.data;
  const problems: string[] = [];
  const hosts = new Map(s.hosts.map((h) => [h.name, h]));
  if (hosts.size !== s.hosts.length) problems.push('hosts: two hosts share a name');
  const host = hosts.get(s.vm.host);
  if (!host) problems.push(`vm.host: "${s.vm.host}" is not a host (hosts: ${[...hosts.keys()].join(', ')})`);
  s.hosts.forEach((h, i) => {
    if (h.skew.length > h.pcpus) problems.push(`hosts[${i}].skew: ${h.skew.length} values for ${h.pcpus} pCPUs`);
    h.vms.forEach((v, j) => { if (v.nonZeroPages > v.memoryMiB * 256) problems.push(`hosts[${i}].vms[${j}].nonZeroPages: ${v.nonZeroPages} exceeds its ${v.memoryMiB * 256} pages`); });
  });
  if (s.vm.nonZeroPages > s.vm.memoryMiB * 256) problems.push(`vm.nonZeroPages: ${s.vm.nonZeroPages} exceeds its ${s.vm.memoryMiB * 256} pages`);
  const maxVcpus = s.vm.maxVcpus ?? s.vm.vcpus;
  if (maxVcpus < s.vm.vcpus) problems.push(`vm.maxVcpus: ${maxVcpus} is below vm.vcpus (${s.vm.vcpus})`);
  (s.vm.pcpus ?? []).forEach((p, i) => {
    if (host && p >= host.pcpus) problems.push(`vm.pcpus[${i}]: ${p} is not a pCPU of ${host.name} (it has ${host.pcpus})`);
  });
  if (s.vm.pcpus && s.vm.pcpus.length !== s.vm.vcpus) problems.push(`vm.pcpus: ${s.vm.pcpus.length} entries for ${s.vm.vcpus} vCPUs`);
  // Walk the timeline with the vCPU count and the current host.
  let vcpus = s.vm.vcpus;
  let cur = host;
  let last = 0n;
  s.events.forEach((e, i) => {
    const p = `events[${i}]`;
    if (e.at < last) problems.push(`${p}.at: events must be in time order (${e.at} ns is before the previous event)`);
    last = e.at;
    if (e.at > s.until) problems.push(`${p}.at: after the end of the run (until)`);
    const checkVcpu = (v: number) => {
      if (v >= vcpus) problems.push(`${p}.vcpu: ${v} is not a vCPU of ${s.vm.name} (it has ${vcpus})`);
    };
    const checkPcpu = (pc: number, h = cur) => {
      if (h && pc >= h.pcpus) problems.push(`${p}.pcpu: ${pc} is not a pCPU of ${h.name} (it has ${h.pcpus})`);
    };
    switch (e.do) {
      case 'migrate': {
        const to = hosts.get(e.to);
        if (!to) problems.push(`${p}.to: "${e.to}" is not a host`);
        else {
          (e.pcpus ?? []).forEach((pc, j) => { if (pc >= to.pcpus) problems.push(`${p}.pcpus[${j}]: ${pc} is not a pCPU of ${to.name}`); });
          if ((e.procedure ?? s.vm.migration) === 'precise-scaled' && to.scaling === 'none' && to.tscKhz !== (s.vm.tscKhz ?? host?.tscKhz)) {
            problems.push(`${p}.procedure: precise-scaled needs TSC scaling on ${to.name} to keep the guest's rate`);
          }
          cur = to;
        }
        break;
      }
      case 'hot-add':
        if (vcpus >= maxVcpus) problems.push(`${p}: ${s.vm.name} already has its maximum of ${maxVcpus} vCPUs`);
        if (e.pcpu !== undefined) checkPcpu(e.pcpu);
        vcpus++;
        break;
      case 'move-vcpu': checkVcpu(e.vcpu); checkPcpu(e.pcpu); break;
      case 'preempt': checkVcpu(e.vcpu); break;
      case 'churn':
        (e.vcpus ?? []).forEach(checkVcpu);
        if (e.until <= e.at) problems.push(`${p}.until: must be after at`);
        if (e.run === 0n) problems.push(`${p}.run: must be above 0`);
        break;
      case 'wrmsr':
        checkVcpu(e.vcpu);
        if (e.msr === 'IA32_TSC_ADJUST' && !s.vm.guest.tscAdjust) problems.push(`${p}.msr: the guest has no IA32_TSC_ADJUST (guest.tscAdjust is false)`);
        break;
      case 'host-suspend':
        if (!hosts.has(e.host)) problems.push(`${p}.host: "${e.host}" is not a host`);
        break;
      case 'numad-migrate':
        if (!cur?.ksm) problems.push(`${p}: numad-migrate needs KSM on ${cur?.name ?? 'the host'} (hosts[].ksm)`);
        break;
      default:
        break;
    }
  });
  if (problems.length) throw new ScenarioError(file, problems);
  return s;
}
