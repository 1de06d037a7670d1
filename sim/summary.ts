// Plain-text views of a run: the guest's dmesg, and one-line verdicts.
import type { Anomaly, AnomalyType, LogLine, RunResult } from './types.js';
import type { Scenario } from './scenario.js';
import { printkTime, seconds } from './units.js';

/** Anomaly types that mean the guest saw time go wrong (the rest are causes or context). */
export const HARMFUL = new Set<Anomaly['type']>(['time-backwards', 'time-jump', 'time-stall', 'soft-lockup', 'rcu-stall', 'hung-task', 'hv-page-mismatch']);

/** The log as dmesg (guest lines) with the host's and VMM's lines interleaved as comments. */
export function renderLog(log: LogLine[]): string[] {
  return log.map((l) => (l.source === 'guest' ? `${printkTime(l.stamp ?? 0n)} ${l.text}` : `#${seconds(l.t).padStart(18)} ${l.source}: ${l.text}`));
}

/** "soft-lockup x2, rcu-stall x2, time-stall x9 (longest 300.000000000 s)" or "nothing". */
export function summarize(r: RunResult): string {
  const counts = new Map<string, number>();
  for (const a of r.anomalies) counts.set(a.type, (counts.get(a.type) ?? 0) + 1);
  if (!counts.size) return 'nothing';
  return [...counts].map(([type, n]) => (n > 1 ? `${type} x${n}` : type)).join(', ');
}

/** Whether the guest kept good time: none of the harmful anomalies (or of the scenario's named symptoms). */
export function healthy(r: RunResult, symptoms?: readonly Anomaly['type'][]): boolean {
  const bad = symptoms ? new Set(symptoms) : HARMFUL;
  return !r.anomalies.some((a) => bad.has(a.type));
}

/** What a fix is expected to do: the symptoms it cures and those it leaves (without `cures`/`leaves`: it cures every
 *  symptom, or every harmful type when the scenario names none). */
export function fixExpectation(s: Scenario, fix: Scenario['fixes'][number]): { cures: AnomalyType[]; leaves: AnomalyType[] } {
  if (!fix.cures && !fix.leaves) return { cures: [...(s.symptoms ?? HARMFUL)], leaves: [] };
  return { cures: [...(fix.cures ?? [])], leaves: [...(fix.leaves ?? [])] };
}

/** Anomaly counts by type: "time-stall x9". */
const counted = (r: RunResult, t: AnomalyType) => {
  const n = r.anomalies.filter((a) => a.type === t).length;
  return n > 1 ? `${t} x${n}` : t;
};

/** Where a fix's run differs from its expectation: a symptom it should cure still seen, one it should leave gone. */
export function judgeFix(s: Scenario, fix: Scenario['fixes'][number], r: RunResult): string[] {
  const { cures, leaves } = fixExpectation(s, fix), seen = new Set(r.anomalies.map((a) => a.type));
  return [
    ...cures.filter((t) => seen.has(t)).map((t) => `fix "${fix.name}" should cure ${t}, but the run shows ${counted(r, t)}`),
    ...leaves.filter((t) => !seen.has(t)).map((t) => `fix "${fix.name}" should leave ${t}, but the run shows none (update its "leaves" if the model now cures it)`),
  ];
}

/** A seed's own run: it must show at least one of its symptoms, else it no longer reproduces its incident. */
export function judgeSeed(s: Scenario, r: RunResult): string[] {
  return healthy(r, s.symptoms) ? [`${s.name} shows none of its symptoms (${(s.symptoms ?? [...HARMFUL]).join(', ')}): the incident no longer replays`] : [];
}
