// Batch forms: one call per array, the loop runs inside Wasm.
//
// Zero-copy when the arrays live in the kernel's linear memory (allocSamples(),
// or any BigUint64Array view on the kernel's memory.buffer); arrays owned by
// JS are streamed through two static 64 KiB chunk buffers instead, so any
// length works. Input and output may be the same array (in place).
import type { Core } from './core.js';
import type { FracBits, PerfTimeParams, PvclockTimeInfo } from './types.js';
import { fracBits as checkFracBits, int, object, pvShift, u32, u64, u8 } from './check.js';
import { checkPerfParams } from './perf.js';

/** The most samples one buffer holds: the kernel's allocator (TLSF) gives blocks of at most 1 GiB. */
export const MAX_SAMPLES = 2 ** 27 - 1;
/** What 32-bit Wasm memory can grow to: 65536 pages of 64 KiB. All buffers, and the kernel's own data, share it. */
export const MAX_MEMORY_BYTES = 2 ** 32;

/**
 * n u64 samples in the kernel's linear memory. `array` is a live
 * BigUint64Array view: re-read it after anything that may grow memory
 * (allocating another buffer), since growth detaches old views.
 */
export class SampleBuffer {
  readonly length: number;
  /** Byte address in linear memory. */
  readonly ptr: number;
  readonly #core: Core;
  #view: BigUint64Array;
  #freed = false;

  constructor(core: Core, length: number) {
    this.#core = core;
    this.length = length;
    const bytes = length * 8, now = core.memoryBuffer.byteLength;
    try {
      // a usize comes back as a signed i32: addresses above 2 GiB are negative until made unsigned
      this.ptr = core.x.allocU64(length) >>> 0;
    } catch (e) {
      // the allocator traps when memory cannot grow (its state is unchanged: the grow failed before it took anything)
      if (!(e instanceof WebAssembly.RuntimeError || (e instanceof Error && e.message.startsWith('tsclab kernel abort')))) throw e;
      throw new RangeError(`allocSamples: cannot allocate ${length} samples (${bytes} bytes): the kernel's memory (${now} bytes now) ` +
        `cannot grow by that much (32-bit Wasm memory ends at ${MAX_MEMORY_BYTES} bytes); free() the buffers no longer used`);
    }
    this.#view = new BigUint64Array(core.memoryBuffer, this.ptr, length);
    registry.register(this, { core, ptr: this.ptr }, this);
  }

