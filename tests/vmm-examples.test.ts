// The example scenarios of examples/vmm/: what the guest and the VMM see under Cloud Hypervisor's restore (#8383)
// and its fix (#8437), and under Firecracker's restore with and without clock_realtime.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { parseScenario, parseScenarioFix, ScenarioError, mergePatch } from '../sim/scenario.js';
import { Machine, runScenario } from '../sim/machine.js';
import type { RunResult } from '../sim/types.js';

const file = (name: string) => JSON.parse(readFileSync(new URL(`../examples/vmm/${name}.json`, import.meta.url), 'utf8'));
const ret = (r: RunResult, as: string) => r.steps!.find((s) => s.as === as)!.ret as Record<string, bigint | string>;
const S = 1_000_000_000n, WALL0 = 1_767_225_600n * S;

test('cloud-hypervisor-8383: restored vCPU by vCPU, the second vCPU\'s TSC write starts a new generation: no masterclock, no STABLE', () => {
  const m = new Machine(parseScenario(file('cloud-hypervisor-8383')));
  m.enableTracepoints();
  const r = m.run();
  assert.equal(r.steps!.filter((s) => s.errno), []);
  assert.is(ret(r, 'after_restore').flags, 0n, 'KVM_GET_CLOCK without KVM_CLOCK_TSC_STABLE');
  assert.is(ret(r, 'page_after_restore').flags, 0n, 'no PVCLOCK_TSC_STABLE_BIT on the page');
  // the trace of PR #8383: vcpu=0 prev=0 next=A; vcpu=0 prev=A next=B; vcpu=1 prev=0 next=B; vcpu=1 prev=B next=(C)
  const at15 = r.tracepoints!.filter((l) => / 86415\.000000: kvm_(write_tsc_offset|track_tsc):/.test(l)).map((l) => l.replace(/^.*?: kvm_/, 'kvm_').replace(/ +/g, ' '));
  const off = at15.filter((l) => l.startsWith('kvm_write_tsc_offset')).map((l) => /vcpu=(\d) prev=(\d+) next=(\d+)/.exec(l)!.slice(1));
  assert.is(off.length, 4);
  const [A, B] = [off[0][2], off[1][2]];
  assert.equal(off.map((o) => o[0]), ['0', '0', '1', '1']);
  assert.equal([off[0][1], off[1][1], off[2][1], off[2][2], off[3][1]], ['0', A, '0', B, B]);
  const track = at15.filter((l) => l.startsWith('kvm_track_tsc')).map((l) => /masterclock (\d) offsetmatched (\d) nr_online (\d)/.exec(l)!.slice(1).join(' '));
  assert.equal(track, ['0 0 1', '0 0 1', '0 1 2', '0 0 2'], 'vCPU 1\'s TSC write: offsetmatched back to 0 of 2 online');
  // #8437: every vCPU given vCPU 0's offset, vCPU 0 first -- one generation
  assert.is(ret(r, 'after_fix').flags, 2n | 4n | 8n);
  assert.is(ret(r, 'page_after_fix').flags, 1n);
});

test('cloud-hypervisor-restore-8437 needs KVM_VCPU_TSC_OFFSET: refused before 5.16, naming the era', () => {
  assert.throws(() => parseScenario(mergePatch(file('cloud-hypervisor-8383'), { vm: { kvm: { rules: '4.12-5.9' } } }) as object),
    (e: Error) => e instanceof ScenarioError && /recipe cloud-hypervisor-restore-8437, step \d+: KVM_GET_DEVICE_ATTR\): KVM 4\.12-5\.9 has no KVM_VCPU_TSC_OFFSET/.test(e.message));
});

test('firecracker-restore: scaled to the snapshot\'s rate, TSC and kvmclock resume where they stopped; CLOCK_REALTIME 60 s behind', () => {
  const r = runScenario(parseScenario(file('firecracker-restore')));
  assert.equal(r.steps!.filter((s) => s.errno), []);
  const scaled = r.steps!.filter((s) => s.do === 'KVM_SET_TSC_KHZ');
  assert.is(scaled.length, 2, 'b is 300 ppm off: is_tsc_scaling_required');
  assert.ok(scaled.every((s) => s.ret!.result === 'scaled'));
  const mono = ret(r, 'monotonic').value as bigint, real = ret(r, 'realtime').value as bigint;
  assert.ok(mono > 15n * S && mono < 15n * S + 10_000n, `monotonic ${mono}: 75 s of real time less the 60 s downtime`);
  assert.ok(WALL0 + 75n * S - real > 60n * S - 10_000n && WALL0 + 75n * S - real < 60n * S + 10_000n, 'CLOCK_REALTIME 60 s behind the host');
  assert.ok(!r.anomalies.some((a) => a.type === 'soft-lockup'));
});

test('firecracker-restore with clock_realtime: kvmclock and CLOCK_REALTIME catch up; the TSC restored by value stays 60 s behind', () => {
  const r = runScenario(parseScenarioFix(file('firecracker-restore'), 'clock_realtime'));
  const real = ret(r, 'realtime').value as bigint, kc = ret(r, 'kvmclock').value as bigint, tsc = ret(r, 'tsc').value as bigint;
  assert.ok(WALL0 + 75n * S - real < 10_000n, 'CLOCK_REALTIME is the host\'s');
  assert.ok(kc > 75n * S - 10_000n, 'kvmclock counted the downtime');
  assert.ok(tsc / 2_400_000n < 15_001n && tsc / 2_400_000n >= 14_999n, `TSC ${tsc}: 15 s of 2.4 GHz cycles, not 75`);
  assert.equal(r.anomalies, []);
});

test('firecracker-restore-realtime before 5.16: KVM_GET_CLOCK has no realtime, KVM_SET_CLOCK{REALTIME} is refused with EINVAL', () => {
  const raw = mergePatch(file('firecracker-restore'), { vm: { kvm: { rules: '4.12-5.9' } } }) as object;
  const r = runScenario(parseScenarioFix(raw, 'clock_realtime'));
  const set = r.steps!.find((s) => s.do === 'KVM_SET_CLOCK')!;
  assert.is(set.errno, 'EINVAL');
});

test.run();
