// The clock chain in plain BigInt, for the differential tests of
// bindings/chain.ts: each step's forward is the oracle's C-semantics formula;
// each inverse is found by bisection over the step's exact (unbounded)
// monotone core, then checked against the C formula for 64-bit wraps. It
// shares nothing with assembly/chain.ts's closed-form divisions.
import * as o from './index.js';

const U64 = (1n << 64n) - 1n;
const w = (x: bigint): bigint => x & U64;

export type OracleStep =
  | { kind: 'kvm'; ratio: bigint; fracBits: number; offset: bigint }
  | { kind: 'pvclock'; tscTimestamp: bigint; systemTime: bigint; mul: bigint; shift: number }
  | { kind: 'hv'; scale: bigint; offset: bigint }
  | { kind: 'perf'; timeZero: bigint; timeMult: bigint; timeShift: number; timeCycles?: bigint; timeMask?: bigint }
  | { kind: 'cyc2ns'; mult: bigint; shift: number }
  | { kind: 'tsc2nsec'; mult: bigint; shift: number; offset: bigint };

/** The C formula of a step. */
export function stepForward(s: OracleStep, x: bigint): bigint {
  switch (s.kind) {
    case 'kvm': return w(o.kvmScaleTsc(x, s.ratio, s.fracBits) + s.offset);
    case 'pvclock': return o.pvclockReadCycles({ tscTimestamp: s.tscTimestamp, systemTime: s.systemTime, tscToSystemMul: s.mul, tscShift: s.shift }, x);
    case 'hv': return o.hvReadTscPage(s.scale, s.offset, x);
    case 'perf': return o.perfTscToNs(x, s);
    case 'cyc2ns': return o.clocksourceCyc2ns(x, s.mult, s.shift);
    case 'tsc2nsec': return w(o.mulU64U32Shr(x, s.mult, s.shift) + s.offset);
  }
}

/** c and x0: f(x) = c + M(x - x0) mod 2^64. */
export function stepFrame(s: OracleStep): { c: bigint; x0: bigint } {
  switch (s.kind) {
    case 'kvm': return { c: s.offset, x0: 0n };
    case 'pvclock': return { c: s.systemTime, x0: s.tscTimestamp };
    case 'hv': return { c: s.offset, x0: 0n };
    case 'perf': return { c: s.timeZero, x0: 0n };
    case 'cyc2ns': return { c: 0n, x0: 0n };
    case 'tsc2nsec': return { c: s.offset, x0: 0n };
  }
}

/** The exact core M (no wrap anywhere) and the last input of its domain. */
function core(s: OracleStep): { m: (u: bigint) => bigint; max: bigint } {
  switch (s.kind) {
    case 'kvm': return { m: (u) => (u * s.ratio) >> BigInt(s.fracBits), max: U64 };
    case 'pvclock': {
      const sh = BigInt(s.shift);
      const m = (u: bigint) => ((s.shift < 0 ? u >> -sh : u << sh) * s.mul) >> 32n;
      return { m, max: s.shift > 0 ? (1n << (64n - sh)) - 1n : U64 };
    }
    case 'hv': return { m: (u) => (u * s.scale) >> 64n, max: U64 };
    case 'perf': return { m: (u) => (u * s.timeMult) >> BigInt(s.timeShift), max: U64 };
    case 'cyc2ns': return { m: (u) => (u * s.mult) >> BigInt(s.shift), max: U64 };
    case 'tsc2nsec': return { m: (u) => (u * s.mult) >> BigInt(s.shift), max: U64 };
  }
}

export type OracleInverse = { x: bigint } | { fail: 'beyond-u64' | 'wraps' };

/** Whether the C formula, less its frame, equals the exact core at u. */
function exactAt(s: OracleStep, u: bigint, m: bigint): boolean {
  if (m > U64) return false;
  const { c, x0 } = stepFrame(s);
  if (s.kind === 'perf') return o.perfTscToNs(u, { timeZero: 0n, timeMult: s.timeMult, timeShift: s.timeShift }) === m;
  return w(stepForward(s, w(u + x0)) - c) === m;
}

/** The smallest input whose value reaches y, by bisection over the exact core. */
export function stepInverse(s: OracleStep, y: bigint): OracleInverse {
  const { c, x0 } = stepFrame(s);
  const z = w(y - c);
  const { m, max } = core(s);
  if (m(max) < z) return { fail: max < U64 ? 'wraps' : 'beyond-u64' };
  let lo = 0n, hi = max; // m(hi) >= z
  while (lo < hi) {
    const mid = (lo + hi) >> 1n;
    if (m(mid) >= z) hi = mid; else lo = mid + 1n;
  }
  if (!exactAt(s, lo, m(lo)) || (s.kind === 'perf' && lo > 0n && !exactAt(s, lo - 1n, m(lo - 1n)))) return { fail: 'wraps' };
  if (s.kind === 'perf' && s.timeMask !== undefined && w(lo - (s.timeCycles ?? 0n)) > s.timeMask) return { fail: 'beyond-u64' };
  return { x: w(x0 + lo) };
}

/** Parameter sets keyed by the input at which each takes effect (keys[0] = 0). */
export interface OraclePiecewise { keys: bigint[]; steps: OracleStep[] }

export function piecewiseForward(p: OraclePiecewise, x: bigint): bigint {
  let i = 0;
  while (i + 1 < p.keys.length && p.keys[i + 1] <= x) i++;
  return stepForward(p.steps[i], x);
}

/** The first segment (in key order) with an input in its range whose value reaches y: its smallest. */
export function piecewiseInverse(p: OraclePiecewise, y: bigint): OracleInverse {
  let why: OracleInverse = { fail: 'beyond-u64' };
  for (let i = 0; i < p.steps.length; i++) {
    const r = stepInverse(p.steps[i], y);
    if ('fail' in r) { why = r; continue; }
    let x = r.x;
    if (p.steps.length > 1) {
      const { c } = stepFrame(p.steps[i]);
      if (x < p.keys[i]) {
        x = p.keys[i];
        if (w(stepForward(p.steps[i], x) - c) < w(y - c)) continue;
      }
      if (i + 1 < p.keys.length && x >= p.keys[i + 1]) continue;
    }
    return { x };
  }
  return why;
}
