// The machine's mechanics, each from a small world whose outcome follows from
// the kernel's rules: lockup detectors, the clocksource watchdog, host suspend, the TSC/TSC_ADJUST MSR rules.
// (GUEST_STOPPED and the detectors at their thresholds: tests/detectors.test.ts.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseScenario, type ScenarioInput } from '../sim/scenario.js';
import { Machine, runScenario } from '../sim/machine.js';

const world = (over: Record<string, unknown>, guest: Record<string, unknown> = {}, host: Record<string, unknown> = {}) =>
  parseScenario({
    name: 'mech', until: '60s', observe: { period: '10ms' },
    hosts: [{ name: 'h', tscKhz: 2_000_000, pcpus: 4, ...host }],
    vm: { host: 'h', vcpus: 2, guest: { kernel: '6.8', ...guest } },
    ...over,
  } as ScenarioInput);
const types = (r: ReturnType<typeof runScenario>) => r.anomalies.map((a) => a.type);

test('a vCPU preempted 30 s without GUEST_STOPPED reports a soft lockup and an RCU stall; 10 s does not', () => {
  const r = runScenario(world({ events: [{ at: '5s', do: 'preempt', vcpu: 1, duration: '30s' }] }));
  const lockup = r.anomalies.find((a) => a.type === 'soft-lockup')!;
  assert.is(lockup.vcpu, 1);
  // kernel/watchdog.c: the hrtimer fires every sample_period = watchdog_thresh * 2 / 5 = 4 s of CLOCK_MONOTONIC from
  // boot; the thread last stamped watchdog_touch_ts = local_clock() >> 30 at the firing before the preemption (4 s);
  // the overdue firing when the vCPU runs again (35 s) finds get_timestamp() - touch_ts past 2 * thresh
  const period = 4_000_000_000n, lastFiring = (5_000_000_000n / period) * period;
  const stuck = (35_000_000_000n >> 30n) - (lastFiring >> 30n);
  assert.is(lockup.size, stuck);
  assert.ok(r.log.some((l) => l.text === `BUG: soft lockup - CPU#1 stuck for ${stuck}s! [swapper/1:0]`));
  assert.ok(types(r).includes('rcu-stall'));
  const short = runScenario(world({ events: [{ at: '5s', do: 'preempt', vcpu: 1, duration: '10s' }] }));
  assert.not.ok(types(short).includes('soft-lockup'));
});

test('a hung task is reported after 120 s only when a D-state task waits', () => {
  // khungtaskd checks at 120 s and 240 s after boot: the first notes the task blocked since 5 s, the second reports it
  // (a 130 s wait from 5 s ends between the two: the kernel would not report it)
  const ev = { until: '300s', events: [{ at: '5s', do: 'preempt', vcpu: 0, duration: '240s' }] };
  assert.ok(types(runScenario(world(ev, { dStateTask: true }))).includes('hung-task'));
  assert.not.ok(types(runScenario(world(ev))).includes('hung-task'));
  const short = { until: '300s', events: [{ at: '5s', do: 'preempt', vcpu: 0, duration: '130s' }] };
  assert.not.ok(types(runScenario(world(short, { dStateTask: true }))).includes('hung-task'));
});

