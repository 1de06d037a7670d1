// Each built-in recipe (sim/vmm/recipes.ts) run in place of the canned procedure it was written from, on every
// scenario that uses that procedure (the built-in seeds and the peer ports): the guest must see exactly the same --
// the same guest and KVM log lines, the same anomalies, the same measurements (but the canned migration's own
// migrationN.* analysis, which a recipe replaces with its step records). The VMM's log lines differ (a recipe logs
// each ioctl), and so may stats.events: restoring MSR_KVM_SYSTEM_TIME_NEW by KVM_SET_MSRS queues KVM's
// kvmclock_update_work 100 ms later (KVM_REQ_GLOBAL_CLOCK_UPDATE), which the canned procedure leaves out; under the
// masterclock it rewrites each page with the same values.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { builtinNames, loadBuiltin } from '../sim/scenarios.js';
import { parseScenario, type Scenario, type ScenarioEvent } from '../sim/scenario.js';
import { runScenario } from '../sim/machine.js';
import type { RunResult } from '../sim/types.js';
import { RECIPES } from '../sim/vmm/recipes.js';

/** The recipe that replaces a canned event (null: none does). */
function recipeFor(s: Scenario, e: ScenarioEvent): ScenarioEvent | null {
  const window = s.vm.vmm.restoreWindow;
  switch (e.do) {
    case 'stop': return { at: e.at, do: 'recipe', recipe: 'qemu-stop' };
    case 'cont': return e.kvmclockCtrl ? { at: e.at, do: 'recipe', recipe: 'qemu-cont' } : null;
    case 'migrate': case 'save-restore': {
      if (e.do === 'migrate' && e.pcpus) return null;
      const proc = e.procedure ?? s.vm.migration;
      if (proc === 'precise-scaled') return null;
      return { at: e.at, do: 'recipe', recipe: proc === 'legacy' || !s.vm.kvm.rules.match(/^(5\.10|6\.7|proposed)/) ? 'qemu-legacy' : 'qemu-precise',
        ...(e.do === 'migrate' ? { to: e.to } : {}), downtime: e.downtime, window: e.window ?? window };
    }
    default: return null;
  }
}

const guestSide = (r: RunResult) => ({
  log: r.log.filter((l) => l.source !== 'vmm'),
  anomalies: r.anomalies,
  measurements: Object.fromEntries(Object.entries(r.measurements).filter(([k]) => !/^migration\d+\./.test(k))),
});

const peerDir = new URL('./peer/scenarios/', import.meta.url);
const cases: { name: string; s: Scenario }[] = [
  ...builtinNames().flatMap((n) => [null, ...loadBuiltin(n).fixes.map((f) => f.name)].map((f) => ({ name: `${n}${f ? ` [${f}]` : ''}`, s: loadBuiltin(n, f ?? undefined) }))),
  ...readdirSync(peerDir).filter((f) => f.endsWith('.json'))
    .map((f) => ({ name: `peer/${f}`, s: parseScenario(JSON.parse(readFileSync(new URL(f, peerDir), 'utf8'))) })),
];
const used = new Set<string>();
for (const { name, s } of cases) {
  if (s.vm.hypervisor === 'xen') continue;
  const replaced = s.events.map((e) => recipeFor(s, e));
  if (!replaced.some(Boolean)) continue;
  const recipes = [...new Set(replaced.filter(Boolean).map((e) => (e as { recipe: string }).recipe))];
  recipes.forEach((r) => used.add(r));
  test(`${name}: ${recipes.join(', ')} in place of the canned procedure -- the guest sees the same`, () => {
    const canned = runScenario(s);
    const r = runScenario({ ...s, events: s.events.map((e, i) => replaced[i] ?? e) } as Scenario);
    assert.equal(r.steps!.filter((x) => x.errno), [], 'no step failed');
    const a = guestSide(canned), b = guestSide(r);
    assert.equal(b.anomalies, a.anomalies);
    assert.equal(b.log, a.log);
    assert.equal(b.measurements, a.measurements);
  });
}

test('every built-in recipe of a canned procedure (the qemu-* ones) was compared with it on some scenario', () => {
  assert.equal([...used].sort(), Object.keys(RECIPES).filter((n) => n.startsWith('qemu-')).sort());
});

test.run();
