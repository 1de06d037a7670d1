// fast-check settings shared by the property tests: the seed comes from
// FC_SEED when given (to replay a failure), else it is drawn and printed.
import fc from 'fast-check';

const fromEnv = process.env.FC_SEED;
export const seed = fromEnv !== undefined ? Number(fromEnv) : (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
let printed = false;

/** Parameters for fc.assert: the shared seed and a run count (FC_RUNS scales it). */
export function params(numRuns = 1000): fc.Parameters<unknown> {
  if (!printed) {
    console.log(`fast-check seed ${seed} (replay with FC_SEED=${seed})`);
    printed = true;
  }
  const scale = Number(process.env.FC_RUNS_SCALE ?? 1);
  return { seed, numRuns: Math.max(1, Math.round(numRuns * scale)) };
}

const edges = [0n, 1n, 2n, (1n << 32n) - 1n, 1n << 32n, (1n << 32n) + 1n, (1n << 63n) - 1n, 1n << 63n, (1n << 64n) - 1n];
/** A u64 biased to the edges where hand-split arithmetic breaks. */
export const u64 = fc.oneof(
  { weight: 1, arbitrary: fc.constantFrom(...edges) },
  { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: (1n << 20n) }) },
  { weight: 3, arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) },
);
export const u32 = fc.oneof(
  fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff),
  fc.integer({ min: 0, max: 0xffffffff }),
);
export const s64 = u64.map((v) => BigInt.asIntN(64, v));
export const pvShift = fc.integer({ min: -32, max: 31 });
export const fracBits = fc.constantFrom<48 | 32>(48, 32);
