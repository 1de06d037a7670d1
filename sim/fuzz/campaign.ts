// A fuzz campaign: shards of fast-check runs (shard i uses seed + i), spread
// over worker threads that share one compiled WebAssembly.Module. A failure
// is shrunk by fast-check and written (write, then rename) as a scenario file
// that `tsclab run` replays. The findings of a given seed and run budget are
// the same whatever the number of workers; a state file lets --resume skip
// the shards already done, and findings written survive a kill.
import fc from 'fast-check';
import { Worker } from 'node:worker_threads';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Kernel } from '../../bindings/index.js';
import { scalarKernelModule, simdKernelModule } from '../../bindings/index.js';
import { parseScenario, ScenarioError } from '../scenario.js';
import { Machine } from '../machine.js';
import { scenarioArbitrary, type FuzzOptions } from './arbitraries.js';
import { checkInvariants, type Violation } from './invariants.js';

export const RUNS_PER_SHARD = 25;
export const SHARD_TIME_LIMIT_MS = 15_000;

export interface ShardResult {
  shard: number;
  seed: number;
  runs: number;
  events: number;
  reads: string;
  failure?: { path: string; scenario: Record<string, unknown>; violations: Violation[]; shrinks: number };
}

/** One run of the property: the violations (an invalid generated scenario is a violation too). */
export function check(raw: Record<string, unknown>, kernel?: Kernel): { violations: Violation[]; events: number; reads: bigint } {
  let s;
  try {
    s = parseScenario(raw, 'fuzz');
  } catch (e) {
    if (!(e instanceof ScenarioError)) throw e;
    return { violations: [{ invariant: 'valid-scenario', detail: e.problems.join('; ') }], events: 0, reads: 0n };
  }
  const m = new Machine(s, kernel);
  const r = m.run();
  return { violations: checkInvariants(s, r, m), events: r.stats.events, reads: r.stats.reads };
}

/** Runs shard `shard` of a campaign: RUNS_PER_SHARD cases from seed + shard, shrinking the first failure. */
export function runShard(baseSeed: number, shard: number, gen: FuzzOptions, kernel?: Kernel): ShardResult {
  const seed = (baseSeed + shard) | 0;
  let events = 0, reads = 0n;
  const property = fc.property(scenarioArbitrary(gen), (raw) => {
    const r = check(raw, kernel);
    events += r.events;
    reads += r.reads;
    return r.violations.length === 0;
  });
  // shrinking re-runs whole simulations: bound each shard's time (the best shrink so far is kept)
  const d = fc.check(property, { seed, numRuns: RUNS_PER_SHARD, interruptAfterTimeLimit: SHARD_TIME_LIMIT_MS, markInterruptAsFailure: false });
  const result: ShardResult = { shard, seed, runs: d.numRuns, events, reads: reads.toString() };
  if (d.failed && d.counterexample) {
    const scenario = d.counterexample[0] as Record<string, unknown>;
    result.failure = { path: d.counterexamplePath ?? '', scenario, violations: check(scenario, kernel).violations, shrinks: d.numShrinks };
  }
  return result;
}

/** K workers sharing one compiled kernel module. */
export function spawnWorkers(k: number): Worker[] {
  const module = simdKernelModule() ?? scalarKernelModule();
  // from the TypeScript sources (tests, tsx) the worker registers tsx itself; from dist/ it is plain JS
  const fromSource = import.meta.url.endsWith('.ts');
  const workerFile = new URL(fromSource ? './worker-source.mjs' : './worker.js', import.meta.url);
  return Array.from({ length: Math.max(1, k) }, () => new Worker(workerFile, { workerData: { module } }));
}

export interface CampaignOptions {
  seed: number;
  /** Run budget (deterministic) ... */
  runs?: number;
  /** ... or a time budget. */
  seconds?: number;
  workers: number;
  out?: string;
  resume?: boolean;
  gen: FuzzOptions;
  onShard?: (r: ShardResult, done: number, total: number | null) => void;
}

export interface CampaignResult {
  shards: ShardResult[];
  findings: { file?: string; invariant: string; detail: string; seed: number; path: string }[];
  runs: number;
  events: number;
  wallMs: number;
}

