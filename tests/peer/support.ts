// What the ported peer tests share: their scenarios (tests/peer/scenarios/*.json), a scenario run up to a chosen
// instant (the guest's reads and the VMM's KVM_GET_CLOCK at that instant are what a run reports there), the
// jitter added to a scenario (churn and preemption events), and the reads a peer test takes in a lock order.
//
// A run is deterministic: the same scenario cut at two instants runs the same prefix, so "the run up to t" is the
// machine as it was at t in the full run. The guest's last read of each vCPU (measurements vcpuN.tsc, .kvmclock,
// at vcpuN.lastReadAt) is its read at the run's end, when the vCPU is in the guest then.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as assert from 'uvu/assert';
import { parseJsonStrict } from '../../sim/strict-json.js';
import { mergePatch, parseScenario, type Scenario } from '../../sim/scenario.js';
import { Machine, type TracePoint } from '../../sim/machine.js';
import { parseDuration } from '../../sim/units.js';
import type { RunResult } from '../../sim/types.js';
import * as o from '../../oracle/index.js';

/** A scenario as its JSON file has it (events in time order). */
export type Raw = { events?: RawEvent[]; [k: string]: unknown };
export type RawEvent = { at: string; do: string; [k: string]: unknown };

export const S = 1_000_000_000n;
export const MS = 1_000_000n;
const M64 = (1n << 64n) - 1n;
export const u64 = (x: bigint): bigint => x & M64;
export const s64 = (x: bigint): bigint => BigInt.asIntN(64, x);

/** A duration as the scenario writes it, in ns. */
export function ns(d: string): bigint {
  const v = parseDuration(d);
  if (v === null) throw new Error(`not a duration: ${d}`);
  return v;
}
/** ns as a duration string. */
export const dur = (t: bigint): string => `${t}ns`;

/** tests/peer/scenarios/<name>.json. */
export function load(name: string): Raw {
  const file = fileURLToPath(new URL(`./scenarios/${name}.json`, import.meta.url));
  return parseJsonStrict(readFileSync(file, 'utf8')) as Raw;
}

/** The scenario with an RFC 7386 merge patch applied (the same rule as a scenario's fixes). */
export const patch = (raw: Raw, p: Record<string, unknown>): Raw => mergePatch(raw, p) as Raw;

/** The scenario with more events, each put in time order after the ones at its instant. */
export function withEvents(raw: Raw, extra: RawEvent[]): Raw {
  const all = [...(raw.events ?? []), ...extra].map((e, i) => ({ e, i, t: ns(e.at) }));
  all.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : a.i - b.i));
  return { ...raw, events: all.map((x) => x.e) };
}

/** The scenario cut at t: it ends then, with the events up to and including t. */
export function cut(raw: Raw, t: bigint): Raw {
  return { ...raw, until: dur(t), events: (raw.events ?? []).filter((e) => ns(e.at) <= t) };
}

export interface Run { s: Scenario; m: Machine; r: RunResult }

/** Runs the scenario; with traceEvery, the machine keeps every reading vCPU's clocks on that grid (m.trace). */
export function run(raw: Raw, traceEvery: bigint | null = null): Run {
  const s = parseScenario(raw, `tests/peer/scenarios/${String(raw.name)}`);
  const m = new Machine(s);
  m.traceEvery = traceEvery;
  const r = m.run();
  return { s, m, r };
}

/** The run up to t: what the guest and the VMM see at t. */
export const runTo = (raw: Raw, t: bigint): Run => run(cut(raw, t));

/** vCPU i's guest reads at the end of the run (it must have read then: in the guest at that instant). */
export function guestReads(r: RunResult, i: number, t: bigint): { tsc: bigint; kvmclock: bigint } {
  assert.is(r.measurements[`vcpu${i}.lastReadAt`], t, `vCPU ${i} was in the guest at ${t} ns`);
  return { tsc: r.measurements[`vcpu${i}.tsc`], kvmclock: r.measurements[`vcpu${i}.kvmclock`] };
}

