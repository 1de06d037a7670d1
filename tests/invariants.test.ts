// Each fuzz invariant (sim/fuzz/invariants.ts) fed a crafted run: one that violates it by the smallest amount and one
// that just satisfies it. The thresholds come from the kernel rules the invariants state (is_softlockup's
// 2 x watchdog_thresh in 2^30-ns units, less one sample period; rcu_cpu_stall_timeout; hung_task_timeout_secs; the
// +-2 ns of the precise migration recipe, Documentation/virt/kvm/devices/vcpu.rst), applied to the scenario's inputs.
// The fuzz campaigns (tests/fuzz.test.ts) only show that something is found; these show what each one lets through.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseScenario, type Scenario, type ScenarioInput } from '../sim/scenario.js';
import { Machine } from '../sim/machine.js';
import { checkInvariants } from '../sim/fuzz/invariants.js';
import type { Anomaly, RunResult } from '../sim/types.js';

const S = 1_000_000_000n;
const base = (events: unknown[], vm: Record<string, unknown> = {}) => parseScenario({
  name: 'inv', until: '100s', observe: { period: '10ms' },
  hosts: [{ name: 'h', tscKhz: 2_000_000, pcpus: 4 }, { name: 'g', tscKhz: 2_000_000, pcpus: 4 }],
  vm: { host: 'h', vcpus: 2, kvm: { rules: '6.7+' }, guest: { kernel: '6.8' }, ...vm },
  events,
} as ScenarioInput);

/** The invariants a run of `s` violates once its anomalies are `anomalies` and `edit` has changed its result. */
function judge(s: Scenario, anomalies: Partial<Anomaly>[], edit: (r: RunResult, m: Machine) => void = () => {}): string[] {
  const m = new Machine(s);
  const r = m.run();
  r.anomalies = anomalies.map((a) => ({ t: 0n, until: 0n, size: 1n, unit: 'ns', count: 1, ...a }) as Anomaly);
  edit(r, m);
  return checkInvariants(s, r, m).map((v) => v.invariant);
}

const quiet = base([]);

test('the run itself is clean: nothing to excuse, nothing violated', () => {
  assert.equal(judge(quiet, []), []);
});

test('no-time-backwards, no-time-backwards-across-stable, no-time-jump: any step, down to 1 ns, and which invariant each belongs to', () => {
  assert.equal(judge(quiet, [{ type: 'time-backwards', clock: 'monotonic', vcpu: 0, size: 1n }]), ['no-time-backwards']);
  assert.equal(judge(quiet, [{ type: 'time-backwards', clock: 'tsc', vcpu: 1, size: 1n }]), ['no-time-backwards']);
  // behind another vCPU: under STABLE on kvmclock its own invariant; on any other clock plain no-time-backwards
  assert.equal(judge(quiet, [{ type: 'time-backwards', clock: 'kvmclock', vcpu: 0, size: 1n, across: true }]), ['no-time-backwards-across-stable']);
  assert.equal(judge(quiet, [{ type: 'time-backwards', clock: 'monotonic', vcpu: 0, size: 1n, across: true }]), ['no-time-backwards']);
  assert.equal(judge(quiet, [{ type: 'time-jump', clock: 'sched_clock', vcpu: 1, size: 1n }]), ['no-time-jump']);
  // the causes and context are not violations by themselves
  assert.equal(judge(quiet, ['tsc-warp', 'tsc-adjust-compensate', 'tsc-unstable', 'masterclock-off', 'hv-page-mismatch'].map((type) => ({ type } as Partial<Anomaly>))), []);
  // one violation per invariant, the first one's detail
  const m = new Machine(quiet);
  const r = m.run();
  r.anomalies = [1n, 2n].map((size) => ({ type: 'time-jump', clock: 'kvmclock', vcpu: 0, t: S, until: S, size, unit: 'ns', count: 1 }) as Anomaly);
  assert.equal(checkInvariants(quiet, r, m), [{ invariant: 'no-time-jump', detail: 'kvmclock on vCPU 0 at 1.000000000 s, 1 ns ahead of real time' }]);
  // one per invariant, not one in all: a jump and a step back are two
  assert.equal(judge(quiet, [{ type: 'time-jump', clock: 'kvmclock', vcpu: 0 }, { type: 'time-backwards', clock: 'tsc', vcpu: 1 }]), ['no-time-jump', 'no-time-backwards']);
  // a step back's own invariant depends on it being behind another vCPU's read, a jump never becomes one
  assert.equal(judge(quiet, [{ type: 'time-jump', clock: 'kvmclock', vcpu: 0, across: true }]), ['no-time-jump']);
});

