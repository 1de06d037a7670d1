// A run, explained: its anomalies in real units (grouped across vCPUs), the cause chain of each incident as the
// run's own timeline has it (the VMM's and KVM's actions, the guest's key lines and the anomalies, in the order they
// happened, each anomaly with the rule that links it to what came before), a statistics block per vCPU and clock
// (each clock minus real time, from a traced run), and the run's measurements with their units.
// Nothing here is written per seed: every sentence is made from the run result's events, anomalies and samples.
import type { Anomaly, AnomalyType, LogLine, RunResult } from '../sim/types.js';
import type { TracePoint } from '../sim/machine.js';
import { nsOf } from '../sim/units.js';
import { fmtCycles, fmtDuration, fmtPpm, SOFTLOCKUP_UNIT_NS } from './fmt.js';

/** Real time since the VM started, as seconds with microseconds (the printk precision). */
export function fmtT(t: bigint): string {
  const s = t / 1_000_000_000n, us = (t % 1_000_000_000n) / 1000n;
  return `${s}.${us.toString().padStart(6, '0')} s`;
}

/** An anomaly's size in the unit that fits; cycles with their rate, the soft-lockup's 2^30-ns units converted. */
export function fmtSize(a: Pick<Anomaly, 'size' | 'unit'>, tscKhz?: number): string {
  switch (a.unit) {
    case 'ns': return fmtDuration(a.size);
    case 'cycles': return fmtCycles(a.size, tscKhz);
    case 'units': return `${a.size} units of 2^30 ns = ${fmtDuration(a.size * SOFTLOCKUP_UNIT_NS)} (the kernel prints "stuck for ${a.size}s")`;
    case 's': return fmtDuration(a.size * 1_000_000_000n);
    case '100ns': return `${fmtDuration(a.size * 100n)} (${a.size} Hyper-V 100 ns units)`;
  }
}

/** What each anomaly type means, and how it follows from what came before it (the model's rule). */
export const RULES: Record<AnomalyType, string> = {
  'masterclock-off': 'KVM stops using one (host TSC, host clock) pair for all vCPUs: each vCPU\'s pvclock page gets its own reference, and without PVCLOCK_TSC_STABLE_BIT the guest clamps every kvmclock read to the largest value any vCPU has returned (last_value)',
  'tsc-warp': 'a vCPU\'s TSC disagrees with the boot CPU\'s by this much when it comes online (check_tsc_sync_target): a vCPU created with a TSC near 0, or an offset KVM did not match to the others',
  'tsc-adjust-compensate': 'the guest writes IA32_TSC_ADJUST to move that vCPU\'s TSC by the warp; KVM applies it to the TSC offset, but the vCPU\'s kvmclock page still pairs the old TSC with its system time until KVM\'s next clock update: kvmclock on that vCPU reads the warp as elapsed time',
  'time-jump': 'the clock leapt forward between two reads: time the guest did not live through (a stale pvclock page read against a moved TSC, or a clock that follows the host\'s uptime)',
  'time-backwards': 'a later read returned a smaller value than an earlier one (on this vCPU, or across vCPUs while the clock claims to be stable): the guest\'s clock went backwards',
  'time-stall': 'the clock did not advance while real time did (a paused VM, a vCPU not run, or reads clamped to a last_value some vCPU leapt to)',
  'tsc-unstable': 'the guest marked the TSC unstable: sched_clock leaves TSC-direct mode and the clocksource switches away from tsc',
  'soft-lockup': 'the softlockup watchdog found its touch stamp this old: the CPU did not schedule for that long by its own clock (or its clock leapt by that much)',
  'rcu-stall': 'an RCU grace period has waited this long by the guest\'s jiffies: a CPU did not report a quiescent state (a stalled vCPU, or jiffies that leapt)',
  'hung-task': 'a task slept uninterruptibly longer than hung_task_timeout_secs by the guest\'s clock',
  'hv-page-mismatch': 'the Hyper-V TSC page and the reference counter MSR disagree by more than one 100 ns unit',
};

