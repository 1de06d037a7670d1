// A run as a Chrome JSON trace (the Trace Event Format's JSON Object Format: {traceEvents, displayTimeUnit,
// otherData}), which ui.perfetto.dev and chrome://tracing open. The VM is a process (pid 1) with a thread per vCPU
// (tid = vCPU + 1) and two more for the VMM's actions and KVM (its log lines, and its tracepoints when a vCPU is not
// named); counter tracks carry each vCPU's clocks minus real time (ns, from the first sample); instant events ('i')
// mark the anomalies, the VMM's and KVM's actions, KVM's tracepoints and the guest's printk lines. Timestamps are µs
// of real time since the VM started (the format's unit); every instant's args carry the exact values as strings
// (t_ns, size, ...), since a double holds µs with ns decimals only approximately.
import type { Scenario } from '../sim/scenario.js';
import type { RunResult } from '../sim/types.js';
import type { Machine, TracePoint } from '../sim/machine.js';
import { traceCmdLine, type TraceRecord } from '../sim/kvm/trace.js';
import { nsOf } from '../sim/units.js';
import { fmtSize } from './explain.js';

export interface TraceEvent {
  name: string; ph: 'M' | 'i' | 'C'; pid: number; tid?: number; ts?: number; cat?: string; s?: 'g' | 'p' | 't';
  args: Record<string, string | number>;
}
export interface ChromeTrace { traceEvents: TraceEvent[]; displayTimeUnit: 'ns' | 'ms'; otherData: Record<string, string> }

/** A tracepoint with the real time it fired at (the record's ts is the host's raw clock). */
export interface TimedTracepoint { t: bigint; line: string; vcpu?: number; name: string }

/**
 * Records each KVM tracepoint with the machine's real time as it fires (call after enableTracepoints(), before
 * run()): the records keep the host's clock, which is not the VM's timeline once the VM has migrated.
 */
export function tapTracepoints(m: Machine): () => TimedTracepoint[] {
  const arr = m.tracepoints;
  if (!arr) throw new Error('tapTracepoints: enableTracepoints() first');
  const at = new Map<TraceRecord, bigint>();
  const push = arr.push.bind(arr);
  arr.push = (...recs: TraceRecord[]) => { for (const r of recs) at.set(r, m.now()); return push(...recs); };
  return () => arr.map((r) => ({ t: at.get(r) ?? 0n, line: traceCmdLine(m.rules, r).trim(), name: r.e.name, ...('vcpu' in r.e ? { vcpu: r.e.vcpu } : {}) }));
}

export const PID = 1, TID_VMM = 1000, TID_KVM = 1001;
const tidOf = (vcpu: number) => vcpu + 1;
/** ns of real time -> the format's µs (a double: exact to the ns up to ~2^53 ns, 104 days). */
export const usOf = (t: bigint) => Number(t / 1000n) + Number(t % 1000n) / 1000;

