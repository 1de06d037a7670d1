// A fuzz campaign: shards of fast-check runs (shard i uses seed + i), spread
// over worker threads that share one compiled WebAssembly.Module. A failure
// is shrunk by fast-check and written (write, then rename) as a scenario file
// that `tsclab run` replays. The findings of a given seed and run budget are
// the same whatever the number of workers; a state file (campaign.json: the
// options, the shards done, every finding) lets --resume skip the shards
// already done with the same options, and findings written survive a kill.
import fc from 'fast-check';
import { z } from 'zod';
import { Worker } from 'node:worker_threads';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Kernel } from '../../bindings/index.js';
import { scalarKernelModule, simdKernelModule } from '../../bindings/index.js';
import { parseScenario, RULE_SETS, ScenarioError } from '../scenario.js';
import { parseJsonStrict } from '../strict-json.js';
import { COMMITS, type Commit } from '../kvm/eras.js';
import { Machine } from '../machine.js';
import { GUEST_FLAGS, scenarioArbitrary, type FuzzOptions } from './arbitraries.js';
import { checkInvariants, type Violation } from './invariants.js';

export const RUNS_PER_SHARD = 25;
export const SHARD_TIME_LIMIT_MS = 15_000;
/** The run budget when neither runs nor seconds is given (and no campaign is resumed). */
export const DEFAULT_RUNS = 500;

export interface ShardResult {
  shard: number;
  seed: number;
  /** Scenarios generated and run in the search (up to the first failure). */
  runs: number;
  events: number;
  reads: string;
  /** Time the search took (generation, runs, checks), ms. */
  searchMs: number;
  /** The first failure, as found (shrunk later, once per finding class: shrinkFinding). */
  failure?: { path: string; scenario: Record<string, unknown>; violations: Violation[]; signature: string };
}

/** A finding's class: its invariant and what was seen, with the numbers left out. Each class is shrunk and written once. */
export function signature(v: Violation | undefined): string {
  if (!v) return 'failure';
  return `${v.invariant}: ${v.detail.replace(/\d+(\.\d+)?/g, '#')}`;
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

/** Searches shard `shard` of a campaign: RUNS_PER_SHARD cases from seed + shard, up to the first failure (not shrunk). */
export function runShard(baseSeed: number, shard: number, gen: FuzzOptions, kernel?: Kernel): ShardResult {
  const seed = (baseSeed + shard) | 0;
  let events = 0, reads = 0n;
  const t0 = Date.now();
  const property = fc.property(scenarioArbitrary(gen), (raw) => {
    const r = check(raw, kernel);
    events += r.events;
    reads += r.reads;
    return r.violations.length === 0;
  });
  const d = fc.check(property, { seed, numRuns: RUNS_PER_SHARD, endOnFailure: true, interruptAfterTimeLimit: SHARD_TIME_LIMIT_MS, markInterruptAsFailure: false });
  const result: ShardResult = { shard, seed, runs: d.numRuns, events, reads: reads.toString(), searchMs: Date.now() - t0 };
  if (d.failed && d.counterexample) {
    const scenario = d.counterexample[0] as Record<string, unknown>;
    const violations = check(scenario, kernel).violations;
    result.failure = { path: d.counterexamplePath ?? '', scenario, violations, signature: signature(violations[0]) };
  }
  return result;
}

export interface Shrunk { seed: number; path: string; scenario: Record<string, unknown>; violations: Violation[]; shrinks: number; ms: number }

/**
 * Shrinks the failure at (seed, path) -- fast-check replays that case and shrinks from it, within
 * SHARD_TIME_LIMIT_MS (the best so far is kept) -- to the smallest scenario that still fails.
 */
export function shrinkFinding(seed: number, path: string, gen: FuzzOptions, kernel?: Kernel): Shrunk {
  const t0 = Date.now();
  const property = fc.property(scenarioArbitrary(gen), (raw) => check(raw, kernel).violations.length === 0);
  const d = fc.check(property, { seed, path, interruptAfterTimeLimit: SHARD_TIME_LIMIT_MS, markInterruptAsFailure: false });
  const scenario = (d.counterexample?.[0] ?? {}) as Record<string, unknown>;
  return { seed, path: d.counterexamplePath ?? path, scenario, violations: d.failed ? check(scenario, kernel).violations : [], shrinks: d.numShrinks,
    ms: Date.now() - t0 };
}

/** The scenario of run (seed, path) of a campaign with these generator options, as the search generated it. */
export function replayCase(seed: number, path: string, gen: FuzzOptions, kernel?: Kernel): { scenario: Record<string, unknown>; violations: Violation[] } {
  let found: Record<string, unknown> | null = null;
  const property = fc.property(scenarioArbitrary(gen), (raw) => { found = raw; return true; });
  fc.check(property, { seed, path, numRuns: 1, endOnFailure: true });
  if (!found) throw campaignError(`--replay: seed ${seed}, path "${path}" generates no scenario with these options`);
  return { scenario: found, violations: check(found, kernel).violations };
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
  /** ... or a time budget (per invocation). Neither: a resumed campaign's own budget, else DEFAULT_RUNS. */
  seconds?: number;
  workers: number;
  out?: string;
  resume?: boolean;
  gen: FuzzOptions;
  /** Stops handing out shards (those under way finish and are recorded): an interrupted campaign, to --resume. */
  signal?: AbortSignal;
  /** Before the first shard: how many shards the budget has (null: a time budget) and how many were done before. */
  onStart?: (total: number | null, doneBefore: number) => void;
  onShard?: (r: ShardResult, done: number, total: number | null) => void;
}

export interface Finding { shard: number; file?: string; invariant: string; detail: string; seed: number; path: string; signature?: string }

/** A class of findings (one signature): how many shards found it, the first of them, shrunk and written once. */
export interface FindingClass {
  signature: string;
  invariant: string;
  /** Shards that found it. */
  count: number;
  /** The shrunk case: its violation, seed and path (fast-check), file. */
  detail: string;
  seed: number;
  path: string;
  file?: string;
  shrinks?: number;
  /** The shrunk scenario (this call's shrinking only; the file holds it for later calls). */
  scenario?: Record<string, unknown>;
}

export interface CampaignResult {
  /** The shards run by this call. */
  shards: ShardResult[];
  /** Every shard's first failure, as found (with --resume, those of the earlier runs too). */
  findings: Finding[];
  /** The findings by class: each shrunk and written once. */
  classes: FindingClass[];
  /** Shards done before this call (--resume). */
  resumed: number;
  runs: number;
  events: number;
  wallMs: number;
  /** The search phase, wall clock (worker start-up included), and the shrinking after it. */
  searchMs: number;
  shrinkMs: number;
  /** The shards' own search time summed over the workers (generation, runs, invariant checks): runs / workerMs is
   *  the throughput of one worker. */
  workerMs: number;
}

/** An error about the campaign's files or options (reported as bad input, exit 2). */
const campaignError = (message: string) => new Error(`tsclab: ${message}`);

/** Writes a file whole or not at all (a temporary beside it, renamed over it): the campaign's files and findings. */
export function atomicWrite(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  } catch (e) {
    try { rmSync(tmp, { force: true }); } catch { /* nothing was written */ }
    throw campaignError(`cannot write ${file}: ${(e as Error).message}`);
  }
}

