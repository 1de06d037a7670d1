// Clocksource registration (kernel/time/clocksource.c, kernel/time/jiffies.c).
import type { Core } from './core.js';
import type { ClocksourceRegistration } from './types.js';
import { fromI64, int, nonzeroU32, object, u32, u64 } from './check.js';

/** CLOCKSOURCE_MASK(bits): the counter's width as a mask. */
export function clocksourceMask(bits: number): bigint {
  int('clocksourceMask', 'bits', bits, 1, 64);
  return bits === 64 ? (1n << 64n) - 1n : (1n << BigInt(bits)) - 1n;
}

export interface ClocksourceRegisterOptions {
  /** cs->uncertainty_margin preset by the driver (tsc-early and jiffies preset 32 ms); 0/absent = derive it. */
  uncertaintyMargin?: number;
  /** WATCHDOG_MAX_SKEW of the kernel modelled, ns. Default 62000 (125 * WATCHDOG_INTERVAL / HZ us, recent kernels). */
  watchdogMaxSkewNs?: number;
}

/** x86's CLOCK_TICK_RATE (PIT_TICK_RATE), what register_refined_jiffies is given. */
export const PIT_TICK_RATE = 1_193_182;
const WATCHDOG_THRESHOLD = 1_000_000_000 >>> 5; // NSEC_PER_SEC >> 5
const JIFFIES_MARGIN = 32_000_000; // 32 * NSEC_PER_MSEC

/**
 * The dmesg line __clocksource_update_freq_scale prints:
 * `clocksource: NAME: mask: 0x... max_cycles: 0x..., max_idle_ns: N ns`.
 */
export function formatClocksourceLine(name: string, mask: bigint, reg: Pick<ClocksourceRegistration, 'maxCycles' | 'maxIdleNs'>): string {
  // max_idle_ns is printed with %lld.
  return `clocksource: ${name}: mask: 0x${mask.toString(16)} max_cycles: 0x${reg.maxCycles.toString(16)}, ` +
    `max_idle_ns: ${BigInt.asIntN(64, reg.maxIdleNs)} ns`;
}

export function clocksourceApi(k: Core) {
  const x = k.x;

  function register(f: string, mask: bigint, scale: number, freq: number, mult: number, shift: number,
                    options: ClocksourceRegisterOptions | undefined): ClocksourceRegistration {
    const o = object<ClocksourceRegisterOptions>(f, 'options', options ?? {});
    const margin = o.uncertaintyMargin === undefined ? 0 : u32(f, 'options.uncertaintyMargin', o.uncertaintyMargin);
    const skew = o.watchdogMaxSkewNs === undefined ? 62_000 : int(f, 'options.watchdogMaxSkewNs', o.watchdogMaxSkewNs, 0, 0x7FFFFFFF);
    if (!x.clocksourceUpdateFreqScale(mask, scale, freq, mult, shift, margin, skew, WATCHDOG_THRESHOLD, k.io)) {
      throw new RangeError(`${f}: the kernel would divide by zero registering this clocksource (scale * freq wraps to 0 or mult is 0)`);
    }
    const dv = k.dv, io = k.io;
    return {
      mult: Number(dv.getBigUint64(io, true)),
      shift: Number(dv.getBigUint64(io + 8, true)),
      maxadj: Number(dv.getBigUint64(io + 16, true)),
      maxCycles: dv.getBigUint64(io + 24, true),
      maxIdleNs: dv.getBigUint64(io + 32, true),
      uncertaintyMargin: Number(dv.getBigUint64(io + 40, true)),
    };
  }

  function jiffiesHz(f: string, hz: unknown): number {
    return int(f, 'hz', hz, 1, 100_000, 'CONFIG_HZ');
  }

  return {
    /** clocks_calc_mult_shift(from, to, maxsec): the most accurate mult/shift that cannot overflow over maxsec. */
    clocksCalcMultShift(from: number, to: number, maxsec: number): { mult: number; shift: number } {
      const f = 'clocksCalcMultShift';
      x.clocksCalcMultShift(nonzeroU32(f, 'from', from), u32(f, 'to', to), u32(f, 'maxsec', maxsec), k.io);
      return { mult: k.dv.getUint32(k.io, true), shift: k.dv.getUint32(k.io + 4, true) };
    },
    /** clocksource_register_hz(cs, hz): mult, shift, maxadj, max_cycles, max_idle_ns, uncertainty_margin. */
    clocksourceRegisterHz(hz: number, mask: bigint, options?: ClocksourceRegisterOptions): ClocksourceRegistration {
      const f = 'clocksourceRegisterHz';
      return register(f, u64(f, 'mask', mask), 1, nonzeroU32(f, 'hz', hz), 0, 0, options);
    },
    /** clocksource_register_khz(cs, khz): as clocksourceRegisterHz with scale 1000 (the TSC registers this way). */
    clocksourceRegisterKhz(khz: number, mask: bigint, options?: ClocksourceRegisterOptions): ClocksourceRegistration {
      const f = 'clocksourceRegisterKhz';
      return register(f, u64(f, 'mask', mask), 1000, nonzeroU32(f, 'khz', khz), 0, 0, options);
    },
    /** The jiffies clocksource of a CONFIG_HZ kernel (mult TICK_NSEC << JIFFIES_SHIFT, 32-bit mask). */
    clocksourceRegisterJiffies(hz: number): ClocksourceRegistration {
      const f = 'clocksourceRegisterJiffies';
      const h = jiffiesHz(f, hz);
      return register(f, 0xFFFFFFFFn, 1, 0, x.jiffiesMult(h) >>> 0, x.jiffiesShift(h), { uncertaintyMargin: JIFFIES_MARGIN });
    },
    /** register_refined_jiffies(cycles_per_second): jiffies refined against the PIT rate (x86 passes 1193182). */
    clocksourceRegisterRefinedJiffies(hz: number, cyclesPerSecond: number = PIT_TICK_RATE): ClocksourceRegistration {
      const f = 'clocksourceRegisterRefinedJiffies';
      const h = jiffiesHz(f, hz);
      const cps = int(f, 'cyclesPerSecond', cyclesPerSecond, h, 0xFFFFFFFF, 'at least HZ');
      return register(f, 0xFFFFFFFFn, 1, 0, x.refinedJiffiesMult(h, BigInt(cps)) >>> 0, x.jiffiesShift(h),
        { uncertaintyMargin: JIFFIES_MARGIN });
    },
    /** TICK_NSEC for a CONFIG_HZ: (NSEC_PER_SEC + HZ/2) / HZ, the length of a jiffy in ns. */
    tickNsec(hz: number): bigint {
      return fromI64(x.tickNsec(jiffiesHz('tickNsec', hz)));
    },
    /** clocksource_cyc2ns: ((u64)cycles * mult) >> shift; the product wraps mod 2^64 as in C. */
    clocksourceCyc2ns(cycles: bigint, mult: number, shift: number): bigint {
      const f = 'clocksourceCyc2ns';
      return fromI64(x.clocksourceCyc2ns(u64(f, 'cycles', cycles), u32(f, 'mult', mult), int(f, 'shift', shift, 0, 63)));
    },
  };
}
