// KVM selftest x86/hyperv_clock.c (Vitaly Kuznetsov, 5.12, with cc9cfddb0433 and 0469f2f7ab4c), the stages tsclab
// can express. Source read: torvalds/linux tools/testing/selftests/kvm/x86/hyperv_clock.c (stored copy 57545302600).
// One vCPU; the guest enables the reference TSC page (stage 4: tsc_sequence != 0), compares it with
// HV_X64_MSR_TIME_REF_COUNT (check_tsc_msr_tsc_page: r1 >= t1 && r1 - t1 < 100000, 10 ms), then the host does
// KVM_SET_CLOCK{0} (stage 7: the page is rewritten, tsc_offset != the one saved); the guest enables re-enlightenment and
// TSC emulation and the host does KVM_SET_CLOCK{0} again (stage 8: tsc_offset and tsc_scale unchanged), and the guest
// compares page and counter again (stage 9).
// Substitutes: KVM_SET_CLOCK{0} is QEMU's cont after a 0.5 s stop (KVM_SET_CLOCK with the clock read at stop: kvmclock
// moves back against the TSC by the pause, as a reset to 0 moves it back by all of it); re-enlightenment with TSC
// emulation is the scenario's guest.hvReenlightenment from boot. The page's fields are read through the guest's port
// (Machine.hvPage: the page as guest memory holds it). Not expressible: stages 2-3 (TSC_FREQUENCY, REF_COUNT against
// rdtsc -- a 1 % ratio -- and the disabled page left clean), stage 7's "page time < 10 ms" (a clock set to 0), stage 10
// (disabling), the host-side REF_COUNT reads -- docs/peer-tests.md.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { patch, run, runTo, withEvents, churn, preempt, show, S, MS, type Raw } from './support.js';

const base: Raw = {
  name: 'peer-hyperv_clock',
  description: 'KVM selftest x86/hyperv_clock.c: one vCPU on the Hyper-V reference TSC page; KVM_SET_CLOCK (QEMU\'s stop/cont) without and with re-enlightenment',
  until: '3s',
  hosts: [{ name: 'h', tscKhz: 2_500_000, pcpus: 4, clocksource: 'tsc' }],
  vm: { host: 'h', vcpus: 1, kvm: { rules: '6.7+' }, guest: { kernel: '6.8', hypervClock: true } },
  events: [{ at: '1s', do: 'stop' }, { at: '1.5s', do: 'cont' }],
};
const reenlightened = patch(base, { vm: { guest: { kernel: '6.8', hypervClock: true, hvReenlightenment: true } } });
const BEFORE = 900n * MS, AFTER = 2n * S;
const page = (raw: Raw, t: bigint) => runTo(raw, t).m.hvPage();
const mismatches = (raw: Raw, from = 0n) => run(raw).r.anomalies.filter((a) => a.type === 'hv-page-mismatch' && a.t >= from);

// Stage 4 and 5: enabled, the page is valid, and page and counter agree (at one unit's resolution, kut-hyperv_clock).
// Stage 7: KVM_SET_CLOCK makes KVM rewrite the page at the next clock update (kvm_hv_request_tsc_page_update: SET ->
// HOST_CHANGED), with the new kvmclock_offset in tsc_offset; page and counter agree again after it. Also with vCPU 0
// churned across the pCPUs before and after, and preempted after the KVM_SET_CLOCK.
test('hyperv_clock stages 4, 5, 7: the page is valid, agrees with the counter, and KVM_SET_CLOCK rewrites its tsc_offset', () => {
  const jitter = [churn([0], '100ms', '900ms'), preempt(0, '1.7s', '100ms'), churn([0], '2.1s', '2.9s')];
  for (const [rules, raw] of [['5.10-6.6', patch(base, { vm: { kvm: { rules: '5.10-6.6' } } })], ['6.7+', base], ['6.7+ + jitter', withEvents(base, jitter)]] as const) {
    const p1 = page(raw, BEFORE), p2 = page(raw, AFTER);
    assert.ok(p1.on && p1.sequence !== 0, `${rules}: tsc_sequence != 0`);
    assert.is.not(p2.offset, p1.offset, `${rules}: tsc_page->tsc_offset != tsc_offset after KVM_SET_CLOCK`);
    assert.is(p2.scale, p1.scale, `${rules}: same rate, same scale`);
    assert.equal(mismatches(raw), [], `${rules}: check_tsc_msr_tsc_page`);
  }
});

// Stage 8 (0469f2f7ab4c, 5.12): with the guest opted into re-enlightenment and TSC emulation, tsc_page_update_unsafe()
// holds and KVM leaves the page's tsc_offset and tsc_scale as they were across KVM_SET_CLOCK. With jitter too.
test('hyperv_clock stage 8: with re-enlightenment the page is unchanged across KVM_SET_CLOCK', () => {
  for (const [label, raw] of [['', reenlightened], [' + jitter', withEvents(reenlightened, [churn([0], '100ms', '900ms'), preempt(0, '1.7s', '100ms')])]] as const) {
    const p1 = page(raw, BEFORE), p2 = page(raw, AFTER);
    assert.equal(p2, p1, `${label}: tsc_offset and tsc_scale kept: ${show([p1, p2])}`);
  }
});

// Stage 9, check_tsc_msr_tsc_page after the re-enlightened KVM_SET_CLOCK. The page status stays HV_TSC_PAGE_SET
// (kvm_hv_request_tsc_page_update leaves it when tsc_page_update_unsafe()), so get_time_ref_counter() keeps computing
// TIME_REF_COUNT from the kept page on vCPU 0's TSC: counter and page agree (r1 >= t1, r1 - t1 < 10 ms). (This failed
// while tsclab computed the counter as kvmclock / 100 in every state: 5,000,000 units behind after the 0.5 s pause.)
test('hyperv_clock stage 9: after a re-enlightened KVM_SET_CLOCK the reference counter MSR follows the kept page', () => {
  assert.equal(mismatches(reenlightened, 1_500n * MS), [], 'check_tsc_msr_tsc_page: r1 >= t1 && r1 - t1 < 100000');
});

test.run();
