// npm run bench [-- --quick] [-- --save]: every kernel in Wasm scalar, Wasm SIMD, the
// BigInt oracle, tuned plain-JS Numbers and native C (bench/native/kernels.c,
// compiled with cc -O2 now), over the same seeded data; plus the scalar API,
// the warp loop and the simulation. benchmark.js drives the JS side; the C
// baseline runs as a subprocess. Prints markdown tables (the cases, then the
// goals met or missed) and writes the results to bench/results/last-run.json,
// which git ignores, so benchmarking leaves the checkout clean. --save also
// writes bench/results/latest.json, the committed run behind the README table.
import Benchmark from 'benchmark';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, arch, platform } from 'node:os';
import { fileURLToPath } from 'node:url';
import { createKernel, type Kernel } from '../bindings/index.js';
import * as o from '../oracle/index.js';
import { pvclockBatchJs, cyc2nsBatchJs, scaleBatchJs, perfBatchJs } from './js-number.js';
import { parseScenario } from '../sim/scenario.js';
import { runScenario } from '../sim/machine.js';
import { splitmix64 } from '../sim/units.js';

const quick = process.argv.includes('--quick');
const save = process.argv.includes('--save');
const N = quick ? 1 << 16 : 1 << 20;       // samples per batch call
const NB = quick ? 1 << 10 : 1 << 13;      // the BigInt oracle's batch (it is ~100x slower)
const SEED = 1n;
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

// ---- the same parameters as bench/native/kernels.c -------------------------------
const PV = { tscTimestamp: 10_000_000_000n, systemTime: 1_000_000_000n, tscToSystemMul: 0xcccccccc, tscShift: -1 };
const VMX_RATIO = 337_769_972_052_787n, SVM_RATIO = 5_153_960_755n;
const CS_MULT = 6_462_365, CS_SHIFT = 24;
const PERF = { timeZero: 1000n, timeMult: 858_993_459, timeShift: 31 };

interface Case { kernel: string; impl: string; nsPerOp: number; opsPerSec: number; spread: string; checksum: string; ratioToNative: number | null; note?: string }
const cases: Case[] = [];

function splitmix(n: number, seed: bigint): BigUint64Array {
  const a = new BigUint64Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) [s, a[i]] = splitmix64(s);
  return a;
}
const xor = (a: BigUint64Array, n = a.length) => { let x = 0n; for (let i = 0; i < n; i++) x ^= a[i]; return x.toString(); };

/** benchmark.js on fn (one call = opsPerCall ops): the median ns/op and the relative margin of error. */
function measure(name: string, fn: () => void, opsPerCall: number): { nsPerOp: number; spread: string } {
  const b = new Benchmark(name, fn, { minSamples: quick ? 5 : 15, maxTime: quick ? 0.25 : 1.2, initCount: 1 });
  b.run();
  const s = [...b.stats.sample].sort((x, y) => x - y);
  const median = s[Math.floor(s.length / 2)];
  return { nsPerOp: (median * 1e9) / opsPerCall, spread: `±${b.stats.rme.toFixed(1)}%` };
}

// ---- the native baseline ------------------------------------------------------------
const nativeBin = here('./native/kernels.bin');
let nativeNote: string | null = null;
try {
  execFileSync('cc', ['-O2', '-o', nativeBin, here('./native/kernels.c')], { stdio: 'pipe' });
} catch (e) {
  nativeNote = `native C skipped: no working C compiler (${(e as Error).message.split('\n')[0]})`;
}
function native(kernel: string, n: number): { nsPerOp: number; checksum: string } | null {
  if (nativeNote) return null;
  const runs = Array.from({ length: quick ? 3 : 5 }, () =>
    JSON.parse(execFileSync(nativeBin, [kernel, String(n), quick ? '5' : '10', String(SEED)], { encoding: 'utf8' })));
  runs.sort((a, b) => a.nsPerOp - b.nsPerOp);
  return runs[Math.floor(runs.length / 2)];
}

// ---- batch kernels -------------------------------------------------------------------
const scalar = createKernel({ simd: false }), simd = createKernel({ simd: true });
const data = splitmix(N, SEED);
type Impl = { impl: string; run: (out: BigUint64Array) => void; n: number };