test('the clocksource watchdog: tsc on a vCPU moved to a skewed pCPU, no masterclock, is marked unstable', () => {
  // host on hpet: no masterclock, each page follows host time; pCPU 1's TSC is 1.5 ms ahead (3,000,000 cycles).
  // Both vCPUs start on pCPU 0; at 2 s vCPU 0 moves to pCPU 1. The per-CPU watchdog's rounds go round the CPUs,
  // each comparing its TSC's advance with kvm-clock's since the round before, on the other CPU: the move shows
  // as a 1.5 ms skew in the next round, over the 6.x margin (the two clocksources' uncertainty margins)
  const w = world({ until: '5s', events: [{ at: '2s', do: 'move-vcpu', vcpu: 0, pcpu: 1 }],
    vm: { host: 'h', vcpus: 2, pcpus: [0, 0], guest: { kernel: '6.8', invariantTsc: true } } }, {}, { clocksource: 'hpet', skew: ['0', '3000000'] });
  const r = runScenario(w);
  const line = r.log.findIndex((l) => /^clocksource: timekeeping watchdog on CPU[01]: Marking clocksource 'tsc' as unstable because the skew is too large:$/.test(l.text));
  assert.ok(line >= 0, r.log.map((l) => l.text).join('\n'));
  assert.ok(r.log[line].t > 2_000_000_000n && r.log[line].t <= 2_500_000_000n, 'in the first round after the move');
  const cs = BigInt(/'tsc' cs_nsec: (\d+)/.exec(r.log[line + 2].text)![1]), wd = BigInt(/'kvm-clock' wd_nsec: (\d+)/.exec(r.log[line + 1].text)![1]);
  const skew = cs > wd ? cs - wd : wd - cs;
  assert.ok(skew > 1_400_000n && skew < 1_600_000n, `the skew is the 1.5 ms pCPU skew: ${skew}`);
  assert.ok(r.log.some((l) => l.text === 'tsc: Marking TSC unstable due to clocksource watchdog'));
  assert.ok(r.log.some((l) => l.text === 'clocksource: Switched to clocksource kvm-clock' && l.t >= 2_000_000_000n));
  // a vCPU on the skewed pCPU from the start is caught in the first rotation (a round on CPU 1 after one on CPU 0)
  const early = runScenario(world({ until: '5s' }, { invariantTsc: true }, { clocksource: 'hpet', skew: ['0', '3000000'] }));
  const first = early.log.find((l) => /as unstable because the skew is too large/.test(l.text))!;
  assert.ok(first && first.t <= 1_000_000_000n + 1_000_000n, `${first?.t}`);
  // without the skew nothing happens; with tsc=reliable tsc is not watched
  assert.not.ok(runScenario(world({ until: '5s', events: [{ at: '2s', do: 'move-vcpu', vcpu: 0, pcpu: 1 }] }, { invariantTsc: true }, { clocksource: 'hpet' }))
    .log.some((l) => /watchdog/.test(l.text)));
  assert.not.ok(runScenario(world({ until: '5s', events: [{ at: '2s', do: 'move-vcpu', vcpu: 0, pcpu: 1 }] }, { invariantTsc: true, tscReliable: true },
    { clocksource: 'hpet', skew: ['0', '3000000'] })).log.some((l) => /watchdog/.test(l.text)));
});

test('the 2026 watchdog (763aacf86f, guests from 7.1): the boot CPU compares the other CPUs\' TSCs with its own in turn -- "inter CPU skew"', () => {
  // 3 vCPUs: 0 and 1 on pCPU 0, 2 on pCPU 1, whose TSC is 3,000,000 cycles ahead; no masterclock (host on hpet).
  // The rewrite's timer stays on CPU 0 and pings one other CPU per 0.5 s round, round robin from CPU 1: the first
  // round (CPU 1, same pCPU) passes, the second (CPU 2) sees CPU 2's TSC ahead by the pCPUs' skew and marks tsc
  // unstable, printing both TSCs: the model reads them at one instant, so they differ by exactly the skew
  const w = (kernel: string, form?: string) => world({ until: '5s',
    vm: { host: 'h', vcpus: 3, pcpus: [0, 0, 1], guest: { kernel, invariantTsc: true, ...(form ? { clocksourceWatchdog: form } : {}) } } },
  {}, { clocksource: 'hpet', skew: ['0', '3000000'] });
  const r = runScenario(w('7.1'));
  const text = r.log.map((l) => l.text).join('\n');
  const at = r.log.findIndex((l) => l.text === 'clocksource: Marking clocksource tsc unstable due to inter CPU skew');
  assert.ok(at >= 0, text);
  const m = /^clocksource: CPU0 +(\d+) < CPU2 +(\d+) \(cycles\)$/.exec(r.log[at + 1].text);
  assert.ok(m, r.log[at + 1].text);
  assert.is(BigInt(m![2]) - BigInt(m![1]), 3_000_000n);
  assert.is(r.log[at].vcpu, 0, 'printed by the boot CPU');
  const first = r.log.find((l) => /Switched to clocksource tsc/.test(l.text));
  const rounds = first ? Number((r.log[at].t - first.t) / 500_000_000n) : -1;
  assert.ok(r.log[at].t < 2_000_000_000n, `the second round, not later: ${r.log[at].t} (${rounds})`);
  assert.not.ok(/skew is too large/.test(text), 'the old wording is gone');
  assert.ok(r.log.some((l) => l.text === 'tsc: Marking TSC unstable due to clocksource watchdog'));
  // the same guest on 6.8 has the per-CPU form; 6.8 forced to the boot-CPU form behaves as 7.1
  assert.ok(runScenario(w('6.8')).log.some((l) => /as unstable because the skew is too large:$/.test(l.text)));
  assert.ok(runScenario(w('6.8', 'boot-cpu')).log.some((l) => /due to inter CPU skew$/.test(l.text)));
  assert.not.ok(runScenario(w('7.1', 'per-cpu')).log.some((l) => /inter CPU skew/.test(l.text)));
});

