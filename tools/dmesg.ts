// Reading a real Linux boot log: every timekeeping line tsclab can check is
// recomputed from what the log itself states (the TSC and HPET rates, the HZ
// the jiffies lines imply), with the kernel's own formulas from the Wasm
// kernel; lines it does not recognise are skipped; a malformed number on a
// recognised line (or one the kernel's types cannot hold) is reported as
// `malformed` and the analysis goes on, never thrown.
import { formatClocksourceLine, type ClocksourceRegistration, type Kernel } from '../bindings/index.js';
import { isArgumentError } from '../bindings/check.js';
import { exactDecimal, nsOf, U64 } from '../sim/units.js';
import { fmtDuration } from './fmt.js';

export interface DmesgFinding {
  line: number;
  /** The printk timestamp, in ns, when the line has one. */
  stamp?: bigint;
  kind: 'clocksource' | 'watchdog' | 'tsc-adjust' | 'tsc-warp' | 'sched-clock-stable' | 'sched-clock-unstable' | 'tsc-rate' |
    'tsc-calibration' | 'tsc-unstable' | 'hpet-rate' | 'delay-loop' | 'kvm-clock' | 'rcu-stall' | 'lockup' | 'hung-task' |
    'hrtimer' | 'not-understood' | 'malformed';
  verdict: 'match' | 'mismatch' | 'note' | 'unknown' | 'malformed';
  text: string;
  /** What tsclab computed, for mismatches. */
  expected?: string;
  /** A built-in scenario that reproduces this, where one fits. */
  scenario?: string;
  /** What the line means (the kernel code that prints it, and what its figures say), where the text does not say it. */
  meaning?: string;
}

export interface DmesgReport {
  findings: DmesgFinding[];
  tscKhz?: number;
  hz?: number;
  /** The HPET's rate, stated by an hpet0 line or inferred from the hpet clocksource line (10^15 / hpet_period fs). */
  hpetHz?: number;
  summary: { recognised: number; match: number; mismatch: number; malformed: number };
}

// an optional syslog/journal prefix ("Nov  9 15:19:50 host kernel: "), an optional <level>, then the printk stamp
const STAMP = /^(?:[A-Z][a-z]{2} [ \d]\d [\d:]{8} \S+ kernel: )?\s*(?:<\d+>)?\[\s*(\d+)\.(\d{6})\]\s?(.*)$/;
const SYSLOG = /^[A-Z][a-z]{2} [ \d]\d [\d:]{8} \S+ kernel: (.*)$/;
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
/** A line about a clock that carries a number: recomputed, explained, or named as not understood. */
const CLOCK_LINE = /clocksource|\btsc|TSC|hpet|sched_clock|kvm-clock|jiffies|watchdog|lockup|BogoMIPS|hrtimer|pvclock|Xen.*clock/i;
/** The HPET periods of real chipsets (fs): 10^15 / period, truncated, is the rate the kernel registers (hpet_enable). */
export const COMMON_HPET_PERIODS: readonly (readonly [fs: number, what: string])[] = [
  [69841278, 'the PC\'s 14.31818 MHz crystal, registered as 14318180 Hz (most chipsets\' logs)'],
  [69841279, 'the 14.31818 MHz crystal (10^15 / 69841279 = 14318179.94, truncated to 14318179 Hz)'],
  [41666666, '24 MHz (Intel PCH from Skylake on)'],
  [41666667, '24 MHz, rounded up'],
  [52083333, '19.2 MHz (Intel Atom SoCs)'],
  [10000000, '100 MHz (QEMU\'s emulated HPET)'],
];
const FSEC_PER_SEC = 1_000_000_000_000_000n;
/** hpet_enable(): hpet_freq = FSEC_PER_SEC / hpet_period (do_div: truncated). */
export const hpetHzOfPeriod = (fs: number) => Number(FSEC_PER_SEC / BigInt(fs));
/** The period a rate comes from: the largest p with 10^15 / p = hz. */
export const hpetPeriodOfHz = (hz: number) => Number(FSEC_PER_SEC / BigInt(hz));
const HZ_OF_KERNEL = [100, 250, 300, 1000];


const hex = (s: string): bigint | null => (/^(0x)?[0-9a-f]+$/i.test(s) ? BigInt(s.startsWith('0x') ? s : `0x${s}`) : null);
const dec = (s: string): bigint | null => (/^-?\d+$/.test(s) ? BigInt(s) : null);

/** The delay loop's BogoMIPS as calibrate_delay() prints it from lpj at HZ: lpj/(500000/HZ) . (lpj/(5000/HZ)) % 100. */
export function bogoMips(lpj: bigint, hz: number): string {
  const a = lpj / BigInt(Math.trunc(500000 / hz)), b = (lpj / BigInt(Math.trunc(5000 / hz))) % 100n;
  return `${a}.${String(b).padStart(2, '0')}`;
}

const CLOCKSOURCE_LINE = /^clocksource:? ([\w.-]+): mask: (\S+) max_cycles: (\S+), max_idle_ns: (\S+) ns$/;
const DELAY_LOOP = /^Calibrating delay (?:loop \(skipped\),? (preset value|value calculated using timer frequency|already calibrated this CPU)|using timer specific routine|loop)\.\.\.? ?(\d+)\.(\d\d) BogoMIPS \(lpj=(\d+)\)/;

