// The fuzzer's acceptance, each with a fixed seed and a bounded budget: the
// 3.8-4.11 rules give the hot-add warp class (seed 000), 2.6.37 without catch-up time standing still
// (seed 003), legacy migration a kvmclock step back (seed 002); the modern
// rules with precise migration find nothing in the same budget. Findings are
// the same whatever the number of workers, survive as files, replay, resume.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { runCampaign } from '../sim/fuzz/campaign.js';
import { scenarioArbitrary } from '../sim/fuzz/arbitraries.js';
import { params } from './support/fc.js';
import { check } from '../sim/fuzz/campaign.js';
import { parseScenario } from '../sim/scenario.js';
import { Machine, runScenario } from '../sim/machine.js';
import * as invariants from '../sim/fuzz/invariants.js';

const RUNS = 200;

test('v4.x: hot-adding a vCPU to a VM older than a second finds the seed-000 class (warp, TSC_ADJUST, kvmclock leap)', async () => {
  const r = await runCampaign({ seed: 11, runs: RUNS, workers: 2, gen: { rules: '3.8-4.11', actions: ['hot-add', 'stop-cont', 'move-vcpu', 'preempt'], startAfter: 5000 } });
  assert.ok(r.findings.length > 0);
  const f = r.shards.find((s) => s.failure)!.failure!;
  assert.ok((f.scenario.events as { do: string }[]).some((e) => e.do === 'hot-add'), 'the shrunk case keeps its hot-add');
  const run = runScenario(parseScenario(f.scenario));
  assert.ok(run.anomalies.some((a) => a.type === 'tsc-warp'), 'tsc_sync measured a warp');
  assert.ok(run.anomalies.some((a) => a.type === 'tsc-adjust-compensate'));
  assert.ok(run.anomalies.some((a) => a.type === 'time-jump' && a.clock === 'kvmclock' && a.size > 4_000_000_000n), 'kvmclock leapt by ~the VM age');
});

test('v2.6.37: time stands still (seed-003 class)', async () => {
  const r = await runCampaign({ seed: 3, runs: RUNS, workers: 2, gen: { rules: '2.6.37-3.3', commits: { c285545f813d: false }, unstableHosts: true } });
  assert.ok(r.findings.some((f) => f.invariant === 'no-stall-while-running'), JSON.stringify(r.findings));
});

test('legacy migration: kvmclock steps back at the same guest TSC (seed-002 class)', async () => {
  const r = await runCampaign({ seed: 11, runs: RUNS, workers: 2, gen: { rules: '6.7+', procedures: ['legacy'], hostSuspend: false } });
  const f = r.findings.find((x) => x.invariant === 'kvmclock-kept-across-migration');
  assert.ok(f, JSON.stringify(r.findings));
  assert.match(f!.detail, /\(legacy\): at the same guest TSC kvmclock moved -\d+ ns/);
});

test('modern rules, QEMU\'s per-vCPU TSC rate: a vCPU hot-added after a migration to another rate starts at TSC 0 (Huawei 2021)', async () => {
  // KVM creates it at the host's rate; QEMU sets the VM's rate after, so its TSC write of 0 never matches
  const r = await runCampaign({ seed: 11, runs: RUNS, workers: 2, gen: { rules: '6.7+', procedures: ['precise-scaled'], hostSuspend: false } });
  assert.ok(r.findings.length > 0);
  assert.ok(r.findings.some((f) => f.invariant === 'no-backwards'), JSON.stringify(r.findings));
});

test('modern rules, the VM-wide TSC rate (6.0+), catch-up and precise migration: nothing in the same budget', async () => {
  const r = await runCampaign({ seed: 11, runs: RUNS, workers: 2, gen: { rules: '6.7+', procedures: ['precise-scaled'], hostSuspend: false, vmWideTscKhz: true } });
  assert.is(r.runs, RUNS);
  assert.equal(r.findings, []);
});

test('modern rules, precise-scaled migration, no churn: nothing in a 20x budget (the benchmark\'s campaign)', async () => {
  // 4000 runs of this campaign once found a false lockup verdict (two stalls a read period apart): kept as a guard
  const r = await runCampaign({ seed: 11, runs: 20 * RUNS, workers: 2, gen: { rules: '6.7+', procedures: ['precise-scaled'], hostSuspend: false,
    vmWideTscKhz: true, actions: ['stop-cont', 'migrate', 'hot-add', 'move-vcpu', 'preempt', 'wrmsr'] } });
  assert.is(r.runs, 20 * RUNS);
  assert.equal(r.findings, []);
});