test('the 2026 watchdog\'s frequency check on the boot CPU: a kvm-clock guest whose TSC now counts 1.4x (no scaling) -- "frequency skew" with both intervals', () => {
  // after a migration to a 3.5 GHz host without TSC scaling the guest's TSC counts 1.4x while kvm-clock keeps real
  // time: the first full round after the restore sees tsc advance 1.4 x kvm-clock's interval, far over
  // (max_delta >> 8) (3.9 per mille: kvm-clock is not a CALIBRATED reference)
  const s = world({
    until: '10s',
    hosts: [{ name: 'h', tscKhz: 2_500_000, pcpus: 4, scaling: 'none' }, { name: 'g', tscKhz: 3_500_000, pcpus: 4, scaling: 'none' }],
    vm: { host: 'h', vcpus: 2, guest: { kernel: '7.1', invariantTsc: true } },
    events: [{ at: '5s', do: 'migrate', to: 'g', downtime: '100ms' }],
  });
  const r = runScenario(s);
  const at = r.log.findIndex((l) => l.text === 'clocksource: Marking clocksource tsc unstable due to frequency skew');
  assert.ok(at >= 0, r.log.map((l) => l.text).join('\n'));
  const wd = BigInt(/^clocksource: Watchdog +kvm-clock interval: +(\d+)ns$/.exec(r.log[at + 1].text)![1]);
  const cs = BigInt(/^clocksource: Clocksource +tsc interval: +(\d+)ns$/.exec(r.log[at + 2].text)![1]);
  // tsc's nanoseconds are 1.4 x kvm-clock's, to the rounding of tsc's mult (2^-22 relative) and kvm-clock's
  const want = (wd * 3_500_000n) / 2_500_000n, tol = want / 1_000_000n;
  assert.ok(cs >= want - tol && cs <= want + tol, `tsc ${cs} ns, kvm-clock ${wd} ns`);
  // the 6.8 guest's per-CPU watchdog sees the same round and says it in its own words
  const old = runScenario({ ...s, vm: { ...s.vm, guest: { ...s.vm.guest, kernel: '6.8', logStyle: '6.x' } } } as typeof s);
  assert.ok(old.log.some((l) => /as unstable because the skew is too large:$/.test(l.text) && l.t === r.log[at].t));
  assert.ok(r.log[at].t > 5_100_000_000n, 'after the restore');
});

test('host suspend with a TSC reset: KVM compensates every vCPU, gives up the masterclock for good, the guest TSC never goes back', () => {
  const r = runScenario(world({ until: '30s', events: [{ at: '10s', do: 'host-suspend', host: 'h', duration: '5s', tsc: 'reset' }] }));
  assert.ok(r.anomalies.some((a) => a.type === 'masterclock-off' && a.reason === 'host TSC went backwards across suspend: backwards TSC observed'));
  assert.not.ok(r.anomalies.some((a) => a.type === 'time-backwards'), JSON.stringify(r.anomalies, (_, v) => (typeof v === 'bigint' ? `${v}` : v)));
  assert.is(r.measurements['kvm.masterclock'], 0n);
});

