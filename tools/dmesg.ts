// Reading a real Linux boot log: every timekeeping line tsclab can check is
// recomputed from what the log itself states (the TSC and HPET rates, the HZ
// the jiffies lines imply), with the kernel's own formulas from the Wasm
// kernel; lines it does not recognise are skipped; a malformed number on a
// recognised line (or one the kernel's types cannot hold) is reported as
// `malformed` and the analysis goes on, never thrown.
import { formatClocksourceLine, type ClocksourceRegistration, type Kernel } from '../bindings/index.js';
import { isArgumentError } from '../bindings/check.js';
import { exactDecimal, nsOf, U64 } from '../sim/units.js';

export interface DmesgFinding {
  line: number;
  /** The printk timestamp, in ns, when the line has one. */
  stamp?: bigint;
  kind: 'clocksource' | 'watchdog' | 'tsc-adjust' | 'tsc-warp' | 'sched-clock-stable' | 'tsc-rate' | 'malformed';
  verdict: 'match' | 'mismatch' | 'note' | 'unknown' | 'malformed';
  text: string;
  /** What tsclab computed, for mismatches. */
  expected?: string;
  /** A built-in scenario that reproduces this, where one fits. */
  scenario?: string;
}

export interface DmesgReport {
  findings: DmesgFinding[];
  tscKhz?: number;
  hz?: number;
  summary: { recognised: number; match: number; mismatch: number; malformed: number };
}

const STAMP = /^\s*(?:<\d+>)?\[\s*(\d+)\.(\d{6})\]\s?(.*)$/;
const HZ_CANDIDATES = [100, 250, 300, 1000, 24, 48, 64, 128, 200, 256, 500, 512, 1024];
const MARGIN_FLOOR = 124_000n; // 2 * WATCHDOG_MAX_SKEW (62 us), the recent uncertainty-margin floor

/** A kernel log line is at most ~1024 characters (PRINTK_MESSAGE_MAX); longer ones are not read as kernel lines. */
export const MAX_DMESG_LINE = 4096;
const U32_MAX = 0xFFFFFFFFn;

/**
 * A rate in MHz with up to `digits` decimals, as the kernel prints it ("%lu.%03lu MHz"), scaled to 10^-digits MHz
 * exactly (BigInt on the digit strings, never a float): "2596.142" -> 2596142 (kHz). The kernel holds it in a u32:
 * outside 1..2^32-1 it is not a rate the kernel printed; then the reason, as a string.
 */
function mhzScaled(text: string, digits: number, unit: string): number | string {
  const v = exactDecimal(text, digits);
  if (v === null || v < 0n) return `"${text.slice(0, 40)}" MHz is not a rate with up to ${digits} decimals`;
  if (v === 0n || v > U32_MAX) return `${text} MHz is ${v} ${unit}, outside the kernel's 1..${U32_MAX} ${unit} (u32)`;
  return Number(v);
}
const mhzToKhz = (text: string) => mhzScaled(text, 3, 'kHz');
const mhzToHz = (text: string) => mhzScaled(text, 6, 'Hz');
const TIMEKEEPING_WORDS = /clocksource|tsc|TSC|hpet|sched_clock/;

const hex = (s: string): bigint | null => (/^(0x)?[0-9a-f]+$/i.test(s) ? BigInt(s.startsWith('0x') ? s : `0x${s}`) : null);
const dec = (s: string): bigint | null => (/^-?\d+$/.test(s) ? BigInt(s) : null);