function batchCase(kernel: string, nativeName: string, impls: (k: Kernel, input: BigUint64Array) => (out: BigUint64Array) => void,
                   js: (input: BigUint64Array, out: BigUint64Array) => void, oracle: (x: bigint) => bigint) {
  const c = native(nativeName, N);
  const rows: Case[] = [];
  const list: Impl[] = [];
  for (const [name, k] of [['wasm-scalar', scalar], ['wasm-simd', simd]] as const) {
    const buf = k.allocSamples(N), out = k.allocSamples(N);
    buf.array.set(data);
    const f = impls(k, buf.array);
    list.push({ impl: name, n: N, run: () => f(out.array) });
    f(out.array);
    rows.push({ kernel, impl: name, ...measure(`${kernel} ${name}`, () => f(out.array), N), checksum: xor(out.array), opsPerSec: 0, ratioToNative: null });
  }
  const jsOut = new BigUint64Array(N);
  js(data, jsOut);
  rows.push({ kernel, impl: 'js-number', ...measure(`${kernel} js`, () => js(data, jsOut), N), checksum: xor(jsOut), opsPerSec: 0, ratioToNative: null });
  const small = data.subarray(0, NB), orOut = new BigUint64Array(NB);
  const runOracle = () => { for (let i = 0; i < NB; i++) orOut[i] = oracle(small[i]); };
  runOracle();
  const wasmSmall = new BigUint64Array(NB);
  impls(scalar, small)(wasmSmall);
  rows.push({ kernel, impl: 'bigint-oracle', ...measure(`${kernel} oracle`, runOracle, NB), checksum: xor(orOut), opsPerSec: 0, ratioToNative: null,
    note: `first ${NB} samples: ${xor(orOut) === xor(wasmSmall) ? 'agrees with Wasm on them' : 'DISAGREES with Wasm'}` });
  if (c) rows.push({ kernel, impl: 'native-c', nsPerOp: c.nsPerOp, spread: 'median of runs', checksum: c.checksum, opsPerSec: 0, ratioToNative: 1 });
  for (const r of rows) {
    r.opsPerSec = 1e9 / r.nsPerOp;
    if (c && r.impl !== 'native-c') r.ratioToNative = r.nsPerOp / c.nsPerOp;
  }
  cases.push(...rows);
}

batchCase('pvclock batch', 'pvclock', (k, input) => (out) => k.pvclockReadBatch(PV, input, out),
  (i, out) => pvclockBatchJs(i, out, PV.tscTimestamp, PV.systemTime, PV.tscToSystemMul, PV.tscShift),
  (x) => o.pvclockReadCycles({ ...PV, tscToSystemMul: BigInt(PV.tscToSystemMul) }, x));
batchCase('kvmScaleTsc batch VMX 48', 'scale48', (k, input) => (out) => k.kvmScaleTscBatch(input, out, VMX_RATIO, 48),
  (i, out) => scaleBatchJs(i, out, VMX_RATIO, 48), (x) => o.kvmScaleTsc(x, VMX_RATIO, 48));
batchCase('kvmScaleTsc batch SVM 32', 'scale32', (k, input) => (out) => k.kvmScaleTscBatch(input, out, SVM_RATIO, 32),
  (i, out) => scaleBatchJs(i, out, SVM_RATIO, 32), (x) => o.kvmScaleTsc(x, SVM_RATIO, 32));
batchCase('clocksource cyc2ns batch', 'cyc2ns', (k, input) => (out) => k.clocksourceCyc2nsBatch(input, out, CS_MULT, CS_SHIFT),
  (i, out) => cyc2nsBatchJs(i, out, CS_MULT, CS_SHIFT), (x) => o.clocksourceCyc2ns(x, BigInt(CS_MULT), CS_SHIFT));
batchCase('perf conversion batch', 'perf', (k, input) => (out) => k.perfTscToNsBatch(input, out, PERF),
  (i, out) => perfBatchJs(i, out, PERF.timeZero, PERF.timeMult, PERF.timeShift),
  (x) => o.perfTscToNs(x, { ...PERF, timeMult: BigInt(PERF.timeMult) }));

