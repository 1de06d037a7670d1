// seed-000: a vCPU hot-added into a RHEL 7.4 guest, sixty days after a live
// migration (shared/seeds/000_00907632429b389b.txt). Expected values are the
// log's own figures, or the kernel's formulas applied to the scenario's stated
// inputs; the scenario's provenance block says which inputs the log gave.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadBuiltin } from '../sim/scenarios.js';
import { runScenario } from '../sim/machine.js';
import { kvmGetTimeScale, pvclockScaleDelta } from '../bindings/index.js';
import type { RunResult } from '../sim/types.js';

// the log
const LOG = {
  hotAdded: 5_180_237_377_019_000n,      // [5180237.377019] CPU8 has been hot-added
  secondary: 5_180_103_249_992_000n,     // [5180103.249992] kvm-clock: cpu 8, msr 4:3ff88201, secondary cpu clock
  compensate: 5_180_103_272_764_000n,    // [5180103.272764] TSC ADJUST compensate: CPU8 observed ... warp
  warp: 13_266_090_348_023_396n,
  stall: 11_224_312_559_644_000n,        // [11224312.559644] INFO: rcu_sched detected stalls ... t=1002915 jiffies
  frozen: 11_224_312_583_003_000n,       // [11224312.583003] ... t=6043918845 jiffies, and every later line
  jiffies: 6_043_918_845n,
  firstJiffies: 1_002_915n,              // [11224312.559644] ... t=1002915 jiffies
};
const s = loadBuiltin('seed-000-tsc-adjust-hotplug');
const base = runScenario(s);
const guest = (r: RunResult) => r.log.filter((l) => l.source === 'guest');
const find = (r: RunResult, re: RegExp) => guest(r).find((l) => re.test(l.text));
/** |got - want| <= want / 1000: the "within 0.1%". */
const within = (got: bigint, want: bigint, what: string) => {
  const d = got > want ? got - want : want - got;
  assert.ok(d * 1000n <= want, `${what}: ${got} vs the log's ${want} (off by ${d})`);
};
const dst = s.hosts[1];
/**
 * What the three guest-side or TSC_ADJUST fixes leave: the 134 s step back (the masterclock going off rewrites the
 * old pages on the host's clock; without STABLE every read is clamped to the leapt-ahead last_value), so every
 * clock stands still until the host's catches up -- then CPU 8, whose soft-lockup stamp its own clock (134 s
 * behind at bring-up) wrote, reports a soft lockup of about that long, and nothing else does.
 */
const stepBackOnly = (r: RunResult) => {
  assert.not.ok(r.anomalies.some((a) => ['time-jump', 'rcu-stall'].includes(a.type)), 'no leap, no RCU stall');
  const added = s.events[1].at;
  const stalls = r.anomalies.filter((a) => a.type === 'time-stall' && a.clock === 'monotonic' && a.t >= added);
  assert.ok(stalls.length >= 8 && stalls.every((a) => a.size > 133_000_000_000n && a.size < 135_000_000_000n),
    stalls.map((a) => `${a.vcpu}: ${a.size}`).join());
  const lockups = r.anomalies.filter((a) => a.type === 'soft-lockup');
  assert.ok(lockups.every((a) => a.vcpu === 8 && a.t >= added + 134_000_000_000n), JSON.stringify(lockups.map((a) => [a.vcpu, `${a.t}`])));
};
const compensate = () => find(base, /^TSC ADJUST compensate: CPU8 observed (\d+) warp\. Adjust: (\d+)$/)!;

test('the boot CPU prints the hot-add at the log\'s uptime, the new CPU its kvm-clock line, at the log\'s address', () => {
  const added = find(base, /^CPU8 has been hot-added$/)!;
  within(added.stamp!, LOG.hotAdded, 'hot-add stamp');
  assert.ok(find(base, /^smpboot: Booting Node 0 Processor 8 APIC 0x8$/));
  const sec = find(base, /^kvm-clock: cpu 8, msr 4:3ff88201, secondary cpu clock$/)!;
  assert.ok(sec, 'kvm_register_clock prints pa | 1 in halves (3.x): the area at 0x43ff88000, cpu 8 at + 8 * 64');
  within(sec.stamp!, LOG.secondary, 'secondary cpu clock stamp');
});

