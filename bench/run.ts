// npm run bench [-- --quick] [-- --save]: every batch kernel in Wasm scalar, Wasm SIMD, tuned plain-JS Numbers
// and native C compiled three ways (cc -O2, -O3, -O3 -march=native; the last also in 32-bit halves, the form gcc
// vectorises: the best of those two is "the limit"), over the same seeded data at 2^14 (L2-resident) and 2^20
// samples, interleaved in rounds (each round runs every implementation, in a rotated order), with the same
// statistics on both sides (a sample = one cycle of calls of >= CYCLE_MS; min, median, p10..p90 spread); every
// Wasm kernel warmed up before it is measured; the BigInt oracle as a reference only. Then the scalar API (in a
// fixed JIT state), the warp loop, the simulation and the fuzzer. benchmark.js drives the JS side; C runs as a
// subprocess. Prints markdown tables and writes bench/results/last-run.json (git-ignored, so benchmarking leaves
// the checkout clean); --save also writes bench/results/latest.json, the committed run behind the README table.
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
const NB = quick ? 1 << 10 : 1 << 13;      // the BigInt oracle's batch (it is ~100x slower)
const SEED = 1n;
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

// ---- the same parameters as bench/native/kernels.c -------------------------------
const PV = { tscTimestamp: 10_000_000_000n, systemTime: 1_000_000_000n, tscToSystemMul: 0xcccccccc, tscShift: -1 };
const VMX_RATIO = 337_769_972_052_787n, SVM_RATIO = 5_153_960_755n;
const CS_MULT = 6_462_365, CS_SHIFT = 24;
const PERF = { timeZero: 1000n, timeMult: 1_717_986_918, timeShift: 32 }; // a 2.5 GHz TSC as x86 exports it (cyc2ns: shift 32 above 1 GHz)

interface Case { kernel: string; impl: string; nsPerOp: number; opsPerSec: number; spread: string; checksum: string; ratioToNative: number | null; note?: string }
const cases: Case[] = [];

function splitmix(n: number, seed: bigint): BigUint64Array {
  const a = new BigUint64Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) [s, a[i]] = splitmix64(s);
  return a;
}
const xor = (a: BigUint64Array, n = a.length) => { let x = 0n; for (let i = 0; i < n; i++) x ^= a[i]; return x.toString(); };

// ---- statistics: the same on every side --------------------------------------------------
// A sample is the mean ns per element over one cycle of back-to-back calls lasting at least CYCLE_MS: benchmark.js's
// cycle on the JS side (minTime), the same loop in kernels.c. Each side reports min, median and spread (p10..p90
// over the median) of all its samples from every round.
const CYCLE_MS = quick ? 10 : 20;
interface Stats { min: number; median: number; spread: number; n: number }
function stats(xs: number[]): Stats {
  const s = [...xs].sort((x, y) => x - y), at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  const median = at(0.5);
  return { min: s[0], median, spread: (at(0.9) - at(0.1)) / median, n: s.length };
}
const pct = (x: number) => `±${((x * 100) / 2).toFixed(1)}%`;

/** benchmark.js on fn (one call = opsPerCall ops): its samples (each a cycle's mean), in ns/op. */
function samplesOf(name: string, fn: () => void, opsPerCall: number, minSamples: number): number[] {
  const b = new Benchmark(name, fn, { minSamples, maxTime: 0, minTime: CYCLE_MS / 1000, initCount: 1 });
  b.run();
  return b.stats.sample.map((x) => (x * 1e9) / opsPerCall);
}
/** For the cases outside the interleaved rounds (warp, scalar call, simulation): benchmark.js, the same statistics. */
function measure(name: string, fn: () => void, opsPerCall: number): { nsPerOp: number; spread: string } {
  const st = stats(samplesOf(name, fn, opsPerCall, quick ? 5 : 15));
  return { nsPerOp: st.median, spread: pct(st.spread) };
}

