// David Woodhouse's pvclock_migration_test.c ("KVM: x86: Cleaning up the KVM clock mess" v6 09/36, unmerged), its
// direct pvclock check ported where tsclab can run it, with pvclock_test.c's sweep of guest rates 1.0..5.0 GHz.
// Source read: the v6 patch mail (xen-devel, 2026-07-03, stored copy 58583020244): a 1.5 GHz guest ("forces TSC
// scaling") is saved, paused sleep(1), restored on the same host with the documented recipe, then
//   pvclock_delta = pvclock_read_cycles(&pvti_src, guest_tsc_now) - pvclock_read_cycles(pvti_dst, guest_tsc_now)
//   TEST_ASSERT(pvclock_delta >= -2 && pvclock_delta <= 2, "pvclock src vs dst disagree by %ld ns")
// The series restores the clock with KVM_SET_CLOCK_GUEST(pvti_src) (step 8), and fixes the page's rate (02/36, Hz
// not kHz) and KVM_GET_CLOCK's (13/36). tsclab models none of those: its precise-scaled procedure is the recipe
// before the series (KVM_SET_CLOCK with KVM_CLOCK_REALTIME and offsets from KVM_GET_CLOCK's host TSC, scaled), and its
// proposed-2026 rules only 21/34 (masterclock with offset vCPUs). So what runs here is the mainline half: the error
// the series' test was written against. The +-2 ns of the series is not expressible (docs/peer-tests.md).
//
// The measurement migration1.kvmclockDeltaAtSameTscNs is the destination page's kvmclock minus the source page's at
// one guest TSC (the destination's tsc_timestamp): -pvclock_delta.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { load, patch, run, withEvents, churn, preempt, pageGainNs, ns, type Raw } from './support.js';

const base = load('peer-pvclock_migration_test');
const ev = base.events![0];
// the source page's snapshot is the boot's (nothing re-snapshots a masterclock before the save); the destination
// page is written at its first entry: the span the source page extrapolates over is save + downtime + window
const SPAN = ns(ev.at) + ns(String(ev.downtime)) + ns(String(ev.window));
/** pvclock_test.c's rates: 1000000..5000000 kHz step 500000, skipping the host's own. */
const rates = (hostKhz: bigint) => Array.from({ length: 9 }, (_, i) => 1_000_000n + 500_000n * BigInt(i)).filter((k) => k !== hostKhz);

function delta(raw: Raw, hostKhz: bigint, guestKhz: bigint) {
  const { r } = run(patch(raw, { hosts: [{ name: 'h', tscKhz: Number(hostKhz), pcpus: 4, scaling: 'vmx' }], vm: { tscKhz: Number(guestKhz) } }));
  const M = (k: string) => r.measurements[`migration1.${k}`];
  assert.is(M('sourceSnapshotAgeNs'), ns(ev.at), 'the source page is the boot\'s snapshot');
  assert.is(M('masterclock'), 1n);
  return { pvclockDelta: -M('kvmclockDeltaAtSameTscNs'), vsGetClock: M('kvmclockDeltaVsSourceClockNs') };
}

// Mainline (6.7+): the source page's rate is kvm_scale_tsc(host kHz, ratio) truncated to whole kHz (1 kHz low at every
// rate here but 5.0 GHz on a 2.5 GHz host, where the ratio is exactly 2), so over the 2.001 s from its snapshot to the
// destination's page it gains span * (f_true / f_page - 1) on true time (support.ts pageGainNs, from the oracle's
// kvm_scale_tsc: 1000 ns/s at 1.0 GHz, 667 at 1.5, 500 at 2.0, ... 222 at 4.5, 0 at 5.0). The recipe restores
// kvmclock from KVM_GET_CLOCK, which follows the host's own rate: the destination agrees with the source's
// KVM_GET_CLOCK to +-2 ns, and pvclock_delta is the gain -- 2001 ns at 1.0 GHz (2100 ns with QEMU's default 100 ms
// restore window), outside the series' +-2 ns at every rate but 5.0 GHz. Each figure +-2 ns: the floor of the two
// pvclock reads and of the 32-bit scales. A second host at 2.1 GHz (the Sapphire Rapids TSC of the v2 thread) too.
test('pvclock_migration_test, mainline recipe, guest 1.0..5.0 GHz: pvclock src - dst = the source page\'s kHz-truncation gain over the span', () => {
  for (const hostKhz of [2_500_000n, 2_100_000n]) {
    for (const k of rates(hostKhz)) {
      const { pvclockDelta, vsGetClock } = delta(base, hostKhz, k);
      const gain = pageGainNs(hostKhz, k, SPAN);
      assert.ok(pvclockDelta >= gain - 2n && pvclockDelta <= gain + 2n, `host ${hostKhz} kHz, guest ${k} kHz: pvclock_delta ${pvclockDelta} ns, want ${gain} +- 2`);
      assert.ok(vsGetClock >= -2n && vsGetClock <= 2n, `host ${hostKhz}, guest ${k}: against the source's KVM_GET_CLOCK ${vsGetClock} ns`);
      // the test's own assertion holds exactly where kvm_scale_tsc does not truncate
      assert.is(pvclockDelta >= -2n && pvclockDelta <= 2n, gain === 0n, `host ${hostKhz}, guest ${k}: +-2 ns`);
    }
  }
  assert.is(pageGainNs(2_500_000n, 1_000_000n, SPAN), 2001n);
  assert.is(pageGainNs(2_500_000n, 1_000_000n, SPAN + ns('99ms')), 2100n);
});

// With jitter before the save (vCPU 0 churned 0.1-0.9 s, preempted 40 ms at 0.95 s): under the masterclock neither
// re-snapshots it, so the span and the figures are the same.
test('pvclock_migration_test with churn and preemption before the save: the same figures', () => {
  const jittered = withEvents(base, [churn([0], '100ms', '900ms'), preempt(0, '950ms', '40ms')]);
  for (const k of [1_000_000n, 1_500_000n, 5_000_000n]) {
    const { pvclockDelta } = delta(jittered, 2_500_000n, k);
    const gain = pageGainNs(2_500_000n, k, SPAN);
    assert.ok(pvclockDelta >= gain - 2n && pvclockDelta <= gain + 2n, `guest ${k} kHz + jitter: ${pvclockDelta} vs ${gain}`);
  }
});

// tsclab's proposed-2026 rules give the mainline figure: they carry 21/34 only (no KVM_SET_CLOCK_GUEST, no Hz-based
// page rate, no scaled KVM_GET_CLOCK). This pins the model's gap, not the series' behaviour -- it is to change when
// those patches are modelled (docs/peer-tests.md, "not expressible").
test('proposed-2026 as tsclab models it (21/34 only): the same error, not the series\' +-2 ns', () => {
  const { pvclockDelta } = delta(patch(base, { vm: { kvm: { rules: 'proposed-2026' } } }), 2_500_000n, 1_500_000n);
  const gain = pageGainNs(2_500_000n, 1_500_000n, SPAN);
  assert.ok(pvclockDelta >= gain - 2n && pvclockDelta <= gain + 2n && gain > 1000n, `${pvclockDelta} vs ${gain}`);
});

test.run();
