// The tsclab command as a script sees it: output, --json, exit codes (0 ok,
// 1 anomalies when asked, 2 bad input), no colour when not on a TTY.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeFileSync, mkdtempSync, readFileSync, readdirSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { report, UsageError } from '../cli/output.js';
import { ScenarioError } from '../sim/scenario.js';

const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const scenarios = fileURLToPath(new URL('../scenarios', import.meta.url));
const tsclab = (...args: string[]) => {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', TSCLAB_DEBUG: '' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
};
const TRACE = /\n\s+at /;

test('calc clocksource prints the kernel\'s line', () => {
  const r = tsclab('calc', 'clocksource', '--name', 'tsc', '--khz', '2596142');
  assert.is(r.code, 0);
  assert.is(r.out.trim(), 'clocksource: tsc: mask: 0xffffffffffffffff max_cycles: 0x256bff54918, max_idle_ns: 440795222839 ns');
  assert.is(tsclab('calc', 'clocksource', '--name', 'jiffies', '--jiffies', '250').out.trim(),
    'clocksource: jiffies: mask: 0xffffffff max_cycles: 0xffffffff, max_idle_ns: 7645041785100000 ns');
});

test('calc: time-scale, tsc-ratio, pvclock --json (u64 as strings)', () => {
  assert.is(tsclab('calc', 'time-scale', '--khz', '2500000').out.trim(), 'shift -1, mul 0xcccccccc (3435973836)');
  assert.match(tsclab('calc', 'tsc-ratio', '--user-khz', '3000000', '--host-khz', '2500000').out, /^scaled: ratio 337769972052787 /);
  assert.match(tsclab('calc', 'tsc-ratio', '--user-khz', '2000000', '--host-khz', '2500000', '--no-scaling').out, /user requested TSC rate below hardware speed/);
  const j = JSON.parse(tsclab('calc', 'pvclock', '--mul', '0xcccccccc', '--shift', '-1', '--tsc-timestamp', '10000000000',
    '--system-time', '1000000000', '--tsc', '9999999999', '--json').out);
  assert.equal(j, { ns: '7378697628765833727', tscKhz: '2500000' });
});

test('bad input: a clear message on stderr and exit 2, never a stack trace', () => {
  for (const args of [['calc', 'pvclock', '--mul', '1.5', '--shift', '0', '--tsc', '1'], ['nope'], ['run', 'missing.json'],
    ['calc', 'pvclock', '--mul', '1', '--shift', '40', '--tsc', '1'], ['calc', 'clocksource', '--name', 'x']]) {
    const r = tsclab(...args);
    assert.is(r.code, 2, args.join(' '));
    assert.not.match(r.err, /\n\s+at /, `no stack trace for ${args.join(' ')}`);
    assert.ok(r.err.length > 0);
  }
  const dir = mkdtempSync(join(tmpdir(), 'tsclab-'));
  const f = join(dir, 'bad.json');
  writeFileSync(f, JSON.stringify({ name: 'x', until: '1s', hosts: [{ name: 'h', tscKhz: 1000 }], vm: { host: 'h', vcpus: 2 },
    events: [{ at: '1ms', do: 'preempt', vcpu: 9, duration: '1s' }] }));
  const r = tsclab('run', f);
  assert.is(r.code, 2);
  assert.match(r.err, /events\[0\]\.vcpu: 9 is not a vCPU of vm0 \(it has 2\)/);
  writeFileSync(f, '{ nope');
  assert.match(tsclab('run', f).err, /not valid JSON/);
});

