// check_tsc_warp() over simulated CPUs. Expected values follow from the
// loop's definition: a CPU behind by W cycles reads W - (host cycles since the
// other CPU's read) below it; the loop ends when a CPU's own TSC passes
// start + tsc_khz * timeout, checked every 8th iteration, or past 10,000,000.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as t from '../bindings/index.js';
import fc from 'fast-check';

const khz = 2_500_000;

test('in-sync CPUs see no warp and stop at the 2 ms timeout of their own TSC', () => {
  const r = t.checkTscWarp({ cpus: [{}, {}], tscKhz: khz, timeoutMs: 2, seed: 1n });
  assert.is(r.maxWarp, 0n);
  assert.is(r.nrWarps, 0);
  for (const c of r.cpus) {
    const span = BigInt(khz) * 2n;
    assert.ok(c.last - c.start > span, 'ran past end');
    assert.ok(c.last - c.start <= span + 8n * 2n * 200n, 'stopped within 8 iterations of end');
    assert.is(c.iterations % 8, 1, 'the end is only checked when (i & 7) == 0');
  }
  const r20 = t.checkTscWarp({ cpus: [{}, {}], tscKhz: khz, timeoutMs: 20, seed: 1n });
  assert.ok(r20.reads > 9 * r.reads && r20.reads < 11 * r.reads, '20 ms runs ~10x the reads');
});

test('a CPU W cycles behind observes a warp of W minus the lock hand-off', () => {
  const W = 13_266_090_348_023_396n;
  const r = t.checkTscWarp({ cpus: [{ offset: W }, {}], tscKhz: khz, seed: 7n, handoffCycles: 200 });
  assert.is(r.maxWarp, W - 200n);
  assert.is(r.cpus[1].curMaxWarp, W - 200n, 'the lagging CPU sees it');
  assert.is(r.cpus[0].curMaxWarp, 0n, 'the leading CPU sees none');
  assert.is(r.randomWarps, 0);
  assert.ok(r.nrWarps > 0);
});

test('a TSC below 0 is near 2^64 in u64: its end wraps and its loop ends at the first check', () => {
  const r = t.checkTscWarp({ cpus: [{}, { tscAdjust: -5000n }], tscKhz: khz, seed: 3n });
  assert.is(r.cpus[1].iterations, 1);
  assert.is(r.cpus[1].start, (1n << 64n) - 5000n);
});

test('TSC_ADJUST and skew move a CPU the same way an offset does', () => {
  const hostStart = 1_000_000_000n; // TSCs are u64: a CPU "below 0" would read near 2^64
  const a = t.checkTscWarp({ cpus: [{}, { tscAdjust: -5000n }], tscKhz: khz, seed: 3n, hostStart, handoffCycles: 200 });
  const b = t.checkTscWarp({ cpus: [{}, { skew: -5000n }], tscKhz: khz, seed: 3n, hostStart, handoffCycles: 200 });
  assert.is(a.maxWarp, 5000n - 200n);
  assert.is(b.maxWarp, 5000n - 200n);
});

test('the hand-off is a per-run draw from 100..330 cycles: the observed warp is W minus that run\'s draw', () => {
  const W = 1_000_000n, seen = new Set<bigint>();
  for (let seed = 1n; seed <= 40n; seed++) {
    const r = t.checkTscWarp({ cpus: [{ offset: W }, {}], tscKhz: khz, seed, hostStart: 1_000_000_000n });
    const h = W - r.maxWarp;
    assert.ok(h >= 100n && h <= 330n, `hand-off ${h} outside 100..330 (seed ${seed})`);
    seen.add(h);
  }
  assert.ok(seen.size > 20, `the draw varies between runs (${seen.size} distinct of 40)`);
});

test('check_tsc_sync_target compensation: a cheaper hand-off in the next run shows a residual warp of the difference', () => {
  // run 1: the target is W behind; it adds what it observed to TSC_ADJUST and is left behind by run 1's hand-off
  const W = 86_036n, hostStart = 1_000_000_000n;
  let residuals = 0;
  for (let seed = 1n; seed <= 30n; seed++) {
    const r1 = t.checkTscWarp({ cpus: [{ offset: W }, {}], tscKhz: khz, seed, hostStart });
    const h1 = W - r1.maxWarp;
    const r2 = t.checkTscWarp({ cpus: [{ offset: W }, { tscAdjust: r1.cpus[1].curMaxWarp }], tscKhz: khz, seed: seed + 1000n, hostStart });
    const h2 = h1 - r2.maxWarp; // the second run's draw, when it found a warp
    if (r2.nrWarps === 0) continue;
    residuals++;
    assert.ok(r2.maxWarp > 0n && r2.maxWarp < h1, `residual ${r2.maxWarp} below run 1's hand-off ${h1}`);
    assert.ok(h2 >= 100n, 'and equal to run 1\'s hand-off minus run 2\'s');
  }
  assert.ok(residuals > 5 && residuals < 25, `about half the second runs find a residual (${residuals} of 30)`);
});

