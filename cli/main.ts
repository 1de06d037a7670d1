#!/usr/bin/env node
// The tsclab command: start (what `npm start` runs), run, list, calc, tour, fuzz, worker, campaign, report, dmesg, convert.
// Only commander and the command factories are loaded up front; each command
// imports what it needs (the simulation, yaml, cli-progress, node:fs) inside its
// action, so `tsclab --version` or `tsclab calc` never load the rest.
// node-env.js comes first: TSCLAB_SIMD must be read before any kernel exists.
import '../bindings/node-env.js';
import { createRequire } from 'node:module';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError } from 'commander';
import { calcCommand } from './calc.js';
import { fuzzCommand } from './fuzz.js';
import { campaignCommand, workerCommand } from './queue.js';
import { convertCommand } from './convert-command.js';
import { compareCommand } from './compare-command.js';
import { bold, dim, green, red, report, toJson, yellow, UsageError, EXIT_ANOMALIES, EXIT_BAD_INPUT, EXIT_OK } from './output.js';
import type { Scenario } from '../sim/scenario.js';
import type { Machine } from '../sim/machine.js';

/** The installed package's version: package.json found through the package's own name (exports "./package.json"). */
const version = (createRequire(import.meta.url)('tsclab/package.json') as { version: string }).version;

async function kernelCheck(out: string[]): Promise<number> {
  const [t, { bootLines }] = await Promise.all([import('../bindings/index.js'), import('./boot-lines.js')]);
  let bad = 0;
  for (const [want, make] of bootLines) {
    const got = make();
    if (got !== want) bad++;
    out.push(`  ${got === want ? green('ok  ') : red('DIFF')} ${got}`);
  }
  const sweep = t.sweepKernel('mulU64U64Shr', 1n, 1_000_000);
  out.push(`  in-Wasm sweep, 10^6 mul_u64_u64_shr cases vs a 16-bit-limb reference: ${sweep.mismatches} mismatches`);
  return bad + sweep.mismatches;
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));

/**
 * Check the kernel, then replay every built-in scenario (or the scenarios named) and each fix: what went wrong, what
 * each fix cured and what it left. Fails (exit 1, each difference named) when the kernel check fails, a scenario shows
 * none of its symptoms, or a fix's run differs from what the file says it does (its `cures` and `leaves`).
 */
async function start(names: string[] = []): Promise<number> {
  const [t, { builtinNames }, { loadScenarioArg }, { runScenario }, { judgeFix, judgeSeed, summarize, fixExpectation }, { compareLog }] = await Promise.all([
    import('../bindings/index.js'), import('../sim/scenarios.js'), import('./scenario-arg.js'), import('../sim/machine.js'), import('../sim/summary.js'),
    import('../tools/real-log.js')]);
  const { fmtDuration } = await import('../tools/fmt.js');
  const out: string[] = [bold(`tsclab: kernel (${t.simd ? 'SIMD' : 'scalar'} Wasm) checked against real dmesg lines`)];
  const kernelBad = await kernelCheck(out);
  const problems: string[] = kernelBad ? [`the kernel check: ${kernelBad} differences`] : [];
  out.push('', bold('Seed incidents, replayed from their parameters:'), '');
  for (const name of names.length ? names : builtinNames()) {
    const s = loadScenarioArg(name);
    const r = runScenario(s);
    const seedProblems = judgeSeed(s, r);
    problems.push(...seedProblems);
    out.push(`  ${bold(s.name)}`, `    went wrong: ${seedProblems.length ? red(summarize(r)) : yellow(summarize(r))}`);
    if (s.log?.length) {
      // the incident's real lines, each with the replay's line of the same form (tools/real-log.ts)
      out.push(`    the real log, and the replay's line of each form (stamp difference):`);
      for (const p of compareLog(s.log, r.log)) {
        const diff = p.stampDiffNs === null ? '' : ` (${fmtDuration(p.stampDiffNs, true)})`;
        out.push(`      real   ${p.real}`,
          `      replay ${p.replay === null ? dim('(no line of this form: the model does not print it)') : `${p.same ? green(p.replay) : p.replay}${diff}${p.partial ? dim(' (the line\'s beginning)') : ''}`}`);
      }
    }
    for (const f of s.fixes) {
      const fr = runScenario(loadScenarioArg(name, f.name));
      const { cures, leaves } = fixExpectation(s, f);
      const wrong = judgeFix(s, f, fr);
      problems.push(...wrong.map((w) => `${s.name}: ${w}`));
      const left = fr.anomalies.filter((a) => leaves.includes(a.type) || cures.includes(a.type));
      const said = leaves.length === 0 ? 'cured' : cures.length === 0 ? `not cured, as expected: ${summarize({ ...fr, anomalies: left })}`
        : `cures ${cures.join(', ')}; leaves, as expected: ${summarize({ ...fr, anomalies: left })}`;
      out.push(`    fix ${pad(`"${f.name}"`, 30)} ${wrong.length ? red(`NOT AS EXPECTED: ${wrong.join('; ')}`) : leaves.length ? yellow(said) : green(said)}`);
    }
  }
  out.push('', dim('Replay one with its log: npx tsclab run <scenario> [--fix <name>]'));
  if (problems.length) out.push('', red(bold(`${problems.length} ${problems.length === 1 ? 'difference' : 'differences'} from what the scenarios say:`)), ...problems.map((p) => `  ${p}`));
  console.log(out.join('\n'));
  return problems.length ? EXIT_ANOMALIES : EXIT_OK;
}

