// The scenario format: a world that cannot exist is refused with an error
// naming the path and what was expected; nothing runs on a half-valid file.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runScenario } from '../sim/machine.js';
import { parseScenario, parseScenarioFix, ScenarioError, mergePatch, MAX_SCHEDULED, MAX_EVENTS } from '../sim/scenario.js';
import { builtinNames, builtinRaw, loadBuiltin } from '../sim/scenarios.js';
import { loadScenarioArg } from '../cli/scenario-arg.js';
import { findDuplicateKey } from '../sim/strict-json.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

test('a key that is not a plain name is quoted in the path, inside a fix\'s patch too (one key, not a path of its own)', () => {
  const key = 'hosts[0].tscKhz, hosts[0].pcpus';
  assert.equal(problems({ ...ok, provenance: { [key]: { do: 1 } } }),
    ['provenance["hosts[0].tscKhz, hosts[0].pcpus"]: Invalid input: expected string, received object']);
  assert.equal(problems({ ...ok, fixes: [{ name: 'f', patch: { provenance: { [key]: 7 } } }] }),
    ['fixes[0].patch.provenance["hosts[0].tscKhz, hosts[0].pcpus"]: Invalid input: expected string, received number']);
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
    // the hot-add example is at 5180237.5709105s
    const until = '6000000s', observe = { period: '1s' };
    parseScenario({ ...world, until, observe, hosts: [...world.hosts, b], events: [value] }, `docs example ${value.do}`);
  }
});

test('durations: beyond u64 ns, or beyond the limit of their role, are refused naming the field and the limit', () => {
  assert.equal(problems({ ...ok, until: '99999999999999999999999d' }), ['until: "99999999999999999999999d" is beyond 2^64-1 ns (about 584 years), the u64 every time is held in']);
  assert.equal(problems({ ...ok, until: '18446744073709551616ns' }).length, 1, '2^64 ns');
  assert.equal(problems({ ...ok, until: '1001d', observe: { period: '1h' } }), ['until: 1001d is above the limit of 1000d (MAX_UNTIL)']);
  assert.is(parseScenario({ ...ok, until: '1000d', observe: { period: '1h' } }).until, 1000n * 86_400_000_000_000n, 'the limit itself is valid');
  assert.equal(problems({ ...ok, hosts: [{ name: 'h', tscKhz: 2_000_000, pcpus: 4, uptime: '36501d' }] }), ['hosts[0].uptime: 36501d is above the limit of 36500d (MAX_UPTIME)']);
  assert.equal(problems({ ...ok, events: [{ at: '1ms', do: 'preempt', vcpu: 0, duration: '1001d' }] }),
    ['events[0].duration: 1001d is above the limit of 1000d (MAX_UNTIL: no time in a run is past the longest run)']);
  assert.ok(problems({ ...ok, until: 'x'.repeat(100000) })[0].startsWith('until: "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx..." is not a duration'));
});

test('host uptime x kHz: the host TSC stays below 2^62 to the end of the run; a skew cannot start a TSC below 0', () => {
  // 99999999999999d is beyond u64 ns: it wrapped the host TSC before
  assert.ok(problems({ ...ok, hosts: [{ name: 'h', tscKhz: 2_000_000, uptime: '99999999999999d' }] })[0].startsWith('hosts[0].uptime: "99999999999999d" is beyond 2^64-1 ns'));
  // 100 years at 537 GHz: within u64 ns, but the TSC would pass 2^64
  const p = problems({ ...ok, hosts: [{ name: 'h', tscKhz: 2 ** 29 - 1, uptime: '36500d' }] });
  assert.equal(p, [`hosts[0].uptime: the host's TSC would reach ${((36_500n * 86_400_000_000_000n + 1_000_000_000n) * (2n ** 29n - 1n)) / 1_000_000n} cycles by the end of the run ` +
    '((uptime + until) x tscKhz), above the limit of 2^62 = 4611686018427387904 (MAX_HOST_TSC): lower uptime, until or tscKhz']);
  // a rate whose 1000 x kHz wraps the kernel's u32 to 0 (the guest's clocksource registration would divide by zero)
  assert.ok(problems({ ...ok, hosts: [{ name: 'h', tscKhz: 2 ** 31 }] })[0].startsWith('hosts[0].tscKhz: at most 536870911 kHz (MAX_TSC_KHZ'));
  assert.ok(problems({ ...ok, vm: { ...ok.vm, tscKhz: 2 ** 29 } })[0].startsWith('vm.tscKhz: at most 536870911 kHz'));
  // a 1 kHz guest TSC calibrated through a scaling ratio came out at 0 kHz: the run ended in an API error
  assert.ok(problems({ ...ok, vm: { ...ok.vm, tscKhz: 1 } })[0].startsWith('vm.tscKhz: at least 1000 kHz (MIN_TSC_KHZ'));
  // exactly at the limit is fine: (uptime + until) x 4 GHz = 2^62 cycles
  const ns = (1n << 60n) - 1_000_000_000n;
  parseScenario({ ...ok, hosts: [{ name: 'h', tscKhz: 4_000_000, pcpus: 4, uptime: `${ns}ns` }] });
  assert.ok(problems({ ...ok, hosts: [{ name: 'h', tscKhz: 4_000_000, pcpus: 4, uptime: `${ns + 1n}ns` }] })[0].includes('MAX_HOST_TSC'));
  assert.equal(problems({ ...ok, hosts: [{ name: 'h', tscKhz: 1_000_000, pcpus: 4, uptime: '1s', skew: ['0', '-1000000001'] }] }),
    ['hosts[0].skew[1]: pCPU 1\'s TSC would start at -1 (uptime x tscKhz - 1000000001): a TSC is never below 0']);
  const rewind = (cycles: string) => problems({ ...ok, until: '10s', hosts: [{ name: 'h', tscKhz: 1_000_000, pcpus: 4, uptime: '1s' }],
    events: [{ at: '1s', do: 'host-suspend', host: 'h', duration: '1s', tsc: 'rewind', rewind: cycles }] });
  assert.equal(rewind('2000000000'), []);
  assert.equal(rewind('2000000001'), ['events[0].rewind: 2000000001 cycles is more than h\'s TSC then (2000000000): the TSC would wrap below 0']);
});

