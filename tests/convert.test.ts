// tsclab convert end to end (the built CLI, dist/cli/main.js) on the fixtures:
// outputs equal the BigInt oracle's composition, text outside the converted
// column is kept byte for byte, streams cross chunk boundaries, errors name
// the line and exit 2.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import * as o from '../oracle/index.js';
import { params, u64 } from './support/fc.js';

const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const fx = (f: string) => fileURLToPath(new URL(`./fixtures/convert/${f}`, import.meta.url));
const tsclab = (args: string[], input?: string | Buffer) => {
  const r = spawnSync(process.execPath, [cli, 'convert', ...args], { input, maxBuffer: 1 << 28,
    env: { ...process.env, NODE_OPTIONS: '', TSCLAB_DEBUG: '' } });
  return { code: r.status, out: r.stdout, text: r.stdout.toString('latin1'), err: r.stderr.toString() };
};
const dir = mkdtempSync(join(tmpdir(), 'tsclab-convert-'));
const U64 = (1n << 64n) - 1n;
const w = (x: bigint) => x & U64;
const R = 337769972052787n;

test('guest TSC -> host ns over random stamps, dec, hex and u64le: the oracle\'s inverse kvm then tsc2nsec', () => {
  const stamps = fc.sample(u64, { seed: params().seed, numRuns: 3000 });
  stamps.push(0n, 1n, U64, 1n << 63n, 240000000000n);
  const kvm: o.OracleStep = { kind: 'kvm', ratio: R, fracBits: 48, offset: w(-1207499999999n) };
  const t2n: o.OracleStep = { kind: 'tsc2nsec', mult: 6710886n, shift: 24, offset: 0n };
  const want = stamps.map((y) => { const h = o.stepInverse(kvm, y); return 'x' in h ? o.stepForward(t2n, h.x) : null; });
  const args = ['--from', 'guest-tsc', '--to', 'host-ns', '--kvm-debugfs', fx('vcpu0'), '--trace-cmd-options', fx('trace-cmd-dump-options.txt'), '--skip-bad'];
  const dec = tsclab(args, stamps.join('\n') + '\n');
  assert.is(dec.code, 0, dec.err);
  assert.equal(dec.text.split('\n').slice(0, -1), stamps.map((y, i) => (want[i] === null ? String(y) : String(want[i]))));
  const bad = want.filter((x) => x === null).length;
  if (bad) assert.match(dec.err, new RegExp(`copied ${bad} bad stamp`));
  const hex = tsclab([...args, '--format', 'hex'], stamps.map((y) => y.toString(16)).join('\n') + '\n');
  assert.equal(hex.text.split('\n').slice(0, -1), stamps.map((y, i) => (want[i] === null ? y.toString(16) : `0x${want[i]!.toString(16)}`)));
  const bin = tsclab([...args, '--format', 'u64le'], Buffer.from(BigUint64Array.from(stamps).buffer));
  assert.equal([...new BigUint64Array(new Uint8Array(bin.out).buffer)], want.filter((x) => x !== null));
});

test('--column keeps every other byte of the line (quotes, CRLF, bytes that are not UTF-8); --header copies line 1', () => {
  const line3 = (v: string) => Buffer.concat([Buffer.from([0xff, 0xfe, 0x3b]), Buffer.from(`${v};\t tail\n`)]);
  const input = Buffer.concat([Buffer.from('t;name\r\n'), Buffer.from('junk;100;caf\xe9 "a;b"\r\n', 'latin1'), line3('7'), Buffer.from(';8')]);
  const r = tsclab(['--from', 'host-tsc', '--to', 'host-ns', '--clocksource', '3,0', '--column', '2', '--separator', ';', '--header'], input);
  assert.is(r.code, 0, r.err);
  const want = Buffer.concat([Buffer.from('t;name\r\n'), Buffer.from('junk;300;caf\xe9 "a;b"\r\n', 'latin1'), line3('21'), Buffer.from(';24')]);
  assert.equal([...r.out], [...want]);
  const tsv = tsclab(['--from', 'host-tsc', '--to', 'host-ns', '--clocksource', '3,0', '--column', '1', '--separator', '\\t'], 'x\ty\n5\tz\n');
  assert.is(tsv.code, 2);
  assert.is(tsv.err, 'error: <stdin>:1, column 1: "x" is not an unsigned decimal stamp\n');
  const skip = tsclab(['--from', 'host-tsc', '--to', 'host-ns', '--clocksource', '3,0', '--column', '1', '--separator', '\\t', '--skip-bad'], 'x\ty\n5\tz\n');
  assert.is(skip.text, 'x\ty\n15\tz\n');
  assert.match(skip.err, /copied 1 bad stamp unchanged \(--skip-bad\); the first: <stdin>:1, column 1: "x"/);
});