test('the new CPU reads 134 s behind: the old pages\' masterclock extrapolation against the host\'s NTP-disciplined clock', () => {
  const added = find(base, /^CPU8 has been hot-added$/)!, sec = find(base, /secondary cpu clock/)!;
  const behind = added.stamp! - sec.stamp!;
  // the destination's masterclock snapshot was taken at the migration's cont; since then a page extrapolating the
  // TSC at tsc_khz ran ahead of CLOCK_BOOTTIME by the drift: A - A / (1 + d)
  const cont = s.events[0].at + (s.events[0] as { downtime: bigint }).downtime + (s.events[0] as { window: bigint }).window;
  const A = s.events[1].at - cont;
  const expect = A - (A * 1_000_000_000n) / (1_000_000_000n + BigInt(dst.ntpDriftPpb));
  assert.ok(behind >= expect - 1_000_000n && behind <= expect + 1_000_000n, `${behind} ns vs ${expect} ns`);
  within(behind, LOG.hotAdded - LOG.secondary, 'the offset');
  assert.ok(base.anomalies.some((a) => a.type === 'masterclock-off' && a.t === s.events[1].at), 'the masterclock goes off at its first entry');
  // and the old vCPUs' kvmclock steps back that far when their pages are rewritten on the host's clock (no clamp:
  // last_value was not touched while STABLE was trusted)
  // (seen between two reads 10 ms apart across the 20 ms warp check: a few tens of ms less)
  const back = base.anomalies.filter((a) => a.type === 'time-backwards' && a.clock === 'kvmclock' && !a.across && a.vcpu! < 8);
  assert.ok(back.length >= 8, `${back.length}`);
  for (const a of back.slice(0, 8)) assert.ok(a.size > expect - 100_000_000n && a.size < expect, `${a.size}`);
});

