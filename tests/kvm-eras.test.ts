// KVM's clock rules per kernel era (sim/kvm/eras.ts, x86.ts), each driven
// directly on a KVM instance: the expected outcome is the rule as the era's
// x86.c states it, and each test fails under the rule tsclab had before.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createKernel } from '../bindings/index.js';
import { Host } from '../sim/host/host.js';
import { Kvm, type KvmVcpu, type RuleSet, type Commit } from '../sim/kvm/x86.js';
import { resolveRuleSet, RULE_SETS } from '../sim/kvm/eras.js';
import { parseScenario } from '../sim/scenario.js';

const k = createKernel();
const host = (over: Record<string, unknown> = {}) => new Host(parseScenario({ name: 'h', until: '1s',
  hosts: [{ name: 'h', tscKhz: 2_000_000, pcpus: 4, uptime: '1d', ...over }], vm: { host: 'h', vcpus: 1 } }).hosts[0]);
const S = 1_000_000_000n;

/** A VM of n vCPUs created as QEMU does at machine start (creations, then the resets' TSC writes), all running. */
function vm(rules: RuleSet, n = 2, commits: Partial<Record<Commit, boolean>> = {}, h = host()) {
  const kvm = new Kvm(k, h, rules, 0n, commits);
  const deferred: { t: bigint; fn: (t: bigint) => void }[] = [];
  kvm.defer = (t, fn) => deferred.push({ t, fn });
  const vs = Array.from({ length: n }, (_, i) => kvm.createVcpu(0n, i));
  for (const v of vs) kvm.writeMsr(v, 'IA32_TSC', 0n, true, 0n);
  for (const v of vs) { kvm.enableKvmclock(v, 0n); kvm.vcpuLoad(v, v.pcpu, 0n); }
  return { kvm, vs, deferred, h };
}
const kvmclock = (kvm: Kvm, v: KvmVcpu, t: bigint) => k.pvclockReadCycles(v.page, kvm.readTsc(v, t));

test('rule sets: names tell the kernel range; old names are aliases or refused with the replacement named', () => {
  assert.equal([...RULE_SETS], ['2.6.37-3.3', '3.8-4.11', '4.12-5.9', '5.10-6.6', '6.7+', 'proposed-2026']);
  assert.is(resolveRuleSet('modern'), '6.7+');
  assert.is(resolveRuleSet('v5.x'), '5.10-6.6');
  assert.is(resolveRuleSet('v2.6.37'), '2.6.37-3.3');
  const v4 = resolveRuleSet('v4.x');
  assert.ok(typeof v4 === 'object' && /"3\.8-4\.11".*"4\.12-5\.9"/.test(v4.error));
  const bad = resolveRuleSet('5.x');
  assert.ok(typeof bad === 'object' && bad.error.includes('6.7+'));
});

test('PVCLOCK_TSC_STABLE_BIT = use_master_clock: vCPUs whose offsets differ keep it (6.7+); only the 2026 series drops it', () => {
  for (const [rules, stable] of [['6.7+', true], ['5.10-6.6', true], ['proposed-2026', false]] as const) {
    const { kvm, vs } = vm(rules);
    assert.ok(kvm.useMasterClock, `${rules}: masterclock on`);
    kvm.writeMsr(vs[1], 'IA32_TSC', kvm.readTsc(vs[1], S) + 5n * S, false, S); // a guest write: the offsets now differ
    kvm.requestClockUpdate(vs[1], S);
    assert.ok(kvm.useMasterClock, `${rules}: the masterclock stays (the Woodhouse series keeps it on equal frequencies)`);
    assert.is(kvm.stableBit(vs[1]), stable, rules);
    assert.is((vs[1].page.flags & 1) === 1, stable, `${rules}: the page carries STABLE`);
  }
});

