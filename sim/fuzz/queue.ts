// Fuzz campaigns over several machines: BullMQ jobs on one Redis. A job is a
// range of the campaign's shards (shard i: RUNS_PER_SHARD fast-check runs from
// seed + i, as the local fuzzer runs it) with the generator options and the
// model version; its id is derived from the campaign and the range, so
// submitting a campaign again adds nothing. Queueing, leases, retries
// (attempts, backoff) and the recovery of a dead worker's job (stalled jobs)
// are BullMQ's; this module only runs shards and records what they found.
//
// A worker records each shard (done, its counts, its finding) in the
// campaign's own Redis keys before the job is acknowledged, idempotently (a
// retried job records nothing twice), and keeps one shrunk case per finding
// class (signature): that of the lowest shard, which is the one the local
// fuzzer shrinks, so the files written from Redis are the local run's, byte
// for byte. This module is loaded only by the queue commands.
import { Queue, QueueEvents, UnrecoverableError, Worker as BullWorker, type Job } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { Worker as Thread } from 'node:worker_threads';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { FuzzOptions } from './arbitraries.js';
import { atomicWrite, findingFile, RUNS_PER_SHARD, spawnWorkers, type CampaignState, type Finding, type FindingClass, type ShardResult, type Shrunk } from './campaign.js';
import type { Violation } from './invariants.js';
import { modelVersion } from '../model-version.js';

/** The BullMQ queue every campaign's jobs go to, and the prefix of every key tsclab writes. */
export const QUEUE_NAME = 'fuzz';
export const KEY_PREFIX = 'tsclab';
/** Shards per job unless the submission says otherwise (4 x 25 runs). */
export const DEFAULT_SHARDS_PER_JOB = 4;
/** How long connecting may take before Redis is reported unreachable. */
export const CONNECT_TIMEOUT_MS = 3000;

const fail = (message: string) => new Error(`tsclab: ${message}`);

// ---- Redis: where, how, and the checks BullMQ needs ------------------------------------------------

export interface RedisTarget {
  /** redis://[user:password@]host[:port][/db] or rediss://... (TLS). */
  url: string;
  /** Overrides the URL's password (TSCLAB_REDIS_PASSWORD: kept out of the process list). */
  password?: string;
  /** TLS files (PEM): a CA to trust, a client certificate and key. */
  tlsCa?: string; tlsCert?: string; tlsKey?: string;
}

export interface RedisConn { display: string; options: RedisOptions }