// ---- the warp loop: two CPUs, the second 5000 cycles behind ----------------------------
{
  // stepping every acquisition, against the C twin of the same loop (it has no closed form)
  const opts = { cpus: [{}, { offset: BigInt.asUintN(64, -5000n) }], tscKhz: 1_000_000, hostStart: 1_000_000_000n, seed: SEED,
    timeoutMs: quick ? 200 : 1000, handoffCycles: 200, stepOnly: true }; // a fixed hand-off: the C twin has no per-run draw
  const probe = simd.checkTscWarp(opts);
  const m = measure('warp', () => simd.checkTscWarp(opts), probe.reads);
  const c = native('warp', probe.reads);
  cases.push({ kernel: 'warp-check loop', impl: 'wasm', ...m, opsPerSec: 1e9 / m.nsPerOp, checksum: String(probe.maxWarp),
    ratioToNative: c ? m.nsPerOp / c.nsPerOp : null, note: `${probe.reads} simulated TSC reads per call, every acquisition stepped` });
  if (c) cases.push({ kernel: 'warp-check loop', impl: 'native-c', nsPerOp: c.nsPerOp, opsPerSec: 1e9 / c.nsPerOp, spread: 'median of runs', checksum: c.checksum, ratioToNative: 1 });
  // the check a hot-add runs (20 ms, a hand-off drawn per run): strict alternation skipped in closed form
  const hot = { cpus: [{}, { offset: BigInt.asUintN(64, -5000n) }], tscKhz: 2_500_000, hostStart: 1_000_000_000n, seed: SEED, timeoutMs: 20 };
  const hp = simd.checkTscWarp(hot);
  const hm = measure('warp 20 ms', () => simd.checkTscWarp(hot), hp.reads);
  const same = JSON.stringify(hp, (_, v) => (typeof v === 'bigint' ? `${v}` : v)) === JSON.stringify(simd.checkTscWarp({ ...hot, stepOnly: true }), (_, v) => (typeof v === 'bigint' ? `${v}` : v));
  cases.push({ kernel: 'warp check of a hot-add (20 ms)', impl: 'wasm', ...hm, opsPerSec: 1e9 / hm.nsPerOp, checksum: String(hp.maxWarp), ratioToNative: null,
    note: `${hp.reads} simulated TSC reads in ${(hm.nsPerOp * Number(hp.reads) / 1e3).toFixed(1)} us: the alternation skipped in closed form${same ? ', the same result as stepping' : ' -- DIFFERS from stepping'}` });
}

// ---- the scalar convenience API ----------------------------------------------------------
{
  const xs = Array.from(data.subarray(0, 1000));
  let sink = 0n;
  const m = measure('scalar', () => { for (const x of xs) sink ^= simd.pvclockScaleDelta(x, 0xcccccccc, -1); }, xs.length);
  const mo = measure('scalar oracle', () => { for (const x of xs) sink ^= o.pvclockScaleDelta(x, 0xccccccccn, -1); }, xs.length);
  const check = xs.reduce((a, x) => a ^ simd.pvclockScaleDelta(x, 0xcccccccc, -1), 0n).toString();
  const checkO = xs.reduce((a, x) => a ^ o.pvclockScaleDelta(x, 0xccccccccn, -1), 0n).toString();
  cases.push({ kernel: 'scalar API call (pvclockScaleDelta)', impl: 'wasm', ...m, opsPerSec: 1e9 / m.nsPerOp, checksum: check, ratioToNative: null,
    note: 'bigint in, checked, Wasm, bigint out' });
  cases.push({ kernel: 'scalar API call (pvclockScaleDelta)', impl: 'bigint-oracle', ...mo, opsPerSec: 1e9 / mo.nsPerOp, checksum: checkO, ratioToNative: null });
  if (sink === 42n) console.log('');
}

