// The TSC warp check of arch/x86/kernel/tsc_sync.c (check_tsc_warp), run in
// Wasm over simulated CPUs whose TSCs are functions of one host clock.
import type { Core } from './core.js';
import type { FracBits } from './types.js';
import { bool, fracBits as checkFracBits, int, object, s64, u64 } from './check.js';

/** One simulated CPU: tsc(h) = kvm_scale_tsc(h + skew, ratio) + offset + tscAdjust (mod 2^64). */
export interface WarpCpu {
  /** TSC scaling ratio (default 1 << fracBits: no scaling). */
  ratio?: bigint;
  /** TSC offset (u64, two's complement). */
  offset?: bigint;
  /** IA32_TSC_ADJUST's contribution (s64). */
  tscAdjust?: bigint;
  /** This CPU's host TSC minus the reference host clock, in host cycles (s64). */
  skew?: bigint;
}

export interface CheckTscWarpOptions {
  cpus: WarpCpu[];
  /** The guest's tsc_khz: the loop ends after tsc_khz * timeoutMs of each CPU's own TSC. */
  tscKhz: number;
  /** loop_timeout(): 2 ms, or 20 ms for the first CPU of a package. */
  timeoutMs?: number;
  /** Reference host clock when both CPUs enter the loop. */
  hostStart?: bigint;
  /**
   * Host cycles to take sync_lock from another CPU (cache-line transfer): this run's cost is drawn from
   * [handoffCycles, handoffMaxCycles] with the seed. Default 100..330, the one-shot range tglx and Waiman Long
   * measured; give handoffCycles alone for a fixed cost.
   */
  handoffCycles?: number;
  /** The top of the run's hand-off draw (default 330, or handoffCycles when that alone is given). */
  handoffMaxCycles?: number;
  /** Extra cycles, 0..jitter, drawn per acquisition. Default 0. */
  handoffJitterCycles?: number;
  /** Step every acquisition even where a strict alternation could be skipped in closed form (same results; for tests). */
  stepOnly?: boolean;
  /** Host cycles to retake it on the same CPU. Default 40. */
  localCycles?: number;
  /** Host cycles between dropping the lock and wanting it again. Default 20. */
  loopCycles?: number;
  /** Seed of the lock-arbitration draws. */
  seed?: bigint;
  fracBits?: FracBits;
  /** The iteration cap (the kernel's 10,000,000). */
  maxIterations?: number;
  /** last_tsc on entry (the source resets it to 0 between runs). */
  lastTsc?: bigint;
}

export interface CheckTscWarpResult {
  /** max_warp: the largest prev - now any CPU saw (cycles). */
  maxWarp: bigint;
  nrWarps: number;
  /** Warps seen by more than one CPU ("TSC warped randomly between CPUs"). */
  randomWarps: number;
  /** TSC reads over all CPUs. */
  reads: number;
  /** Reference host clock when the last CPU left the loop. */
  hostEnd: bigint;
  /** Some CPU stopped at the 10,000,000-iteration cap rather than the timeout. */
  hitIterationCap: boolean;
  /** Some CPU's TSC did not move ("Warning: zero tsc calibration delta"). */
  zeroCalibrationDelta: boolean;
  cpus: { iterations: number; curMaxWarp: bigint; start: bigint; last: bigint }[];
}

const MAX_CPUS = 64;

export function warpApi(k: Core) {
  const x = k.x;
  return {
    /** One concurrent run of check_tsc_warp() on every CPU given, deterministic for a seed. */
    checkTscWarp(options: CheckTscWarpOptions): CheckTscWarpResult {
      const f = 'checkTscWarp';
      const o = object<CheckTscWarpOptions>(f, 'options', options);
      if (!Array.isArray(o.cpus) || o.cpus.length < 1 || o.cpus.length > MAX_CPUS) {
        throw new RangeError(`${f}: cpus must be an array of 1..${MAX_CPUS} CPUs`);
      }
      const fb = checkFracBits(f, o.fracBits ?? 48);
      const handoffLo = int(f, 'handoffCycles', o.handoffCycles ?? 100, 1, 1e9);
      const handoffHi = int(f, 'handoffMaxCycles', o.handoffMaxCycles ?? (o.handoffCycles === undefined ? 330 : handoffLo), 1, 1e9);
      if (handoffHi < handoffLo) throw new RangeError(`${f}: handoffMaxCycles (${handoffHi}) is below handoffCycles (${handoffLo})`);
      const cfg = [
        BigInt(o.cpus.length),
        BigInt(int(f, 'tscKhz', o.tscKhz, 1, 0xFFFFFFFF, 'kHz')),
        BigInt(int(f, 'timeoutMs', o.timeoutMs ?? 2, 1, 1_000_000, 'ms')),
        o.hostStart === undefined ? 0n : u64(f, 'hostStart', o.hostStart),
        BigInt(handoffLo),
        BigInt(int(f, 'localCycles', o.localCycles ?? 40, 1, 1e9)),
        BigInt(int(f, 'loopCycles', o.loopCycles ?? 20, 0, 1e9)),
        o.seed === undefined ? 0n : u64(f, 'seed', o.seed),
        BigInt(fb),
        BigInt(int(f, 'maxIterations', o.maxIterations ?? 10_000_000, 0, 1e12)),
        o.lastTsc === undefined ? 0n : u64(f, 'lastTsc', o.lastTsc),
        BigInt(handoffHi),
        BigInt(int(f, 'handoffJitterCycles', o.handoffJitterCycles ?? 0, 0, 1e9)),
        o.stepOnly === undefined ? 0n : bool(f, 'stepOnly', o.stepOnly) ? 1n : 0n,
      ];
      const dv = k.dv;
      cfg.forEach((v, i) => dv.setBigUint64(k.warpCfg + i * 8, v, true));
      o.cpus.forEach((cpu, i) => {
        const c = object<WarpCpu>(f, `cpus[${i}]`, cpu);
        const at = k.warpCfg + 128 + i * 32;
        dv.setBigUint64(at, c.ratio === undefined ? 1n << BigInt(fb) : u64(f, `cpus[${i}].ratio`, c.ratio), true);
        dv.setBigUint64(at + 8, c.offset === undefined ? 0n : u64(f, `cpus[${i}].offset`, c.offset), true);
        dv.setBigInt64(at + 16, c.tscAdjust === undefined ? 0n : s64(f, `cpus[${i}].tscAdjust`, c.tscAdjust), true);
        dv.setBigInt64(at + 24, c.skew === undefined ? 0n : s64(f, `cpus[${i}].skew`, c.skew), true);
      });
      if (!x.checkTscWarp(k.warpCfg, k.warpOut)) throw new RangeError(`${f}: the kernel rejected the configuration`);
      const r = k.dv, out = k.warpOut;
      const flags = r.getBigUint64(out + 40, true);
      return {
        maxWarp: r.getBigUint64(out, true),
        nrWarps: Number(r.getBigUint64(out + 8, true)),
        randomWarps: Number(r.getBigUint64(out + 16, true)),
        reads: Number(r.getBigUint64(out + 24, true)),
        hostEnd: r.getBigUint64(out + 32, true),
        hitIterationCap: (flags & 1n) !== 0n,
        zeroCalibrationDelta: (flags & 2n) !== 0n,
        cpus: o.cpus.map((_, i) => {
          const at = out + 64 + i * 32;
          return {
            iterations: Number(r.getBigUint64(at, true)),
            curMaxWarp: r.getBigUint64(at + 8, true),
            start: r.getBigUint64(at + 16, true),
            last: r.getBigUint64(at + 24, true),
          };
        }),
      };
    },
  };
}
