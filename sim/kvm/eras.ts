// arch/x86/kvm/x86.c as it was in each kernel era: how KVM judges TSC
// writes, when the masterclock and PVCLOCK_TSC_STABLE_BIT exist, and which of
// the commits that changed a clock rule are in. An era is the code a range of
// releases shares; a scenario may add or remove single commits on top of it
// (a distribution's backport, a bisect point). docs/model.md cites the copy
// each row was read from. x86.ts applies the rules; this file is data.
//
// Ranges with no copy read (3.4-3.7: generations and the usdiff form arrive)
// have no era of their own.

/** How a host-initiated TSC write is judged "synchronizing" (kvm_write_tsc, later kvm_synchronize_tsc). */
export type TscSyncForm =
  /** 2.6.37-3.3: |data - last_tsc_write| < nsec_to_cycles(5 s) && elapsed < 5 s; no kHz check, no generations. */
  | '5s'
  /** 3.8 (from 3.4, unread)-4.11: |(s64)(data - last_write) * 1000 / khz - elapsed_us| < 1 s, equal kHz. */
  | 'usdiff'
  /** 4.12-6.6: data == 0 from the host (vCPU creation) syncs; else |data - (last_write + elapsed cycles)| < 1 s. */
  | 'window'
  /** 6.7+ (bf328e22e472): the ±1 s window only once userspace has written a TSC (user_set_tsc). */
  | 'gated';

/** Commits that changed one clock rule; an era has a default for each, a scenario may override it. */
export const COMMITS = {
  c285545f813d: 'KVM: x86: TSC catchup mode (2.6.37): vcpu_load on an unstable host sets tsc_catchup',
  '7e44e4495a39': 'x86: kvm: rate-limit global clock updates (3.15): KVM_REQ_GLOBAL_CLOCK_UPDATE updates this vCPU now, '
    + 'the others after KVMCLOCK_UPDATE_DELAY (100 ms)',
  '108b249c453d': 'KVM: x86: introduce get_kvmclock_ns (4.9): KVM_GET_CLOCK returns the masterclock-based value the guest '
    + 'sees, with KVM_CLOCK_TSC_STABLE; before, the host clock plus kvmclock_offset',
  '0bc48bea36d1': 'KVM: x86: update master clock before computing kvmclock_offset: KVM_SET_CLOCK takes the new snapshot first',
  '53fafdbb8b21': 'KVM: x86: switch KVMCLOCK base to monotonic raw clock (5.5): before, kvmclock is built on the '
    + 'NTP-slewed CLOCK_BOOTTIME, so a masterclock page extrapolated at tsc_khz drifts by the host\'s NTP correction',
  '0c899c25d754': 'KVM: x86: do not attempt TSC synchronization on guest writes (5.10)',
  d9130a2dfdd4: 'KVM: x86: Update vCPU\'s hv_clock before back to guest when tsc_offset is adjusted (5.15; stable '
    + '5.4.146, 5.10.65): a guest IA32_TSC_ADJUST write requests KVM_REQ_CLOCK_UPDATE',
  '0469f2f7ab4c': 'KVM: x86: hyper-v (5.12): a guest that opted into re-enlightenment and TSC emulation keeps its '
    + 'reference TSC page across KVM_SET_CLOCK (tsc_page_update_unsafe); before, KVM rewrote it from vCPU 0\'s pvclock',
  ffbb61d09fc5: 'KVM: x86: Accept KVM_[GS]ET_TSC_KHZ as a VM ioctl (6.0): a VMM can set the rate new vCPUs are created at',
} as const;
export type Commit = keyof typeof COMMITS;

export interface Rules {
  /** The canonical name: the kernel range it models. */
  name: RuleSet;
  /** What was read to write this row. */
  source: string;
  sync: TscSyncForm;
  /** cur_tsc_generation / nr_vcpus_matched_tsc bookkeeping, and a matched write needs equal kHz (3.4+). */
  generations: boolean;
  /** The masterclock and PVCLOCK_TSC_STABLE_BIT (3.8, "KVM: x86: implement PVCLOCK_TSC_STABLE_BIT pvclock flag"). */
  masterclock: boolean;
  /** kvm_track_tsc_matching: 'eager' requests an update whenever the masterclock is or could be on; 'changed' (6.x). */
  trackMatching: 'eager' | 'changed';
  /** IA32_TSC_ADJUST is emulated (3.8, "KVM: x86: Emulate IA32_TSC_ADJUST MSR"); before, the guest cannot see it. */
  tscAdjustMsr: boolean;
  /** KVM_VCPU_TSC_OFFSET and KVM_CLOCK_REALTIME (5.16, Oliver Upton's series). */
  tscOffsetAttr: boolean;
  /** The unmerged 2026 Woodhouse series: masterclock on equal frequencies, STABLE only on equal offsets. */
  proposed: boolean;
  /** Which of COMMITS this era has. */
  commits: Record<Commit, boolean>;
}

export const RULE_SETS = ['2.6.37-3.3', '3.8-4.11', '4.12-5.9', '5.10-6.6', '6.7+', 'proposed-2026'] as const;
export type RuleSet = (typeof RULE_SETS)[number];