test('run: the log, --json with stable fields, --fail-on-anomalies exits 1 only when something went wrong', () => {
  const r = tsclab('run', 'seed-003-unify-tsc-logic');
  assert.is(r.code, 0);
  assert.match(r.out, /clocksource: Switched to clocksource tsc/);
  assert.not.match(r.out, /\x1b\[/, 'no colour when stdout is not a TTY');
  const j = JSON.parse(tsclab('run', 'seed-003-unify-tsc-logic', '--json').out);
  assert.equal(Object.keys(j), ['scenario', 'seed', 'anomalies', 'log', 'measurements', 'stats', 'explanation']);
  assert.is(j.anomalies[0].type, 'time-stall');
  assert.is(typeof j.anomalies[0].size, 'string');
  assert.is(tsclab('run', 'seed-003-unify-tsc-logic', '--fail-on-anomalies').code, 1);
  assert.is(tsclab('run', 'seed-003-unify-tsc-logic', '--fix', 'catch-up', '--fail-on-anomalies').code, 0);
});

test('dmesg: reads a file or stdin; exit 1 on a mismatch only with --fail-on-mismatch, 2 on a file it cannot read', () => {
  const good = '[    0.000000] clocksource: kvm-clock: mask: 0xffffffffffffffff max_cycles: 0x1cd42e4dffb, max_idle_ns: 881590591483 ns\n';
  const run = (input: string, ...flags: string[]) => spawnSync(process.execPath, [cli, 'dmesg', '-', ...flags], { input, encoding: 'utf8' });
  assert.is(run(good, '--fail-on-mismatch').status, 0);
  const wrong = good.replace('881590591483', '881590591484');
  const bad = run(wrong, '--fail-on-mismatch');
  assert.is(bad.status, 1);
  assert.match(bad.stdout, /MISMATCH clocksource kvm-clock/);
  const told = run(wrong);
  assert.is(told.status, 0, 'a mismatch is reported, and is not a failure unless asked');
  assert.match(told.stdout, /MISMATCH clocksource kvm-clock/);
  assert.is(run(wrong, '--json', '--fail-on-mismatch').status, 1);
  assert.is(tsclab('dmesg', '/nonexistent/boot.log').code, 2);
});

test('a YAML scenario file runs like its JSON twin; progress stays off when stderr is not a terminal', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsclab-'));
  const f = join(dir, 's.yaml');
  writeFileSync(f, [
    'name: yaml-preempt', 'until: 40s',
    'hosts:', '  - { name: h, tscKhz: 2000000 }',
    'vm: { host: h, vcpus: 2 }',
    'events:', '  - { at: 5s, do: preempt, vcpu: 1, duration: 30s }', ''].join('\n'));
  const r = tsclab('run', f, '--json');
  assert.is(r.code, 0, r.err);
  assert.is(r.err, '');
  assert.ok(JSON.parse(r.out).anomalies.some((a: { type: string }) => a.type === 'soft-lockup'));
  writeFileSync(f, 'name: [unclosed');
  assert.match(tsclab('run', f).err, /not valid YAML/);
});

test('list names the built-ins; start replays them all, each fix as its scenario says (cures, leaves)', () => {
  const names = tsclab('list', '--json');
  const builtins = ['seed-000-tsc-adjust-hotplug', 'seed-001-xen-nonstop-tsc', 'seed-002-guest-tsc-write', 'seed-002-precise-migration', 'seed-003-unify-tsc-logic', 'seed-004-ksm-numad'];
  assert.equal(JSON.parse(names.out).map((r: { name: string }) => r.name), builtins);
  const s = tsclab('start');
  assert.is(s.code, 0, s.out);
  assert.not.match(s.out, /NOT AS EXPECTED|differences? from what/);
  // every seed, and every fix of it, has its line
  for (const n of builtins) {
    assert.match(s.out, new RegExp(`\\n  ${n}\\n\\s+went wrong: \\S`), n);
    for (const f of (JSON.parse(readFileSync(join(scenarios, `${n}.json`), 'utf8')).fixes as { name: string }[])) {
      assert.match(s.out, new RegExp(`fix "${f.name.replace(/[()+.=]/g, '\\$&')}"\\s+(cured|cures )`), `${n}: ${f.name}`);
    }
  }
  assert.match(s.out, /seed-000-tsc-adjust-hotplug\n\s+went wrong: .*rcu-stall x2/, "the log's two RCU reports");
  assert.match(s.out, /fix "modern KVM"\s+cured/);
  assert.match(s.out, /fix "tsc=reliable"\s+cures time-jump, rcu-stall; leaves, as expected: time-stall x\d+, soft-lockup/, 'a partial fix');
  assert.match(s.out, /fix "precise \(ignoring scaling\)"\s+cures time-stall; leaves, as expected: time-backwards/, 'the counter-example');
});

