// seed-004: KSM without max_page_sharing and numad. Expected values from the
// parameters: 9 VMs x 1 GiB = 2,359,296 pages, 52,376 of them written, so
// 2,306,920 zero pages (9.45 GB) share one stable node; one rmap walk at 10 us
// per rmap_item takes 23.0692 s; with the limit a node holds 256 (2.56 ms).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadBuiltin } from '../sim/scenarios.js';
import { runScenario } from '../sim/machine.js';
import { ksmMerge } from '../sim/host/ksm.js';

const base = runScenario(loadBuiltin('seed-004-ksm-numad'));
const fixed = runScenario(loadBuiltin('seed-004-ksm-numad', 'max_page_sharing=256'));
const ITEMS = 9n * 1024n * 256n - 52_376n;

test('one stable node holds 2,306,920 rmap_items (~9 GB of zero pages); a walk takes over 10 s', () => {
  assert.is(ITEMS, 2_306_920n);
  assert.is(base.measurements['ksm.rmapItems'], ITEMS);
  assert.is(base.measurements['ksm.stableNodes'], 1n);
  assert.is(base.measurements['ksm.longestWalkNs'], ITEMS * 10_000n);
  assert.ok(ITEMS * 4096n > 9_000_000_000n);
});

test('the guests report soft lockups from the vCPUs blocked on the mmap lock, and no RCU stall under RHEL 7\'s 60 s timeout', () => {
  const lockups = base.anomalies.filter((a) => a.type === 'soft-lockup');
  assert.equal(lockups.map((a) => a.vcpu), [0, 1]);
  // kernel/watchdog.c: the hrtimer fires every 4 s (watchdog_thresh 10 * 2 / 5) of CLOCK_MONOTONIC from boot; the
  // thread last stamped touch_ts = local_clock() >> 30 at the firing before numad took the lock (61 s: the one at
  // 60 s); the overdue firing when the vCPU runs again finds get_timestamp() - touch_ts
  const at = 61_000_000_000n, walk = ITEMS * 10_000n, period = 4_000_000_000n;
  const stuck = ((at + walk) >> 30n) - (((at / period) * period) >> 30n);
  for (const a of lockups) assert.is(a.size, stuck);
  assert.ok(base.log.some((l) => l.text === `BUG: soft lockup - CPU#0 stuck for ${stuck}s! [swapper/0:0]`));
  // every vCPU held the grace period open 23 s, under RHEL 7's CONFIG_RCU_CPU_STALL_TIMEOUT=60: no stall report
  assert.is(base.anomalies.filter((a) => a.type === 'rcu-stall').length, 0);
  // the same guest at the upstream default (21 s): the tick CPU's first tick brings jiffies up to date and finds its
  // own bit still set -- a self-detected stall (tree_stall.h print_cpu_stall), which re-arms the check for the others
  const s21 = loadBuiltin('seed-004-ksm-numad');
  const up = runScenario({ ...s21, vm: { ...s21.vm, guest: { ...s21.vm.guest, rcuStallTimeout: 21 } } });
  const rcu = up.anomalies.filter((a) => a.type === 'rcu-stall');
  assert.equal(rcu.map((a) => [a.vcpu, a.reason]), [[0, 'self-detected']]);
  const line = up.log.find((l) => /self-detected stall/.test(l.text))!;
  const t = BigInt(/\(t=(\d+) jiffies\)/.exec(line.text)![1]);
  assert.ok(t * 1_000_000n >= walk && t * 1_000_000n <= walk + 2_000_000n, `t=${t} jiffies for a ${walk} ns wait`);
  assert.is(line.text, `INFO: rcu_sched self-detected stall on CPU { 0}  (t=${t} jiffies)`);
});

test('max_page_sharing = 256: a chain of dups, the longest walk a few ms, nothing fires', () => {
  assert.is(fixed.measurements['ksm.longestNodeItems'], 256n);
  assert.is(fixed.measurements['ksm.stableNodes'], (ITEMS + 255n) / 256n);
  assert.is(fixed.measurements['ksm.longestWalkNs'], 2_560_000n);
  assert.equal(fixed.anomalies, []);
});

test('ksmMerge: a node takes sharers while len < max; unlimited means one node', () => {
  const vm = (nonZeroPages: number) => ({ name: 'v', memoryMiB: 1, nonZeroPages });
  assert.equal(ksmMerge({ maxPageSharing: 256, rmapItemCostNs: 1n }, [vm(0)]), { rmapItems: 256n, stableNodes: 1n, longestNodeItems: 256n, longestWalkNs: 256n });
  assert.is(ksmMerge({ maxPageSharing: 256, rmapItemCostNs: 1n }, [vm(0), vm(255)]).stableNodes, 2n);
  assert.is(ksmMerge({ maxPageSharing: 0, rmapItemCostNs: 1n }, [vm(0), vm(0)]).longestNodeItems, 512n);
});

test.run();
