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

const world = (guest: object, events: object[], hostA: object = {}) => parseScenario({ name: 'hv', until: '12s', observe: { period: '10ms' },
  hosts: [{ name: 'a', tscKhz: 2_500_000, ...hostA }, { name: 'b', tscKhz: 2_500_000 }],
  vm: { host: 'a', vcpus: 2, guest: { hypervClock: true, ...guest } }, events });
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

test('re-enlightenment leaves the page unchanged across KVM_SET_CLOCK: after legacy migration it runs the restore window ahead', () => {
  const plain = runScenario(world({}, migrate('legacy')));
  assert.equal(hv(plain), [], 'without re-enlightenment KVM recomputes the page');
  assert.is(plain.measurements['hv.tscSequence'], 2n);
  const r = runScenario(world({ hvReenlightenment: true }, migrate('legacy')));
  assert.is(r.measurements['hv.tscSequence'], 1n, 'the page kept its sequence');
  const m = hv(r).filter((a) => a.type === 'hv-page-mismatch');
  assert.equal(m.map((a) => a.vcpu), [0, 1]);
  const window = parseScenario({ name: 'w', until: '1s', hosts: [{ name: 'h', tscKhz: 1_000_000 }], vm: { host: 'h', vcpus: 1 } }).vm.vmm.restoreWindow;
  for (const a of m) assert.is(a.size, window / 100n, 'the restore window (vm.vmm.restoreWindow), in 100 ns units');
  // precise migration keeps TSC and kvmclock together: the unchanged page still agrees
  assert.equal(hv(runScenario(world({ hvReenlightenment: true }, migrate('precise-scaled')))), []);
});

test.run();
