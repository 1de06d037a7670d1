// kvm_synchronize_tsc (kvm_write_tsc before 5.x) at the edges of each era's rule: a host (KVM_SET_MSRS) write of
// IA32_TSC on vCPU 1 is "synchronizing" -- vCPU 1 takes the offset vCPU 0 has, so both read the same TSC -- or it
// is not, and vCPU 1 reads the value written. A 1 GHz VM created at t = 0 (each vCPU's creation a host write of 0),
// the write at 2 s, when vCPU 0's TSC is 2e9: the expected verdicts are the kernel's formulas worked by hand, each
// pair one cycle (or one microsecond) apart across the edge. (Stryker found the edges untested: issue 18.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseScenario } from '../sim/scenario.js';
import { runScenario } from '../sim/machine.js';

const G = 1_000_000_000n;
/** vCPU 1's TSC after the write, and whether it took vCPU 0's offset. */
function write(rules: string, data: bigint, at = '2s', before: unknown[] = []): boolean {
  const r = runScenario(parseScenario({ name: 'sync-edge', until: '6s', hosts: [{ name: 'a', tscKhz: 1_000_000, pcpus: 4 }],
    vm: { host: 'a', vcpus: 2, kvm: { rules } }, events: [...before,
      { at, do: 'KVM_SET_MSRS', vcpu: 1, msr: 'IA32_TSC', value: `${data}` },
      { at, do: 'KVM_GET_MSRS', vcpu: 0, msr: 'IA32_TSC', as: 'a' },
      { at, do: 'KVM_GET_MSRS', vcpu: 1, msr: 'IA32_TSC', as: 'b' }] }));
  const [a, b] = r.steps!.slice(-2).map((s) => s.ret!.value as bigint);
  if (a === b) return true;
  assert.is(b, data, `${rules}: a write that does not synchronize sets the value written`);
  return false;
}

test('4.12-5.9 and 5.10-6.6: |data - (last_tsc_write + nsec_to_cycles(elapsed))| < tsc_khz * 1000, both ends open', () => {
  // tsc_exp = 0 + 2e9 cycles, tsc_hz = 1e9: synchronizing iff 1e9 < data < 3e9
  for (const rules of ['4.12-5.9', '5.10-6.6']) {
    assert.equal([G, G + 1n, 3n * G - 1n, 3n * G].map((d) => write(rules, d)), [false, true, true, false], rules);
    assert.ok(write(rules, 0n), `${rules}: a host write of 0 is vcpu initialization: it synchronizes whenever it comes`);
  }
});

test('3.8-4.11: usdiff = (s64)(data - last_tsc_write) * 1000 / virtual_tsc_khz - elapsed / 1000, |usdiff| < USEC_PER_SEC', () => {
  // the division truncates: data 1e9 + 999 is 1000000 us, exactly 1 s from elapsed's 2000000: not synchronizing
  assert.equal([G + 999n, G + 1000n, 3n * G - 1n, 3n * G].map((d) => write('3.8-4.11', d)), [false, true, true, false]);
  assert.not.ok(write('3.8-4.11', 0n), 'a write of 0 two seconds in is 2 s off: no sync (seed 000\'s hot-add)');
});

test('2.6.37-3.3: |data - last_tsc_write| < nsec_to_cycles(5 s) and elapsed < 5 s', () => {
  assert.equal([5n * G - 1n, 5n * G].map((d) => write('2.6.37-3.3', d)), [true, false]);
  // elapsed since the last write (the vCPUs' creation at 0): 5 s less 1 ns is within, 5 s is not
  assert.ok(write('2.6.37-3.3', 1n, '4999999999ns'));
  assert.not.ok(write('2.6.37-3.3', 1n, '5s'));
});

test('6.7+: the window only once userspace has written a TSC (user_set_tsc, bf328e22e472)', () => {
  // QEMU's reset writes IA32_TSC = 0 on every vCPU at start (sim/vmm/vmm.ts): user_set_tsc is set, the window applies
  assert.equal([G, G + 1n, 3n * G - 1n, 3n * G].map((d) => write('6.7+', d)), [false, true, true, false]);
  // a VM created by steps that write no TSC (at 1 s; its vCPUs start at 0, so vCPU 0 reads 1e9 at 2 s): a first user
  // write inside the window (0 < 1.5e9 < 2e9) does not synchronize on 6.7+, as it does on 5.10-6.6
  const bare = [{ at: '1s', do: 'recipe', steps: [{ do: 'pause' }, { do: 'KVM_CREATE_VM', host: 'a' }, { do: 'KVM_CREATE_VCPU' },
    { do: 'KVM_CREATE_VCPU' }, { do: 'KVM_RUN' }] }];
  assert.not.ok(write('6.7+', 3n * G / 2n, '2s', bare));
  assert.ok(write('5.10-6.6', 3n * G / 2n, '2s', bare));
});

test.run();
