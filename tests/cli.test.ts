// The tsclab command as a script sees it: output, --json, exit codes (0 ok,
// 1 anomalies when asked, 2 bad input), no colour when not on a TTY.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const tsclab = (...args: string[]) => {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

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
  assert.equal(Object.keys(j), ['scenario', 'seed', 'anomalies', 'log', 'measurements', 'stats']);
  assert.is(j.anomalies[0].type, 'time-stall');
  assert.is(typeof j.anomalies[0].size, 'string');
  assert.is(tsclab('run', 'seed-003-unify-tsc-logic', '--fail-on-anomalies').code, 1);
  assert.is(tsclab('run', 'seed-003-unify-tsc-logic', '--fix', 'catch-up', '--fail-on-anomalies').code, 0);
});

test('dmesg: reads a file or stdin; exit 1 on a mismatch, 2 on a file it cannot read', () => {
  const good = '[    0.000000] clocksource: kvm-clock: mask: 0xffffffffffffffff max_cycles: 0x1cd42e4dffb, max_idle_ns: 881590591483 ns\n';
  const run = (input: string) => spawnSync(process.execPath, [cli, 'dmesg', '-'], { input, encoding: 'utf8' });
  assert.is(run(good).status, 0);
  const bad = run(good.replace('881590591483', '881590591484'));
  assert.is(bad.status, 1);
  assert.match(bad.stdout, /MISMATCH clocksource kvm-clock/);
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

test('list names the built-ins; start replays them all', () => {
  const names = tsclab('list', '--json');
  assert.equal(JSON.parse(names.out).map((r: { name: string }) => r.name),
    ['seed-000-tsc-adjust-hotplug', 'seed-001-xen-nonstop-tsc', 'seed-002-guest-tsc-write', 'seed-002-precise-migration', 'seed-003-unify-tsc-logic', 'seed-004-ksm-numad']);
  const s = tsclab('start');
  assert.is(s.code, 0);
  assert.match(s.out, /seed-000-tsc-adjust-hotplug\n\s+went wrong: .*rcu-stall x8/);
  assert.match(s.out, /fix "modern KVM"\s+cured/);
});

test.run();
