// arch/x86/kernel/pvclock.c: pvclock_clocksource_read() as the guest's CPUs read their pages at one instant.
//
// A page's value is __pvclock_read_cycles(page, tsc). When the guest trusts PVCLOCK_TSC_STABLE_BIT
// (pvclock_set_flags) and the page carries it, that value is returned as is and last_value is not touched;
// otherwise the value is raised to the global last_value, and last_value to it (an atomic64 cmpxchg loop): so
// every CPU's kvmclock follows the largest value any CPU has read. PVCLOCK_GUEST_STOPPED in a page tells the
// guest it was stopped (kvm_check_and_clear_guest_paused).
import { PVCLOCK_TSC_STABLE_BIT } from '../../bindings/index.js';

const PVCLOCK_GUEST_STOPPED = 2;

export interface PvclockReads {
  /** Each CPU's kvmclock read (0 where the guest has no pvclock). */
  kvm: bigint[];
  /** Its page carried PVCLOCK_TSC_STABLE_BIT and the guest trusts it: returned unclamped. */
  stableAt: boolean[];
  /** Its page carries PVCLOCK_GUEST_STOPPED. */
  stopped: boolean[];
  /** last_value after these reads. */
  lastValue: bigint;
}

/**
 * The reads of CPUs 0..n-1 at one instant from `raw` ([tsc, page value, flags] per CPU): those for which `reads(i)`
 * raise last_value; every CPU's value is clamped to the result (the reads are taken as simultaneous).
 */
export function pvclockReadAll(raw: bigint[], n: number, o: { pv: boolean; trusted: boolean; reads: (i: number) => boolean }, lastValue: bigint): PvclockReads {
  let lv = lastValue;
  const stableAt: boolean[] = [], stopped: boolean[] = [];
  for (let i = 0; i < n; i++) {
    const flags = Number(raw[3 * i + 2]);
    stableAt[i] = o.trusted && (flags & PVCLOCK_TSC_STABLE_BIT) !== 0;
    stopped[i] = (flags & PVCLOCK_GUEST_STOPPED) !== 0;
    if (o.pv && o.reads(i) && !stableAt[i] && raw[3 * i + 1] > lv) lv = raw[3 * i + 1];
  }
  const kvm: bigint[] = [];
  for (let i = 0; i < n; i++) {
    const r = raw[3 * i + 1];
    kvm[i] = !o.pv ? 0n : stableAt[i] ? r : r > lv ? r : lv;
  }
  return { kvm, stableAt, stopped, lastValue: lv };
}