/** The connection a target names, checked (a malformed URL or an unreadable TLS file is the user's error). */
export function redisConnection(t: RedisTarget): RedisConn {
  let u: URL;
  try { u = new URL(t.url); } catch { throw fail(`--queue: "${t.url}" is not a URL; expected redis://HOST:PORT[/DB] (or rediss:// for TLS)`); }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw fail(`--queue: "${t.url}": the scheme must be redis:// or rediss://, not ${u.protocol}//`);
  if (!u.hostname) throw fail(`--queue: "${t.url}" names no host`);
  const port = u.port === '' ? 6379 : Number(u.port);
  const dbText = u.pathname.replace(/^\//, '');
  if (!/^\d{0,2}$/.test(dbText)) throw fail(`--queue: "${t.url}": the path is the database number (/0, /1, ...), not "/${dbText}"`);
  const db = dbText === '' ? 0 : Number(dbText);
  const tls = u.protocol === 'rediss:' || t.tlsCa || t.tlsCert || t.tlsKey;
  const file = (flag: string, f?: string) => {
    if (f === undefined) return undefined;
    try { return readFileSync(f); } catch (e) { throw fail(`${flag}: cannot read ${f}: ${(e as Error).message}`); }
  };
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  const options: RedisOptions = {
    host, port, db,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(t.password ?? u.password ? { password: t.password ?? decodeURIComponent(u.password) } : {}),
    ...(tls ? { tls: { servername: host, ...(t.tlsCa ? { ca: file('--tls-ca', t.tlsCa) } : {}), ...(t.tlsCert ? { cert: file('--tls-cert', t.tlsCert) } : {}),
      ...(t.tlsKey ? { key: file('--tls-key', t.tlsKey) } : {}) } } : {}),
    connectTimeout: CONNECT_TIMEOUT_MS,
  };
  return { display: `${u.protocol}//${u.host}/${db}`, options };
}

/** What the start-up check found. */
export interface RedisInfo { version: string; maxmemoryPolicy: string }

/**
 * Connects once, within a few seconds or not at all, and checks what BullMQ needs: `maxmemory-policy noeviction`
 * (any other policy may evict jobs, locks and findings). An unreachable Redis, a refused password or the wrong
 * policy is an error that says so (exit 2), never a hang.
 */
export async function checkRedis(c: RedisConn): Promise<RedisInfo> {
  const client = new Redis({ ...c.options, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null,
    commandTimeout: CONNECT_TIMEOUT_MS });
  let last: Error | undefined;
  client.on('error', (e: Error) => { last = e; });
  try {
    await Promise.race([client.connect(), new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer in ${CONNECT_TIMEOUT_MS} ms`)),
      CONNECT_TIMEOUT_MS + 500).unref())]);
    const info = await client.info();
    const field = (name: string) => new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim() ?? '';
    const r = { version: field('redis_version') || field('valkey_version') || '?', maxmemoryPolicy: field('maxmemory_policy') };
    if (r.maxmemoryPolicy && r.maxmemoryPolicy !== 'noeviction') {
      throw fail(`Redis at ${c.display} has maxmemory-policy ${r.maxmemoryPolicy}; BullMQ needs noeviction (any other policy can evict queued jobs ` +
        `and findings): set "maxmemory-policy noeviction" in its configuration (or CONFIG SET maxmemory-policy noeviction)`);
    }
    return r;
  } catch (e) {
    if (/^tsclab: /.test((e as Error).message)) throw e;
    const why = (last ?? (e as Error)).message;
    const auth = /NOAUTH|WRONGPASS|invalid password|invalid username/i.test(why);
    throw fail(`cannot use Redis at ${c.display}: ${why}${auth ? ' (give the password in the URL, redis://:PASSWORD@HOST:PORT, or in TSCLAB_REDIS_PASSWORD)'
      : ' (is redis-server running there and reachable from this machine?)'}`);
  } finally {
    client.disconnect();
  }
}

/** A client for BullMQ: it retries for ever (a Redis restart is waited out), as BullMQ requires of its connections. */
const bullClient = (c: RedisConn) => new Redis({ ...c.options, maxRetriesPerRequest: null });

/** BullMQ leaves open a client it was handed: closing one of its objects closes that client too. */
async function closeAll(...xs: ({ close(): Promise<void>; opts: { connection?: unknown } } | null)[]): Promise<void> {
  for (const x of xs) {
    if (!x) continue;
    await x.close();
    (x.opts.connection as Redis | undefined)?.disconnect();
  }
}
/** A client for tsclab's own reads and writes: a command fails after a few seconds rather than waiting for ever. */
const dataClient = (c: RedisConn) => new Redis({ ...c.options, maxRetriesPerRequest: 2, commandTimeout: 10_000,
  retryStrategy: (n: number) => Math.min(200 * n, 2000) });

// ---- the campaign's keys -------------------------------------------------------------------------

/** A campaign name: it is part of Redis keys and job ids. */
export function checkCampaignName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) {
    throw fail(`--campaign: "${name}": letters, digits, '.', '_' and '-' (up to 64, the first a letter or digit)`);
  }
  return name;
}

/** A campaign's keys; the {name} hash tag keeps them in one slot of a Redis Cluster. */
const keys = (name: string) => {
  const k = (s: string) => `${KEY_PREFIX}:campaign:{${name}}:${s}`;
  return { spec: k('spec'), done: k('done'), stats: k('stats'), findings: k('findings'), counts: k('counts'), classes: k('classes'),
    classShard: k('class-shard'), firstSeen: k('first-seen') };
};
const CAMPAIGNS = `${KEY_PREFIX}:campaigns`;

/** What a campaign is: the same on every submission (or it is refused), and what every job carries. */
export interface CampaignSpec { seed: number; runs: number; gen: FuzzOptions; model: string; shardsPerJob: number }
export interface JobData { campaign: string; seed: number; gen: FuzzOptions; model: string; from: number; to: number }

const totalShards = (runs: number) => Math.ceil(runs / RUNS_PER_SHARD);
const jobId = (name: string, from: number, to: number) => `${name}/${from}-${to - 1}`;

// Recording a shard, once: a retried job's shard is not counted again.
// KEYS: done, stats, findings, counts; ARGV: shard, runs, events, searchMs, finding JSON or '', signature
const RECORD_SHARD = `
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], 'runs', ARGV[2])
redis.call('HINCRBY', KEYS[2], 'events', ARGV[3])
redis.call('HINCRBY', KEYS[2], 'searchMs', ARGV[4])
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[1], ARGV[5])
  redis.call('HINCRBY', KEYS[4], ARGV[6], 1)
end
return 1`;
// A class's shrunk case: kept from the lowest shard that found it. KEYS: classes, classShard, firstSeen;
// ARGV: signature, shard, record JSON, now (ISO)
const RECORD_CLASS = `
redis.call('HSETNX', KEYS[3], ARGV[1], ARGV[4])
local cur = redis.call('HGET', KEYS[2], ARGV[1])
if cur and tonumber(cur) <= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1`;

/** A class as recorded: the shrunk case of its lowest shard's failure. */
interface ClassRecord { shard: number; invariant: string; detail: string; seed: number; path: string; scenario: Record<string, unknown>;
  violations: Violation[]; shrinks: number; shrinkMs: number; worker: string }

// ---- submitting ----------------------------------------------------------------------------------

export interface SubmitResult { spec: CampaignSpec; total: number; jobs: number; done: number; retried: number; resubmitted: boolean }

/** The options that differ between two specs, as "--flag was X, not Y" (for the refusal). */
function specDiff(was: CampaignSpec, now: CampaignSpec): string | null {
  if (was.model !== now.model) return `it was submitted by tsclab ${was.model}, this is ${now.model} (a campaign is one model's: submit under another --campaign name)`;
  if (was.seed !== now.seed) return `it was submitted with --seed ${was.seed}, not ${now.seed}`;
  if (was.runs !== now.runs) return `it was submitted with --runs ${was.runs}, not ${now.runs}`;
  if (was.shardsPerJob !== now.shardsPerJob) return `it was submitted with --shards-per-job ${was.shardsPerJob}, not ${now.shardsPerJob}`;
  if (JSON.stringify(was.gen) !== JSON.stringify(now.gen)) return `it was submitted with other generator options (${JSON.stringify(was.gen)}, not ${JSON.stringify(now.gen)})`;
  return null;
}

/**
 * Enqueues campaign `name`: its spec first (a second submission must have the same, or it is refused), then one job
 * per range of shards, with ids BullMQ de-duplicates (a second submission adds nothing), and a retry of any of its
 * jobs that failed for good (a failed job keeps its id, so adding it again would not run it).
 */
export async function submitCampaign(c: RedisConn, name: string, o: { seed: number; runs: number; gen: FuzzOptions; shardsPerJob: number }): Promise<SubmitResult> {
  const spec: CampaignSpec = { seed: o.seed, runs: o.runs, gen: o.gen, model: modelVersion(), shardsPerJob: o.shardsPerJob };
  const k = keys(name);
  const redis = dataClient(c);
  const queue = new Queue<JobData>(QUEUE_NAME, { connection: bullClient(c), prefix: KEY_PREFIX });
  try {
    const set = await redis.set(k.spec, JSON.stringify(spec), 'NX');
    const resubmitted = set === null;
    if (resubmitted) {
      const was = JSON.parse((await redis.get(k.spec))!) as CampaignSpec;
      const diff = specDiff(was, spec);
      if (diff) throw fail(`--campaign ${name}: a campaign of that name is on ${c.display} already and ${diff}`);
    }
    await redis.sadd(CAMPAIGNS, name);
    const total = totalShards(o.runs);
    const jobs: { name: string; data: JobData; opts: { jobId: string } }[] = [];
    for (let from = 0; from < total; from += o.shardsPerJob) {
      const to = Math.min(total, from + o.shardsPerJob);
      jobs.push({ name: 'shards', data: { campaign: name, seed: o.seed, gen: o.gen, model: spec.model, from, to }, opts: { jobId: jobId(name, from, to) } });
    }
    // attempts and backoff for errors (Redis lost mid-job, a thread that died); a job stalled by a dead worker is
    // put back by BullMQ's stalled-job check; completed jobs are kept: their ids make re-submission a no-op
    const opts = { attempts: 5, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: false, removeOnFail: false };
    for (let i = 0; i < jobs.length; i += 1000) {
      await queue.addBulk(jobs.slice(i, i + 1000).map((j) => ({ ...j, opts: { ...opts, ...j.opts } })));
    }
    let retried = 0;
    if (resubmitted) {
      for (const j of await queue.getFailed()) {
        if (j?.id?.startsWith(`${name}/`)) { await j.retry('failed'); retried++; }
      }
    }
    return { spec, total, jobs: jobs.length, done: await redis.scard(k.done), retried, resubmitted };
  } finally {
    await closeAll(queue);
    redis.disconnect();
  }
}

export interface Progress { done: number; total: number; findings: number; runs: number }

/**
 * Waits until every shard of the campaign is recorded, reporting progress; a job of the campaign that fails for
 * good (BullMQ's attempts spent, or refused by a worker of another model) ends the wait with its reason.
 */
export async function waitCampaign(c: RedisConn, name: string, onProgress?: (p: Progress) => void, pollMs = 250): Promise<Progress> {
  const k = keys(name);
  const redis = dataClient(c);
  redis.on('error', () => { /* retried; reported below when it lasts */ });
  const events = new QueueEvents(QUEUE_NAME, { connection: bullClient(c), prefix: KEY_PREFIX });
  let failed: Error | null = null;
  events.on('failed', ({ jobId: id, failedReason }) => {
    if (id.startsWith(`${name}/`)) failed ??= fail(`campaign ${name}: job ${id} failed: ${failedReason}; fix that and submit the campaign again ` +
      '(its failed jobs are retried, the shards done are kept)');
  });
  try {
    await events.waitUntilReady();
    const spec = await redis.get(k.spec);
    if (!spec) throw fail(`campaign ${name}: there is no such campaign on ${c.display}`);
    const total = totalShards((JSON.parse(spec) as CampaignSpec).runs);
    // a job that failed before the events were read
    const queue = new Queue<JobData>(QUEUE_NAME, { connection: bullClient(c), prefix: KEY_PREFIX });
    try {
      const f = (await queue.getFailed()).find((j) => j?.id?.startsWith(`${name}/`));
      if (f) failed ??= fail(`campaign ${name}: job ${f.id} failed: ${f.failedReason}; fix that and submit the campaign again`);
    } finally { await closeAll(queue); }
    let lastOk = Date.now();
    for (;;) {
      if (failed) throw failed;
      try {
        const [[, done], [, findings], [, runs]] = (await redis.multi().scard(k.done).hlen(k.findings).hget(k.stats, 'runs').exec())! as [unknown, number][];
        lastOk = Date.now();
        const p = { done: Number(done), total, findings: Number(findings), runs: Number(runs ?? 0) };
        onProgress?.(p);
        if (p.done >= total) return p;
      } catch (e) {
        if (Date.now() - lastOk > 30_000) throw fail(`lost Redis at ${c.display} for 30 s while waiting for campaign ${name}: ${(e as Error).message} ` +
          '(the campaign goes on: wait for it again with tsclab campaign status, or submit it again)');
      }
      await new Promise((r) => setTimeout(r, pollMs));
    }
  } finally {
    await closeAll(events);
    redis.disconnect();
  }
}

// ---- reading a campaign back ---------------------------------------------------------------------

export interface CampaignView {
  name: string;
  spec: CampaignSpec;
  total: number;
  done: number[];
  stats: { runs: number; events: number; searchMs: number };
  /** Every shard's finding, by shard. */
  findings: Finding[];
  /** The classes, as the local fuzzer reports them (count, shrunk case), with when each was first seen and its shrunk scenario. */
  classes: (FindingClass & { firstSeen?: string; shard: number; record: ClassRecord })[];
}

export async function readCampaign(c: RedisConn, name: string): Promise<CampaignView> {
  const k = keys(name);
  const redis = dataClient(c);
  try {
    const spec = await redis.get(k.spec);
    if (!spec) {
      const known = await redis.smembers(CAMPAIGNS);
      throw fail(`campaign ${name}: there is no such campaign on ${c.display}${known.length ? ` (there: ${known.sort().join(', ')})` : ''}`);
    }
    const s = JSON.parse(spec) as CampaignSpec;
    const [[, done], [, stats], [, findings], [, counts], [, classes], [, firstSeen]] = (await redis.multi().smembers(k.done).hgetall(k.stats)
      .hgetall(k.findings).hgetall(k.counts).hgetall(k.classes).hgetall(k.firstSeen).exec())! as [unknown, never][];
    const f = Object.values(findings as Record<string, string>).map((x) => JSON.parse(x) as Finding).sort((a, b) => a.shard - b.shard);
    const st = stats as Record<string, string>;
    return {
      name, spec: s, total: totalShards(s.runs), done: (done as string[]).map(Number).sort((a, b) => a - b),
      stats: { runs: Number(st.runs ?? 0), events: Number(st.events ?? 0), searchMs: Number(st.searchMs ?? 0) },
      findings: f,
      classes: Object.entries(classes as Record<string, string>).map(([sig, json]) => {
        const r = JSON.parse(json) as ClassRecord;
        const v = r.violations[0];
        return { signature: sig, invariant: v?.invariant ?? r.invariant, count: Number((counts as Record<string, string>)[sig] ?? 0), detail: v?.detail ?? r.detail,
          seed: r.seed, path: r.path, shrinks: r.shrinks, scenario: r.scenario, firstSeen: (firstSeen as Record<string, string>)[sig], shard: r.shard, record: r };
      }).sort((a, b) => b.count - a.count || a.signature.localeCompare(b.signature)),
    };
  } finally {
    redis.disconnect();
  }
}

/**
 * Writes what the local fuzzer (`tsclab fuzz --out DIR` with the same --seed, --runs and options) writes: one
 * scenario file per class of finding, and campaign.json, its state (so `tsclab fuzz --replay ... --out DIR` and,
 * for a campaign not finished, `--resume` work on it). Returns the files written.
 */
export function exportCampaign(v: CampaignView, out: string): string[] {
  let isDir: boolean | null = null;
  try { isDir = statSync(out).isDirectory(); } catch { /* made below */ }
  if (isDir === false) throw fail(`--out: ${out} is a file, not a directory`);
  if (isDir === null) {
    try { mkdirSync(out, { recursive: true }); } catch (e) { throw fail(`--out: cannot create ${out}: ${(e as Error).message}`); }
  }
  const written: string[] = [];
  const classes: CampaignState['classes'] = [];
  for (const cl of v.classes) {
    const r = cl.record;
    const sh: Shrunk = { seed: r.seed, path: r.path, scenario: r.scenario, violations: r.violations, shrinks: r.shrinks, ms: r.shrinkMs };
    const viol = r.violations[0];
    const file = `fuzz-${viol?.invariant ?? r.invariant}-seed${r.seed}.json`;
    if (viol) {
      atomicWrite(join(out, file), `${JSON.stringify(findingFile(sh, cl.count), null, 2)}\n`);
      written.push(join(out, file));
    }
    classes.push({ signature: cl.signature, invariant: cl.invariant, count: cl.count, detail: cl.detail, seed: r.seed, path: r.path,
      ...(viol ? { file } : {}), shrinks: r.shrinks });
  }
  const state: CampaignState = {
    version: 1, seed: v.spec.seed, budget: { runs: v.spec.runs }, gen: v.spec.gen as CampaignState['gen'], done: v.done,
    findings: v.findings.map((f) => ({ shard: f.shard, invariant: f.invariant, detail: f.detail, seed: f.seed, path: f.path, signature: f.signature })),
    classes: classes.sort((a, b) => a.signature.localeCompare(b.signature)),
  };
  atomicWrite(join(out, 'campaign.json'), `${JSON.stringify(state)}\n`);
  written.push(join(out, 'campaign.json'));
  return written;
}

export interface QueueCounts { waiting: number; active: number; delayed: number; failed: number; completed: number }

/** The campaign's failed jobs (with BullMQ's reason) and the whole queue's counts. */
export async function queueState(c: RedisConn, name: string): Promise<{ counts: QueueCounts; failed: { id: string; reason: string; attempts: number }[] }> {
  const queue = new Queue<JobData>(QUEUE_NAME, { connection: bullClient(c), prefix: KEY_PREFIX });
  try {
    const n = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized');
    const failed = (await queue.getFailed()).filter((j) => j?.id?.startsWith(`${name}/`))
      .map((j) => ({ id: j.id!, reason: j.failedReason, attempts: j.attemptsMade }));
    return { counts: { waiting: (n.waiting ?? 0) + (n.prioritized ?? 0), active: n.active ?? 0, delayed: n.delayed ?? 0, failed: n.failed ?? 0,
      completed: n.completed ?? 0 }, failed };
  } finally {
    await closeAll(queue);
  }
}

// ---- the worker ----------------------------------------------------------------------------------

/** Threads that each run one message at a time (the local fuzzer's worker threads, one compiled module). */
class ThreadPool {
  private idle: Thread[];
  private readonly waiting: { msg: unknown; resolve: (v: unknown) => void; reject: (e: Error) => void }[] = [];
  constructor(n: number) { this.idle = spawnWorkers(n); }
  run<T>(msg: unknown): Promise<T> {
    return new Promise<T>((resolve, reject) => { this.waiting.push({ msg, resolve: resolve as (v: unknown) => void, reject }); this.pump(); });
  }
  private pump(): void {
    while (this.idle.length && this.waiting.length) {
      const t = this.idle.pop()!, task = this.waiting.shift()!;
      const done = (err: Error | null, v?: unknown) => {
        t.off('message', onMessage); t.off('error', onError);
        if (err) { void t.terminate(); this.idle.push(spawnWorkers(1)[0]); task.reject(err); } else { this.idle.push(t); task.resolve(v); }
        this.pump();
      };
      const onMessage = (v: unknown) => done(null, v);
      const onError = (e: Error) => done(e);
      t.on('message', onMessage); t.on('error', onError);
      t.postMessage(task.msg);
    }
  }
  async close(): Promise<void> { await Promise.all(this.idle.map((t) => t.terminate())); }
}

export interface WorkerOptions {
  concurrency: number;
  /** BullMQ's lock on a job (renewed while it runs) and how often stalled jobs (a dead worker's) are looked for, ms. */
  lockDuration?: number;
  stalledInterval?: number;
  /** Exit once the queue has had nothing waiting, delayed or active for this long, s (a Kubernetes Job's workers). */
  exitWhenIdle?: number;
  /** Stop (after the jobs under way) when this aborts. */
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface JobResult { shards: number; skipped: number; runs: number; findings: number; shrunk: number }

/** The work of one job: its shards not yet recorded, their findings shrunk where needed, all recorded before it is acknowledged. */
async function processJob(job: Job<JobData>, pool: ThreadPool, redis: Redis, model: string, workerName: string): Promise<JobResult> {
  const d = job.data;
  if (d.model !== model) {
    throw new UnrecoverableError(`model version mismatch: the job was made by tsclab ${d.model}, this worker is tsclab ${model}; ` +
      `the worker refuses it rather than mix two models' results (run workers of the submitter's version)`);
  }
  const k = keys(d.campaign);
  const range = Array.from({ length: d.to - d.from }, (_, i) => d.from + i);
  const known = await redis.smismember(k.done, ...range.map(String));
  const todo = range.filter((_, i) => !known[i]);
  const results = await Promise.all(todo.map((shard) => pool.run<ShardResult>({ type: 'shard', seed: d.seed, shard, gen: d.gen })));
  // each class found here: its lowest shard's case, shrunk unless a lower shard's is recorded already
  const first = new Map<string, ShardResult>();
  for (const r of results) if (r.failure && (!first.has(r.failure.signature) || first.get(r.failure.signature)!.shard > r.shard)) first.set(r.failure.signature, r);
  let shrunk = 0;
  for (const [sig, r] of first) {
    const cur = await redis.hget(k.classShard, sig);
    if (cur !== null && Number(cur) <= r.shard) continue;
    const sh = await pool.run<Shrunk>({ type: 'shrink', seed: r.seed, path: r.failure!.path, gen: d.gen });
    const v = r.failure!.violations[0];
    const record: ClassRecord = { shard: r.shard, invariant: v?.invariant ?? 'failure', detail: v?.detail ?? '', seed: sh.seed, path: sh.path, scenario: sh.scenario,
      violations: sh.violations, shrinks: sh.shrinks, shrinkMs: sh.ms, worker: workerName };
    await redis.eval(RECORD_CLASS, 3, k.classes, k.classShard, k.firstSeen, sig, String(r.shard), JSON.stringify(record), new Date().toISOString());
    shrunk++;
  }
  let findings = 0;
  for (const r of results) {
    const v = r.failure?.violations[0];
    const finding: Finding | null = r.failure ? { shard: r.shard, invariant: v?.invariant ?? 'failure', detail: v?.detail ?? '', seed: r.seed, path: r.failure.path,
      signature: r.failure.signature } : null;
    if (finding) findings++;
    await redis.eval(RECORD_SHARD, 4, k.done, k.stats, k.findings, k.counts, String(r.shard), String(r.runs), String(r.events), String(r.searchMs),
      finding ? JSON.stringify(finding) : '', finding?.signature ?? '');
  }
  return { shards: todo.length, skipped: range.length - todo.length, runs: results.reduce((a, r) => a + r.runs, 0), findings, shrunk };
}

/** `tsclab worker`: runs the queue's jobs on `concurrency` threads until stopped (or idle, with exitWhenIdle). */
export async function runWorker(c: RedisConn, o: WorkerOptions): Promise<{ jobs: number; failed: number }> {
  const model = modelVersion();
  const log = o.log ?? (() => {});
  const name = `${(await import('node:os')).hostname()}:${process.pid}`;
  const pool = new ThreadPool(o.concurrency);
  const redis = dataClient(c);
  redis.on('error', () => { /* retried by the client; a job whose writes fail is retried by BullMQ */ });
  let jobs = 0, failed = 0;
  const worker = new BullWorker<JobData, JobResult>(QUEUE_NAME, (job) => processJob(job, pool, redis, model, name), {
    connection: bullClient(c), prefix: KEY_PREFIX, concurrency: o.concurrency, autorun: false, maxStalledCount: 3,
    ...(o.lockDuration ? { lockDuration: o.lockDuration } : {}), ...(o.stalledInterval ? { stalledInterval: o.stalledInterval } : {}),
  });
  worker.on('completed', (job, r) => {
    jobs++;
    log(`${job.id}: ${r.shards} shards, ${r.runs} scenarios, ${r.findings} findings${r.shrunk ? `, ${r.shrunk} shrunk` : ''}${r.skipped ? ` (${r.skipped} shards done before)` : ''}`);
  });
  worker.on('failed', (job, e) => { failed++; log(`${job?.id ?? '?'}: failed: ${e.message}`); });
  worker.on('error', (e) => log(`worker: ${e.message}`));
  const queue = o.exitWhenIdle !== undefined ? new Queue(QUEUE_NAME, { connection: bullClient(c), prefix: KEY_PREFIX }) : null;
  let idleSince = Date.now(), timer: NodeJS.Timeout | undefined;
  const stopped = new Promise<void>((resolve) => {
    o.signal?.addEventListener('abort', () => resolve(), { once: true });
    if (queue) {
      timer = setInterval(() => {
        queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized').then((n) => {
          if (Object.values(n).some((x) => x > 0)) idleSince = Date.now();
          else if (Date.now() - idleSince >= o.exitWhenIdle! * 1000) resolve();
        }, () => { idleSince = Date.now(); });
      }, 500);
    }
  });
  void worker.run();
  await worker.waitUntilReady();
  log(`tsclab worker (${model}) on ${c.display}, queue ${KEY_PREFIX}:${QUEUE_NAME}, ${o.concurrency} thread${o.concurrency === 1 ? '' : 's'}`);
  try {
    await stopped;
  } finally {
    clearInterval(timer);
    await closeAll(worker, queue); // the worker waits for its jobs under way
    await pool.close();
    redis.disconnect();
  }
  return { jobs, failed };
}