test('MSR rules: guest TSC writes move TSC_ADJUST, host writes do not; guest TSC_ADJUST writes move the offset, host ones do not', () => {
  for (const rules of ['3.8-4.11', '6.7+'] as const) {
    const m = new Machine(parseScenario({ name: 'msr', until: '1s', hosts: [{ name: 'h', tscKhz: 2_000_000 }], vm: { host: 'h', vcpus: 2, kvm: { rules } } }));
    m.run();
    const v = m.kvm.vcpus[1], t = m.t;
    const tsc0 = m.kvm.readTsc(v, t);
    const step = 3_000_000_000n; // 1.5 s at 2 GHz: outside v4.x's 1-second matching window
    m.kvm.writeMsr(v, 'IA32_TSC', tsc0 + step, false, t);
    assert.is(v.tscAdjust, step, `${rules}: a guest TSC write moves TSC_ADJUST`);
    assert.is(m.kvm.readTsc(v, t), tsc0 + step);
    m.kvm.writeMsr(v, 'IA32_TSC_ADJUST', step + 500_000n, false, t);       // guest: offset += 500,000
    assert.is(m.kvm.readTsc(v, t), tsc0 + step + 500_000n, `${rules}: a guest TSC_ADJUST write moves the TSC`);
    m.kvm.writeMsr(v, 'IA32_TSC_ADJUST', 0n, true, t);                     // host: value only
    assert.is(v.tscAdjust, 0n);
    assert.is(m.kvm.readTsc(v, t), tsc0 + step + 500_000n, `${rules}: a host TSC_ADJUST write leaves the TSC`);
    m.kvm.writeMsr(v, 'IA32_TSC', 42n, true, t);                           // host: synchronize, TSC_ADJUST untouched
    assert.is(v.tscAdjust, 0n, `${rules}: a host TSC write leaves TSC_ADJUST`);
  }
});

test('wrmsr "add" reads first: after the guest\'s own tsc_sync compensation of a hot-added CPU, add moves its TSC on; an absolute write below it moves the TSC back', () => {
  // The fuzzer once wrote TSC_ADJUST = 1 on a hot-added vCPU whose guest had already written its compensation
  // (arch/x86/kernel/tsc_sync.c: "TSC ADJUST compensate: CPUn observed W warp. Adjust: A", cur->adjusted = A):
  // KVM then moves the offset by 1 - A (adjust_tsc_offset_guest), a step back the guest asked for. "add"
  // is the guest's read-modify-write instead: the offset moves by exactly the amount added.
  const scen = (write: Record<string, string>) => parseScenario({
    name: 'rmw', until: '1s', hosts: [{ name: 'a', tscKhz: 1_000_000, pcpus: 4, uptime: '1h' }],
    vm: { host: 'a', vcpus: 1, maxVcpus: 2, kvm: { rules: '6.7+' }, guest: { kernel: '6.8', kvmclock: true, invariantTsc: false, tscAdjust: true } },
    events: [{ at: '50ms', do: 'wrmsr', vcpu: 0, msr: 'IA32_TSC_ADJUST', value: '117' }, { at: '100ms', do: 'hot-add' },
      { at: '150ms', do: 'wrmsr', vcpu: 1, msr: 'IA32_TSC_ADJUST', ...write }],
  } as ScenarioInput);
  const backwards = (r: ReturnType<typeof runScenario>) => r.anomalies.filter((a) => a.type === 'time-backwards' && a.clock === 'tsc' && a.vcpu === 1);
  const abs = runScenario(scen({ value: '1' }));
  const comp = abs.log.find((l) => /^TSC ADJUST compensate: CPU1 observed \d+ warp\. Adjust: -?\d+$/.test(l.text));
  const adjusted = comp ? BigInt(/Adjust: (-?\d+)$/.exec(comp.text)![1]) : 0n; // the guest's value before the write
  if (adjusted > 1n) assert.is(backwards(abs)[0]?.size, adjusted - 1n, 'the absolute write steps back by what the guest had added');
  else assert.is(backwards(abs).length, 0);
  assert.is(backwards(runScenario(scen({ add: '1' }))).length, 0, 'read-modify-write never steps back');
  const m = new Machine(scen({ add: '1000' }));
  m.run();
  assert.is(m.kvm.vcpus[1].tscAdjust, adjusted + 1000n, 'TSC_ADJUST = what it was + 1000');
  assert.throws(() => scen({}), /exactly one of "value".*"add"/);
  assert.throws(() => scen({ value: '1', add: '1' }), /exactly one of "value".*"add"/);
});

