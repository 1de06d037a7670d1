// The clock chain (bindings/chain.ts) against the BigInt oracle (oracle/chain.ts):
// every step forward and inverse, scalar and SIMD builds, random and edge
// inputs (wrap at 2^64 included), parameters changing mid-stream, and the
// inverse property forward(inverse(y)) >= y > forward(inverse(y) - 1) in the
// step's frame. The seed is printed; replay a failure with FC_SEED=<seed>.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { createClockChain, ClockChainError, type ClockChainParams, type ClockDomain } from '../bindings/index.js';
import * as o from '../oracle/index.js';
import { params, u64, u32, pvShift, fracBits } from './support/fc.js';

const U64 = (1n << 64n) - 1n;
const w = (x: bigint) => x & U64;

// one arbitrary per step kind: the chain parameters and the oracle's step, from the same draw
type Drawn = { chain: ClockChainParams; step: o.OracleStep; from: ClockDomain; to: ClockDomain; key: keyof ClockChainParams };
const realRatio = fc.bigInt({ min: 1n << 46n, max: 1n << 50n });
const kvmArb = fc.record({ off: u64, ratio: fc.oneof(u64, realRatio), fb: fracBits, deflt: fc.boolean() }).map(({ off, ratio, fb, deflt }): Drawn => {
  const r = deflt ? 1n << BigInt(fb) : fb === 32 ? ratio >> 16n : ratio;
  return { chain: { kvm: { tscOffset: off, ratio: r, fracBits: fb } }, step: { kind: 'kvm', ratio: r, fracBits: fb, offset: off },
    from: 'host-tsc', to: 'guest-tsc', key: 'kvm' };
});
const pvArb = fc.record({ ts: u64, st: u64, mul: u32, shift: pvShift }).map(({ ts, st, mul, shift }): Drawn => ({
  chain: { pvclock: { tscTimestamp: ts, systemTime: st, tscToSystemMul: mul, tscShift: shift } },
  step: { kind: 'pvclock', tscTimestamp: ts, systemTime: st, mul: BigInt(mul), shift }, from: 'guest-tsc', to: 'kvmclock-ns', key: 'pvclock' }));
const hvArb = fc.record({ scale: u64, off: u64 }).map(({ scale, off }): Drawn => ({
  chain: { hvTscPage: { scale, offset: off } }, step: { kind: 'hv', scale, offset: off }, from: 'guest-tsc', to: 'hv-ref', key: 'hvTscPage' }));
const perfArb = fc.record({ zero: u64, mult: u32, shift: fc.integer({ min: 0, max: 63 }), short: fc.boolean(), cycles: u64,
  maskBits: fc.integer({ min: 1, max: 64 }) }).map(({ zero, mult, shift, short, cycles, maskBits }): Drawn => {
  const mask = maskBits === 64 ? U64 : (1n << BigInt(maskBits)) - 1n;
  const p = { timeZero: zero, timeMult: mult, timeShift: shift, ...(short ? { timeCycles: cycles, timeMask: mask } : {}) };
  return { chain: { perf: p }, step: { kind: 'perf', ...p, timeMult: BigInt(mult) }, from: 'host-tsc', to: 'perf-ns', key: 'perf' };
});
const csArb = fc.record({ mult: u32, shift: fc.integer({ min: 0, max: 63 }) }).map(({ mult, shift }): Drawn => ({
  chain: { clocksource: { mult, shift } }, step: { kind: 'cyc2ns', mult: BigInt(mult), shift }, from: 'host-tsc', to: 'host-ns', key: 'clocksource' }));
const t2nArb = fc.record({ mult: u32, shift: fc.integer({ min: 0, max: 63 }), off: u64 }).map(({ mult, shift, off }): Drawn => ({
  chain: { tsc2nsec: { mult, shift, offset: off } }, step: { kind: 'tsc2nsec', mult: BigInt(mult), shift, offset: off },
  from: 'host-tsc', to: 'host-ns', key: 'tsc2nsec' }));
const kinds = { kvm: kvmArb, pvclock: pvArb, hv: hvArb, perf: perfArb, cyc2ns: csArb, tsc2nsec: t2nArb };

const failName = { 'beyond-u64': 'no input up to 2^64-1 reaches it', wraps: 'wraps before it reaches it' };