test('a stream longer than a read chunk: lines split across chunks convert like the others', () => {
  const n = 150_000;
  const lines = Array.from({ length: n }, (_, i) => `${BigInt(i) * 123_456_789_013n},row ${i}`);
  const file = join(dir, 'big.csv'), outFile = join(dir, 'big.out.csv');
  writeFileSync(file, lines.join('\n'));
  const r = tsclab(['--from', 'host-tsc', '--to', 'guest-tsc', '--tsc-offset', '-1000', '--tsc-scaling-ratio', String(R), '--column', '1',
    '--in', file, '--out', outFile]);
  assert.is(r.code, 0, r.err);
  const got = readFileSync(outFile, 'latin1').split('\n');
  assert.is(got.length, n, 'no newline added after an unterminated last line');
  for (const i of [0, 1, 7777, 49_999, 50_000, n - 1]) {
    assert.is(got[i], `${w(o.kvmScaleTsc(BigInt(i) * 123_456_789_013n, R, 48) - 1000n)},row ${i}`);
  }
});

test('the migration walk-through: --trace gives each stamp the offset in force; without it, only the last offset', () => {
  const args = ['--from', 'guest-tsc', '--to', 'host-tsc', '--kvm-debugfs', fx('vcpu0'), '--in', fx('guest-stamps.txt')];
  assert.equal(tsclab(args).text.trim().split('\n'), ['1206250000000', '1381250000000', '1749999999999', '1750000120000', '1800000000000']);
  assert.equal(tsclab([...args, '--trace', fx('host-trace-cmd.txt')]).text.trim().split('\n'),
    ['1200000000000', '1375000000000', '1743749999999', '1743750120000', '1800000000000']);
  // the same offsets from perf script, whose ns timestamps map back to host TSC through perf's TIME_CONV
  assert.equal(tsclab([...args, '--trace', fx('host-perf-script.txt'), '--perf-time-conv', fx('perf-script-D.txt')]).text.trim().split('\n'),
    ['1200000000000', '1375000000000', '1743749999999', '1743750120000', '1800000000000']);
  // kvmclock from the pvclock pages of the trace: page 2 takes over at its tsc_timestamp
  assert.equal(tsclab(['--from', 'guest-tsc', '--to', 'kvmclock-ns', '--trace', fx('host-trace-cmd.txt'), '--in', fx('guest-stamps.txt')]).text.trim().split('\n'),
    ['80000000000', '149999999983', '297499999948', '300000047948', '319999999943']);
});

test('bad input and bad parameters: "error: ..." naming the line or option, exit 2, no partial output file', () => {
  const outFile = join(dir, 'never.txt');
  const cases: [string[], string | undefined, RegExp][] = [
    [['--from', 'host-tsc', '--to', 'host-ns', '--clocksource', '3,0', '--out', outFile], '1\n2\nx3\n', /^error: <stdin>:3: "x3" is not an unsigned decimal stamp\n$/],
    [['--from', 'host-tsc', '--to', 'host-ns', '--clocksource', '3,0'], '18446744073709551616\n', /<stdin>:1: 18446744073709551616 does not fit u64/],
    [['--from', 'host-ns', '--to', 'host-tsc', '--clocksource', '3,1'], '2\n18446744073709551615\n',
      /^error: <stdin>:2: host-ns 18446744073709551615 has no host-tsc: at the inverse of clocksource_cyc2ns .*wraps before it reaches it\n$/],
    [['--from', 'host-tsc', '--to', 'kvmclock-ns', '--tsc-offset', '5'], '1\n', /^error: converting host-tsc to kvmclock-ns needs a pvclock page/],
    [['--from', 'host-tsc', '--to', 'guest', '--tsc-offset', '5'], '1\n', /--to: one of host-tsc, guest-tsc/],
    [['--from', 'host-tsc', '--to', 'guest-tsc', '--tsc-offset', '1.5'], '1\n', /--tsc-offset: "1.5" is not an integer/],
    [['--from', 'host-tsc', '--to', 'guest-tsc', '--frac-bits', '40'], '1\n', /--frac-bits: 48 \(VMX\) or 32 \(SVM\)/],
    [['--from', 'guest-tsc', '--to', 'kvmclock-ns', '--pvclock', '1,2,3'], '1\n', /--pvclock: expected tsc_timestamp,system_time,tsc_to_system_mul,tsc_shift\[,flags\]/],
    [['--from', 'guest-tsc', '--to', 'kvmclock-ns', '--pvclock', '1,2,3,40'], '1\n', /--pvclock tsc_shift: 40 is outside -32\.\.31/],
    [['--from', 'host-tsc', '--to', 'guest-tsc', '--tsc-offset', '0', '--format', 'u64le'], 'abc', /<stdin>: ends with 3 bytes, not a whole u64le stamp/],
    [['--from', 'host-tsc', '--to', 'guest-tsc', '--trace', fx('host-perf-script.txt')], '1\n', /host-perf-script.txt:1: this trace's timestamps are nanoseconds/],
    [['--from', 'host-tsc', '--to', 'guest-tsc', '--kvm-debugfs', fx('nope')], '1\n', /nope: no tsc-offset file/],
    [['--from', 'host-tsc', '--to', 'guest-tsc', '--column', '2', '--tsc-offset', '0'], 'a\n', /<stdin>:1, column 2: the line has fewer than 2 fields/],
  ];
  for (const [args, input, re] of cases) {
    const r = tsclab(args, input);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, re, args.join(' '));
    assert.not.match(r.err, /\n\s+at /, 'no stack trace');
  }
  assert.not.ok(existsSync(outFile), 'the output file is written whole or not at all');
  const multi = join(dir, 'two-vcpus.txt');
  writeFileSync(multi, `${readFileSync(fx('host-trace-cmd.txt'), 'utf8')} qemu-4019  [003] 1900000000000: kvm_write_tsc_offset: vcpu=1 prev=0 next=5\n`);
  const r = tsclab(['--from', 'host-tsc', '--to', 'guest-tsc', '--trace', multi], '1\n');
  assert.match(r.err, /it has lines of vCPUs 0, 1; choose one with --vcpu/);
  assert.is(tsclab(['--from', 'host-tsc', '--to', 'guest-tsc', '--trace', multi, '--vcpu', '1'], '1900000000000\n').text, '1900000000005\n');
});

