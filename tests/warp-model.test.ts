// check_tsc_warp's loop in Wasm (the two-CPU path in locals, the general path, the closed-form skip) against the
// model written again plainly in BigInt (oracle/warp.ts): every result field equal, for 1 to 4 CPUs with offsets,
// skews, TSC_ADJUST, scaling ratios, hand-off draws, jitter, the iteration cap, and last_tsc on entry.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import * as t from '../bindings/index.js';
import { checkTscWarpModel } from '../oracle/index.js';
import { params } from './support/fc.js';

const cpu = fc.record({
  offset: fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 20_000n }), fc.bigInt({ min: (1n << 64n) - 20_000n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
  tscAdjust: fc.oneof(fc.constant(0n), fc.bigInt({ min: -5_000n, max: 5_000n })),
  skew: fc.oneof(fc.constant(0n), fc.bigInt({ min: -3_000n, max: 3_000n })),
  scaled: fc.boolean(),
});
const run = fc.record({
  cpus: fc.array(cpu, { minLength: 1, maxLength: 4 }),
  ratio: fc.bigInt({ min: 1n << 47n, max: 1n << 49n }),
  tscKhz: fc.integer({ min: 1_000, max: 40_000 }),
  timeoutMs: fc.integer({ min: 1, max: 2 }),
  hostStart: fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: 1n << 40n })),
  handoff: fc.integer({ min: 1, max: 400 }), handoffExtra: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 300 })),
  jitter: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 100 })),
  local: fc.integer({ min: 1, max: 100 }), loop: fc.integer({ min: 0, max: 300 }),
  seed: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
  maxIterations: fc.oneof(fc.constant(20_000), fc.integer({ min: 0, max: 50 })), // the BigInt model is slow at the kernel's 10,000,000
  lastTsc: fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
  stepOnly: fc.boolean(),
});

test('the Wasm warp loop equals the BigInt model, field by field', () => {
  let twoCpu = 0;
  fc.assert(fc.property(run, (r) => {
    const one = 1n << 48n;
    const cpus = r.cpus.map((c) => ({ offset: c.offset, tscAdjust: c.tscAdjust, skew: c.skew, ratio: c.scaled ? r.ratio : one }));
    const got = t.checkTscWarp({ cpus, tscKhz: r.tscKhz, timeoutMs: r.timeoutMs, hostStart: r.hostStart, handoffCycles: r.handoff,
      handoffMaxCycles: r.handoff + r.handoffExtra, handoffJitterCycles: r.jitter, localCycles: r.local, loopCycles: r.loop, seed: r.seed,
      maxIterations: r.maxIterations, lastTsc: r.lastTsc, stepOnly: r.stepOnly, fracBits: 48 });
    const want = checkTscWarpModel({ cpus, tscKhz: BigInt(r.tscKhz), timeoutMs: BigInt(r.timeoutMs), hostStart: r.hostStart,
      handoff: BigInt(r.handoff), handoffMax: BigInt(r.handoff + r.handoffExtra), jitter: BigInt(r.jitter), local: BigInt(r.local),
      loop: BigInt(r.loop), seed: r.seed, fracBits: 48, maxIterations: BigInt(r.maxIterations), lastTsc: r.lastTsc });
    if (cpus.length === 2) twoCpu++;
    assert.equal({ ...got, nrWarps: BigInt(got.nrWarps), randomWarps: BigInt(got.randomWarps), reads: BigInt(got.reads),
      cpus: got.cpus.map((c) => ({ ...c, iterations: BigInt(c.iterations) })) }, want);
  }), params(1000));
  console.log(`  warp model: ${twoCpu} of the runs with two CPUs`);
});

test.run();
