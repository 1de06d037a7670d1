// Campaigns over a queue (issue 17), on a real redis-server this file starts
// (127.0.0.1, a free port, no persistence, noeviction) and the built command
// (dist/, which `npm test` builds first) in separate processes, as users run
// them: three workers give the local fuzzer's files byte for byte; a worker
// killed with SIGKILL mid-job loses nothing (BullMQ's stalled-job recovery,
// with short lock and stalled intervals here); a second submission runs
// nothing; a job of another model version is refused with its reason; an
// unreachable Redis or one that may evict is a clear error at once (exit 2).
// Skipped, saying why, only where redis-server is missing (.ci/run installs it).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { loads as moduleLoads } from './support/loads.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist/cli/main.js');
const tmp = mkdtempSync(join(tmpdir(), 'tsclab-queue-'));
const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '', TSCLAB_DEBUG: '', NO_COLOR: '1', TSCLAB_REDIS_PASSWORD: '' };
delete env.FORCE_COLOR;
/** Waits (up to 5 s) for `ok`: a worker logs a job after BullMQ has acknowledged it, which is after its shards were recorded. */
const eventually = async (ok: () => boolean) => { for (let i = 0; i < 100 && !ok(); i++) await new Promise((r) => setTimeout(r, 50)); };

const freePort = () => new Promise<number>((resolve, reject) => {
  const s = createServer();
  s.once('error', reject);
  s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); });
});

const haveRedis = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).status === 0;
let redisProc: ChildProcess | null = null;
let port = 0, url = '', redis: Redis | null = null;
const workers: ChildProcess[] = [];

async function startRedis(): Promise<string | null> {
  if (!haveRedis) return 'redis-server is not installed (Debian: apt-get install redis-server; .ci/run installs it)';
  port = await freePort();
  url = `redis://127.0.0.1:${port}`;
  redisProc = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction',
    '--daemonize', 'no', '--dir', tmp], { stdio: 'ignore' });
  for (let i = 0; i < 50; i++) {
    const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    c.on('error', () => {});
    try { await c.connect(); await c.ping(); redis = c; return null; } catch { c.disconnect(); }
    await new Promise((r) => setTimeout(r, 100));
  }
  return `redis-server did not start on 127.0.0.1:${port}`;
}
const skip = await startRedis();
if (skip) console.log(`  queue tests skipped: ${skip}`);

const tsclab = (...args: string[]) => {
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', env, timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr, ms: Date.now() - t0 };
};

/** A worker process; its output in `log`. */
function startWorker(...extra: string[]): { proc: ChildProcess; log: () => string; ready: Promise<void> } {
  let text = '';
  const proc = spawn(process.execPath, [cli, 'worker', '--queue', url, '--concurrency', '1', '--lock-duration', '1500', '--stalled-interval', '500', ...extra],
    { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  workers.push(proc);
  const ready = new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', (d) => { text += d; if (/^tsclab worker \(/m.test(text)) resolve(); });
    proc.stderr!.on('data', (d) => { text += d; });
    proc.once('exit', (code) => reject(new Error(`worker exited ${code}: ${text}`)));
  });
  ready.catch(() => {});
  return { proc, log: () => text, ready };
}
const stop = async (p: ChildProcess) => {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await exited;
};

/** Every file of a directory, name -> bytes. */
const files = (dir: string) => Object.fromEntries(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f), 'utf8')]));

// the generator settings of the tests: a local campaign finds two classes in 8 shards (legacy migration), or six in 12 (any rules)
const LEGACY = ['--seed', '11', '--runs', '200', '--rules', '6.7+', '--procedure', 'legacy', '--no-suspend'];
const ANY = ['--seed', '5', '--runs', '300'];

