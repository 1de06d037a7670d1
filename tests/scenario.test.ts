// The scenario format: a world that cannot exist is refused with an error
// naming the path and what was expected; nothing runs on a half-valid file.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseScenario, ScenarioError, mergePatch } from '../sim/scenario.js';
import { builtinNames, loadBuiltin } from '../sim/scenarios.js';

const ok = {
  name: 't', until: '1s',
  hosts: [{ name: 'h', tscKhz: 2_000_000, pcpus: 4 }],
  vm: { host: 'h', vcpus: 2, maxVcpus: 3 },
  events: [] as unknown[],
};
const problems = (raw: unknown): string[] => {
  try { parseScenario(raw, 'x.json'); } catch (e) {
    assert.instance(e, ScenarioError);
    return (e as ScenarioError).problems;
  }
  return [];
};

test('a valid minimal scenario parses with defaults', () => {
  const s = parseScenario(ok);
  assert.is(s.until, 1_000_000_000n);
  assert.is(s.vm.kvm.rules, '6.7+');
  assert.is(s.vm.guest.hz, 1000);
  assert.is(s.hosts[0].uptime, 86_400_000_000_000n);
});

test('each bad field is named with its path', () => {
  assert.equal(problems({ ...ok, events: [{ at: '1ms', do: 'preempt', vcpu: 9, duration: '1s' }] }),
    ['events[0].vcpu: 9 is not a vCPU of vm0 (it has 2)']);
  assert.ok(problems({ ...ok, hosts: [{ name: 'h', tscKhz: 0 }] })[0].startsWith('hosts[0].tscKhz: a TSC rate of 0 kHz cannot exist'));
  assert.equal(problems({ ...ok, vm: { ...ok.vm, host: 'nope' } }), ['vm.host: "nope" is not a host (hosts: h)']);
  assert.ok(problems({ ...ok, until: '3 parsecs' })[0].startsWith('until: "3 parsecs" is not a duration'));
  assert.ok(problems({ ...ok, events: [{ at: '1ms', do: 'migrate', to: 'elsewhere', downtime: '1s' }] }).includes('events[0].to: "elsewhere" is not a host'));
});

test('unknown fields are errors, not ignored', () => {
  const p = problems({ ...ok, vm: { ...ok.vm, guest: { hz: 250, colour: 'blue' } } });
  assert.ok(p.some((x) => x.startsWith('vm.guest') && /colour/.test(x)), p.join('; '));
  assert.ok(problems({ ...ok, extra: 1 }).some((x) => /extra/.test(x)));
});

test('a timeline that cannot happen: out of order, past the end, one hot-add too many, an MSR the guest lacks', () => {
  const p = problems({ ...ok, vm: { ...ok.vm, guest: { tscAdjust: false } }, events: [
    { at: '500ms', do: 'hot-add' }, { at: '400ms', do: 'hot-add' }, { at: '2s', do: 'stop' },
    { at: '600ms', do: 'wrmsr', vcpu: 0, msr: 'IA32_TSC_ADJUST', value: '5' },
  ] });
  assert.ok(p.includes('events[1].at: events must be in time order (400000000 ns is before the previous event)'), p.join('; '));
  assert.ok(p.includes('events[1]: vm0 already has its maximum of 3 vCPUs'));
  assert.ok(p.includes('events[2].at: after the end of the run (until)'));
  assert.ok(p.some((x) => x.startsWith('events[3].msr: the guest has no IA32_TSC_ADJUST')));
});

test('u64 values beyond 2^53 are written as strings and kept exact', () => {
  const s = parseScenario({ ...ok, events: [{ at: '1ms', do: 'wrmsr', vcpu: 0, msr: 'IA32_TSC', value: '18446744073709551615' }] });
  assert.is((s.events[0] as { value: bigint }).value, 18_446_744_073_709_551_615n);
  assert.ok(problems({ ...ok, events: [{ at: '1ms', do: 'wrmsr', vcpu: 0, msr: 'IA32_TSC', value: 1e300 }] })[0].includes('is not an integer'));
});

test('merge patch (RFC 7386) and the built-in scenarios with every fix', () => {
  assert.equal(mergePatch({ a: { b: 1, c: 2 }, d: [1] }, { a: { b: null, e: 3 }, d: [2] }), { a: { c: 2, e: 3 }, d: [2] });
  for (const name of builtinNames()) {
    const s = loadBuiltin(name);
    for (const f of s.fixes) assert.ok(loadBuiltin(name, f.name).name.endsWith(`[${f.name}]`));
  }
  assert.throws(() => loadBuiltin('seed-000-tsc-adjust-hotplug', 'nope'), /no fix named "nope"/);
  assert.throws(() => loadBuiltin('nope'), /no built-in scenario "nope"/);
});


test('every JSON example in docs/scenario-format.md is valid', async () => {
  const { readFileSync } = await import('node:fs');
  const doc = readFileSync(new URL('../docs/scenario-format.md', import.meta.url), 'utf8');
  const blocks = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]);
  assert.ok(blocks.length >= 12);
  const world = JSON.parse(blocks[0]);
  parseScenario(world);
  const b = { name: 'b', tscKhz: 3_000_000, pcpus: 8 };
  for (const text of blocks.slice(1)) {
    const value = JSON.parse(text.trim().startsWith('"fixes"') ? `{${text}}` : text);
    if ('fixes' in value) { parseScenario({ ...world, fixes: value.fixes }); continue; }
    const until = '6000000s';
    parseScenario({ ...world, until, hosts: [...world.hosts, b], events: [value] }, `docs example ${value.do}`);
  }
});

test.run();
