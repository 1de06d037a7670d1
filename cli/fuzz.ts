// tsclab fuzz: explore scenarios for clock bugs, shrink them, write replayable files.
// The fuzzer (fast-check, worker threads) and the progress bar load only when
// the command runs: other commands never load them.
import { Command } from 'commander';
import { availableParallelism } from 'node:os';
import * as t from '../bindings/index.js';
import { resolveRuleSet, RULE_SETS } from '../sim/kvm/eras.js';
import { bold, green, red, toJson, yellow, UsageError, EXIT_ANOMALIES, EXIT_OK } from './output.js';

interface Opts {
  rules?: string; procedure?: string[]; seconds?: string; runs?: string; workers?: string; seed?: string; out?: string;
  resume?: boolean; json?: boolean; kernel?: boolean; suspend?: boolean; failOnFindings?: boolean; actions?: string[]; startAfter?: string; vmWideTscKhz?: boolean;
  replay?: string; queue?: string; campaign?: string; detach?: boolean; shardsPerJob?: string; tlsCa?: string; tlsCert?: string; tlsKey?: string;
}

const ACTIONS = ['stop-cont', 'migrate', 'hot-add', 'move-vcpu', 'preempt', 'wrmsr', 'host-suspend', 'churn'];
const PROCEDURES = ['legacy', 'precise', 'precise-scaled'];

const int = (name: string, v: string | undefined, min: number, max: number, dflt: number): number => {
  if (v === undefined) return dflt;
  if (!/^\d{1,16}$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`--${name}: expected an integer in ${min}..${max}, got "${v}"`);
  return Number(v);
};