  get array(): BigUint64Array {
    if (this.#freed) throw new Error('SampleBuffer: used after free()');
    if (this.#view.buffer !== this.#core.memoryBuffer) {
      this.#view = new BigUint64Array(this.#core.memoryBuffer, this.ptr, this.length);
    }
    return this.#view;
  }

  /** Returns the memory to the kernel's heap now (otherwise it is freed when collected). */
  free(): void {
    if (this.#freed) return;
    this.#freed = true;
    registry.unregister(this);
    this.#core.x.freeU64(this.ptr);
  }

  /** Whether free() was called. */
  get freed(): boolean {
    return this.#freed;
  }
}

const registry = new FinalizationRegistry<{ core: Core; ptr: number }>(({ core, ptr }) => core.x.freeU64(ptr));

/** What the batch functions take: a SampleBuffer or any BigUint64Array. */
export type Samples = SampleBuffer | BigUint64Array;

type Resolved = { resident: true; ptr: number; length: number } | { resident: false; array: BigUint64Array; length: number };

function resolve(k: Core, f: string, name: string, s: unknown): Resolved {
  if (s instanceof SampleBuffer) {
    if (s.freed) throw new Error(`${f}: ${name} is a SampleBuffer that was freed`);
    return { resident: true, ptr: s.ptr, length: s.length };
  }
  if (s instanceof BigUint64Array) {
    if (s.buffer === k.memoryBuffer) return { resident: true, ptr: s.byteOffset, length: s.length };
    return { resident: false, array: s, length: s.length };
  }
  throw new TypeError(`${f}: ${name} must be a BigUint64Array or a SampleBuffer`);
}

export function batchApi(k: Core) {
  const x = k.x;

  /** Runs kernel(inPtr, outPtr, n) over all of `input` into `output`, by chunks where needed. */
  function run(f: string, input: Samples, output: Samples, kernel: (inPtr: number, outPtr: number, n: number) => void): void {
    const a = resolve(k, f, 'input', input), b = resolve(k, f, 'output', output);
    if (b.length < a.length) throw new RangeError(`${f}: output has ${b.length} samples, input ${a.length}`);
    if (a.resident && b.resident) { if (a.length) kernel(a.ptr, b.ptr, a.length); return; }
    for (let done = 0; done < a.length; done += k.chunk) {
      const n = Math.min(k.chunk, a.length - done);
      let src: number, dst: number;
      if (a.resident) src = a.ptr + done * 8;
      else { src = k.chunkIn; new BigUint64Array(k.memoryBuffer, src, n).set(a.array.subarray(done, done + n)); }
      dst = b.resident ? b.ptr + done * 8 : k.chunkOut;
      kernel(src, dst, n);
      if (!b.resident) b.array.set(new BigUint64Array(k.memoryBuffer, dst, n), done);
    }
  }

  return {
    /** n u64 samples in the kernel's memory, for zero-copy batches. */
    allocSamples(length: number): SampleBuffer {
      return new SampleBuffer(k, int('allocSamples', 'length', length, 0, MAX_SAMPLES, 'samples; one buffer is at most 1 GiB'));
    },
    /** out[i] = __pvclock_read_cycles(info, tsc[i]): raw TSC stamps to kvmclock ns under one page. */
    pvclockReadBatch(info: PvclockTimeInfo, tsc: Samples, out: Samples): void {
      const f = 'pvclockReadBatch';
      const p = object<PvclockTimeInfo>(f, 'info', info);
      const ts = u64(f, 'info.tscTimestamp', p.tscTimestamp), st = u64(f, 'info.systemTime', p.systemTime);
      const mul = u32(f, 'info.tscToSystemMul', p.tscToSystemMul), shift = pvShift(f, 'info.tscShift', p.tscShift);
      // not used by the formula, but a page with a field no page can hold is refused, as pvclockReadCycles refuses it
      if (p.version !== undefined) u32(f, 'info.version', p.version);
      if (p.flags !== undefined) u8(f, 'info.flags', p.flags);
      run(f, tsc, out, (i, o, n) => x.pvclockReadBatch(i, o, n, ts, st, mul, shift));
    },
    /** out[i] = kvm_scale_tsc(tsc[i], ratio) + offset: host TSCs to L1 guest TSCs. */
    kvmScaleTscBatch(tsc: Samples, out: Samples, ratio: bigint, fracBits: FracBits = 48, offset = 0n): void {
      const f = 'kvmScaleTscBatch';
      const r = u64(f, 'ratio', ratio), fb = checkFracBits(f, fracBits), off = u64(f, 'offset', offset);
      run(f, tsc, out, (i, o, n) => x.kvmScaleTscBatch(i, o, n, r, fb, off));
    },
    /** out[i] = clocksource_cyc2ns(cycles[i], mult, shift). */
    clocksourceCyc2nsBatch(cycles: Samples, out: Samples, mult: number, shift: number): void {
      const f = 'clocksourceCyc2nsBatch';
      const m = u32(f, 'mult', mult), s = int(f, 'shift', shift, 0, 63);
      run(f, cycles, out, (i, o, n) => x.clocksourceCyc2nsBatch(i, o, n, m, s));
    },
    /** out[i] = hv_read_tsc_page_tsc time of tsc[i] (100 ns units). */
    hvReadTscPageBatch(tsc: Samples, out: Samples, scale: bigint, offset: bigint): void {
      const f = 'hvReadTscPageBatch';
      const sc = u64(f, 'scale', scale), off = u64(f, 'offset', offset);
      run(f, tsc, out, (i, o, n) => x.hvReadTscPageBatch(i, o, n, sc, off));
    },
    /** out[i] = the perf_event_mmap_page conversion of tsc[i]. */
    perfTscToNsBatch(tsc: Samples, out: Samples, params: PerfTimeParams): void {
      const f = 'perfTscToNsBatch';
      const p = checkPerfParams(f, params);
      run(f, tsc, out, (i, o, n) => x.perfTscToNsBatch(i, o, n, p.timeZero, p.timeMult, p.timeShift, p.short ? 1 : 0, p.timeCycles, p.timeMask));
    },
  };
}