async function tour(): Promise<number> {
  const t = await import('../bindings/index.js');
  const out: string[] = [`tsclab kernel: ${t.simd ? 'SIMD' : 'scalar'} Wasm build`];
  const bad = await kernelCheck(out);
  const ts = t.kvmGetTimeScale(1_000_000_000n, 2_500_000_000n);
  out.push(`  kvm_get_time_scale(1e9, 2.5e9): shift ${ts.shift}, mul 0x${ts.mul.toString(16)}`);
  const ratio = t.kvmTscScalingRatio(3_000_000, 2_500_000, 48);
  out.push(`  VMX ratio 2.5 -> 3 GHz: ${ratio}; scales 2.5e9 host cycles to ${t.kvmScaleTsc(2_500_000_000n, ratio)}`);
  const w = t.checkTscWarp({ cpus: [{ offset: 13_266_090_348_023_396n }, {}], tscKhz: 2_500_000, seed: 1n });
  out.push(`  check_tsc_warp, a TSC at 0 beside one at 13266090348023396: max_warp ${w.maxWarp} cycles, ${w.reads} reads`);
  console.log(out.join('\n'));
  return bad ? EXIT_ANOMALIES : EXIT_OK;
}

/** A run with a progress bar on stderr when it is a terminal (quiet otherwise). */
async function runWithProgress(s: Scenario, m: Machine) {
  if (!process.stderr.isTTY) return m.run();
  const { default: cliProgress } = await import('cli-progress');
  const bar = new cliProgress.SingleBar({ stream: process.stderr, clearOnComplete: true, hideCursor: true,
    format: `${s.name} [{bar}] {percentage}% of simulated time | {eta_formatted} left` }, cliProgress.Presets.shades_classic);
  bar.start(1000, 0);
  m.onProgress = (done, total) => bar.update(Number((done * 1000n) / (total || 1n)));
  try { return m.run(); } finally { bar.stop(); }
}

async function run(arg: string, o: { fix?: string; json?: boolean; failOnAnomalies?: boolean; tracepoints?: boolean; perfetto?: string }): Promise<number> {
  const [{ loadScenarioArg }, { Machine }, { healthy, renderLog, summarize }, { explain, renderExplanation }] = await Promise.all([
    import('./scenario-arg.js'), import('../sim/machine.js'), import('../sim/summary.js'), import('../tools/explain.js')]);
  const s = loadScenarioArg(arg, o.fix);
  const m = new Machine(s);
  if (o.tracepoints || o.perfetto) m.enableTracepoints();
  const tapped = o.perfetto ? (await import('../tools/perfetto.js')).tapTracepoints(m) : null;
  // samples of every vCPU's clocks for the statistics (reads only: the run is the same with or without them)
  const span = s.until - s.observe.from;
  m.traceEvery = span / 1000n > 0n ? span / 1000n : 1n;
  const r = await runWithProgress(s, m);
  const tscKhz = m.guest.tscKhz || m.host.khz;
  const e = explain(r, m.trace, { tscKhz, kvmclock: s.vm.guest.kvmclock, everyNs: m.traceEvery });
  if (o.perfetto) {
    const [{ perfettoTrace }, { writeFileAtomic }] = await Promise.all([import('../tools/perfetto.js'), import('./output.js')]);
    writeFileAtomic(o.perfetto, JSON.stringify(perfettoTrace(s, r, m.trace, tscKhz, tapped!())));
  }
  const tracepoints = o.tracepoints ? r.tracepoints : undefined;
  if (o.json) {
    console.log(toJson({ scenario: r.scenario, seed: r.seed, anomalies: r.anomalies, log: r.log, measurements: r.measurements, stats: r.stats,
      ...(r.steps ? { steps: r.steps } : {}), ...(tracepoints ? { tracepoints } : {}), explanation: e }));
  } else {
    if (tracepoints) console.log(`${tracepoints.join('\n')}\n`);
    console.log(renderLog(r.log).join('\n'));
    console.log(`\n${bold(`${r.anomalies.length} anomalies`)}: ${r.anomalies.length ? yellow(summarize(r)) : green('none')}`);
    console.log(renderExplanation(e).join('\n'));
    if (o.perfetto) console.log(`\nwrote ${o.perfetto}: open it in https://ui.perfetto.dev or chrome://tracing`);
  }
  return o.failOnAnomalies && !healthy(r) ? EXIT_ANOMALIES : EXIT_OK;
}