// ---- the simulation: a 16-vCPU guest, quiet (its cost is its events: the periodic kvmclock syncs) ----------
for (const [label, until] of [['24 h', '24h'], ['30 days', '30d']] as const) {
  const s = parseScenario({ name: 'bench', until, observe: { period: '10ms' },
    hosts: [{ name: 'h', tscKhz: 2_500_000, pcpus: 32 }], vm: { host: 'h', vcpus: 16 } });
  let r = runScenario(s);
  const m = measure(`simulation ${label}`, () => { r = runScenario(s); }, 1);
  cases.push({ kernel: `simulation, 16 vCPUs, ${label}`, impl: 'wasm+ts', nsPerOp: m.nsPerOp, opsPerSec: 1e9 / m.nsPerOp, spread: m.spread,
    checksum: String(r.stats.events), ratioToNative: null,
    note: `${r.stats.events} events (periodic syncs), ${r.stats.reads} points evaluated; observe.period 10 ms (no longer a read grid)` });
}
// ---- fuzzing: the search's throughput on 2 workers, and the time to find each seed class ---------------------
{
  const { runCampaign, runKernelFuzz } = await import('../sim/fuzz/campaign.js');
  const { oracleCheck } = await import('../sim/fuzz/oracle-check.js');
  // the benchmark's generator: ~30-event scenarios, modern rules, precise-scaled migration, the VM-wide rate; churn
  // (hundreds of events) left out of this measure
  const clean = { rules: '6.7+' as const, procedures: ['precise-scaled' as const], hostSuspend: false, vmWideTscKhz: true,
    actions: ['stop-cont', 'migrate', 'hot-add', 'move-vcpu', 'preempt', 'wrmsr'] };
  const runs = quick ? 4000 : 100_000;
  const r = await runCampaign({ seed: 11, runs, workers: 2, gen: clean });
  const perWorker = r.runs / (r.workerMs / 1000);
  const kinds = r.classes.map((c) => `${c.invariant} x${c.count}`).join(', ') || 'none';
  cases.push({ kernel: 'fuzz search throughput (scenarios)', impl: '2 workers', nsPerOp: (r.workerMs * 1e6) / r.runs / 2, opsPerSec: perWorker * 2,
    spread: '-', checksum: String(r.classes.length), ratioToNative: null,
    note: `${perWorker.toFixed(0)} scenarios/s per worker over ${r.runs} runs (shards stop at a finding), ${(r.events / r.runs).toFixed(0)} events per scenario; ` +
      `finding kinds: ${kinds}; shrinking ${(r.shrinkMs / 1000).toFixed(1)} s apart` });
  const classes: [string, import('../sim/fuzz/arbitraries.js').FuzzOptions][] = [
    ['seed-000 class (3.8-4.11 hot-add warp)', { rules: '3.8-4.11', actions: ['hot-add', 'stop-cont', 'move-vcpu', 'preempt'], startAfter: 5000, guest: { kvmclock: true } }],
    ['seed-002 class (legacy migration)', { rules: '6.7+', procedures: ['legacy'], hostSuspend: false }],
    ['seed-003 class (2.6.37 without catch-up: stall)', { rules: '2.6.37-3.3', commits: { c285545f813d: false }, unstableHosts: true }],
  ];
  for (const [name, gen] of classes) {
    const f = await runCampaign({ seed: 11, runs: 2 * 25, workers: 2, gen });
    // from scratch: the first shard's search up to its finding (worker start-up and shrinking apart)
    const first = f.shards.find((x) => x.failure);
    cases.push({ kernel: `time to find the ${name}`, impl: '2 workers', nsPerOp: first ? first.searchMs * 1e6 : NaN, opsPerSec: NaN, spread: '-',
      checksum: String(f.findings.length), ratioToNative: null,
      note: first ? `found in ${(first.searchMs / 1000).toFixed(2)} s of search (run ${first.runs} of its shard): ${first.failure!.violations[0]?.invariant}` : 'NOT found in 50 runs' });
  }
  const kf = await runKernelFuzz({ seed: 1, seconds: quick ? 2 : 5, workers: 2 }, simd, (s0, n) => oracleCheck(simd, s0, n));
  cases.push({ kernel: 'fuzz --kernel (in-Wasm differential)', impl: '2 workers', nsPerOp: (kf.wallMs * 1e6) / kf.cases, opsPerSec: kf.cases / (kf.wallMs / 1000),
    spread: '-', checksum: String(kf.kinds.reduce((a, k) => a + k.mismatches, 0)), ratioToNative: null,
    note: `${(kf.cases / (kf.wallMs / 1000) / 1e6).toFixed(1)} M cases/s; checksum = mismatches` });
  // the one documented kind (docs/model.md): kvmclock a little behind at a stop/cont after a migration to another rate,
  // at most 2 ppm of the time since the VM started (pages at whole kHz, KVM_GET_CLOCK at the host's rate)
  const documented = (c: { invariant: string; detail: string }) => {
    const m = /^kvmclock on vCPU \d+ at ([\d.]+) s, (\d+) ns backwards$/.exec(c.detail);
    return c.invariant === 'no-time-backwards' && m !== null && Number(m[2]) <= Number(m[1]) * 2_000;
  };
  const undocumented = r.classes.filter((c) => !documented(c));
  cases.push({ kernel: 'fuzz: kinds of finding in the benchmark campaign', impl: '-', nsPerOp: NaN, opsPerSec: NaN, spread: '-',
    checksum: String(undocumented.length), ratioToNative: null,
    note: `${kinds}${undocumented.length ? `; NOT DOCUMENTED: ${undocumented.map((c) => `${c.invariant}: ${c.detail}`).join('; ')}` : ' (the whole-kHz page rate: documented)'}` });
}

