// KVM selftest system_counter_offset_test.c (x86): KVM_SET_DEVICE_ATTR(KVM_VCPU_TSC_OFFSET) with offsets 0, +180e9,
// -180e9; the guest's rdtsc() must lie between the host's rdtsc() + offset before and after it ran
// (handle_sync: start <= obs && obs <= end). The host reads are `let` steps over the `host_tsc` builtin.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { load, runTo, guestReads, patch, S, MS } from './support.js';
import { parseScenario, ScenarioError } from '../../sim/scenario.js';

const raw = load('peer-system_counter_offset_test');

for (const [i, off] of [[0, '0'], [1, '+180e9'], [2, '-180e9']] as const) {
  test(`system_counter_offset_test offset ${off}: start <= guest rdtsc <= end`, () => {
    const t = BigInt(i + 1) * S + MS;
    const { r } = runTo(raw, t);
    const val = (as: string) => r.steps!.find((s) => s.as === as)!.ret!.value as bigint;
    const obs = guestReads(r, 0, t).tsc;
    assert.ok(val(`start${i}`) <= obs && obs <= val(`end${i}`), `${val(`start${i}`)} <= ${obs} <= ${val(`end${i}`)}`);
    assert.is(r.steps!.filter((s) => s.errno).length, 0);
  });
}

test('system_counter_offset_test before 5.16: refused when the file is read, naming the era', () => {
  assert.throws(() => parseScenario(patch(raw, { vm: { kvm: { rules: '4.12-5.9' } } })),
    (e: Error) => e instanceof ScenarioError && /KVM 4\.12-5\.9 has no KVM_VCPU_TSC_OFFSET attribute \(5\.16\): -ENXIO/.test(e.message));
});

test.run();
