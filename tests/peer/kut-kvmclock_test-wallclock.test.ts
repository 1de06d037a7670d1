// kvm-unit-tests x86/kvmclock_test.c, the wallclock test: on each CPU, kvm_get_wallclock() (the guest's WRMSR of
// MSR_KVM_WALL_CLOCK_NEW, then pvclock_read_wallclock with its own pvclock page) must be within `threshold` (5 s) of
// the host's `date +%s` given at launch: `offset > threshold || offset < -threshold` is an error. Also what KVM writes:
// the page's version even after each write and moved by 2, its sec/nsec the wall time at which kvmclock was 0.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { load, patch, run, S } from './support.js';

const raw = load('peer-kut-kvmclock_test-wallclock');
const WALL0 = 1_767_225_600n; // the hosts' CLOCK_REALTIME at real time 0 (sim/machine.ts): `date +%s` at launch
const THRESHOLD = 5n; // DEFAULT_THRESHOLD
const near = (a: bigint, b: bigint, what: string) => assert.ok(a - b <= 10n && b - a <= 10n, `${what}: ${a} vs ${b}`);

for (const rules of ['6.7+', '5.10-6.6', '4.12-5.9', '3.8-4.11', '2.6.37-3.3', 'proposed-2026']) {
  test(`kvmclock_test wallclock (${rules}): every CPU within ${THRESHOLD} s of the host's date +%s`, () => {
    const { r } = run(patch(raw, { vm: { kvm: { rules } } }));
    for (const i of [0, 1]) {
      const rec = r.steps!.find((s) => s.as === `wc${i}`)!;
      assert.is(rec.errno, undefined, rec.error);
      const ksec = rec.ret!.sec as bigint;
      const offset = ksec - WALL0;
      assert.ok(!(offset > THRESHOLD || offset < -THRESHOLD), `cpu ${i}: offset ${offset}`);
      // the wall time now, 2 s after launch (to the ns the pvclock scale and KVM_GET_CLOCK's extrapolation round away)
      near(ksec * S + (rec.ret!.nsec as bigint), (WALL0 + 2n) * S, `cpu ${i}: the time read`);
      // kvmclock started at 0 when the VM was created at real time 0: that is the epoch KVM writes
      near((rec.ret!.wc_sec as bigint) * S + (rec.ret!.wc_nsec as bigint), WALL0 * S, `cpu ${i}: the page's epoch`);
      assert.is(rec.ret!.version, BigInt(2 * (i + 1)), 'even, +2 per write');
    }
  });
}

test('kvmclock_test wallclock after KVM_SET_CLOCK moved kvmclock by +3600 s: the page\'s epoch moves back by as much, the wall time read stays', () => {
  const { r } = run(patch(raw, { events: [
    { at: '1s', do: 'KVM_GET_CLOCK', as: 'c' },
    { at: '1s', do: 'KVM_SET_CLOCK', clock: '=c.clock + 3600000000000' },
    { at: '2s', do: 'guest-wallclock', vcpu: 0, as: 'wc0' },
    { at: '2s', do: 'guest-wallclock', vcpu: 1, as: 'wc1' },
  ] }));
  for (const i of [0, 1]) {
    const ret = r.steps!.find((s) => s.as === `wc${i}`)!.ret!;
    near((ret.wc_sec as bigint) * S + (ret.wc_nsec as bigint), (WALL0 - 3600n) * S, `cpu ${i}: every vCPU sees the +3600 s in its kvmclock`);
    near((ret.sec as bigint) * S + (ret.nsec as bigint), (WALL0 + 2n) * S, `cpu ${i}: the time read`);
  }
});

test.run();
