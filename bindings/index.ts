// tsclab: the Linux/KVM timekeeping formulas, bit-exact, from a Wasm kernel.
// Every function here is bound to one default kernel instance created at
// import (synchronously; SIMD where the engine supports it). createKernel()
// makes more, e.g. to compare the scalar and SIMD builds.
// This is the entry point for browsers and bundlers (package.json exports,
// conditions "browser" and "default"): nothing in its module graph touches
// `process` or `node:*`. Node gets bindings/node.ts, the same API plus TSCLAB_SIMD.
import { createKernel } from './kernel.js';

export { createKernel, type Kernel, type CreateKernelOptions } from './kernel.js';
export { scalarKernelModule, simdKernelModule, scalarKernelBytes, simdKernelBytes } from './wasm.js';
export type { PvclockTimeInfo, PvclockWallClock, PerfTimeParams, ClocksourceRegistration, FracBits } from './types.js';
export {
  PVCLOCK_TSC_STABLE_BIT, PVCLOCK_GUEST_STOPPED, PVCLOCK_COUNTS_FROM_ZERO, PVCLOCK_TIME_INFO_SIZE,
  encodePvclockTimeInfo, decodePvclockTimeInfo, pvclockReadBegin, pvclockReadRetry,
  type PvclockClamp, type PvclockClampOptions, type PvclockRead,
} from './pvclock.js';
export type { KvmSetTscKhzResult, KvmSetTscKhzOptions, GuestTscClock } from './kvm.js';
export { clocksourceMask, formatClocksourceLine, PIT_TICK_RATE, type ClocksourceRegisterOptions } from './clocksource.js';
export type { HvTscPage } from './hyperv.js';
export { SampleBuffer, type Samples } from './batch.js';
export type { WarpCpu, CheckTscWarpOptions, CheckTscWarpResult } from './warp.js';
export { SWEEP_KINDS, type SweepKind, type SweepResult } from './sweep.js';
export { U64_MAX, S64_MIN, S64_MAX } from './check.js';
export type { SimVcpuState } from './sim.js';
export {
  createClockChain, ClockChain, ClockChainError, CLOCK_DOMAINS,
  type ClockDomain, type ClockChainParams, type ChainOptions, type KvmTscParams, type ClocksourceParams, type Tsc2nsecParams,
  type Timed, type Piecewise, type LinesOptions, type LineFailure,
} from './chain.js';

/** The default kernel instance. */
export const kernel = createKernel();

export const {
  simd,
  mulU64U32Shr, mulU64U64Shr, mulU64U32Div, mulS64U64Shr,
  pvclockScaleDelta, pvclockReadCycles, pvclockTscKhz, pvclockReadWallclock, createPvclockClamp,
  kvmGetTimeScale, kvmScaleTsc, kvmTscScalingRatio, kvmSetTscKhz, kvmComputeTscOffset, kvmReadL1Tsc,
  kvmCalcNestedTscOffset, kvmCalcNestedTscMultiplier, nsecToCycles, computeGuestTsc,
  clocksCalcMultShift, clocksourceRegisterHz, clocksourceRegisterKhz, clocksourceRegisterJiffies,
  clocksourceRegisterRefinedJiffies, clocksourceCyc2ns, tickNsec,
  hvTscPageParams, hvReadTscPage,
  perfTscToNs,
  allocSamples, pvclockReadBatch, kvmScaleTscBatch, clocksourceCyc2nsBatch, hvReadTscPageBatch, perfTscToNsBatch,
  checkTscWarp,
  sweepKernel,
} = kernel;
