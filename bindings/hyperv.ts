// Hyper-V reference TSC page (arch/x86/kvm/hyperv.c, include/clocksource/hyperv_timer.h).
import type { Core } from './core.js';
import type { PvclockTimeInfo } from './types.js';
import { fromI64, object, pvShift, u32, u64, u8 } from './check.js';

/** The scale (0.64 fixed point) and offset (s64 in 100 ns, as its u64 bits) of a valid TSC page. */
export interface HvTscPage {
  scale: bigint;
  offset: bigint;
}

export function hypervApi(k: Core) {
  const x = k.x;
  return {
    /**
     * compute_tsc_page_parameters: the TSC page KVM derives from a vCPU's
     * pvclock parameters, or null where it cannot (no STABLE bit, or mul too
     * large for 100 ns units) -- the page then has sequence 0 and the guest
     * reads the reference counter MSR instead.
     */
    hvTscPageParams(info: PvclockTimeInfo): HvTscPage | null {
      const f = 'hvTscPageParams';
      const p = object<PvclockTimeInfo>(f, 'info', info);
      const ok = x.hvTscPageParams(u64(f, 'info.tscTimestamp', p.tscTimestamp), u64(f, 'info.systemTime', p.systemTime),
        u32(f, 'info.tscToSystemMul', p.tscToSystemMul), pvShift(f, 'info.tscShift', p.tscShift),
        p.flags === undefined ? 0 : u8(f, 'info.flags', p.flags), k.io);
      if (!ok) return null;
      return { scale: k.dv.getBigUint64(k.io, true), offset: k.dv.getBigUint64(k.io + 8, true) };
    },
    /** hv_read_tsc_page_tsc: ((tsc * scale) >> 64) + offset, the reference time in 100 ns units. */
    hvReadTscPage(scale: bigint, offset: bigint, tsc: bigint): bigint {
      const f = 'hvReadTscPage';
      return fromI64(x.hvReadTscPage(u64(f, 'scale', scale), u64(f, 'offset', offset), u64(f, 'tsc', tsc)));
    },
  };
}