async function list(o: { json?: boolean }): Promise<void> {
  const { builtinNames, loadBuiltin } = await import('../sim/scenarios.js');
  const rows = builtinNames().map((n) => { const s = loadBuiltin(n); return { name: n, description: s.description, fixes: s.fixes.map((f) => f.name) }; });
  console.log(o.json ? toJson(rows) : rows.map((r) => `${pad(r.name, 30)} ${r.description.split('. ')[0]}.`).join('\n'));
}

async function htmlReport(arg: string, o: { output: string; fix?: string }): Promise<void> {
  const [{ loadScenarioArg }, { renderReport, runTraced }, { writeFileAtomic }] = await Promise.all([
    import('./scenario-arg.js'), import('../tools/report.js'), import('./output.js')]);
  const s = loadScenarioArg(arg, o.fix);
  const html = renderReport(s, runTraced(s));
  writeFileAtomic(o.output, html); // nothing half-written, no temporary file left behind
  console.log(`wrote ${o.output} (${html.length} bytes)`);
}

async function dmesg(file: string, o: { json?: boolean; all?: boolean; failOnMismatch?: boolean }): Promise<number> {
  const bad = (x: { mismatch: number; malformed: number }) => (o.failOnMismatch && (x.mismatch || x.malformed) ? EXIT_ANOMALIES : EXIT_OK);
  const [t, { analyzeDmesg }, { readFileSync }] = await Promise.all([import('../bindings/index.js'), import('../tools/dmesg.js'), import('node:fs')]);
  let text: string;
  try { text = readFileSync(file === '-' ? 0 : file, 'utf8'); } catch (e) { throw new UsageError(`cannot read ${file}: ${(e as Error).message}`); }
  const r = analyzeDmesg(text, t.kernel);
  if (o.json) { console.log(toJson(r)); return bad(r.summary); }
  for (const f of r.findings) {
    if (f.verdict === 'match' && !o.all) continue;
    const tag = f.verdict === 'match' ? green('match   ') : f.verdict === 'mismatch' ? red('MISMATCH') : f.verdict === 'malformed' ? red('MALFORMD') : yellow(pad(f.verdict, 8));
    console.log(`${dim(`line ${String(f.line).padStart(5)}`)} ${tag} ${f.text}${f.expected ? `\n               expected: ${f.expected}` : ''}${f.meaning ? dim(`\n               means: ${f.meaning}`) : ''}${f.scenario ? dim(`\n               reproduce: npx tsclab run ${f.scenario}`) : ''}`);
  }
  const s = r.summary;
  console.log(`${s.recognised} timekeeping lines recognised: ${s.match} match, ${s.mismatch} mismatch, ${s.malformed} malformed` +
    `${r.tscKhz ? `; TSC ${r.tscKhz} kHz` : ''}${r.hpetHz ? `; HPET ${r.hpetHz} Hz` : ''}${r.hz ? `; HZ=${r.hz}` : ''}` +
    `${r.findings.some((f) => f.kind === 'not-understood') ? `; ${r.findings.filter((f) => f.kind === 'not-understood').length} clock lines not understood` : ''}`);
  return bad(s);
}

/**
 * Every command of the tree reports usage errors the same way: no process.exit inside commander (exitOverride:
 * main() maps the CommanderError to exit 2, or 0 for --help/--version), the message on stderr, a hint to --help.
 * Applied after the tree is built, so commands made elsewhere (calc, fuzz) and their subcommands get it too.
 */
