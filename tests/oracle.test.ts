// Differential properties: every Wasm formula, scalar and SIMD builds, equals
// the BigInt oracle over random and edge inputs. The seed is printed; replay
// a failure with FC_SEED=<seed>.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { createKernel, type Kernel } from '../bindings/index.js';
import * as o from '../oracle/index.js';
import { params, u64, u32, s64, pvShift, fracBits } from './support/fc.js';

const pvti = fc.record({
  tscTimestamp: u64, systemTime: u64, tscToSystemMul: u32, tscShift: pvShift,
  flags: fc.integer({ min: 0, max: 7 }),
});

for (const simd of [false, true]) {
  const k: Kernel = createKernel({ simd });
  const s = suite(`oracle (${simd ? 'SIMD' : 'scalar'} build)`);
  const prop = <T extends unknown[]>(name: string, arbs: { [K in keyof T]: fc.Arbitrary<T[K]> }, check: (...args: T) => void, runs = 2000) =>
    s(name, () => {
      const all = (fc.tuple as (...a: fc.Arbitrary<unknown>[]) => fc.Arbitrary<T>)(...(arbs as fc.Arbitrary<unknown>[]));
      fc.assert(fc.property(all, (args) => { check(...args); }), params(runs));
    });

  prop('mulU64U32Shr', [u64, u32, fc.integer({ min: 0, max: 127 })], (a, m, sh) => {
    assert.is(k.mulU64U32Shr(a, m, sh), o.mulU64U32Shr(a, BigInt(m), sh));
  });
  prop('mulU64U64Shr', [u64, u64, fc.integer({ min: 0, max: 127 })], (a, b, sh) => {
    assert.is(k.mulU64U64Shr(a, b, sh), o.mulU64U64Shr(a, b, sh));
  });
  prop('mulU64U32Div', [u64, u32, u32.filter((d) => d > 0)], (a, m, d) => {
    assert.is(k.mulU64U32Div(a, m, d), o.mulU64U32Div(a, BigInt(m), BigInt(d)));
  });
  prop('mulS64U64Shr', [s64, u64, fc.integer({ min: 0, max: 127 })], (a, b, sh) => {
    assert.is(k.mulS64U64Shr(a, b, sh), o.mulS64U64Shr(a, b, sh));
  });
  prop('pvclockScaleDelta', [u64, u32, pvShift], (d, m, sh) => {
    assert.is(k.pvclockScaleDelta(d, m, sh), o.pvclockScaleDelta(d, BigInt(m), sh));
  });
  prop('pvclockReadCycles', [pvti, u64], (p, tsc) => {
    assert.is(k.pvclockReadCycles(p, tsc), o.pvclockReadCycles({ ...p, tscToSystemMul: BigInt(p.tscToSystemMul) }, tsc));
  });
  prop('pvclockTscKhz', [u32.filter((m) => m > 0), pvShift], (m, sh) => {
    assert.is(k.pvclockTscKhz({ tscToSystemMul: m, tscShift: sh }), o.pvclockTscKhz(BigInt(m), sh));
  });
  prop('pvclockReadWallclock', [pvti, u64, u32, fc.integer({ min: 0, max: 999_999_999 })], (p, tsc, sec, nsec) => {
    const now = o.pvclockReadCycles({ ...p, tscToSystemMul: BigInt(p.tscToSystemMul) }, tsc);
    const want = o.pvclockReadWallclock(BigInt(sec), BigInt(nsec), now);
    assert.equal(k.pvclockReadWallclock({ sec, nsec }, p, tsc), { retry: false, sec: want.sec, nsec: Number(want.nsec) });
  });
  prop('kvmGetTimeScale (rates 1 kHz .. 2^36 Hz)', [fc.bigInt({ min: 1000n, max: 1n << 36n }), fc.bigInt({ min: 1000n, max: 1n << 36n })], (sc, base) => {
    const want = o.kvmGetTimeScale(sc, base);
    assert.equal(k.kvmGetTimeScale(sc, base), { shift: want.shift, mul: Number(want.mul) });
  });
  prop('kvmScaleTsc', [u64, u64, fracBits], (tsc, r, fb) => {
    assert.is(k.kvmScaleTsc(tsc, r, fb), o.kvmScaleTsc(tsc, r, fb));
  });
  prop('kvmTscScalingRatio', [u32, u32.filter((h) => h > 0), fracBits], (u, h, fb) => {
    const want = o.kvmTscScalingRatio(BigInt(u), BigInt(h), fb);
    if (want === null) assert.throws(() => k.kvmTscScalingRatio(u, h, fb), /Invalid TSC scaling ratio/);
    else assert.is(k.kvmTscScalingRatio(u, h, fb), want);
  });
  prop('kvmSetTscKhz', [fc.integer({ min: 0, max: 10_000_000 }), fc.integer({ min: 1, max: 10_000_000 }), fc.boolean(), fracBits, fc.boolean()],
    (u, h, ctl, fb, ioctl) => {
      const got = k.kvmSetTscKhz({ userKhz: u, hostKhz: h, hasTscControl: ctl, fracBits: fb, viaIoctl: ioctl });
      const want = o.kvmSetTscKhz(BigInt(u), BigInt(h), ctl, fb, 250n, ioctl);
      assert.equal({ result: got.result, reason: got.reason, ratio: got.ratio }, { reason: undefined, ...want });
    });
  prop('kvmComputeTscOffset / kvmReadL1Tsc', [u64, u64, u64, fracBits], (target, host, r, fb) => {
    const off = k.kvmComputeTscOffset(target, host, r, fb);
    assert.is(off, o.kvmComputeTscOffset(target, host, r, fb));
    assert.is(k.kvmReadL1Tsc(host, r, off, fb), target); // the offset does what it is for
  });
  prop('kvmCalcNestedTscOffset', [u64, u64, u64, fracBits], (l1, l2, m, fb) => {
    assert.is(k.kvmCalcNestedTscOffset(l1, l2, m, fb), o.kvmCalcNestedTscOffset(l1, l2, m, fb));
  });
  prop('kvmCalcNestedTscMultiplier', [u64, u64, fracBits], (l1, l2, fb) => {
    assert.is(k.kvmCalcNestedTscMultiplier(l1, l2, fb), o.kvmCalcNestedTscMultiplier(l1, l2, fb));
  });
  prop('nsecToCycles / computeGuestTsc', [u64, u64, u64, u32, pvShift], (ns, nsec0, write0, m, sh) => {
    assert.is(k.nsecToCycles(ns, m, sh), o.nsecToCycles(ns, BigInt(m), sh));
    assert.is(k.computeGuestTsc(ns, { thisTscNsec: nsec0, thisTscWrite: write0, virtualTscMult: m, virtualTscShift: sh }),
      o.computeGuestTsc(ns, nsec0, write0, BigInt(m), sh));
  });
  prop('clocksCalcMultShift', [u32.filter((f) => f > 0), u32, fc.integer({ min: 0, max: 100_000 })], (from, to, maxsec) => {
    const want = o.clocksCalcMultShift(BigInt(from), BigInt(to), BigInt(maxsec));
    assert.equal(k.clocksCalcMultShift(from, to, maxsec), { mult: Number(want.mult), shift: want.shift });
  });
  const regOf = (r: o.OracleRegistration) => ({ ...r, mult: Number(r.mult), maxadj: Number(r.maxadj), uncertaintyMargin: Number(r.uncertaintyMargin) });
  prop('clocksourceRegisterHz / Khz (any u32 rate, masks 16..64 bits)',
    [fc.integer({ min: 1, max: 0xffffffff }), fc.integer({ min: 16, max: 64 }), fc.boolean()], (f, bits, khz) => {
      const mask = (1n << BigInt(bits)) - 1n;
      const got = () => (khz ? k.clocksourceRegisterKhz(f, mask) : k.clocksourceRegisterHz(f, mask));
      let want: ReturnType<typeof regOf> | undefined;
      try { want = regOf(o.clocksourceUpdateFreqScale(mask, khz ? 1000n : 1n, BigInt(f))); } catch { /* the kernel divides by 0 */ }
      if (want) assert.equal(got(), want);
      else assert.throws(got, /divide by zero/);
    });
  prop('jiffies and refined-jiffies for any HZ', [fc.integer({ min: 1, max: 10_000 })], (hz) => {
    assert.equal(k.clocksourceRegisterJiffies(hz), regOf(o.clocksourceRegisterJiffies(BigInt(hz))));
    assert.equal(k.clocksourceRegisterRefinedJiffies(hz), regOf(o.clocksourceRegisterRefinedJiffies(BigInt(hz))));
  }, 300);
  prop('clocksourceCyc2ns', [u64, u32, fc.integer({ min: 0, max: 63 })], (c, m, sh) => {
    assert.is(k.clocksourceCyc2ns(c, m, sh), o.clocksourceCyc2ns(c, BigInt(m), sh));
  });
  prop('hvTscPageParams / hvReadTscPage', [pvti, u64], (p, tsc) => {
    const want = o.hvTscPageParams({ ...p, tscToSystemMul: BigInt(p.tscToSystemMul) });
    const got = k.hvTscPageParams(p);
    assert.equal(got, want);
    if (got) assert.is(k.hvReadTscPage(got.scale, got.offset, tsc), o.hvReadTscPage(got.scale, got.offset, tsc));
  });
  prop('perfTscToNs (with and without cap_user_time_short)', [u64, u64, u32, fc.integer({ min: 0, max: 63 }), fc.option(fc.tuple(u64, u64))],
    (c, zero, mult, sh, short) => {
      const p = { timeZero: zero, timeMult: mult, timeShift: sh, ...(short ? { timeCycles: short[0], timeMask: short[1] } : {}) };
      assert.is(k.perfTscToNs(c, p), o.perfTscToNs(c, { ...p, timeMult: BigInt(mult) }));
    });

  // Batches: lengths around the SIMD width and the chunk size, JS-owned and Wasm-resident arrays.
  const samples = fc.array(u64, { minLength: 0, maxLength: 41 }).map((a) => BigUint64Array.from(a));
  prop('pvclockReadBatch', [pvti, samples], (p, tsc) => {
    const out = new BigUint64Array(tsc.length);
    k.pvclockReadBatch(p, tsc, out);
    const q = { ...p, tscToSystemMul: BigInt(p.tscToSystemMul) };
    assert.equal([...out], [...tsc].map((x) => o.pvclockReadCycles(q, x)));
  }, 500);
  prop('kvmScaleTscBatch', [samples, u64, fracBits, u64], (tsc, r, fb, off) => {
    const out = new BigUint64Array(tsc.length);
    k.kvmScaleTscBatch(tsc, out, r, fb, off);
    assert.equal([...out], [...tsc].map((x) => (o.kvmScaleTsc(x, r, fb) + off) & o.U64));
  }, 500);
  prop('clocksourceCyc2nsBatch', [samples, u32, fc.integer({ min: 0, max: 63 })], (c, m, sh) => {
    const out = new BigUint64Array(c.length);
    k.clocksourceCyc2nsBatch(c, out, m, sh);
    assert.equal([...out], [...c].map((x) => o.clocksourceCyc2ns(x, BigInt(m), sh)));
  }, 500);
  prop('hvReadTscPageBatch', [samples, u64, u64], (c, scale, off) => {
    const out = new BigUint64Array(c.length);
    k.hvReadTscPageBatch(c, out, scale, off);
    assert.equal([...out], [...c].map((x) => o.hvReadTscPage(scale, off, x)));
  }, 500);
  // time_shift 32 (x86 above 1 GHz) and below 32 have SIMD loops of their own, the rest the scalar form: each often
  prop('perfTscToNsBatch', [samples, u64, u32, fc.oneof(fc.constant(32), fc.integer({ min: 0, max: 31 }), fc.integer({ min: 0, max: 63 }))], (c, zero, m, sh) => {
    const out = new BigUint64Array(c.length);
    k.perfTscToNsBatch(c, out, { timeZero: zero, timeMult: m, timeShift: sh });
    assert.equal([...out], [...c].map((x) => o.perfTscToNs(x, { timeZero: zero, timeMult: BigInt(m), timeShift: sh })));
  }, 500);
  prop('clamped pvclock stream over several vCPUs', [fc.array(pvti, { minLength: 1, maxLength: 4 }), fc.array(fc.tuple(fc.nat(), u64), { maxLength: 40 }), fc.integer({ min: 0, max: 1 })],
    (pages, reads, valid) => {
      pages.forEach((p) => { p.flags &= ~2; }); // GUEST_STOPPED is tested on its own
      const cpu = Uint32Array.from(reads.map(([c]) => c % pages.length));
      const tsc = BigUint64Array.from(reads.map(([, t]) => t));
      const out = new BigUint64Array(tsc.length);
      const clamp = k.createPvclockClamp({ validFlags: valid });
      assert.is(clamp.readStream(pages, cpu, tsc, out), tsc.length);
      const want = o.pvclockClocksourceReadStream(
        reads.map(([c, t]) => ({ page: { ...pages[c % pages.length], tscToSystemMul: BigInt(pages[c % pages.length].tscToSystemMul) }, tsc: t })), valid);
      assert.equal([...out], want.values);
      assert.is(clamp.lastValue, want.lastValue);
    }, 500);
  // the engine's vCPU reads (assembly/vcpu.ts): guest TSC = base + mul_u64_u32_div(t - epoch, khz, 10^6), kvm_scale_tsc'd,
  // plus the offset -- computed there by whole milliseconds, which must change nothing; and the page's raw pvclock value
  prop('the engine\'s vCPU reads: guest TSC and raw pvclock', [u64, u64, u64, u32, u64, u64, fracBits, u64, u64, u32, pvShift], (base, epoch, t, khz, ratio, offset, fb, ts, st, mul, sh) => {
    const page = { version: 2, tscTimestamp: ts, systemTime: st, tscToSystemMul: mul, tscShift: sh, flags: 1 };
    k.simSetVcpu(0, { kvmclock: true, hostBase: base, hostEpoch: epoch, hostKhz: khz, ratio, offset, fracBits: fb, page });
    k.simSetVcpu(1, { kvmclock: false, hostBase: base, hostEpoch: epoch, hostKhz: khz, ratio, offset, fracBits: fb, page });
    const host = (base + o.mulU64U32Div((t - epoch) & o.U64, BigInt(khz), 1_000_000n)) & o.U64;
    const g = (o.kvmScaleTsc(host, ratio, fb) + offset) & o.U64;
    const [tsc0, pv0, flags0, tsc1, pv1, flags1] = k.simReadAll(2, t);
    assert.is(tsc0, g);
    assert.is(pv0, o.pvclockReadCycles({ tscTimestamp: ts, systemTime: st, tscToSystemMul: BigInt(mul), tscShift: sh }, g));
    assert.is(flags0, 1n);
    assert.equal([tsc1, pv1, flags1], [g, 0n, 0n], 'kvmclock off: its page is not read');
  });
  s.run();
}