test('the new vCPU starts at TSC 0 (created at the host\'s rate, not the VM\'s): tsc_sync measures the old TSC, seventy days', () => {
  const [, warp, adjust] = /observed (\d+) warp\. Adjust: (\d+)/.exec(compensate().text)!;
  const w = BigInt(warp);
  assert.is(BigInt(adjust), w);
  within(w, LOG.warp, 'warp');
  // the old TSC counted the source's 600 s, then on the destination the ten paused days and the sixty run ones
  const [src, d] = [BigInt(s.hosts[0].tscKhz), BigInt(dst.tscKhz)];
  const onDst = s.events[1].at - (s.events[0].at + (s.events[0] as { downtime: bigint }).downtime);
  const old = (s.events[0].at * src) / 1_000_000n + (onDst * d) / 1_000_000n;
  assert.ok(w < old && old - w < d * 30_000n, 'the old TSC less the new one\'s ~20 ms since its creation');
  assert.ok(base.log.some((l) => l.source === 'vmm' && /hot-add vCPU 8 on pCPU 8 \(TSC 2194843 kHz/.test(l.text)), 'at the host\'s rate');
});

test('TSC ADJUST compensate is printed before the write (its stamp is not yet leapt); then every clock leaps by warp / tsc_khz', () => {
  const line = compensate();
  within(line.stamp!, LOG.compensate, 'compensate stamp');
  const sec = find(base, /secondary cpu clock/)!;
  assert.ok(line.stamp! - sec.stamp! >= 20_000_000n && line.stamp! - sec.stamp! < 30_000_000n, 'one 20 ms warp-check run after');
  // the leap: the warp through the new vCPU's page scale (kvm_get_time_scale(1e9, tsc_khz)) -- pvclock_scale_delta
  const w = BigInt(/observed (\d+) warp/.exec(line.text)![1]);
  const { mul, shift } = kvmGetTimeScale(1_000_000_000n, BigInt(dst.tscKhz) * 1000n);
  const leap = pvclockScaleDelta(w, mul, shift);
  const after = guest(base).filter((l) => l.stamp! > LOG.hotAdded * 2n);
  assert.ok(after.length > 0);
  const first = after[0].stamp!;
  assert.ok(first - line.stamp! >= leap && first - line.stamp! - leap < 200_000_000n, `${first - line.stamp!} vs ${leap}`);
  within(first, LOG.stall, 'the first leapt stamp (the log\'s RCU report)');
  within(after.at(-1)!.stamp!, LOG.frozen, 'the frozen stamp');
});

test('RCU reports CPU 8 twice, detected by 1, as the log does: first through the wrapped product, then the full leap', () => {
  const re = /^INFO: rcu_sched detected stalls on CPUs\/tasks: \{ 8\} \(detected by 1, t=(\d+) jiffies\)$/;
  const rcu = guest(base).filter((l) => /rcu_sched/.test(l.text));
  assert.equal(rcu.map((l) => re.test(l.text)), [true, true], rcu.map((l) => l.text).join('\n'));
  const [t1, t2] = rcu.map((l) => BigInt(re.exec(l.text)![1]));
  within(t2, LOG.jiffies, 'the second report\'s t= (the full leap)');
  // kvm-clock's mult 2^23, shift 23: 3.x's timekeeping_get_ns() wraps delta * mult mod 2^64, so the first tick after
  // the leap moves jiffies by the leap mod 2^41 ns; the next one by all of it. Between the two reports: whole 2^41 ns
  // periods (and the tick or ticks between them) -- the same number of them as in the log
  const periods = (ms: bigint) => (ms * 1_000_000n) >> 41n;
  assert.is(periods(t2 - t1), periods(LOG.jiffies - LOG.firstJiffies));
  const rest = (t2 - t1) * 1_000_000n - (periods(t2 - t1) << 41n);
  assert.ok(rest >= 0n && rest < 30_000_000n, `${rest} ns besides the whole periods (the log: 23.7 ms)`);
  // the first t= is the leap mod 2^41 ns (plus the grace period's age at the leap): it moves second for second with
  // the warp, which the pause's length fits (the scenario's provenance)
  within(t1, LOG.firstJiffies, 'the first report\'s t= (the leap mod 2^41 ns)');
  assert.ok(base.anomalies.some((a) => a.type === 'soft-lockup'));
  // then the new CPU's page is refreshed and every clock is clamped to the leapt last_value: time stands still
  const stalls = base.anomalies.filter((a) => a.type === 'time-stall' && a.clock === 'monotonic');
  assert.ok(stalls.length >= 8, `${stalls.length}`);
});

test('fix "clearcpuid=tsc_adjust": one warp run, "Measured ... turning off TSC clock.", nothing written, no leap', () => {
  const r = runScenario(loadBuiltin('seed-000-tsc-adjust-hotplug', 'clearcpuid=tsc_adjust'));
  const measured = find(r, /^Measured (\d+) cycles TSC warp between CPUs, turning off TSC clock\.$/)!;
  within(BigInt(/Measured (\d+)/.exec(measured.text)![1]), LOG.warp, 'the measured warp');
  assert.ok(find(r, /tsc: Marking TSC unstable due to check_tsc_sync_source failed/));
  assert.not.ok(find(r, /TSC ADJUST compensate/));
  stepBackOnly(r);
});

test('fix "tsc=reliable": no warp check at all', () => {
  const r = runScenario(loadBuiltin('seed-000-tsc-adjust-hotplug', 'tsc=reliable'));
  assert.not.ok(r.anomalies.some((a) => a.type === 'tsc-warp'));
  stepBackOnly(r);
});

test('fix "d9130a2dfdd4 backported": the same compensation, but the page follows the new offset: no leap', () => {
  const r = runScenario(loadBuiltin('seed-000-tsc-adjust-hotplug', 'd9130a2dfdd4 backported'));
  assert.ok(find(r, /^TSC ADJUST compensate: CPU8 observed \d{17} warp/), 'the new vCPU still starts at 0');
  stepBackOnly(r);
  assert.ok(r.anomalies.some((a) => a.type === 'time-backwards'), 'the 134 s step back remains');
});

test('fix "modern KVM": kvmclock on CLOCK_MONOTONIC_RAW and the TSC_ADJUST update: neither the leap nor the 134 s step', () => {
  const r = runScenario(loadBuiltin('seed-000-tsc-adjust-hotplug', 'modern KVM'));
  assert.ok(find(r, /TSC ADJUST compensate: CPU8/), 'the new vCPU is still created at the host\'s rate');
  assert.not.ok(r.anomalies.some((a) => ['time-jump', 'rcu-stall', 'soft-lockup', 'time-backwards'].includes(a.type)),
    r.anomalies.map((a) => a.type).join());
});

test('same scenario, same seed: the same bytes', () => {
  const again = runScenario(loadBuiltin('seed-000-tsc-adjust-hotplug'));
  const str = (r: RunResult) => JSON.stringify(r, (_, v) => (typeof v === 'bigint' ? `${v}` : v));
  assert.is(str(again), str(base));
});

test.run();
