// kvm-unit-tests x86/hyperv_clock.c (Paolo Bonzini 2016; hv_clock_test rewritten in bf2c53fd, Vitaly Kuznetsov
// 2024), ported at tsclab's resolution. Source read: kvm-unit-tests/kvm-unit-tests x86/hyperv_clock.c at HEAD
// 1da1819e49fc (2026-06-26), x86/unittests.cfg [hyperv_clock] (smp = 2, hv_passthrough, host clocksource tsc).
//   report_abort if tsc_sequence == 0 || == 0xFFFFFFFF ("Reference TSC page not available")
//   on every CPU for 1 s of page time: t_page_1 = hv_clock_read(); t_msr = rdmsr(TIME_REF_COUNT); t_page_2 = ...;
//     drift if t_msr < t_page_1 || t_msr > t_page_2; warp if t_msr < t_msr_prev or t_page_1 < t_page_prev
//   report(pass, "TSC reference precision test")
// Observed: hv.tscSequence; the guest's own reads of the Hyper-V reference time at every point the engine evaluates
// (each host event and guest timer), which the observer checks for going back on each vCPU (time-backwards on
// hv-reference: the page's warp) and against the reference counter (hv-page-mismatch: more than one 100 ns unit
// apart). That is the drift check at one unit's resolution, not the test's exact bracket: tsclab computes the counter
// as kvmclock / 100 in every page state, where KVM's get_time_ref_counter() applies the page's own formula to vCPU 0's
// TSC while the page is set (exact agreement). Not expressible: REFERENCE_TSC's readback after enabling and disabling
// (no Hyper-V MSR action) -- docs/peer-tests.md.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { load, patch, run, withEvents, churn, preempt, show, type Raw } from './support.js';

const base = load('peer-kut-hyperv_clock');

function check(raw: Raw, label: string) {
  const { r } = run(raw);
  const seq = r.measurements['hv.tscSequence'];
  assert.ok(seq !== 0n && seq !== 0xFFFFFFFFn, `${label}: Reference TSC page not available (sequence ${seq})`);
  const hv = r.anomalies.filter((a) => a.clock === 'hv-reference' || a.type === 'hv-page-mismatch');
  assert.equal(hv, [], `${label}: TSC reference precision test: ${show(hv)}`);
}

// Under the masterclock (every era from 3.8 with a TSC clocksource) KVM builds the page from vCPU 0's STABLE
// pvclock, valid (sequence 1) for the whole run; both vCPUs' page reads track the counter and never go back.
test('hyperv_clock: the reference TSC page is valid, tracks TIME_REF_COUNT and never goes back on either vCPU', () => {
  for (const rules of ['3.8-4.11', '5.10-6.6', '6.7+', 'proposed-2026']) check(patch(base, { vm: { kvm: { rules } } }), rules);
});

// With vCPU 1 churned across the pCPUs for the whole run and vCPU 0 preempted in the 1 s test window: the page is
// one function of the TSC, which runs on while a vCPU waits.
test('hyperv_clock with churn and preemption: the same', () => {
  check(withEvents(base, [churn([1], '100ms', '3.4s'), preempt(0, '2.2s', '300ms'), preempt(1, '2.9s', '100ms')]), '6.7+ + jitter');
});

// Without a TSC clocksource on the host there is no masterclock, no STABLE, and KVM leaves the page invalid: the test
// aborts there, which is why unittests.cfg requires clocksource tsc.
test('hyperv_clock on a host without a TSC clocksource: sequence 0, "Reference TSC page not available"', () => {
  const { r } = run(patch(base, { hosts: [{ name: 'h', tscKhz: 2_500_000, pcpus: 4, clocksource: 'hpet' }] }));
  assert.is(r.measurements['hv.tscSequence'], 0n);
});

test.run();
