// The VMM steps at the ioctl level (sim/vmm/steps.ts): checked when the file is read (an ioctl the era lacks,
// a name no earlier step saved, a vCPU that does not exist, a VM created while it runs), and at run time each
// recorded with what KVM returned or its errno.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseScenario, ScenarioError } from '../sim/scenario.js';
import { Machine, runScenario } from '../sim/machine.js';
import { parseExpr } from '../sim/vmm/step-defs.js';

const world = (rules: string, events: unknown[], extra: Record<string, unknown> = {}) => ({
  name: 'steps', until: '3s', hosts: [{ name: 'a', tscKhz: 2500000, pcpus: 4 }, { name: 'b', tscKhz: 3000000, pcpus: 4 }],
  vm: { host: 'a', vcpus: 2, kvm: { rules }, ...extra }, events,
});
const refused = (raw: unknown, re: RegExp) => assert.throws(() => parseScenario(raw), (e: Error) => e instanceof ScenarioError && re.test(e.message), String(re));
const run = (raw: unknown) => runScenario(parseScenario(raw));

test('an ioctl the era lacks is refused when the file is read, naming the era', () => {
  refused(world('5.10-6.6', [{ at: '1s', do: 'KVM_SET_TSC_KHZ', khz: 2500000 }]), /events\[0\]: KVM 5\.10-6\.6 has no VM-wide KVM_SET_TSC_KHZ \(ffbb61d09fc5, 6\.0\)/);
  refused(world('4.12-5.9', [{ at: '1s', do: 'KVM_GET_DEVICE_ATTR', vcpu: 0, attr: 'KVM_VCPU_TSC_OFFSET' }]), /KVM 4\.12-5\.9 has no KVM_VCPU_TSC_OFFSET/);
  refused(world('2.6.37-3.3', [{ at: '1s', do: 'KVM_KVMCLOCK_CTRL', vcpu: 0 }]), /KVM 2\.6\.37-3\.3 has no KVM_KVMCLOCK_CTRL \(3\.5\)/);
  refused(world('2.6.37-3.3', [{ at: '1s', do: 'KVM_GET_MSRS', vcpu: 0, msr: 'IA32_TSC_ADJUST' }]), /does not emulate IA32_TSC_ADJUST/);
  // with the commit backported, or optional (skipped and recorded), it is accepted
  parseScenario(world('5.10-6.6', [{ at: '1s', do: 'KVM_GET_TSC_KHZ', as: 'k' }], { kvm: { rules: '5.10-6.6', commits: { ffbb61d09fc5: true } } }));
  const r = run(world('2.6.37-3.3', [{ at: '1s', do: 'KVM_KVMCLOCK_CTRL', vcpu: 0, optional: true }]));
  assert.match(r.steps![0].skipped!, /no KVM_KVMCLOCK_CTRL/);
});

test('names: a value must be saved by an earlier step; expressions are checked when read', () => {
  refused(world('6.7+', [{ at: '1s', do: 'KVM_SET_CLOCK', clock: '=c.clock + 1' }]), /"c" is not saved by any earlier step/);
  refused(world('6.7+', [{ at: '1s', do: 'KVM_SET_CLOCK', clock: '=1 +' }]), /events\[0\]\.clock: the expression ends too early/);
  refused(world('6.7+', [{ at: '1s', do: 'let', as: 'x', value: '=nope(1)' }]), /no function "nope"/);
  refused(world('6.7+', [{ at: '1s', do: 'KVM_GET_MSRS', vcpu: 2, msr: 'IA32_TSC' }]), /events\[0\]\.vcpu: 2 is not a vCPU of this VM/);
  assert.equal(parseExpr('a.b + 2 * (c - 1) ? 1 : 0').k, 'if');
});

