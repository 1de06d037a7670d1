// Batches: zero-copy over the kernel's memory, chunked over JS-owned arrays,
// in place, any length, views re-taken after memory growth.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createKernel, SampleBuffer } from '../bindings/index.js';
import * as o from '../oracle/index.js';

const scalar = createKernel({ simd: false });
const simd = createKernel({ simd: true });
const info = { tscTimestamp: 123_456_789_000n, systemTime: 42_000_000_000n, tscToSystemMul: 0xcccccccc, tscShift: -1 };
const q = { ...info, tscToSystemMul: 0xccccccccn };

function lcg(n: number, seed: bigint): BigUint64Array {
  const a = new BigUint64Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) { x = (x * 6364136223846793005n + 1442695040888963407n) & o.U64; a[i] = x; }
  return a;
}

test('zero-copy: a SampleBuffer in and out, and in place', () => {
  const n = 1000;
  const buf = simd.allocSamples(n);
  buf.array.set(lcg(n, 1n));
  const want = [...buf.array].map((x) => o.pvclockReadCycles(q, x));
  const out = simd.allocSamples(n);
  simd.pvclockReadBatch(info, buf, out);
  assert.equal([...out.array], want);
  simd.pvclockReadBatch(info, buf, buf); // in place
  assert.equal([...buf.array], want);
  buf.free(); out.free();
});

test('chunked: JS-owned arrays longer than the chunk buffers, odd lengths', () => {
  for (const n of [0, 1, 3, 8191, 8192, 8193, 3 * 8192 + 5]) {
    const tsc = lcg(n, BigInt(n) + 7n);
    const a = new BigUint64Array(n), b = new BigUint64Array(n);
    scalar.kvmScaleTscBatch(tsc, a, 337_769_972_052_787n, 48, 99n);
    simd.kvmScaleTscBatch(tsc, b, 337_769_972_052_787n, 48, 99n);
    assert.equal(b, a, `SIMD and scalar differ at n=${n}`);
    for (const i of [0, n >> 1, n - 1]) {
      if (i >= 0 && i < n) assert.is(a[i], (o.kvmScaleTsc(tsc[i], 337_769_972_052_787n, 48) + 99n) & o.U64);
    }
  }
});

test('mixed: Wasm-resident input, JS-owned output, and a plain view on kernel memory', () => {
  const k = createKernel();
  const n = 20_000;
  const buf = k.allocSamples(n);
  buf.array.set(lcg(n, 3n));
  const out = new BigUint64Array(n);
  k.clocksourceCyc2nsBatch(buf, out, 6462365, 24);
  assert.equal([...out.subarray(0, 50)], [...buf.array.subarray(0, 50)].map((x) => o.clocksourceCyc2ns(x, 6462365n, 24)));
  const view = new BigUint64Array(k.memory.buffer, buf.ptr, n); // recognised as resident: no copy
  k.clocksourceCyc2nsBatch(view, view, 6462365, 24);
  assert.equal(buf.array, out);
});

test('memory growth detaches old views; SampleBuffer.array re-takes its view', () => {
  const k = createKernel();
  const a = k.allocSamples(16);
  a.array.fill(5n);
  const stale = a.array;
  const before = k.memory.buffer.byteLength;
  const big = k.allocSamples(8 << 20); // 64 MiB: memory must grow
  assert.ok(k.memory.buffer.byteLength > before, 'memory grew');
  assert.is(stale.length, 0, 'the old view is detached');
  assert.is(a.array.length, 16);
  assert.equal([...a.array], new Array(16).fill(5n));
  big.free(); a.free();
  assert.throws(() => a.array, /used after free/);
  assert.throws(() => k.clocksourceCyc2nsBatch(a, a, 1, 0), /was freed/);
});

test('output shorter than input, wrong types', () => {
  assert.throws(() => simd.clocksourceCyc2nsBatch(new BigUint64Array(4), new BigUint64Array(3), 1, 0), /output has 3 samples, input 4/);
  assert.throws(() => simd.clocksourceCyc2nsBatch([1n] as never, new BigUint64Array(3), 1, 0), /BigUint64Array or a SampleBuffer/);
  assert.instance(simd.allocSamples(1), SampleBuffer);
  // fields the batch does not use are still checked: no page has flags "NP"
  assert.throws(() => simd.pvclockReadBatch({ ...info, flags: 'NP' as never }, new BigUint64Array(1), new BigUint64Array(1)), /pvclockReadBatch: info\.flags must be a number/);
});

test('perf short-counter batch widens every sample as perf_event_mmap_page says (the BigInt oracle), and one by hand', () => {
  const p = { timeZero: 10n, timeMult: 858993459, timeShift: 31, timeCycles: 0xabc_0000_0000n, timeMask: 0xffff_ffffn };
  const tsc = lcg(100, 9n);
  tsc[0] = 7n; // a 32-bit counter value: widened to time_cycles + ((7 - time_cycles) & mask) = 0xabc_0000_0007
  const out = new BigUint64Array(100);
  simd.perfTscToNsBatch(tsc, out, p);
  // include/uapi/linux/perf_event.h: cyc = time_cycles + ((cyc - time_cycles) & time_mask); quot = cyc >> time_shift,
  // rem = cyc & ((1 << time_shift) - 1); ns = time_zero + quot * time_mult + ((rem * time_mult) >> time_shift)
  assert.equal([...out], [...tsc].map((x) => o.perfTscToNs(x, { ...p, timeMult: BigInt(p.timeMult) })));
  const cyc = 0xabc_0000_0007n;
  assert.is(out[0], 10n + (cyc >> 31n) * 858993459n + (((cyc & 0x7fff_ffffn) * 858993459n) >> 31n));
});

test('allocation: a buffer of more than 2^27-1 samples, or one memory cannot grow to hold, is a RangeError naming the size', () => {
  const k = createKernel({ simd: false });
  assert.throws(() => k.allocSamples(2 ** 28), (e: Error) => e instanceof RangeError && /allocSamples: length must be an integer in 0\.\.134217727 .*got 268435456/.test(e.message));
  // 1 GiB each: the fourth does not fit in 32-bit Wasm memory (4 GiB)
  const held: SampleBuffer[] = [];
  let failure: unknown;
  try { for (let i = 0; i < 4; i++) held.push(k.allocSamples(2 ** 27 - 1)); } catch (e) { failure = e; }
  assert.is(held.length, 3);
  assert.instance(failure, RangeError);
  assert.match((failure as Error).message, /^allocSamples: cannot allocate 134217727 samples \(1073741816 bytes\): the kernel's memory \(\d+ bytes now\) cannot grow/);
  // buffers above 2 GiB work (their address is not a negative i32), and the kernel is intact after the failure
  const top = held[2];
  assert.ok(top.ptr >= 2 ** 31, `address ${top.ptr}`);
  const view = new BigUint64Array(k.memory.buffer, top.ptr, 4);
  view.set([1n, 2n, 3n, 4n]);
  k.clocksourceCyc2nsBatch(view, view, 3, 1);
  assert.equal([...view], [1n, 3n, 4n, 6n]);
  held.forEach((b) => b.free());
  const again = k.allocSamples(2 ** 27 - 1);
  assert.is(again.array.length, 2 ** 27 - 1);
  again.free();
});

test.run();