test('guest WRMSR(IA32_TSC) from 5.10 requests no clock update: the page keeps its tsc_timestamp and kvmclock leaps', () => {
  const { kvm, vs } = vm('6.7+');
  const v = vs[1], t = 15n * S;
  const before = { ...v.page }, k0 = kvmclock(kvm, v, t);
  kvm.writeMsr(v, 'IA32_TSC', kvm.readTsc(v, t) + 4_000_000_000n, false, t); // +2 s of cycles at 2 GHz
  assert.equal(v.page, before, 'no KVM_REQ_CLOCK_UPDATE: the page is as it was');
  assert.is(v.clockUpdatePending, false);
  assert.is(kvmclock(kvm, v, t) - k0, 2n * S, 'kvmclock leaps by the written cycles at the page\'s rate');
  assert.is(v.tscAdjust, 4_000_000_000n, 'and TSC_ADJUST moves with it');
  // up to 5.9 the guest write runs the matching: unmatched, a new generation, the masterclock is recomputed
  // and every page refreshed, so this vCPU's kvmclock does not leap
  const old = vm('4.12-5.9');
  const w = old.vs[1], k1 = kvmclock(old.kvm, w, t);
  old.kvm.writeMsr(w, 'IA32_TSC', old.kvm.readTsc(w, t) + 4_000_000_000n, false, t);
  assert.ok(kvmclock(old.kvm, w, t) - k1 < 1_000_000n, '4.12-5.9: the page follows');
  assert.not.ok(old.kvm.useMasterClock, '4.12-5.9: the vCPUs are in different generations now');
});

test('guest WRMSR(IA32_TSC_ADJUST) requests a clock update only with d9130a2dfdd4', () => {
  for (const [rules, commits, refreshed] of [
    ['3.8-4.11', {}, false], ['4.12-5.9', {}, false], ['5.10-6.6', {}, true], ['5.10-6.6', { d9130a2dfdd4: false }, false],
    ['3.8-4.11', { d9130a2dfdd4: true }, true], ['6.7+', {}, true],
  ] as const) {
    const { kvm, vs } = vm(rules, 2, commits);
    const v = vs[1], t = 3n * S, k0 = kvmclock(kvm, v, t);
    kvm.writeMsr(v, 'IA32_TSC_ADJUST', 2_000_000_000n, false, t); // +1 s of cycles
    const leap = kvmclock(kvm, v, t) - k0;
    assert.is(leap < 1_000_000n, refreshed, `${rules} ${JSON.stringify(commits)}: leap ${leap} ns`);
  }
});

test('2.6.37-3.3: a host TSC write within 5 s of the last one matches (no kHz check, no generations, no masterclock)', () => {
  const { kvm, vs } = vm('2.6.37-3.3');
  const v = vs[1];
  const cycles3s = 6_000_000_000n; // 3 s at 2 GHz: inside the 5 s window, outside the later forms' 1 s
  kvm.writeMsr(vs[0], 'IA32_TSC', 0n, true, 10n * S);
  kvm.writeMsr(v, 'IA32_TSC', cycles3s, true, 11n * S);
  assert.is(v.offset, vs[0].offset, 'matched: last_tsc_offset reused');
  assert.not.ok(kvm.useMasterClock, 'no masterclock before 3.8');
  assert.is(v.page.flags & 1, 0, 'hv_clock.flags = 0');
  // usdiff (3.8-4.11) with the same writes: 3 s apart in value, 1 s in time -> unmatched
  const u = vm('3.8-4.11');
  u.kvm.writeMsr(u.vs[0], 'IA32_TSC', 0n, true, 10n * S);
  u.kvm.writeMsr(u.vs[1], 'IA32_TSC', cycles3s, true, 11n * S);
  assert.is.not(u.vs[1].offset, u.vs[0].offset);
  // elapsed over 5 s: unmatched even with the same value
  const { kvm: k2, vs: v2 } = vm('2.6.37-3.3');
  k2.writeMsr(v2[0], 'IA32_TSC', 0n, true, 10n * S);
  k2.writeMsr(v2[1], 'IA32_TSC', 0n, true, 16n * S);
  assert.is.not(v2[1].offset, v2[0].offset);
});