test('observe.period 0 is refused (it was a division by zero); a long run at a fine period costs its events, not its reads', () => {
  assert.equal(problems({ ...ok, observe: { period: '0s' } }), ['observe.period: must be above 0']);
  // seed 000 judged at 10 ms from 0 over its 70 days: the old read loop would have read 5.4e9 times (minutes of
  // Wasm, refused by a read budget); the event engine evaluates the guest only at its events and timers
  const raw = builtinRaw('seed-000-tsc-adjust-hotplug').raw as Record<string, unknown>;
  const { observe: _, ...noObserve } = raw;
  const s = parseScenario(noObserve);
  assert.is(s.observe.from, 0n);
  const t0 = performance.now();
  const r = runScenario(s);
  assert.ok(performance.now() - t0 < 20_000, 'bounded');
  // (a point is one vCPU's clocks at one instant: before and after each of its ~20,000 events, periodic syncs included)
  assert.ok(r.stats.reads < 5_400_000n, `${r.stats.reads} points evaluated, a thousandth of 5.4e9 reads`);
});

test('events: at most MAX_EVENTS; a churn\'s cycles and the periodic syncs count against MAX_SCHEDULED; run at least 1us', () => {
  const many = Array.from({ length: MAX_EVENTS + 1 }, () => ({ at: '1ms', do: 'stop' }));
  assert.equal(problems({ ...ok, events: many }), [`events: at most ${MAX_EVENTS} events (MAX_EVENTS)`]);
  assert.equal(problems({ ...ok, events: [{ at: '0s', do: 'churn', run: '1ns', wait: '0s', until: '1s' }] }), ['events[0].run: must be at least 1us (MIN_CHURN_RUN)']);
  const churn = (run: string, n = 2) => ({ ...ok, until: '1000s', observe: { period: '1s' }, events: [{ at: '0s', do: 'churn', run, wait: '0s', until: '1000s' }], vm: { ...ok.vm, vcpus: n } });
  parseScenario(churn('10ms')); // 2 x 100000 x 2 = 400000 entries, +3 syncs
  assert.equal(problems(churn('1ms')), [`events[0]: the run would schedule ${4_000_001n + 3n} timeline entries (1 events, 4000000 churn steps of which events[0] makes 4000000, ` +
    `3 periodic kvmclock syncs), above the limit of ${MAX_SCHEDULED} (MAX_SCHEDULED): a longer churn run/wait, a shorter churn or run`]);
  // a 1000-day run without churn: 288000 periodic syncs, within the limit
  parseScenario({ ...ok, until: '1000d', observe: { period: '1h' } });
});

