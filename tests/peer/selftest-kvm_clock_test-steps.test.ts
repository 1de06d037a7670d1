// KVM selftest x86/kvm_clock_test.c with the ioctls it makes (issue 13's steps), all four test cases: KVM_SET_CLOCK
// {kvmclock_base, KVM_CLOCK_REALTIME + realtime_offset}, KVM_GET_CLOCK before and after the guest's read. The test's
// assertions: assert_flags() on start and end ((flags & (REALTIME | HOST_TSC)) == both) and start.clock <= obs <=
// end.clock. Also: a realtime in the future is ignored (the clock is never stepped back: obs < 1 s), one 180 s in the
// past adds 180 s. tests/peer/selftest-kvm_clock_test.test.ts keeps the earlier substitute port (stop/cont).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { load, runTo, guestReads, ns, patch, S, MS } from './support.js';
import type { StepRecord } from '../../sim/vmm/step-defs.js';

const raw = load('peer-kvm_clock_test-steps');
const ret = (steps: StepRecord[] | undefined, as: string) => steps!.find((s) => s.as === as)!.ret as Record<string, bigint>;
const EXPECTED_FLAGS = 4n | 8n; // KVM_CLOCK_REALTIME | KVM_CLOCK_HOST_TSC

for (const [i, base, offset] of [[0, 0n, 0n], [1, 180n * S, 0n], [2, 0n, -180n * S], [3, 0n, 180n * S]] as const) {
  test(`kvm_clock_test case ${i} {kvmclock_base ${base}, realtime_offset ${offset}}: flags, and start.clock <= obs <= end.clock`, () => {
    const t = ns(`${i + 1}s`) + MS;
    const { r } = runTo(raw, t);
    const start = ret(r.steps, `start${i}`), end = ret(r.steps, `end${i}`);
    assert.is((start.flags as bigint) & EXPECTED_FLAGS, EXPECTED_FLAGS, 'assert_flags(start)');
    assert.is((end.flags as bigint) & EXPECTED_FLAGS, EXPECTED_FLAGS, 'assert_flags(end)');
    const obs = guestReads(r, 0, t).kvmclock;
    assert.ok(start.clock <= obs && obs <= end.clock, `${start.clock} <= ${obs} <= ${end.clock}`);
    // what the cases mean: the base, plus the past realtime offset; a future one adds nothing
    const expect = base + (offset < 0n ? -offset : 0n);
    assert.ok(start.clock >= expect && start.clock < expect + MS, `start.clock ${start.clock} from ${expect}`);
  });
}

test('kvm_clock_test before 5.16: KVM_SET_CLOCK with KVM_CLOCK_REALTIME is refused (-EINVAL), and KVM_GET_CLOCK has no REALTIME/HOST_TSC', () => {
  const { r } = runTo(patch(raw, { vm: { kvm: { rules: '4.12-5.9' } } }), 3n * S + MS);
  const set = r.steps!.filter((s) => s.do === 'KVM_SET_CLOCK');
  assert.is(set[2].errno, 'EINVAL');
  assert.is(set[0].errno, undefined);
  assert.is(ret(r.steps, 'start1').flags, 2n, 'KVM_CLOCK_TSC_STABLE only (108b249c453d)');
});

test.run();