/** Lines that carry numbers but need no arithmetic: what each means. */
const EXPLAINED: readonly (readonly [RegExp, DmesgFinding['kind'], (m: RegExpExecArray) => string, string?])[] = [
  [/^tsc: PIT calibration matches (HPET|PMTIMER)\. (\d+) loops/, 'tsc-calibration',
    (m) => `the TSC calibrated against the PIT agreed with the ${m[1]} reference after ${m[2]} loop(s) (native_calibrate_tsc -> pit_hpet_ptimer_calibrate_cpu)`],
  [/^clocksource: Checking clocksource (\S+) synchronization from CPU (\d+)/, 'watchdog',
    (m) => `clocksource_verify_percpu(): after marking ${m[1]} unstable the watchdog reads it on every CPU from CPU${m[2]}, to name CPUs that are behind or ahead`],
  [/^clocksource: CPUs? ([\d,-]+) (ahead of|behind) CPU (\d+) for clocksource (\S+)/, 'watchdog',
    (m) => `clocksource_verify_percpu(): ${m[4]} on CPU(s) ${m[1]} read ${m[2]} CPU${m[3]}'s: the TSCs are not in step across CPUs`, 'seed-000-tsc-adjust-hotplug'],
  [/^clocksource: CPU (\d+) check durations (\d+)ns - (\d+)ns for clocksource (\S+)/, 'watchdog',
    (m) => `clocksource_verify_percpu(): reading ${m[4]} on another CPU from CPU${m[1]} took ${m[2]}..${m[3]} ns`],
  [/timekeeping watchdog on CPU(\d+): (\S+) (?:read-back delay of (\d+)ns|retried (\d+) times before success)/, 'watchdog',
    (m) => (m[3] ? `cs_watchdog_read(): reading the watchdog ${m[2]} on CPU${m[1]} took ${m[3]} ns, over WATCHDOG_MAX_SKEW: the reading is not trusted (a vCPU preempted mid-read)`
      : `cs_watchdog_read(): the watchdog ${m[2]} was read ${m[4]} more times before a read fitted WATCHDOG_MAX_SKEW (vCPU preemption)`)],
  [/wd-(\S+)-wd (?:excessive )?read-back delay of (\d+)ns/, 'watchdog',
    (m) => `the watchdog ${m[1]} read twice took ${m[2]} ns: the clock-skew test is skipped this round`],
  [/^clocksource: Long readout interval, skipping watchdog check: cs_nsec: (-?\d+) wd_nsec: (-?\d+)/, 'watchdog',
    (m) => `the watchdog's interval was ${fmtNs(BigInt(m[1]))} by the clocksource, ${fmtNs(BigInt(m[2]))} by the watchdog: over 2 x WATCHDOG_INTERVAL, so no verdict (a paused or migrated guest: the gap is not a skew)`, 'seed-002-precise-migration'],
  [/^kvm-clock: Using msrs ([0-9a-f]+) and ([0-9a-f]+)/, 'kvm-clock',
    (m) => `kvmclock_init(): the system-time MSR is ${m[1]}, the wall-clock MSR ${m[2]} (4b564d01/4b564d00: the "new" KVM_FEATURE_CLOCKSOURCE2 pair; 12/11: the old one)`],
  [/^kvm-clock: using sched offset of (\d+) cycles/, 'kvm-clock',
    (m) => `kvm_sched_clock_init(): kvm-clock read ${m[1]} ns (${fmtDuration(BigInt(m[1]))}: the time since KVM created the VM, kvmclock's epoch) when sched_clock started; sched_clock subtracts it to count from 0 (the message says cycles; kvm_clock_read() returns ns)`],
  [/^kvm-stealtime: cpu (\d+), msr ([0-9a-f]+)/, 'kvm-clock',
    (m) => `kvm_register_steal_time(): CPU${m[1]}'s steal-time area at guest-physical 0x${m[2]} (not a clock reading)`],
  [/^KVM setup async PF for cpu (\d+)/, 'kvm-clock', (m) => `kvm_guest_cpu_init() on CPU${m[1]}: async page faults (not a clock reading)`],
  [/^hrtimer: interrupt took (\d+) ns/, 'hrtimer',
    (m) => `hrtimer_interrupt() looped three times and still found expired timers: the pass took ${fmtDuration(BigInt(m[1]))}; the next interrupt is pushed out by that much (a vCPU preempted in the handler, or a clock that leapt under it)`],
  [/^rcu: RCU calculated value of scheduler-enlistment delay is (\d+) jiffies/, 'rcu-stall',
    (m) => `rcu_init(): jiffies_till_sched_qs = ${m[1]} (at least HZ/10 + nr_cpu_ids/256): how long a grace period waits before asking the scheduler for help`],
  [/^TSC found unstable after boot/, 'tsc-unstable', () => '__sched_clock_work(): sched_clock leaves the TSC-direct mode; the next line gives the offsets'],
  [/^(?:\[Firmware Bug\]: )?TSC ADJUST: CPU(\d+): (-?\d+) force to 0/, 'tsc-adjust',
    (m) => `tsc_store_and_check_tsc_adjust(): CPU${m[1]} booted with IA32_TSC_ADJUST = ${m[2]} (firmware wrote it); the kernel clears it so the TSCs agree`],
  [/^TSC ADJUST (differs|synchronize): (?:Reference )?CPU(\d+):? (-?\d+)(?: -->| CPU(\d+):) (-?\d+)/, 'tsc-adjust',
    (m) => (m[1] === 'differs' && !m[4] ? `tsc_verify_tsc_adjust(): CPU${m[2]}'s IA32_TSC_ADJUST changed from ${m[3]} to ${m[5]} behind the kernel's back (firmware in SMM, or a hypervisor); restored`
      : `CPU${m[4] ?? '?'}'s IA32_TSC_ADJUST (${m[5]}) differs from the reference CPU${m[2]}'s (${m[3]}): ${m[1] === 'synchronize' ? 'set to the reference\'s' : 'the TSCs of a package disagree'}`)],
  [/^(?:rcu: )?(?:All QSes seen, last (\S+) kthread activity (\d+) \((\d+)-(\d+)\)|(\S+) kthread (?:starved|timer wakeup didn't happen) for (\d+) jiffies)/, 'rcu-stall',
    (m) => `RCU's grace-period kthread${m[1] ?? m[5] ? ` (${m[1] ?? m[5]})` : ''} did not run for ${m[2] ?? m[6]} jiffies: the vCPU that should run it was not scheduled, or jiffies leapt`],
];

export function analyzeDmesg(text: string, k: Kernel): DmesgReport {
  const lines = text.split(/\r?\n/);
  const findings: DmesgFinding[] = [];
  let tscKhz: number | undefined, refinedKhz: number | undefined, hpetHz: number | undefined, hz: number | undefined;
  let hzFrom = '', kvmGuest = false;
  let kvmclockBase: bigint | undefined;
  const adjustOf = new Map<string, bigint>();
  let lastStamp: bigint | undefined;
  const regs = new Map<string, ClocksourceRegistration>();
  /** Lines a block already read (a watchdog block's wd/cs lines): no finding of their own. */
  const consumed = new Set<number>();
  const bodyOf = (raw: string) => STAMP.exec(raw)?.[3] ?? SYSLOG.exec(raw)?.[1] ?? raw;
  const bodies = lines.map((raw) => (raw.length > MAX_DMESG_LINE ? null : bodyOf(raw)));

  // First pass: the rates the log states (a rate the kernel could not have printed is left out, and reported below).
  const rate = (v: number | string, set: (x: number) => void) => { if (typeof v === 'number') set(v); };
  for (const body of bodies) {
    if (body === null) continue;
    let m = /tsc: Detected (\S+) MHz (?:processor|TSC)/.exec(body);
    if (m) rate(mhzToKhz(m[1]), (v) => { tscKhz = v; });
    m = /tsc: Refined TSC clocksource calibration: (\S+) MHz/.exec(body);
    if (m) rate(mhzToKhz(m[1]), (v) => { refinedKhz = v; });
    m = /hpet0?: .*?(\d+-bit )?(\S+) MHz counter/.exec(body);
    if (m) rate(mhzToHz(m[2]), (v) => { hpetHz = v; });
    if (/kvm-clock|Hypervisor detected: KVM|Booting paravirtualized kernel on KVM/.test(body)) kvmGuest = true;
  }
  // The HZ the log establishes: a jiffies line some CONFIG_HZ reproduces, else the delay loop's BogoMIPS and lpj.
  bodies.forEach((body, i) => {
    const m = body === null || hz ? null : CLOCKSOURCE_LINE.exec(body);
    if (!m || (m[1] !== 'jiffies' && m[1] !== 'refined-jiffies') || m[2] !== '0xffffffff') return;
    for (const h of HZ_CANDIDATES) {
      const r = m[1] === 'jiffies' ? k.clocksourceRegisterJiffies(h) : k.clocksourceRegisterRefinedJiffies(h);
      if (formatClocksourceLine(m[1], 0xFFFFFFFFn, r) === `clocksource: ${m[1]}: mask: ${m[2]} max_cycles: ${m[3]}, max_idle_ns: ${m[4]} ns`) {
        hz = h; hzFrom = `line ${i + 1}'s ${m[1]} registration`; return;
      }
    }
  });
  /** The TSC rate range the delay loop's lpj implies (lpj = tsc_khz * 1000 / HZ), when the log states no rate. */
  let lpjKhz: [number, number] | undefined;
  bodies.forEach((body, i) => {
    const m = body === null ? null : DELAY_LOOP.exec(body);
    if (!m || m[4].length > 15) return;
    const lpj = BigInt(m[4]), printed = `${BigInt(m[2])}.${m[3]}`;
    const hzs = (hz ? [hz] : HZ_OF_KERNEL).filter((h) => bogoMips(lpj, h) === printed);
    if (!hz && hzs.length === 1) { hz = hzs[0]; hzFrom = `line ${i + 1}'s BogoMIPS and lpj`; }
    if (hz && hzs.length === 1 && m[1] !== 'already calibrated this CPU' && m[1] !== undefined && !lpjKhz) {
      // lpj = tsc_khz * 1000 / HZ (truncated): the whole kHz that give this lpj
      const lo = (lpj * BigInt(hz) + 999n) / 1000n, hi = ((lpj + 1n) * BigInt(hz) - 1n) / 1000n;
      if (lo <= hi) lpjKhz = [Number(lo), Number(hi)];
    }
  });
  let inferredKhz: number | undefined;
  const knownKhz = () => refinedKhz ?? tscKhz ?? inferredKhz;

  /**
   * The rate whose registration prints `line` (name, mask, max_cycles, max_idle_ns), searched the way the numbers
   * move with it: max_cycles grows with the rate when it is under the mask (64-bit counters), max_idle_ns shrinks
   * with it otherwise; then the neighbours are tried for the exact line. exact: the rate that prints it; near: the
   * closest rate when none does.
   */
  function inferRate(unit: 'Hz' | 'kHz', name: string, mask: bigint, maxCycles: bigint, idle: bigint, lo: number, hi: number): { exact: number | null; near: number } {
    const reg = (f: number) => (unit === 'Hz' ? k.clocksourceRegisterHz(f, mask) : k.clocksourceRegisterKhz(f, mask));
    const byCycles = maxCycles < mask;
    let a = lo, b = hi;
    while (a < b) {
      const mid = Math.floor((a + b) / 2), r = reg(mid);
      if (byCycles ? r.maxCycles >= maxCycles : r.maxIdleNs <= idle) b = mid; else a = mid + 1;
    }
    const want = formatClocksourceLine(name, mask, { maxCycles, maxIdleNs: idle });
    for (let d = 0; d <= 48; d++) {
      for (const f of d ? [a - d, a + d] : [a]) {
        if (f >= lo && f <= hi && formatClocksourceLine(name, mask, reg(f)) === want) return { exact: f, near: f };
      }
    }
    return { exact: null, near: a };
  }

  /** What the kernel registered for `name`, from the rates above; null when the log does not say. */
  function registration(name: string, mask: bigint): ClocksourceRegistration | null {
    switch (name) {
      case 'tsc': return knownKhz() ? k.clocksourceRegisterKhz(knownKhz()!, mask) : null;
      case 'tsc-early': return (tscKhz ?? inferredKhz) ? k.clocksourceRegisterKhz((tscKhz ?? inferredKhz)!, mask, { uncertaintyMargin: 32_000_000 }) : null;
      case 'hpet': return hpetHz ? k.clocksourceRegisterHz(hpetHz, mask) : null;
      case 'kvm-clock': case 'xen': return k.clocksourceRegisterHz(1_000_000_000, mask);
      case 'hyperv_clocksource_tsc_page': case 'hyperv_clocksource_msr': return k.clocksourceRegisterHz(10_000_000, mask);
      case 'acpi_pm': return k.clocksourceRegisterHz(3_579_545, mask);
      case 'jiffies': return hz ? k.clocksourceRegisterJiffies(hz) : null;
      case 'refined-jiffies': return hz ? k.clocksourceRegisterRefinedJiffies(hz) : null;
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
    const body = bodies[idx]!;
    const stamp = sm ? BigInt(sm[1]) * 1_000_000_000n + BigInt(sm[2]) * 1000n : undefined;
    const at = { line: idx + 1, ...(stamp !== undefined ? { stamp } : {}) };
    const prevStamp = lastStamp;
    if (stamp !== undefined) lastStamp = stamp;
    if (consumed.has(idx)) return;
    const before = findings.length;
    try {
      checkLine(body, idx, at, stamp, prevStamp);
    } catch (e) {
      // a number the kernel's types cannot hold (the API refuses it, naming it): this line is malformed, the rest goes on
      if (!isArgumentError(e)) throw e;
      findings.push({ ...at, kind: 'malformed', verdict: 'malformed', text: `${e.message} (on: ${body.slice(0, 200)})` });
    }
    // a clock line with a number that no rule read: named, never skipped silently
    if (findings.length === before && !consumed.has(idx) && !raw.startsWith('#') && CLOCK_LINE.test(body) && /\d/.test(body) && !/^\s*\[?<?[0-9a-f]{8,16}>?\]? /.test(body)) {
      findings.push({ ...at, kind: 'not-understood', verdict: 'unknown', text: `not understood (a clock line tsclab does not read): ${body.slice(0, 160)}` });
    }
  });

  function checkLine(body: string, idx: number, at: { line: number; stamp?: bigint }, stamp: bigint | undefined, prevStamp: bigint | undefined): void {

    // clocksource: NAME: mask: 0x... max_cycles: 0x..., max_idle_ns: N ns  (and the 4.0-era "clocksource NAME:")
    let m = CLOCKSOURCE_LINE.exec(body);
    if (m) {
      const [, name, maskText, cyclesText, idleText] = m;
      const mask = hex(maskText), maxCycles = hex(cyclesText), idle = dec(idleText);
      if (mask === null || maxCycles === null || idle === null || mask === 0n || (mask & (mask + 1n)) !== 0n ||
          mask > U64 || maxCycles > U64 || idle < 0n || idle > U64) {
        findings.push({ ...at, kind: 'malformed', verdict: 'malformed', text: `clocksource ${name}: a number on this line is malformed: ${body}` });
        return;
      }
      const idleU = BigInt.asUintN(64, idle);
      const canonical = formatClocksourceLine(name, mask, { maxCycles, maxIdleNs: idleU });
      let reg = registration(name, mask);
      let rateText = '';
      if (!reg && (name === 'tsc' || name === 'tsc-early')) {
        // no rate stated: the rate this line is the registration of (within the delay loop's lpj range, when there is one)
        const [lo, hi] = lpjKhz ?? [100_000, 10_000_000];
        const f = inferRate('kHz', name, mask, maxCycles, idleU, lo, hi);
        if (f.exact !== null) {
          inferredKhz = f.exact;
          reg = registration(name, mask)!;
          rateText = `${f.exact} kHz, the rate this line implies (the log states no TSC rate${lpjKhz ? `; within the ${lo}..${hi} kHz the delay loop's lpj implies at HZ=${hz}` : ''})`;
        } else {
          const near = k.clocksourceRegisterKhz(f.near, mask);
          findings.push({ ...at, kind: 'clocksource', verdict: 'mismatch',
            text: `clocksource ${name}: no TSC rate ${lpjKhz ? `in the ${lo}..${hi} kHz the delay loop's lpj implies at HZ=${hz}` : 'from 100 MHz to 10 GHz'} registers as this line`,
            expected: formatClocksourceLine(name, mask, near) });
          return;
        }
      }
      if (!reg && name === 'hpet') {
        const f = inferRate('Hz', name, mask, maxCycles, idleU, 1_000_000, 1_000_000_000);
        if (f.exact !== null) {
          hpetHz = f.exact;
          reg = registration(name, mask)!;
          const period = hpetPeriodOfHz(f.exact);
          const common = COMMON_HPET_PERIODS.find(([p]) => hpetHzOfPeriod(p) === f.exact);
          rateText = `${f.exact} Hz, consistent with hpet_period ${common?.[0] ?? period} fs (10^15 / period, truncated, as hpet_enable derives it)` +
            (common ? `: ${common[1]}` : ': not a period of a chipset tsclab knows');
        } else {
          const nearest = COMMON_HPET_PERIODS.map(([p]) => hpetHzOfPeriod(p)).sort((x, y) => Math.abs(x - f.near) - Math.abs(y - f.near))[0];
          findings.push({ ...at, kind: 'clocksource', verdict: 'mismatch',
            text: `clocksource hpet: no HPET rate (10^15 / hpet_period fs) from 1 MHz to 1 GHz registers as this line; the nearest common one is ${nearest} Hz (hpet_period ${hpetPeriodOfHz(nearest)} fs)`,
            expected: formatClocksourceLine(name, mask, k.clocksourceRegisterHz(nearest, mask)) });
          return;
        }
      }
      if (!reg && (name === 'jiffies' || name === 'refined-jiffies')) {
        // no CONFIG_HZ gives this line (else pass 1 would have fixed HZ from it): the closest one's line is expected
        const cands = HZ_OF_KERNEL.map((h) => (name === 'jiffies' ? k.clocksourceRegisterJiffies(h) : k.clocksourceRegisterRefinedJiffies(h)));
        const dist = (r: ClocksourceRegistration) => (r.maxIdleNs > idleU ? r.maxIdleNs - idleU : idleU - r.maxIdleNs);
        const best = cands.reduce((a, b) => (dist(b) < dist(a) ? b : a));
        findings.push({ ...at, kind: 'clocksource', verdict: 'mismatch',
          text: `clocksource ${name}: no CONFIG_HZ (${HZ_OF_KERNEL.join(', ')}, or the rarer ${HZ_CANDIDATES.slice(4).join(', ')}) registers as this line`,
          expected: formatClocksourceLine(name, mask, best) });
        return;
      }
      if (!reg) {
        findings.push({ ...at, kind: 'clocksource', verdict: 'unknown', text: `clocksource ${name}: not understood: tsclab does not know the rate ${name} registers at, so the line cannot be recomputed` });
        return;
      }
      regs.set(name, reg);
      const want = formatClocksourceLine(name, mask, reg);
      const ok = want === canonical;
      const rate = rateText || (name === 'tsc' ? `${knownKhz()} kHz` : name === 'tsc-early' ? `${tscKhz ?? inferredKhz} kHz` : name.includes('jiffies') ? `HZ=${hz} (from ${hzFrom})`
        : name === 'hpet' ? `${hpetHz} Hz (hpet_period ${hpetPeriodOfHz(hpetHz!)} fs)` : 'its fixed rate');
      findings.push({ ...at, kind: 'clocksource', verdict: ok ? 'match' : 'mismatch',
        text: `clocksource ${name}: ${ok ? 'matches' : 'does not match'} the registration at ${rate} (mult ${reg.mult}, shift ${reg.shift})`,
        ...(ok ? {} : { expected: want }) });
      return;
    }

    // the delay loop: BogoMIPS from lpj at HZ, and lpj from the TSC rate (lpj_fine = tsc_khz * 1000 / HZ)
    m = DELAY_LOOP.exec(body);
    if (m) {
      const lpj = BigInt(m[4]), printed = `${BigInt(m[2])}.${m[3]}`;
      if (!hz) {
        findings.push({ ...at, kind: 'delay-loop', verdict: 'mismatch', text: `delay loop: no CONFIG_HZ (${HZ_OF_KERNEL.join(', ')}) prints ${printed} BogoMIPS for lpj=${lpj}`,
          expected: HZ_OF_KERNEL.map((h) => `${bogoMips(lpj, h)} at HZ=${h}`).join(', ') });
        return;
      }
      const bm = bogoMips(lpj, hz);
      if (bm !== printed) {
        findings.push({ ...at, kind: 'delay-loop', verdict: 'mismatch', text: `delay loop: lpj=${lpj} at HZ=${hz} (from ${hzFrom}) is ${bm} BogoMIPS, not ${printed}`, expected: `${bm} BogoMIPS (lpj=${lpj})` });
        return;
      }
      const khz = tscKhz;
      const fromTsc = khz ? (BigInt(khz) * 1000n) / BigInt(hz) : null;
      const variant = m[1] ?? 'measured';
      const tscBased = variant === 'value calculated using timer frequency' || (variant === 'preset value' && kvmGuest);
      if (tscBased && fromTsc === null && !lpjKhz) {
        findings.push({ ...at, kind: 'delay-loop', verdict: 'mismatch',
          text: `delay loop: lpj=${lpj} is tsc_khz * 1000 / HZ for no whole tsc_khz at HZ=${hz} (at HZ=${hz} lpj moves in steps of ${1000 / hz})` });
        return;
      }
      if (fromTsc !== null && tscBased && fromTsc !== lpj) {
        findings.push({ ...at, kind: 'delay-loop', verdict: 'mismatch',
          text: `delay loop: lpj=${lpj} but the TSC's ${khz} kHz at HZ=${hz} gives lpj = ${khz} * 1000 / ${hz} = ${fromTsc}${variant === 'preset value' ? ' (kvm-clock presets it from the same rate)' : ''}`,
          expected: `${bogoMips(fromTsc, hz)} BogoMIPS (lpj=${fromTsc})` });
        return;
      }
      findings.push({ ...at, kind: 'delay-loop', verdict: 'match',
        text: `delay loop: ${printed} BogoMIPS is lpj=${lpj} at HZ=${hz}${hzFrom.includes('BogoMIPS') ? ' (the only CONFIG_HZ that prints it)' : ` (from ${hzFrom})`}` +
          (fromTsc !== null && tscBased ? `; lpj = ${khz} kHz * 1000 / HZ` : lpjKhz && tscBased ? `; a TSC of ${lpjKhz[0]}..${lpjKhz[1]} kHz (lpj * HZ / 1000)` : '') });
      return;
    }

    // watchdog: the 3-line block (4.x on); its cs and wd lines carry now, last, mask (and nsec from 5.14 on)
    m = /timekeeping watchdog(?: on CPU(\d+))?: Marking clocksource '([^']+)' as unstable because the skew is too large:/.exec(body);
    if (m) {
      const LINE = /'([^']+)' (wd|cs)_(?:nsec: (-?\d+) \2_)?now: ([0-9a-f]+) \2_last: ([0-9a-f]+) mask: ([0-9a-f]+)/;
      const block: Record<string, RegExpExecArray> = {};
      for (let j = idx + 1; j <= idx + 2 && j < lines.length; j++) {
        const b = bodies[j] === null ? null : LINE.exec(bodies[j]!);
        if (b) { block[b[2]] = b; consumed.add(j); }
      }
      const wd = block.wd, cs = block.cs;
      const nsecOf = (x: RegExpExecArray) => {
        const mask = hex(x[6])!, now = hex(x[4])!, last = hex(x[5])!;
        const r = regs.get(x[1]) ?? registration(x[1], mask);
        const delta = (now - last) & mask;
        return { name: x[1], said: x[3] === undefined ? null : BigInt(x[3]), delta, r, computed: r ? k.mulU64U32Shr(delta, r.mult, r.shift) : null,
          margin: r ? BigInt(r.uncertaintyMargin) : MARGIN_FLOOR };
      };
      if (!wd || !cs) {
        const one = wd ?? cs;
        const o = one ? nsecOf(one) : null;
        findings.push({ ...at, kind: 'watchdog', verdict: 'note', scenario: 'seed-002-precise-migration',
          text: `the watchdog${m[1] ? ` on CPU${m[1]}` : ''} marked ${m[2]} unstable; the block's ${wd ? 'cs' : cs ? 'wd' : 'wd and cs'} line is missing (a filtered log?)` +
            (o?.computed != null ? `: '${o.name}' advanced ${o.delta} cycles = ${fmtNs(o.computed)}` : '') });
        return;
      }
      const w = nsecOf(wd), c = nsecOf(cs);
      const wN = w.said ?? w.computed, cN = c.said ?? c.computed;
      if (w.said === null || c.said === null) {
        // 4.x..5.13: no nsec printed; the figures are computed from the rates, the threshold is WATCHDOG_THRESHOLD (62.5 ms)
        const skew = wN !== null && cN !== null ? (wN > cN ? wN - cN : cN - wN) : null;
        findings.push({ ...at, kind: 'watchdog', verdict: 'note', scenario: 'seed-002-precise-migration',
          text: `watchdog${m[1] ? ` on CPU${m[1]}` : ''}: '${w.name}' advanced ${w.delta} cycles${wN !== null ? ` = ${fmtNs(wN)}` : ''}, '${c.name}' ${c.delta} cycles${cN !== null ? ` = ${fmtNs(cN)}` : ` (its rate is not in the log${wN !== null && wN > 0n ? `; the two agree for a ${c.name} of ${(c.delta * 1_000_000n) / wN} kHz` : ''})`}` +
            (skew !== null ? `: skew ${fmtNs(skew)} against the 62.5 ms WATCHDOG_THRESHOLD of 4.x-5.13 kernels${skew > 62_500_000n ? '' : ' -- under it: the readings span more than the watchdog\'s mask (a pause or migration longer than its wrap)'}` : '') +
            '. This wording prints no nsec figures: the lines carry no redundancy to check',
          meaning: 'clocksource_watchdog(): the interval measured by the clocksource and by the watchdog disagree; the clocksource is marked unstable and the kernel switches away from it' });
        return;
      }
      const skew = w.said > c.said ? w.said - c.said : c.said - w.said;
      const md = w.margin + c.margin;
      const arithmetic = [w, c].every((x) => x.computed === null || x.computed === x.said);
      // 6.x adds "Clocksource 'cs' skewed N ns (M ms) over watchdog 'wd' interval of N ns (M ms)" and which clocksource is current
      let extra = '', extraOk = true;
      for (let j = idx + 3; j <= idx + 4 && j < lines.length; j++) {
        const b = bodies[j] ?? '';
        const s = /Clocksource '([^']+)' skewed (-?\d+) ns \((-?\d+) ms\) over watchdog '([^']+)' interval of (-?\d+) ns \((-?\d+) ms\)/.exec(b);
        if (s) {
          consumed.add(j);
          const d = c.said - w.said;
          const ok = BigInt(s[2]) === d && BigInt(s[3]) === d / 1_000_000n && BigInt(s[5]) === w.said && BigInt(s[6]) === w.said / 1_000_000n;
          extraOk &&= ok;
          extra += ok ? '; the "skewed" line agrees' : `; the "skewed" line should read skewed ${d} ns (${d / 1_000_000n} ms) over watchdog '${w.name}' interval of ${w.said} ns (${w.said / 1_000_000n} ms)`;
        } else if (/'[^']+' (?:\(not '[^']+'\) )?is current clocksource\.|No current clocksource\./.test(b)) consumed.add(j);
      }
      const ok = arithmetic && extraOk;
      findings.push({ ...at, kind: 'watchdog', verdict: ok ? 'match' : 'mismatch',
        text: `watchdog on CPU${m[1]}: '${cs[1]}' ran ${c.said} ns while '${wd[1]}' ran ${w.said} ns: skew ${skew} ns against a margin of ${md} ns` +
          `${skew > md ? ' (over it: marked unstable)' : ''}; ${arithmetic ? 'cs_nsec and wd_nsec recompute from now/last' : `recomputed cs_nsec ${c.computed}, wd_nsec ${w.computed}`}${extra}` +
          (skew > md && skew < 1_000_000_000n ? '. A skew like this after a pause or migration: the guest\'s TSC and kvm-clock disagree over the gap' : ''),
        scenario: 'seed-002-precise-migration' });
      return;
    }
    m = /^Clocksource (\S+) unstable \(delta = (-?\d+) ns\)/.exec(body);
    if (m) {
      findings.push({ ...at, kind: 'watchdog', verdict: 'note', text: `the watchdog (pre-4.x wording) marked ${m[1]} unstable: delta ${m[2]} ns = ${fmtNs(BigInt(m[2]))} against the 62.5 ms WATCHDOG_THRESHOLD`, scenario: 'seed-002-precise-migration' });
      return;
    }
    // the 2026 rewrite (763aacf86f): the boot CPU's frequency check and the round robin across CPUs
    m = /^clocksource: Marking clocksource (\S+) unstable due to (frequency skew|inter CPU skew)/.exec(body);
    if (m) {
      if (m[2] === 'frequency skew') {
        const wl = /Watchdog\s+(\S+) interval:\s+(-?\d+)ns/.exec(bodies[idx + 1] ?? ''), cl = /Clocksource\s+(\S+) interval:\s+(-?\d+)ns/.exec(bodies[idx + 2] ?? '');
        if (wl && cl) {
          consumed.add(idx + 1); consumed.add(idx + 2);
          const wN = BigInt(wl[2]), cN = BigInt(cl[2]), d = wN > cN ? wN - cN : cN - wN, max = wN > cN ? wN : cN;
          const over = d > max >> 8n;
          findings.push({ ...at, kind: 'watchdog', verdict: over ? 'match' : 'mismatch', scenario: 'seed-002-precise-migration',
            text: `watchdog (2026 form): over one interval ${wl[1]} ran ${wN} ns, ${cl[1]} ${cN} ns: they differ by ${d} ns = ${(Number(d) / Number(max) * 1e6).toFixed(0)} ppm` +
              (over ? ', over the max >> 8 (3.9 per mille) watchdog_check_freq allows: marked unstable' : `, under the ${max >> 8n} ns (max >> 8) watchdog_check_freq allows: the kernel would not have marked it`) });
          return;
        }
      } else {
        const l = /CPU(\d+)\s+(\d+) < CPU(\d+)\s+(\d+) \(cycles\)/.exec(bodies[idx + 1] ?? '');
        if (l) {
          consumed.add(idx + 1);
          const lo = BigInt(l[2]), hi = BigInt(l[4]);
          findings.push({ ...at, kind: 'watchdog', verdict: lo < hi ? 'match' : 'mismatch', scenario: 'seed-000-tsc-adjust-hotplug',
            text: `watchdog (2026 form): CPU${l[1]} read ${m[1]} = ${lo} after CPU${l[3]} had read ${hi}: ${lo < hi ? `${hi - lo} cycles backwards across CPUs (watchdog_check_cpu_skew)` : 'not smaller: the kernel would not have printed this'}` });
          return;
        }
      }
      findings.push({ ...at, kind: 'watchdog', verdict: 'note', text: `the watchdog (2026 form) marked ${m[1]} unstable due to ${m[2]}; the figures' lines are missing`, scenario: 'seed-002-precise-migration' });
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
      const khz = knownKhz();
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
      // cur->adjusted += cur_max_warp: the CPU's earlier TSC_ADJUST (0 on a vCPU KVM just created) plus the warp
      const prior = adjustOf.get(m[1]);
      let verdict: DmesgFinding['verdict'] = 'note';
      if (prior !== undefined || kvmGuest) {
        const want = (prior ?? 0n) + warp;
        if (want !== adjust) {
          verdict = 'mismatch';
          text += ` -- but ${prior !== undefined ? `the previous Adjust ${prior}` : 'a KVM vCPU\'s IA32_TSC_ADJUST, 0 when created,'} plus the warp is ${want}`;
        }
      }
      adjustOf.set(m[1], adjust);
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
      findings.push({ ...at, kind: 'tsc-adjust', verdict, text, ...(verdict === 'mismatch' ? { expected: `Adjust: ${(prior ?? 0n) + warp}` } : {}),
        ...(big ? { scenario: 'seed-000-tsc-adjust-hotplug' } : {}),
        meaning: 'check_tsc_sync_target(): the CPU coming online found its TSC behind the boot CPU\'s and wrote IA32_TSC_ADJUST to move it forward by the warp' });
      return;
    }
    m = /Measured (\S+) cycles TSC warp between CPUs, turning off TSC clock\./.exec(body);
    if (m) {
      const warp = dec(m[1]);
      if (warp === null) { findings.push({ ...at, kind: 'malformed', verdict: 'malformed', text: `a number is malformed: ${body}` }); return; }
      const khz = knownKhz();
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
    // sched_clock: Marking unstable (tick_gtod, __gtod_offset)<-(tick_raw, __sched_clock_offset)
    m = /sched_clock: Marking unstable \((-?\d+), (-?\d+)\)<-\((-?\d+), (-?\d+)\)/.exec(body);
    if (m) {
      const [a, b, c, d] = m.slice(1, 5).map((x) => BigInt(x));
      const step = (a + b) - (c + d);
      findings.push({ ...at, kind: 'sched-clock-unstable', verdict: 'note', scenario: 'seed-002-precise-migration',
        text: `sched_clock leaves TSC-direct mode: it read tick_raw + __sched_clock_offset = ${c + d} ns and now reads tick_gtod + __gtod_offset = ${a + b} ns: a step of ${fmtDuration(step, true)} (the offsets themselves are not recomputed here: __gtod_offset dates from when it was marked stable)`,
        meaning: '__sched_clock_work(): after the TSC is marked unstable, sched_clock follows the GTOD clock plus an offset' });
      return;
    }
    if (/^sched_clock: Marking (un)?stable\b/.test(body)) return; // no figures: nothing to check (the 2.6-era form)

    m = /tsc: (Detected|Refined TSC clocksource calibration:) (\S+) MHz(?: (processor|TSC))?/.exec(body);
    if (m) {
      const khz = mhzToKhz(m[2]);
      if (typeof khz === 'string') { findings.push({ ...at, kind: 'malformed', verdict: 'malformed', text: `the TSC rate: ${khz}` }); return; }
      const refined = m[1] !== 'Detected';
      const ppm = refined && tscKhz ? ((khz - tscKhz) / tscKhz) * 1e6 : null;
      findings.push({ ...at, kind: 'tsc-rate', verdict: 'note',
        text: `TSC rate ${khz} kHz (${refined ? 'refined' : 'detected'})` + (ppm !== null ? `: ${ppm >= 0 ? '+' : ''}${ppm.toFixed(1)} ppm from the ${tscKhz} kHz detected at boot` : ''),
        meaning: refined ? 'tsc_refine_calibration_work(): the TSC measured against the HPET or ACPI PM timer over ~1 s; the tsc clocksource registers at this rate'
          : m[3] === 'TSC' ? 'tsc_init(): the TSC rate, printed apart from the CPU rate when they differ' : 'tsc_init(): the TSC rate from CPUID 0x15/0x16, the hypervisor (kvm-clock, VMware, Hyper-V) or a PIT/HPET calibration; tsc-early registers at it' });
      return;
    }
    m = /hpet0?: .*?(\d+-bit )?(\S+) MHz counter/.exec(body);
    if (m) {
      const r = mhzToHz(m[2]);
      if (typeof r === 'string') { findings.push({ ...at, kind: 'malformed', verdict: 'malformed', text: `the HPET rate: ${r}` }); return; }
      const common = COMMON_HPET_PERIODS.find(([p]) => hpetHzOfPeriod(p) === r);
      findings.push({ ...at, kind: 'hpet-rate', verdict: 'note',
        text: `HPET rate ${r} Hz (hpet_period ${common?.[0] ?? hpetPeriodOfHz(r)} fs${common ? `: ${common[1]}` : ''})` });
      return;
    }
    m = /^(?:x86\/)?tsc: (?:Fast TSC calibration (using PIT|failed)|Unable to calibrate against PIT|using (PIT|HPET|PMTIMER) reference calibration|HPET\/PMTIMER calibration failed)/.exec(body);
    if (m) {
      findings.push({ ...at, kind: 'tsc-calibration', verdict: 'note', text: `TSC calibration: ${body.replace(/^(x86\/)?tsc: /, '')}`,
        meaning: 'native_calibrate_tsc()/pit_hpet_ptimer_calibrate_cpu(): how the boot measured the TSC rate; a guest does this only without kvm-clock or CPUID 0x15' });
      return;
    }
    m = /^(?:tsc: )?Marking TSC unstable due to (.*)$/.exec(body);
    if (m) {
      const reason = m[1];
      const scenario = /clocksource watchdog/.test(reason) ? 'seed-002-precise-migration' : /check_tsc_sync|TSCs unsynchronized|warp/.test(reason) ? 'seed-000-tsc-adjust-hotplug'
        : /cpufreq|idle|C-state|C3/.test(reason) ? 'seed-003-unify-tsc-logic' : undefined;
      findings.push({ ...at, kind: 'tsc-unstable', verdict: 'note', text: `mark_tsc_unstable("${reason}"): the tsc clocksource is rated 0, sched_clock leaves TSC-direct mode and the kernel switches to another clocksource`,
        ...(scenario ? { scenario } : {}) });
      return;
    }

    // kvm-clock: cpu N, msr H:L|HEX, primary|secondary cpu clock: the per-CPU pvclock areas are 64 bytes apart in a page-aligned array
    m = /^kvm-clock: cpu (\d+), msr (?:([0-9a-f]+):([0-9a-f]+)|([0-9a-f]+)), (primary|secondary) cpu clock/.exec(body);
    if (m) {
      const cpu = Number(m[1]);
      const v = m[4] !== undefined ? hex(m[4])! : (hex(m[2])! << 32n) | hex(m[3])!;
      const pa = v & ~1n, base = pa - BigInt(cpu) * 64n;
      const enabled = (v & 1n) === 1n;
      const aligned = cpu < 64 && base >= 0n && base % 4096n === 0n;
      const other = kvmclockBase;
      const same = other === undefined || other === base;
      if (cpu < 64 && kvmclockBase === undefined) kvmclockBase = base;
      const ok = enabled && (cpu >= 64 || (aligned && same));
      findings.push({ ...at, kind: 'kvm-clock', verdict: ok ? 'match' : 'mismatch',
        text: `kvm_register_clock(): CPU${cpu}'s pvclock area at guest-physical 0x${pa.toString(16)}${enabled ? ' (bit 0: enabled)' : ' -- bit 0 (enable) is clear'}` +
          (cpu < 64 ? `: the ${cpu < 64 ? 'boot array' : ''} at 0x${base.toString(16)} + ${cpu} x 64 bytes${aligned ? '' : ', which is not page-aligned'}${same ? '' : `, but another CPU's line puts the array at 0x${other!.toString(16)}`}` : '') +
          (m[5] === 'secondary' ? '. KVM fills it at the vCPU\'s next clock update; until then this CPU\'s kvm-clock reads a stale page (seed 000: the hot-added vCPU)' : ''),
        ...(m[5] === 'secondary' ? { scenario: 'seed-000-tsc-adjust-hotplug' } : {}) });
      return;
    }

    // RCU stalls: t= jiffies since the grace period started
    m = /(?:rcu_\w+|RCU) (?:detected stalls? on|self-detected stall on|detected CPU)|^\s*(?:rcu:\s*)?\(t=\d+ jiffies/.exec(body);
    if (m) {
      let t = /\bt=(\d+) jiffies/.exec(body);
      for (let j = idx + 1; !t && j <= idx + 2 && j < lines.length; j++) {
        t = /\bt=(\d+) jiffies/.exec(bodies[j] ?? '');
        if (t) consumed.add(j);
      }
      if (!t) { findings.push({ ...at, kind: 'rcu-stall', verdict: 'note', text: 'an RCU CPU stall warning; its t= jiffies figure follows' }); return; }
      const j = BigInt(t[1]);
      const secs = (h: number) => fmtNs((j * 1_000_000_000n) / BigInt(h));
      const sAt = hz ? Number(j) / hz : null;
      const leap = sAt !== null ? sAt > 3600 : Number(j) / 1000 > 3600;
      findings.push({ ...at, kind: 'rcu-stall', verdict: 'note', ...(leap ? { scenario: 'seed-000-tsc-adjust-hotplug' } : {}),
        text: `RCU stall: the grace period has waited t=${j} jiffies = ${hz ? `${secs(hz)} at HZ=${hz}` : `${secs(1000)} at HZ=1000, ${secs(250)} at HZ=250 (the log fixes no HZ)`}` +
          (leap ? '. No CPU stalls that long: jiffies leapt (the clock under the guest jumped forward, as a stale kvmclock page does)' : '; stalls are reported after rcu_cpu_stall_timeout (21 s; 60 s before 4.x) and every 3 timeouts after') });
      return;
    }
    m = /BUG: soft lockup - CPU#(\d+) stuck for (\d+)s!/.exec(body);
    if (m) {
      const s = Number(m[2]);
      findings.push({ ...at, kind: 'lockup', verdict: 'note', scenario: s > 3600 ? 'seed-000-tsc-adjust-hotplug' : 'seed-004-ksm-numad',
        text: `soft lockup: CPU${m[1]}'s watchdog touch stamp is ${s} s old (get_timestamp(): local_clock() >> 30, units of 2^30 ns = 1.074 s, shown as s)` +
          (s > 3600 ? ': no CPU runs that long without scheduling: the clock leapt' : ': the CPU ran without scheduling the watchdog thread, or the vCPU was not run (host stall)') });
      return;
    }
    m = /INFO: task (\S+):(\d+) blocked for more than (\d+) seconds/.exec(body);
    if (m) {
      findings.push({ ...at, kind: 'hung-task', verdict: 'note', scenario: 'seed-001-xen-nonstop-tsc',
        text: `hung task: ${m[1]} (pid ${m[2]}) slept uninterruptibly more than ${m[3]} s by the guest's jiffies (check_hung_task); after a restore or a clock leap this is the clock, not the task` });
      return;
    }
    for (const [re, kind, say, scenario] of EXPLAINED) {
      const e = re.exec(body);
      if (e) { findings.push({ ...at, kind, verdict: 'note', text: say(e), ...(scenario ? { scenario } : {}) }); return; }
    }
  }
  const count = (v: DmesgFinding['verdict']) => findings.filter((f) => f.verdict === v).length;
  return {
    findings, ...(knownKhz() ? { tscKhz: knownKhz() } : {}), ...(hz ? { hz } : {}), ...(hpetHz ? { hpetHz } : {}),
    summary: { recognised: findings.length, match: count('match'), mismatch: count('mismatch'), malformed: count('malformed') },
  };
}

function fmtNs(ns: bigint): string {
  const neg = ns < 0n, a = neg ? -ns : ns;
  return `${neg ? '-' : ''}${a / 1_000_000_000n}.${((a % 1_000_000_000n) / 1_000_000n).toString().padStart(3, '0')} s`;
}
