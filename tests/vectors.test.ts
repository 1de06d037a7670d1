// Known values: the vectors (worked from the kernel's formulas by hand)
// and lines printed by real Linux kernels in real boot logs.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as t from '../bindings/index.js';
import { bootLines } from '../cli/boot-lines.js';

const mask64 = t.clocksourceMask(64);

test('kvm_get_time_scale(1e9, 2.5e9) = shift -1, mul 0xcccccccc', () => {
  assert.equal(t.kvmGetTimeScale(1_000_000_000n, 2_500_000_000n), { shift: -1, mul: 0xcccccccc });
});

test('kvm_get_time_scale: 2000000001 Hz gives the same pair as 2000000000 Hz (shift 0, mul 2^31)', () => {
  assert.equal(t.kvmGetTimeScale(1_000_000_000n, 2_000_000_000n), { shift: 0, mul: 0x80000000 });
  assert.equal(t.kvmGetTimeScale(1_000_000_000n, 2_000_000_001n), { shift: 0, mul: 0x80000000 });
});

test('pvclock at 2.5 GHz, system_time 1e9, tsc_timestamp 1e10', () => {
  const info = { tscTimestamp: 10_000_000_000n, systemTime: 1_000_000_000n, tscToSystemMul: 0xcccccccc, tscShift: -1 };
  assert.is(t.pvclockReadCycles(info, 10_000_000_000n + 2_500_000_000n), 1_999_999_999n);
  // tsc one below the timestamp: the u64 delta wraps to ~2^64, halved by the shift
  assert.is(t.pvclockReadCycles(info, 10_000_000_000n - 1n), 7_378_697_628_765_833_727n);
});

test('VMX ratio for 2.5 -> 3 GHz is 337769972052787 and scales 2.5e9 to 2999999999', () => {
  const ratio = t.kvmTscScalingRatio(3_000_000, 2_500_000, 48);
  assert.is(ratio, 337_769_972_052_787n);
  assert.is(t.kvmScaleTsc(2_500_000_000n, ratio, 48), 2_999_999_999n);
});

test('kvm_scale_tsc truncation: a 2.5 GHz host x1.2 reports 2999999 kHz', () => {
  assert.is(t.kvmScaleTsc(2_500_000n, t.kvmTscScalingRatio(3_000_000, 2_500_000, 48), 48), 2_999_999n);
});

test('pvclock_tsc_khz truncates: a 2399999 kHz host reads back as 2399998 kHz', () => {
  const { shift, mul } = t.kvmGetTimeScale(1_000_000_000n, 2_399_999_000n);
  assert.is(t.pvclockTscKhz({ tscToSystemMul: mul, tscShift: shift }), 2_399_998n);
});

test('nsec_to_cycles at 2.1 GHz: 1e9 ns -> 2099999999 cycles', () => {
  const { shift, mul } = t.kvmGetTimeScale(2_100_000n * 1000n, 1_000_000_000n);
  assert.is(t.nsecToCycles(1_000_000_000n, mul, shift), 2_099_999_999n);
});

// Lines from real boot logs (x86_64 guests and hosts), shared with `tsclab start`.
for (const [line, make] of bootLines) {
  test(`dmesg: ${line}`, () => assert.is(make(), line));
}

test('the TSC registers with mult 6462365, shift 24 and the 124 us floor margin at 2596.142 MHz', () => {
  const r = t.clocksourceRegisterKhz(2_596_142, mask64);
  assert.equal([r.mult, r.shift, r.uncertaintyMargin], [6462365, 24, 124_000]);
  // the older WATCHDOG_MAX_SKEW of 50 us gives the 100 us floor
  assert.is(t.clocksourceRegisterKhz(2_596_142, mask64, { watchdogMaxSkewNs: 50_000 }).uncertaintyMargin, 100_000);
  assert.is(t.clocksourceRegisterJiffies(250).uncertaintyMargin, 32_000_000);
});

test('TICK_NSEC: HZ=1000 -> 1000000 ns, HZ=250 -> 4000000, HZ=300 -> 3333333 (rounded: (1e9 + 150) / 300)', () => {
  assert.equal([1000, 250, 300, 100].map((hz) => t.tickNsec(hz)), [1_000_000n, 4_000_000n, 3_333_333n, 10_000_000n]);
});

test('clocks_calc_mult_shift(19200000, 1e9, 600) = mult 0x34155555, shift 24', () => {
  // the arch timer example worked in the comments of kernel/time/clocksource.c
  assert.equal(t.clocksCalcMultShift(19_200_000, 1_000_000_000, 600), { mult: 0x34155555, shift: 24 });
});

