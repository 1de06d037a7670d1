// tsclab compare: restore sequences side by side. A matrix of recipes (the built-in ones of sim/vmm/recipes.ts or a
// user's own step lists) x KVM rule sets x situations, each cell one deterministic run of the same small VM, and one
// table of what its guest saw: how far kvmclock moved against the TSC across the recipe, how much CLOCK_MONOTONIC and
// CLOCK_REALTIME lost against real time, backward steps and jumps, whether PVCLOCK_TSC_STABLE_BIT (the masterclock)
// survived, and which detectors fired. This is how a VMM author chooses between two restore sequences, or shows a
// reviewer what a patch changes. The measures are guest-side steps (guest-rdtsc, guest-kvmclock,
// guest-clock_gettime) placed just before the recipe and after it, so every number is what the guest itself reads.
import { parseScenario, ScenarioError } from '../sim/scenario.js';
import { runScenario } from '../sim/machine.js';
import { RECIPES } from '../sim/vmm/recipes.js';
import type { RunResult } from '../sim/types.js';
import { parseDuration } from '../sim/units.js';
import { fmtDuration } from './fmt.js';

/** Where the recipe takes the VM, and for how long it is away. */
export interface Situation { name: string; description: string; to: 'a' | 'b' | 'c' | 'd'; downtime: string; hotAddAfter?: boolean }
export const SITUATIONS: Situation[] = [
  { name: 'same-host-1s', description: 'restored on the same host after 1 s (a local snapshot, a live update)', to: 'a', downtime: '1s' },
  { name: 'same-host-60s', description: 'restored on the same host after 60 s', to: 'a', downtime: '60s' },
  { name: 'equal-rate', description: 'migrated to another 2.5 GHz host, 100 ms down', to: 'b', downtime: '100ms' },
  { name: 'scaled', description: 'migrated to a 3.0 GHz host with VMX TSC scaling, 100 ms down', to: 'c', downtime: '100ms' },
  { name: 'unscaled', description: 'migrated to a 3.0 GHz host without TSC scaling, 100 ms down', to: 'd', downtime: '100ms' },
  { name: 'hot-add-after', description: 'migrated to another 2.5 GHz host, then a vCPU hot-added 2 s later', to: 'b', downtime: '100ms', hotAddAfter: true },
];
/** The restore recipes (stop and cont alone are halves of one). */
export const RESTORE_RECIPES = Object.keys(RECIPES).filter((n) => n !== 'qemu-stop' && n !== 'qemu-cont');
export const DEFAULT_RULES = ['4.12-5.9', '5.10-6.6', '6.7+'];

/** A recipe: a built-in's name, or a user's own step list (a file's {"name", "steps"}). */
export type RecipeSpec = string | { name: string; steps: unknown[] };
export interface Cell {
  recipe: string; rules: string; situation: string;
  /** "refused: ..." (an ioctl the era lacks, said when the file is read) or "failed: ..." (a step's errno at run
   *  time, e.g. KVM_SET_TSC_KHZ's EINVAL on a host without TSC scaling); the measures are then absent. */
  error?: string;
  /** kvmclock's advance minus the TSC's (in ns at the guest's rate) from before the recipe to after it, vCPU 0. */
  kvmclockVsTscNs?: bigint;
  /** Real time minus CLOCK_MONOTONIC's advance over the same span (> 0: the guest lost time). */
  monotonicLostNs?: bigint;
  /** Real time minus CLOCK_REALTIME's advance (> 0: the guest's wall clock is behind). */
  realtimeLostNs?: bigint;
  backwards?: number; jumps?: number;
  /** PVCLOCK_TSC_STABLE_BIT in vCPU 0's page after the recipe (the masterclock in use). */
  stableAfter?: boolean;
  /** The detectors that fired (soft-lockup, rcu-stall, hung-task), with counts. */
  detectors?: string;
}

const T0 = 5_000_000_000n, SETTLE = 5_000_000_000n, KHZ = 2_500_000n;
const NS = (d: string) => parseDuration(d)!;
const measure = (at: string, tag: string) => [
  { at, do: 'guest-rdtsc', vcpu: 0, as: `cmp_tsc_${tag}` },
  { at, do: 'guest-kvmclock', vcpu: 0, as: `cmp_kc_${tag}` },
  { at, do: 'guest-clock_gettime', vcpu: 0, clock: 'CLOCK_MONOTONIC', as: `cmp_mono_${tag}` },
  { at, do: 'guest-clock_gettime', vcpu: 0, clock: 'CLOCK_REALTIME', as: `cmp_real_${tag}` },
];

