// kvm-unit-tests x86/tsc_adjust.c (Will Auld 2012, with KVM's IA32_TSC_ADJUST emulation, 3.8; its timing check
// replaced by two orderings in d3f3e215, Jim Mattson 2022), ported. Source read: kvm-unit-tests/kvm-unit-tests
// x86/tsc_adjust.c at HEAD 1da1819e49fc (2026-06-26). Guest only, one vCPU:
//   ADJ == 0; t1 = rdtsc; wrmsr(ADJ, 1e11); t2 = rdtsc; ADJ == 1e11; t2 - t1 >= 1e11;
//   wrmsr(ADJ, 0); ADJ == 0; t1 = rdtsc; wrtsc(1e11); t2 = rdtsc; t5 = ADJ; t1 <= 1e11 - t5; t2 >= 1e11.
// The rdtsc values are the guest's reads at the instants around each write (the run cut just before the write
// and at it: vcpu0.tsc). RDMSR(IA32_TSC_ADJUST) has no scenario observable; it is read through the guest's RDMSR
// port of the machine (Machine.rdmsrTscAdjust) -- docs/peer-tests.md.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { load, patch, runTo, guestReads, withEvents, churn, preempt, s64, S, type Raw } from './support.js';

const base = load('peer-kut-tsc_adjust');
const T3 = 100_000_000_000n, T4 = 100_000_000_000n;
const W1 = 1n * S, W0 = 2n * S, WTSC = 3n * S; // the scenario's three writes

function check(raw: Raw, label: string) {
  const tsc = (t: bigint) => guestReads(runTo(raw, t).r, 0, t).tsc;
  const adj = (t: bigint) => s64(runTo(raw, t).m.rdmsrTscAdjust(0));
  // report(rdmsr(MSR_IA32_TSC_ADJUST) == 0x0, "MSR_IA32_TSC_ADJUST msr initialization")
  assert.is(adj(W1 - 1n), 0n, `${label}: initialization`);
  // t1 = rdtsc(); wrmsr(MSR_IA32_TSC_ADJUST, t3); t2 = rdtsc();
  const t1 = tsc(W1 - 1n), t2 = tsc(W1);
  // report(rdmsr(MSR_IA32_TSC_ADJUST) == t3, "MSR_IA32_TSC_ADJUST msr read / write")
  assert.is(adj(W1), T3, `${label}: read / write`);
  // report((t2 - t1) >= t3, "TSC adjustment for MSR_IA32_TSC_ADJUST value"): the write moves the TSC by t3
  assert.ok(t2 - t1 >= T3, `${label}: t2 - t1 = ${t2 - t1} >= ${T3}`);
  // wrmsr(MSR_IA32_TSC_ADJUST, 0); report(rdmsr(MSR_IA32_TSC_ADJUST) == t3 (now 0), ...)
  assert.is(adj(W0), 0n, `${label}: read / write of 0`);
  // t1 = rdtsc(); wrtsc(t4); t2 = rdtsc(); t5 = rdmsr(MSR_IA32_TSC_ADJUST);
  const u1 = tsc(WTSC - 1n), u2 = tsc(WTSC), t5 = adj(WTSC);
  // report(t1 <= t4 - t5, "Internal TSC advances across write to IA32_TSC"): KVM sets ADJ += t4 - tsc(at the write),
  // so t4 - t5 is the TSC at the write, not before the earlier read
  assert.ok(u1 <= T4 - t5, `${label}: t1 ${u1} <= t4 - t5 = ${T4 - t5}`);
  // report(t2 >= t4, "IA32_TSC advances after write to IA32_TSC")
  assert.ok(u2 >= T4, `${label}: t2 ${u2} >= t4`);
}

// Every era that emulates IA32_TSC_ADJUST (3.8 on; before it the CPUID bit is absent and the test skips). The
// guest's IA32_TSC write is matched up to 5.9 and moves the offset directly from 5.10; either way 1e11 is 38 s of
// cycles from the TSC of a 3 s old VM, far outside any matching window, and TSC_ADJUST takes the difference.
test('tsc_adjust: IA32_TSC_ADJUST starts at 0, reads back what was written, and moves the TSC by it; a TSC write moves it back', () => {
  for (const rules of ['3.8-4.11', '4.12-5.9', '5.10-6.6', '6.7+', 'proposed-2026']) check(patch(base, { vm: { kvm: { rules } } }), rules);
});

// With vCPU 0 churned between the writes and preempted 200 ms twice: the guest TSC runs on while it is out (a
// stable, synchronized host), so every ordering above holds with the same margins.
test('tsc_adjust with churn and preemption between the writes: the same invariants', () => {
  const jitter = [churn([0], '100ms', '900ms'), preempt(0, '1.2s', '200ms'), churn([0], '2.1s', '2.9s'), preempt(0, '2.92s', '50ms')];
  for (const rules of ['3.8-4.11', '6.7+']) check(withEvents(patch(base, { vm: { kvm: { rules } } }), jitter), `${rules} + jitter`);
});

test.run();
