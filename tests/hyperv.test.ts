// The Hyper-V reference TSC page as a guest clocksource on KVM: KVM derives it
// from vCPU 0's pvclock (sequence 0 where it cannot: no STABLE); the guest's
// reads of the page and of the reference counter (kvmclock / 100) bracket each
// other within one 100 ns unit and never go back. With re-enlightenment KVM
// leaves the page as it was across KVM_SET_CLOCK, so after a legacy migration
// (TSC by value, then the restore window to the first entry) the page runs the window ahead of the counter.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseScenario } from '../sim/scenario.js';
import { Machine, runScenario } from '../sim/machine.js';
import * as o from '../oracle/index.js';

const world = (guest: object, events: object[], hostA: object = {}, kvm: object = {}) => parseScenario({ name: 'hv', until: '12s', observe: { period: '10ms' },
  hosts: [{ name: 'a', tscKhz: 2_500_000, ...hostA }, { name: 'b', tscKhz: 2_500_000 }],
  vm: { host: 'a', vcpus: 2, kvm, guest: { hypervClock: true, ...guest } }, events });
const hv = (r: ReturnType<typeof runScenario>) => r.anomalies.filter((a) => a.clock === 'hv-reference');
const migrate = (procedure: string) => [{ at: '5s', do: 'migrate', to: 'b', downtime: '100ms', procedure }];

test('the page is valid under the masterclock and brackets the reference counter; monotonic on every vCPU', () => {
  const m = new Machine(world({}, []));
  const r = m.run();
  assert.is(r.measurements['hv.tscSequence'], 1n);
  assert.equal(hv(r), []);
  // the page KVM wrote is kvm_hv_setup_tsc_page's (the BigInt oracle) of vCPU 0's pvclock page:
  // scale = mul_u64_u32_div(1 << (32 + tsc_shift), tsc_to_system_mul, 100), offset = system_time / 100 - tsc_timestamp x scale >> 64
  const p0 = m.kvm.vcpus[0].page, page = m.kvm.hvTscPage;
  const want = o.hvTscPageParams({ ...p0, tscToSystemMul: BigInt(p0.tscToSystemMul) })!;
  assert.equal({ scale: page.scale, offset: page.offset }, want);
  // a 2.5 GHz pvclock (mul 0xcccccccc, shift -1) gives scale 2^31 x 0xcccccccc / 100
  assert.equal([p0.tscToSystemMul, p0.tscShift], [0xcccccccc, -1]);
  assert.is(page.scale, ((1n << 31n) * 0xccccccccn) / 100n);
  // read at every vCPU's TSC now, the page is the reference counter (kvmclock / 100) within one 100 ns unit
  for (const v of m.kvm.vcpus) {
    const tsc = m.kvm.readTsc(v, m.t);
    const ref = o.pvclockReadCycles({ ...v.page, tscToSystemMul: BigInt(v.page.tscToSystemMul) }, tsc) / 100n;
    const read = o.hvReadTscPage(page.scale, page.offset, tsc);
    assert.ok(read <= ref && ref - read <= 1n, `vCPU ${v.id}: page ${read}, counter ${ref}`);
  }
  assert.ok(m.t === 12_000_000_000n && o.hvReadTscPage(page.scale, page.offset, m.kvm.readTsc(m.kvm.vcpus[0], m.t)) >= 119_999_999n, '12 s in 100 ns units');
});

test('no masterclock (host on hpet): no STABLE, sequence 0, the guest reads the reference counter', () => {
  const r = runScenario(world({}, [], { clocksource: 'hpet' }));
  assert.is(r.measurements['hv.tscSequence'], 0n);
  assert.equal(hv(r), []);
});

test('re-enlightenment leaves the page unchanged across KVM_SET_CLOCK: the reference counter follows the kept page, kvmclock does not', () => {
  const plain = runScenario(world({}, migrate('legacy')));
  assert.equal(hv(plain), [], 'without re-enlightenment KVM recomputes the page');
  assert.is(plain.measurements['hv.tscSequence'], 2n);
  const m = new Machine(world({ hvReenlightenment: true }, migrate('legacy')));
  const r = m.run();
  assert.is(r.measurements['hv.tscSequence'], 1n, 'the page kept its sequence');
  // hyperv.c get_time_ref_counter: while the page is valid, TIME_REF_COUNT is the page's formula on vCPU 0's TSC, so
  // the MSR and the page agree (hyperv_clock's check_tsc_msr_tsc_page): no mismatch
  assert.equal(hv(r), []);
  // ... but the kept page is no longer kvmclock / 100: the legacy restore put the TSC (by value) the restore window
  // ahead of kvmclock (KVM_SET_CLOCK at cont), and the page, made for the old kvmclock, follows the TSC
  const window = parseScenario({ name: 'w', until: '1s', hosts: [{ name: 'h', tscKhz: 1_000_000 }], vm: { host: 'h', vcpus: 1 } }).vm.vmm.restoreWindow;
  const page = m.kvm.hvTscPage;
  for (const v of m.kvm.vcpus) {
    const tsc = m.kvm.readTsc(v, m.t);
    const kvmclock = o.pvclockReadCycles({ ...v.page, tscToSystemMul: BigInt(v.page.tscToSystemMul) }, tsc) / 100n;
    const ahead = o.hvReadTscPage(page.scale, page.offset, tsc) - kvmclock;
    assert.ok(ahead >= window / 100n - 1n && ahead <= window / 100n + 1n, `vCPU ${v.id}: the page ${ahead} units ahead of kvmclock / 100, the restore window is ${window / 100n}`);
  }
  // precise migration keeps TSC and kvmclock together: the unchanged page still agrees
  assert.equal(hv(runScenario(world({ hvReenlightenment: true }, migrate('precise-scaled')))), []);
});

test('before 0469f2f7ab4c (5.12) KVM rewrites a re-enlightened guest\'s page across KVM_SET_CLOCK, as without re-enlightenment', () => {
  for (const kvm of [{ rules: '4.12-5.9' }, { rules: '5.10-6.6', commits: { '0469f2f7ab4c': false } }]) {
    const r = runScenario(world({ hvReenlightenment: true }, migrate('legacy'), {}, kvm));
    assert.is(r.measurements['hv.tscSequence'], 2n, JSON.stringify(kvm));
    assert.equal(hv(r), []);
  }
  assert.is(runScenario(world({ hvReenlightenment: true }, migrate('legacy'), {}, { rules: '5.10-6.6' })).measurements['hv.tscSequence'], 1n);
});

test('what the counter check catches: a vCPU whose TSC a guest write moved reads the page ahead of TIME_REF_COUNT (vCPU 0\'s)', () => {
  // 5.10+: the guest's WRMSR(IA32_TSC) requests no clock update; the page stays valid and vCPU 1 reads it with a TSC
  // 2,500,000 cycles (1 ms at 2.5 GHz) ahead of vCPU 0's, which get_time_ref_counter reads: 10,000 units of 100 ns
  const add = 2_500_000n;
  const r = runScenario(world({}, [{ at: '5s', do: 'wrmsr', vcpu: 1, msr: 'IA32_TSC', add: `${add}` }]));
  const m = r.anomalies.filter((a) => a.type === 'hv-page-mismatch');
  assert.equal(m.map((a) => [a.vcpu, a.t]), [[1, 5_000_000_000n]]);
  const units = (add * 1_000_000n) / 2_500_000n / 100n;
  assert.ok(m[0].size >= units - 1n && m[0].size <= units + 1n, `${m[0].size} vs ${units}`);
});

test.run();
