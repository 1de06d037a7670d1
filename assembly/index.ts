// The module's exports: one function per kernel formula, under its Linux name
// in camelCase. u64 values cross as i64 (JS BigInt); multi-value results go
// to the static io area. Nothing here keeps state but explicit buffers.
import * as wide from "./wide";
import * as pv from "./pvclock";
import * as kvm from "./kvm";
import * as cs from "./clocksource";
import * as hv from "./hyperv";
import * as perf from "./perf";
import * as buffers from "./buffers";

export { allocU64, freeU64 } from "./buffers";
export { pvclockReadBatch, kvmScaleTscBatch, clocksourceCyc2nsBatch, hvReadTscPageBatch, perfTscToNsBatch } from "./batch";
export { checkTscWarp } from "./warp";
export { chainStepBatch, chainFailCode, chainFailValue } from "./chain";
export { textParse, textParsedStamps, textParsedEnd, textFormat } from "./text";
export { sweep, sweepFirstBad } from "./sweep";
export { kvmGetTimeScale, kvmTscScalingRatio, kvmSetTscKhz, kvmCalcNestedTscOffset, kvmCalcNestedTscMultiplier,
         nsecToCycles, computeGuestTsc } from "./kvm";
export { clocksCalcMultShift, clocksourceUpdateFreqScale, jiffiesMult, jiffiesShift, refinedJiffiesMult, tickNsec } from "./clocksource";
export { pvclockTscKhz, pvclockReadWallclock } from "./pvclock";
export { hvTscPageParams } from "./hyperv";

// Where the static areas are.
export function ioPtr(): usize { return buffers.io; }
export function chunkInPtr(): usize { return buffers.chunkIn; }
export function chunkOutPtr(): usize { return buffers.chunkOut; }
export function chunkIdxPtr(): usize { return buffers.chunkIdx; }
export function chunkSize(): i32 { return buffers.CHUNK; }
export function warpCfgPtr(): usize { return buffers.warpCfg; }
export function warpOutPtr(): usize { return buffers.warpOut; }
export function pvStatePtr(): usize { return buffers.pvState; }
export function pvPagePtr(): usize { return buffers.pvPage; }
export function pvPagesPtr(): usize { return buffers.pvPages; }
export function pvPagesMax(): i32 { return buffers.PV_PAGES_MAX; }
export function simd(): bool { return ASC_FEATURE_SIMD; }
export function vcpusPtr(): usize { return buffers.vcpus; }
export function vcpuReadsPtr(): usize { return buffers.vcpuReads; }

export function mulU64U32Shr(a: u64, mul: u32, shift: u32): u64 { return wide.mulU64U32Shr(a, mul, shift); }
export function mulU64U64Shr(a: u64, b: u64, shift: u32): u64 { return wide.mulU64U64Shr(a, b, shift); }
export function mulU64U32Div(a: u64, mul: u32, divisor: u32): u64 { return wide.mulU64U32Div(a, mul, divisor); }
export function mulS64U64Shr(a: i64, b: u64, shift: u32): i64 { return wide.mulS64U64Shr(a, b, shift); }

export function pvclockScaleDelta(delta: u64, mul: u32, shift: i32): u64 { return pv.pvclockScaleDelta(delta, mul, shift); }
export function pvclockReadCycles(tscTimestamp: u64, systemTime: u64, mul: u32, shift: i32, tsc: u64): u64 {
  return pv.pvclockReadCycles(tscTimestamp, systemTime, mul, shift, tsc);
}
/** One clamped read of the page at `page`; status bits go to io[0]. */
export function pvclockClocksourceRead(page: usize, tsc: u64, state: usize): u64 {
  return pv.pvclockClocksourceReadAt(page, tsc, state, buffers.io);
}
/**
 * A stream of clamped reads: sample i reads the page pages + 32*cpu[i] at guest
 * TSC tsc[i]. Stops before the first page with an odd version; returns how
 * many samples it read. Status bits of each read are OR-ed into io[0].
 */
export function pvclockClocksourceReadBatch(pages: usize, cpu: usize, tsc: usize, out: usize, n: u32, state: usize): u32 {
  let any: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const page = pages + <usize>load<u32>(cpu + (<usize>i << 2)) * pv.PVTI_SIZE;
    const v = pv.pvclockClocksourceReadAt(page, load<u64>(tsc + (<usize>i << 3)), state, buffers.io + 8);
    const st = load<u32>(buffers.io + 8);
    if (st & pv.READ_RETRY) { store<u32>(buffers.io, any); return i; }
    any |= st;
    store<u64>(out + (<usize>i << 3), v);
  }
  store<u32>(buffers.io, any);
  return n;
}

export function kvmScaleTsc(tsc: u64, ratio: u64, fracBits: u32): u64 { return kvm.kvmScaleTsc(tsc, ratio, fracBits); }
export function kvmComputeTscOffset(targetTsc: u64, hostTsc: u64, ratio: u64, fracBits: u32): u64 {
  return kvm.kvmComputeTscOffset(targetTsc, hostTsc, ratio, fracBits);
}
export function kvmReadL1Tsc(hostTsc: u64, ratio: u64, offset: u64, fracBits: u32): u64 {
  return kvm.kvmReadL1Tsc(hostTsc, ratio, offset, fracBits);
}

export function clocksourceCyc2ns(cycles: u64, mult: u32, shift: u32): u64 { return cs.clocksourceCyc2ns(cycles, mult, shift); }

export function hvReadTscPage(scale: u64, offset: u64, tsc: u64): u64 { return hv.hvReadTscPage(scale, offset, tsc); }

export function perfTscToNs(cyc: u64, timeZero: u64, timeMult: u32, timeShift: u32,
                            short: bool, timeCycles: u64, timeMask: u64): u64 {
  if (short) cyc = perf.perfWidenShort(cyc, timeCycles, timeMask);
  return perf.perfTscToNs(cyc, timeZero, timeMult, timeShift);
}

export { vcpuReadAll, vcpuReadOne, vcpuMaxPvclock } from "./vcpu";