const suites: ReturnType<typeof suite>[] = [];
for (const simd of [false, true]) {
  const s = suite(`clock chain vs oracle (${simd ? 'SIMD' : 'scalar'} build)`);
  suites.push(s);
  for (const [name, arb] of Object.entries(kinds)) {
    s(`${name}: forward over a batch equals the C formula (u64 wraps and all)`, () => {
      fc.assert(fc.property(arb, fc.array(u64, { minLength: 1, maxLength: 40 }), (d, xs) => {
        const c = createClockChain(d.chain, { simd });
        const a = BigUint64Array.from(xs);
        c.convertBatch(d.from, d.to, a);
        assert.equal([...a], xs.map((x) => o.stepForward(d.step, x)));
        c.free();
      }), params(300));
    });
    s(`${name}: the inverse is the oracle's (bisection) smallest input, or the same refusal`, () => {
      fc.assert(fc.property(arb, u64, fc.boolean(), (d, y, fromX) => {
        const c = createClockChain(d.chain, { simd });
        if (fromX) y = o.stepForward(d.step, y); // a value the step really produces, often
        const want = o.stepInverse(d.step, y);
        if ('x' in want) {
          assert.is(c.convert(d.to, d.from, y), want.x);
          // the inverse property, in the step's frame (f - c and x - x0 are the monotone core)
          const { c: c0, x0 } = o.stepFrame(d.step);
          const core = (x: bigint) => w(o.stepForward(d.step, x) - c0);
          assert.ok(core(want.x) >= w(y - c0));
          const short = d.step.kind === 'perf' && d.step.timeMask !== undefined;
          if (want.x !== x0 && !(short && want.x === (d.step as { timeCycles: bigint }).timeCycles)) assert.ok(core(w(want.x - 1n)) < w(y - c0));
        } else {
          try { c.convert(d.to, d.from, y); assert.unreachable('no inverse exists'); } catch (e) {
            assert.instance(e, ClockChainError);
            assert.match((e as Error).message, failName[want.fail]);
          }
        }
        c.free();
      }), params(400));
    });
  }

  s('piecewise: each stamp converts with the set in force at it, sorted or not, and the inverse picks the first segment', () => {
    const seg = fc.record({ off: u64, ratio: fc.oneof(realRatio, fc.constant(1n << 48n)) });
    fc.assert(fc.property(fc.array(seg, { minLength: 1, maxLength: 5 }), fc.uniqueArray(fc.bigInt({ min: 1n, max: U64 }), { minLength: 4, maxLength: 4 }),
      fc.array(u64, { minLength: 1, maxLength: 50 }), fc.boolean(), (segs, rawKeys, xs, sorted) => {
        const keys = [0n, ...rawKeys.sort((a, b) => (a < b ? -1 : 1)).slice(0, segs.length - 1)];
        const pw: o.OraclePiecewise = { keys, steps: segs.map((g) => ({ kind: 'kvm', ratio: g.ratio, fracBits: 48, offset: g.off })) };
        const c = createClockChain({ kvm: segs.map((g, i) => ({ from: keys[i], params: { tscOffset: g.off, ratio: g.ratio } })) }, { simd });
        if (sorted) xs.sort((a, b) => (a < b ? -1 : 1));
        // a few stamps at and around each key: the boundaries are where parameters change
        const all = [...xs, ...keys.flatMap((k) => [k, w(k - 1n), w(k + 1n)])];
        const a = BigUint64Array.from(all);
        c.convertBatch('host-tsc', 'guest-tsc', a);
        assert.equal([...a], all.map((x) => o.piecewiseForward(pw, x)));
        for (const y of [...all.slice(0, 8).map((x) => o.piecewiseForward(pw, x)), ...xs.slice(0, 4)]) {
          const want = o.piecewiseInverse(pw, y);
          if ('x' in want) assert.is(c.convert('guest-tsc', 'host-tsc', y), want.x);
          else assert.throws(() => c.convert('guest-tsc', 'host-tsc', y), (e: unknown) => e instanceof ClockChainError);
        }
        c.free();
      }), params(300));
  });

  s('a conversion across the tree is its steps composed: kvmclock ns -> host ns (inverse pvclock, inverse kvm, clocksource)', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: 1n << 62n }), fc.bigInt({ min: -(1n << 50n), max: 1n << 50n }), realRatio, (ns, off, ratio) => {
      const pv: o.OracleStep = { kind: 'pvclock', tscTimestamp: 1_000_000n, systemTime: 500n, mul: 0xccccccccn, shift: -1 };
      const kvm: o.OracleStep = { kind: 'kvm', ratio, fracBits: 48, offset: w(off) };
      const cs: o.OracleStep = { kind: 'cyc2ns', mult: 6_710_886n, shift: 24 };
      const c = createClockChain({ kvm: { tscOffset: off, ratio }, pvclock: { tscTimestamp: 1_000_000n, systemTime: 500n, tscToSystemMul: 0xcccccccc, tscShift: -1 },
        clocksource: { mult: 6_710_886, shift: 24 } }, { simd });
      const g = o.stepInverse(pv, ns);
      const h = 'x' in g ? o.stepInverse(kvm, g.x) : g;
      if ('x' in h) assert.is(c.convert('kvmclock-ns', 'host-ns', ns), o.stepForward(cs, h.x));
      else assert.throws(() => c.convert('kvmclock-ns', 'host-ns', ns), (e: unknown) => e instanceof ClockChainError);
      c.free();
    }), params(300));
  });
}