function atomicWrite(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** The finding as a scenario file: the shrunk scenario, named and described so a reader can replay it. */
export function findingFile(r: ShardResult): Record<string, unknown> {
  const f = r.failure!;
  const v = f.violations[0];
  return {
    ...f.scenario,
    name: `fuzz-${v?.invariant ?? 'failure'}-seed${r.seed}`,
    description: `Found by tsclab fuzz: ${f.violations.map((x) => `${x.invariant}: ${x.detail}`).join('; ')}. ` +
      `Replay the search with seed ${r.seed} and path "${f.path}" (fast-check), or this file with tsclab run.`,
  };
}

export async function runCampaign(o: CampaignOptions): Promise<CampaignResult> {
  const started = Date.now();
  const total = o.runs !== undefined ? Math.ceil(o.runs / RUNS_PER_SHARD) : null;
  const stateFile = o.out ? join(o.out, 'campaign.json') : null;
  const done = new Set<number>();
  if (o.out) mkdirSync(o.out, { recursive: true });
  if (o.resume && stateFile && existsSync(stateFile)) {
    const st = JSON.parse(readFileSync(stateFile, 'utf8'));
    if (st.seed !== o.seed) throw new Error(`tsclab: --resume: the campaign in ${o.out} has seed ${st.seed}, not ${o.seed}`);
    for (const s of st.done) done.add(s);
  }
  const shards: ShardResult[] = [];
  let next = 0;
  const deadline = o.seconds !== undefined ? started + o.seconds * 1000 : Infinity;
  const nextShard = (): number | null => {
    while (done.has(next)) next++;
    if (total !== null && next >= total) return null;
    if (Date.now() >= deadline) return null;
    return next++;
  };
  const record = (r: ShardResult) => {
    shards.push(r);
    done.add(r.shard);
    if (o.out && r.failure) atomicWrite(join(o.out, `${findingFile(r).name}.json`), `${JSON.stringify(findingFile(r), null, 2)}\n`);
    if (stateFile) atomicWrite(stateFile, `${JSON.stringify({ seed: o.seed, gen: o.gen, done: [...done].sort((a, b) => a - b) })}\n`);
    o.onShard?.(r, done.size, total);
  };
  const workers = spawnWorkers(o.workers);
  try {
    await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
      const feed = () => {
        const s = nextShard();
        if (s === null) { resolve(); return; }
        w.postMessage({ type: 'shard', seed: o.seed, shard: s, gen: o.gen });
      };
      w.on('message', (r: ShardResult) => { record(r); feed(); });
      w.on('error', reject);
      feed();
    })));
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  shards.sort((a, b) => a.shard - b.shard);
  const findings = shards.filter((r) => r.failure).map((r) => ({
    ...(o.out ? { file: join(o.out, `${findingFile(r).name}.json`) } : {}),
    invariant: r.failure!.violations[0]?.invariant ?? 'failure', detail: r.failure!.violations[0]?.detail ?? '', seed: r.seed, path: r.failure!.path,
  }));
  return { shards, findings, runs: shards.reduce((a, r) => a + r.runs, 0), events: shards.reduce((a, r) => a + r.events, 0), wallMs: Date.now() - started };
}

export interface KernelFuzzResult {
  kinds: { kind: string; cases: number; mismatches: number; first?: Record<string, string> }[];
  cases: number;
  wallMs: number;
  oracle: { cases: number; mismatches: number; first?: string };
}

/**
 * tsclab fuzz --kernel: the in-Wasm differential sweep (inputs generated in Wasm, every formula against a naive
 * second implementation) on K workers for `seconds`, then the BigInt oracle on a sample of inputs.
 */
export async function runKernelFuzz(o: { seed: number; seconds: number; workers: number; onRound?: (cases: number) => void },
                                    kernel: Kernel, oracleCheck: (seed: bigint, n: number) => { mismatches: number; first?: string }): Promise<KernelFuzzResult> {
  const kinds = ['mulU64U64Shr', 'mulU64U32Shr', 'mulU64U32Div', 'mulS64U64Shr', 'pvclockScaleDelta', 'batches'] as const;
  const started = Date.now(), deadline = started + o.seconds * 1000;
  const per = new Map<string, { cases: number; mismatches: number; first?: Record<string, string> }>(kinds.map((k) => [k, { cases: 0, mismatches: 0 }]));
  let round = 0, total = 0;
  const workers = spawnWorkers(o.workers);
  try {
    await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
      const feed = () => {
        if (Date.now() >= deadline) { resolve(); return; }
        const kind = kinds[round % kinds.length];
        const cases = kind === 'batches' ? 20_000 : kind === 'mulU64U32Div' ? 250_000 : 1_000_000;
        w.postMessage({ type: 'sweep', kind, seed: String(BigInt(o.seed) * 1_000_003n + BigInt(round++)), cases });
      };
      w.on('message', (r: { kind: string; cases: number; mismatches: number; first?: Record<string, string> }) => {
        const p = per.get(r.kind)!;
        const n = r.kind === 'batches' ? r.cases * 64 * 4 : r.cases;
        p.cases += n;
        total += n;
        p.mismatches += r.mismatches;
        if (r.first && !p.first) p.first = r.first;
        o.onRound?.(total);
        feed();
      });
      w.on('error', reject);
      feed();
    })));
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  void kernel;
  const oracle = oracleCheck(BigInt(o.seed), 20_000);
  return { kinds: [...per].map(([kind, p]) => ({ kind, ...p })), cases: total, wallMs: Date.now() - started, oracle: { cases: 20_000, ...oracle } };
}