export function analyzeDmesg(text: string, k: Kernel): DmesgReport {
  const lines = text.split(/\r?\n/);
  const findings: DmesgFinding[] = [];
  let tscKhz: number | undefined, refinedKhz: number | undefined, hpetHz: number | undefined, hz: number | undefined;
  let lastStamp: bigint | undefined;
  const regs = new Map<string, ClocksourceRegistration>();

  // First pass: the rates the log states (a rate the kernel could not have printed is left out, and reported below).
  const rate = (v: number | string, set: (x: number) => void) => { if (typeof v === 'number') set(v); };
  for (const raw of lines) {
    if (raw.length > MAX_DMESG_LINE) continue;
    const body = STAMP.exec(raw)?.[3] ?? raw;
    let m = /tsc: Detected (\S+) MHz (?:processor|TSC)/.exec(body);
    if (m) rate(mhzToKhz(m[1]), (v) => { tscKhz = v; });
    m = /tsc: Refined TSC clocksource calibration: (\S+) MHz/.exec(body);
    if (m) rate(mhzToKhz(m[1]), (v) => { refinedKhz = v; });
    m = /hpet0?: .*?(\d+-bit )?(\S+) MHz counter/.exec(body);
    if (m) rate(mhzToHz(m[2]), (v) => { hpetHz = v; });
  }

  /** What the kernel registered for `name`, from the rates above; null when the log does not say. */
  function registration(name: string, mask: bigint, logLine?: string): ClocksourceRegistration | null {
    switch (name) {
      case 'tsc': return (refinedKhz ?? tscKhz) ? k.clocksourceRegisterKhz(refinedKhz ?? tscKhz!, mask) : null;
      case 'tsc-early': return tscKhz ? k.clocksourceRegisterKhz(tscKhz, mask, { uncertaintyMargin: 32_000_000 }) : null;
      case 'hpet': return hpetHz ? k.clocksourceRegisterHz(hpetHz, mask) : null;
      case 'kvm-clock': case 'xen': return k.clocksourceRegisterHz(1_000_000_000, mask);
      case 'hyperv_clocksource_tsc_page': case 'hyperv_clocksource_msr': return k.clocksourceRegisterHz(10_000_000, mask);
      case 'acpi_pm': return k.clocksourceRegisterHz(3_579_545, mask);
      case 'jiffies': case 'refined-jiffies': {
        // the HZ is not printed: take the one whose line this is (and remember it)
        for (const h of hz ? [hz, ...HZ_CANDIDATES] : HZ_CANDIDATES) {
          const r = name === 'jiffies' ? k.clocksourceRegisterJiffies(h) : k.clocksourceRegisterRefinedJiffies(h);
          if (logLine && formatClocksourceLine(name, mask, r) === logLine) { hz = h; return r; }
        }
        return null;
      }
      default: return null;
    }
  }

  lines.forEach((raw, idx) => {
    if (raw.length > MAX_DMESG_LINE) {
      if (TIMEKEEPING_WORDS.test(raw.slice(0, MAX_DMESG_LINE))) {
        findings.push({ line: idx + 1, kind: 'malformed', verdict: 'malformed',
          text: `a line of ${raw.length} characters (a kernel log line has at most ~1024): not checked` });
      }
      return;
    }
    const sm = STAMP.exec(raw);
    const body = sm ? sm[3] : raw;
    const stamp = sm ? BigInt(sm[1]) * 1_000_000_000n + BigInt(sm[2]) * 1000n : undefined;
    const at = { line: idx + 1, ...(stamp !== undefined ? { stamp } : {}) };
    const prevStamp = lastStamp;
    if (stamp !== undefined) lastStamp = stamp;
    try {
      checkLine(body, idx, at, stamp, prevStamp);
    } catch (e) {
      // a number the kernel's types cannot hold (the API refuses it, naming it): this line is malformed, the rest goes on
      if (!isArgumentError(e)) throw e;
      findings.push({ ...at, kind: 'malformed', verdict: 'malformed', text: `${e.message} (on: ${body.slice(0, 200)})` });
    }
  });

  function checkLine(body: string, idx: number, at: { line: number; stamp?: bigint }, stamp: bigint | undefined, prevStamp: bigint | undefined): void {

    // clocksource: NAME: mask: 0x... max_cycles: 0x..., max_idle_ns: N ns  (and the 4.0-era "clocksource NAME:")
    let m = /^clocksource:? ([\w.-]+): mask: (\S+) max_cycles: (\S+), max_idle_ns: (\S+) ns$/.exec(body);
    if (m) {
      const [, name, maskText, cyclesText, idleText] = m;
      const mask = hex(maskText), maxCycles = hex(cyclesText), idle = dec(idleText);
      if (mask === null || maxCycles === null || idle === null || mask === 0n || (mask & (mask + 1n)) !== 0n ||
          mask > U64 || maxCycles > U64 || idle < 0n || idle > U64) {
        findings.push({ ...at, kind: 'malformed', verdict: 'malformed', text: `clocksource ${name}: a number on this line is malformed: ${body}` });
        return;
      }
      const canonical = formatClocksourceLine(name, mask, { maxCycles, maxIdleNs: BigInt.asUintN(64, idle) });
      const reg = registration(name, mask, canonical);
      if (!reg) {
        findings.push({ ...at, kind: 'clocksource', verdict: 'unknown', text: `clocksource ${name}: the log does not state its rate, so it cannot be recomputed` });
        return;
      }
      regs.set(name, reg);
      const want = formatClocksourceLine(name, mask, reg);
      const ok = want === canonical;
      const rate = name === 'tsc' ? `${refinedKhz ?? tscKhz} kHz` : name === 'tsc-early' ? `${tscKhz} kHz` : name.includes('jiffies') ? `HZ=${hz}` : name === 'hpet' ? `${hpetHz} Hz` : 'its fixed rate';
      findings.push({ ...at, kind: 'clocksource', verdict: ok ? 'match' : 'mismatch',
        text: `clocksource ${name}: ${ok ? 'matches' : 'does not match'} the registration at ${rate} (mult ${reg.mult}, shift ${reg.shift})`,
        ...(ok ? {} : { expected: want }) });
      return;
    }

    // watchdog: the 3-line block (5.x+); its cs and wd lines carry nsec, now, last, mask
    m = /timekeeping watchdog on CPU(\d+): Marking clocksource '([^']+)' as unstable because the skew is too large:/.exec(body);
    if (m) {
      const wd = /'([^']+)' wd_nsec: (-?\d+) wd_now: ([0-9a-f]+) wd_last: ([0-9a-f]+) mask: ([0-9a-f]+)/.exec(lines[idx + 1] ?? '');
      const cs = /'([^']+)' cs_nsec: (-?\d+) cs_now: ([0-9a-f]+) cs_last: ([0-9a-f]+) mask: ([0-9a-f]+)/.exec(lines[idx + 2] ?? '');
      if (!wd || !cs) {
        findings.push({ ...at, kind: 'watchdog', verdict: 'note', text: `the watchdog marked ${m[2]} unstable (older wording: no nsec figures to check)`, scenario: 'seed-002-precise-migration' });
        return;
      }
      const check = (name: string, nsec: string, now: string, last: string, mask: string) => {
        const r = regs.get(name) ?? registration(name, hex(mask)!);
        if (!r) return { said: BigInt(nsec), computed: null as bigint | null, margin: MARGIN_FLOOR };
        const delta = (hex(now)! - hex(last)!) & hex(mask)!;
        return { said: BigInt(nsec), computed: k.mulU64U32Shr(delta, r.mult, r.shift), margin: BigInt(r.uncertaintyMargin) };
      };
      const w = check(wd[1], wd[2], wd[3], wd[4], wd[5]), c = check(cs[1], cs[2], cs[3], cs[4], cs[5]);
      const skew = w.said > c.said ? w.said - c.said : c.said - w.said;
      const md = w.margin + c.margin;
      const arithmetic = [w, c].every((x) => x.computed === null || x.computed === x.said);
      findings.push({ ...at, kind: 'watchdog', verdict: arithmetic ? 'match' : 'mismatch',
        text: `watchdog on CPU${m[1]}: '${cs[1]}' ran ${c.said} ns while '${wd[1]}' ran ${w.said} ns: skew ${skew} ns against a margin of ${md} ns` +
          `${skew > md ? ' (over it: marked unstable)' : ''}; ${arithmetic ? 'cs_nsec and wd_nsec recompute from now/last' : `recomputed cs_nsec ${c.computed}, wd_nsec ${w.computed}`}` +
          (skew > md && skew < 1_000_000_000n ? '. A skew like this after a pause or migration: the guest\'s TSC and kvm-clock disagree over the gap' : ''),
        scenario: 'seed-002-precise-migration' });
      return;
    }
    m = /^Clocksource (\S+) unstable \(delta = (-?\d+) ns\)/.exec(body);
    if (m) {
      findings.push({ ...at, kind: 'watchdog', verdict: 'note', text: `the watchdog (pre-5.14 wording) marked ${m[1]} unstable: delta ${m[2]} ns against the 62.5 ms threshold` });
      return;
    }

    // TSC ADJUST compensate: CPU%u observed %lld warp. Adjust: %lld
    m = /TSC ADJUST compensate: CPU(\d+) observed (\S+) warp\. Adjust: (\S+)/.exec(body);
    if (m) {
      const warp = dec(m[2]), adjust = dec(m[3]);
      if (warp === null || adjust === null) {
        findings.push({ ...at, kind: 'malformed', verdict: 'malformed', text: `TSC ADJUST compensate: a number is malformed: ${body}` });
        return;
      }
      const khz = refinedKhz ?? tscKhz;
      const secs = khz ? nsOf(warp, khz) : null; // ns
      const jump = stamp !== undefined && prevStamp !== undefined ? stamp - prevStamp : null;
      // the line is printed before the WRMSR (tsc_sync.c: pr_warn, then wrmsrl): a leap shows on the next stamped line
      const nextStamp = (() => {
        for (let j = idx + 1; j < lines.length; j++) {
          const n = STAMP.exec(lines[j].slice(0, MAX_DMESG_LINE));
          if (n) return BigInt(n[1]) * 1_000_000_000n + BigInt(n[2]) * 1000n;
        }
        return null;
      })();
      const after = stamp !== undefined && nextStamp !== null ? nextStamp - stamp : null;
      const leap = [jump, after].reduce<bigint | null>((a, b) => (b !== null && b > 1_000_000_000n && (a === null || b > a) ? b : a), null);
      // no rate in the log: the rate at which the warp is the leap, when it is a TSC's (100 MHz .. 10 GHz)
      const implied = khz === undefined && leap !== null && warp > 0n ? (warp * 1_000_000n) / leap : null;
      const big = (secs !== null && (secs < 0n ? -secs : secs) > 1_000_000_000n) || (implied !== null && implied >= 100_000n && implied <= 10_000_000n);
      let text = `CPU${m[1]} was ${warp} cycles behind${secs !== null ? ` = ${fmtNs(secs)} at ${khz} kHz` : ''}; TSC_ADJUST set to ${adjust}`;
      if (jump !== null) text += `; this line's timestamp is ${fmtNs(jump)} after the previous one`;
      if (after !== null && after > 1_000_000_000n) text += `, the next line's ${fmtNs(after)} after it`;
      const why = ' -- the new CPU\'s TSC started near 0 and its clock followed the TSC_ADJUST write (a vCPU hot-added after migration, on a KVM that did not sync its TSC)';
      if (big && leap !== null && secs !== null && leap > secs / 2n && leap < secs * 2n) {
        text += `: the timestamps leapt by the warp${why}`;
      } else if (big && implied !== null) {
        text += `: the timestamps leapt by the warp at ${implied} kHz (the rate at which the warp is the leap; the log states none)${why}`;
      } else if (big) {
        text += '. A warp of this size is a new CPU whose TSC started near 0 (a vCPU hot-added on a KVM that did not sync its TSC)';
      }
      findings.push({ ...at, kind: 'tsc-adjust', verdict: 'note', text, ...(big ? { scenario: 'seed-000-tsc-adjust-hotplug' } : {}) });
      return;
    }
    m = /Measured (\S+) cycles TSC warp between CPUs, turning off TSC clock\./.exec(body);
    if (m) {
      const warp = dec(m[1]);
      if (warp === null) { findings.push({ ...at, kind: 'malformed', verdict: 'malformed', text: `a number is malformed: ${body}` }); return; }
      const khz = refinedKhz ?? tscKhz;
      findings.push({ ...at, kind: 'tsc-warp', verdict: 'note',
        text: `the TSC warp check failed: ${warp} cycles${khz ? ` = ${fmtNs(nsOf(warp, khz))}` : ''}; the TSC is marked unstable`,
        scenario: 'seed-000-tsc-adjust-hotplug' });
      return;
    }

    // sched_clock: Marking stable (tick_gtod, __gtod_offset)->(tick_raw, __sched_clock_offset)
    m = /sched_clock: Marking stable \((-?\d+), (-?\d+)\)->\((-?\d+), (-?\d+)\)/.exec(body);
    if (m) {
      const [a, b, c, d] = m.slice(1, 5).map((x) => BigInt(x));
      const want = BigInt.asIntN(64, a + b - c);
      findings.push({ ...at, kind: 'sched-clock-stable', verdict: want === d ? 'match' : 'mismatch',
        text: `sched_clock: __sched_clock_offset = tick_gtod + __gtod_offset - tick_raw = ${want}${want === d ? '' : ` but the log says ${d}`}`,
        ...(want === d ? {} : { expected: String(want) }) });
      return;
    }

    m = /tsc: (Detected|Refined TSC clocksource calibration:) (\S+) MHz/.exec(body);
    if (m) {
      const khz = mhzToKhz(m[2]);
      findings.push(typeof khz === 'string'
        ? { ...at, kind: 'malformed', verdict: 'malformed', text: `the TSC rate: ${khz}` }
        : { ...at, kind: 'tsc-rate', verdict: 'note', text: `TSC rate ${khz} kHz (${m[1] === 'Detected' ? 'detected' : 'refined'})` });
      return;
    }
    m = /hpet0?: .*?(\d+-bit )?(\S+) MHz counter/.exec(body);
    if (m) {
      const hz = mhzToHz(m[2]);
      if (typeof hz === 'string') findings.push({ ...at, kind: 'malformed', verdict: 'malformed', text: `the HPET rate: ${hz}` });
    }
  }

  const count = (v: DmesgFinding['verdict']) => findings.filter((f) => f.verdict === v).length;
  return {
    findings, ...(refinedKhz ?? tscKhz ? { tscKhz: refinedKhz ?? tscKhz } : {}), ...(hz ? { hz } : {}),
    summary: { recognised: findings.length, match: count('match'), mismatch: count('mismatch'), malformed: count('malformed') },
  };
}

function fmtNs(ns: bigint): string {
  const neg = ns < 0n, a = neg ? -ns : ns;
  return `${neg ? '-' : ''}${a / 1_000_000_000n}.${((a % 1_000_000_000n) / 1_000_000n).toString().padStart(3, '0')} s`;
}