test('kvm_set_tsc_khz: tolerance band, scaling, catch-up, refusal', () => {
  // +-250 ppm of 2.5 GHz is 2499375..2500625 kHz, inclusive
  assert.is(t.kvmSetTscKhz({ userKhz: 2_500_625, hostKhz: 2_500_000, hasTscControl: true }).result, 'no-scaling');
  assert.is(t.kvmSetTscKhz({ userKhz: 2_500_626, hostKhz: 2_500_000, hasTscControl: true }).result, 'scaled');
  assert.is(t.kvmSetTscKhz({ userKhz: 2_499_375, hostKhz: 2_500_000, hasTscControl: false }).result, 'no-scaling');
  assert.is(t.kvmSetTscKhz({ userKhz: 3_000_000, hostKhz: 2_500_000, hasTscControl: false }).result, 'catchup');
  const below = t.kvmSetTscKhz({ userKhz: 2_000_000, hostKhz: 2_500_000, hasTscControl: false });
  assert.equal([below.result, below.reason, below.message], ['error', 'below-host', 'user requested TSC rate below hardware speed']);
  assert.is(t.kvmSetTscKhz({ userKhz: 0, hostKhz: 2_500_000, hasTscControl: true }).reason, 'zero');
  // through the ioctl, 0 means the host rate, and SVM's ratio limit gives max_guest_tsc_khz
  assert.is(t.kvmSetTscKhz({ userKhz: 0, hostKhz: 2_500_000, hasTscControl: true, viaIoctl: true }).result, 'no-scaling');
  const svmMax = t.kvmSetTscKhz({ userKhz: 1, hostKhz: 1_000, hasTscControl: true, fracBits: 32, viaIoctl: true });
  assert.is(svmMax.maxGuestTscKhz, (1000n * 0xFF_FFFF_FFFFn) >> 32n);
  assert.is(t.kvmSetTscKhz({ userKhz: 256_000, hostKhz: 1_000, hasTscControl: true, fracBits: 32, viaIoctl: true }).reason, 'above-max');
});

test('Hyper-V TSC page from a 2.5 GHz pvclock, and its fallback cases', () => {
  const info = { tscTimestamp: 0n, systemTime: 0n, tscToSystemMul: 0xcccccccc, tscShift: -1, flags: t.PVCLOCK_TSC_STABLE_BIT };
  const page = t.hvTscPageParams(info)!;
  // scale = mul_u64_u32_div(1 << 31, 0xcccccccc, 100): 2^31 * 3435973836 / 100
  assert.is(page.scale, (1n << 31n) * 3_435_973_836n / 100n);
  // one second of TSC (2.5e9 cycles) is ~1e7 units of 100 ns, truncated
  assert.is(t.hvReadTscPage(page.scale, page.offset, 2_500_000_000n), 9_999_999n);
  assert.is(t.hvTscPageParams({ ...info, flags: 0 }), null); // not STABLE: sequence 0
  // shift 0: any 32-bit mul is below 100 << 32, so the page is valid
  assert.equal(t.hvTscPageParams({ ...info, tscShift: 0, tscToSystemMul: 0xffffffff }),
    { scale: (1n << 32n) * 0xffffffffn / 100n, offset: 0n });
  assert.is(t.hvTscPageParams({ ...info, tscShift: 31, tscToSystemMul: 200 }), null); // mul >= 100 << 1
});

test('perf_event_mmap_page conversion', () => {
  // time_mult/time_shift for a 2.5 GHz TSC as perf sets them (cyc2ns: mult = 1e9 << 31 / 2.5e9)
  const p = { timeZero: 1000n, timeMult: 858993459, timeShift: 31 };
  const ns = t.perfTscToNs(2_500_000_000n, p);
  assert.is(ns, 1000n + (2_500_000_000n >> 31n) * 858993459n + (((2_500_000_000n & ((1n << 31n) - 1n)) * 858993459n) >> 31n));
  // cap_user_time_short: a 32-bit counter value is widened against time_cycles first
  // time_cycles + ((5 - time_cycles) & time_mask) = 0x1_0000_0005: quot 2, rem 5; 5 x 858993459 >> 31 = 1
  const short = { ...p, timeCycles: 0x1_0000_0000n, timeMask: 0xffff_ffffn };
  assert.is(t.perfTscToNs(5n, short), 1000n + 2n * 858993459n + 1n);
  assert.is(t.perfTscToNs(0xffff_ffffn, { ...short, timeCycles: 0x2_0000_0001n }), 1000n + 5n * 858993459n + ((0x7fff_ffffn * 858993459n) >> 31n),
    'a value below time_cycles\' low half is the next wrap: 0x2_ffff_ffff');
});

test.run();
