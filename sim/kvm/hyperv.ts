// arch/x86/kvm/hyperv.c: the Hyper-V reference TSC page KVM keeps for a guest with hv_time (one per VM).
// kvm_hv_setup_tsc_page derives it from vCPU 0's pvclock page: scale and offset such that
// ((tsc * scale) >> 64) + offset is kvmclock / 100; where that cannot be expressed (no PVCLOCK_TSC_STABLE_BIT, or a
// shift the page format cannot hold) the sequence is 0 and the guest reads the reference counter MSR instead.
// With re-enlightenment (the guest asked to be told), after KVM_SET_CLOCK the page is left as it is.
import type { Kernel, PvclockTimeInfo } from '../../bindings/index.js';

export interface HvTscPage { sequence: number; scale: bigint; offset: bigint }

/** kvm_hv_setup_tsc_page: the page after vCPU 0's pvclock page changed (unchanged while the host changed under a re-enlightened guest). */
export function hvSetupTscPage(k: Kernel, page: HvTscPage, page0: Required<PvclockTimeInfo>, hostChanged: boolean): HvTscPage {
  if (hostChanged) return page; // re-enlightenment: the guest is told, the page stays
  const p = k.hvTscPageParams(page0);
  if (!p) return { sequence: 0, scale: 0n, offset: 0n };
  if (p.scale === page.scale && p.offset === page.offset && page.sequence) return page;
  // the sequence counts up, skipping 0 (invalid) and 0xFFFFFFFF (the reference counter's marker)
  let seq = (page.sequence + 1) >>> 0;
  if (seq === 0 || seq === 0xFFFFFFFF) seq = 1;
  return { sequence: seq, ...p };
}