/** Names earlier versions of tsclab used: an alias, or a refusal naming the replacement. */
export const RULE_ALIASES: Record<string, RuleSet | { refused: string }> = {
  'v2.6.37': '2.6.37-3.3',
  'v5.x': '5.10-6.6',
  modern: '6.7+',
  'v4.x': {
    refused: '"v4.x" covered two eras: "3.8-4.11" (the usdiff test: a hot-added vCPU\'s TSC write of 0 does not '
      + 'synchronize) or "4.12-5.9" (a host write of 0 synchronizes, and the ±1 s window)',
  },
};

/** The canonical rule set for a name or alias, or why the name is refused. */
export function resolveRuleSet(name: string): RuleSet | { error: string } {
  if ((RULE_SETS as readonly string[]).includes(name)) return name as RuleSet;
  const alias = RULE_ALIASES[name];
  if (typeof alias === 'string') return alias;
  if (alias) return { error: alias.refused };
  return { error: `"${name}" is not a KVM rule set (${RULE_SETS.join(', ')}; old names v2.6.37, v5.x, modern)` };
}

const none: Record<Commit, boolean> = {
  c285545f813d: false, '7e44e4495a39': false, '108b249c453d': false, '0bc48bea36d1': false, '53fafdbb8b21': false,
  '0c899c25d754': false, d9130a2dfdd4: false, '0469f2f7ab4c': false, ffbb61d09fc5: false,
};
const all: Record<Commit, boolean> = Object.fromEntries(Object.keys(none).map((c) => [c, true])) as Record<Commit, boolean>;

export const RULES: Record<RuleSet, Rules> = {
  '2.6.37-3.3': {
    name: '2.6.37-3.3', sync: '5s', generations: false, masterclock: false, trackMatching: 'eager', tscAdjustMsr: false,
    tscOffsetAttr: false, proposed: false, commits: { ...none, c285545f813d: true },
    source: 'arch/x86/kvm/x86.c of 2.6.37 (srinugnt2000/linux-2.6.37: kvm_write_tsc, kvm_arch_vcpu_load, '
      + 'kvm_guest_time_update) and ≈2.6.38-3.3 (kernel-audit.md K-2.6.3x, stored copy 241078707)',
  },
  '3.8-4.11': {
    name: '3.8-4.11', sync: 'usdiff', generations: true, masterclock: true, trackMatching: 'eager', tscAdjustMsr: true,
    tscOffsetAttr: false, proposed: false, commits: { ...none, c285545f813d: true, '7e44e4495a39': true },
    source: 'kvm_write_tsc of v4.6 (torvalds/linux@24740dab5ca5), v4.11 (HCLS/linux-4.11) and RHEL 7.3\'s '
      + '3.10.0-514 host (Shun-Hao/linux-3.10.0-514.el7: KVM_GET/SET_CLOCK on get_kernel_ns()); seed 000 quotes the same form',
  },
  '4.12-5.9': {
    name: '4.12-5.9', sync: 'window', generations: true, masterclock: true, trackMatching: 'eager', tscAdjustMsr: true,
    tscOffsetAttr: false, proposed: false,
    commits: { ...none, c285545f813d: true, '7e44e4495a39': true, '108b249c453d': true, '0bc48bea36d1': true },
    source: 'kvm_write_tsc of v4.12 (jason50123/linux-4.12, the data == 0 rule and the window arrive together), '
      + 'v4.14 and v4.19 (kernel-audit.md K-4.14, K-4.19); 5.5-5.9 have 53fafdbb8b21',
  },
  '5.10-6.6': {
    name: '5.10-6.6', sync: 'window', generations: true, masterclock: true, trackMatching: 'eager', tscAdjustMsr: true,
    tscOffsetAttr: true, proposed: false, commits: { ...all, ffbb61d09fc5: false },
    source: 'kvm_set_msr_common of ≈5.10 (kernel-audit.md K-5.10, stored copy 554409); 0c899c25d754; d9130a2dfdd4 '
      + 'is in 5.15 and 5.10.65+ (remove it for 5.10.0-5.10.64); 0469f2f7ab4c from 5.12 (remove it for 5.10-5.11); KVM_VCPU_TSC_OFFSET from 5.16; add ffbb61d09fc5 for 6.0-6.6',
  },
  '6.7+': {
    name: '6.7+', sync: 'gated', generations: true, masterclock: true, trackMatching: 'changed', tscAdjustMsr: true,
    tscOffsetAttr: true, proposed: false, commits: { ...all },
    source: 'kvm_synchronize_tsc, __kvm_synchronize_tsc, kvm_guest_time_update, pvclock_update_vm_gtod_copy of '
      + 'CachyOS/linux@4703912f5e30 (≈6.18; kernel-audit.md K-new); bf328e22e472 (user_set_tsc, 6.7)',
  },
  'proposed-2026': {
    name: 'proposed-2026', sync: 'gated', generations: true, masterclock: true, trackMatching: 'changed', tscAdjustMsr: true,
    tscOffsetAttr: true, proposed: true, commits: { ...all },
    source: 'David Woodhouse, "KVM: x86: Cleaning up the KVM clock mess" v5/v6 (2026, unmerged): [PATCH v5 21/34] '
      + '"Allow KVM master clock mode when TSCs are offset from each other"',
  },
};

/** An era with some commits added or removed (a backport, a bisect point). */
export function rulesFor(name: RuleSet, overrides: Partial<Record<Commit, boolean>> = {}): Rules {
  const r = RULES[name];
  return { ...r, commits: { ...r.commits, ...overrides } };
}