test('three worker processes give the local fuzzer\'s finding files and campaign.json, byte for byte', async () => {
  if (skip) return;
  const local = join(tmp, 'local-legacy');
  assert.is(tsclab('fuzz', ...LEGACY, '--workers', '1', '--out', local).code, 0);
  const ws = [startWorker(), startWorker(), startWorker()];
  await Promise.all(ws.map((w) => w.ready));
  const out = join(tmp, 'queued-legacy');
  const r = tsclab('fuzz', ...LEGACY, '--queue', url, '--campaign', 'three', '--shards-per-job', '1', '--out', out);
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /200|20 scenarios/);
  const want = files(local), got = files(out);
  assert.ok(Object.keys(want).length >= 3, `the local run wrote its findings: ${Object.keys(want).join(' ')}`);
  assert.equal(Object.keys(got), Object.keys(want));
  for (const f of Object.keys(want)) assert.is(got[f], want[f], f);
  await eventually(() => ws.filter((w) => /^three\/\d+-\d+: /m.test(w.log())).length >= 2);
  const busy = ws.filter((w) => /^three\/\d+-\d+: /m.test(w.log())).length;
  assert.ok(busy >= 2, `the jobs were spread over the workers (${busy} of 3 ran some):\n${ws.map((w) => w.log()).join('\n')}`);

  // a second submission: nothing added, nothing run again, the same files
  const before = ws.map((w) => w.log());
  const st0 = JSON.parse(tsclab('campaign', 'status', 'three', '--queue', url, '--json').out);
  const again = tsclab('fuzz', ...LEGACY, '--queue', url, '--campaign', 'three', '--shards-per-job', '1', '--out', join(tmp, 'again'));
  assert.is(again.code, 0, again.err);
  assert.match(again.err, /submitted before: 8 shards done, nothing added/);
  await new Promise((r) => setTimeout(r, 700));
  const st1 = JSON.parse(tsclab('campaign', 'status', 'three', '--queue', url, '--json').out);
  assert.is(st1.runs, st0.runs);
  assert.is(st1.queueCounts.completed, st0.queueCounts.completed, 'no job ran again');
  assert.is(st1.queueCounts.waiting + st1.queueCounts.active, 0);
  assert.equal(ws.map((w) => w.log()), before, 'the workers did nothing');
  assert.equal(files(join(tmp, 'again')), want);
  // the same options are needed to submit it again
  const other = tsclab('fuzz', ...LEGACY.map((a) => (a === '200' ? '300' : a)), '--queue', url, '--campaign', 'three');
  assert.is(other.code, 2);
  assert.match(other.err, /campaign three: a campaign of that name is on .* already and it was submitted with --runs 200, not 300/);
  // findings and export read the same records
  const found = JSON.parse(tsclab('campaign', 'findings', 'three', '--queue', url, '--json').out) as { count: number; firstSeen: string; scenario: unknown }[];
  assert.is(found.length, JSON.parse(want['campaign.json']).classes.length);
  assert.ok(found.every((c) => c.count >= 1 && c.firstSeen && c.scenario));
  const ex = tsclab('campaign', 'export', 'three', '--queue', url, '--out', join(tmp, 'export'));
  assert.is(ex.code, 0, ex.err);
  assert.equal(files(join(tmp, 'export')), want);
  await Promise.all(ws.map((w) => stop(w.proc)));
  assert.ok(ws.every((w) => w.proc.exitCode === 0), 'SIGTERM: the workers stop cleanly');
});

test('a worker killed with SIGKILL mid-job loses no finding: BullMQ gives its job to another worker and the campaign completes', async () => {
  if (skip) return;
  const local = join(tmp, 'local-any');
  assert.is(tsclab('fuzz', ...ANY, '--workers', '1', '--out', local).code, 0);
  // one job of 12 shards (six classes to shrink: seconds of work); a lone worker takes it, then is killed
  const sub = tsclab('fuzz', ...ANY, '--queue', url, '--campaign', 'killed', '--shards-per-job', '12', '--detach');
  assert.is(sub.code, 0, sub.err);
  const a = startWorker();
  await a.ready;
  const queue = new Queue('fuzz', { connection: new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: null }), prefix: 'tsclab' });
  for (let i = 0; i < 200 && (await queue.getJobState('killed/0-11')) !== 'active'; i++) await new Promise((r) => setTimeout(r, 20));
  await queue.close();
  (queue.opts.connection as Redis).disconnect();
  await new Promise((r) => setTimeout(r, 300)); // into the search (a job of 12 shards and six shrinks takes seconds)
  const killed = new Promise((r) => a.proc.once('exit', r));
  a.proc.kill('SIGKILL');
  await killed;
  assert.not.match(a.log(), /^killed\/0-11: /m, 'the job was under way when its worker died');
  const b = startWorker();
  await b.ready;
  const out = join(tmp, 'queued-any');
  const r = tsclab('fuzz', ...ANY, '--queue', url, '--campaign', 'killed', '--shards-per-job', '12', '--out', out);
  assert.is(r.code, 0, r.err);
  await eventually(() => /^killed\/0-11: /m.test(b.log()));
  assert.match(b.log(), /^killed\/0-11: /m);
  assert.equal(files(out), files(local));
  await stop(b.proc);
});