/** The scenario of one cell (a plain object, as a file would hold it). */
export function cellScenario(recipe: RecipeSpec, rules: string, sit: Situation): Record<string, unknown> {
  const down = NS(sit.downtime), after = T0 + down + SETTLE;
  const step = typeof recipe === 'string' ? { recipe } : { steps: recipe.steps };
  const events: unknown[] = [...measure(`${T0}ns`, '0'), { at: `${T0}ns`, do: 'recipe', ...step, to: sit.to, downtime: sit.downtime }];
  if (sit.hotAddAfter) events.push({ at: `${T0 + down + 2_000_000_000n}ns`, do: 'hot-add' });
  events.push(...measure(`${after}ns`, '1'));
  return {
    name: `compare ${typeof recipe === 'string' ? recipe : recipe.name} ${rules} ${sit.name}`, seed: 1, until: `${after + 1_000_000n}ns`,
    hosts: [{ name: 'a', tscKhz: 2_500_000, pcpus: 8, scaling: 'vmx' }, { name: 'b', tscKhz: 2_500_000, pcpus: 8, scaling: 'vmx' },
      { name: 'c', tscKhz: 3_000_000, pcpus: 8, scaling: 'vmx' }, { name: 'd', tscKhz: 3_000_000, pcpus: 8, scaling: 'none' }],
    vm: { host: 'a', vcpus: 2, ...(sit.hotAddAfter ? { maxVcpus: 3 } : {}), kvm: { rules }, guest: { kernel: '6.8' } },
    events,
  };
}

const count = (r: RunResult, type: string) => r.anomalies.filter((a) => a.type === type).length;

/** One cell: its run and what the guest saw. */
export function runCell(recipe: RecipeSpec, rules: string, sit: Situation): Cell {
  const name = typeof recipe === 'string' ? recipe : recipe.name;
  const base: Cell = { recipe: name, rules, situation: sit.name };
  let r: RunResult;
  try {
    r = runScenario(parseScenario(cellScenario(recipe, rules, sit), `compare:${name}`));
  } catch (e) {
    if (e instanceof ScenarioError) {
      // the first problem, without where in the file it is and the hint for files: "KVM 4.12-5.9 has no ... -ENXIO"
      const first = (e.message.split('\n')[1] ?? e.message).trim().replace(/^events\[\d+\] \([^)]*\): /, '').replace(/ \(the scenario's rule set.*$/, '');
      return { ...base, error: `refused: ${first}` };
    }
    throw e;
  }
  const failed = (r.steps ?? []).find((s) => s.errno || s.error);
  if (failed) return { ...base, error: `failed: ${failed.do} ${failed.errno ?? ''} ${failed.error ?? ''}`.trim() };
  const v = (n: string) => {
    const s = (r.steps ?? []).find((x) => x.as === `cmp_${n}`);
    if (!s?.ret) throw new Error(`compare: the measure ${n} did not run`);
    return s.ret.value as bigint;
  };
  const flags = (r.steps ?? []).find((x) => x.as === 'cmp_kc_1')!.ret!.flags as bigint;
  const span = T0 + NS(sit.downtime) + SETTLE - T0;
  const detectors = ['soft-lockup', 'rcu-stall', 'hung-task'].map((t) => [t, count(r, t)] as const).filter(([, n]) => n > 0)
    .map(([t, n]) => (n > 1 ? `${t} x${n}` : t)).join(', ');
  return {
    ...base,
    kvmclockVsTscNs: (v('kc_1') - v('kc_0')) - ((v('tsc_1') - v('tsc_0')) * 1_000_000n) / KHZ,
    monotonicLostNs: span - (v('mono_1') - v('mono_0')),
    realtimeLostNs: span - (v('real_1') - v('real_0')),
    backwards: count(r, 'time-backwards'), jumps: count(r, 'time-jump'),
    stableAfter: (flags & 1n) !== 0n,
    detectors: detectors || 'none',
  };
}

/** The whole matrix, in the order recipes x rules x situations. */
export function compare(o: { recipes?: RecipeSpec[]; rules?: string[]; situations?: string[] } = {}): Cell[] {
  const sits = (o.situations ?? SITUATIONS.map((s) => s.name)).map((n) => {
    const s = SITUATIONS.find((x) => x.name === n);
    if (!s) throw new RangeError(`compare: "${n}" is not a situation (${SITUATIONS.map((x) => x.name).join(', ')})`);
    return s;
  });
  const out: Cell[] = [];
  for (const recipe of o.recipes ?? RESTORE_RECIPES) {
    if (typeof recipe === 'string' && !RECIPES[recipe]) {
      throw new RangeError(`compare: "${recipe}" is not a built-in recipe (${RESTORE_RECIPES.join(', ')})`);
    }
    for (const rules of o.rules ?? DEFAULT_RULES) for (const s of sits) out.push(runCell(recipe, rules, s));
  }
  return out;
}

/** The matrix as a markdown table. */
export function renderCompare(cells: Cell[]): string {
  const head = '| recipe | KVM | situation | kvmclock vs TSC | MONOTONIC lost | REALTIME lost | back / jumps | STABLE after | detectors |';
  const rows = cells.map((c) => (c.error
    ? `| ${c.recipe} | ${c.rules} | ${c.situation} | ${c.error.replace(/\|/g, '\\|')} | | | | | |`
    : `| ${c.recipe} | ${c.rules} | ${c.situation} | ${fmtDuration(c.kvmclockVsTscNs!)} | ${fmtDuration(c.monotonicLostNs!)} | ${fmtDuration(c.realtimeLostNs!)} | ${c.backwards} / ${c.jumps} | ${c.stableAfter ? 'yes' : 'no'} | ${c.detectors} |`));
  return [head, '|---|---|---|---:|---:|---:|---|---|---|', ...rows].join('\n');
}