// ---- goals ----------------------------------------------------------------------------------
const best = (k: string) => cases.filter((c) => c.kernel === k && c.impl.startsWith('wasm')).sort((a, b) => a.nsPerOp - b.nsPerOp)[0];
const get = (k: string, impl: string) => cases.find((c) => c.kernel === k && c.impl === impl);
const ratio = (k: string) => { const b = best(k), c = get(k, 'native-c'); return b && c ? b.nsPerOp / c.nsPerOp : NaN; };
const batchKernels = ['pvclock batch', 'kvmScaleTsc batch VMX 48', 'kvmScaleTsc batch SVM 32', 'clocksource cyc2ns batch', 'perf conversion batch'];
const goals = [
  { goal: 'pvclock batch <= 0.6x native C time', value: ratio('pvclock batch'), ok: (v: number) => v <= 0.6, fmt: (v: number) => `${v.toFixed(2)}x` },
  { goal: '64x64 scaling (VMX 48) <= 1.5x native', value: ratio('kvmScaleTsc batch VMX 48'), ok: (v: number) => v <= 1.5, fmt: (v: number) => `${v.toFixed(2)}x` },
  { goal: 'cyc2ns <= 1.0x native', value: ratio('clocksource cyc2ns batch'), ok: (v: number) => v <= 1.0, fmt: (v: number) => `${v.toFixed(2)}x` },
  { goal: 'scalar call <= 35 ns', value: get('scalar API call (pvclockScaleDelta)', 'wasm')!.nsPerOp, ok: (v: number) => v <= 35, fmt: (v: number) => `${v.toFixed(1)} ns` },
  { goal: '>= 100x faster than BigInt on every batch kernel', value: Math.min(...batchKernels.map((k) => get(k, 'bigint-oracle')!.nsPerOp / best(k).nsPerOp)),
    ok: (v: number) => v >= 100, fmt: (v: number) => `worst ${v.toFixed(0)}x` },
  { goal: 'warp check >= 300 M simulated TSC reads/s (a hot-add\'s 20 ms check)', value: get('warp check of a hot-add (20 ms)', 'wasm')!.opsPerSec / 1e6,
    ok: (v: number) => v >= 300, fmt: (v: number) => `${v.toFixed(0)} M/s (stepping: ${(get('warp-check loop', 'wasm')!.opsPerSec / 1e6).toFixed(0)} M/s)` },
  { goal: 'fuzz search >= 10,000 scenarios/s on 2 workers', value: get('fuzz search throughput (scenarios)', '2 workers')!.opsPerSec,
    ok: (v: number) => v >= 10_000, fmt: (v: number) => `${v.toFixed(0)} /s` },
  { goal: `modern generator, ${quick ? '4,000' : '100,000'} scenarios: no finding, or only documented real behaviour`,
    value: Number(get('fuzz: kinds of finding in the benchmark campaign', '-')!.checksum),
    ok: (v: number) => v === 0, fmt: () => get('fuzz: kinds of finding in the benchmark campaign', '-')!.note ?? '' },
  { goal: 'each seed class found from scratch in < 0.5 s on 2 workers', value: Math.max(...cases.filter((c) => c.kernel.startsWith('time to find')).map((c) => (c.checksum === '0' ? Infinity : c.nsPerOp / 1e9))),
    ok: (v: number) => v < 0.5, fmt: (v: number) => `slowest ${v.toFixed(2)} s` },
  { goal: '16 vCPUs x 24 h of guest time < 0.1 s', value: get('simulation, 16 vCPUs, 24 h', 'wasm+ts')!.nsPerOp / 1e9,
    ok: (v: number) => v < 0.1, fmt: (v: number) => `${v.toFixed(3)} s` },
  { goal: '16 vCPUs x 30 days of guest time < 1 s', value: get('simulation, 16 vCPUs, 30 days', 'wasm+ts')!.nsPerOp / 1e9,
    ok: (v: number) => v < 1, fmt: (v: number) => `${v.toFixed(3)} s` },
];

