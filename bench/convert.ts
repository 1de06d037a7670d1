// node --import tsx bench/convert.ts [--quick]: the throughput of `tsclab convert` (issue 14's targets:
// >= 100 M stamps/s u64le file to file, >= 10 M lines/s decimal text), measured end to end through the built
// CLI on a file in the OS temp dir, beside the library's in-memory paths and a naive BigInt loop doing the same
// conversion. Conversions: host TSC -> guest TSC (kvm_scale_tsc + offset, VMX ratio; the forward SIMD loop) and
// guest TSC -> host TSC (its inverse: a 128-bit division per stamp). Best of 3 runs each; the machine is shared,
// so the numbers are indicative. A C reference of the forward conversion (bench/native/convert.c, cc -O2) runs on the
// same files in the same run. Not part of `npm run bench` (which measures the kernels against C).
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, renameSync, rmSync, writeFileSync, writeSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClockChain, type ClockDomain } from '../bindings/index.js';

const quick = process.argv.includes('--quick');
const N = quick ? 1 << 20 : 1 << 24;
const RATIO = 337_769_972_052_787n, OFFSET = -1_199_999_999_999n;
const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'tsclab-bench-convert-'));

// stamps of a 2.5 GHz host TSC over ~2 hours, 1 ms apart plus jitter: sorted, as traces are
const stamps = new BigUint64Array(N);
let x = 1_000_000_000_000n, seed = 12345;
for (let i = 0; i < N; i++) { seed = (seed * 1103515245 + 12345) >>> 0; x += 2_500_000n + BigInt(seed & 0xffff); stamps[i] = x; }

const best = (f: () => void, runs = 3): number => {
  let t = Infinity;
  for (let r = 0; r < runs; r++) { const s = process.hrtime.bigint(); f(); t = Math.min(t, Number(process.hrtime.bigint() - s) / 1e9); }
  return t;
};
const rate = (n: number, s: number) => `${(n / s / 1e6).toFixed(1)} M/s`;
const rows: string[][] = [];

const chain = createClockChain({ kvm: { tscOffset: OFFSET, ratio: RATIO } });
for (const [from, to] of [['host-tsc', 'guest-tsc'], ['guest-tsc', 'host-tsc']] as [ClockDomain, ClockDomain][]) {
  const bytes = new Uint8Array(stamps.buffer.slice(0));
  const t = best(() => { bytes.set(new Uint8Array(stamps.buffer)); chain.convertU64le(from, to, bytes); });
  rows.push([`library convertU64le ${from} -> ${to}`, rate(N, t)]);
}
// the naive loop a user writes with BigInt (forward only)
const M = (1n << 64n) - 1n, off = OFFSET & M;
const nb = Math.min(N, 1 << 20);
const tb = best(() => { const out = new BigUint64Array(nb); for (let i = 0; i < nb; i++) out[i] = (((stamps[i] * RATIO) >> 48n) + off) & M; }, 1);
rows.push(['naive BigInt loop host-tsc -> guest-tsc', rate(nb, tb)]);

const bin = join(dir, 'stamps.u64'), txt = join(dir, 'stamps.txt');
writeFileSync(bin, new Uint8Array(stamps.buffer));
writeFileSync(txt, stamps.join('\n') + '\n');
const run = (args: string[]) => {
  const r = spawnSync(process.execPath, [cli, 'convert', ...args, '--tsc-offset', String(OFFSET), '--tsc-scaling-ratio', String(RATIO)],
    { stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`convert failed: ${r.stderr}`);
};
// the ceiling on this machine's disk: the same file copied through one 4 MiB buffer, no conversion, no process start
const tc = best(() => {
  // a new file renamed over the old one, as tsclab convert --out does
  const buf = new Uint8Array(4 << 20), fi = openSync(bin, 'r'), fo = openSync(join(dir, 'copy.tmp'), 'w');
  for (let n; (n = readSync(fi, buf, 0, buf.length, null)) > 0;) writeSync(fo, buf, 0, n);
  closeSync(fi); closeSync(fo);
  renameSync(join(dir, 'copy.tmp'), join(dir, 'copy'));
});
rows.push(['plain file copy in node (readSync/writeSync 4 MiB, no conversion): the I/O ceiling', rate(N, tc)]);
for (const [from, to] of [['host-tsc', 'guest-tsc'], ['guest-tsc', 'host-tsc']]) {
  const out = join(dir, 'out');
  // the process start (~0.2 s here: node, the CLI's modules, the Wasm compile) is in the time
  const tu = best(() => run(['--from', from, '--to', to, '--format', 'u64le', '--in', bin, '--out', out]));
  rows.push([`tsclab convert u64le file -> file ${from} -> ${to} (${statSync(bin).size >> 20} MiB)`, rate(N, tu)]);
  const td = best(() => run(['--from', from, '--to', to, '--in', txt, '--out', out]), 2);
  rows.push([`tsclab convert decimal lines file -> file ${from} -> ${to}`, rate(N, td)]);
}
// the C reference (forward only, as the naive loop): the same files, stdio and a 4 MiB buffer
let cBin: string | null = join(dir, 'convert-c');
try { execFileSync('cc', ['-O2', '-o', cBin, fileURLToPath(new URL('./native/convert.c', import.meta.url))], { stdio: 'pipe' }); } catch { cBin = null; }
if (cBin) {
  const c = (fmt: string, file: string) => { const r = spawnSync(cBin!, [fmt, String(RATIO), String(OFFSET), file, join(dir, 'out-c')]); if (r.status !== 0) throw new Error(`C convert failed: ${r.stderr}`); };
  rows.push(['C -O2 u64le file -> file host-tsc -> guest-tsc (process start included)', rate(N, best(() => c('u64le', bin)))]);
  rows.push(['C -O2 decimal lines file -> file host-tsc -> guest-tsc (strtoull)', rate(N, best(() => c('dec', txt), 2))]);
  // the C and tsclab outputs agree
  run(['--from', 'host-tsc', '--to', 'guest-tsc', '--in', txt, '--out', join(dir, 'out')]);
  c('dec', txt);
  const same = spawnSync('cmp', ['-s', join(dir, 'out'), join(dir, 'out-c')]).status === 0;
  rows.push(['C and tsclab decimal outputs', same ? 'identical' : 'DIFFER']);
} else rows.push(['C reference', 'skipped: no C compiler']);
rmSync(dir, { recursive: true, force: true });
console.log(`| path (${N} stamps) | throughput |\n|---|---|\n${rows.map((r) => `| ${r[0]} | ${r[1]} |`).join('\n')}`);
