// The in-Wasm sweep: millions of generated cases through the kernel and a
// naive second implementation, on both builds. SWEEP_CASES scales it up.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createKernel, SWEEP_KINDS } from '../bindings/index.js';

const seed = BigInt(process.env.SWEEP_SEED ?? Date.now());
const cases = Number(process.env.SWEEP_CASES ?? 1_000_000);
console.log(`sweep seed ${seed} (replay with SWEEP_SEED=${seed}), ${cases} cases per kind`);

for (const simd of [false, true]) {
  const k = createKernel({ simd });
  for (const kind of SWEEP_KINDS) {
    const n = kind === 'batches' ? cases / 64 : kind === 'mulU64U32Div' ? cases / 4 : cases;
    test(`sweep ${kind} (${simd ? 'SIMD' : 'scalar'}): ${n} cases agree with the second implementation`, () => {
      const r = k.sweepKernel(kind, seed, n);
      assert.is(r.mismatches, 0, `first disagreement: ${JSON.stringify(r.first, (_, v) => (typeof v === 'bigint' ? `${v}` : v))}`);
    });
  }
}

test('sweepKernel rejects an unknown kind', () => {
  assert.throws(() => createKernel().sweepKernel('nope' as never, 1n, 1), /kind must be one of/);
});

test.run();