// ---- the native baselines: three compilations (and the 32-bit-halves form for the limit) ----------------------
const NATIVE = [
  { id: 'c -O2', flags: ['-O2'] },
  { id: 'c -O3', flags: ['-O3'] },
  { id: 'c -O3 -march=native', flags: ['-O3', '-march=native'] },
  { id: 'c -O3 -march=native, 32-bit halves', flags: ['-O3', '-march=native', '-DHALVES'] },
] as const;
type NativeId = (typeof NATIVE)[number]['id'];
const LIMIT_IDS: NativeId[] = ['c -O3 -march=native', 'c -O3 -march=native, 32-bit halves'];
let nativeNote: string | null = null;
const nativeBins = new Map<NativeId, string>();
for (const [i, v] of NATIVE.entries()) {
  const bin = here(`./native/kernels-${i}.bin`);
  try {
    execFileSync('cc', [...v.flags, '-o', bin, here('./native/kernels.c')], { stdio: 'pipe' });
    nativeBins.set(v.id, bin);
  } catch (e) {
    nativeNote ??= `native C ${v.flags.join(' ')} skipped: ${(e as Error).message.split('\n')[0]}`;
  }
}
/** One round of a native kernel: `cycles` cycles of at least CYCLE_MS each, as the JS side's samples. */
function nativeRound(id: NativeId, kernel: string, n: number, cycles: number): { samples: number[]; checksum: string } | null {
  const bin = nativeBins.get(id);
  if (!bin) return null;
  return JSON.parse(execFileSync(bin, [kernel, String(n), String(cycles), String(SEED), String(CYCLE_MS)], { encoding: 'utf8' }));
}

// ---- batch kernels: every implementation, interleaved in rounds, at two sizes ----------------------------------
const SIZES = quick ? [1 << 14] : [1 << 14, 1 << 20];
const ROUNDS = quick ? 2 : 5;
const PER_ROUND = 5; // samples per implementation per round
const scalar = createKernel({ simd: false }), simd = createKernel({ simd: true });
const data = splitmix(Math.max(...SIZES), SEED);
interface BatchRow { kernel: string; size: number; impl: string; st: Stats; checksum: string }
const batchRows: BatchRow[] = [];

function batchCase(kernel: string, nativeName: string, impls: (k: Kernel, input: BigUint64Array) => (out: BigUint64Array) => void,
                   js: (input: BigUint64Array, out: BigUint64Array) => void, oracle: (x: bigint) => bigint) {
  for (const n of SIZES) {
    type Side = { impl: string; round: () => number[]; checksum: () => string };
    const sides: Side[] = [];
    for (const [name, k] of [['wasm-scalar', scalar], ['wasm-simd', simd]] as const) {
      const buf = k.allocSamples(n), out = k.allocSamples(n);
      buf.array.set(data.subarray(0, n));
      const f = impls(k, buf.array);
      // warm-up: enough calls that V8 has tiered the kernel up (Liftoff -> TurboFan) before any is measured
      const t0 = performance.now();
      while (performance.now() - t0 < (quick ? 100 : 250)) f(out.array);
      sides.push({ impl: name, round: () => samplesOf(`${kernel} ${name}`, () => f(out.array), n, PER_ROUND), checksum: () => xor(out.array) });
    }
    const input = data.slice(0, n), jsOut = new BigUint64Array(n);
    for (let i = 0; i < 20; i++) js(input, jsOut);
    sides.push({ impl: 'js-number', round: () => samplesOf(`${kernel} js`, () => js(input, jsOut), n, PER_ROUND), checksum: () => xor(jsOut) });
    const nativeSums = new Map<string, string>();
    for (const v of NATIVE) {
      if (!nativeBins.has(v.id)) continue;
      sides.push({ impl: v.id, round: () => { const r = nativeRound(v.id, nativeName, n, PER_ROUND)!; nativeSums.set(v.id, r.checksum); return r.samples; },
        checksum: () => nativeSums.get(v.id)! });
    }
    // rounds alternate the sides (and rotate their order), so load or frequency changes hit all of them alike
    const samples = new Map<string, number[]>(sides.map((x) => [x.impl, []]));
    for (let r = 0; r < ROUNDS; r++) {
      for (let j = 0; j < sides.length; j++) {
        const side = sides[(j + r) % sides.length];
        samples.get(side.impl)!.push(...side.round());
      }
    }
    for (const side of sides) batchRows.push({ kernel, size: n, impl: side.impl, st: stats(samples.get(side.impl)!), checksum: side.checksum() });
  }
  // the BigInt oracle: a reference (V8's BigInt speed, not ours), on the first NB samples, outside the rounds
  const small = data.subarray(0, NB), orOut = new BigUint64Array(NB);
  const runOracle = () => { for (let i = 0; i < NB; i++) orOut[i] = oracle(small[i]); };
  runOracle();
  const wasmSmall = new BigUint64Array(NB);
  impls(scalar, small)(wasmSmall);
  const st = stats(samplesOf(`${kernel} oracle`, runOracle, NB, quick ? 3 : 5));
  batchRows.push({ kernel, size: NB, impl: 'bigint-oracle', st, checksum: xor(orOut) === xor(wasmSmall) ? 'agrees with Wasm' : 'DISAGREES with Wasm' });
}

