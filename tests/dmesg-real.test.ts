// tsclab dmesg on real kernel logs (tests/fixtures/dmesg/README.md names where each comes from, and
// tests/fixtures/seed-000-dmesg.txt): every line with a clock figure is recomputed, explained or named as not
// understood, none is a false mismatch; and one digit changed in any clock figure of a clocksource, watchdog, TSC or
// delay-loop line is caught (a mismatch or malformed line), except the figures a line carries no redundancy for,
// listed below with the reason.
import { readFileSync, readdirSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { kernel } from '../bindings/index.js';
import { analyzeDmesg, hpetHzOfPeriod, COMMON_HPET_PERIODS } from '../tools/dmesg.js';

const dir = new URL('./fixtures/dmesg/', import.meta.url);
const logs = [...readdirSync(dir).filter((f) => f.endsWith('.txt')).map((f) => [f, readFileSync(new URL(f, dir), 'utf8')] as const),
  ['seed-000-dmesg.txt', readFileSync(new URL('./fixtures/seed-000-dmesg.txt', import.meta.url), 'utf8')] as const];
const STAMP = /^(?:[A-Z][a-z]{2} [ \d]\d [\d:]{8} \S+ kernel: )?\s*\[\s*\d+\.\d+\]\s?/;

test('the real logs: no false mismatch, nothing malformed, every clock line read', () => {
  assert.ok(logs.length >= 14, `${logs.length} logs`);
  for (const [name, text] of logs) {
    const r = analyzeDmesg(text, kernel);
    assert.is(r.summary.mismatch + r.summary.malformed, 0, `${name}: ${r.findings.filter((f) => f.verdict === 'mismatch' || f.verdict === 'malformed').map((f) => `${f.line}: ${f.text}`).join('; ')}`);
    assert.equal(r.findings.filter((f) => f.kind === 'not-understood').map((f) => f.text), [], name);
  }
});

test('the HPET rate is inferred as the kernel derives it (10^15 / hpet_period fs, truncated) and named', () => {
  assert.is(hpetHzOfPeriod(69841278), 14_318_180);
  assert.is(hpetHzOfPeriod(69841279), 14_318_179, '10^15 / 69841279 = 14318179.94: do_div truncates');
  assert.is(hpetHzOfPeriod(10000000), 100_000_000);
  const rate = (f: string) => analyzeDmesg(logs.find(([n]) => n === f)![1], kernel);
  const cases: [string, number, number][] = [['boot-5.4-pit.txt', 14_318_180, 69841278], ['boot-4.4-pit.txt', 14_318_179, 69841279],
    ['boot-6.x-24mhz-hpet.txt', 23_999_999, 41666667], ['vdsm-kvm-4.4.txt', 100_000_000, 10000000]];
  for (const [f, hz, period] of cases) {
    const r = rate(f);
    assert.is(r.hpetHz, hz, f);
    const line = r.findings.find((x) => x.text.startsWith('clocksource hpet'))!;
    assert.is(line.verdict, 'match', line.text);
    assert.ok(line.text.includes(`consistent with hpet_period ${period} fs`), line.text);
    assert.ok(COMMON_HPET_PERIODS.some(([p]) => p === period));
  }
});

test('HZ: a jiffies line that another line contradicts is a mismatch; one no CONFIG_HZ prints is a mismatch, not unknown', () => {
  const jiffies1000 = '[    0.000000] clocksource: refined-jiffies: mask: 0xffffffff max_cycles: 0xffffffff, max_idle_ns: 1910969940391419 ns';
  const jiffies250 = '[    0.120000] clocksource: jiffies: mask: 0xffffffff max_cycles: 0xffffffff, max_idle_ns: 7645041785100000 ns';
  const r = analyzeDmesg(`${jiffies1000}\n${jiffies250}`, kernel);
  assert.is(r.hz, 1000);
  assert.equal(r.findings.map((f) => f.verdict), ['match', 'mismatch']);
  assert.is(r.findings[1].expected, 'clocksource: jiffies: mask: 0xffffffff max_cycles: 0xffffffff, max_idle_ns: 1911260446275000 ns');
  const odd = analyzeDmesg(jiffies250.replace('7645041785100000', '7645041785100001'), kernel).findings[0];
  assert.is(odd.verdict, 'mismatch', odd.text);
  // the delay loop's BogoMIPS fixes HZ too: lpj=10446476 prints 5223.23 at HZ=250 only
  const dl = analyzeDmesg(`${jiffies1000}\n[    0.100000] Calibrating delay loop (skipped), value calculated using timer frequency.. 5223.23 BogoMIPS (lpj=10446476)`, kernel);
  assert.is(dl.findings[1].verdict, 'mismatch', dl.findings[1].text);
});

/** Digits of clock figures: every number after the stamp, except CPU numbers and loop counts (not clock figures). */
function figureDigits(body: string): number[] {
  const out: number[] = [];
  for (const m of body.matchAll(/(?<![\w#])(?:0x)?[0-9a-f]*\d[0-9a-f]*(?:\.\d+)?/gi)) {
    const before = body.slice(0, m.index);
    if (/CPU ?#?$|cpu $|Processor $|APIC 0x$|\{ $|by $|q=$|g=$|c=$|, $|\. $|ncpus=$/.test(before) && !/max_cycles: $/.test(before)) continue;
    if (/^\d+ loops/.test(body.slice(m.index!))) continue;
    for (let i = 0; i < m[0].length; i++) if (/[0-9a-f]/i.test(m[0][i]) && !(m[0][i] === '0' && m[0][i + 1] === 'x')) out.push(m.index! + i);
  }
  return out;
}
/** Lines whose figures nothing else in the log fixes: the pre-5.14 watchdog block prints now/last only (no nsec), a
 *  rate line is checked through the lines computed from it (a log with none of those cannot catch it). */
const UNCHECKABLE = /wd_now: [0-9a-f]+ wd_last|cs_now: [0-9a-f]+ cs_last|sched_clock: Marking unstable|kvm-clock: using sched offset|kvm-stealtime|msr [0-9a-f:]+, (primary|secondary)|RCU calculated/;
const CHECKED = /clocksource|watchdog|tsc|TSC|hpet|BogoMIPS/;

test('one digit changed in any clock figure of a clocksource, watchdog, TSC or delay-loop line is caught', () => {
  const missed: string[] = [];
  let tried = 0;
  for (const [name, text] of logs) {
    const lines = text.split('\n');
    lines.forEach((line, i) => {
      if (line.startsWith('#') || !CHECKED.test(line) || UNCHECKABLE.test(line)) return;
      const stamp = STAMP.exec(line)?.[0] ?? '';
      const body = line.slice(stamp.length);
      for (const at of figureDigits(body)) {
        const c = body[at];
        const to = c === '9' ? '8' : String.fromCharCode(c.charCodeAt(0) + 1).replace(':', '0').replace('g', 'a').replace('G', 'A');
        const bad = [...lines];
        bad[i] = stamp + body.slice(0, at) + to + body.slice(at + 1);
        const r = analyzeDmesg(bad.join('\n'), kernel);
        tried++;
        if (r.summary.mismatch + r.summary.malformed === 0) missed.push(`${name}:${i + 1}: ${bad[i]}`);
      }
    });
  }
  assert.ok(tried > 300, `${tried} corrupted logs`);
  assert.equal(missed, [], `${missed.length} of ${tried} not caught`);
});

test('the lines without a figure to check are explained, with the scenario that reproduces them', () => {
  const r = analyzeDmesg(logs.find(([n]) => n === 'propolis-376-migration.txt')![1], kernel);
  const kinds = r.findings.map((f) => [f.line, f.kind, f.scenario ?? null]);
  assert.equal(kinds, [[2, 'watchdog', 'seed-002-precise-migration'], [5, 'tsc-unstable', 'seed-002-precise-migration'], [6, 'tsc-unstable', null],
    [7, 'sched-clock-unstable', 'seed-002-precise-migration'], [8, 'watchdog', null]]);
  assert.match(r.findings[0].text, /'acpi_pm' advanced 1830640 cycles = 0\.511 s/);
  assert.match(r.findings[3].text, /a step of \+5\.951 µs/);
  const seed0 = analyzeDmesg(logs.find(([n]) => n === 'seed-000-dmesg.txt')![1], kernel);
  const rcu = seed0.findings.filter((f) => f.kind === 'rcu-stall');
  assert.is(rcu.length, 2);
  assert.match(rcu[1].text, /t=6043918845 jiffies = 6043918\.845 s at HZ=1000.*jiffies leapt/);
  assert.is(rcu[1].scenario, 'seed-000-tsc-adjust-hotplug');
  const kvm = seed0.findings.find((f) => f.kind === 'kvm-clock' && f.text.includes('pvclock'))!;
  assert.match(kvm.text, /CPU8's pvclock area at guest-physical 0x43ff88200.*the boot array at 0x43ff88000 \+ 8 x 64 bytes/);
});

test('the watchdog in its 2026 form (tsclab\'s printk model of 763aacf86f: no real log yet) and the 6.x "skewed" line', () => {
  const freq = analyzeDmesg([
    '[  100.000000] clocksource: Marking clocksource tsc unstable due to frequency skew',
    '[  100.000000] clocksource: Watchdog             kvm-clock interval:        500000000ns',
    '[  100.000000] clocksource: Clocksource                tsc interval:        503000000ns',
  ].join('\n'), kernel);
  assert.equal(freq.findings.map((f) => f.verdict), ['match']);
  assert.match(freq.findings[0].text, /differ by 3000000 ns = 5964 ppm/);
  const under = analyzeDmesg(freq.findings.length ? [
    '[  100.000000] clocksource: Marking clocksource tsc unstable due to frequency skew',
    '[  100.000000] clocksource: Watchdog             kvm-clock interval:        500000000ns',
    '[  100.000000] clocksource: Clocksource                tsc interval:        500100000ns'].join('\n') : '', kernel);
  assert.equal(under.findings.map((f) => f.verdict), ['mismatch']);
  const inter = analyzeDmesg('[    9.000000] clocksource: Marking clocksource tsc unstable due to inter CPU skew\n[    9.000000] clocksource: CPU2             1000 < CPU0             5000 (cycles)', kernel);
  assert.equal(inter.findings.map((f) => [f.verdict, f.scenario]), [['match', 'seed-000-tsc-adjust-hotplug']]);
  // 6.x: the fourth line restates cs_nsec - wd_nsec and wd_nsec in ns and ms
  const block = (skewed: string) => analyzeDmesg([
    '[    0.000000] tsc: Detected 2596.142 MHz processor',
    "[   20.000000] clocksource: timekeeping watchdog on CPU1: Marking clocksource 'tsc' as unstable because the skew is too large:",
    "[   20.000000] clocksource:                       'hpet' wd_nsec: 503123208 wd_now: 3a0aa7f5 wd_last: 39ae1a48 mask: ffffffff",
    "[   20.000000] clocksource:                       'tsc' cs_nsec: 502002000 cs_now: 2a4d5b6a3e8 cs_last: 2a4b1f8bb4e mask: ffffffffffffffff",
    `[   20.000000] clocksource:                       ${skewed}`,
    "[   20.000000] clocksource:                       'kvm-clock' is current clocksource.",
  ].join('\n'), kernel).findings.filter((f) => f.kind === 'watchdog');
  const good = block("Clocksource 'tsc' skewed -1121208 ns (-1 ms) over watchdog 'hpet' interval of 503123208 ns (503 ms)");
  assert.is(good.length, 1);
  assert.match(good[0].text, /the "skewed" line agrees/);
  assert.is(block("Clocksource 'tsc' skewed -1121208 ns (-1 ms) over watchdog 'hpet' interval of 503123208 ns (502 ms)")[0].verdict, 'mismatch');
});

test.run();