test('KVM_CREATE_VM: only while the VM is paused, and with all its vCPUs created before time passes', () => {
  refused(world('6.7+', [{ at: '1s', do: 'recipe', steps: [{ do: 'KVM_CREATE_VM', host: 'b' }] }]), /KVM_CREATE_VM while the VM runs/);
  refused(world('6.7+', [{ at: '1s', do: 'stop' }, { at: '1s', do: 'KVM_CREATE_VM', host: 'b' }]), /create the VM and its vCPUs in one/);
  refused(world('6.7+', [{ at: '1s', do: 'recipe', steps: [{ do: 'pause' }, { do: 'KVM_CREATE_VM', host: 'b' }, { do: 'KVM_CREATE_VCPU' }, { do: 'wait', duration: '1ms' }] }]),
    /time passes while the VM has 1 of its 2 vCPUs/);
  refused(world('6.7+', [{ at: '1s', do: 'recipe', recipe: 'nope' }]), /no recipe "nope" \(qemu-stop, qemu-cont/);
});

test('each step\'s result is recorded: returned values, errno (EINVAL) with KVM\'s reason, and the values saved', () => {
  const r = run(world('6.7+', [
    { at: '1s', do: 'KVM_GET_CLOCK', as: 'c' },
    { at: '1s', do: 'KVM_GET_TSC_KHZ', vcpu: 1, as: 'k' },
    { at: '1s', do: 'KVM_SET_TSC_KHZ', khz: 3000000 },
    { at: '1s', do: 'KVM_SET_CLOCK', clock: '=c.clock', flags: '=16' },
    { at: '2s', do: 'KVM_GET_MSRS', vcpu: 0, msr: 'MSR_KVM_SYSTEM_TIME_NEW', as: 'st' },
    { at: '2s', do: 'KVM_GET_MSRS', vcpu: 0, msr: 'IA32_TSC', as: 'tsc' },
  ]));
  const [clock, khz, vmKhz, setClock, st, tsc] = r.steps!;
  assert.is(clock.ret!.flags, 2n | 4n | 8n, 'TSC_STABLE | REALTIME | HOST_TSC under the masterclock (6.7+)');
  assert.is(clock.ret!.realtime, 1_767_225_601_000_000_000n);
  assert.is(khz.ret!.khz, 2_500_000n);
  assert.is(vmKhz.errno, 'EINVAL');
  assert.match(vmKhz.error!, /once vCPUs exist/);
  assert.is(setClock.errno, 'EINVAL');
  assert.match(setClock.error!, /invalid flags 0x10/);
  assert.is(st.ret!.value, 2_147_745_792n | 1n, 'guest.kvmclockPa | KVM_MSR_ENABLED');
  assert.is(tsc.ret!.value, 5_000_000_000n, 'the guest TSC 2 s after it started at 0');
  assert.ok(r.log.some((l) => l.source === 'vmm' && /^KVM_SET_TSC_KHZ khz=3000000: -EINVAL/.test(l.text)));
});

test('KVM_GET_CLOCK flags by era: none before 108b249c453d, TSC_STABLE to 5.15, + REALTIME | HOST_TSC from 5.16', () => {
  const flags = (rules: string) => run(world(rules, [{ at: '1s', do: 'KVM_GET_CLOCK' }])).steps![0].ret!.flags;
  assert.is(flags('3.8-4.11'), 0n);
  assert.is(flags('4.12-5.9'), 2n);
  assert.is(flags('5.10-6.6'), 14n);
  assert.is(flags('2.6.37-3.3'), 0n);
});

test('KVM_SET_DEVICE_ATTR on one vCPU: offsets differ, the masterclock goes off (Cloud Hypervisor #8383); back only once every vCPU is rewritten (#8437)', () => {
  const r = run(world('6.7+', [
    { at: '1s', do: 'KVM_GET_DEVICE_ATTR', vcpu: 0, attr: 'KVM_VCPU_TSC_OFFSET', as: 'o' },
    { at: '1s', do: 'KVM_SET_DEVICE_ATTR', vcpu: 1, attr: 'KVM_VCPU_TSC_OFFSET', value: '=o + 2500' },
    // the old offset again on vCPU 1 alone: it differs from last_tsc_offset (o + 2500), a new generation of one
    { at: '2s', do: 'KVM_SET_DEVICE_ATTR', vcpu: 1, attr: 'KVM_VCPU_TSC_OFFSET', value: '=o' },
    // vCPU 0 written with it too: matched (== last_tsc_offset), nr_vcpus_matched_tsc + 1 == online
    { at: '2500ms', do: 'KVM_SET_DEVICE_ATTR', vcpu: 0, attr: 'KVM_VCPU_TSC_OFFSET', value: '=o' },
  ]));
  const mc = r.log.filter((l) => /masterclock (on|off)/.test(l.text)).map((l) => `${l.t} ${/masterclock (on|off)/.exec(l.text)![1]}`);
  assert.equal(mc, ['0 on', '1000000000 off', '2500000000 on']);
});

test('pause / KVM_RUN: the guest is out for the pause; KVM_KVMCLOCK_CTRL sets PVCLOCK_GUEST_STOPPED on the page', () => {
  const raw = world('6.7+', [
    { at: '1s', do: 'pause' },
    // in one event: the page as KVM wrote it at the entry, before the guest reads and clears the flag
    { at: '1500ms', do: 'recipe', steps: [{ do: 'KVM_KVMCLOCK_CTRL', vcpu: 0 }, { do: 'KVM_KVMCLOCK_CTRL', vcpu: 1 }, { do: 'KVM_RUN' },
      { do: 'read-pvclock', vcpu: 0, as: 'p' }] },
  ]);
  const m = new Machine(parseScenario(raw));
  const r = m.run();
  assert.is((r.steps![4].ret!.flags as bigint) & 2n, 2n, 'PVCLOCK_GUEST_STOPPED');
  assert.ok(!r.anomalies.some((a) => a.type === 'soft-lockup'), 'the guest was told it stopped');
});

test('a recipe written inline (a copy of qemu-stop/qemu-cont) runs like the stop and cont actions', () => {
  const canned = run(world('6.7+', [{ at: '1s', do: 'stop' }, { at: '1500ms', do: 'cont' }]));
  const steps = run(world('6.7+', [{ at: '1s', do: 'recipe', recipe: 'qemu-stop' }, { at: '1500ms', do: 'recipe', recipe: 'qemu-cont' }]));
  const guest = (r: typeof canned) => ({ log: r.log.filter((l) => l.source !== 'vmm'), anomalies: r.anomalies, m: r.measurements });
  assert.equal(guest(steps), guest(canned));
});

test('the guest\'s side: rdtsc, rdmsr, kvmclock, clock_gettime through the vDSO while STABLE holds, by syscall once it is lost', () => {
  const r = run(world('6.7+', [
    { at: '1s', do: 'guest-rdtsc', vcpu: 0, as: 'tsc' },
    { at: '1s', do: 'guest-rdmsr', vcpu: 1, msr: 'IA32_TSC_ADJUST', as: 'adj' },
    { at: '1s', do: 'guest-kvmclock', vcpu: 0, as: 'kc' },
    { at: '1s', do: 'guest-clock_gettime', vcpu: 0, clock: 'CLOCK_MONOTONIC', as: 'mono' },
    { at: '1s', do: 'guest-clock_gettime', vcpu: 0, clock: 'CLOCK_REALTIME', as: 'real' },
    { at: '1s', do: 'KVM_GET_DEVICE_ATTR', vcpu: 0, attr: 'KVM_VCPU_TSC_OFFSET', as: 'o' },
    { at: '1s', do: 'KVM_SET_DEVICE_ATTR', vcpu: 1, attr: 'KVM_VCPU_TSC_OFFSET', value: '=o + 1' },
    { at: '2s', do: 'guest-clock_gettime', vcpu: 0, clock: 'CLOCK_MONOTONIC', as: 'mono2' },
  ]));
  const ret = (as: string) => r.steps!.find((x) => x.as === as)!.ret!;
  assert.is(ret('tsc').value, 2_500_000_000n);
  assert.is(ret('adj').value, 0n);
  assert.is(ret('kc').value, 999_999_999n, '(2.5e9 >> 1) * 0xcccccccc >> 32: the pvclock scale truncates');
  assert.is(ret('kc').flags, 1n, 'PVCLOCK_TSC_STABLE_BIT');
  assert.is(ret('mono').path, 'vdso-pvclock');
  assert.is((ret('real').value as bigint) - (ret('mono').value as bigint), 1_767_225_600_000_000_000n);
  assert.is(ret('mono2').path, 'syscall', 'offsets differ: no masterclock, no STABLE bit');
  const refusedRun = run(world('6.7+', [{ at: '1s', do: 'pause' }, { at: '2s', do: 'guest-rdtsc', vcpu: 0 }]));
  assert.match(refusedRun.steps![1].error!, /not running guest code/);
});

test.run();