test('no-time-stall-while-running: a stall is excused by the pauses inside it plus one observe period, not 1 ns more', () => {
  // stopped 10 s .. 20 s: a stall from 8 s to 25 s may lose 10 s + 10 ms
  const s = base([{ at: '10s', do: 'stop' }, { at: '20s', do: 'cont' }]);
  const stall = (size: bigint, clock = 'kvmclock') => [{ type: 'time-stall', clock, vcpu: 0, t: 8n * S, until: 25n * S, size } as Partial<Anomaly>];
  const allowed = 10n * S + 10_000_000n;
  assert.equal(judge(s, stall(allowed)), []);
  assert.equal(judge(s, stall(allowed + 1n)), ['no-time-stall-while-running']);
  assert.equal(judge(s, stall(100n * S, 'tsc')), [], 'the TSC is not a clock the kernel promises to keep running');
  // only the part of the pause inside the stall counts: from 15 s the pause excuses 5 s
  assert.equal(judge(s, [{ type: 'time-stall', clock: 'monotonic', vcpu: 1, t: 15n * S, until: 30n * S, size: 5n * S + 10_000_000n }]), []);
  assert.equal(judge(s, [{ type: 'time-stall', clock: 'monotonic', vcpu: 1, t: 15n * S, until: 30n * S, size: 5n * S + 10_000_001n }]), ['no-time-stall-while-running']);
  // a migration's window is downtime + restore window (vm.vmm.restoreWindow, 100 ms); a host suspend its duration;
  // a stop never continued lasts to the end of the run
  const mig = base([{ at: '10s', do: 'migrate', to: 'g', downtime: '300ms' }]);
  const ok = 300_000_000n + mig.vm.vmm.restoreWindow + 10_000_000n;
  // (the legacy procedure's own step back at the same TSC, the restore window, is kvmclock-kept-across-migration's: not here)
  const kept = (r: RunResult) => { r.measurements['migration1.kvmclockDeltaVsSourceClockNs'] = 0n; };
  assert.equal(judge(mig, [{ type: 'time-stall', clock: 'kvmclock', vcpu: 0, t: 10n * S, until: 11n * S, size: ok }], kept), []);
  assert.equal(judge(mig, [{ type: 'time-stall', clock: 'kvmclock', vcpu: 0, t: 10n * S, until: 11n * S, size: ok + 1n }], kept), ['no-time-stall-while-running']);
  const sus = base([{ at: '10s', do: 'host-suspend', host: 'h', duration: '5s' }]);
  assert.equal(judge(sus, [{ type: 'time-stall', clock: 'kvmclock', vcpu: 0, t: 10n * S, until: 20n * S, size: 5n * S + 10_000_000n }]), []);
  assert.equal(judge(sus, [{ type: 'time-stall', clock: 'kvmclock', vcpu: 0, t: 10n * S, until: 20n * S, size: 5n * S + 10_000_001n }]), ['no-time-stall-while-running']);
  const open = base([{ at: '90s', do: 'stop' }]);
  assert.equal(judge(open, [{ type: 'time-stall', clock: 'kvmclock', vcpu: 0, t: 90n * S, until: 100n * S, size: 10n * S + 10_000_000n }]), []);
});

/** The 250 ppm a guest clock may run fast without a scaling error: the detectors' thresholds are in guest time. */
const fast = (ns: bigint) => ns - (ns * 250n) / 1_000_000n;
const TICK = 1_000_000n; // HZ 1000