export function fuzzCommand(setCode: (c: number) => void): Command {
  return new Command('fuzz')
    .description('generate scenarios, check the invariants the kernel promises, shrink failures to replayable scenario files')
    .exitOverride()
    .option('--rules <set>', `KVM rule set (${RULE_SETS.join(', ')}); default: any`)
    .option('--procedure <p...>', `migration procedures to use (${PROCEDURES.join(', ')})`)
    .option('--actions <a...>', `only these actions (${ACTIONS.join(', ')})`)
    .option('--start-after <ms>', 'VM age before the first action, ms')
    .option('--vm-wide-tsc-khz', 'the VMM sets the VM\'s TSC rate VM-wide (KVM 6.0+): hot-added vCPUs get it too')
    .option('--no-suspend', 'no host suspends (a TSC reset across S3 then a hot-add is a known open KVM problem)')
    .option('--seconds <n>', 'time budget').option('--runs <n>', 'run budget (deterministic: same seed, same findings, any --workers)')
    .option('--workers <k>', 'worker threads', String(Math.max(1, availableParallelism())))
    .option('--seed <s>', 'campaign seed', '1').option('--out <dir>', 'write findings (and campaign state) here')
    .option('--resume', 'continue the campaign in --out (its options must be the same; its budget is kept)').option('--json', 'print the result as JSON')
    .option('--fail-on-findings', 'exit 1 when something was found')
    .option('--kernel', 'differential fuzzing of every Wasm formula (inputs generated in Wasm) instead of scenarios')
    .option('--queue <url>', 'run the campaign on the workers of a Redis queue (tsclab worker): redis://[:PASSWORD@]HOST:PORT[/DB], or rediss:// for TLS')
    .option('--campaign <name>', 'with --queue: the campaign\'s name (submitting it again adds nothing; tsclab campaign status|findings|export NAME)')
    .option('--detach', 'with --queue: submit and return at once')
    .option('--shards-per-job <n>', `with --queue: shards (of 25 runs) per queue job`, '4')
    .option('--tls-ca <file>', 'with --queue: a CA certificate (PEM) to trust').option('--tls-cert <file>', 'with --queue: a TLS client certificate (PEM)')
    .option('--tls-key <file>', 'with --queue: the client certificate\'s key (PEM)')
    .option('--replay <seed:path>', 'print the scenario a campaign generated at this fast-check seed and path (as a finding\'s file names it), and what it violates; the generator options are the ones given, or those of the campaign in --out')
    .action(async (o: Opts) => {
      const workers = int('workers', o.workers, 1, 64, 1);
      if (o.queue === undefined) {
        for (const [flag, given] of [['--campaign', o.campaign], ['--detach', o.detach], ['--tls-ca', o.tlsCa], ['--tls-cert', o.tlsCert], ['--tls-key', o.tlsKey]] as const) {
          if (given !== undefined) throw new UsageError(`${flag} needs --queue`);
        }
      } else {
        if (o.campaign === undefined) throw new UsageError('--queue needs --campaign <name>');
        for (const [flag, given] of [['--kernel', o.kernel], ['--replay', o.replay], ['--resume', o.resume], ['--seconds', o.seconds]] as const) {
          if (given !== undefined) throw new UsageError(`${flag} cannot go with --queue (a queued campaign has a run budget, --runs; its state is in Redis)`);
        }
      }
      const seed = int('seed', o.seed, 0, 2 ** 31 - 1, 1);
      if (o.kernel) {
        const seconds = int('seconds', o.seconds, 1, 86_400, 5);
        const [{ runKernelFuzz }, { oracleCheck }] = await Promise.all([import('../sim/fuzz/campaign.js'), import('../sim/fuzz/oracle-check.js')]);
        const r = await runKernelFuzz({ seed, seconds, workers }, t.kernel, (s, n) => oracleCheck(t.kernel, s, n));
        const rate = (r.cases / (r.wallMs / 1000)) / 1e6;
        if (o.json) console.log(toJson({ ...r, casesPerSecond: Math.round(r.cases / (r.wallMs / 1000)) }));
        else {
          for (const k of r.kinds) console.log(`  ${k.kind.padEnd(18)} ${String(k.cases).padStart(12)} cases  ${k.mismatches ? red(`${k.mismatches} mismatches, first ${JSON.stringify(k.first)}`) : green('0 mismatches')}`);
          console.log(`  BigInt oracle on ${r.oracle.cases} x 6 formulas: ${r.oracle.mismatches ? red(`${r.oracle.mismatches} mismatches (${r.oracle.first})`) : green('0 mismatches')}`);
          console.log(bold(`${r.cases} cases in ${(r.wallMs / 1000).toFixed(1)} s on ${workers} workers: ${rate.toFixed(1)} M cases/s`));
        }
        const bad = r.kinds.some((k) => k.mismatches) || r.oracle.mismatches > 0;
        setCode(bad && o.failOnFindings ? EXIT_ANOMALIES : EXIT_OK);
        return;
      }
      const rules = o.rules === undefined ? undefined : resolveRuleSet(o.rules);
      if (typeof rules === 'object') throw new UsageError(`--rules: ${rules.error}`);
      for (const p of o.procedure ?? []) if (!PROCEDURES.includes(p)) throw new UsageError(`--procedure: one of ${PROCEDURES.join(', ')}, got "${p}"`);
      for (const a of o.actions ?? []) if (!ACTIONS.includes(a)) throw new UsageError(`--actions: one of ${ACTIONS.join(', ')}, got "${a}"`);
      if (o.actions && o.suspend === false && o.actions.every((a) => a === 'host-suspend')) throw new UsageError('--actions: host-suspend alone, with --no-suspend, leaves no action');
      if (o.seconds !== undefined && o.runs !== undefined) throw new UsageError('give --seconds or --runs, not both');
      if (o.resume && !o.out) throw new UsageError('--resume needs --out');
      // no budget given: a resumed campaign keeps its own, a new one has DEFAULT_RUNS
      const runs = o.runs !== undefined ? int('runs', o.runs, 1, 1e9, 0) : undefined;
      const seconds = o.seconds !== undefined ? int('seconds', o.seconds, 1, 86_400 * 7, 0) : undefined;
      const gen = { ...(rules ? { rules } : {}), ...(o.procedure ? { procedures: o.procedure as never } : {}),
        ...(o.actions ? { actions: o.actions } : {}), ...(o.startAfter !== undefined ? { startAfter: int('start-after', o.startAfter, 0, 1e9, 0) } : {}),
        ...(o.suspend === false ? { hostSuspend: false } : {}), ...(o.vmWideTscKhz ? { vmWideTscKhz: true } : {}),
        // hosts whose TSC KVM sees as unstable: the era before the masterclock, or any era when none is named
        unstableHosts: rules === '2.6.37-3.3' || rules === undefined };
      if (o.replay !== undefined) {
        const m = /^(\d{1,10}):(\d+(?::\d+)*)$/.exec(o.replay);
        if (!m || Number(m[1]) > 2 ** 31 - 1) throw new UsageError(`--replay: expected <seed>:<path> as a finding names it (e.g. 14:13:1:0), got "${o.replay}"`);
        const { replayCase, readCampaignState } = await import('../sim/fuzz/campaign.js');
        const st = o.out ? readCampaignState(o.out) : null;
        const r = replayCase(Number(m[1]), m[2], st?.gen ?? gen, t.kernel);
        if (o.json) console.log(toJson({ seed: Number(m[1]), path: m[2], violations: r.violations, scenario: r.scenario }));
        else {
          for (const v of r.violations) console.error(`${yellow(v.invariant)}: ${v.detail}`);
          if (!r.violations.length) console.error(green('no invariant violated'));
          console.log(JSON.stringify(r.scenario, null, 2));
        }
        setCode(r.violations.length && o.failOnFindings ? EXIT_ANOMALIES : EXIT_OK);
        return;
      }
      if (o.queue !== undefined) {
        const { queueFuzz } = await import('./queue.js');
        const { DEFAULT_RUNS } = await import('../sim/fuzz/campaign.js');
        setCode(await queueFuzz({ queue: o.queue, tlsCa: o.tlsCa, tlsCert: o.tlsCert, tlsKey: o.tlsKey, campaign: o.campaign!, seed, runs: runs ?? DEFAULT_RUNS, gen,
          shardsPerJob: int('shards-per-job', o.shardsPerJob, 1, 10_000, 4), detach: o.detach, out: o.out, json: o.json, failOnFindings: o.failOnFindings }));
        return;
      }
      const [{ runCampaign }, cliProgress] = await Promise.all([import('../sim/fuzz/campaign.js'), import('cli-progress')]);
      const bar = process.stderr.isTTY && !o.json
        ? new cliProgress.default.SingleBar({ stream: process.stderr, clearOnComplete: true, format: 'fuzz [{bar}] {value}/{total} shards | {findings} findings' },
          cliProgress.default.Presets.shades_classic) : null;
      let found = 0;
      const r = await runCampaign({ seed, runs, seconds, workers, out: o.out, resume: o.resume, gen,
        onStart: (total, before) => bar?.start(total ?? before + 1, before, { findings: found }),
        onShard: (s, done, total) => { if (s.failure) found++; if (total === null) bar?.setTotal(done + 1); bar?.update(done, { findings: found }); } });
      bar?.stop();
      // search throughput: generation, runs and checks, without worker start-up or the shrinking after (reported apart)
      const searchS = r.searchMs / 1000, perWorker = r.workerMs ? r.runs / (r.workerMs / 1000) : 0, perSec = perWorker * workers;
      const evPerSec = r.workerMs ? (r.events / (r.workerMs / 1000)) * workers : 0;
      if (o.json) {
        console.log(toJson({ seed, runs: r.runs, resumedShards: r.resumed, classes: r.classes, findings: r.findings, scenariosPerSecond: Math.round(perSec),
          scenariosPerSecondPerWorker: Math.round(perWorker), eventsPerSecond: Math.round(evPerSec), searchMs: r.searchMs, workerMs: r.workerMs,
          shrinkMs: r.shrinkMs, wallMs: r.wallMs }));
      } else {
        for (const c of r.classes) {
          console.log(`${yellow(c.invariant)}${c.count > 1 ? ` (${c.count} shards)` : ''}: ${c.detail}`);
          console.log(`  shrunk: tsclab fuzz --replay ${c.seed}:${c.path}${c.file ? `; or npx tsclab run ${c.file}` : ''}`);
        }
        console.log(bold(`${r.runs} scenarios in ${searchS.toFixed(1)} s of search on ${workers} workers: ${perWorker.toFixed(0)} scenarios/s per worker ` +
          `(${perSec.toFixed(0)} on ${workers}), ${evPerSec.toFixed(0)} simulated events/s; ${r.findings.length} shards found something, ` +
          `${r.classes.length} kind${r.classes.length === 1 ? '' : 's'}` +
          `${r.classes.length ? `, shrunk in ${(r.shrinkMs / 1000).toFixed(1)} s` : ''}` +
          `${r.resumed ? ` (the campaign's ${r.resumed} shards done before included)` : ''}`));
      }
      setCode(r.findings.length && o.failOnFindings ? EXIT_ANOMALIES : EXIT_OK);
    });
}