test('the same seed and budget give the same findings with 1 or 2 workers', async () => {
  const gen = { rules: '2.6.37-3.3' as const, commits: { c285545f813d: false }, unstableHosts: true };
  const a = await runCampaign({ seed: 5, runs: 75, workers: 1, gen });
  const b = await runCampaign({ seed: 5, runs: 75, workers: 2, gen });
  const key = (r: typeof a) => JSON.stringify(r.shards.map((s) => [s.shard, s.runs, s.failure?.path, s.failure?.scenario]));
  assert.is(key(a), key(b));
});

test('findings are written as scenario files that replay to the same violation', async () => {
  const out = mkdtempSync(join(tmpdir(), 'tsclab-fuzz-'));
  const gen = { rules: '2.6.37-3.3' as const, commits: { c285545f813d: false }, unstableHosts: true };
  const first = await runCampaign({ seed: 3, runs: 50, workers: 2, out, gen });
  const files = readdirSync(out).filter((f) => f.startsWith('fuzz-'));
  assert.is(files.length, first.findings.length);
  assert.ok(files.length > 0);
  for (const f of files) {
    const raw = JSON.parse(readFileSync(join(out, f), 'utf8'));
    const inv = f.replace(/^fuzz-/, '').replace(/-seed\d+\.json$/, '');
    assert.ok(check(raw).violations.some((v) => v.invariant === inv), `${f} replays to ${inv}`);
  }
  const state = JSON.parse(readFileSync(join(out, 'campaign.json'), 'utf8'));
  assert.equal(state.done, [0, 1]);
  assert.equal(state.budget, { runs: 50 });
  assert.is(state.findings.length, first.findings.length);
});

test('--resume: an interrupted campaign runs the shards not done yet and reports every finding of the campaign, old and new', async () => {
  const gen = { rules: '2.6.37-3.3' as const, unstableHosts: true };
  const whole = await runCampaign({ seed: 3, runs: 150, workers: 2, gen });
  assert.ok(whole.findings.length >= 3, 'the budget finds several things');
  const out = mkdtempSync(join(tmpdir(), 'tsclab-fuzz-'));
  const stop = new AbortController();
  const part = await runCampaign({ seed: 3, runs: 150, workers: 2, out, gen, signal: stop.signal, onShard: (_, done) => { if (done >= 2) stop.abort(); } });
  assert.ok(part.shards.length < 6, 'interrupted');
  const rest = await runCampaign({ seed: 3, workers: 2, out, resume: true, gen }); // the budget is the campaign's own
  assert.equal([...part.shards, ...rest.shards].map((s) => s.shard).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5], 'each shard once');
  assert.is(rest.resumed, part.shards.length);
  const key = (f: { shard: number; invariant: string; seed: number; path: string }) => `${f.shard}:${f.invariant}:${f.seed}:${f.path}`;
  assert.equal(rest.findings.map(key), whole.findings.map(key), 'the resumed run reports the whole campaign\'s findings');
  assert.ok(rest.findings.every((f) => f.file && readdirSync(out).includes(f.file.slice(out.length + 1))), 'each finding\'s file is there');
});

test('--resume refuses other options, naming the option; a corrupt campaign.json is a clear error and is left as it is', async () => {
  const out = mkdtempSync(join(tmpdir(), 'tsclab-fuzz-'));
  const gen = { rules: '2.6.37-3.3' as const, unstableHosts: true };
  await runCampaign({ seed: 3, runs: 25, workers: 1, out, gen });
  const file = join(out, 'campaign.json');
  const saved = readFileSync(file, 'utf8');
  const refused = async (o: Partial<Parameters<typeof runCampaign>[0]>, re: RegExp) => {
    try { await runCampaign({ seed: 3, workers: 1, out, resume: true, gen, ...o }); } catch (e) {
      assert.match((e as Error).message, re);
      assert.is(readFileSync(file, 'utf8'), saved, 'campaign.json untouched');
      return;
    }
    assert.unreachable(`resumed with ${JSON.stringify(o)}`);
  };
  await refused({ seed: 4 }, /^tsclab: --seed: the campaign in .* was run with --seed 3, not 4/);
  await refused({ runs: 100 }, /^tsclab: --runs: .* was run with --runs 25, not 100/);
  await refused({ seconds: 5 }, /^tsclab: --seconds: .* has a run budget \(--runs 25\)/);
  await refused({ gen: { rules: '6.7+', unstableHosts: false } }, /^tsclab: --rules: .* was run with --rules 2\.6\.37-3\.3, not 6\.7\+/);
  await refused({ gen: { ...gen, actions: ['churn'] } }, /^tsclab: --actions: .* was run with --actions \(not given\), not churn/);
  await refused({ gen: { ...gen, hostSuspend: false } }, /^tsclab: --no-suspend:/);
  await refused({ resume: false }, /^tsclab: --out: .* already holds a campaign \(campaign\.json\): continue it with --resume/);
  for (const [text, re] of [['{"seed": 3, "done": 5', /campaign\.json: not valid JSON/], [saved.replace(/"done":\[0\]/, '"done":5'), /campaign\.json: not a campaign state of this tsclab: done: .*expected array/],
    [saved.replace('"version":1', '"version":1,"version":1'), /the key "version" appears twice/], ['{"seed": 3, "gen": {}, "done": [0]}', /campaign\.json: not a campaign state .*version/]] as const) {
    writeFileSync(file, text);
    try { await runCampaign({ seed: 3, runs: 25, workers: 1, out, resume: true, gen }); assert.unreachable(text); } catch (e) {
      assert.match((e as Error).message, re);
      assert.match((e as Error).message, /^tsclab: /, 'reported as bad input');
    }
    assert.is(readFileSync(file, 'utf8'), text, 'left as it is');
  }
});

