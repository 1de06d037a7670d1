// A kernel: one Wasm instance with the whole typed API bound to it.
import { Core } from './core.js';
import { wideApi } from './wide.js';
import { pvclockApi } from './pvclock.js';
import { kvmApi } from './kvm.js';
import { clocksourceApi } from './clocksource.js';
import { hypervApi } from './hyperv.js';
import { perfApi } from './perf.js';
import { batchApi } from './batch.js';
import { warpApi } from './warp.js';
import { sweepApi } from './sweep.js';
import { simApi } from './sim.js';

export interface CreateKernelOptions {
  /** true: the SIMD build; false: the scalar build; absent: SIMD where supported (TSCLAB_SIMD=0 forces scalar). */
  simd?: boolean;
  /** An already compiled kernel module (e.g. handed to a worker thread). */
  module?: WebAssembly.Module;
}

function build(core: Core) {
  return {
    /** Whether this instance runs the SIMD build. */
    simd: core.simd,
    /** The instance's linear memory (for views made by hand). */
    memory: core.x.memory,
    ...wideApi(core),
    ...pvclockApi(core),
    ...kvmApi(core),
    ...clocksourceApi(core),
    ...hypervApi(core),
    ...perfApi(core),
    ...batchApi(core),
    ...warpApi(core),
    ...sweepApi(core),
    ...simApi(core),
  };
}

export type Kernel = ReturnType<typeof build>;

/** A separate kernel instance (its own memory and buffers). */
export function createKernel(options: CreateKernelOptions = {}): Kernel {
  const which = options.module ?? options.simd;
  return build(which === undefined ? new Core() : new Core(which));
}