const count = z.number().int().min(0);
const GenSchema = z.strictObject({
  rules: z.enum(RULE_SETS).optional(),
  procedures: z.array(z.enum(['legacy', 'precise', 'precise-scaled'])).optional(),
  unstableHosts: z.boolean().optional(),
  hostSuspend: z.boolean().optional(),
  actions: z.array(z.string()).optional(),
  startAfter: count.optional(),
  commits: z.partialRecord(z.enum(Object.keys(COMMITS) as [Commit, ...Commit[]]), z.boolean()).optional(),
  vmWideTscKhz: z.boolean().optional(),
  guest: z.partialRecord(z.enum(GUEST_FLAGS), z.boolean()).optional(),
});
/** campaign.json: the options that make the campaign (seed, budget, generator), the shards done, every finding. */
const StateSchema = z.strictObject({
  version: z.literal(1),
  seed: z.number().int(),
  budget: z.union([z.strictObject({ runs: z.number().int().min(1) }), z.strictObject({ seconds: z.number().int().min(1) })]),
  gen: GenSchema,
  done: z.array(count),
  findings: z.array(z.strictObject({ shard: count, file: z.string().optional(), invariant: z.string(), detail: z.string(), seed: z.number().int(), path: z.string(),
    signature: z.string().optional() })),
  /** The classes shrunk so far: signature -> the shrunk case. */
  classes: z.array(z.strictObject({ signature: z.string(), invariant: z.string(), count: count, detail: z.string(), seed: z.number().int(), path: z.string(),
    file: z.string().optional(), shrinks: count.optional() })).default([]),
});
export type CampaignState = z.output<typeof StateSchema>;

