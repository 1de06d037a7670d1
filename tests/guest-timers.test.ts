// When the guest's timers fire (sim/guest/expiry.ts): the smallest real time at which a guest clock reaches an
// expiry, found by bisection. Checked against a linear scan, on small monotone predicates and on a real guest
// whose clocks stand still (the pvclock clamp after a kvmclock leap on another vCPU) and then go on.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { firstTime } from '../sim/guest/expiry.js';
import { parseScenario } from '../sim/scenario.js';
import { Machine } from '../sim/machine.js';

const SEED = Number(process.env.FC_SEED ?? 20261129);
console.log(`guest-timers: fast-check seed ${SEED} (FC_SEED to replay)`);

test('bisection = linear scan on monotone predicates', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 400 }), fc.integer({ min: 0, max: 400 }), fc.integer({ min: -1, max: 500 }), (a, b, k) => {
    const lo = BigInt(Math.min(a, b)), hi = BigInt(Math.max(a, b)), K = BigInt(k);
    const pred = (t: bigint) => k >= 0 && t >= K;
    let scan: bigint | null = null;
    for (let t = lo; t <= hi; t++) if (pred(t)) { scan = t; break; }
    assert.is(firstTime(lo, hi, pred), scan);
  }), { seed: SEED, numRuns: 2000 });
  // and on the full u64 range, in at most 65 evaluations
  let calls = 0;
  assert.is(firstTime(0n, (1n << 64n) - 1n, (t) => { calls++; return t >= 1234567890123456789n; }), 1234567890123456789n);
  assert.ok(calls <= 66, `${calls} evaluations`);
});

/**
 * 3.8-4.11 KVM on a host without a masterclock (hpet): no PVCLOCK_TSC_STABLE_BIT, so the guest clamps every kvmclock
 * read to pvclock's last_value. A guest TSC_ADJUST write of +1 s on vCPU 1 leaves its page stale (no d9130a2dfdd4):
 * its kvmclock leaps 1 s and last_value with it (every vCPU follows). When vCPU 1 moves to another pCPU its page is
 * rewritten from the host clock: every vCPU now reads last_value, standing still until its page catches up.
 */
function frozen() {
  const s = parseScenario({
    name: 'clamp', until: '2010ms', observe: { period: '10ms' }, hosts: [{ name: 'h', tscKhz: 2_000_000, pcpus: 4, clocksource: 'hpet' }],
    vm: { host: 'h', vcpus: 2, kvm: { rules: '3.8-4.11' }, guest: { kernel: '4.9', logStyle: '4.x' } },
    events: [{ at: '2s', do: 'wrmsr', vcpu: 1, msr: 'IA32_TSC_ADJUST', value: '2000000000', by: 'guest' },
      { at: '2005ms', do: 'move-vcpu', vcpu: 1, pcpu: 2 }],
  });
  const m = new Machine(s);
  m.run();
  return m;
}

test('a guest clock that stands still and goes on: the first instant it reaches each value is what a scan finds', () => {
  const m = frozen(), g = m.guest, t0 = m.t;
  const at = (t: bigint) => g.view(t).points[0]!;
  const k0 = at(t0).kvmclock!;
  assert.ok(at(t0 + 500_000_000n).kvmclock === k0, 'vCPU 0 reads last_value: standing still');
  let still = 0n;
  for (const ahead of [1n, 1_000n, 1_000_000n, 500_000_000n]) {
    const e = k0 + ahead;
    const t = g.firstTime(t0, t0 + 5_000_000_000n, (v) => (v.points[0]?.kvmclock ?? 0n) >= e)!;
    assert.ok(t !== null);
    assert.ok(at(t).kvmclock! >= e && at(t - 1n).kvmclock! < e, `${ahead}: exactly the first instant`);
    // a scan in 1 ms steps: the first step at or past t is the first one that has reached e
    let s = t0;
    while (at(s).kvmclock! < e) s += 1_000_000n;
    assert.ok(s >= t && s - t < 1_000_000n);
    // the clock stands still for about the leap (1 s, less the 10 ms since the write), then runs at real time's rate
    if (ahead === 1n) { still = t - t0; assert.ok(still > 900_000_000n && still < 1_000_000_000n, `${still} ns`); }
    const d = t - t0 - still - ahead;
    assert.ok(d > -1_000n && d < 1_000n, `${ahead}: reached ${d} ns off real time's rate`);
  }
  // jiffies follow CLOCK_MONOTONIC, which stands still with it
  const j0 = g.view(t0).tk.jiffies;
  const tj = g.firstTime(t0, t0 + 5_000_000_000n, (v) => v.tk.jiffies >= j0 + 10n)!;
  assert.ok(g.view(tj).tk.jiffies >= j0 + 10n && g.view(tj - 1n).tk.jiffies < j0 + 10n);
  assert.ok(tj - t0 > 900_000_000n, 'no tick moves jiffies while the clock stands still');
});

test.run();