test('under STABLE, a stale page after a guest TSC_ADJUST write (before d9130a2dfdd4) puts the other vCPUs behind it: backwards across vCPUs', () => {
  const w = (rules: string) => world({ until: '3s', vm: { host: 'h', vcpus: 2, kvm: { rules }, guest: { kernel: '4.9' } },
    events: [{ at: '1s', do: 'wrmsr', vcpu: 1, msr: 'IA32_TSC_ADJUST', value: '1000000000' }] });
  const r = runScenario(w('3.8-4.11'));
  // 10^9 cycles at 2 GHz: vCPU 1's kvmclock runs 0.5 s ahead, without the clamp to hide it
  const jump = r.anomalies.find((a) => a.type === 'time-jump' && a.clock === 'kvmclock' && a.vcpu === 1)!;
  assert.ok(jump.size > 499_000_000n && jump.size < 501_000_000n, `${jump.size}`);
  const across = r.anomalies.find((a) => a.type === 'time-backwards' && a.across && a.vcpu === 0)!;
  assert.ok(across && across.size > 490_000_000n && across.size < 510_000_000n, JSON.stringify(r.anomalies, (_, v) => (typeof v === 'bigint' ? `${v}` : v)));
  // recent KVM refreshes the page on that write: nothing goes backwards
  assert.not.ok(runScenario(w('5.10-6.6')).anomalies.some((a) => a.type === 'time-backwards'));
});

test('Xen tsc_mode: native jumps to the destination TSC, always_emulate keeps the original rate, native_paravirt counts incarnations', () => {
  const xen = (tscMode: number) => parseScenario({ name: 'xen', until: '20s', observe: { period: '10ms' },
    hosts: [{ name: 'a', tscKhz: 2_000_000, uptime: '1h', scaling: 'none' }, { name: 'b', tscKhz: 3_000_000, uptime: '5h', scaling: 'none' }],
    vm: { host: 'a', vcpus: 1, hypervisor: 'xen', xen: { tscMode }, guest: { kernel: 'pv', xenSchedClock: 'xen-clock-offset' } },
    events: [{ at: '5s', do: 'migrate', to: 'b', downtime: '100ms' }, { at: '10s', do: 'migrate', to: 'a', downtime: '100ms' }] });
  const native = new Machine(xen(2)); native.run();
  // native: after the first migration the guest reads host b's TSC: 5 h + 5.1 s at 3 GHz, from 5 s at 2 GHz on a's (1 h + 5 s)
  const r2 = runScenario(xen(2));
  const expectJump = (5n * 3600n + 5n) * 3_000_000_000n + 100_000_000n * 3n - (3600n + 5n) * 2_000_000_000n;
  const j = r2.measurements['migration1.guestTscJumpCycles'];
  assert.ok(j > expectJump - 1_000_000n && j < expectJump + 1_000_000n, `${j} vs ${expectJump}`);
  // always_emulate: the counter resumes at saved + 1 and keeps 2 GHz on the 3 GHz host
  const m1 = new Machine(xen(1)); const r1 = m1.run();
  assert.is(r1.measurements['migration1.guestTscJumpCycles'], 1n);
  const v = m1.kvm.vcpus[0];
  const at = (t: bigint) => m1.kvm.readTsc(v, t);
  assert.ok(at(12_000_000_000n) - at(11_000_000_000n) >= 1_999_999_000n && at(12_000_000_000n) - at(11_000_000_000n) <= 2_000_001_000n);
  // native_paravirt: TSC_AUX counts the two migrations
  assert.is(runScenario(xen(3)).measurements['xen.incarnation'], 2n);
  // the modern offset rule keeps sched_clock going across restore: no jump, no lockup
  assert.not.ok(runScenario(xen(1)).anomalies.some((a) => a.type === 'time-jump' || a.type === 'soft-lockup'));
});

test('up to 5.9 a guest TSC write within 1 s of the expected value is taken for a sync attempt: it snaps back to the generation offset', () => {
  const m = new Machine(parseScenario({ name: 'snap', until: '1s', hosts: [{ name: 'h', tscKhz: 2_000_000 }], vm: { host: 'h', vcpus: 2, kvm: { rules: '3.8-4.11' } } }));
  m.run();
  const v = m.kvm.vcpus[1], t = m.t, tsc0 = m.kvm.readTsc(v, t);
  m.kvm.writeMsr(v, 'IA32_TSC', tsc0 + 1_000_000n, false, t);
  assert.is(m.kvm.readTsc(v, t), tsc0, 'matched: cur_tsc_offset is reused');
  assert.is(v.tscAdjust, 0n);
});