function usageErrorsExit2(c: Command): void {
  c.exitOverride().configureOutput({ writeErr: (s) => process.stderr.write(s) }).showHelpAfterError('(add --help for usage)');
  for (const sub of c.commands) usageErrorsExit2(sub);
}

export function program(): Command {
  const p = new Command('tsclab')
    .description('the Linux/KVM timekeeping formulas in Wasm, and a simulation of host, KVM, guest Linux and VMM')
    .version(version, '-V, --version', 'print the version of tsclab')
    .option('--debug', 'on an internal error, print its stack trace (also: TSCLAB_DEBUG=1)');
  let code = EXIT_OK;
  p.command('start').argument('[scenarios...]', 'scenario files or built-in names to replay instead of every built-in')
    .description('check the kernel against real dmesg lines and replay every seed incident with its fixes; exit 1 when an ' +
      'incident no longer replays or a fix does not do what its scenario says (cures, leaves)')
    .action(async (names: string[]) => { code = await start(names); });
  p.command('tour').description('what the kernel computes for a few real machines').action(async () => { code = await tour(); });
  p.command('list').description('the built-in scenarios, one line each').option('--json', 'print JSON')
    .action(async (o: { json?: boolean }) => { await list(o); });
  p.command('run').argument('<scenario>', 'a scenario file (JSON) or a built-in name')
    .description('replay a scenario: the guest log, the anomalies in real units, the cause chain of each incident, per-vCPU clock statistics, the measurements')
    .option('--fix <name>', 'apply one of the scenario\'s fixes').option('--json', 'print {scenario, seed, anomalies, log, measurements, stats, explanation}')
    .option('--fail-on-anomalies', 'exit 1 when the guest saw time go wrong')
    .option('--tracepoints', 'KVM\'s clock tracepoints as trace-cmd report prints them (first; in --json: "tracepoints")')
    .option('--perfetto <file>', 'also write the run as a Chrome JSON trace (ui.perfetto.dev, chrome://tracing): a process per VM, a track per vCPU, counters of each clock minus real time, anomalies, VMM actions and KVM tracepoints as instant events')
    .action(async (arg: string, o) => { code = await run(arg, o); });
  p.addCommand(calcCommand());
  p.addCommand(fuzzCommand((c) => { code = c; }));
  p.addCommand(workerCommand((c) => { code = c; }));
  p.addCommand(campaignCommand((c) => { code = c; }));
  p.addCommand(convertCommand((c) => { code = c; }));
  p.addCommand(compareCommand((c) => { code = c; }));
  p.command('report').argument('<scenario>', 'a scenario file (JSON) or a built-in name')
    .description('a self-contained HTML page: each vCPU\'s clocks minus real time, events and anomalies marked')
    .requiredOption('-o, --output <file>', 'where to write the page').option('--fix <name>', 'apply one of the scenario\'s fixes')
    .action(async (arg: string, o: { output: string; fix?: string }) => { await htmlReport(arg, o); });
  p.command('dmesg').argument('<file>', 'a Linux boot log, or - for standard input')
    .description('check and explain a real boot log\'s timekeeping lines (clocksource registrations with the TSC, HPET and HZ they imply, the delay loop, watchdog blocks in every wording, TSC ADJUST, sched_clock, kvm-clock, RCU stalls)')
    .option('--json', 'print {findings, tscKhz, hz, summary}').option('--all', 'also list the lines that match')
    .option('--fail-on-mismatch', 'exit 1 when a line does not match what the kernel computes, or is malformed')
    .action(async (file: string, o: { json?: boolean; all?: boolean; failOnMismatch?: boolean }) => { code = await dmesg(file, o); });
  // --debug reaches the error reporting (cli/output.ts) through the environment, like TSCLAB_DEBUG=1 given by hand
  p.hook('preAction', () => { if (p.opts<{ debug?: boolean }>().debug) process.env.TSCLAB_DEBUG = '1'; });
  p.hook('postAction', () => { process.exitCode = code; });
  usageErrorsExit2(p);
  return p;
}

/** Runs the command line `argv` (without node and the script), setting process.exitCode. */
export async function main(argv: string[]): Promise<void> {
  try {
    await program().parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? EXIT_OK : EXIT_BAD_INPUT; // --help, --version: 0; usage errors: 2
      return;
    }
    process.exitCode = report(e);
  }
}

// run when this file is the program (npm's bin is a symlink to it), not when a test imports main()
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) await main(process.argv.slice(2));
