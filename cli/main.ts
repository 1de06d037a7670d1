#!/usr/bin/env node
// The tsclab command. For now: `tsclab tour` (what `npm start` runs) prints
// what the kernel computes for a few real machines, checked against lines
// real kernels printed. run/list/calc/dmesg/report/fuzz arrive with their issues.
import * as t from '../bindings/index.js';

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

function tour(): number {
  const out: string[] = [];
  out.push(`tsclab kernel: ${t.simd ? 'SIMD' : 'scalar'} Wasm build`);
  let bad = 0;
  for (const [want, make] of realLines) {
    const got = make();
    if (got !== want) bad++;
    out.push(`  ${got === want ? 'ok  ' : 'DIFF'} ${got}`);
  }
  const ts = t.kvmGetTimeScale(1_000_000_000n, 2_500_000_000n);
  out.push(`  kvm_get_time_scale(1e9, 2.5e9): shift ${ts.shift}, mul 0x${ts.mul.toString(16)}`);
  const ratio = t.kvmTscScalingRatio(3_000_000, 2_500_000, 48);
  out.push(`  VMX ratio 2.5 -> 3 GHz: ${ratio}; scales 2.5e9 host cycles to ${t.kvmScaleTsc(2_500_000_000n, ratio)}`);
  const warp = 13_266_090_348_023_396n;
  const w = t.checkTscWarp({ cpus: [{ offset: warp }, {}], tscKhz: 2_500_000, seed: 1n });
  out.push(`  check_tsc_warp, new vCPU's TSC at 0 beside one at ${warp}: max_warp ${w.maxWarp} cycles ` +
    `(${seconds(w.maxWarp, 2_500_000_000n)} s at 2.5 GHz), ${w.reads} reads`);
  const sweep = t.sweepKernel('mulU64U64Shr', 1n, 1_000_000);
  out.push(`  in-Wasm sweep, 10^6 mul_u64_u64_shr cases vs a 16-bit-limb reference: ${sweep.mismatches} mismatches`);
  out.push('The seed-incident replays arrive with the simulation; see the README.');
  console.log(out.join('\n'));
  return bad || sweep.mismatches ? 1 : 0;
}

function main(argv: string[]): number {
  const [cmd = 'tour'] = argv;
  if (cmd === 'tour') return tour();
  if (cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log('usage: tsclab tour    print what the kernel computes for real machines, checked against real dmesg lines');
    return 0;
  }
  console.error(`tsclab: unknown command '${cmd}' (try: tsclab --help)`);
  return 2;
}

process.exitCode = main(process.argv.slice(2));