export function perfettoTrace(s: Scenario, r: RunResult, trace: TracePoint[], tscKhz: number, tracepoints: TimedTracepoint[] = []): ChromeTrace {
  const ev: TraceEvent[] = [];
  const vcpus = [...new Set([...trace.map((p) => p.vcpu), ...r.anomalies.flatMap((a) => (a.vcpu === undefined ? [] : [a.vcpu])),
    ...r.log.flatMap((l) => (l.source === 'guest' && l.vcpu !== undefined ? [l.vcpu] : []))])].sort((a, b) => a - b);
  const meta = (name: string, tid: number | undefined, args: Record<string, string | number>) =>
    ev.push({ name, ph: 'M', pid: PID, ...(tid !== undefined ? { tid } : {}), args });
  meta('process_name', undefined, { name: `${s.vm.name} (${r.scenario})` });
  meta('process_sort_index', undefined, { sort_index: 0 });
  for (const v of vcpus) { meta('thread_name', tidOf(v), { name: `vCPU ${v}` }); meta('thread_sort_index', tidOf(v), { sort_index: v }); }
  meta('thread_name', TID_VMM, { name: 'VMM' }); meta('thread_sort_index', TID_VMM, { sort_index: 10_000 });
  meta('thread_name', TID_KVM, { name: 'KVM' }); meta('thread_sort_index', TID_KVM, { sort_index: 10_001 });

  // counters: each clock minus real time, from the vCPU's first sample (ns; exact while under 2^53 ns)
  const clocks: [string, (p: TracePoint) => bigint][] = [['tsc', (p) => nsOf(p.tsc, tscKhz)],
    ...(s.vm.guest.kvmclock ? [['kvmclock', (p: TracePoint) => p.kvmclock] as [string, (p: TracePoint) => bigint]] : []),
    ['sched_clock', (p) => p.schedClock], ['monotonic', (p) => p.monotonic]];
  let lossy = false;
  for (const v of vcpus) {
    const pts = trace.filter((p) => p.vcpu === v);
    if (!pts.length) continue;
    const base = clocks.map(([, read]) => read(pts[0]) - pts[0].t);
    for (const p of pts) {
      clocks.forEach(([name, read], i) => {
        const d = read(p) - p.t - base[i];
        if (d > 1n << 53n || d < -(1n << 53n)) lossy = true;
        ev.push({ name: `vCPU ${v} ${name} - real time (ns)`, ph: 'C', pid: PID, tid: tidOf(v), ts: usOf(p.t), cat: 'clock', args: { [name]: Number(d) } });
      });
    }
  }
  // instants: anomalies on their vCPU (process-wide without one), the VMM's and KVM's lines, tracepoints, printk
  for (const a of r.anomalies) {
    ev.push({ name: `${a.type}${a.clock ? ` (${a.clock})` : ''}`, ph: 'i', pid: PID, ...(a.vcpu !== undefined ? { tid: tidOf(a.vcpu), s: 't' as const } : { tid: TID_KVM, s: 'p' as const }),
      ts: usOf(a.t), cat: 'anomaly', args: { type: a.type, t_ns: String(a.t), until_ns: String(a.until), size: String(a.size), unit: a.unit, size_text: fmtSize(a, tscKhz),
        count: String(a.count), ...(a.vcpu !== undefined ? { vcpu: String(a.vcpu) } : {}), ...(a.clock ? { clock: a.clock } : {}),
        ...(a.across ? { across: 'true' } : {}), ...(a.reason ? { reason: a.reason } : {}) } });
  }
  for (const l of r.log) {
    const where = l.source === 'vmm' ? { tid: TID_VMM } : l.source === 'kvm' ? { tid: TID_KVM } : { tid: tidOf(l.vcpu ?? 0) };
    ev.push({ name: l.text.length > 80 ? `${l.text.slice(0, 77)}...` : l.text, ph: 'i', pid: PID, ...where, s: 't', ts: usOf(l.t), cat: l.source === 'guest' ? 'printk' : l.source,
      args: { text: l.text, t_ns: String(l.t), ...(l.stamp !== undefined ? { printk_stamp_ns: String(l.stamp) } : {}), ...(l.vcpu !== undefined ? { vcpu: String(l.vcpu) } : {}) } });
  }
  for (const tp of tracepoints) {
    ev.push({ name: tp.name, ph: 'i', pid: PID, tid: tp.vcpu !== undefined ? tidOf(tp.vcpu) : TID_KVM, s: 't', ts: usOf(tp.t), cat: 'kvm-tracepoint',
      args: { line: tp.line, t_ns: String(tp.t) } });
  }
  // metadata first, then by time (stable: the log's order at one instant)
  const order = (e: TraceEvent) => (e.ph === 'M' ? -1 : e.ts!);
  const sorted = ev.map((e, i) => [e, i] as const).sort((a, b) => order(a[0]) - order(b[0]) || a[1] - b[1]).map(([e]) => e);
  return { traceEvents: sorted, displayTimeUnit: 'ns',
    otherData: { generator: 'tsclab run --perfetto', scenario: r.scenario, seed: String(r.seed), tscKhz: String(tscKhz),
      counters: `each clock minus real time, ns, relative to the vCPU's first sample${lossy ? ' (some values beyond 2^53 ns: rounded to a double)' : ''}`,
      timestamps: 'µs of real time since the VM started; args.t_ns holds the exact ns' } };
}