test('start fails (exit 1), naming each difference, when a fix does not do what its scenario says or a seed no longer replays', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsclab-start-'));
  const seed = (name: string) => JSON.parse(readFileSync(join(scenarios, `${name}.json`), 'utf8'));
  // a partial fix claimed to cure everything: seed 000's tsc=reliable still stands still 134 s and reports CPU 8
  const s0 = seed('seed-000-tsc-adjust-hotplug');
  const reliable = s0.fixes.find((f: { name: string }) => f.name === 'tsc=reliable');
  reliable.cures = s0.symptoms;
  delete reliable.leaves;
  s0.fixes = [reliable];
  writeFileSync(join(dir, 'cures-all.json'), JSON.stringify(s0));
  // the counter-example claimed to cure: precise (ignoring scaling) still steps the TSC back
  const s2 = seed('seed-002-precise-migration');
  s2.fixes = s2.fixes.filter((f: { name: string }) => f.name === 'precise (ignoring scaling)').map((f: object) => ({ ...f, cures: s2.symptoms, leaves: undefined }));
  writeFileSync(join(dir, 'counter.json'), JSON.stringify(s2));
  // a fix said to leave what it cures: seed 003's catch-up
  const s3 = seed('seed-003-unify-tsc-logic');
  s3.fixes[0] = { ...s3.fixes[0], cures: [], leaves: ['time-stall'] };
  writeFileSync(join(dir, 'leaves.json'), JSON.stringify(s3));
  // a seed whose symptoms it does not show: seed 004 named for a hung task it never has
  const s4 = seed('seed-004-ksm-numad');
  s4.symptoms = ['hung-task'];
  s4.fixes = [];
  writeFileSync(join(dir, 'gone.json'), JSON.stringify(s4));
  const r = tsclab('start', ...['cures-all', 'counter', 'leaves', 'gone'].map((f) => join(dir, `${f}.json`)));
  assert.is(r.code, 1, r.out);
  assert.match(r.out, /fix "tsc=reliable"\s+NOT AS EXPECTED: fix "tsc=reliable" should cure time-stall, but the run shows time-stall x\d+; fix "tsc=reliable" should cure soft-lockup, but the run shows soft-lockup/);
  assert.match(r.out, /should cure time-backwards, but the run shows time-backwards/);
  assert.match(r.out, /fix "catch-up" should leave time-stall, but the run shows none/);
  assert.match(r.out, /seed-004-ksm-numad shows none of its symptoms \(hung-task\): the incident no longer replays/);
  assert.match(r.out, /\n5 differences from what the scenarios say:\n/);
  // the unchanged files pass, named by path as well as by built-in name
  assert.is(tsclab('start', join(scenarios, 'seed-003-unify-tsc-logic.json'), 'seed-004-ksm-numad').code, 0);
  // an expectation that is not one of the symptoms, or forgets one, is bad input (exit 2, naming the field)
  s3.fixes[0] = { ...s3.fixes[0], cures: ['time-jump'], leaves: undefined };
  writeFileSync(join(dir, 'bad.json'), JSON.stringify(s3));
  const bad = tsclab('start', join(dir, 'bad.json'));
  assert.is(bad.code, 2);
  assert.match(bad.err, /fixes\[0\]\.cures\[0\]: "time-jump" is not one of the scenario's symptoms \(time-stall\)/);
  assert.match(bad.err, /fixes\[0\]: says neither whether it cures nor whether it leaves "time-stall"/);
});

/** What report() writes and returns for an error, with TSCLAB_DEBUG as given. */
function reported(e: unknown, debug = false): { code: number; err: string } {
  const write = process.stderr.write, before = process.env.TSCLAB_DEBUG;
  let err = '';
  process.stderr.write = ((s: string) => { err += s; return true; }) as typeof process.stderr.write;
  if (debug) process.env.TSCLAB_DEBUG = '1'; else delete process.env.TSCLAB_DEBUG;
  try { return { code: report(e), err }; } finally {
    process.stderr.write = write;
    if (before === undefined) delete process.env.TSCLAB_DEBUG; else process.env.TSCLAB_DEBUG = before;
  }
}

