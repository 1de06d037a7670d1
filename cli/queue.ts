// The queue commands: `tsclab fuzz --queue URL --campaign NAME` (submit, wait,
// write the findings), `tsclab worker --queue URL` and `tsclab campaign
// status|findings|export NAME --queue URL`. Only the command definitions load
// with the program; BullMQ, ioredis and the fuzzer load in the actions
// (sim/fuzz/queue.ts), so no other command or `import 'tsclab'` loads them.
import { Command, Option } from 'commander';
import { availableParallelism } from 'node:os';
import type { FuzzOptions } from '../sim/fuzz/arbitraries.js';
import { bold, green, red, toJson, yellow, UsageError, EXIT_ANOMALIES, EXIT_OK } from './output.js';

export interface RedisFlags { queue: string; tlsCa?: string; tlsCert?: string; tlsKey?: string }

/** The options every queue command takes: where Redis is, and how to reach it. */
export function addRedisOptions(c: Command, required = true): Command {
  const q = new Option('--queue <url>', 'the Redis that holds the queue: redis://[:PASSWORD@]HOST:PORT[/DB], or rediss:// for TLS ' +
    '(TSCLAB_REDIS_PASSWORD overrides the password)');
  if (required) q.makeOptionMandatory();
  return c.addOption(q)
    .option('--tls-ca <file>', 'TLS: a CA certificate (PEM) to trust').option('--tls-cert <file>', 'TLS: a client certificate (PEM)')
    .option('--tls-key <file>', 'TLS: the client certificate\'s key (PEM)');
}

const int = (name: string, v: string | undefined, min: number, max: number, dflt: number): number => {
  if (v === undefined) return dflt;
  if (!/^\d{1,16}$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`--${name}: expected an integer in ${min}..${max}, got "${v}"`);
  return Number(v);
};