test('every fix is checked when the file is read, with the path inside its patch', () => {
  const withFix = (patch: unknown) => ({ ...ok, fixes: [{ name: 'good', patch: { vm: { guest: { hz: 250 } } } }, { name: 'bad', patch }] });
  assert.equal(problems(withFix({ vm: { guest: { colour: 'blue' } } })), ['fixes[1].patch.vm.guest: Unrecognized key: "colour"']);
  assert.equal(problems(withFix({ observe: { period: '0s' } })), ['fixes[1].patch.observe.period: must be above 0']);
  // a problem the patch causes elsewhere is named in the patched scenario
  assert.equal(problems({ ...withFix({ vm: { vcpus: 1 } }), events: [{ at: '1ms', do: 'preempt', vcpu: 1, duration: '1s' }] }),
    ['fixes[1] ("bad"), once its patch is applied: events[0].vcpu: 1 is not a vCPU of vm0 (it has 1)']);
  assert.equal(problems({ ...ok, fixes: [{ name: 'a', patch: {} }, { name: 'a', patch: {} }] }), ['fixes[1].name: two fixes are named "a"']);
  // nothing runs: even the good fix is refused while another is bad
  assert.throws(() => parseScenarioFix(withFix({ vm: { guest: { colour: 'blue' } } }), 'good'), /fixes\[1\]\.patch\.vm\.guest/);
  assert.is(parseScenarioFix(withFix({ vm: { guest: { hz: 100 } } }), 'bad').vm.guest.hz, 100);
});

test('merge patch at any depth: a patch nested 100000 deep is merged (no stack overflow), and refused as an unknown field', () => {
  let deep: Record<string, unknown> = {};
  const root = deep;
  for (let i = 0; i < 100_000; i++) { deep.x = {}; deep = deep.x as Record<string, unknown>; }
  deep.y = 1;
  const merged = mergePatch({ a: 1 }, { a: null, ...root }) as Record<string, unknown>;
  assert.equal(Object.keys(merged), ['x']);
  assert.equal(problems({ ...ok, fixes: [{ name: 'deep', patch: { vm: root } }] }), ['fixes[0].patch.vm: Unrecognized key: "x"']);
  // a key with a newline or a direction mark is escaped: one problem is one line, as it reads
  assert.equal(problems({ ...ok, vm: { ...ok.vm, 'maxPageShar\ng\u202e': 1 } }), ['vm: Unrecognized key: "maxPageShar\\u000ag\\u202e"']);
  assert.equal(problems({ ...ok, fixes: [{ name: 'n\n', patch: { vm: { vcpus: 0 } } }] })[0].split('\n').length, 1);
  // "__proto__" from JSON is a key like any other: an unknown field, not a prototype
  const proto = JSON.parse('{"vm": {"__proto__": {"vcpus": 9}}}');
  assert.equal(problems({ ...ok, fixes: [{ name: 'p', patch: proto }] }), ['fixes[0].patch.vm: Unrecognized key: "__proto__"']);
});

test('JSON files: a key given twice is refused, naming the path, line and column (YAML refuses it too)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsclab-'));
  const f = join(dir, 'dup.json');
  writeFileSync(f, '{\n  "name": "a",\n  "until": "1s",\n  "hosts": [{ "name": "h", "tscKhz": 1000, "tscKhz": 2000 }],\n  "vm": { "host": "h", "vcpus": 1 }\n}\n');
  assert.throws(() => loadScenarioArg(f), (e: Error) => e.message === `${f}: not valid JSON (hosts[0].tscKhz: the key "tscKhz" appears twice in one object (line 4, column 44); JSON.parse would keep the last silently)`);
  writeFileSync(f, '\ufeff{"name": "a", "until": "1s", "hosts": [{ "name": "h", "tscKhz": 1000 }], "vm": { "host": "h", "vcpus": 1 }, "fixes": [{"name": "x", "patch": {"vm": {"vcpus": 1, "\\u0076cpus": 2}}}]}');
  assert.throws(() => loadScenarioArg(f), /fixes\[0\]\.patch\.vm\.vcpus: the key "vcpus" appears twice/, 'escapes decode to the same key; a BOM is skipped');
  const y = join(dir, 'dup.yaml');
  writeFileSync(y, 'name: a\nname: b\nuntil: 1s\n');
  assert.throws(() => loadScenarioArg(y), /not valid YAML \(Map keys must be unique/);
  writeFileSync(y, `name: ${'['.repeat(3000)}${']'.repeat(3000)}\n`);
  assert.throws(() => loadScenarioArg(y), /not valid YAML \(nested too deeply/);
  assert.is(findDuplicateKey('{"a":[{"b":1},{"b":2}],"c":{"b":{"b":1}}}'), null, 'the same key in different objects is fine');
  assert.throws(() => loadScenarioArg(dir), /is a directory, not a scenario file/);
  writeFileSync(y, `name: a\ndescription: ${'x'.repeat(4 << 20)}\n`); // YAML parses at ~1 MiB/s: a bigger file is refused unread
  assert.throws(() => loadScenarioArg(y), /dup\.yaml: 4194326 bytes, above the limit of 4194304 for a scenario file/);
});

test.run();