test('report(): every error gets a message and exit 2; bugs are "internal error", the stack only with --debug', () => {
  assert.equal(reported(new UsageError('--tsc is required')), { code: 2, err: 'error: --tsc is required\n' });
  assert.equal(reported(new ScenarioError('x.json', ['until: bad'])), { code: 2, err: 'error: x.json: invalid scenario\n  until: bad\n' });
  assert.equal(reported(new RangeError('pvclockScaleDelta: shift must be an integer in -32..31 (tsc_shift), got 40')).err,
    'error: pvclockScaleDelta: shift must be an integer in -32..31 (tsc_shift), got 40\n', 'the API\'s argument errors are the user\'s');
  assert.equal(reported(new Error('tsclab: no built-in scenario "x"')).err, 'error: no built-in scenario "x"\n');
  // what used to escape as a stack trace: the engine's own errors, a Wasm trap, a kernel abort, anything thrown
  let notIterable: unknown;
  try { const st = { done: 5 } as unknown as { done: number[] }; for (const x of st.done) void x; } catch (e) { notIterable = e; }
  const trap = new WebAssembly.RuntimeError('unreachable');
  for (const [e, text] of [[notIterable, 'TypeError: st.done is not iterable'], [new RangeError('Division by zero'), 'RangeError: Division by zero'],
    [trap, 'RuntimeError: unreachable'], [new Error('tsclab kernel abort: ? at ~lib/rt/tlsf.ts:461:29'), 'tsclab kernel abort: ? at ~lib/rt/tlsf.ts:461:29'],
    ['a string', 'a string'], [new SyntaxError('Unexpected end of JSON input'), 'SyntaxError: Unexpected end of JSON input']] as const) {
    const r = reported(e);
    assert.equal(r, { code: 2, err: `internal error: ${text} (please report it; --debug shows where)\n` });
    const d = reported(e, true);
    assert.is(d.code, 2);
    if (e instanceof Error) assert.ok(d.err.startsWith(`internal error: ${text} (please report it)\n${e.stack}`), d.err);
  }
  assert.match(reported(new UsageError('x'), true).err, /^error: x\nError: x\n\s+at /, 'known errors show their stack under --debug too');
});

test('the defects seen by a malformed-input campaign: each is a clear message and exit 2 from the command', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsclab-'));
  const world = { name: 'x', until: '1s', hosts: [{ name: 'h', tscKhz: 1000 }], vm: { host: 'h', vcpus: 1 } };
  const cases: [string, string, RegExp][] = [
    ['period0.json', JSON.stringify({ ...world, observe: { period: '0s' } }), /^error: .*period0\.json: invalid scenario\n {2}observe\.period: must be above 0\n$/],
    ['dup.json', '{"name": "x", "name": "y", "until": "1s", "hosts": [{"name": "h", "tscKhz": 1000}], "vm": {"host": "h", "vcpus": 1}}',
      /dup\.json: not valid JSON \(name: the key "name" appears twice in one object \(line 1, column 15\)/],
    ['uptime.json', JSON.stringify({ ...world, hosts: [{ name: 'h', tscKhz: 1000, uptime: '99999999999999d' }] }), /hosts\[0\]\.uptime: "99999999999999d" is beyond 2\^64-1 ns/],
    ['until.json', JSON.stringify({ ...world, until: '99999999999999999999999d' }), /until: "99999999999999999999999d" is beyond 2\^64-1 ns/],
    ['fix.json', JSON.stringify({ ...world, fixes: [{ name: 'f', patch: { vm: { guest: { colour: 'blue' } } } }] }), /fixes\[0\]\.patch\.vm\.guest: Unrecognized key: "colour"/],
  ];
  for (const [name, text, re] of cases) {
    writeFileSync(join(dir, name), text);
    const r = tsclab('run', join(dir, name));
    assert.is(r.code, 2, name);
    assert.match(r.err, re);
    assert.not.match(r.err, TRACE);
  }
  let deep = '{}';
  for (let i = 0; i < 1000; i++) deep = `{"x": ${deep}}`;
  writeFileSync(join(dir, 'deep.json'), JSON.stringify({ ...world, fixes: [{ name: 'deep', patch: JSON.parse(deep) }] }));
  const d = tsclab('run', join(dir, 'deep.json'), '--fix', 'deep');
  assert.is(d.code, 2);
  assert.match(d.err, /fixes\[0\]\.patch: Unrecognized key: "x"/, 'not "Maximum call stack size exceeded"');
});

