// tools/real-log.ts: a replay beside the real log lines a seed scenario carries (its `log`), as `tsclab start`
// prints them. The pairing rule on crafted lines, then what each seed's replay prints of its real log.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compareLog } from '../tools/real-log.js';
import { loadBuiltin, builtinNames } from '../sim/scenarios.js';
import { runScenario } from '../sim/machine.js';
import type { LogLine } from '../sim/types.js';
import { execFileSync } from 'node:child_process';

const g = (stamp: bigint, text: string): LogLine => ({ t: stamp, source: 'guest', stamp, text });

test('pairs by form (numbers apart), in the log\'s order; partial when the replay prints the line\'s beginning only', () => {
  const replay = [g(5n, 'CPU8 has been hot-added'), g(1_000_000_000n, 'kvm-clock: cpu 8, msr 4:3ff88201, secondary cpu clock'),
    g(2_000_001_500n, 'INFO: rcu_sched detected stalls on CPUs/tasks: { 8} (detected by 1, t=1002859 jiffies)'),
    { t: 0n, source: 'kvm', text: 'CPU8 has been hot-added' } as LogLine];
  const p = compareLog([
    '[    1.000000] kvm-clock: cpu 9, msr 4:3ff88241, secondary cpu clock',
    '[2.000000] INFO: rcu_sched detected stalls on CPUs/tasks: { 8} (detected by 1, t=1002915 jiffies, g=1, c=0, q=3)',
    '[3.000000] CPU8 has been hot-added',
    '[4.000000] Booting paravirtualized kernel on Xen',
    'no stamp at all',
  ], replay);
  assert.equal(p.map((x) => [x.replay?.slice(15) ?? null, x.same, x.partial]), [
    ['kvm-clock: cpu 8, msr 4:3ff88201, secondary cpu clock', false, false],
    ['INFO: rcu_sched detected stalls on CPUs/tasks: { 8} (detected by 1, t=1002859 jiffies)', false, true],
    ['CPU8 has been hot-added', true, false], // before the previous pair: looked for from the start
    [null, false, false],
    [null, false, false],
  ]);
  // the stamp difference is between printed stamps (whole microseconds)
  assert.equal(p.map((x) => x.stampDiffNs), [0n, 1000n, -3_000_000_000n, null, null]); // 5 ns prints as 0.000000
  // a replay line of fewer than three words, or not at the line's start, is no partial pair
  assert.is(compareLog(['[1.000000] suspending xenstore... done'], [g(1n, 'xenstore...')])[0].replay, null);
});

test('seed 000: every real line has its replayed line; the warp 149 cycles short, the stamps within 0.1 s', () => {
  const s = loadBuiltin('seed-000-tsc-adjust-hotplug');
  const p = compareLog(s.log!, runScenario(s).log);
  assert.is(p.length, 6);
  for (const x of p) {
    assert.ok(x.replay, `no replay line for ${x.real}`);
    assert.ok(x.stampDiffNs! < 100_000_000n && x.stampDiffNs! > -100_000_000n, `${x.real}: ${x.stampDiffNs} ns`);
  }
  assert.ok(p[3].replay!.includes('observed 13266090348023247 warp'), p[3].replay!);
  assert.equal(p.map((x) => x.partial), [false, false, false, false, true, true], 'the RCU lines lack g=, c=, q=');
});

test('seed 001: the Xen boot, suspend and hung-task lines replayed; the vcpu_info mapping lines (addresses) are not', () => {
  const s = loadBuiltin('seed-001-xen-nonstop-tsc');
  const p = compareLog(s.log!, runScenario(s).log);
  assert.equal(p.map((x) => (x.replay === null ? 'none' : x.same ? 'same' : x.partial ? 'partial' : 'differs')),
    ['same', 'none', 'partial', 'same', 'none', 'partial', 'same', 'same']);
});

test('only the seeds carry a real log, and each of its lines has a printk stamp', () => {
  for (const name of builtinNames()) {
    const s = loadBuiltin(name);
    for (const line of s.log ?? []) assert.match(line, /^\[\s*\d+\.\d{6}\] /, `${name}: ${line}`);
    if (!name.startsWith('seed-')) assert.is(s.log, undefined, name);
  }
});

test('npm start prints seed 000\'s real lines beside the replay\'s', () => {
  const out = execFileSync(process.execPath, ['dist/cli/main.js', 'start', 'seed-000-tsc-adjust-hotplug'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  const lines = out.split('\n').map((l) => l.trim());
  for (const real of loadBuiltin('seed-000-tsc-adjust-hotplug').log!) {
    const i = lines.indexOf(`real   ${real}`);
    assert.ok(i >= 0, `start prints ${real}`);
    assert.match(lines[i + 1], /^replay \[\s*\d+\.\d{6}\] /, lines[i + 1]);
  }
});

test.run();