batchCase('pvclock', 'pvclock', (k, input) => (out) => k.pvclockReadBatch(PV, input, out),
  (i, out) => pvclockBatchJs(i, out, PV.tscTimestamp, PV.systemTime, PV.tscToSystemMul, PV.tscShift),
  (x) => o.pvclockReadCycles({ ...PV, tscToSystemMul: BigInt(PV.tscToSystemMul) }, x));
batchCase('kvmScaleTsc VMX (48 frac bits)', 'scale48', (k, input) => (out) => k.kvmScaleTscBatch(input, out, VMX_RATIO, 48),
  (i, out) => scaleBatchJs(i, out, VMX_RATIO, 48), (x) => o.kvmScaleTsc(x, VMX_RATIO, 48));
batchCase('kvmScaleTsc SVM (32 frac bits)', 'scale32', (k, input) => (out) => k.kvmScaleTscBatch(input, out, SVM_RATIO, 32),
  (i, out) => scaleBatchJs(i, out, SVM_RATIO, 32), (x) => o.kvmScaleTsc(x, SVM_RATIO, 32));
batchCase('clocksource cyc2ns', 'cyc2ns', (k, input) => (out) => k.clocksourceCyc2nsBatch(input, out, CS_MULT, CS_SHIFT),
  (i, out) => cyc2nsBatchJs(i, out, CS_MULT, CS_SHIFT), (x) => o.clocksourceCyc2ns(x, BigInt(CS_MULT), CS_SHIFT));
batchCase('perf mmap-page conversion', 'perf', (k, input) => (out) => k.perfTscToNsBatch(input, out, PERF),
  (i, out) => perfBatchJs(i, out, PERF.timeZero, PERF.timeMult, PERF.timeShift),
  (x) => o.perfTscToNs(x, { ...PERF, timeMult: BigInt(PERF.timeMult) }));
const BATCH_KERNELS = [...new Set(batchRows.map((r) => r.kernel))];
const row = (kernel: string, size: number, impl: string) => batchRows.find((r) => r.kernel === kernel && r.size === size && r.impl === impl);
/** The fastest Wasm build of a kernel at a size, and its ratios (of medians, and of minima) to C -O2 and to the limit. */
function wasmVs(kernel: string, size: number) {
  const w = ['wasm-simd', 'wasm-scalar'].map((i) => row(kernel, size, i)!).sort((a, b) => a.st.median - b.st.median)[0];
  const o2 = row(kernel, size, 'c -O2');
  const lim = LIMIT_IDS.map((i) => row(kernel, size, i)).filter((x): x is BatchRow => !!x).sort((a, b) => a.st.median - b.st.median)[0];
  return { w, o2, lim, toO2: o2 ? w.st.median / o2.st.median : NaN, toO2min: o2 ? w.st.min / o2.st.min : NaN,
    toLimit: lim ? w.st.median / lim.st.median : NaN, toLimitMin: lim ? w.st.min / lim.st.min : NaN };
}
/** Kernels whose Wasm form needs only the widening 32x32 -> 64 multiply (i64x2.extmul), as the limit's vector code
 *  does; the 64x64 -> 128 scalings need four of them a lane where AVX-512 has 8 lanes a vector: 3x for those. */
const LANES_ALLOW = new Set(['pvclock', 'clocksource cyc2ns', 'perf mmap-page conversion']);

