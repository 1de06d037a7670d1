// Plain-text views of a run: the guest's dmesg, and one-line verdicts.
import type { Anomaly, LogLine, RunResult } from './types.js';
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
