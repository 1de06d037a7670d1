// kvm-unit-tests x86/kvmclock_test.c + x86/kvmclock.c (Jason Wang 2010), the monotonic cycle test, ported. Source
// read: kvm-unit-tests/kvm-unit-tests at HEAD 1da1819e49fc (2026-06-26), and x86/unittests.cfg ([kvmclock_test]
// smp = 2, test_args = "10000000 `date +%s`"). With pvclock_set_flags(PVCLOCK_TSC_STABLE_BIT), on every vCPU:
//   spin_lock; t1 = kvm_clock_read(); t0 = last; last = kvm_clock_read(); spin_unlock; if (t1 - t0 < 0) ++warps
// and report(!nerr, "%u time warps detected"). kvm_clock_read returns the page's value raw when the page carries
// PVCLOCK_TSC_STABLE_BIT, else through the test's own last_value clamp.
//
// Here the guest's kvmclock on both vCPUs (raw under a trusted STABLE bit, clamped without it -- the guest kernel's
// pvclock_clocksource_read, the same rule) is taken every 400 us from 0 to 3 s (the machine's trace); support.ts
// lockOrderViolation is the test's lock order: no read below one taken before it on any vCPU, and at one instant
// both vCPUs alike. The count of 10^7 loops has no counterpart: between two host events every read is one
// closed-form function of time, so the grid only needs to fall between them. Not expressible: the wallclock test
// (MSR_KVM_WALL_CLOCK_NEW against the host's `date +%s`, +-5 s) -- docs/peer-tests.md.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { load, patch, run, lockOrderViolation, withEvents, churn, preempt, show, type Raw } from './support.js';

const base = load('peer-kut-kvmclock_test');
const GRID = 400_000n;

function warps(raw: Raw): { warp: string | null; stableBit: bigint } {
  const { m, r } = run(raw, GRID);
  assert.ok(m.trace.length > 10_000, 'reads on both vCPUs');
  const across = r.anomalies.filter((a) => a.type === 'time-backwards' && a.clock === 'kvmclock');
  return { warp: lockOrderViolation(m.trace, 'kvmclock') ?? (across.length ? show(across) : null), stableBit: r.measurements['kvm.stableBit'] };
}

// Every era: from 3.8 the masterclock gives both vCPUs one page (same snapshot, same offset), so their raw reads at
// one instant are equal and grow with the TSC; before it (2.6.37-3.3) the pages carry no STABLE bit and the clamp
// makes the reads monotonic by construction. "0 time warps detected" everywhere.
test('kvmclock_test: no time warps across two vCPUs reading kvmclock in lock order, STABLE trusted, in every era', () => {
  for (const rules of ['2.6.37-3.3', '3.8-4.11', '4.12-5.9', '6.7+', 'proposed-2026']) {
    const { warp, stableBit } = warps(patch(base, { vm: { kvm: { rules } } }));
    assert.is(warp, null, rules);
    assert.is(stableBit, rules === '2.6.37-3.3' ? 0n : 1n, `${rules}: STABLE in the pages`);
  }
});

// With vCPU 1 churned across the pCPUs (1 ms in, 0.5 ms out) and vCPU 0 preempted twice: under the masterclock a
// vCPU's page does not change when it moves, and the TSC runs on while it waits, so a read after a wait continues
// from the other vCPU's.
test('kvmclock_test with churn and preemption: no time warps', () => {
  const jitter = [churn([1], '100ms', '2.9s'), preempt(0, '1s', '300ms'), preempt(0, '2s', '50ms')];
  for (const rules of ['3.8-4.11', '6.7+']) assert.is(warps(withEvents(patch(base, { vm: { kvm: { rules } } }), jitter)).warp, null, `${rules} + jitter`);
});

// The check catches a real warp: before d9130a2dfdd4 (5.15, 5.10.65) a guest IA32_TSC_ADJUST write requested no
// clock update, so vCPU 1's page keeps its tsc_timestamp while its TSC moved 10^9 cycles (0.4 s at 2.5 GHz): its
// kvmclock runs 0.4 s ahead of vCPU 0's under a STABLE bit the test trusts -- warps, real behaviour of 3.8-5.14.
test('kvmclock_test catches the stale page of a guest TSC_ADJUST write before d9130a2dfdd4 (3.8-4.11): warps', () => {
  const { warp: w } = warps(withEvents(patch(base, { vm: { kvm: { rules: '3.8-4.11' } } }),
    [{ at: '1s', do: 'wrmsr', vcpu: 1, msr: 'IA32_TSC_ADJUST', value: '1000000000', by: 'guest' }]));
  assert.match(w ?? '', /vCPU 0 reads 100\d+, vCPU 1 140\d+/);
});

test.run();