test('u64le file to file (the synchronous fast path): more than one 4 MiB buffer, --skip-bad leaves stamps out, a torn tail is an error', () => {
  const n = (1 << 19) + 3; // 4 MiB + 24 bytes
  const a = new BigUint64Array(n).map((_, i) => BigInt(i) * 3n);
  a[5] = U64; // host-ns -> host-tsc: 2^64 - 1 has no answer under mult 3, shift 1 (the product wraps)
  const inFile = join(dir, 'in.u64'), outFile = join(dir, 'out.u64');
  writeFileSync(inFile, new Uint8Array(a.buffer));
  const args = ['--from', 'host-ns', '--to', 'host-tsc', '--clocksource', '3,1', '--format', 'u64le', '--in', inFile, '--out', outFile];
  const r = tsclab(args);
  assert.is(r.code, 2);
  assert.match(r.err, /in\.u64: stamp 5 \(byte 40\): host-ns 18446744073709551615 has no host-tsc/);
  assert.not.ok(existsSync(outFile));
  const s = tsclab([...args, '--skip-bad']);
  assert.is(s.code, 0, s.err);
  assert.match(s.err, /left out 1 bad stamp/);
  const got = new BigUint64Array(new Uint8Array(readFileSync(outFile)).buffer);
  assert.is(got.length, n - 1);
  const stamp = (v: bigint) => { const x = o.stepInverse({ kind: 'cyc2ns', mult: 3n, shift: 1 }, v); return 'x' in x ? x.x : -1n; };
  for (const i of [0, 4, 5, 1 << 19, n - 2]) assert.is(got[i], stamp(a[i < 5 ? i : i + 1]));
  writeFileSync(inFile, new Uint8Array(a.buffer).subarray(0, n * 8 - 3));
  assert.match(tsclab([...args, '--skip-bad']).err, /ends with 5 bytes, not a whole u64le stamp/);
});

test('--explain prints the steps; --from = --to copies stamps', () => {
  const r = tsclab(['--from', 'kvmclock-ns', '--to', 'perf-ns', '--explain', '--tsc-offset', '-5', '--pvclock', '0,0,0x80000000,0', '--perf', '0,1,0'], '10\n');
  assert.is(r.code, 0, r.err);
  assert.is(r.err, 'kvmclock-ns -> guest-tsc: inverse of kvmclock\nguest-tsc -> host-tsc: inverse of kvm_scale_tsc + tsc_offset\nhost-tsc -> perf-ns: perf_event_mmap_page\n');
  assert.is(r.text, '25\n');
  assert.is(tsclab(['--from', 'host-ns', '--to', 'host-ns'], '42\n').text, '42\n');
});

test.run();