/** Anomalies that differ only in their vCPU, as one line. */
export interface AnomalyGroup {
  type: AnomalyType; t: bigint; until: bigint; vcpus: number[]; clock?: string; across?: boolean;
  size: bigint; unit: Anomaly['unit']; count: number; reason?: string;
  /** The size in real units, the sentence a person reads, and the same without the time (for the chain). */
  sizeText: string; text: string; what: string;
}

const ranges = (xs: number[]) => {
  const out: string[] = [];
  for (let i = 0; i < xs.length; i++) {
    let j = i;
    while (j + 1 < xs.length && xs[j + 1] === xs[j] + 1) j++;
    out.push(i === j ? `${xs[i]}` : `${xs[i]}-${xs[j]}`);
    i = j;
  }
  return out.join(',');
};

export function groupAnomalies(anomalies: Anomaly[], tscKhz?: number): AnomalyGroup[] {
  const groups = new Map<string, AnomalyGroup>();
  for (const a of anomalies) {
    const key = [a.type, a.t, a.until, a.clock, a.across, a.size, a.unit, a.count, a.reason].join('|');
    const g = groups.get(key);
    if (g) { if (a.vcpu !== undefined) g.vcpus.push(a.vcpu); continue; }
    groups.set(key, { type: a.type, t: a.t, until: a.until, vcpus: a.vcpu !== undefined ? [a.vcpu] : [], ...(a.clock ? { clock: a.clock } : {}),
      ...(a.across ? { across: true } : {}), size: a.size, unit: a.unit, count: a.count, ...(a.reason ? { reason: a.reason } : {}), sizeText: '', text: '', what: '' });
  }
  return [...groups.values()].map((g) => {
    g.vcpus.sort((x, y) => x - y);
    const where = [g.vcpus.length ? `vCPU${g.vcpus.length > 1 ? 's' : ''} ${ranges(g.vcpus)}` : '', g.clock ?? '', g.across ? 'across vCPUs' : ''].filter(Boolean).join(', ');
    g.sizeText = g.size === 0n && g.unit === 'ns' ? '' : fmtSize(g, tscKhz);
    const size = g.sizeText ? (g.type === 'time-backwards' ? `${g.sizeText} backwards` : g.type === 'time-jump' ? `${g.sizeText} forward` :
      g.type === 'time-stall' ? `stood still ${g.sizeText}` : g.sizeText) : '';
    const span = g.until > g.t ? ` .. ${fmtT(g.until)}` : '';
    const tail = `${size ? `: ${size}` : ''}${g.count > 1 ? ` (${g.count} times)` : ''}${g.reason ? ` -- ${g.reason}` : ''}`;
    g.text = `${g.type}${where ? ` (${where})` : ''} at ${fmtT(g.t)}${span}${tail}`;
    g.what = `${g.type}${where ? ` (${where})` : ''}${span ? ` until ${fmtT(g.until)}` : ''}${tail}`;
    return g;
  });
}

export interface ChainStep {
  t: bigint;
  source: 'vmm' | 'kvm' | 'guest' | 'anomaly';
  /** A short label for the one-line chain. */
  label: string;
  text: string;
  /** For anomalies: the rule that links it to what came before. */
  rule?: string;
}
export interface Incident { from: bigint; to: bigint; steps: ChainStep[]; chain: string }

/** Guest lines that are links of a chain (the rest of the log is context the log view already shows). */
const KEY_GUEST = /has been hot-added|TSC ADJUST|Marking TSC unstable|Clocksource \S+ unstable|timekeeping watchdog|Switched to clocksource|Measured \d+ cycles TSC warp|sched_clock: Marking|unstable due to|suspending xenstore|Freezing user space/;
/** A new incident needs this much quiet after the last anomaly (and starts at a VMM action after it). */
const QUIET_NS = 600n * 1_000_000_000n;