// ---- the warp loop: two CPUs, the second 5000 cycles behind ----------------------------
{
  // stepping every acquisition, against the C twin of the same loop (it has no closed form)
  const opts = { cpus: [{}, { offset: BigInt.asUintN(64, -5000n) }], tscKhz: 1_000_000, hostStart: 1_000_000_000n, seed: SEED,
    timeoutMs: quick ? 200 : 1000, handoffCycles: 200, stepOnly: true }; // a fixed hand-off: the C twin has no per-run draw
  const probe = simd.checkTscWarp(opts);
  const m = measure('warp', () => simd.checkTscWarp(opts), probe.reads);
  const cr = nativeRound('c -O2', 'warp', Number(probe.reads), quick ? 5 : 15);
  const c = cr ? { nsPerOp: stats(cr.samples).median, spread: pct(stats(cr.samples).spread), checksum: cr.checksum } : null;
  cases.push({ kernel: 'warp-check loop', impl: 'wasm', ...m, opsPerSec: 1e9 / m.nsPerOp, checksum: String(probe.maxWarp),
    ratioToNative: c ? m.nsPerOp / c.nsPerOp : null, note: `${probe.reads} simulated TSC reads per call, every acquisition stepped` });
  if (c) cases.push({ kernel: 'warp-check loop', impl: 'c -O2', nsPerOp: c.nsPerOp, opsPerSec: 1e9 / c.nsPerOp, spread: c.spread, checksum: c.checksum, ratioToNative: 1 });
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
  // a fixed JIT state: 200,000 calls first, so the call path and the Wasm function are TurboFan-optimised (the first
  // calls run in the interpreter and Liftoff, several times slower)
  for (let i = 0; i < 200; i++) for (const x of xs) sink ^= simd.pvclockScaleDelta(x, 0xcccccccc, -1);
  const m = measure('scalar', () => { for (const x of xs) sink ^= simd.pvclockScaleDelta(x, 0xcccccccc, -1); }, xs.length);
  const mo = measure('scalar oracle', () => { for (const x of xs) sink ^= o.pvclockScaleDelta(x, 0xccccccccn, -1); }, xs.length);
  const check = xs.reduce((a, x) => a ^ simd.pvclockScaleDelta(x, 0xcccccccc, -1), 0n).toString();
  const checkO = xs.reduce((a, x) => a ^ o.pvclockScaleDelta(x, 0xccccccccn, -1), 0n).toString();
  cases.push({ kernel: 'scalar API call (pvclockScaleDelta)', impl: 'wasm', ...m, opsPerSec: 1e9 / m.nsPerOp, checksum: check, ratioToNative: null,
    note: 'bigint in, checked, Wasm, bigint out; after 200,000 warm-up calls' });
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
const get = (k: string, impl: string) => cases.find((c) => c.kernel === k && c.impl === impl);
const G = SIZES[0]; // the goals are judged at 2^14 samples (L2-resident: compute, not memory); 2^20 is shown beside
const x2 = (v: number) => `${v.toFixed(2)}x`;
const vsO2 = (k: string, max: number, what: string) => ({ goal: `${what} <= ${max}x C -O2`, value: wasmVs(k, G).toO2, ok: (v: number) => v <= max, fmt: x2 });
const goals = [
  vsO2('pvclock', 0.6, 'pvclock'),
  vsO2('clocksource cyc2ns', 0.9, 'cyc2ns'),
  vsO2('perf mmap-page conversion', 0.9, 'perf'),
  vsO2('kvmScaleTsc VMX (48 frac bits)', 1.3, 'VMX scaling'),
  vsO2('kvmScaleTsc SVM (32 frac bits)', 1.3, 'SVM scaling'),
  { goal: 'every batch kernel within 3x of the -O3 -march=native limit (2.5x for pvclock, cyc2ns, perf: one widening multiply a lane, as the limit\'s)',
    value: Math.max(...BATCH_KERNELS.map((k) => wasmVs(k, G).toLimit / (LANES_ALLOW.has(k) ? 2.5 : 3))),
    ok: (v: number) => v <= 1, fmt: () => BATCH_KERNELS.map((k) => `${k} ${x2(wasmVs(k, G).toLimit)}`).join(', ') },
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
const cpu = cpus()[0]?.model ?? 'unknown';
const r4 = (x: number) => (Number.isFinite(x) ? Number(x.toFixed(4)) : null);
const result = {
  machine: { cpu, cpus: cpus().length, arch: arch(), platform: platform() },
  node: process.version, date: new Date().toISOString(), quick, sizes: SIZES, rounds: ROUNDS, cycleMs: CYCLE_MS,
  ...(nativeNote ? { note: nativeNote } : {}),
  batch: batchRows.map((b) => ({ kernel: b.kernel, size: b.size, impl: b.impl, minNs: r4(b.st.min), medianNs: r4(b.st.median),
    spread: r4(b.st.spread), samples: b.st.n, checksum: b.checksum })),
  batchRatios: BATCH_KERNELS.flatMap((k) => SIZES.map((n) => { const v = wasmVs(k, n); return { kernel: k, size: n, wasm: v.w.impl,
    toO2: r4(v.toO2), toO2min: r4(v.toO2min), toLimit: r4(v.toLimit), toLimitMin: r4(v.toLimitMin), limit: v.lim?.impl ?? null }; })),
  cases: cases.map((c) => ({ ...c, nsPerOp: r4(c.nsPerOp), opsPerSec: Number.isFinite(c.opsPerSec) ? Math.round(c.opsPerSec) : null,
    ratioToNative: c.ratioToNative === null ? null : Number(c.ratioToNative.toFixed(3)) })),
  goals: goals.map((g) => ({ goal: g.goal, value: g.fmt(g.value), met: g.ok(g.value) })),
};
mkdirSync(here('./results'), { recursive: true });
for (const file of save ? ['last-run.json', 'latest.json'] : ['last-run.json']) {
  writeFileSync(here(`./results/${file}.tmp`), `${JSON.stringify(result, null, 2)}\n`);
  renameSync(here(`./results/${file}.tmp`), here(`./results/${file}`));
}

const size = (n: number) => `2^${Math.log2(n)}`;
const ns = (x: number) => (x >= 1e6 ? `${(x / 1e6).toFixed(1)} ms` : x.toFixed(3));
const lines = [`# tsclab benchmarks (${quick ? 'quick' : 'full'})`, '',
  `${cpu}, ${cpus().length} CPUs, Node ${process.version}; batch kernels over ${SIZES.map(size).join(' and ')} samples, ${ROUNDS} interleaved rounds of `
  + `${PER_ROUND} cycles (>= ${CYCLE_MS} ms each) per implementation; ns per sample: min, median, spread (p10..p90 / median)`, ''];
if (nativeNote) lines.push(`> ${nativeNote}`, '');
lines.push('| kernel | samples | impl | min ns | median ns | spread | checksum |', '|---|---|---|---:|---:|---|---|');
let last = '';
for (const b of batchRows) {
  const head = `${b.kernel} ${b.size}`;
  const sums = new Set(batchRows.filter((x) => x.kernel === b.kernel && x.size === b.size).map((x) => x.checksum));
  lines.push(`| ${head === last ? '' : b.kernel} | ${head === last ? '' : size(b.size)} | ${b.impl} | ${b.st.min.toFixed(3)} | ${b.st.median.toFixed(3)} | ${pct(b.st.spread)} | ${b.checksum.slice(0, 20)}${head !== last && b.impl !== 'bigint-oracle' ? (sums.size === 1 ? ' (all agree)' : ' (DISAGREE)') : ''} |`);
  last = head;
}
lines.push('', '| kernel | samples | fastest Wasm | / C -O2 (medians; minima) | / limit (medians; minima) | limit |', '|---|---|---|---:|---:|---|');
for (const k of BATCH_KERNELS) for (const n of SIZES) {
  const v = wasmVs(k, n);
  lines.push(`| ${k} | ${size(n)} | ${v.w.impl} ${v.w.st.median.toFixed(3)} ns | ${x2(v.toO2)}; ${x2(v.toO2min)} | ${x2(v.toLimit)}; ${x2(v.toLimitMin)} | ${v.lim ? `${v.lim.impl} ${v.lim.st.median.toFixed(3)} ns` : '-'} |`);
}
lines.push('', '| case | impl | ns/op | spread | ratio to C | checksum |', '|---|---|---:|---|---:|---|');
last = '';
for (const c of cases) {
  lines.push(`| ${c.kernel === last ? '' : c.kernel} | ${c.impl} | ${Number.isFinite(c.nsPerOp) ? ns(c.nsPerOp) : '-'} | ${c.spread} | ${c.ratioToNative === null ? '-' : x2(c.ratioToNative)} | ${c.checksum.slice(0, 20)}${c.note ? ` — ${c.note}` : ''} |`);
  last = c.kernel;
}
lines.push('', '| goal | measured | |', '|---|---|---|');
for (const g of goals) lines.push(`| ${g.goal} | ${g.fmt(g.value)} | ${g.ok(g.value) ? 'met' : '**missed**'} |`);
console.log(lines.join('\n'));
console.log(`\nresults: bench/results/last-run.json${save ? ' and bench/results/latest.json' : ' (git-ignored; --save also writes the committed bench/results/latest.json)'}`);
if (process.env.TSCLAB_KEEP_NATIVE !== '1') for (const bin of nativeBins.values()) if (existsSync(bin)) spawnSync('rm', ['-f', bin]);
