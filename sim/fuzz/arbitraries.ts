// fast-check arbitraries for whole scenarios: hosts (rates, skews, scaling),
// the VM and its guest options, and a timeline of VMM actions. They produce
// the scenario *file* (plain JSON), so a shrunk failure is written out as is
// and `tsclab run` replays it. Small composable pieces, as fast-check's own.
import fc from 'fast-check';
import { RULE_SETS, type Commit, type RuleSet } from '../kvm/eras.js';

export interface FuzzOptions {
  rules?: RuleSet;
  /** Commits added to or removed from the era (vm.kvm.commits). */
  commits?: Partial<Record<Commit, boolean>>;
  /** Migration procedure(s) the generator may use. */
  procedures?: ('legacy' | 'precise' | 'precise-scaled')[];
  /** Allow host TSCs that KVM sees as unstable. */
  unstableHosts?: boolean;
  /** Generate host suspends (default true). A TSC reset across host S3 followed by a hot-add is a gap KVM's own
   *  comment leaves "as an exercise to the reader": runs meant to find nothing leave suspends out. */
  hostSuspend?: boolean;
  /** Only these actions (default: all): focuses a campaign on one class of problem. */
  actions?: string[];
  /** Real time before the first action, ms (default 0): an older VM's TSCs are far from their start values. */
  startAfter?: number;
  /** The VMM sets the VM's TSC rate VM-wide (KVM 6.0+), so hot-added vCPUs are created at it (vm.vmm.vmWideTscKhz). */
  vmWideTscKhz?: boolean;
  /** Guest options held fixed (the others are drawn): focuses a campaign on one kind of guest. */
  guest?: Partial<Record<GuestFlag, boolean>>;
}

export const GUEST_FLAGS = ['kvmclock', 'invariantTsc', 'tscAdjust', 'tscReliable'] as const;
export type GuestFlag = (typeof GUEST_FLAGS)[number];

const ms = (n: number) => `${n}ms`;
const khz = fc.integer({ min: 1_000_000, max: 4_000_000 });

// A host KVM sees as stable has synchronized TSCs; only an unstable one has per-pCPU skew.
const host = (name: string, opts: FuzzOptions) => fc.record({
  name: fc.constant(name),
  tscKhz: khz,
  pcpus: fc.constant(4),
  uptime: fc.integer({ min: 1, max: 100 }).map((d) => `${d}h`),
  tscStable: opts.unstableHosts ? fc.boolean() : fc.constant(true),
  skew: fc.array(fc.integer({ min: -5_000_000, max: 5_000_000 }).map(String), { minLength: 4, maxLength: 4 })
    .map((s) => ['0', ...s.slice(1)]),
  scaling: fc.constantFrom('vmx', 'svm'),
  clocksource: fc.constantFrom('tsc', 'tsc', 'tsc', 'hpet'),
}).map((h) => (h.tscStable ? { ...h, skew: [] } : h));

/** One timeline action at `at` ms; vCPU indices are taken modulo the count when the file is assembled. */
const action = (opts: FuzzOptions): fc.Arbitrary<Record<string, unknown> & { do: string }> =>
  fc.oneof(...allActions(opts).filter((a) => !opts.actions || opts.actions.includes(a.kind)).map((a) => a.arb));

const allActions = (opts: FuzzOptions): { kind: string; arb: fc.Arbitrary<Record<string, unknown> & { do: string }> }[] => [
  { kind: 'stop-cont', arb: fc.record({ do: fc.constant('stop-cont'), pause: fc.integer({ min: 10, max: 30_000 }) }) },
  { kind: 'migrate', arb: fc.record({ do: fc.constant('migrate'), downtime: fc.integer({ min: 10, max: 2_000 }),
    procedure: fc.constantFrom(...(opts.procedures ?? ['legacy', 'precise', 'precise-scaled'])) }) },
  { kind: 'hot-add', arb: fc.record({ do: fc.constant('hot-add') }) },
  { kind: 'move-vcpu', arb: fc.record({ do: fc.constant('move-vcpu'), vcpu: fc.nat(7), pcpu: fc.nat(3) }) },
  { kind: 'preempt', arb: fc.record({ do: fc.constant('preempt'), vcpu: fc.nat(7), duration: fc.integer({ min: 1, max: 40_000 }) }) },
  { kind: 'wrmsr', arb: fc.record({ do: fc.constant('wrmsr'), vcpu: fc.nat(7), delta: fc.integer({ min: 1, max: 2_000_000_000 }) }) },
  ...(opts.hostSuspend === false ? [] : [{ kind: 'host-suspend', arb: fc.record({ do: fc.constant('host-suspend'), duration: fc.integer({ min: 100, max: 10_000 }), tsc: fc.constantFrom('reset', 'rewind') }) }]),
  { kind: 'churn', arb: fc.record({ do: fc.constant('churn'), run: fc.integer({ min: 1, max: 5 }), wait: fc.integer({ min: 1, max: 20 }), length: fc.integer({ min: 200, max: 3_000 }) }) },
];

