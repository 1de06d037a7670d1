// kernel/time/clocksource.c: the clocksource watchdog, in its two forms.
//
// 'per-cpu' (to 2025): a timer every WATCHDOG_INTERVAL (HZ / 2 jiffies) on each online CPU in turn
// (add_timer_on(next cpu)) reads the watchdog (kvm-clock in a KVM guest) and the watched clocksource (tsc)
// on that CPU and compares their advance since the previous round -- which ran on another CPU, so TSCs
// that disagree between CPUs show up as skew too. A skew over the margin ("skew is too large") marks tsc
// unstable: the two uncertainty margins (5.14+), WATCHDOG_THRESHOLD (62.5 ms) before; intervals over 1 s
// are skipped (5.x+: "Long readout interval, skipping watchdog check"). clocksource_touch_watchdog()
// (GUEST_STOPPED) makes the next round start afresh.
// 'boot-cpu' (Thomas Gleixner's rewrite, 763aacf86f, 2026): the timer stays on the boot CPU; it checks the
// frequency there (watchdog_check_freq: the advances must differ by less than (max_delta >> 8) + wd_seq, 3.9 per
// mille, when the clocksources are not both CALIBRATED -- kvm-clock is not; wd_seq, the reference's readout time,
// is 0 in the model, whose reads take no time; an interval over tsc's max_idle_ns resets instead of judging) and
// compares one other CPU's TSC with its own per round, round robin (watchdog_check_cpu_skew: a ping-pong in
// which any read smaller than the other CPU's before it is "inter CPU skew" -- a TSC apart from the boot CPU's
// by more than a cross-CPU hand-off, 100 ns in the model).
import * as printk from './printk.js';

const NSEC_PER_SEC = 1_000_000_000n;

export type WatchdogForm = 'per-cpu' | 'boot-cpu';

export interface Watchdog {
  form: WatchdogForm;
  /** tsc is watched (kvm-clock is the watchdog; tsc is neither unstable nor trusted by tsc=reliable). */
  on: boolean;
  intervalJiffies: bigint;
  /** jiffies of the next round. */
  nextJiffies: bigint;
  /** The CPU the next round runs on (per-cpu form), or the next CPU compared (boot-cpu form). */
  cpu: number;
  /** cs_last (tsc cycles) and wd_last (kvm-clock ns); null: the next round re-initialises. */
  csLast: bigint | null;
  wdLast: bigint;
  /** md: the margin over which the skew is a verdict (per-cpu form). */
  marginNs: bigint;
  /** Skip intervals longer than 2 * WATCHDOG_INTERVAL (5.x+, per-cpu form). */
  skipLong: boolean;
  /** tsc's max_idle_ns: the boot-cpu form resets over it (WD_FREQ_RESET). */
  maxIdleNs: bigint;
  intervalNs: bigint;
  tscMult: bigint;
  tscShift: bigint;
  tscKhz: bigint;
}

export interface WatchdogVerdict {
  kind: 'skew' | 'frequency' | 'inter-cpu';
  cpu: number;
  lines: string[];
}

/** A round on `cpu` with its kvm-clock and tsc now (per-cpu form), or a boot-CPU round (boot-cpu form). */
export function watchdogRound(w: Watchdog, o: { cpu: number; wd: bigint; cs: bigint; bootWd: bigint; bootCs: bigint;
  otherCs: bigint | null; logStyle: printk.LogStyle }): WatchdogVerdict | null {
  const boot = w.form === 'boot-cpu';
  const wdNow = boot ? o.bootWd : o.wd, csNow = boot ? o.bootCs : o.cs;
  const last = w.csLast, wdLast = w.wdLast;
  w.csLast = csNow;
  w.wdLast = wdNow;
  let verdict: WatchdogVerdict | null = null;
  if (last !== null) {
    const csNs = ((csNow - last) & ((1n << 64n) - 1n)) * w.tscMult >> w.tscShift;
    const wdNs = BigInt.asIntN(64, wdNow - wdLast);
    const maxDelta = csNs > wdNs ? csNs : wdNs;
    const long = boot ? maxDelta > w.maxIdleNs : w.skipLong && (csNs > 2n * w.intervalNs || wdNs > 2n * w.intervalNs);
    if (wdNs >= 0n && !long) {
      const skew = csNs > wdNs ? csNs - wdNs : wdNs - csNs;
      if (!boot && skew > w.marginNs) {
        verdict = { kind: 'skew', cpu: o.cpu,
          lines: printk.watchdogSkew(o.logStyle, { cpu: o.cpu, csNs, wdNs, csNow, csLast: last, wdNow, wdLast }) };
      }
      // the rewrite's frequency check: it passes while skew < (max_delta >> SHIFT_4000PPM) + wd_seq (wd_seq = 0)
      if (boot && skew >= maxDelta >> 8n) {
        verdict = { kind: 'frequency', cpu: 0, lines: printk.watchdogFrequency(wdNs, csNs) };
      }
    }
  }
  if (boot && verdict === null && o.otherCs !== null) {
    // the ping-pong with one other CPU: its TSC read after the boot CPU's must not be smaller (a cross-CPU
    // readout takes ~100 ns: a TSC behind by more than that shows), nor the boot CPU's next read smaller than it
    const latency = (w.tscKhz * 100n) / 1_000_000n;
    const [a, b] = [o.bootCs, o.otherCs];
    const behind = BigInt.asIntN(64, a - b);
    if (behind > latency || -behind > latency) {
      const [lo, hi]: [number, bigint][] = behind > 0n ? [[o.cpu, b], [0, a]] : [[0, a], [o.cpu, b]];
      verdict = { kind: 'inter-cpu', cpu: o.cpu, lines: printk.watchdogInterCpu(lo, hi) };
    }
  }
  if (verdict) w.on = false;
  return verdict;
}

/** clocksource_touch_watchdog(): the next round re-initialises. */
export function clocksourceTouchWatchdog(w: Watchdog): void {
  w.csLast = null;
}

/** The margin: the two uncertainty margins since 5.14 (6.x wording), WATCHDOG_THRESHOLD (NSEC_PER_SEC >> 4) before. */
export function watchdogMargin(logStyle: string, tscMarginNs: number, kvmMarginNs: number): bigint {
  return logStyle === '6.x' ? BigInt(tscMarginNs + kvmMarginNs) : NSEC_PER_SEC >> 4n;
}

/** The form a guest kernel has: the rewrite from 7.1 (its release is not verified: see docs/model.md). */
export function watchdogFormFor(kernel: string, override?: WatchdogForm): WatchdogForm {
  if (override) return override;
  const m = /^(\d+)\.(\d+)/.exec(kernel);
  if (!m) return 'per-cpu';
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > 7 || (maj === 7 && min >= 1) ? 'boot-cpu' : 'per-cpu';
}
