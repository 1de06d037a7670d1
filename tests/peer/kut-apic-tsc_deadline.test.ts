// kvm-unit-tests x86/apic.c test_tsc_deadline_timer() (kvm-unit-tests@1da1819e49fc): a TSC deadline written with
// the TSC's own value (already reached) fires once -- report(tdt_count == 1, "tsc deadline timer") -- and the MSR then
// reads 0 -- report(rdmsr(MSR_IA32_TSCDEADLINE) == 0, "tsc deadline timer clearing"). Beyond the test: the timer KVM
// arms for a future deadline is fixed in host time when armed (start_sw_tscdeadline), so a TSC moved after that makes
// it fire early or late against the guest's TSC -- the hang class seen after TSC writes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { load, run, type Raw } from './support.js';
import type { RunResult } from '../../sim/types.js';

const raw = load('peer-kut-apic-tsc_deadline');
const ret = (r: RunResult, as: string) => r.steps!.find((s) => s.as === as)!.ret!;
const KHZ = 2_500_000n;

test('apic.c test_tsc_deadline_timer: a deadline already reached fires once, and the MSR reads 0', () => {
  const { r } = run(raw);
  assert.equal(r.steps!.filter((s) => s.errno), []);
  assert.is(ret(r, 'deadline').fired, 1n, 'tsc deadline timer (tdt_count == 1)');
  assert.is(ret(r, 'deadline').value, 0n, 'tsc deadline timer clearing');
});

/** A deadline 1 s ahead, then the guest's TSC moved by `jump` cycles (KVM_VCPU_TSC_OFFSET) before it is due. */
const jumped = (jump: string): Raw => ({ ...raw, until: '4s', events: [
  { at: '1s', do: 'recipe', steps: [
    { do: 'guest-rdmsr', vcpu: 0, msr: 'IA32_TSC', as: 'now' },
    { do: 'guest-wrmsr', vcpu: 0, msr: 'IA32_TSC_DEADLINE', value: `=now + ${KHZ * 1000n}` },
  ] },
  { at: '1100ms', do: 'recipe', steps: [
    { do: 'KVM_GET_DEVICE_ATTR', vcpu: 0, attr: 'KVM_VCPU_TSC_OFFSET', as: 'o' },
    { do: 'KVM_SET_DEVICE_ATTR', vcpu: 0, attr: 'KVM_VCPU_TSC_OFFSET', value: `=u64(o + ${jump})` },
  ] },
  { at: '1999ms', do: 'guest-rdmsr', vcpu: 0, msr: 'IA32_TSC_DEADLINE', as: 'before' },
  { at: '2001ms', do: 'guest-rdmsr', vcpu: 0, msr: 'IA32_TSC_DEADLINE', as: 'after' },
  { at: '2001ms', do: 'guest-rdtsc', vcpu: 0, as: 'tsc' },
] });

test('a TSC moved after the deadline was armed: the timer still fires 1 s of host time later, early or late against the guest TSC', () => {
  for (const [jump, sign] of [[`-${KHZ * 500n}`, -1n], [`${KHZ * 500n}`, 1n]] as const) {
    const { r } = run(jumped(jump));
    assert.is(ret(r, 'before').fired, 0n);
    assert.is(ret(r, 'after').fired, 1n, `jump ${jump}: fired at the host time set when armed`);
    const deadline = ret(r, 'before').value as bigint, tsc = ret(r, 'tsc').value as bigint;
    // the guest TSC at the interrupt is 0.5 s of cycles short of (or past) the deadline it asked for
    const miss = tsc - deadline;
    assert.ok(sign * miss > 400n * KHZ && sign * miss < 600n * KHZ, `jump ${jump}: TSC - deadline = ${miss}`);
  }
});

test.run();