/** The values QEMU's stop read with KVM_GET_CLOCK, in order, with their flags as printed. */
export function stopClocks(r: RunResult): { t: bigint; clock: bigint; tscStable: boolean }[] {
  return r.log.flatMap((l) => {
    const m = l.source === 'vmm' ? /^stop: KVM_GET_CLOCK = (\d+) ns( \(TSC_STABLE\))?$/.exec(l.text) : null;
    return m ? [{ t: l.t, clock: BigInt(m[1]), tscStable: m[2] !== undefined }] : [];
  });
}

/**
 * Reads taken in a lock order, as kvmclock_test and tsc_scaling_sync take them: every read after another (in that
 * order) must not be below it. Reads at one instant may be taken in either order, so at one instant every reading
 * vCPU must read the same value. Returns the first violation, or null.
 */
export function lockOrderViolation(trace: TracePoint[], clock: 'tsc' | 'kvmclock'): string | null {
  let prevMax: { t: bigint; v: bigint; vcpu: number } | null = null;
  for (let i = 0; i < trace.length;) {
    const t = trace[i].t;
    let j = i;
    while (j < trace.length && trace[j].t === t) j++;
    const at = trace.slice(i, j);
    const lo = at.reduce((a, p) => (p[clock] < a[clock] ? p : a)), hi = at.reduce((a, p) => (p[clock] > a[clock] ? p : a));
    if (lo[clock] !== hi[clock]) return `at ${t} ns vCPU ${lo.vcpu} reads ${lo[clock]}, vCPU ${hi.vcpu} ${hi[clock]}: the read after the other goes back`;
    if (prevMax && lo[clock] < prevMax.v) {
      return `at ${t} ns vCPU ${lo.vcpu} reads ${lo[clock]}, below vCPU ${prevMax.vcpu}'s ${prevMax.v} at ${prevMax.t} ns`;
    }
    if (!prevMax || hi[clock] >= prevMax.v) prevMax = { t, v: hi[clock], vcpu: hi.vcpu };
    i = j;
  }
  return null;
}

/** churn: vCPUs `vcpus` run 1 ms, wait 0.5 ms off-CPU and land on another pCPU, from `from` to `to`. */
export const churn = (vcpus: number[], from: string, to: string, run = '1ms', wait = '500us'): RawEvent =>
  ({ at: from, do: 'churn', vcpus, run, wait, until: to });
/** preempt: the host deschedules vCPU v at `at` for `d` (no GUEST_STOPPED). */
export const preempt = (vcpu: number, at: string, duration: string): RawEvent => ({ at, do: 'preempt', vcpu, duration });

/** The anomalies of the given types (for messages). */
export const show = (x: unknown): string => JSON.stringify(x, (_, v) => (typeof v === 'bigint' ? `${v}` : v));

/**
 * How far a guest's kvmclock page, written by mainline KVM under TSC scaling, runs ahead of true time over `span` ns
 * of guest TSC since its tsc_timestamp (floor, ns). kvm_guest_time_update takes the page's rate from
 * kvm_scale_tsc(host kHz, ratio) -- whole kHz, truncated (f_page) -- while the guest TSC counts host kHz * ratio /
 * 2^frac (f_true): the page reads span * f_true / f_page. The kernel formulas from the oracle (tsclab's independent
 * BigInt copy of them), not from the model.
 */
export function pageGainNs(hostKhz: bigint, guestKhz: bigint, span: bigint, fracBits = 48): bigint {
  const ratio = o.kvmTscScalingRatio(guestKhz, hostKhz, fracBits)!;
  const fPage = o.kvmScaleTsc(hostKhz, ratio, fracBits) * 1000n; // Hz
  const fTrueShifted = hostKhz * 1000n * ratio; // Hz << fracBits
  return (span * (fTrueShifted - (fPage << BigInt(fracBits)))) / (fPage << BigInt(fracBits));
}
