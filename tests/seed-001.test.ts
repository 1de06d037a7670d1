// seed-001: a 2.6.32 PV guest on Xen with nonstop_tsc in CPUID. Expected values
// from the parameters: Xen's NOW() is the host's uptime, so with sched_clock
// marked stable the printk stamps are host uptimes: the source host was up
// 508119.807590 s when the VM started and 509508 s at the migration (1388.19241 s
// later); the destination was up 516212 s then (plus the 300 ms downtime after).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadBuiltin } from '../sim/scenarios.js';
import { runScenario } from '../sim/machine.js';
import { healthy } from '../sim/summary.js';
import { printkTime } from '../sim/units.js';

const s = loadBuiltin('seed-001-xen-nonstop-tsc');
const base = runScenario(s);
const stamps = (r: typeof base) => r.log.filter((l) => l.source === 'guest').map((l) => printkTime(l.stamp!));

test('printk: [0.000000] before sched_clock starts, then the host\'s uptime [508119.807590]', () => {
  const st = stamps(base);
  assert.is(st[0], '[    0.000000]');
  assert.is(st[1], '[508119.807590]');
});

test('the migration moves the timestamps from the source host\'s uptime (509508 s) to the destination\'s (516212 s)', () => {
  const before = base.log.find((l) => /Freezing user space/.test(l.text))!, after = base.log.find((l) => /Restarting tasks/.test(l.text))!;
  assert.is(before.stamp! / 1_000_000_000n, 509_507n); // 509507.999999: one tick short of 509508
  assert.ok(before.stamp! > 509_507_990_000_000n);
  assert.is(after.stamp! / 1_000_000_000n, 516_212n);
  const jump = base.anomalies.find((a) => a.type === 'time-jump' && a.clock === 'sched_clock')!;
  // the uptime difference of the two hosts (516212 - 509508 s) plus a read period of rounding
  assert.ok(jump.size >= 6_704_000_000_000n && jump.size < 6_704_020_000_000n, `${jump.size}`);
  // the log shows no soft lockup: timekeeping_resume() touches the watchdog of the CPU that resumes, and the guest
  // has one (nr_cpu_ids:1)
  assert.is(base.measurements['vcpu1.lastReadAt'], undefined, 'one vCPU');
  assert.not.ok(base.anomalies.some((a) => a.type === 'soft-lockup'));
});

for (const fix of ['mask nonstop_tsc (Xen)', 'sched_clock unstable (kernel)']) {
  test(`fix "${fix}": sched_clock filtered against CLOCK_MONOTONIC, no jump`, () => {
    const r = runScenario(loadBuiltin('seed-001-xen-nonstop-tsc', fix));
    assert.ok(healthy(r, s.symptoms), JSON.stringify(r.anomalies.map((a) => a.type)));
    const st = stamps(r);
    assert.is(st[1], '[    0.000000]');
    const after = r.log.find((l) => /Restarting tasks/.test(l.text))!;
    assert.is(after.stamp! / 1_000_000_000n, 1_388n, 'guest uptime, not host uptime');
  });
}

test('tsc_mode 0: a migrated PV domain is emulated from then on, resuming at the saved TSC + 1', () => {
  assert.is(base.measurements['migration1.guestTscJumpCycles'], 1n);
});

test.run();
