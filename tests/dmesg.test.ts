// tsclab dmesg on a boot log: the clocksource lines are ones real kernels
// printed; the watchdog block's figures are computed here with the BigInt
// oracle (not the Wasm kernel the analyser uses). The TSC ADJUST lines are
// seed 000's real log (tests/fixtures/seed-000-dmesg.txt), not tsclab's output.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { kernel } from '../bindings/index.js';
import * as o from '../oracle/index.js';
import { analyzeDmesg } from '../tools/dmesg.js';

const hex = (v: bigint) => v.toString(16);
// a watchdog block: tsc (2596.142 MHz) against hpet (14.318180 MHz) over ~0.5 s with a 2 ms skew
const tscReg = o.clocksourceRegisterKhz(2_596_142n, o.U64), hpetReg = o.clocksourceRegisterHz(14_318_180n, 0xffffffffn);
const wdLast = 0x39ae1a48n, wdNow = wdLast + 7_159_090n;                  // 0.5 s of HPET
const csLast = 0x2a4b1f8bb4en, csNow = csLast + 1_303_263_284n;           // ~0.502 s of TSC
const wdNsec = o.clocksourceCyc2ns(wdNow - wdLast, hpetReg.mult, hpetReg.shift);
const csNsec = o.mulU64U32Shr(csNow - csLast, tscReg.mult, tscReg.shift);

const log = `
[    0.000000] Linux version 5.14.0 (mockbuild@x86-vm) (gcc) #1 SMP
[    0.000000] tsc: Detected 2596.142 MHz processor
[    0.000000] clocksource: refined-jiffies: mask: 0xffffffff max_cycles: 0xffffffff, max_idle_ns: 7645519600211568 ns
[    0.000000] clocksource: kvm-clock: mask: 0xffffffffffffffff max_cycles: 0x1cd42e4dffb, max_idle_ns: 881590591483 ns
[    0.000000] clocksource: tsc-early: mask: 0xffffffffffffffff max_cycles: 0x256bff54918, max_idle_ns: 440795222839 ns
[    0.120000] clocksource: jiffies: mask: 0xffffffff max_cycles: 0xffffffff, max_idle_ns: 7645041785100000 ns
[    0.520000] hpet0: 3 comparators, 64-bit 14.318180 MHz counter
[    0.530000] clocksource: hpet: mask: 0xffffffff max_cycles: 0xffffffff, max_idle_ns: 133484873504 ns
[    0.612345] clocksource: acpi_pm: mask: 0xffffff max_cycles: 0xffffff, max_idle_ns: 2085701024 ns
[    0.700000] sched_clock: Marking stable (701234567, -16655)->(702110123, -892211)
[    1.234567] clocksource: tsc: mask: 0xffffffffffffffff max_cycles: 0x256bff54918, max_idle_ns: 440795222839 ns
[    1.300000] clocksource tsc: mask: 0xffffffffffffffff max_cycles: 0x256bff54919, max_idle_ns: 440795222839 ns
[    1.400000] some driver: unrelated line 0x1234
[10360480.000000] clocksource: timekeeping watchdog on CPU1: Marking clocksource 'tsc' as unstable because the skew is too large:
[10360480.000000] clocksource:                       'hpet' wd_nsec: ${wdNsec} wd_now: ${hex(wdNow)} wd_last: ${hex(wdLast)} mask: ffffffff
[10360480.000000] clocksource:                       'tsc' cs_nsec: ${csNsec} cs_now: ${hex(csNow)} cs_last: ${hex(csLast)} mask: ffffffffffffffff
[10360481.000000] TSC ADJUST compensate: CPU3 observed 12x4 warp. Adjust: 5
`;
const r = analyzeDmesg(log, kernel);
const at = (n: number) => r.findings.filter((f) => f.line === n);

test('every real clocksource line recomputes from the rates the log states; HZ inferred', () => {
  for (const line of [4, 5, 6, 7, 9, 10, 12]) assert.is(at(line)[0]?.verdict, 'match', `line ${line}: ${at(line)[0]?.text}`);
  assert.is(r.hz, 250);
  assert.is(r.tscKhz, 2_596_142);
});

test('a changed digit is a mismatch with the expected line; the 4.0-era "clocksource NAME:" wording is read', () => {
  const f = at(13)[0];
  assert.is(f.verdict, 'mismatch');
  assert.is(f.expected, 'clocksource: tsc: mask: 0xffffffffffffffff max_cycles: 0x256bff54918, max_idle_ns: 440795222839 ns');
});