test('a guest without kvm-clock calibrates its own (scaled) TSC: 2.5 GHz host x1.2 -> "Detected 2999.999 MHz", clocks keep real time', () => {
  // kvm_scale_tsc(2500000 kHz, ratio for 3 GHz) truncates to 2999999 kHz (tests/vectors)
  const s = world({ until: '20s', vm: { host: 'h', vcpus: 2, tscKhz: 3_000_000, guest: { kernel: '6.8', kvmclock: false, invariantTsc: true } } },
    {}, { tscKhz: 2_500_000, scaling: 'vmx' });
  const r = runScenario(s);
  assert.ok(r.log.some((l) => l.text === 'tsc: Detected 2999.999 MHz processor'), r.log.map((l) => l.text).join('\n'));
  assert.equal(r.anomalies.map((a) => `${a.type} ${a.clock}`), []);
});

test('a clock running fast over a long quiet stretch is one episode to the end: a tsc guest moved to a 1.4x faster host without TSC scaling gains 4 ms per 10 ms period', () => {
  const s = world({
    until: '400s',
    hosts: [{ name: 'h', tscKhz: 2_500_000, pcpus: 4, scaling: 'none' }, { name: 'g', tscKhz: 3_500_000, pcpus: 4, scaling: 'none' }],
    vm: { host: 'h', vcpus: 4, guest: { kernel: '6.8', kvmclock: false, invariantTsc: true } },
    events: [{ at: '5s', do: 'migrate', to: 'g', downtime: '100ms' }],
  });
  const r = runScenario(s);
  // KVM cannot slow the TSC down without scaling hardware: the guest's 2500 MHz TSC now counts 3500 MHz, so each
  // 10 ms (observe.period) of real time shows 14 ms, from the first entry after the downtime and the restore window
  // to the end of the run
  const resumed = 5_000_000_000n + 100_000_000n + s.vm.vmm.restoreWindow, period = 10_000_000n;
  const gain = (period * (3_500_000n - 2_500_000n)) / 2_500_000n;
  for (let i = 0; i < 4; i++) {
    const j = r.anomalies.filter((a) => a.type === 'time-jump' && a.clock === 'monotonic' && a.vcpu === i);
    assert.is(j.length, 1, 'one episode');
    assert.ok(j[0].t > resumed && j[0].t <= resumed + period, `${j[0].t}`);
    assert.is(j[0].until, s.until);
    const periods = Number((s.until - resumed) / period);
    assert.ok(Math.abs(j[0].count - periods) <= 4, `${j[0].count} periods of ${periods}`);
    assert.ok(j[0].size >= gain - 1_000n && j[0].size <= gain + 1_000n, `${j[0].size}`);
  }
});


test('an RCU stall that lasts 29 days: 100 reports printed, the kernel\'s other repeats (every 3 * timeout + 3 + 2 jiffies) counted', () => {
  const r = runScenario(world({ until: '30d', events: [{ at: '1s', do: 'preempt', vcpu: 1, duration: '29d' }] }));
  const rcu = r.anomalies.filter((a) => a.type === 'rcu-stall');
  assert.is(r.log.filter((l) => /rcu_sched detected stalls/.test(l.text)).length, 100);
  // tree_stall.h: the first report RCU_STALL_RAT_DELAY (2) jiffies after gp_start + timeout (21 s at HZ 1000), then one
  // every 3 * 21000 + 3 jiffies (the re-arm) + 2 until vCPU 1 runs again, 29 days after the grace period started
  const first = 21_000n + 2n, every = 3n * 21_000n + 3n + 2n, held = 29n * 86_400_000n;
  const total = (held - first) / every + 1n;
  assert.is(BigInt(rcu.reduce((n, a) => n + a.count, 0)), total);
  assert.match(rcu.at(-1)!.reason!, new RegExp(`; ${total - 100n} more reports, one every ${every} ms`));
  assert.not.ok(rcu.some((a) => a.reason === 'self-detected'), 'the counted re-arms moved jiffies_stall past its first tick');
});

test.run();
