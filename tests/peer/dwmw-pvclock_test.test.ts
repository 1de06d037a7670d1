// Jack Allister's and David Woodhouse's pvclock_test.c ("KVM: x86: Cleaning up the KVM clock mess" v6, unmerged):
// the part tsclab can express, test_tsc_stable_bit()'s first two cases. Source read: the v6 patch mail (xen-devel,
// 2026-07-03, stored copy 58936729883). Two vCPUs:
//   case 1, TSCs matched:           TEST_ASSERT(pvti.flags & PVCLOCK_TSC_STABLE_BIT)
//   case 2, vCPU 1's offset 12345678: TEST_ASSERT(!(pvti.flags & PVCLOCK_TSC_STABLE_BIT)) (master clock still on)
// pvti is KVM_GET_CLOCK_GUEST(vcpu0), which tsclab does not have: the STABLE bit KVM would give vCPU 0's page now is
// the measurement kvm.stableBit (the rule of the series, 21/34: use_master_clock and every vCPU's offset equal), and
// vCPU 1's own page is read through the guest's port (Machine.readOne). vCPU 1's offset comes from a guest
// WRMSR(IA32_TSC_ADJUST, 12345678) -- the offset moves by exactly that -- in place of KVM_VCPU_TSC_OFFSET, which
// tsclab had no action for when this port was written. The main loop's KVM_SET_CLOCK_GUEST correction (+-2 ns), case 3
// (GET_CLOCK_GUEST's EINVAL) and test_clock_guest_with_offsets are ported with issue 13's steps in
// dwmw-pvclock_test-clock_guest.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { patch, run, runTo, withEvents, churn, type Raw } from './support.js';

const base: Raw = {
  name: 'peer-pvclock_test-stable-bit',
  description: 'pvclock_test.c test_tsc_stable_bit(): two vCPUs, matched, then vCPU 1 offset by 12345678 cycles',
  until: '2s',
  hosts: [{ name: 'h', tscKhz: 2_500_000, pcpus: 4 }],
  vm: { host: 'h', vcpus: 2, kvm: { rules: 'proposed-2026' }, guest: { kernel: '6.8' } },
  events: [],
};
const offset = (raw: Raw) => withEvents(raw, [{ at: '1s', do: 'wrmsr', vcpu: 1, msr: 'IA32_TSC_ADJUST', value: '12345678', by: 'guest' }]);

// Case 1 then case 2 under the series' rules: matched vCPUs carry STABLE; once vCPU 1's offset differs the masterclock
// stays on (one frequency) but no page may claim STABLE. Also with vCPU 0 churned meanwhile (no page is rewritten
// by a move under the masterclock, so nothing changes).
test('pvclock_test test_tsc_stable_bit (proposed-2026): STABLE with matched TSCs, not with vCPU 1 offset, masterclock kept', () => {
  for (const [label, raw] of [['', base], [' + churn', withEvents(base, [churn([0], '100ms', '1.9s')])]] as const) {
    const matched = run(raw).r;
    assert.is(matched.measurements['kvm.stableBit'], 1n, `case 1${label}: PVCLOCK_TSC_STABLE_BIT should be set with matched TSCs`);
    assert.is(matched.measurements['kvm.masterclock'], 1n);
    const { r } = run(offset(raw));
    assert.is(r.measurements['kvm.stableBit'], 0n, `case 2${label}: PVCLOCK_TSC_STABLE_BIT should be clear with offset-mismatched TSCs`);
    assert.is(r.measurements['kvm.masterclock'], 1n, `case 2${label}: the master clock stays on`);
    const t = 1_500_000_000n, { m } = runTo(offset(raw), t);
    assert.is(m.readOne(1, t)[2] & 1n, 0n, `case 2${label}: vCPU 1's page has no STABLE`);
    assert.is(m.readOne(1, t)[0] - m.readOne(0, t)[0], 12_345_678n, `case 2${label}: vCPU 1 offset by 12345678`);
  }
});

// Mainline (6.7+): STABLE is use_master_clock in every merged kernel, and a guest write does not change the TSC
// generation, so case 2's assertion fails -- the behaviour the series changes (the test then reads "old kernel" only
// when GET_CLOCK_GUEST fails, i.e. when the masterclock went off; with a guest write it stays on).
test('pvclock_test test_tsc_stable_bit on mainline (6.7+): STABLE stays set with vCPU 1 offset', () => {
  const { r } = run(offset(patch(base, { vm: { kvm: { rules: '6.7+' } } })));
  assert.is(r.measurements['kvm.stableBit'], 1n);
  assert.is(r.measurements['kvm.masterclock'], 1n);
});

test.run();