test('sched_clock: Marking stable (a, b)->(c, d) checks a + b - c = d', () => {
  assert.is(at(11)[0].verdict, 'match');
  const bad = analyzeDmesg('[ 0.7] sched_clock: Marking stable (1, 2)->(3, 4)', kernel).findings[0];
  assert.is(bad.verdict, 'mismatch');
  assert.is(bad.expected, '0');
});

// seed 000's ring buffer as the seed document quotes it: no "tsc: Detected" line, so no rate is known
const seed0 = readFileSync(new URL('./fixtures/seed-000-dmesg.txt', import.meta.url), 'utf8');
const WARP = 13_266_090_348_023_396n;
// the stamps around "[5180103.272764] TSC ADJUST compensate": the line is printed before the WRMSR
// (arch/x86/kernel/tsc_sync.c: pr_warn, then wrmsrl(MSR_IA32_TSC_ADJUST)), so the leap shows on the next line
const LEAP_NS = (11_224_312_559_644n - 5_180_103_272_764n) * 1000n; // 6044209.28688 s

test('seed 000\'s real log: the TSC ADJUST line is read, the leap found on the next stamped line, the implied rate ~2195 MHz', () => {
  const r0 = analyzeDmesg(seed0, kernel);
  const adj = r0.findings.filter((f) => f.kind === 'tsc-adjust');
  assert.is(adj.length, 1);
  const f = adj[0];
  assert.is(f.line, 7, 'the fixture\'s 7th line');
  assert.is(f.stamp, 5_180_103_272_764_000n);
  assert.ok(f.text.startsWith(`CPU8 was ${WARP} cycles behind; TSC_ADJUST set to ${WARP}`), f.text);
  assert.ok(f.text.includes('this line\'s timestamp is 0.022 s after the previous one'), f.text); // 5180103.272764 - 5180103.249992
  assert.ok(f.text.includes('the next line\'s 6044209.286 s after it'), f.text);
  // warp cycles / leap ns = cycles per ns; x 10^6 = kHz: 2194842.98 -> 2194842 (the ~2195 MHz the log's figures imply)
  const khz = (WARP * 1_000_000n) / LEAP_NS;
  assert.is(khz, 2_194_842n);
  assert.ok(f.text.includes(`the timestamps leapt by the warp at ${khz} kHz (the rate at which the warp is the leap; the log states none)`), f.text);
  assert.is(f.scenario, 'seed-000-tsc-adjust-hotplug');
});