/** sim/fuzz/queue.ts, whose bullmq and ioredis are optional peers of the package: missing, a clear error, exit 2. */
export async function loadQueue(load: () => Promise<typeof import('../sim/fuzz/queue.js')> = () => import('../sim/fuzz/queue.js')) {
  try {
    return await load();
  } catch (e) {
    const m = /Cannot find (?:package|module) '(bullmq|ioredis)'/.exec((e as Error).message ?? '');
    if ((e as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' && m) {
      throw new UsageError(`the queue commands need bullmq and ioredis, optional peers of tsclab that are not installed (${m[1]} is missing): npm install bullmq@6 ioredis@6`);
    }
    throw e;
  }
}

async function connect(f: RedisFlags) {
  const q = await loadQueue();
  const c = q.redisConnection({ url: f.queue, password: process.env.TSCLAB_REDIS_PASSWORD || undefined, tlsCa: f.tlsCa, tlsCert: f.tlsCert, tlsKey: f.tlsKey });
  await q.checkRedis(c);
  return { q, c };
}

/** `tsclab fuzz --queue ...`: submits the campaign, then (unless --detach) waits for it and writes what the local fuzzer writes. */
export async function queueFuzz(o: RedisFlags & { campaign: string; seed: number; runs: number; gen: FuzzOptions; shardsPerJob: number; detach?: boolean;
  out?: string; json?: boolean; failOnFindings?: boolean }): Promise<number> {
  const { q, c } = await connect(o);
  q.checkCampaignName(o.campaign);
  const s = await q.submitCampaign(c, o.campaign, { seed: o.seed, runs: o.runs, gen: o.gen, shardsPerJob: o.shardsPerJob });
  const submitted = `campaign ${o.campaign} on ${c.display}: ${s.total} shards in ${s.jobs} jobs${s.resubmitted ? ` (submitted before: ${s.done} shards done, nothing added` +
    `${s.retried ? `, ${s.retried} failed jobs retried` : ''})` : ''}`;
  if (o.detach) {
    if (o.json) console.log(toJson({ campaign: o.campaign, queue: c.display, ...s }));
    else {
      console.log(submitted);
      console.log(`  follow it: tsclab campaign status ${o.campaign} --queue ${o.queue}; files: tsclab campaign export ${o.campaign} --queue ${o.queue} --out DIR`);
    }
    return EXIT_OK;
  }
  if (!o.json) console.error(submitted);
  const cliProgress = (await import('cli-progress')).default;
  const bar = process.stderr.isTTY && !o.json ? new cliProgress.SingleBar({ stream: process.stderr, clearOnComplete: true,
    format: 'fuzz [{bar}] {value}/{total} shards | {findings} findings | {runs} scenarios' }, cliProgress.Presets.shades_classic) : null;
  bar?.start(s.total, s.done, { findings: 0, runs: 0 });
  const t0 = Date.now();
  let waitingNoted = false;
  try {
    await q.waitCampaign(c, o.campaign, (p) => {
      bar?.update(p.done, { findings: p.findings, runs: p.runs });
      if (!bar && !o.json && !waitingNoted && p.done < p.total && Date.now() - t0 > 5000) {
        waitingNoted = true;
        console.error(`waiting for workers (tsclab worker --queue ${o.queue}): ${p.done}/${p.total} shards done`);
      }
    });
  } finally { bar?.stop(); }
  const wallMs = Date.now() - t0;
  const v = await q.readCampaign(c, o.campaign);
  const files = o.out ? q.exportCampaign(v, o.out) : [];
  const { join, basename } = await import('node:path');
  const classes = v.classes.map((cl) => ({ signature: cl.signature, invariant: cl.invariant, count: cl.count, detail: cl.detail, seed: cl.seed, path: cl.path,
    ...(o.out && cl.record.violations[0] ? { file: join(o.out, basename(`fuzz-${cl.record.violations[0].invariant}-seed${cl.seed}.json`)) } : {}),
    shrinks: cl.shrinks, firstSeen: cl.firstSeen, scenario: cl.scenario }));
  if (o.json) {
    console.log(toJson({ campaign: o.campaign, queue: c.display, seed: o.seed, runs: v.stats.runs, classes, findings: v.findings, files, workerMs: v.stats.searchMs, wallMs }));
  } else {
    for (const cl of classes) {
      console.log(`${yellow(cl.invariant)}${cl.count > 1 ? ` (${cl.count} shards)` : ''}: ${cl.detail}`);
      console.log(`  shrunk: tsclab fuzz --replay ${cl.seed}:${cl.path}${cl.file ? `; or npx tsclab run ${cl.file}` : ''}`);
    }
    console.log(bold(`${v.stats.runs} scenarios in ${(wallMs / 1000).toFixed(1)} s on the queue's workers (${(v.stats.searchMs / 1000).toFixed(1)} s of search summed over them); ` +
      `${v.findings.length} shards found something, ${classes.length} kind${classes.length === 1 ? '' : 's'}${o.out ? `; written to ${o.out}` : ''}`));
  }
  return v.findings.length && o.failOnFindings ? EXIT_ANOMALIES : EXIT_OK;
}

export function workerCommand(setCode: (c: number) => void): Command {
  return addRedisOptions(new Command('worker')
    .description('run fuzz campaign jobs from a Redis queue (tsclab fuzz --queue) until stopped: shards on worker threads, findings shrunk and recorded in Redis'))
    .option('--concurrency <n>', 'worker threads (jobs run at once)', String(Math.max(1, availableParallelism())))
    .option('--exit-when-idle <s>', 'exit once the queue has had nothing to run for this many seconds (workers of a Kubernetes Job)')
    .option('--lock-duration <ms>', 'BullMQ job lock, renewed while a job runs: a dead worker\'s job is taken over after it lapses', '30000')
    .option('--stalled-interval <ms>', 'how often BullMQ looks for jobs whose worker died', '30000')
    .option('--quiet', 'no line per job')
    .action(async (o: RedisFlags & { concurrency?: string; exitWhenIdle?: string; lockDuration?: string; stalledInterval?: string; quiet?: boolean }) => {
      const concurrency = int('concurrency', o.concurrency, 1, 256, 1);
      const exitWhenIdle = o.exitWhenIdle === undefined ? undefined : int('exit-when-idle', o.exitWhenIdle, 0, 86_400, 0);
      const lockDuration = int('lock-duration', o.lockDuration, 500, 3_600_000, 30_000);
      const stalledInterval = int('stalled-interval', o.stalledInterval, 200, 3_600_000, 30_000);
      const { q, c } = await connect(o);
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      const r = await q.runWorker(c, { concurrency, exitWhenIdle, lockDuration, stalledInterval, signal: ac.signal,
        log: o.quiet ? undefined : (line) => console.log(line) });
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      if (!o.quiet) console.log(`tsclab worker: stopped after ${r.jobs} jobs (${r.failed} failed)`);
      setCode(EXIT_OK);
    });
}

export function campaignCommand(setCode: (c: number) => void): Command {
  const c = new Command('campaign').description('a queued fuzz campaign (tsclab fuzz --queue): where it stands, its findings, its files');
  addRedisOptions(c.command('status').argument('<name>', 'the campaign').description('shards done, findings, the queue\'s jobs, failed jobs and why')
    .option('--json', 'print JSON'))
    .action(async (name: string, o: RedisFlags & { json?: boolean }) => {
      const { q, c: conn } = await connect(o);
      const v = await q.readCampaign(conn, q.checkCampaignName(name));
      const s = await q.queueState(conn, name);
      const complete = v.done.length >= v.total;
      if (o.json) {
        console.log(toJson({ campaign: name, queue: conn.display, spec: v.spec, shards: v.total, done: v.done.length, complete, runs: v.stats.runs,
          events: v.stats.events, workerMs: v.stats.searchMs, findings: v.findings.length, classes: v.classes.length, queueCounts: s.counts, failedJobs: s.failed }));
      } else {
        console.log(`${bold(`campaign ${name}`)} on ${conn.display}: seed ${v.spec.seed}, ${v.spec.runs} runs, model ${v.spec.model}, generator ${JSON.stringify(v.spec.gen)}`);
        console.log(`  ${v.done.length}/${v.total} shards done (${complete ? green('complete') : yellow('under way')}), ${v.stats.runs} scenarios, ` +
          `${v.findings.length} shards found something, ${v.classes.length} kind${v.classes.length === 1 ? '' : 's'}`);
        console.log(`  queue (every campaign): ${s.counts.waiting} waiting, ${s.counts.active} active, ${s.counts.delayed} delayed, ${s.counts.failed} failed, ${s.counts.completed} completed`);
        for (const f of s.failed) console.log(`  ${red('failed')} ${f.id} after ${f.attempts} attempt${f.attempts === 1 ? '' : 's'}: ${f.reason}`);
      }
      setCode(s.failed.length ? EXIT_ANOMALIES : EXIT_OK);
    });
  addRedisOptions(c.command('findings').argument('<name>', 'the campaign').description('each class of finding: count, first seen, the shrunk case')
    .option('--json', 'print JSON, the shrunk scenarios included'))
    .action(async (name: string, o: RedisFlags & { json?: boolean }) => {
      const { q, c: conn } = await connect(o);
      const v = await q.readCampaign(conn, q.checkCampaignName(name));
      if (o.json) {
        console.log(toJson(v.classes.map((cl) => ({ signature: cl.signature, invariant: cl.invariant, count: cl.count, detail: cl.detail, firstSeen: cl.firstSeen,
          shard: cl.shard, seed: cl.seed, path: cl.path, shrinks: cl.shrinks, scenario: cl.scenario }))));
      } else {
        for (const cl of v.classes) {
          console.log(`${yellow(cl.invariant)} (${cl.count} shard${cl.count === 1 ? '' : 's'}, first seen ${cl.firstSeen ?? '?'}): ${cl.detail}`);
          console.log(`  shrunk: tsclab fuzz --replay ${cl.seed}:${cl.path} (with the campaign's generator options)`);
        }
        console.log(`${v.classes.length} kind${v.classes.length === 1 ? '' : 's'} of finding in ${v.done.length}/${v.total} shards`);
      }
      setCode(EXIT_OK);
    });
  addRedisOptions(c.command('export').argument('<name>', 'the campaign')
    .description('write the finding files and campaign.json the local fuzzer writes (tsclab run replays a file; fuzz --replay/--resume --out read the state)')
    .requiredOption('--out <dir>', 'where to write them'))
    .action(async (name: string, o: RedisFlags & { out: string }) => {
      const { q, c: conn } = await connect(o);
      const v = await q.readCampaign(conn, q.checkCampaignName(name));
      const files = q.exportCampaign(v, o.out);
      for (const f of files) console.log(`wrote ${f}`);
      if (v.done.length < v.total) console.error(yellow(`campaign ${name} is not finished (${v.done.length}/${v.total} shards): counts may still grow`));
      setCode(EXIT_OK);
    });
  return c;
}
