#!/usr/bin/env node
// The tsclab command. `tsclab start` (what `npm start` runs) checks the
// kernel against real dmesg lines and replays every built-in seed scenario
// with its fixes; `tsclab tour` prints the kernel tour; `tsclab list` names the
// built-ins; `tsclab run NAME [--fix FIX]` replays one and prints its log.
import * as t from '../bindings/index.js';
import { builtinNames, loadBuiltin } from '../sim/scenarios.js';
import { runScenario } from '../sim/machine.js';
import { healthy, renderLog, summarize, HARMFUL } from '../sim/summary.js';
import { ScenarioError } from '../sim/scenario.js';

const mask64 = t.clocksourceMask(64);

/** Lines real Linux kernels printed, and how tsclab recomputes each. */
const realLines: [string, () => string][] = [
  ['clocksource: tsc: mask: 0xffffffffffffffff max_cycles: 0x256bff54918, max_idle_ns: 440795222839 ns',
    () => t.formatClocksourceLine('tsc', mask64, t.clocksourceRegisterKhz(2_596_142, mask64))],
  ['clocksource: kvm-clock: mask: 0xffffffffffffffff max_cycles: 0x1cd42e4dffb, max_idle_ns: 881590591483 ns',
    () => t.formatClocksourceLine('kvm-clock', mask64, t.clocksourceRegisterHz(1_000_000_000, mask64))],
  ['clocksource: refined-jiffies: mask: 0xffffffff max_cycles: 0xffffffff, max_idle_ns: 7645519600211568 ns',
    () => t.formatClocksourceLine('refined-jiffies', 0xffffffffn, t.clocksourceRegisterRefinedJiffies(250))],
];

/** cycles / hz as a decimal string with 3 places, in integers only. */
function seconds(cycles: bigint, hz: bigint): string {
  const ms = (cycles * 1000n) / hz;
  return `${ms / 1000n}.${(ms % 1000n).toString().padStart(3, '0')}`;
}

function kernelCheck(out: string[]): number {
  let bad = 0;
  for (const [want, make] of realLines) {
    const got = make();
    if (got !== want) bad++;
    out.push(`  ${got === want ? 'ok  ' : 'DIFF'} ${got}`);
  }
  const sweep = t.sweepKernel('mulU64U64Shr', 1n, 1_000_000);
  out.push(`  in-Wasm sweep, 10^6 mul_u64_u64_shr cases vs a 16-bit-limb reference: ${sweep.mismatches} mismatches`);
  return bad + sweep.mismatches;
}

function tour(): number {
  const out: string[] = [`tsclab kernel: ${t.simd ? 'SIMD' : 'scalar'} Wasm build`];
  const bad = kernelCheck(out);
  const ts = t.kvmGetTimeScale(1_000_000_000n, 2_500_000_000n);
  out.push(`  kvm_get_time_scale(1e9, 2.5e9): shift ${ts.shift}, mul 0x${ts.mul.toString(16)}`);
  const ratio = t.kvmTscScalingRatio(3_000_000, 2_500_000, 48);
  out.push(`  VMX ratio 2.5 -> 3 GHz: ${ratio}; scales 2.5e9 host cycles to ${t.kvmScaleTsc(2_500_000_000n, ratio)}`);
  const warp = 13_266_090_348_023_396n;
  const w = t.checkTscWarp({ cpus: [{ offset: warp }, {}], tscKhz: 2_500_000, seed: 1n });
  out.push(`  check_tsc_warp, a TSC at 0 beside one at ${warp}: max_warp ${w.maxWarp} cycles ` +
    `(${seconds(w.maxWarp, 2_500_000_000n)} s at 2.5 GHz), ${w.reads} reads`);
  console.log(out.join('\n'));
  return bad ? 1 : 0;
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

/** Replays every built-in scenario and each of its fixes: what went wrong, what cured it. */
function start(): number {
  const out: string[] = [`tsclab: kernel (${t.simd ? 'SIMD' : 'scalar'} Wasm) checked against real dmesg lines`];
  let bad = kernelCheck(out);
  out.push('', 'Seed incidents, replayed from their parameters:', '');
  for (const name of builtinNames()) {
    const s = loadBuiltin(name);
    const r = runScenario(s);
    if (healthy(r)) bad++; // a seed that shows nothing is a broken replay
    out.push(`  ${name}`, `    went wrong: ${summarize(r)}`);
    for (const f of s.fixes) {
      const fr = runScenario(loadBuiltin(name, f.name));
      const harmful = fr.anomalies.filter((a) => HARMFUL.has(a.type));
      out.push(`    fix ${pad(`"${f.name}"`, 30)} ${harmful.length ? `not cured: ${summarize({ ...fr, anomalies: harmful })}` : 'cured'}`);
    }
  }
  out.push('', 'Replay one with its log: npx tsclab run <scenario> [--fix <name>]');
  console.log(out.join('\n'));
  return bad ? 1 : 0;
}

function run(args: string[]): number {
  const name = args[0];
  if (!name) { console.error('tsclab run: name a built-in scenario (tsclab list)'); return 2; }
  const i = args.indexOf('--fix');
  const fix = i >= 0 ? args[i + 1] : undefined;
  const r = runScenario(loadBuiltin(name, fix));
  console.log(renderLog(r.log).join('\n'));
  console.log(`\n${r.anomalies.length} anomalies: ${summarize(r)}`);
  return 0;
}

function main(argv: string[]): number {
  const [cmd = 'start', ...rest] = argv;
  try {
    switch (cmd) {
      case 'start': return start();
      case 'tour': return tour();
      case 'list': for (const n of builtinNames()) console.log(`${n}  ${loadBuiltin(n).description.split('. ')[0]}.`); return 0;
      case 'run': return run(rest);
      case '--help': case '-h': case 'help':
        console.log(['usage: tsclab <command>', '  start                 check the kernel and replay every seed incident with its fixes',
          '  tour                  what the kernel computes for real machines', '  list                  the built-in scenarios',
          '  run NAME [--fix FIX]  replay one built-in scenario and print its log'].join('\n'));
        return 0;
      default:
        console.error(`tsclab: unknown command '${cmd}' (try: tsclab --help)`);
        return 2;
    }
  } catch (e) {
    if (e instanceof ScenarioError || (e instanceof Error && e.message.startsWith('tsclab'))) { console.error(e.message); return 2; }
    throw e;
  }
}

process.exitCode = main(process.argv.slice(2));
