// seed-000: a hot-added vCPU after a migration, under KVM v4.x. Expected values
// come from the scenario's parameters and the kernel's formulas: the warp is the
// other vCPUs' TSC (2560904 kHz since VM start, paused for the downtime,
// advanced over the restore window) at the hot-add, minus the lock hand-off.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadBuiltin } from '../sim/scenarios.js';
import { runScenario } from '../sim/machine.js';
import type { RunResult } from '../sim/types.js';

const SEED_WARP = 13_266_090_348_023_396n;        // the seed's log
const SEED_UPTIME_S = 5_180_237n;                  // the seed's uptime
const KHZ = 2_560_904n, HOT_ADD = 5_180_237_570_910_500n, DOWNTIME = 300_000_000n;

const base = runScenario(loadBuiltin('seed-000-tsc-adjust-hotplug'));
const guest = (r: RunResult) => r.log.filter((l) => l.source === 'guest');
const find = (r: RunResult, re: RegExp) => guest(r).find((l) => re.test(l.text));

test('the new vCPU starts at TSC ~0 and the warp check measures the others\' TSC', () => {
  const line = find(base, /^TSC ADJUST compensate: CPU2 observed (\d+) warp\. Adjust: (\d+)$/);
  assert.ok(line, 'the compensate line is printed');
  const [, warp, adjust] = /observed (\d+) warp\. Adjust: (\d+)/.exec(line!.text)!;
  // guest TSC = cycles since VM start, less the downtime (restored by value, it counts on from the MSR write)
  const others = ((HOT_ADD - DOWNTIME) * KHZ) / 1_000_000n;
  const w = BigInt(warp);
  assert.ok(w <= others && others - w < 1_000n, `warp ${w} is the other vCPUs' TSC ${others} minus the sync overhead`);
  assert.is(BigInt(adjust), w);
  // and it is the seed's figure (within 1e-7)
  const diff = w > SEED_WARP ? w - SEED_WARP : SEED_WARP - w;
  assert.ok(diff * 10_000_000n < SEED_WARP, `warp ${w} vs the seed's ${SEED_WARP}`);
});

test('its timestamps leap by warp / tsc_hz seconds', () => {
  const before = find(base, /smpboot: Booting Node 0 Processor 2/)!;
  const after = find(base, /TSC ADJUST compensate/)!;
  assert.is(before.stamp! / 1_000_000_000n, SEED_UPTIME_S, 'the guest has been up 5180237 s');
  const leap = after.stamp! - before.stamp!;
  const warpNs = (13_266_090_348_023_583n * 1_000_000n) / KHZ;
  assert.ok(leap > warpNs && leap - warpNs < 100_000_000n, `leap ${leap} ns ~ warp/tsc_hz = ${warpNs} ns`);
});

test('RCU stalls and soft lockups are reported on the other vCPUs, then time stands still', () => {
  const rcu = base.anomalies.filter((a) => a.type === 'rcu-stall');
  assert.equal(rcu.map((a) => a.vcpu), [0, 1]);
  assert.ok(find(base, /^INFO: rcu_sched detected stalls on CPUs\/tasks: \(detected by 0, t=5180237\d{3} jiffies\)$/));
  const lockups = base.anomalies.filter((a) => a.type === 'soft-lockup');
  // get_timestamp() is local_clock() >> 30: the leap of warp/tsc_hz ns in 2^30-ns units, +1 from flooring both ends
  const units = ((13_266_090_348_023_583n * 1_000_000n) / KHZ) >> 30n;
  assert.is(lockups.length, 2);
  for (const a of lockups) assert.ok(a.size === units || a.size === units + 1n, `${a.size} vs ${units}`);
  assert.ok(find(base, /^BUG: soft lockup - CPU#0 stuck for 4824472s! \[swapper\/0:0\]$/));
  // after the next kvmclock refresh (KVMCLOCK_SYNC_PERIOD, at 5180400 s) every clock is clamped: it stands still to the end
  const stalls = base.anomalies.filter((a) => a.type === 'time-stall' && a.clock === 'monotonic');
  assert.equal(stalls.map((a) => a.vcpu).sort(), [0, 1, 2]);
  for (const a of stalls) assert.ok(a.t >= 5_180_400_000_000_000n && a.size >= 299_990_000_000n);
  assert.ok(base.anomalies.some((a) => a.type === 'masterclock-off' && a.t === HOT_ADD), 'the unmatched TSC write drops the masterclock');
});

for (const fix of ['clearcpuid=tsc_adjust', 'tsc=reliable', 'modern KVM']) {
  test(`fix "${fix}" cures it`, () => {
    const r = runScenario(loadBuiltin('seed-000-tsc-adjust-hotplug', fix));
    const bad = r.anomalies.filter((a) => ['rcu-stall', 'soft-lockup', 'time-jump', 'time-stall', 'time-backwards', 'tsc-adjust-compensate'].includes(a.type));
    assert.equal(bad, []);
    if (fix === 'clearcpuid=tsc_adjust') {
      assert.ok(find(r, /^Measured 13266090348023\d{3} cycles TSC warp between CPUs, turning off TSC clock\.$/));
      assert.ok(find(r, /tsc: Marking TSC unstable due to check_tsc_sync_source failed/));
    }
    if (fix === 'modern KVM') assert.not.ok(r.anomalies.some((a) => a.type === 'tsc-warp'), 'the new vCPU starts in step');
  });
}

test('same scenario, same seed: the same bytes', () => {
  const again = runScenario(loadBuiltin('seed-000-tsc-adjust-hotplug'));
  const str = (r: RunResult) => JSON.stringify(r, (_, v) => (typeof v === 'bigint' ? `${v}` : v));
  assert.is(str(again), str(base));
});

test.run();