const labelOf = (l: LogLine): string => {
  const text = l.text.replace(/^[\w.-]+: (?=\w)/, l.source === 'kvm' ? '' : '$&');
  if (l.source === 'vmm') return text.split(/[:(]/)[0].trim();
  if (l.source === 'kvm') return text.replace(/^[\w.-]+: /, '').split(/[(:]/)[0].trim();
  if (/TSC ADJUST compensate/.test(text)) return 'TSC_ADJUST write';
  if (/has been hot-added/.test(text)) return text;
  return text.replace(/^\w+: /, '').split(/[(:]/)[0].trim().slice(0, 60);
};

/**
 * The incidents of a run: each is the VMM/KVM actions since the previous incident (its context), then everything
 * from its first anomaly until QUIET_NS passes with no anomaly (or a VMM action comes after the last one), in time
 * order: the VMM's and KVM's lines, the guest's key lines, and the anomaly groups with their rules.
 */
export function incidents(r: RunResult, groups: AnomalyGroup[]): Incident[] {
  type Item = { t: bigint; order: number; step: ChainStep; anomaly: boolean };
  const items: Item[] = [];
  r.log.forEach((l, i) => {
    if (l.source === 'guest' && !KEY_GUEST.test(l.text)) return;
    items.push({ t: l.t, order: i, anomaly: false, step: { t: l.t, source: l.source, label: labelOf(l), text: l.source === 'guest' ? `${l.vcpu !== undefined ? `CPU${l.vcpu}: ` : ''}${l.text}` : l.text } });
  });
  groups.forEach((g, i) => items.push({ t: g.t, order: r.log.length + i, anomaly: true,
    step: { t: g.t, source: 'anomaly', label: `${g.type}${g.clock ? ` ${g.clock}` : ''}`, text: g.what, rule: RULES[g.type] } }));
  // at one instant the actions come before what they caused; anomalies keep the observer's order
  items.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : Number(a.anomaly) - Number(b.anomaly) || a.order - b.order));
  const out: Incident[] = [];
  let context: Item[] = [], cur: Item[] | null = null, lastAnomaly = 0n;
  const close = () => {
    if (!cur) return;
    const steps = dedupe([...context, ...cur].map((x) => x.step));
    const anomalies = cur.filter((x) => x.anomaly);
    out.push({ from: anomalies[0].t, to: anomalies[anomalies.length - 1].t, steps, chain: shortChain(steps) });
    cur = null; context = [];
  };
  for (const it of items) {
    if (it.anomaly) {
      if (cur && it.t - lastAnomaly > QUIET_NS) close();
      if (!cur) cur = [];
      cur.push(it); lastAnomaly = it.t;
    } else if (cur && (it.t - lastAnomaly > QUIET_NS || (it.step.source === 'vmm' && it.t > lastAnomaly))) {
      close(); context.push(it);
    } else (cur ?? context).push(it);
  }
  close();
  return out;
}

/** Repeated guest lines of one form (numbers apart) and repeated labels are shown once, with a count. */
function dedupe(steps: ChainStep[]): ChainStep[] {
  const out: (ChainStep & { n?: number })[] = [];
  const form = (s: ChainStep) => `${s.source}|${s.text.replace(/CPU\d+/g, 'CPU#').replace(/\d+/g, '#')}`;
  for (const s of steps) {
    const prev = out.find((o) => o.source === 'guest' && s.source === 'guest' && form(o) === form(s) && s.t - o.t < 1_000_000_000n);
    if (prev) { prev.n = (prev.n ?? 1) + 1; continue; }
    out.push({ ...s });
  }
  return out.map((s) => (s.n ? { ...s, text: `${s.text} (and ${s.n - 1} more like it)` } : s));
}

/** "stop → migrate legacy to dst → ... → time-stall kvmclock": consecutive equal labels once. */
function shortChain(steps: ChainStep[]): string {
  const labels: string[] = [];
  for (const s of steps) {
    const l = s.label.replace(/^(pvclock pages) (carry|lose).*/, '$1 $2 the stable bit');
    if (labels[labels.length - 1] !== l && !labels.slice(-3).includes(l)) labels.push(l);
  }
  return labels.join(' → ');
}

export interface ClockStats {
  vcpu: number;
  clock: 'tsc' | 'kvmclock' | 'sched_clock' | 'monotonic';
  samples: number;
  /** Largest |clock - real time| after the first sample's offset is taken away (ns). */
  maxOffsetNs: bigint;
  /** The final offset (ns): where the clock ended relative to real time. */
  endOffsetNs: bigint;
  /** The rate error over the smooth stretches (no step over 1000 ppm, no backward read): d(clock - real)/d(real), ppm. */
  driftPpm: number;
  /** The lowest and highest drift of the smooth stretches (of 5 samples or more), when there are several. */
  segmentPpm?: [number, number];
  /** The part of the span the smooth stretches cover (0..1): the rest is steps and stalls. */
  smoothFraction: number;
  backwardSteps: number;
  maxBackwardNs: bigint;
  /** |clock error| percentiles over the samples (ns). */
  p50Ns: bigint; p99Ns: bigint; maxErrNs: bigint;
}

/** Per vCPU and clock: the clock minus real time over the traced samples, relative to the first. */
export function clockStats(trace: TracePoint[], tscKhz: number, kvmclock: boolean): ClockStats[] {
  const byVcpu = new Map<number, TracePoint[]>();
  for (const p of trace) (byVcpu.get(p.vcpu) ?? byVcpu.set(p.vcpu, []).get(p.vcpu)!).push(p);
  const clocks: [ClockStats['clock'], (p: TracePoint) => bigint][] = [
    ['tsc', (p) => nsOf(p.tsc, tscKhz)], ...(kvmclock ? [['kvmclock', (p: TracePoint) => p.kvmclock] as [ClockStats['clock'], (p: TracePoint) => bigint]] : []),
    ['sched_clock', (p) => p.schedClock], ['monotonic', (p) => p.monotonic]];
  const out: ClockStats[] = [];
  for (const [vcpu, pts] of [...byVcpu].sort((a, b) => a[0] - b[0])) {
    if (pts.length < 2) continue;
    for (const [clock, read] of clocks) {
      const base = read(pts[0]) - pts[0].t;
      const err = pts.map((p) => read(p) - p.t - base);
      const abs = err.map((e) => (e < 0n ? -e : e)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      // drift: the error's slope over the smooth intervals (a step over 1000 ppm, or a backward read, splits segments)
      let back = 0, maxBack = 0n, dErr = 0n, dT = 0n, segErr = 0n, segT = 0n, segN = 0;
      const segs: number[] = [];
      const endSeg = () => { if (segN >= 5 && segT > 0n) segs.push((Number(segErr) / Number(segT)) * 1e6); segErr = 0n; segT = 0n; segN = 0; };
      for (let i = 1; i < pts.length; i++) {
        const dt = pts[i].t - pts[i - 1].t, de = err[i] - err[i - 1];
        const d = read(pts[i]) - read(pts[i - 1]);
        if (d < 0n) { back++; if (-d > maxBack) maxBack = -d; }
        if (dt > 0n && d >= 0n && (de < 0n ? -de : de) * 1000n <= dt) { dErr += de; dT += dt; segErr += de; segT += dt; segN++; } else endSeg();
      }
      endSeg();
      const pct = (q: number) => abs[Math.min(abs.length - 1, Math.floor(q * (abs.length - 1) + 0.5))];
      out.push({ vcpu, clock, samples: pts.length, maxOffsetNs: abs[abs.length - 1], endOffsetNs: err[err.length - 1],
        driftPpm: dT > 0n ? (Number(dErr) / Number(dT)) * 1e6 : 0, ...(segs.length > 1 ? { segmentPpm: [Math.min(...segs), Math.max(...segs)] as [number, number] } : {}),
        smoothFraction: Number((dT * 1000n) / (pts[pts.length - 1].t - pts[0].t || 1n)) / 1000,
        backwardSteps: back, maxBackwardNs: maxBack, p50Ns: pct(0.5), p99Ns: pct(0.99), maxErrNs: abs[abs.length - 1] });
    }
  }
  return out;
}

export interface Measurement { name: string; value: bigint; text: string }

/** The run's measurements with their units, read from the name (…Ns: ns, …Cycles: cycles at the rate). */
export function measurementTexts(m: Record<string, bigint>, tscKhz?: number): Measurement[] {
  return Object.entries(m).map(([name, value]) => {
    const text = /Ns$|Ns\b/.test(name) ? `${value} ns = ${fmtDuration(value)}` : /Cycles$/.test(name) ? fmtCycles(value, tscKhz)
      : /\.(tsc)$/.test(name) ? fmtCycles(value, tscKhz) : /\.(kvmclock|schedClock|monotonic)$|At$/.test(name) ? `${value} ns = ${fmtDuration(value)}` : String(value);
    return { name, value, text };
  });
}

export interface Explanation {
  anomalies: AnomalyGroup[];
  incidents: Incident[];
  clocks: ClockStats[];
  measurements: Measurement[];
  /** How the statistics were sampled. */
  sampling: { everyNs: bigint; tscKhz: number };
}

export function explain(r: RunResult, trace: TracePoint[], o: { tscKhz: number; kvmclock: boolean; everyNs: bigint }): Explanation {
  const anomalies = groupAnomalies(r.anomalies, o.tscKhz);
  return { anomalies, incidents: incidents(r, anomalies), clocks: clockStats(trace, o.tscKhz, o.kvmclock),
    measurements: measurementTexts(r.measurements, o.tscKhz), sampling: { everyNs: o.everyNs, tscKhz: o.tscKhz } };
}

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const padL = (s: string, n: number) => (s.length >= n ? s : ' '.repeat(n - s.length) + s);

/** Rows that differ only in their vCPU, as one: "vCPUs 0-7". */
export function groupClockStats(stats: ClockStats[]): (Omit<ClockStats, 'vcpu'> & { vcpus: number[] })[] {
  const m = new Map<string, Omit<ClockStats, 'vcpu'> & { vcpus: number[] }>();
  for (const c of stats) {
    const { vcpu, ...rest } = c;
    const key = JSON.stringify(rest, (_k, v) => (typeof v === 'bigint' ? String(v) : v));
    const g = m.get(key);
    if (g) g.vcpus.push(vcpu); else m.set(key, { ...rest, vcpus: [vcpu] });
  }
  return [...m.values()];
}

/** The text `tsclab run` prints after the log and the anomaly count. */
export function renderExplanation(e: Explanation): string[] {
  const out: string[] = [];
  for (const g of e.anomalies) out.push(`  ${g.text}`);
  e.incidents.forEach((inc, i) => {
    out.push('', `Incident ${i + 1} (${fmtT(inc.from)}${inc.to > inc.from ? ` .. ${fmtT(inc.to)}` : ''}): the cause chain as the run's timeline has it`);
    const told = new Set<string>();
    for (const s of inc.steps) {
      out.push(`  ${padL(fmtT(s.t), 18)}  ${pad(s.source === 'anomaly' ? '=>' : s.source, 5)} ${s.text}`);
      const type = s.label.split(' ')[0];
      if (s.rule && !told.has(type)) { told.add(type); out.push(`  ${' '.repeat(18)}        (${s.rule})`); }
    }
    out.push(`  in short: ${inc.chain}`);
  });
  if (e.clocks.length) {
    out.push('', `Clocks minus real time, per vCPU (from each clock's first sample; a sample every ${fmtDuration(e.sampling.everyNs)}; tsc at ${e.sampling.tscKhz} kHz):`);
    for (const c of groupClockStats(e.clocks)) {
      out.push(`  ${pad(`vCPU${c.vcpus.length > 1 ? 's' : ''} ${ranges(c.vcpus)}`, 11)} ${pad(c.clock, 11)} end ${fmtDuration(c.endOffsetNs, true)}, max |offset| ${fmtDuration(c.maxOffsetNs)}, ` +
        `drift ${fmtPpm(c.driftPpm)}${c.segmentPpm && c.segmentPpm[1] - c.segmentPpm[0] >= 0.05 ? ` (stretches ${fmtPpm(c.segmentPpm[0])} .. ${fmtPpm(c.segmentPpm[1])})` : ''}${c.smoothFraction < 0.95 ? ` over ${(c.smoothFraction * 100).toFixed(0)}% of the span` : ''}, ${c.backwardSteps ? `${c.backwardSteps} backward steps (largest ${fmtDuration(c.maxBackwardNs)})` : 'never backwards'}, ` +
        `|error| p50 ${fmtDuration(c.p50Ns)} p99 ${fmtDuration(c.p99Ns)} max ${fmtDuration(c.maxErrNs)} (${c.samples} reads)`);
    }
  }
  if (e.measurements.length) {
    out.push('', 'Measurements:');
    const w = Math.max(...e.measurements.map((m) => m.name.length));
    for (const m of e.measurements) out.push(`  ${pad(m.name, w)}  ${m.text}`);
  }
  return out;
}
