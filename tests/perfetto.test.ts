// tsclab run --perfetto: the Chrome JSON trace of every seed, checked against the Trace Event Format's documented
// fields (the JSON Object Format: traceEvents, displayTimeUnit, otherData; per event name, cat, ph, ts in µs, pid,
// tid, args; 'M' metadata process_name/thread_name/..._sort_index with args.name / args.sort_index; 'i' instants with
// scope s in g/p/t; 'C' counters whose args are numbers), and against the run: a thread per vCPU, a counter per
// vCPU and clock, an instant per anomaly at its time with the exact values as strings, the VMM's actions, KVM's lines
// and tracepoints.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBuiltin, builtinNames } from '../sim/scenarios.js';
import { Machine } from '../sim/machine.js';
import { perfettoTrace, tapTracepoints, usOf, type ChromeTrace } from '../tools/perfetto.js';

const META = new Set(['process_name', 'process_labels', 'process_sort_index', 'thread_name', 'thread_sort_index']);

/** The format's rules, as its documentation states them; returns the problems found. */
function validate(j: unknown): string[] {
  const bad: string[] = [];
  const o = j as ChromeTrace;
  if (typeof o !== 'object' || !o || !Array.isArray(o.traceEvents)) return ['no traceEvents array'];
  if (!['ms', 'ns'].includes(o.displayTimeUnit)) bad.push(`displayTimeUnit ${o.displayTimeUnit}`);
  o.traceEvents.forEach((e, i) => {
    const at = `event ${i} (${e.ph} ${e.name})`;
    if (typeof e.name !== 'string' || !e.name) bad.push(`${at}: name`);
    if (!Number.isInteger(e.pid)) bad.push(`${at}: pid`);
    if (typeof e.args !== 'object' || e.args === null) bad.push(`${at}: args`);
    if (e.ph === 'M') {
      if (!META.has(e.name)) bad.push(`${at}: metadata name`);
      if (e.name.endsWith('_name') && typeof e.args.name !== 'string') bad.push(`${at}: args.name`);
      if (e.name.endsWith('_sort_index') && !Number.isInteger(e.args.sort_index)) bad.push(`${at}: args.sort_index`);
      if (e.name.startsWith('thread') && !Number.isInteger(e.tid)) bad.push(`${at}: tid`);
      return;
    }
    if (typeof e.ts !== 'number' || !Number.isFinite(e.ts) || e.ts < 0) bad.push(`${at}: ts ${e.ts}`);
    if (!Number.isInteger(e.tid)) bad.push(`${at}: tid`);
    if (typeof e.cat !== 'string') bad.push(`${at}: cat`);
    if (e.ph === 'i') {
      if (!['g', 'p', 't'].includes(e.s!)) bad.push(`${at}: scope ${e.s}`);
      for (const [k, v] of Object.entries(e.args)) if (typeof v !== 'string') bad.push(`${at}: args.${k} is not a string`);
    } else if (e.ph === 'C') {
      if (!Object.keys(e.args).length) bad.push(`${at}: a counter without series`);
      for (const [k, v] of Object.entries(e.args)) if (typeof v !== 'number' || !Number.isFinite(v)) bad.push(`${at}: counter ${k} = ${v}`);
    } else bad.push(`${at}: phase ${e.ph} not used here`);
  });
  return bad;
}

function traced(name: string) {
  const s = loadBuiltin(name);
  const m = new Machine(s);
  m.enableTracepoints();
  const tps = tapTracepoints(m);
  m.traceEvery = (s.until - s.observe.from) / 1000n || 1n;
  const r = m.run();
  return { s, r, j: perfettoTrace(s, r, m.trace, m.guest.tscKhz || m.host.khz, tps()) };
}

for (const name of builtinNames().filter((n) => n.startsWith('seed-'))) {
  test(`${name}: the trace validates; a thread per vCPU, counters per clock, an instant per anomaly with exact args`, () => {
    const { s, r, j } = traced(name);
    assert.equal(validate(JSON.parse(JSON.stringify(j))), []);
    const threads = j.traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => e.args.name);
    for (let v = 0; v < s.vm.vcpus; v++) assert.ok(threads.includes(`vCPU ${v}`), `${name}: vCPU ${v} in ${threads}`);
    assert.ok(threads.includes('VMM') && threads.includes('KVM'));
    const counters = new Set(j.traceEvents.filter((e) => e.ph === 'C').map((e) => e.name));
    assert.ok(counters.has('vCPU 0 tsc - real time (ns)') && counters.has('vCPU 0 monotonic - real time (ns)'), [...counters].join());
    if (s.vm.guest.kvmclock) assert.ok(counters.has('vCPU 0 kvmclock - real time (ns)'));
    const instants = j.traceEvents.filter((e) => e.cat === 'anomaly');
    assert.is(instants.length, r.anomalies.length);
    r.anomalies.forEach((a) => {
      const e = instants.find((x) => x.args.t_ns === String(a.t) && x.args.type === a.type && x.args.size === String(a.size) &&
        (a.vcpu === undefined ? x.args.vcpu === undefined : x.args.vcpu === String(a.vcpu)) && x.args.clock === a.clock);
      assert.ok(e, `${name}: no instant for ${a.type} at ${a.t}`);
      assert.is(e!.ts, usOf(a.t));
    });
    assert.is(j.traceEvents.filter((e) => e.cat === 'vmm').length, r.log.filter((l) => l.source === 'vmm').length);
    // times never go backwards after the metadata
    const ts = j.traceEvents.filter((e) => e.ph !== 'M').map((e) => e.ts!);
    assert.ok(ts.every((t, i) => i === 0 || t >= ts[i - 1]));
  });
}

test('KVM tracepoints are placed at the real time they fired (not the host clock they print)', () => {
  const { j } = traced('seed-002-precise-migration');
  const tp = j.traceEvents.filter((e) => e.cat === 'kvm-tracepoint');
  assert.ok(tp.length > 10, `${tp.length}`);
  // a tracepoint at the second migration's restore (7.2 s), though its trace-cmd line prints the destination host's uptime
  const late = tp.find((e) => e.args.t_ns === '7200000000');
  assert.ok(late, tp.map((e) => e.args.t_ns).join());
  assert.is(late!.ts, 7_200_000);
  assert.ok(!String(late!.args.line).includes(' 7.200000:'), String(late!.args.line));
});

test('tsclab run --perfetto writes the file (and says so); the run\'s output is otherwise unchanged', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsclab-perfetto-'));
  const f = join(dir, 'out.json');
  const cli = fileURLToPath(new URL('../cli/main.ts', import.meta.url));
  const run = (...a: string[]) => spawnSync(process.execPath, ['--import', 'tsx', cli, 'run', 'seed-004-ksm-numad', ...a], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  const withFile = run('--perfetto', f);
  assert.is(withFile.status, 0, withFile.stderr);
  assert.match(withFile.stdout, /wrote .*out\.json: open it in https:\/\/ui\.perfetto\.dev or chrome:\/\/tracing/);
  const j = JSON.parse(readFileSync(f, 'utf8'));
  assert.equal(validate(j), []);
  assert.is(j.otherData.scenario, 'seed-004-ksm-numad');
  assert.is(withFile.stdout.replace(/\n\nwrote .*\n$/, '\n'), run().stdout);
});

test.run();