test('no-false-lockup: a report needs one stall as long as the detector\'s threshold, reported no earlier than that into it', () => {
  // soft lockup: touch_ts stamped up to one sample period (2 x 10 / 5 = 4 s) before the stall, reported once
  // local_clock >> 30 passes it by 2 x watchdog_thresh = 20 units
  const soft = fast((20n << 30n) - 4n * S);
  // rcu: jiffies_stall = gp_start + 21 s, gp_start up to two ticks into the stall; hung task: 120 s likewise
  const rcu = fast(21n * S) - 2n * TICK, hung = fast(120n * S) - 2n * TICK;
  for (const [type, min] of [['soft-lockup', soft], ['rcu-stall', rcu], ['hung-task', hung]] as const) {
    const s = (d: bigint) => base([{ at: '5s', do: 'preempt', vcpu: 1, duration: `${d}ns` }], { guest: { kernel: '6.8', dStateTask: true } });
    const report = (t: bigint) => [{ type, vcpu: 1, t } as Partial<Anomaly>];
    assert.equal(judge(s(min), report(5n * S + min)), [], `${type}: a stall of exactly ${min} ns`);
    assert.equal(judge(s(min - 1n), report(5n * S + min)), ['no-false-lockup'], `${type}: 1 ns short`);
    assert.equal(judge(s(min), report(5n * S + min - 1n)), ['no-false-lockup'], `${type}: reported before the threshold was reached`);
  }
  // windows that touch are one stall: a preemption to 10 s and a stop from 10 s to 30 s are 25 s
  const joined = base([{ at: '5s', do: 'preempt', vcpu: 1, duration: '5s' }, { at: '10s', do: 'stop' }, { at: '30s', do: 'cont' }]);
  assert.equal(judge(joined, [{ type: 'rcu-stall', vcpu: 1, t: 26n * S }]), []);
  // a vCPU that runs 1 ms in between passes its quiescent state: two stalls of 5 s and 19.999 s
  const apart = base([{ at: '5s', do: 'preempt', vcpu: 1, duration: '5s' }, { at: '10001ms', do: 'stop' }, { at: '30s', do: 'cont' }]);
  assert.equal(judge(apart, [{ type: 'rcu-stall', vcpu: 1, t: 29n * S }]), ['no-false-lockup']);
  // a stall is one vCPU's (or the whole VM's): vCPU 0 preempted 5..15 s and vCPU 1 15..30 s are 10 s and 15 s, not 25 s
  const relay = base([{ at: '5s', do: 'preempt', vcpu: 0, duration: '10s' }, { at: '15s', do: 'preempt', vcpu: 1, duration: '15s' }]);
  assert.equal(judge(relay, [{ type: 'rcu-stall', vcpu: 1, t: 27n * S }]), ['no-false-lockup']);
  // windows are joined in time order whatever their kind: a stop 5..10 s then vCPU 1 preempted 10..30 s is 25 s
  const stopFirst = base([{ at: '5s', do: 'stop' }, { at: '10s', do: 'cont' }, { at: '10s', do: 'preempt', vcpu: 1, duration: '20s' }]);
  assert.equal(judge(stopFirst, [{ type: 'rcu-stall', vcpu: 1, t: 27n * S }]), []);
  // a numad walk stalls every vCPU for ksm.longestWalkNs
  const numad = parseScenario({ name: 'numad', until: '100s', hosts: [{ name: 'h', tscKhz: 2_000_000, pcpus: 4, ksm: { maxPageSharing: 0, rmapItemCostNs: 1000 } }],
    vm: { host: 'h', vcpus: 2, guest: { kernel: '6.8' } }, events: [{ at: '5s', do: 'numad-migrate' }] } as ScenarioInput);
  const walk = (w: bigint) => (r: RunResult) => { r.measurements['ksm.longestWalkNs'] = w; };
  assert.equal(judge(numad, [{ type: 'rcu-stall', vcpu: 0, t: 5n * S + rcu }], walk(rcu)), []);
  assert.equal(judge(numad, [{ type: 'rcu-stall', vcpu: 0, t: 5n * S + rcu }], walk(rcu - 1n)), ['no-false-lockup']);
});

test('no-false-lockup follows the guest\'s settings: watchdog_thresh 5, rcu_cpu_stall_timeout 60, hung_task_timeout 30, HZ 250', () => {
  const guest = { kernel: '6.8', watchdogThresh: 5, rcuStallTimeout: 60, hungTaskTimeout: 30, hz: 250, dStateTask: true };
  const tick = 4_000_000n;
  for (const [type, min] of [['soft-lockup', fast((10n << 30n) - 2n * S)], ['rcu-stall', fast(60n * S) - 2n * tick], ['hung-task', fast(30n * S) - 2n * tick]] as const) {
    const s = (d: bigint) => base([{ at: '5s', do: 'preempt', vcpu: 0, duration: `${d}ns` }], { guest });
    assert.equal(judge(s(min), [{ type, vcpu: 0, t: 5n * S + min }]), [], type);
    assert.equal(judge(s(min - 1n), [{ type, vcpu: 0, t: 5n * S + min }]), ['no-false-lockup'], type);
  }
});

test('migration-drift: kvmclock may move up to 3 s more or less than the real time of downtime + window, not 1 ns more', () => {
  const s = base([{ at: '10s', do: 'migrate', to: 'g', downtime: '300ms', window: '50ms' }]);
  const real = 350_000_000n;
  const adv = (ns: bigint) => (r: RunResult) => { r.measurements['migration1.kvmclockAdvanceNs'] = ns; r.measurements['migration1.kvmclockDeltaVsSourceClockNs'] = 0n; };
  assert.equal(judge(s, [], adv(real + 3n * S)), []);
  assert.equal(judge(s, [], adv(real + 3n * S + 1n)), ['migration-drift']);
  assert.equal(judge(s, [], adv(real - 3n * S)), []);
  assert.equal(judge(s, [], adv(real - 3n * S - 1n)), ['migration-drift']);
  // a migration the run did not measure (it never completed before the end) is not judged
  assert.equal(judge(s, [], (r) => { adv(real + 10n * S)(r); delete r.measurements['migration1.kvmclockDeltaVsSourceClockNs']; }), []);
  assert.equal(judge(s, [], (r) => { adv(real + 10n * S)(r); delete r.measurements['migration1.kvmclockAdvanceNs']; }), []);
});

