// What the kernel promises a guest about its clocks, checked on a run. Each
// violation names the invariant and says what was seen.
import type { Machine } from '../machine.js';
import type { Scenario } from '../scenario.js';
import type { RunResult } from '../types.js';
import { seconds } from '../units.js';

export const INVARIANTS = [
  'no-time-backwards', 'no-time-backwards-across-stable', 'no-time-jump', 'migration-drift', 'no-false-lockup',
  'same-kvmclock-across-vcpus', 'kvmclock-kept-across-migration', 'no-time-stall-while-running',
  // not a kernel promise but tsclab's own: the generator writes only scenarios the validator accepts
  'valid-scenario',
] as const;
export type Invariant = (typeof INVARIANTS)[number];
export interface Violation { invariant: Invariant; detail: string }

const S = 1_000_000_000n;

export function checkInvariants(s: Scenario, r: RunResult, m: Machine): Violation[] {
  const v: Violation[] = [];
  const add = (invariant: Invariant, detail: string) => { if (!v.some((x) => x.invariant === invariant)) v.push({ invariant, detail }); };
  for (const a of r.anomalies) {
    const at = `${a.clock ?? ''} on vCPU ${a.vcpu} at ${seconds(a.t)} s, ${a.size} ${a.unit}`;
    if (a.type === 'time-backwards' && !a.across) add('no-time-backwards', `${at} backwards`);
    if (a.type === 'time-backwards' && a.across && a.clock === 'kvmclock') add('no-time-backwards-across-stable', `${at} behind another vCPU under STABLE`);
    if (a.type === 'time-backwards' && a.across && a.clock !== 'kvmclock') add('no-time-backwards', `${at} behind what another vCPU read`);
    if (a.type === 'time-jump') add('no-time-jump', `${at} ahead of real time`);
  }
  // windows in which the guest legitimately loses time: stopped, migrating, host suspended (the engine judges the
  // clocks at each event, so a stall starts exactly where its window does)
  const paused: [bigint, bigint][] = [];
  let stop: bigint | null = null;
  for (const e of s.events) {
    if (e.do === 'stop' && stop === null) stop = e.at;
    if (e.do === 'cont' && stop !== null) { paused.push([stop, e.at]); stop = null; }
    if (e.do === 'migrate' || e.do === 'save-restore') paused.push([e.at, e.at + e.downtime + (e.window ?? s.vm.vmm.restoreWindow)]);
    if (e.do === 'host-suspend') paused.push([e.at, e.at + e.duration]);
  }
  if (stop !== null) paused.push([stop, s.until]);
  // a stall is excused by the pauses inside it: the time it lost is at most theirs (a gap of a vCPU that was
  // also preempted spans both), plus a read period of slack
  const pausedWithin = (from: bigint, to: bigint) => paused.reduce((sum, [a, b]) => {
    const lo = a > from ? a : from, hi = b < to ? b : to;
    return hi > lo ? sum + (hi - lo) : sum;
  }, 0n);
  for (const a of r.anomalies) {
    if (a.type === 'time-stall' && a.clock !== 'tsc' && a.size > pausedWithin(a.t, a.until) + s.observe.period) {
      add('no-time-stall-while-running', `${a.clock} on vCPU ${a.vcpu} lost ${seconds(a.size)} s from ${seconds(a.t)} s while running`);
    }
  }
  // lockup reports need a real stall past the detector's threshold: a long preemption, stop, suspend, downtime or
  // numad walk, on that vCPU or the whole VM (windows that touch are one stall; a vCPU that runs in between, even
  // for a few ms, passes its quiescent state and is stamped by its watchdog thread)
  const g = s.vm.guest;
  const tick = 1_000_000_000n / BigInt(g.hz);
  // a guest clock may run up to 250 ppm fast without a scaling error (KVM leaves such rates unscaled): the detectors'
  // thresholds are in guest time, so a stall that short of them in real time may still reach them
  const fast = (ns: bigint) => ns - (ns * 250n) / 1_000_000n;
  const need: Record<string, bigint> = {
    // kernel/watchdog.c: touch_ts was stamped at the last firing, up to one sample period (2 * thresh / 5) before the
    // stall; is_softlockup() reports once get_timestamp() (2^30-ns units) passes it by 2 * thresh
    'soft-lockup': fast((BigInt(2 * g.watchdogThresh) << 30n) - (BigInt(2 * g.watchdogThresh) * S) / 5n),
    // tree_stall.h: jiffies_stall = gp_start + timeout; the grace period starts when the first holder stops
    'rcu-stall': fast(BigInt(g.rcuStallTimeout) * S) - 2n * tick,
    // hung_task.c: the task waits for the grace period, checked every timeout
    'hung-task': fast(BigInt(g.hungTaskTimeout) * S) - 2n * tick,
  };
  const walk = r.measurements['ksm.longestWalkNs'] ?? 0n;
  const numad = s.events.flatMap((e) => (e.do === 'numad-migrate' ? [[e.at, e.at + walk] as [bigint, bigint]] : []));
  const stalls: [bigint, bigint][] = [];
  for (let i = 0; i < m.kvm.vcpus.length; i++) {
    const own: [bigint, bigint][] = [
      ...s.events.flatMap((e) => (e.do === 'preempt' && e.vcpu === i ? [[e.at, e.at + e.duration] as [bigint, bigint]] : [])),
      ...paused, ...numad,
    ].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
    let cur: [bigint, bigint] | null = null;
    for (const w of [...own, null]) {
      if (cur && w && w[0] <= cur[1]) { if (w[1] > cur[1]) cur[1] = w[1]; continue; }
      if (cur) stalls.push(cur);
      cur = w && [w[0], w[1]];
    }
  }
  for (const a of r.anomalies) {
    const min = need[a.type];
    if (min !== undefined && !stalls.some(([from, to]) => to - from >= min && a.t >= from + min)) {
      add('no-false-lockup', `${a.type} on vCPU ${a.vcpu} at ${seconds(a.t)} s with no vCPU stalled past the threshold (${seconds(min)} s)`);
    }
  }
  // migrations: drift <= 3 s each (the old "<= 10 s over any 3" could never add a violation: three drifts of at most
  // 3 s sum to at most 9 s, so it went); at the same guest TSC the destination's kvmclock
  // never falls behind the source host's (KVM_GET_CLOCK), and stays within +-2 ns with the precise procedures
  const migs = s.events.filter((e) => e.do === 'migrate');
  migs.forEach((e, i) => {
    const adv = r.measurements[`migration${i + 1}.kvmclockAdvanceNs`], same = r.measurements[`migration${i + 1}.kvmclockDeltaVsSourceClockNs`];
    if (adv === undefined || same === undefined || e.do !== 'migrate') return;
    const real = e.downtime + (e.window ?? s.vm.vmm.restoreWindow);
    const drift = adv > real ? adv - real : real - adv;
    if (drift > 3n * S) add('migration-drift', `migration ${i + 1}: kvmclock moved ${seconds(adv)} s over ${seconds(real)} s of real time`);
    const procedure = m.rules.tscOffsetAttr ? e.procedure ?? s.vm.migration : 'legacy';
    // +-2 ns, plus the 32-bit scale's ~0.5 ns/s since the source's masterclock snapshot in KVM_GET_CLOCK itself
    // and the rate difference when the destination runs the guest TSC unscaled within KVM's +-250 ppm
    const tol = 2n + (r.measurements[`migration${i + 1}.sourceSnapshotAgeNs`] ?? 0n) / 2_000_000_000n
      + (r.measurements[`migration${i + 1}.rateToleranceNs`] ?? 0n);
    if (same < -tol || (procedure !== 'legacy' && same > tol)) {
      add('kvmclock-kept-across-migration', `migration ${i + 1} (${procedure}): at the same guest TSC kvmclock moved ${same} ns`);
    }
  });
  // under the masterclock, vCPUs that differ only in TSC offset read the same kvmclock at the same instant
  // (without it each page comes from its own instant and drifts at the 32-bit scale's rate; the guest clamps)
  const k = m.kvm, t = m.t;
  const values = (k.useMasterClock ? k.vcpus : []).filter((x) => x.kvmclockEnabled && m.guest.online[x.id]).map((x) => ({
    id: x.id, ratio: x.ratio, ns: m.k.pvclockReadCycles(x.page, k.readTsc(x, t)),
  }));
  for (const a of values) for (const b of values) {
    if (a.id < b.id && a.ratio === b.ratio && (a.ns > b.ns ? a.ns - b.ns : b.ns - a.ns) > 2n) {
      add('same-kvmclock-across-vcpus', `at the end vCPU ${a.id} reads ${a.ns} ns, vCPU ${b.id} ${b.ns} ns`);
    }
  }
  return v;
}
