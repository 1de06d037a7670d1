// The API boundary: values the kernel types cannot hold are refused with a
// clear TypeError/RangeError naming the function and argument -- never wrapped.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as t from '../bindings/index.js';

const info = { tscTimestamp: 0n, systemTime: 0n, tscToSystemMul: 1 << 31, tscShift: 0 };
const throwsLike = (fn: () => unknown, type: ErrorConstructor, re: RegExp) => {
  try { fn(); } catch (e) {
    assert.instance(e, type);
    assert.match((e as Error).message, re);
    return;
  }
  assert.unreachable(`expected a ${type.name} matching ${re}`);
};

test('a Number where a bigint is required is a TypeError', () => {
  throwsLike(() => t.pvclockScaleDelta(5 as never, 1, 0), TypeError, /pvclockScaleDelta: delta must be a bigint \(u64\), got number 5/);
  throwsLike(() => t.kvmScaleTsc(1n, 1 as never), TypeError, /kvmScaleTsc: ratio must be a bigint/);
  throwsLike(() => t.pvclockReadCycles({ ...info, systemTime: 1 as never }, 0n), TypeError, /info\.systemTime must be a bigint/);
});

test('negative and >= 2^64 values are RangeErrors, not wrapped', () => {
  throwsLike(() => t.mulU64U64Shr(-1n, 1n, 0), RangeError, /mulU64U64Shr: a must be in 0\.\.2\^64-1 \(u64\), got -1/);
  throwsLike(() => t.mulU64U64Shr(1n << 64n, 1n, 0), RangeError, /got 18446744073709551616/);
  throwsLike(() => t.mulS64U64Shr(1n << 63n, 1n, 0), RangeError, /s64/);
  assert.is(t.mulU64U64Shr((1n << 64n) - 1n, 1n, 0), (1n << 64n) - 1n); // the edge itself is fine
});

test('shift outside -32..31 is a RangeError', () => {
  throwsLike(() => t.pvclockScaleDelta(1n, 1, 32), RangeError, /shift must be an integer in -32\.\.31 \(tsc_shift\), got 32/);
  throwsLike(() => t.pvclockScaleDelta(1n, 1, -33), RangeError, /got -33/);
  throwsLike(() => t.pvclockScaleDelta(1n, 1, 1.5), RangeError, /got 1\.5/);
  throwsLike(() => t.clocksourceCyc2ns(1n, 1, 64), RangeError, /shift must be an integer in 0\.\.63/);
});

test('u32 fields out of range, ratio 0 and bad frac bits', () => {
  throwsLike(() => t.pvclockScaleDelta(1n, 2 ** 32, 0), RangeError, /mul must be an integer in 0\.\.4294967295 \(u32\)/);
  throwsLike(() => t.pvclockScaleDelta(1n, -1, 0), RangeError, /mul/);
  throwsLike(() => t.kvmTscScalingRatio(0, 2_500_000), RangeError, /Invalid TSC scaling ratio/);
  // SVM's ratio must stay below 0xffffffffff: 256x the host rate is 2^40
  throwsLike(() => t.kvmTscScalingRatio(256_000, 1_000, 32), RangeError, /Invalid TSC scaling ratio for 256000 kHz on a 1000 kHz host .*SVM/);
  assert.is(t.kvmTscScalingRatio(255_999, 1_000, 32), (255_999n << 32n) / 1_000n);
  throwsLike(() => t.kvmScaleTsc(1n, 1n, 40 as never), RangeError, /fracBits must be 48 \(VMX\) or 32 \(SVM\)/);
  throwsLike(() => t.mulU64U32Div(1n, 1, 0), RangeError, /divisor must be an integer in 1\.\./);
  throwsLike(() => t.pvclockTscKhz({ tscToSystemMul: 0, tscShift: 0 }), RangeError, /tscToSystemMul/);
  throwsLike(() => t.kvmGetTimeScale(0n, 1n), RangeError, /no \(shift, mul\)/);
});

test('objects: a missing object or field says which', () => {
  throwsLike(() => t.pvclockReadCycles(null as never, 0n), TypeError, /pvclockReadCycles: info must be an object/);
  throwsLike(() => t.checkTscWarp({ cpus: [], tscKhz: 1 }), RangeError, /cpus must be an array of 1\.\.64/);
  throwsLike(() => t.checkTscWarp({ cpus: [{ skew: 1n << 63n }], tscKhz: 1 }), RangeError, /cpus\[0\]\.skew/);
  throwsLike(() => t.clocksourceRegisterKhz(0, 1n), RangeError, /khz must be an integer in 1\.\./);
});

test('the simulation\'s vCPU table: an index or count out of range is a RangeError naming it, not a Wasm trap', () => {
  const k = t.createKernel({ simd: false });
  const page = { version: 0, tscTimestamp: 0n, systemTime: 0n, tscToSystemMul: 0, tscShift: 0, flags: 0 };
  const v = { kvmclock: false, hostBase: 0n, hostEpoch: 0n, hostKhz: 1, ratio: 1n << 48n, offset: 0n, fracBits: 48 as const, page };
  throwsLike(() => k.simSetVcpu(64, v), RangeError, /simSetVcpu: the vCPU index must be 0\.\.63, got 64/);
  throwsLike(() => k.simSetVcpu(-1, v), RangeError, /simSetVcpu: the vCPU index/);
  throwsLike(() => k.simReadAll(65, 0n), RangeError, /simReadAll: n must be 0\.\.64, got 65/);
  assert.equal(k.simReadAll(0, 0n), []);
});

test.run();