test('up to 5.9 a guest\'s WRMSR(IA32_TSC, 0) is judged by the 1 s window: the creation rule is `data == 0 && msr->host_initiated`', () => {
  // kvm_write_tsc of v4.14-v5.9 (kernel-audit.md K-4.14, K-4.19): only a host-initiated 0 is "vcpu initialization";
  // a guest's 0 is compared with last_tsc_write + elapsed like any value. 10 s after the VM's creation (the last write,
  // 0) it is 20e9 cycles from the expected value: unmatched, the TSC restarts at 0. Half a second in, it is within
  // 1 s: matched, cur_tsc_offset kept, the TSC runs on. (kvm-unit-tests x86/tsc.c's test_wrtsc(0) does this write.)
  for (const [t, restarts] of [[10n * S, true], [S / 2n, false]] as const) {
    const { kvm, vs } = vm('4.12-5.9');
    kvm.writeMsr(vs[1], 'IA32_TSC', 0n, false, t);
    const tsc = kvm.readTsc(vs[1], t);
    assert.is(tsc === 0n, restarts, `write of 0 at ${t} ns: TSC now ${tsc}`);
    if (!restarts) assert.is(tsc, kvm.readTsc(vs[0], t), 'matched: in step with vCPU 0');
    assert.is(vs[1].tscAdjust, restarts ? -kvm.readTsc(vs[0], t) : 0n, 'TSC_ADJUST takes the step');
  }
});

test('a hot-added vCPU\'s TSC write of 0: unmatched under 3.8-4.11\'s usdiff, synchronized from 4.12 -- at an equal rate', () => {
  for (const [rules, inStep] of [['3.8-4.11', false], ['4.12-5.9', true], ['6.7+', true]] as const) {
    const { kvm, vs } = vm(rules);
    const t = 3600n * S;
    const v = kvm.createVcpu(t, 2);
    kvm.writeMsr(v, 'IA32_TSC', 0n, true, t);
    kvm.vcpuLoad(v, 2, t);
    const tsc = kvm.readTsc(v, t), old = kvm.readTsc(vs[0], t);
    assert.is(tsc === old, inStep, `${rules}: ${tsc} vs ${old}`);
    if (!inStep) assert.ok(tsc < 1_000_000n, 'its TSC starts at ~0');
  }
});

test('...and on every era, a vCPU created at the host\'s rate in a VM running at another is unmatched (Huawei 2021)', () => {
  for (const rules of ['4.12-5.9', '6.7+'] as const) {
    const h = host({ tscKhz: 2_194_843 });
    const kvm = new Kvm(k, h, rules, 0n);
    const vs = [0, 1].map((p) => { const v = kvm.createVcpu(0n, p); kvm.setTscKhz(v, 2_194_903, 0n); return v; });
    for (const v of vs) kvm.writeMsr(v, 'IA32_TSC', 0n, true, 0n);
    for (const v of vs) kvm.vcpuLoad(v, v.pcpu, 0n);
    assert.ok(kvm.useMasterClock, 'the resets match one another');
    const t = 3600n * S;
    const v = kvm.createVcpu(t, 2); // KVM_CREATE_VCPU at the host's 2194843 kHz
    kvm.setTscKhz(v, 2_194_903, t); // QEMU's KVM_SET_TSC_KHZ after it
    kvm.writeMsr(v, 'IA32_TSC', 0n, true, t); // data == 0, but last_tsc_khz is the creation's
    kvm.vcpuLoad(v, 2, t);
    assert.ok(kvm.readTsc(v, t) < 1_000_000n, `${rules}: the new vCPU's TSC starts at 0`);
    assert.not.ok(kvm.useMasterClock);
  }
});

