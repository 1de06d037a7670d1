// seed-003: 2.6.37's "Unify TSC logic" on an unstable host. Each vCPU runs
// 2 ms then waits 8 ms off-CPU (landing on another pCPU) from 0.1 s to 3 s:
// without catch-up the waits are erased, so the guest's clocks advance 2 ms
// per 10 ms of real time.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadBuiltin } from '../sim/scenarios.js';
import { runScenario } from '../sim/machine.js';

const bad = runScenario(loadBuiltin('seed-003-unify-tsc-logic'));
const fixed = runScenario(loadBuiltin('seed-003-unify-tsc-logic', 'catch-up'));

test('2.6.37: the guest clock stands still while its vCPUs wait: it keeps 1/5 of real time', () => {
  for (const v of [0, 1]) {
    const at = bad.measurements[`vcpu${v}.lastReadAt`], mono = bad.measurements[`vcpu${v}.monotonic`];
    // 0.1 s at full speed, then 2 ms of every 10 ms up to the last read
    const expected = 100_000_000n + ((at - 100_000_000n) * 2n) / 10n;
    assert.ok(mono > expected - 3_000_000n && mono < expected + 3_000_000n, `vCPU ${v}: ${mono} ns after ${at} ns (expected ~${expected})`);
  }
  const stalls = bad.anomalies.filter((a) => a.type === 'time-stall' && a.clock === 'monotonic');
  assert.equal(stalls.map((a) => a.vcpu), [0, 1]);
  for (const a of stalls) assert.ok(a.size > 2_300_000_000n && a.size < 2_330_000_000n, `lost ${a.size} ns`);
});

test('catch-up keeps time moving and never backwards: the mechanism is the guest TSC caught up to the host time', () => {
  const khz = BigInt(loadBuiltin('seed-003-unify-tsc-logic').hosts[0].tscKhz); // the scenario's input: 2394000
  for (const v of [0, 1]) {
    const at = fixed.measurements[`vcpu${v}.lastReadAt`], mono = fixed.measurements[`vcpu${v}.monotonic`];
    assert.ok(mono > at - 1_000_000n && mono < at + 1_000_000n, `vCPU ${v}: ${mono} ns at ${at} ns`);
    // 2.6.37 kvm_guest_time_update with vcpu->arch.tsc_catchup: the TSC is set to compute_guest_tsc(kernel_ns) =
    // this_tsc_write + elapsed ns x virtual_tsc_khz / 10^6, i.e. what a TSC counting through the waits reads
    const caught = (at * khz) / 1_000_000n, tsc = fixed.measurements[`vcpu${v}.tsc`];
    assert.ok(tsc > caught - khz && tsc <= caught + khz, `vCPU ${v}: TSC ${tsc}, ${caught} at ${at} ns (within 1 ms of cycles)`);
    // without it the TSC counts only while the vCPU runs: about 1/5 of that
    const lost = bad.measurements[`vcpu${v}.tsc`];
    assert.ok(lost < (caught * 3n) / 10n, `vCPU ${v}: TSC ${lost} without catch-up`);
  }
  assert.equal(fixed.anomalies.filter((a) => a.type.startsWith('time-')), []);
});

test.run();