test('a job of another model version is refused with the reason, and so is submitting to a campaign of another model', async () => {
  if (skip) return;
  const w = startWorker();
  await w.ready;
  const spec = { seed: 1, runs: 25, gen: {}, model: '0.0.1+model.0', shardsPerJob: 4 };
  await redis!.set('tsclab:campaign:{old}:spec', JSON.stringify(spec));
  const queue = new Queue('fuzz', { connection: new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: null }), prefix: 'tsclab' });
  await queue.add('shards', { campaign: 'old', seed: 1, gen: {}, model: spec.model, from: 0, to: 1 }, { jobId: 'old/0-0', attempts: 5 });
  let state = '';
  for (let i = 0; i < 100 && state !== 'failed'; i++) { state = await queue.getJobState('old/0-0'); await new Promise((r) => setTimeout(r, 50)); }
  assert.is(state, 'failed');
  const job = await queue.getJob('old/0-0');
  assert.match(job!.failedReason, /model version mismatch: the job was made by tsclab 0\.0\.1\+model\.0, this worker is tsclab \d+\.\d+\.\d+\+model\.\d+/);
  assert.is(job!.attemptsMade, 1, 'refused at once, not retried');
  assert.is(await redis!.scard('tsclab:campaign:{old}:done'), 0, 'nothing run');
  await queue.close();
  (queue.opts.connection as Redis).disconnect();
  const st = tsclab('campaign', 'status', 'old', '--queue', url);
  assert.is(st.code, 1);
  assert.match(st.out, /failed old\/0-0 after 1 attempt: model version mismatch/);
  const sub = tsclab('fuzz', '--seed', '1', '--runs', '25', '--queue', url, '--campaign', 'old');
  assert.is(sub.code, 2);
  assert.match(sub.err, /it was submitted by tsclab 0\.0\.1\+model\.0, this is /);
  await stop(w.proc);
});

test('Redis unreachable, a malformed URL, no campaign name: clear errors, exit 2, within seconds', async () => {
  if (skip) return;
  const closed = await freePort();
  for (const args of [['fuzz', '--queue', `redis://127.0.0.1:${closed}`, '--campaign', 'x'], ['worker', '--queue', `redis://127.0.0.1:${closed}`],
    ['campaign', 'status', 'x', '--queue', `redis://127.0.0.1:${closed}`]]) {
    const r = tsclab(...args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, new RegExp(`error: cannot use Redis at redis://127\\.0\\.0\\.1:${closed}/0: .*is redis-server running there`));
    assert.ok(r.ms < 8000, `${args[0]}: ${r.ms} ms`);
    assert.not.match(r.err, /\n\s+at /);
  }
  // an address that never answers (TEST-NET-1): the connect timeout, not a hang
  const t = tsclab('campaign', 'status', 'x', '--queue', 'redis://192.0.2.1:6379');
  assert.is(t.code, 2, t.err);
  assert.ok(t.ms < 8000, `${t.ms} ms`);
  for (const [args, message] of [
    [['fuzz', '--queue', 'http://127.0.0.1:1', '--campaign', 'x'], /the scheme must be redis:\/\/ or rediss:\/\//],
    [['fuzz', '--queue', url], /--queue needs --campaign/],
    [['fuzz', '--campaign', 'x'], /--campaign needs --queue/],
    [['fuzz', '--queue', url, '--campaign', 'x', '--seconds', '5'], /--seconds cannot go with --queue/],
    [['fuzz', '--queue', url, '--campaign', 'a:b'], /--campaign: "a:b": letters, digits/],
    [['campaign', 'status', 'nosuch', '--queue', url], /campaign nosuch: there is no such campaign/],
    [['worker'], /required option '--queue <url>' not specified/],
  ] as const) {
    const r = tsclab(...args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, message, args.join(' '));
  }
});

test('a Redis whose maxmemory-policy is not noeviction is refused at start with what to set', async () => {
  if (skip) return;
  await redis!.config('SET', 'maxmemory-policy', 'allkeys-lru');
  try {
    for (const args of [['worker', '--queue', url], ['fuzz', '--queue', url, '--campaign', 'evict']]) {
      const r = tsclab(...args);
      assert.is(r.code, 2, r.err);
      assert.match(r.err, /Redis at redis:\/\/127\.0\.0\.1:\d+\/0 has maxmemory-policy allkeys-lru; BullMQ needs noeviction .*maxmemory-policy noeviction/);
    }
    assert.is(await redis!.exists('tsclab:campaign:{evict}:spec'), 0, 'nothing submitted');
  } finally {
    await redis!.config('SET', 'maxmemory-policy', 'noeviction');
  }
});

test('only the queue commands load BullMQ and ioredis', () => {
  const loads = (args: string[]) => moduleLoads(args, root, env).urls.join('\n');
  for (const args of [[cli, '--version'], [cli, 'list'], [cli, 'fuzz', '--seed', '1', '--runs', '25', '--workers', '1'],
    ['--input-type=module', '-e', "await import('tsclab'); await import('tsclab/sim')"]]) {
    const urls = loads(args);
    assert.ok(urls.length > 0, 'the hook saw the program load');
    assert.not.match(urls, /node_modules\/(bullmq|ioredis)\//, `${args.join(' ')} loaded BullMQ or ioredis`);
  }
  if (!skip) assert.match(loads([cli, 'campaign', 'status', 'x', '--queue', url]), /node_modules\/bullmq\//, 'the queue commands do load them');
});

test.after(async () => {
  for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
  redis?.disconnect();
  if (redisProc) {
    const exited = new Promise((r) => redisProc!.once('exit', r));
    redisProc.kill('SIGTERM');
    await exited;
  }
  rmSync(tmp, { recursive: true, force: true });
});

test.run();
