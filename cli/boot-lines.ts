// clocksource registration lines copied from real Linux boot logs (x86_64 guests and hosts),
// each with the call that recomputes it. `tsclab start` checks the kernel against them and
// the test suite holds them as known values: the expected text comes from the logs, never from tsclab.
import * as t from '../bindings/index.js';

const mask64 = t.clocksourceMask(64);
const mask32 = t.clocksourceMask(32);

export const bootLines: readonly (readonly [line: string, recompute: () => string])[] = [
  ['clocksource: tsc: mask: 0xffffffffffffffff max_cycles: 0x256bff54918, max_idle_ns: 440795222839 ns',
    () => t.formatClocksourceLine('tsc', mask64, t.clocksourceRegisterKhz(2_596_142, mask64))],
  ['clocksource: kvm-clock: mask: 0xffffffffffffffff max_cycles: 0x1cd42e4dffb, max_idle_ns: 881590591483 ns',
    () => t.formatClocksourceLine('kvm-clock', mask64, t.clocksourceRegisterHz(1_000_000_000, mask64))],
  ['clocksource: hpet: mask: 0xffffffff max_cycles: 0xffffffff, max_idle_ns: 133484873504 ns',
    () => t.formatClocksourceLine('hpet', mask32, t.clocksourceRegisterHz(14_318_180, mask32))],
  ['clocksource: acpi_pm: mask: 0xffffff max_cycles: 0xffffff, max_idle_ns: 2085701024 ns',
    () => t.formatClocksourceLine('acpi_pm', t.clocksourceMask(24), t.clocksourceRegisterHz(3_579_545, t.clocksourceMask(24)))],
  ['clocksource: jiffies: mask: 0xffffffff max_cycles: 0xffffffff, max_idle_ns: 7645041785100000 ns',
    () => t.formatClocksourceLine('jiffies', 0xffffffffn, t.clocksourceRegisterJiffies(250))],
  ['clocksource: refined-jiffies: mask: 0xffffffff max_cycles: 0xffffffff, max_idle_ns: 7645519600211568 ns',
    () => t.formatClocksourceLine('refined-jiffies', 0xffffffffn, t.clocksourceRegisterRefinedJiffies(250))],
  ['clocksource: jiffies: mask: 0xffffffff max_cycles: 0xffffffff, max_idle_ns: 1911260446275000 ns',
    () => t.formatClocksourceLine('jiffies', 0xffffffffn, t.clocksourceRegisterJiffies(1000))],
  ['clocksource: refined-jiffies: mask: 0xffffffff max_cycles: 0xffffffff, max_idle_ns: 1910969940391419 ns',
    () => t.formatClocksourceLine('refined-jiffies', 0xffffffffn, t.clocksourceRegisterRefinedJiffies(1000))],
  ['clocksource: jiffies: mask: 0xffffffff max_cycles: 0xffffffff, max_idle_ns: 19112604462750000 ns',
    () => t.formatClocksourceLine('jiffies', 0xffffffffn, t.clocksourceRegisterJiffies(100))],
];
