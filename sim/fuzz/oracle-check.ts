// The BigInt oracle against the Wasm kernel on n seeded edge-biased inputs per formula (the slow, independent check
// that backs the fast in-Wasm sweep).
import type { Kernel } from '../../bindings/index.js';
import * as o from '../../oracle/index.js';
import { splitmix64 } from '../units.js';

export function oracleCheck(k: Kernel, seed: bigint, n: number): { mismatches: number; first?: string } {
  let s = seed, bad = 0, first: string | undefined;
  const next = () => {
    let z: bigint;
    [s, z] = splitmix64(s);
    const edge = [0n, 1n, 0xFFFFFFFFn, 1n << 32n, 1n << 63n, o.U64][Number(z & 7n)];
    return edge ?? z;
  };
  const check = (name: string, got: bigint, want: bigint) => {
    if (got !== want) { bad++; first ??= `${name}: got ${got}, want ${want}`; }
  };
  for (let i = 0; i < n; i++) {
    const a = next(), b = next(), c = next();
    const sh = Number(c & 127n), m = Number(b & 0xFFFFFFFFn), ps = Number(c & 63n) - 32;
    check('mulU64U64Shr', k.mulU64U64Shr(a, b, sh), o.mulU64U64Shr(a, b, sh));
    check('mulU64U32Shr', k.mulU64U32Shr(a, m, sh), o.mulU64U32Shr(a, BigInt(m), sh));
    check('pvclockScaleDelta', k.pvclockScaleDelta(a, m, ps), o.pvclockScaleDelta(a, BigInt(m), ps));
    check('kvmScaleTsc', k.kvmScaleTsc(a, b, sh & 1 ? 48 : 32), o.kvmScaleTsc(a, b, sh & 1 ? 48 : 32));
    check('clocksourceCyc2ns', k.clocksourceCyc2ns(a, m, sh & 63), o.clocksourceCyc2ns(a, BigInt(m), sh & 63));
    if (m) check('mulU64U32Div', k.mulU64U32Div(a, Number(c & 0xFFFFFFFFn), m), o.mulU64U32Div(a, c & 0xFFFFFFFFn, BigInt(m)));
  }
  return { mismatches: bad, ...(first ? { first } : {}) };
}