/** A whole scenario file. */
export function scenarioArbitrary(opts: FuzzOptions = {}): fc.Arbitrary<Record<string, unknown>> {
  return fc.record({
    hosts: fc.tuple(host('a', opts), host('b', opts)),
    vcpus: fc.integer({ min: 1, max: 4 }),
    rules: opts.rules ? fc.constant(opts.rules) : fc.constantFrom(...RULE_SETS),
    guest: fc.record(Object.fromEntries(GUEST_FLAGS.map((f) => [f, opts.guest?.[f] ?? fc.boolean()]).map(([f, v]) =>
      [f, typeof v === 'boolean' ? fc.constant(v) : v])) as Record<GuestFlag, fc.Arbitrary<boolean>>),
    steps: fc.array(fc.tuple(fc.integer({ min: 50, max: 20_000 }), action(opts)), { minLength: 1, maxLength: 8 }),
  }).map(({ hosts, vcpus, rules, guest, steps }) => {
    const s = assemble(hosts, vcpus, rules, guest, steps, opts.startAfter ?? 0, opts.commits);
    if (opts.vmWideTscKhz) (s.vm as Record<string, unknown>).vmm = { vmWideTscKhz: true };
    return s;
  });
}

type Step = [number, Record<string, unknown> & { do: string }];

/** Lays the steps out on a timeline the scenario validator accepts. */
function assemble(hosts: unknown[], vcpus: number, rules: string, guest: Record<string, unknown>, steps: Step[], start: number,
                  commits?: Partial<Record<Commit, boolean>>): Record<string, unknown> {
  const events: Record<string, unknown>[] = [];
  let t = start, n = vcpus, on = 'a';
  // each host's TSC as the validator counts it, once a reset has brought it near 0 (before: an hour of uptime or
  // more, far above any rewind): a rewind never takes it below 0
  const line = new Map<string, { base: bigint; epoch: number }>();
  const khzOf = (name: string) => BigInt((hosts as { name: string; tscKhz: number }[]).find((h) => h.name === name)!.tscKhz);
  const maxVcpus = Math.min(8, vcpus + steps.filter(([, s]) => s.do === 'hot-add').length);
  for (const [gap, s] of steps) {
    t += gap;
    switch (s.do) {
      case 'stop-cont':
        events.push({ at: ms(t), do: 'stop' }, { at: ms(t + (s.pause as number)), do: 'cont' });
        t += s.pause as number;
        break;
      case 'migrate':
        on = on === 'a' ? 'b' : 'a';
        events.push({ at: ms(t), do: 'migrate', to: on, downtime: ms(s.downtime as number), procedure: s.procedure });
        t += (s.downtime as number) + 110; // the downtime, then the default 100 ms restore window to the first entry
        break;
      case 'hot-add':
        if (n >= maxVcpus) break; // the VMM refuses past maxcpus: the generator does not write what cannot be asked
        events.push({ at: ms(t), do: 'hot-add' });
        n++;
        break;
      case 'move-vcpu': events.push({ at: ms(t), do: 'move-vcpu', vcpu: (s.vcpu as number) % n, pcpu: s.pcpu }); break;
      case 'preempt':
        events.push({ at: ms(t), do: 'preempt', vcpu: (s.vcpu as number) % n, duration: ms(s.duration as number) });
        break;
      case 'wrmsr': {
        // a guest moving its TSC forward through TSC_ADJUST, as tsc_sync's compensation does; only for guests
        // whose clocks do not run on the TSC (kvm-clock, no invariant TSC): a correct KVM keeps every clock continuous
        if (!guest.tscAdjust || !guest.kvmclock || guest.invariantTsc) break;
        // read, add, write, as the guest's own compensation does: an absolute value would undo what the guest's
        // tsc_sync wrote meanwhile at a hot-add (a found 1-cycle step back was the generator's, not KVM's)
        const v = (s.vcpu as number) % n;
        events.push({ at: ms(t), do: 'wrmsr', vcpu: v, msr: 'IA32_TSC_ADJUST', add: String(s.delta), by: 'guest' });
        break;
      }
      case 'churn':
        events.push({ at: ms(t), do: 'churn', run: ms(s.run as number), wait: ms(s.wait as number), until: ms(t + (s.length as number)) });
        t += s.length as number;
        break;
      case 'host-suspend': {
        const l = line.get(on);
        const before = l ? l.base + BigInt(t - l.epoch) * khzOf(on) : null;
        const rewind = before === null || before > 1_000_000_000n ? 1_000_000_000n : before;
        events.push({ at: ms(t), do: 'host-suspend', host: on, duration: ms(s.duration as number), tsc: s.tsc,
          ...(s.tsc === 'rewind' ? { rewind: String(rewind) } : {}) });
        t += s.duration as number;
        if (s.tsc === 'reset') line.set(on, { base: 0n, epoch: t });
        else if (before !== null) line.set(on, { base: before - rewind, epoch: t });
        break;
      }
    }
  }
  return {
    name: 'fuzz', until: ms(t + 45_000), observe: { period: '10ms', from: ms(Math.max(0, start - 1_000)) },
    hosts, vm: { host: 'a', vcpus, maxVcpus, kvm: { rules, ...(commits ? { commits } : {}) }, guest: { kernel: 'fuzz', ...guest } }, events,
  };
}