test('kvmclock-kept-across-migration: at the same guest TSC never behind the source (legacy), within +-2 ns (precise), plus the snapshot age and rate tolerance', () => {
  const same = (ns: bigint, age = 0n, rate = 0n) => (r: RunResult) => {
    r.measurements['migration1.kvmclockDeltaVsSourceClockNs'] = ns;
    r.measurements['migration1.sourceSnapshotAgeNs'] = age;
    r.measurements['migration1.rateToleranceNs'] = rate;
    r.measurements['migration1.kvmclockAdvanceNs'] = 400_000_000n;
  };
  const mig = (procedure: string) => base([{ at: '10s', do: 'migrate', to: 'g', downtime: '300ms', procedure }]);
  for (const p of ['precise', 'precise-scaled']) {
    assert.equal(judge(mig(p), [], same(2n)), [], p);
    assert.equal(judge(mig(p), [], same(-2n)), [], p);
    assert.equal(judge(mig(p), [], same(3n)), ['kvmclock-kept-across-migration'], p);
    assert.equal(judge(mig(p), [], same(-3n)), ['kvmclock-kept-across-migration'], p);
  }
  // legacy hands over the host's clock: ahead is allowed, behind is not
  assert.equal(judge(mig('legacy'), [], same(1_000_000_000n)), []);
  assert.equal(judge(mig('legacy'), [], same(-2n)), []);
  assert.equal(judge(mig('legacy'), [], same(-3n)), ['kvmclock-kept-across-migration']);
  // the 32-bit scale's ~0.5 ns/s since the source's masterclock snapshot: 4 s of age allow 2 ns more
  assert.equal(judge(mig('precise'), [], same(4n, 4n * S)), []);
  assert.equal(judge(mig('precise'), [], same(5n, 4n * S)), ['kvmclock-kept-across-migration']);
  assert.equal(judge(mig('precise'), [], same(-5n, 4n * S - 1n)), ['kvmclock-kept-across-migration'], 'age / 2 s, rounded down');
  // and the rate difference of an unscaled destination within KVM's 250 ppm
  assert.equal(judge(mig('precise'), [], same(-12n, 0n, 10n)), []);
  assert.equal(judge(mig('precise'), [], same(-13n, 0n, 10n)), ['kvmclock-kept-across-migration']);
  // an era without KVM_VCPU_TSC_OFFSET runs the legacy procedure whatever the event says
  const old = base([{ at: '10s', do: 'migrate', to: 'g', downtime: '300ms', procedure: 'precise' }], { kvm: { rules: '3.8-4.11' } });
  assert.equal(judge(old, [], same(1_000n)), []);
  assert.equal(judge(old, [], same(-3n)), ['kvmclock-kept-across-migration']);
});

test('same-kvmclock-across-vcpus: under the masterclock two vCPUs read kvmclock within 2 ns at the end, not 3', () => {
  const nudge = (ns: bigint, vcpu = 1) => (_: RunResult, m: Machine) => { m.kvm.vcpus[vcpu].page.systemTime += ns; };
  assert.equal(judge(quiet, [], nudge(2n)), []);
  assert.equal(judge(quiet, [], nudge(2n, 0)), []);
  assert.equal(judge(quiet, [], nudge(3n)), ['same-kvmclock-across-vcpus']);
  assert.equal(judge(quiet, [], nudge(3n, 0)), ['same-kvmclock-across-vcpus']);
  // without the masterclock each page comes from its own instant: not compared
  // vCPUs at another TSC ratio are not compared (their pages scale differently); nor a vCPU offline or without kvmclock
  const other = (m: Machine) => { m.kvm.vcpus[1].ratio = m.kvm.vcpus[1].ratio + 1n; };
  assert.equal(judge(quiet, [], (r, m) => { nudge(1_000n)(r, m); other(m); }), []);
  assert.equal(judge(quiet, [], (r, m) => { nudge(1_000n)(r, m); m.guest.online[1] = false; }), []);
  assert.equal(judge(quiet, [], (r, m) => { nudge(1_000n)(r, m); m.kvm.vcpus[1].kvmclockEnabled = false; }), []);
  const hpet = parseScenario({ ...JSON.parse(JSON.stringify({ name: 'hpet', until: '10s' })), hosts: [{ name: 'h', tscKhz: 2_000_000, pcpus: 4, clocksource: 'hpet' }],
    vm: { host: 'h', vcpus: 2, guest: { kernel: '6.8' } } } as ScenarioInput);
  assert.equal(judge(hpet, [], nudge(1_000n)), []);
});

test.run();