test('--out naming a file, or a place that cannot be made, is a clear error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsclab-fuzz-'));
  const file = join(dir, 'f');
  writeFileSync(file, 'x');
  for (const [out, re] of [[file, /^tsclab: --out: .* is a file, not a directory$/], [join(file, 'sub'), /^tsclab: --out: cannot create/]] as const) {
    try { await runCampaign({ seed: 1, runs: 1, workers: 1, out, gen: {} }); assert.unreachable(out); } catch (e) { assert.match((e as Error).message, re); }
  }
  assert.is(readFileSync(file, 'utf8'), 'x');
});

test('a preemption and a stop back to back are one stall: the RCU report after 21 s is justified; 1 s apart it is not', () => {
  // found by a 4000-run campaign of the modern rules: a vCPU preempted 10.56 s runs 4 ms, less than one read
  // period, before the VM is stopped 10.43 s; without kvm-clock (no GUEST_STOPPED) the guest sees one 21 s gap
  const world = (stopAt: string) => ({
    name: 'rcu', until: '30s', observe: { period: '10ms' }, hosts: [{ name: 'a', tscKhz: 1_000_000, pcpus: 4 }],
    vm: { host: 'a', vcpus: 1, guest: { kernel: '6.8', kvmclock: false } },
    events: [{ at: '50ms', do: 'preempt', vcpu: 0, duration: '10561ms' }, { at: stopAt, do: 'stop' }, { at: '21041ms', do: 'cont' }],
  });
  const back = runScenario(parseScenario(world('10615ms')));
  assert.ok(back.anomalies.some((a) => a.type === 'rcu-stall'), 'the guest reports the stall');
  assert.equal(check(world('10615ms')).violations, []);
  // the invariant still fails a report whose stalls the guest saw apart: the same report, the stop 1 s later
  const apart = runScenario(parseScenario(world('11611ms')));
  assert.not.ok(apart.anomalies.some((a) => a.type === 'rcu-stall'), 'reads in between: no 21 s gap');
  const { checkInvariants } = invariants;
  const s = parseScenario(world('11611ms'));
  const m = new Machine(s);
  const r = m.run();
  r.anomalies.push({ ...back.anomalies.find((a) => a.type === 'rcu-stall')! });
  assert.equal(checkInvariants(s, r, m).map((v) => v.invariant), ['no-false-lockup']);
});

test('an invalid generated scenario is a finding (valid-scenario), not a crash', () => {
  const r = check({ name: 'bad', until: '1s', hosts: [{ name: 'a', tscKhz: 1_000_000 }], vm: { host: 'a', vcpus: 1, maxVcpus: 1 },
    events: [{ at: '10ms', do: 'hot-add' }] });
  assert.equal(r.violations.map((v) => v.invariant), ['valid-scenario']);
  assert.match(r.violations[0].detail, /maximum of 1 vCPU/);
});

test('every generated scenario is valid (hot-adds stop at the maximum of 8 vCPUs)', () => {
  const { seed, numRuns } = params(3000);
  for (const raw of fc.sample(scenarioArbitrary({ actions: ['hot-add', 'migrate', 'wrmsr', 'churn'] }), { seed, numRuns })) {
    parseScenario(raw, 'generated'); // throws, naming the problem, on an invalid one
  }
});

test.run();
