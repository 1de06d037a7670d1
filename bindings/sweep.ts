// The in-Wasm differential sweep (assembly/sweep.ts): the kernel's arithmetic
// against naive second implementations, inputs generated inside Wasm.
import type { Core } from './core.js';
import { int, u64 } from './check.js';

export const SWEEP_KINDS = ['mulU64U64Shr', 'mulU64U32Shr', 'mulU64U32Div', 'mulS64U64Shr', 'pvclockScaleDelta', 'batches'] as const;
export type SweepKind = (typeof SWEEP_KINDS)[number];

export interface SweepResult {
  kind: SweepKind;
  seed: bigint;
  cases: number;
  mismatches: number;
  /** The first disagreement's inputs, result and expected value. */
  first?: { a: bigint; b: bigint; c: bigint; got: bigint; want: bigint };
}

export function sweepApi(k: Core) {
  return {
    /** Runs `cases` seeded cases of one kind (batches: cases of 64 samples through every batch loop). */
    sweepKernel(kind: SweepKind, seed: bigint, cases: number): SweepResult {
      const f = 'sweepKernel';
      const id = SWEEP_KINDS.indexOf(kind);
      if (id < 0) throw new RangeError(`${f}: kind must be one of ${SWEEP_KINDS.join(', ')}, got ${String(kind)}`);
      const n = int(f, 'cases', cases, 0, 0xFFFFFFFF);
      const mismatches = k.x.sweep(id, u64(f, 'seed', seed), n) >>> 0;
      if (!mismatches) return { kind, seed, cases: n, mismatches };
      const at = k.x.sweepFirstBad(), dv = k.dv;
      const [a, b, c, got, want] = [0, 8, 16, 24, 32].map((o) => dv.getBigUint64(at + o, true));
      return { kind, seed, cases: n, mismatches, first: { a, b, c, got, want } };
    },
  };
}