/** The campaign state in `out`, checked (null when there is none); an unusable file is an error naming it and the field. */
export function readCampaignState(out: string): CampaignState | null {
  const file = join(out, 'campaign.json');
  if (!existsSync(file)) return null;
  let raw: unknown;
  try {
    raw = parseJsonStrict(readFileSync(file, 'utf8'));
  } catch (e) {
    throw campaignError(`${file}: not valid JSON (${(e as Error).message}); it was left as it is`);
  }
  const r = StateSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    throw campaignError(`${file}: not a campaign state of this tsclab: ${i.path.map(String).join('.') || '(top level)'}: ${i.message}` +
      `${r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more)` : ''}; it was left as it is (resume elsewhere with another --out)`);
  }
  const done = new Set(r.data.done);
  const lost = r.data.findings.find((f) => !done.has(f.shard));
  if (lost) throw campaignError(`${file}: findings: shard ${lost.shard} has a finding but is not in done; it was left as it is`);
  return r.data;
}

/** The command-line option each generator setting comes from (for messages). */
const FLAG: Record<keyof FuzzOptions, string> = {
  rules: '--rules', procedures: '--procedure', unstableHosts: '--rules', hostSuspend: '--no-suspend', actions: '--actions', startAfter: '--start-after',
  commits: 'commits', vmWideTscKhz: '--vm-wide-tsc-khz', guest: 'guest',
};
const shown = (v: unknown) => (v === undefined ? '(not given)' : Array.isArray(v) ? v.join(' ') : String(v));

/** The budget a resumed campaign runs with: its own, unless the options name another (refused). */
function checkResume(st: CampaignState, o: CampaignOptions): { runs?: number; seconds?: number } {
  const where = `the campaign in ${o.out}`;
  const refuse = (flag: string, was: unknown, now: unknown) =>
    campaignError(`${flag}: ${where} was run with ${flag} ${shown(was)}, not ${shown(now)}; resume it with the same options, or start a new one with another --out`);
  if (st.seed !== o.seed) throw refuse('--seed', st.seed, o.seed);
  for (const key of Object.keys(FLAG) as (keyof FuzzOptions)[]) {
    const was = st.gen[key], now = o.gen[key];
    if (JSON.stringify(was) !== JSON.stringify(now)) throw refuse(FLAG[key], was, now);
  }
  if ('runs' in st.budget) {
    if (o.seconds !== undefined) throw campaignError(`--seconds: ${where} has a run budget (--runs ${st.budget.runs}); resume it with --runs ${st.budget.runs} or without a budget`);
    if (o.runs !== undefined && o.runs !== st.budget.runs) throw refuse('--runs', st.budget.runs, o.runs);
    return { runs: st.budget.runs };
  }
  if (o.runs !== undefined) throw campaignError(`--runs: ${where} has a time budget (--seconds); resume it with --seconds`);
  return { seconds: o.seconds ?? st.budget.seconds };
}

/** The finding as a scenario file: the shrunk scenario, named and described so a reader can replay it. */
export function findingFile(sh: Shrunk, count: number): Record<string, unknown> {
  const v = sh.violations[0];
  return {
    ...sh.scenario,
    name: `fuzz-${v?.invariant ?? 'failure'}-seed${sh.seed}`,
    description: `Found by tsclab fuzz${count > 1 ? ` in ${count} shards` : ''}: ${sh.violations.map((x) => `${x.invariant}: ${x.detail}`).join('; ')}. ` +
      `Replay the search with seed ${sh.seed} and path "${sh.path}" (tsclab fuzz --replay ${sh.seed}:${sh.path}), or this file with tsclab run.`,
  };
}

/** Where findings and the state go: a directory, made if missing; a file there is an error. */
function prepareOut(out: string): void {
  let isDir: boolean | null = null;
  try { isDir = statSync(out).isDirectory(); } catch { /* missing: made below */ }
  if (isDir === false) throw campaignError(`--out: ${out} is a file, not a directory`);
  if (isDir === null) {
    try { mkdirSync(out, { recursive: true }); } catch (e) { throw campaignError(`--out: cannot create ${out}: ${(e as Error).message}`); }
  }
}

export async function runCampaign(o: CampaignOptions): Promise<CampaignResult> {
  const started = Date.now();
  const stateFile = o.out ? join(o.out, 'campaign.json') : null;
  const done = new Set<number>();
  const findings = new Map<number, Finding>();
  const classes = new Map<string, FindingClass>();
  let budget: { runs?: number; seconds?: number } = o.runs === undefined && o.seconds === undefined ? { runs: DEFAULT_RUNS } : { runs: o.runs, seconds: o.seconds };
  if (o.out) {
    prepareOut(o.out);
    // every check before anything is written: a refused resume leaves the directory as it was
    const st = readCampaignState(o.out);
    if (st && !o.resume) throw campaignError(`--out: ${o.out} already holds a campaign (campaign.json): continue it with --resume, or use another --out`);
    if (st) {
      budget = checkResume(st, o);
      for (const s of st.done) done.add(s);
      for (const f of st.findings) findings.set(f.shard, { ...f, signature: f.signature ?? signature(f as Violation) });
      for (const c of st.classes) classes.set(c.signature, c);
    }
  }
  const resumed = done.size;
  const total = budget.runs !== undefined ? Math.ceil(budget.runs / RUNS_PER_SHARD) : null;
  const shards: ShardResult[] = [];
  let next = 0;
  const deadline = budget.seconds !== undefined ? started + budget.seconds * 1000 : Infinity;
  const nextShard = (): number | null => {
    while (done.has(next)) next++;
    if (total !== null && next >= total) return null;
    if (Date.now() >= deadline || o.signal?.aborted) return null;
    return next++;
  };
  const shrunk = new Map<string, Record<string, unknown>>();
  const state = (): CampaignState => ({
    version: 1, seed: o.seed, budget: budget.runs !== undefined ? { runs: budget.runs } : { seconds: budget.seconds! }, gen: o.gen,
    done: [...done].sort((a, b) => a - b), findings: [...findings.values()].sort((a, b) => a.shard - b.shard),
    classes: [...classes.values()].sort((a, b) => a.signature.localeCompare(b.signature)),
  });
  const save = () => { if (stateFile) atomicWrite(stateFile, `${JSON.stringify(state())}\n`); };
  const record = (r: ShardResult) => {
    shards.push(r);
    done.add(r.shard);
    if (r.failure) {
      const v = r.failure.violations[0];
      findings.set(r.shard, { shard: r.shard, invariant: v?.invariant ?? 'failure', detail: v?.detail ?? '', seed: r.seed, path: r.failure.path,
        signature: r.failure.signature });
    }
    save();
    o.onShard?.(r, done.size, total);
  };
  o.onStart?.(total, resumed);
  const workers = spawnWorkers(o.workers);
  let searchEnd = started, shrinkMs = 0;
  try {
    // the search: shards to the workers as they free up
    await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
      const feed = () => {
        const s = nextShard();
        if (s === null) { w.removeAllListeners('message'); w.removeAllListeners('error'); resolve(); return; }
        w.postMessage({ type: 'shard', seed: o.seed, shard: s, gen: o.gen });
      };
      w.on('message', (r: ShardResult) => { record(r); feed(); });
      w.on('error', reject);
      feed();
    })));
    searchEnd = Date.now();
    // then each new class of finding, once: its first shard's case, shrunk
    const todo = [...new Set([...findings.values()].map((f) => f.signature!))].filter((sig) => !classes.has(sig))
      .map((sig) => [...findings.values()].filter((f) => f.signature === sig).sort((x, y) => x.shard - y.shard)[0]);
    if (!o.signal?.aborted) {
      await Promise.all(workers.map((w) => new Promise<void>((resolve, reject) => {
        const feed = () => {
          const f = todo.shift();
          if (!f) { resolve(); return; }
          w.once('message', (sh: Shrunk) => {
            shrinkMs += sh.ms;
            const count = [...findings.values()].filter((x) => x.signature === f.signature).length;
            const v = sh.violations[0];
            const file = `fuzz-${v?.invariant ?? f.invariant}-seed${sh.seed}.json`;
            if (o.out && v) atomicWrite(join(o.out, file), `${JSON.stringify(findingFile(sh, count), null, 2)}\n`);
            classes.set(f.signature!, { signature: f.signature!, invariant: v?.invariant ?? f.invariant, count, detail: v?.detail ?? f.detail,
              seed: sh.seed, path: sh.path, ...(o.out && v ? { file } : {}), shrinks: sh.shrinks });
            shrunk.set(f.signature!, sh.scenario);
            save();
            feed();
          });
          w.postMessage({ type: 'shrink', seed: f.seed, path: f.path, gen: o.gen });
        };
        w.on('error', reject);
        feed();
      })));
    }
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
  shards.sort((a, b) => a.shard - b.shard);
  // counts over the whole campaign (a resumed one too)
  for (const c of classes.values()) c.count = [...findings.values()].filter((f) => f.signature === c.signature).length;
  const all = [...findings.values()].sort((a, b) => a.shard - b.shard);
  const byClass = [...classes.values()].filter((c) => c.count > 0).sort((a, b) => b.count - a.count || a.signature.localeCompare(b.signature))
    .map((c) => ({ ...c, ...(c.file !== undefined && o.out ? { file: join(o.out, basename(c.file)) } : {}),
      ...(shrunk.has(c.signature) ? { scenario: shrunk.get(c.signature) } : {}) }));
  const workerMs = shards.reduce((a, r) => a + r.searchMs, 0);
  return { shards, findings: all, classes: byClass, resumed, runs: shards.reduce((a, r) => a + r.runs, 0), events: shards.reduce((a, r) => a + r.events, 0),
    wallMs: Date.now() - started, searchMs: searchEnd - started, shrinkMs, workerMs };
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