// ---- output ---------------------------------------------------------------------------------
const agree = (k: string) => {
  const sums = cases.filter((c) => c.kernel === k && c.impl !== 'bigint-oracle').map((c) => c.checksum);
  return new Set(sums).size === 1 ? 'agree' : 'DISAGREE';
};
const cpu = cpus()[0]?.model ?? 'unknown';
const result = {
  machine: { cpu, cpus: cpus().length, arch: arch(), platform: platform() },
  node: process.version, date: new Date().toISOString(), quick, batch: N,
  ...(nativeNote ? { note: nativeNote } : {}),
  cases: cases.map((c) => ({ ...c, nsPerOp: Number.isFinite(c.nsPerOp) ? Number(c.nsPerOp.toFixed(4)) : null,
    opsPerSec: Number.isFinite(c.opsPerSec) ? Math.round(c.opsPerSec) : null, ratioToNative: c.ratioToNative === null ? null : Number(c.ratioToNative.toFixed(3)) })),
  goals: goals.map((g) => ({ goal: g.goal, value: g.fmt(g.value), met: g.ok(g.value) })),
};
mkdirSync(here('./results'), { recursive: true });
for (const file of save ? ['last-run.json', 'latest.json'] : ['last-run.json']) {
  writeFileSync(here(`./results/${file}.tmp`), `${JSON.stringify(result, null, 2)}\n`);
  renameSync(here(`./results/${file}.tmp`), here(`./results/${file}`));
}

const lines = [`# tsclab benchmarks (${quick ? 'quick' : 'full'})`, '', `${cpu}, ${cpus().length} CPUs, Node ${process.version}, batches of ${N} samples`, ''];
if (nativeNote) lines.push(`> ${nativeNote}`, '');
lines.push('| kernel | impl | ns/op | spread | ratio to C | checksum |', '|---|---|---:|---|---:|---|');
let last = '';
for (const c of cases) {
  const sum = c.kernel !== last && c.checksum !== '-' && /batch|^warp-check/.test(c.kernel) ? ` (${agree(c.kernel)})` : '';
  lines.push(`| ${c.kernel === last ? '' : c.kernel} | ${c.impl} | ${Number.isFinite(c.nsPerOp) ? (c.nsPerOp >= 1e6 ? `${(c.nsPerOp / 1e6).toFixed(1)} ms` : c.nsPerOp.toFixed(3)) : '-'} | ${c.spread} | ${c.ratioToNative === null ? '-' : `${c.ratioToNative.toFixed(2)}x`} | ${c.checksum.slice(0, 20)}${sum}${c.note ? ` — ${c.note}` : ''} |`);
  last = c.kernel;
}
lines.push('', '| goal | measured | |', '|---|---|---|');
for (const g of goals) lines.push(`| ${g.goal} | ${g.fmt(g.value)} | ${g.ok(g.value) ? 'met' : '**missed**'} |`);
console.log(lines.join('\n'));
console.log(`\nresults: bench/results/last-run.json${save ? ' and bench/results/latest.json' : ' (git-ignored; --save also writes the committed bench/results/latest.json)'}`);
if (existsSync(nativeBin) && process.env.TSCLAB_KEEP_NATIVE !== '1') spawnSync('rm', ['-f', nativeBin]);

