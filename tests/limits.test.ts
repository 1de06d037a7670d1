// tsclab calc limits (tools/convert/limits.ts): the first inexact input of each
// formula is exactly where the C formula (the BigInt oracle's u64 semantics)
// first differs from the unbounded exact value -- it agrees one input before.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as o from '../oracle/index.js';
import { clocksourceLimit, kvmScaleTscLimit, perfLimit, pvclockLimit, tsc2nsecLimit } from '../tools/convert/limits.js';
import { params, u32 } from './support/fc.js';

const shift = fc.integer({ min: 0, max: 63 });
const exactShr = (x: bigint, m: bigint, s: number) => (x * m) >> BigInt(s);

/** C agrees with exact at first - 1 and not at first (or everywhere, when null: checked at 2^64 - 1). */
function boundary(first: bigint | null, c: (x: bigint) => bigint, exact: (x: bigint) => bigint) {
  if (first === null) { assert.is(c((1n << 64n) - 1n), exact((1n << 64n) - 1n)); return; }
  if (first > 0n) assert.is(c(first - 1n), exact(first - 1n), `exact just below ${first}`);
  assert.is.not(c(first), exact(first), `inexact at ${first}`);
}

test('clocksource_cyc2ns: cycles * mult wraps from ceil(2^64 / mult)', () => {
  fc.assert(fc.property(u32, shift, (m, s) => {
    boundary(clocksourceLimit(BigInt(m), s).firstInexact, (x) => o.clocksourceCyc2ns(x, BigInt(m), s), (x) => exactShr(x, BigInt(m), s));
  }), params(2000));
});
test('perf tsc_to_perf_time: the first counter value where quot * mult, rem * mult or the result leaves 64 bits', () => {
  fc.assert(fc.property(u32, shift, (m, s) => {
    const c = (x: bigint) => o.perfTscToNs(x, { timeZero: 0n, timeMult: BigInt(m), timeShift: s });
    const lim = perfLimit(BigInt(m), s).firstInexact;
    // perf's wrap is not monotone in the input: below the limit every value is exact (sampled), at it not
    if (lim !== null && lim > 0n) for (const x of [0n, lim / 3n, lim / 2n, lim - 1n]) assert.is(c(x), exactShr(x, BigInt(m), s));
    if (lim !== null) assert.is.not(c(lim), exactShr(lim, BigInt(m), s));
  }), params(2000));
  // Leo Yan's Arm record: time_shift 21, time_mult 20971520 (10 ns per cycle at 100 MHz)
  const arm = perfLimit(20971520n, 21);
  assert.is(arm.firstInexact, 1844674407370955162n); // 584 years at its 100 MHz
  assert.is(arm.hz, 100000000n);
});
test('kvm_scale_tsc: the scaled TSC passes 2^64 from ceil(2^(64+frac) / ratio); never at or below the default ratio', () => {
  fc.assert(fc.property(fc.bigInt({ min: 1n, max: (1n << 64n) - 1n }), fc.constantFrom(32, 48), (r, f) => {
    boundary(kvmScaleTscLimit(r, f).firstInexact, (x) => o.kvmScaleTsc(x, r, f), (x) => (r === 1n << BigInt(f) ? x : exactShr(x, r, f)));
  }), params(2000));
});
test('pvclock_scale_delta: a positive tsc_shift drops bits from 2^(64 - shift)', () => {
  fc.assert(fc.property(u32.filter((m) => m > 0), fc.integer({ min: -32, max: 31 }), (m, s) => {
    const exact = (d: bigint) => ((s < 0 ? d >> BigInt(-s) : d << BigInt(s)) * BigInt(m)) >> 32n;
    boundary(pvclockLimit(BigInt(m), s).firstInexact, (d) => o.pvclockScaleDelta(d, BigInt(m), s), exact);
  }), params(2000));
});
test('trace-cmd tsc2nsec: the 96-bit product is exact until its result passes 2^64', () => {
  fc.assert(fc.property(u32, shift, (m, s) => {
    boundary(tsc2nsecLimit(BigInt(m), s).firstInexact, (x) => o.mulU64U32Shr(x, BigInt(m), s), (x) => exactShr(x, BigInt(m), s));
  }), params(2000));
});
test('tsclab calc limits prints each formula\'s point and its duration at the rate', () => {
  const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
  const r = spawnSync(process.execPath, [cli, 'calc', 'limits', '--clocksource', '6710886,24', '--perf', '20971520,21', '--kvm', '337769972052787',
    '--hz', '2500000000'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, [
    'clocksource_cyc2ns (mult 6710886, shift 24): cycles * mult wraps at 2^64 from input 2748779233281 (0x28000028001): 1099.511 s (18.3 min) at 2500000000 Hz (given)',
    'perf tsc_to_perf_time (time_mult 20971520, time_shift 21): quot * time_mult (or rem * time_mult) wraps at 2^64 from input 1844674407370955162 (0x199999999999999a): 737869762.948 s (23.4 years) at 2500000000 Hz (given)',
    'kvm_scale_tsc (ratio 337769972052787, frac bits 48): the scaled TSC passes 2^64 from input 15372286728091302116 (0xd5555555555578e4): 6148914691.236 s (195 years) at 2500000000 Hz (given)',
    '',
  ].join('\n'));
  const bad = spawnSync(process.execPath, [cli, 'calc', 'limits'], { encoding: 'utf8' });
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /give at least one of --clocksource/);
});
test.run();