test('fuzz --out naming a file, and --resume on a corrupt or mismatched campaign.json: exit 2, nothing overwritten', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsclab-'));
  const file = join(dir, 'file');
  writeFileSync(file, 'mine');
  const r = tsclab('fuzz', '--out', file, '--runs', '1', '--workers', '1');
  assert.is(r.code, 2);
  assert.is(r.err, `error: --out: ${file} is a file, not a directory\n`);
  assert.is(readFileSync(file, 'utf8'), 'mine');
  const out = join(dir, 'campaign');
  mkdirSync(out);
  for (const [text, re] of [['{"seed": 1, "done": [0', /campaign\.json: not valid JSON/],
    ['{"version": 1, "seed": 1, "budget": {"runs": 25}, "gen": {}, "done": 5, "findings": []}', /campaign\.json: not a campaign state of this tsclab: done: .*expected array/]] as const) {
    writeFileSync(join(out, 'campaign.json'), text);
    const c = tsclab('fuzz', '--out', out, '--resume', '--workers', '1');
    assert.is(c.code, 2);
    assert.match(c.err, re);
    assert.not.match(c.err, TRACE);
    assert.is(readFileSync(join(out, 'campaign.json'), 'utf8'), text);
  }
  writeFileSync(join(out, 'campaign.json'), '{"version": 1, "seed": 1, "budget": {"runs": 25}, "gen": {"rules": "3.8-4.11", "unstableHosts": false}, "done": [0], "findings": []}');
  const m = tsclab('fuzz', '--out', out, '--resume', '--rules', 'modern', '--workers', '1'); // modern: the old name of 6.7+
  assert.is(m.code, 2);
  assert.match(m.err, /^error: --rules: the campaign in .* was run with --rules 3\.8-4\.11, not 6\.7\+/);
  assert.equal(readdirSync(out), ['campaign.json']);
});

test('usage errors of calc and fuzz exit 2 (1 is for anomalies)', () => {
  for (const args of [['calc', 'pvclock'], ['calc', 'nope'], ['fuzz', '--bogus'], ['calc', 'time-scale', '--khz', 'x'], ['fuzz', '--runs', '0'],
    ['fuzz', '--actions', 'nope'], ['fuzz', '--rules', 'v9'], ['calc', 'clocksource', '--name', 'x', '--khz', '1', '--hz', '1'], ['calc', 'time-scale', '--khz', '0']]) {
    const r = tsclab(...args);
    assert.is(r.code, 2, args.join(' '));
    assert.not.match(r.err, TRACE);
    assert.match(r.err, /error/);
  }
});

test('only fuzz loads the fuzzer: other commands run where fast-check cannot be loaded', () => {
  const hook = new URL('./support/deny-fast-check.mjs', import.meta.url).href;
  const deny = `data:text/javascript,import{register}from"node:module";register(${JSON.stringify(hook)});`;
  const run = (...args: string[]) => spawnSync(process.execPath, ['--import', deny, cli, ...args], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  const ok = run('calc', 'time-scale', '--khz', '2500000');
  assert.is(ok.status, 0, ok.stderr);
  assert.is(run('fuzz', '--help').status, 0);
  const fuzz = run('fuzz', '--runs', '1', '--workers', '1');
  assert.is(fuzz.status, 2, 'the hook works: fuzz itself needs fast-check');
  assert.match(fuzz.stderr, /fast-check was loaded/);
});

test.run();