test('requests land at the next entry: the creation\'s masterclock request is served when the new vCPU first runs', () => {
  const { kvm, vs } = vm('3.8-4.11');
  const t = 3600n * S;
  const v = kvm.createVcpu(t, 2);
  kvm.writeMsr(v, 'IA32_TSC', 0n, true, t);
  assert.ok(kvm.useMasterClock, 'not yet: the vCPU has not entered the guest');
  assert.ok(v.masterclockUpdatePending);
  assert.is(vs[0].page.flags & 1, 1, 'the running vCPUs\' pages still carry STABLE');
  kvm.vcpuLoad(v, 2, t + S);
  assert.not.ok(kvm.useMasterClock, 'served at its first entry');
  assert.is(vs[0].page.flags & 1, 0, 'and every running vCPU\'s page rewritten at once (kicked)');
});

test('KVM_REQ_GLOBAL_CLOCK_UPDATE: this vCPU now, the others after KVMCLOCK_UPDATE_DELAY (100 ms), once', () => {
  const { kvm, vs, deferred } = vm('3.8-4.11', 3);
  for (const d of deferred.splice(0)) d.fn(d.t); // the boot's own delayed update
  assert.ok(kvm.useMasterClock);
  const versions = () => vs.map((v) => v.page.version);
  const before = versions();
  kvm.enableKvmclock(vs[2], 5n * S); // the guest's MSR_KVM_SYSTEM_TIME write on vCPU 2
  kvm.enableKvmclock(vs[1], 5n * S + 1000n);
  assert.equal(versions(), [before[0], before[1] + 2, before[2] + 2], 'each writer at once');
  assert.is(deferred.length, 1, 'one delayed kvmclock_update_work');
  assert.is(deferred[0].t, 5n * S + 100_000_000n);
  deferred[0].fn(deferred[0].t);
  assert.equal(versions(), [before[0] + 2, before[1] + 4, before[2] + 4], 'then all of them');
  // before 7e44e4495a39 (3.15) every vCPU was updated at once
  const early = vm('3.8-4.11', 3, { '7e44e4495a39': false });
  assert.is(early.deferred.length, 0);
  const b = early.vs.map((v) => v.page.version);
  early.kvm.enableKvmclock(early.vs[2], 5n * S);
  assert.equal(early.vs.map((v) => v.page.version), b.map((x) => x + 2));
});

test('KVM_GET_CLOCK: the host clock + offset before 108b249c453d, the masterclock value with TSC_STABLE after', () => {
  const drifting = host({ ntpDriftPpb: 25_900 });
  for (const [rules, flags] of [['3.8-4.11', 0], ['4.12-5.9', 2]] as const) {
    const { kvm } = vm(rules, 2, {}, drifting);
    const t = 1_000_000n * S; // 11.6 days of masterclock extrapolation
    const c = kvm.getClock(t, 0n);
    assert.is(c.flags, flags, rules);
    const drift = BigInt.asIntN(64, c.clock - kvm.baseNs(t) - kvm.kvmclockOffset);
    // the masterclock page runs 25.9 ppm ahead of CLOCK_BOOTTIME: 25.9 s after 10^6 s
    if (flags) assert.ok(drift > 25_800_000_000n && drift < 26_000_000_000n, `${rules}: ${drift}`);
    else assert.is(drift, 0n, `${rules}: the host's own clock`);
  }
});

test('kvmclock on CLOCK_BOOTTIME drifts from a masterclock page by the host\'s NTP correction; on MONOTONIC_RAW (53fafdbb8b21) it does not', () => {
  const h = host({ ntpDriftPpb: 25_900 });
  for (const [commits, drift] of [[{}, true], [{ '53fafdbb8b21': true }, false]] as const) {
    const { kvm, vs } = vm('3.8-4.11', 2, commits, h);
    const t = 5_180_000n * S;
    const mc = kvmclock(kvm, vs[0], t);
    // a host-clock page written now (the masterclock off): the difference is what a vCPU sees when its page changes
    kvm.useMasterClock = false;
    kvm.guestTimeUpdate(vs[0], t);
    const hostTrue = kvmclock(kvm, vs[0], t);
    const d = mc - hostTrue;
    if (drift) assert.ok(d > 134_000_000_000n && d < 134_200_000_000n, `${d} ns: 25.9 ppm of 5.18e6 s`);
    else assert.ok(d < 10n && d > -10n, `${d}`);
  }
});

test.run();
