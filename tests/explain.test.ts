// tsclab run explains: anomalies in real units, each incident's cause chain from the run's own timeline, per-vCPU
// clock statistics, the measurements with units; the same in --json. On the seeds, and on the formatters alone.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadBuiltin, builtinNames } from '../sim/scenarios.js';
import { Machine } from '../sim/machine.js';
import { explain, renderExplanation, fmtSize, groupAnomalies } from '../tools/explain.js';
import { fmtDuration } from '../tools/fmt.js';

function explained(name: string) {
  const s = loadBuiltin(name);
  const m = new Machine(s);
  m.traceEvery = (s.until - s.observe.from) / 1000n || 1n;
  const r = m.run();
  const tscKhz = m.guest.tscKhz || m.host.khz;
  return { r, e: explain(r, m.trace, { tscKhz, kvmclock: s.vm.guest.kvmclock, everyNs: m.traceEvery }), tscKhz };
}

test('durations in the unit that fits, exactly; cycles with their rate; soft-lockup units converted', () => {
  assert.equal([0n, 5n, 1500n, 100_000_760n, -720n, 2_000_000_000n].map((n) => fmtDuration(n)), ['0 ns', '5 ns', '1.5 µs', '100.00076 ms', '-720 ns', '2 s']);
  assert.is(fmtDuration(6_044_209_242_000_000n), '6044209.242 s (69.96 d)');
  assert.is(fmtSize({ size: 23n, unit: 'units' }), '23 units of 2^30 ns = 24.696061952 s (the kernel prints "stuck for 23s")');
  assert.is(fmtSize({ size: 2_500_000n, unit: 'cycles' }, 2_500_000), '2500000 cycles (1 ms at 2500000 kHz)');
  assert.is(fmtSize({ size: 3n, unit: '100ns' }), '300 ns (3 Hyper-V 100 ns units)');
});

test('seed 000: the chain runs hot-add -> masterclock off -> warp -> TSC_ADJUST write -> leap -> stalls, from the run\'s events', () => {
  const { r, e } = explained('seed-000-tsc-adjust-hotplug');
  assert.is(e.incidents.length, 1);
  const chain = e.incidents[0].chain;
  const order = ['stop', 'migrate legacy to dst', 'cont', 'hot-add vCPU 8 on pCPU 8', 'masterclock off', 'time-backwards kvmclock', 'TSC_ADJUST write', 'tsc-warp',
    'tsc-adjust-compensate', 'time-jump kvmclock', 'rcu-stall', 'soft-lockup', 'tsc-unstable', 'time-stall kvmclock'];
  let at = -1;
  for (const l of order) {
    const i = chain.indexOf(l, at + 1);
    assert.ok(i > at, `"${l}" after position ${at} in: ${chain}`);
    at = i;
  }
  // every anomaly is in the incident, grouped across vCPUs
  const n = e.incidents[0].steps.filter((s) => s.source === 'anomaly').length;
  assert.is(n, e.anomalies.length);
  assert.is(e.anomalies.reduce((k, g) => k + Math.max(1, g.vcpus.length), 0), r.anomalies.length);
  const text = renderExplanation(e).join('\n');
  assert.match(text, /soft-lockup \(vCPUs 1-7\) at 6044209\.547000 s: 5628987 units of 2\^30 ns = 6044078\.\d+ s \(69\.95 d\) \(the kernel prints "stuck for 5628987s"\)/);
  assert.match(text, /tsc-warp \(vCPU 8\) at 6044209\.546822 s: 13266090348023247 cycles \(6044\d+\.\d+ s \(69\.9\d d\) at \d+ kHz\)/);
  assert.match(text, /\(the guest writes IA32_TSC_ADJUST/);
  assert.match(text, /vCPUs 0-7 +tsc +end -4\.300875 ms/);
});

test('seed 002: the migration measurements in the text, exact; the kvmclock\'s +0.4 ppm stretch on the scaled host', () => {
  const { e } = explained('seed-002-precise-migration');
  const text = renderExplanation(e).join('\n');
  assert.match(text, /migration2\.kvmclockDeltaAtSameTscNs +-100000760 ns = -100\.00076 ms/);
  assert.match(text, /migration1\.guestTscJumpCycles +250000000 cycles \(100 ms at 2500000 kHz\)/);
  const kvm = e.clocks.find((c) => c.vcpu === 0 && c.clock === 'kvmclock')!;
  assert.ok(kvm.segmentPpm && kvm.segmentPpm[1] > 0.35 && kvm.segmentPpm[1] < 0.45, String(kvm.segmentPpm));
  assert.is(e.incidents.length, 3, 'each migration, and the cont that steps kvmclock back 720 ns');
  assert.match(text, /time-backwards \(vCPUs 0-1, kvmclock\) at 7\.200000 s: 720 ns backwards/);
});

test('every seed: each anomaly group is in exactly one incident, each incident names its cause before its anomalies', () => {
  for (const name of builtinNames().filter((n) => n.startsWith('seed-'))) {
    const { e } = explained(name);
    const inIncidents = e.incidents.flatMap((i) => i.steps.filter((s) => s.source === 'anomaly'));
    assert.is(inIncidents.length, e.anomalies.length, name);
    for (const inc of e.incidents) assert.ok(inc.steps[0].source !== 'anomaly' || name.includes('003'), `${name}: ${inc.chain}`);
    assert.ok(e.clocks.length >= 3, name);
  }
});

test('groupAnomalies: the same anomaly on several vCPUs is one line with their ranges', () => {
  const a = (vcpu: number) => ({ type: 'time-stall' as const, t: 1n, until: 2n, vcpu, clock: 'kvmclock' as const, size: 1_000n, unit: 'ns' as const, count: 1 });
  const g = groupAnomalies([a(0), a(1), a(2), a(5)]);
  assert.is(g.length, 1);
  assert.is(g[0].text, 'time-stall (vCPUs 0-2,5, kvmclock) at 0.000000 s .. 0.000000 s: stood still 1 µs');
});

test('tsclab run: the explanation after the log; --json carries it', () => {
  const cli = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
  const run = (...a: string[]) => spawnSync(process.execPath, ['--import', 'tsx', cli, 'run', ...a], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  const t = run('seed-004-ksm-numad');
  assert.is(t.status, 0, t.stderr);
  assert.match(t.stdout, /\n2 anomalies: soft-lockup x2\n  soft-lockup \(vCPUs 0-1\) at 84\.070000 s: 23 units of 2\^30 ns = 24\.696061952 s/);
  assert.match(t.stdout, /Incident 1 \(84\.070000 s\)/);
  assert.match(t.stdout, /in short: .*numad migrate_pages → soft-lockup/);
  assert.match(t.stdout, /Clocks minus real time, per vCPU/);
  const j = JSON.parse(run('seed-004-ksm-numad', '--json').stdout);
  assert.is(j.explanation.incidents.length, 1);
  assert.is(j.explanation.anomalies[0].sizeText, '23 units of 2^30 ns = 24.696061952 s (the kernel prints "stuck for 23s")');
  assert.is(typeof j.explanation.clocks[0].p99Ns, 'string');
});

test.run();