test('CPUs that cross mid-run both see warps: random warps', () => {
  // cpu1 runs 0.1% fast (VMX ratio) and starts 1000 cycles behind: it overtakes cpu0 at ~1e6 host cycles.
  const ratio = (1n << 48n) * 1001n / 1000n;
  const hostStart = 1_000_000_000n;
  const offset = BigInt.asUintN(64, -(hostStart / 1000n) - 1000n); // cancels the 0.1% at hostStart, then 1000 behind
  const r = t.checkTscWarp({ cpus: [{}, { ratio, offset }], tscKhz: 1_000_000, timeoutMs: 2, seed: 5n, handoffCycles: 50, hostStart });
  assert.ok(r.cpus[0].curMaxWarp > 0n && r.cpus[1].curMaxWarp > 0n);
  assert.ok(r.randomWarps > 0);
});

test('deterministic for a seed', () => {
  const opts = { cpus: [{ offset: 999n }, {}, { skew: 77n }], tscKhz: khz, seed: 42n };
  assert.equal(t.checkTscWarp(opts), t.checkTscWarp(opts));
});

test('a CPU whose TSC stands still stops at the 10,000,000-iteration cap', () => {
  // ratio 0 scales every host TSC to 0: this CPU's TSC never reaches its end
  const r = t.checkTscWarp({ cpus: [{ ratio: 0n, offset: 1000n }], tscKhz: khz, seed: 1n });
  assert.ok(r.hitIterationCap);
  assert.ok(r.zeroCalibrationDelta);
  // first i with i > 10^7 and (i & 7) == 0 is 10,000,008: that is read number 10,000,009
  assert.is(r.cpus[0].iterations, 10_000_009);
});

test('two CPUs in strict alternation are skipped in closed form: the same results as stepping every acquisition', () => {
  const seed = Number(process.env.FC_SEED ?? 20261129);
  console.log(`warp: fast-check seed ${seed}`);
  let warped = 0, skipped = 0, scaledSkippable = 0, capped = 0;
  const cpu = fc.record({
    ratio: fc.oneof(fc.constant(undefined), fc.constant(undefined), fc.bigInt({ min: (1n << 48n) - (1n << 40n), max: (1n << 48n) + (1n << 40n) })),
    offset: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    tscAdjust: fc.bigInt({ min: -(1n << 40n), max: 1n << 40n }),
    skew: fc.bigInt({ min: -100_000n, max: 100_000n }),
  });
  fc.assert(fc.property(cpu, cpu, fc.bigInt({ min: 0n, max: 1n << 50n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.integer({ min: 1, max: 400 }),
    fc.integer({ min: 0, max: 300 }), fc.constantFrom(0, 0, 0, 7), fc.constantFrom(3, 20_000, 10_000_000), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 60 }), fc.integer({ min: 0, max: 120 }),
    (a, b, hostStart, seedV, handoff, extra, jitter, maxIterations, lastTsc, near, local, loop) => {
      // most cases put the two TSCs within a few hundred cycles: warps one way, the other, or none
      const bb = near ? { ...b, ratio: a.ratio, skew: a.skew, tscAdjust: a.tscAdjust, offset: a.offset + BigInt((near - 2) * (handoff + local + 5)) } : b;
      const o = { cpus: [a, { ...bb, offset: bb.offset & ((1n << 64n) - 1n) }], tscKhz: 2_000_000, timeoutMs: 1, hostStart, seed: seedV,
        handoffCycles: handoff, handoffMaxCycles: handoff + extra, handoffJitterCycles: jitter, maxIterations, lastTsc, localCycles: local, loopCycles: loop };
      const fast = t.checkTscWarp(o);
      assert.equal(fast, t.checkTscWarp({ ...o, stepOnly: true }));
      if (fast.nrWarps > 0) warped++;
      if (fast.hitIterationCap) capped++;
      if (jitter === 0 && loop > 0 && loop <= handoff && a.ratio === bb.ratio) (a.ratio === undefined ? skipped++ : scaledSkippable++);
    }), { seed, numRuns: 400 });
  assert.ok(warped > 40 && skipped > 60 && scaledSkippable > 20 && capped > 5,
    `${warped} with warps, ${skipped} skippable unscaled, ${scaledSkippable} scaled, ${capped} capped of 400`);
});

test('the closed form is the fast path of a 20 ms hot-add check: ~250,000 acquisitions in a few dozen steps', () => {
  const o = { cpus: [{ offset: 0n }, { offset: 100n }], tscKhz: 2_500_000, timeoutMs: 20, hostStart: 1n << 40n, seed: 1n };
  const t0 = performance.now();
  const fast = t.checkTscWarp(o);
  const fastMs = performance.now() - t0;
  const t1 = performance.now();
  const slow = t.checkTscWarp({ ...o, stepOnly: true });
  const slowMs = performance.now() - t1;
  assert.equal(fast, slow);
  assert.ok(fast.reads > 200_000n, `${fast.reads}`);
  console.log(`warp: 20 ms check, ${fast.reads} acquisitions: ${fastMs.toFixed(2)} ms skipping, ${slowMs.toFixed(2)} ms stepping`);
});

test.run();