const t = suite('clock chain: structure and errors');
suites.push(t);
t('path: inverse steps up to the common domain, forward steps down', () => {
  const c = createClockChain({ kvm: { tscOffset: -5n }, pvclock: { tscTimestamp: 0n, systemTime: 0n, tscToSystemMul: 2 ** 31, tscShift: 1 },
    perf: { timeZero: 0n, timeMult: 1, timeShift: 0 }, tsc2nsec: { mult: 1, shift: 0, offset: 0n } });
  assert.equal(c.path('kvmclock-ns', 'perf-ns').map((p) => `${p.from}>${p.to}${p.inverse ? ' (inverse)' : ''}`),
    ['kvmclock-ns>guest-tsc (inverse)', 'guest-tsc>host-tsc (inverse)', 'host-tsc>perf-ns']);
  assert.equal(c.path('host-tsc', 'host-tsc'), []);
  assert.is(c.convert('host-tsc', 'guest-tsc', 3n), U64 - 1n, 'a negative offset wraps as u64');
  assert.is(c.convert('guest-tsc', 'host-tsc', U64 - 1n), 3n);
});
t('nested: L1 and L2 compose as KVM composes them for the CPU (kvm_calc_nested_tsc_offset/_multiplier)', () => {
  const l1 = { tscOffset: -1_000_000n, ratio: 3n << 47n }, l2 = { tscOffset: 12_345n, ratio: 5n << 46n };
  const c = createClockChain({ kvm: l1, nested: l2 });
  const ratio = o.kvmCalcNestedTscMultiplier(l1.ratio, l2.ratio, 48), off = o.kvmCalcNestedTscOffset(w(l1.tscOffset), l2.tscOffset, l2.ratio, 48);
  for (const h of [0n, 1n, 123_456_789_012n, U64]) assert.is(c.convert('host-tsc', 'guest-tsc', h), w(o.kvmScaleTsc(h, ratio, 48) + off));
});
t('errors name what is missing or wrong; a failed batch says which stamp', () => {
  const c = createClockChain({ clocksource: { mult: 3, shift: 1 } });
  assert.throws(() => c.convert('guest-tsc', 'kvmclock-ns', 1n), /needs a pvclock page/);
  assert.throws(() => c.convert('host-tsc', 'nope' as ClockDomain, 1n), /to must be one of host-tsc, guest-tsc/);
  assert.throws(() => createClockChain({ clocksource: { mult: 1, shift: 0 }, tsc2nsec: { mult: 1, shift: 0, offset: 0n } }), /not both/);
  assert.throws(() => createClockChain({ kvm: { tscOffset: 1n << 64n } }), /kvm\[0\]\.tscOffset must be in 0\.\.2\^64-1/);
  assert.throws(() => createClockChain({ kvm: [{ from: 0n, params: { tscOffset: 0n } }, { from: 0n, params: { tscOffset: 1n } }] }), /kvm\[1\]\.from must be above 0/);
  const a = BigUint64Array.from([2n, 6n, U64, 9n]);
  try { c.convertBatch('host-ns', 'host-tsc', a); assert.unreachable(); } catch (e) {
    assert.instance(e, ClockChainError);
    assert.is((e as ClockChainError).index, 2);
    assert.is((e as ClockChainError).value, U64);
    assert.match((e as Error).message, /host-ns 18446744073709551615 has no host-tsc: .*wraps before it reaches it/);
    assert.equal([...a.subarray(0, 2)], [2n, 4n]);
  }
  const hv = createClockChain({ pvclock: { tscTimestamp: 0n, systemTime: 0n, tscToSystemMul: 2 ** 31, tscShift: 0 } });
  assert.throws(() => hv.convert('guest-tsc', 'hv-ref', 1n), /cannot be a Hyper-V TSC page/);
});
t('a batch failing at a middle step: the stamps before the failure went through every step', () => {
  // hv-ref -> host-ns: inverse of the TSC page, inverse of kvm, clocksource; a guest TSC beyond what ratio 1/4 reaches
  // fails at kvm, the middle step
  const c = createClockChain({ kvm: { tscOffset: 0n, ratio: 1n << 46n }, hvTscPage: { scale: 1n << 63n, offset: 0n },
    clocksource: { mult: 3, shift: 1 } });
  const a = BigUint64Array.from([10n, 20n, 1n << 62n, 30n]);
  const want = [c.convert('hv-ref', 'host-ns', 10n), c.convert('hv-ref', 'host-ns', 20n)];
  assert.equal(want, [120n, 240n]);
  assert.throws(() => c.convertBatch('hv-ref', 'host-ns', a), (e: unknown) => e instanceof ClockChainError && e.index === 2);
  assert.equal([...a.subarray(0, 2)], want);
});
t('convertLines: each good field replaced by the converted stamp, every other byte kept, bad lines listed and copied', () => {
  const c = createClockChain({ clocksource: { mult: 3, shift: 1 } });
  const field = fc.oneof(u64.map((v) => v.toString()), u64.map((v) => `0x${v.toString(16)}`), fc.constantFrom('', 'x1', '18446744073709551616', '00042'));
  fc.assert(fc.property(fc.array(fc.tuple(field, fc.string({ maxLength: 6 }).map((t) => t.replace(/[\n;]/g, ''))), { minLength: 1, maxLength: 30 }),
    fc.boolean(), fc.boolean(), fc.boolean(), (rows, hexIn, hexOut, lastNl) => {
      const text = rows.map(([f, rest]) => `a;${f};${rest}`).join('\n') + (lastNl ? '\n' : '');
      const r = c.convertLines('host-ns', 'host-tsc', Buffer.from(text, 'latin1'), { column: 2, separator: ';', hexIn, hexOut });
      const want: string[] = [], bad: number[] = [];
      rows.forEach(([f, rest], i) => {
        // hex: 0x optional, then hex digits; decimal: digits; leading zeros allowed; the value must fit u64
        const ok = hexIn ? /^(0x)?[0-9a-f]+$/i.test(f) : /^\d+$/.test(f);
        let v: bigint | undefined;
        if (ok) { v = BigInt(hexIn ? `0x${f.replace(/^0x/i, '')}` : f); if (v > U64) v = undefined; }
        let x: bigint | undefined;
        if (v !== undefined) { const inv = o.stepInverse({ kind: 'cyc2ns', mult: 3n, shift: 1 }, v); if ('x' in inv) x = inv.x; }
        if (x === undefined) { bad.push(i); want.push(`a;${f};${rest}`); } else want.push(`a;${hexOut ? `0x${x.toString(16)}` : x};${rest}`);
      });
      assert.is(Buffer.from(r.output).toString('latin1'), want.join('\n') + (lastNl ? '\n' : ''));
      assert.equal(r.failures.map((f) => f.line), bad);
      assert.is(r.lines, rows.length);
    }), params(300));
  // more lines than one Wasm pass takes (65536): the passes join seamlessly
  const many = Array.from({ length: 70_000 }, (_, i) => String(i * 3)).join('\n');
  const r = c.convertLines('host-ns', 'host-tsc', Buffer.from(many));
  assert.is(r.lines, 70_000);
  assert.is(Buffer.from(r.output).toString(), Array.from({ length: 70_000 }, (_, i) => String(2 * i)).join('\n'));
});
t('u64le bytes convert in place, chunk after chunk (more than one Wasm chunk)', () => {
  const c = createClockChain({ kvm: { tscOffset: 7n, ratio: 3n << 47n } });
  const n = (1 << 16) + 5;
  const a = new BigUint64Array(n).map((_, i) => BigInt(i) * 1_000_003n);
  const bytes = new Uint8Array(a.slice().buffer);
  c.convertU64le('host-tsc', 'guest-tsc', bytes);
  const got = new BigUint64Array(bytes.buffer);
  for (const i of [0, 1, 65535, 65536, n - 1]) assert.is(got[i], w(o.kvmScaleTsc(a[i], 3n << 47n, 48) + 7n));
});

for (const x of suites) x.run();