test('seed 000\'s log with a stated rate (constructed: a "tsc: Detected" line prepended): the warp in seconds at that rate, the leap matched', () => {
  const withRate = analyzeDmesg(`[    0.000000] tsc: Detected 2194.843 MHz processor\n${seed0}`, kernel);
  const f = withRate.findings.find((x) => x.kind === 'tsc-adjust')!;
  const secs = (WARP * 1_000_000n) / 2_194_843n / 1_000_000_000n; // 6044206 s at 2194843 kHz
  assert.ok(f.text.includes(`= ${secs}.`) && f.text.includes('at 2194843 kHz'), f.text);
  assert.match(f.text, /: the timestamps leapt by the warp -- the new CPU's TSC/);
  // a rate at which the warp is 4x the leap: no "leapt by the warp", only the size note
  const slow = analyzeDmesg(`[    0.000000] tsc: Detected 548.710 MHz processor\n${seed0}`, kernel).findings.find((x) => x.kind === 'tsc-adjust')!;
  assert.not.match(slow.text, /leapt/);
  assert.match(slow.text, /\. A warp of this size is a new CPU whose TSC started near 0/);
});

test('seed 000\'s TSC ADJUST line with no leap around it (constructed: the next line 0.1 s later): nothing claimed: no leap, no rate, no size verdict', () => {
  const lines = seed0.split('\n');
  const quiet = lines.map((l) => l.replace(/^\[11224312\.559644\]/, '[5180103.372764]')).join('\n');
  const f = analyzeDmesg(quiet, kernel).findings.find((x) => x.kind === 'tsc-adjust')!;
  assert.is(f.text, `CPU8 was ${WARP} cycles behind; TSC_ADJUST set to ${WARP}; this line's timestamp is 0.022 s after the previous one`,
    'without a rate or a leap the cycles cannot be turned into time: the analyser says only what the line says');
});

test('the watchdog block: cs_nsec and wd_nsec recompute; skew against the margins', () => {
  const f = at(15)[0];
  assert.is(f.verdict, 'match', f.text);
  const skew = csNsec - wdNsec;
  assert.ok(f.text.includes(`skew ${skew} ns against a margin of ${BigInt(tscReg.uncertaintyMargin + hpetReg.uncertaintyMargin)} ns`), f.text);
  const wrong = analyzeDmesg(log.replace(`cs_nsec: ${csNsec}`, `cs_nsec: ${csNsec + 1n}`), kernel).findings.find((x) => x.kind === 'watchdog')!;
  assert.is(wrong.verdict, 'mismatch');
});

test('a malformed number on a recognised line is reported, not thrown; other lines are skipped', () => {
  assert.is(at(18)[0].verdict, 'malformed');
  assert.is(at(14).length, 0);
  assert.is(r.summary.malformed, 1);
  assert.not.throws(() => analyzeDmesg('\u0000garbage\n[abc] clocksource: x: mask: 0xq max_cycles: 0x1, max_idle_ns: 1 ns\n', kernel));
});

test('a rate or number the kernel\'s types cannot hold is one malformed line; the analysis goes on; MHz parsed exactly', () => {
  const kvm = '[    0.000000] clocksource: kvm-clock: mask: 0xffffffffffffffff max_cycles: 0x1cd42e4dffb, max_idle_ns: 881590591483 ns';
  const tsc = '[    1.234567] clocksource: tsc: mask: 0xffffffffffffffff max_cycles: 0x256bff54918, max_idle_ns: 440795222839 ns';
  const r = analyzeDmesg([
    '[    0.000000] tsc: Detected 2596.142 MHz processor',
    '[    0.000000] tsc: Detected 4294967.296 MHz processor', // 2^32 kHz: the kernel's tsc_khz is a u32
    kvm,
    '[    0.100000] clocksource: tsc-early: mask: 0x1ffffffffffffffffffff max_cycles: 0x256bff54918, max_idle_ns: 440795222839 ns',
    '[    0.200000] clocksource: hpet: mask: 0xffffffff max_cycles: 0xffffffff, max_idle_ns: 99999999999999999999999 ns',
    tsc,
    '[    1.300000] tsc: Refined TSC clocksource calibration: 9007199254740993.999 MHz',
    '[    1.400000] hpet0: 3 comparators, 64-bit 0.000000 MHz counter',
  ].join('\n'), kernel);
  const v = r.findings.map((f) => [f.line, f.verdict]);
  assert.equal(v, [[1, 'note'], [2, 'malformed'], [3, 'match'], [4, 'malformed'], [5, 'malformed'], [6, 'match'], [7, 'malformed'], [8, 'malformed']]);
  assert.is(r.tscKhz, 2_596_142, 'the rates the kernel could not have printed are left out');
  assert.match(r.findings[1].text, /4294967\.296 MHz is 4294967296 kHz, outside the kernel's 1\.\.4294967295 kHz \(u32\)/);
  // exact: the float path gave 9007199254740993000
  assert.match(r.findings[6].text, /9007199254740993\.999 MHz is 9007199254740993999 kHz/);
  assert.match(r.findings[3].text, /mask must be in 0\.\.2\^64-1|malformed/);
  assert.is(r.summary.malformed, 5);
  // a watchdog block whose figures do not fit a u64: that block is malformed (the API refused it), the next line is read
  const wd = analyzeDmesg([
    '[    0.000000] tsc: Detected 2596.142 MHz processor',
    "[    9.000000] clocksource: timekeeping watchdog on CPU1: Marking clocksource 'tsc' as unstable because the skew is too large:",
    "[    9.000000] clocksource:                       'hpet' wd_nsec: 5 wd_now: 10 wd_last: 0 mask: ffffffff",
    "[    9.000000] clocksource:                       'tsc' cs_nsec: 5 cs_now: fffffffffffffffffffff cs_last: 0 mask: fffffffffffffffffffff",
    kvm,
  ].join('\n'), kernel);
  assert.equal(wd.findings.map((f) => [f.line, f.verdict]), [[1, 'note'], [2, 'malformed'], [5, 'match']]);
  assert.match(wd.findings[1].text, /^clocksourceRegisterKhz: mask must be in 0\.\.2\^64-1 \(u64\)/);
  // a line longer than any kernel line is not checked (no regex runs over it)
  const long = analyzeDmesg(`[    0.000000] hpet0: ${'9 '.repeat(1_000_000)}`, kernel);
  assert.equal(long.findings.map((f) => f.verdict), ['malformed']);
  assert.match(long.findings[0].text, /a line of 2000022 characters/);
});

test.run();
