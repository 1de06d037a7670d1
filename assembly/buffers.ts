// The static I/O areas JS and Wasm share (the as-sha256 pattern): fixed
// addresses in the data segment, so they never move when memory grows.
// Sample arrays the user allocates come from the heap (allocU64/freeU64).

/** Multi-value results of scalar calls (u64 slots). */
export const IO_SIZE: i32 = 256;
export const io = memory.data(IO_SIZE, 16);

/** Chunk buffers for batches over JS-owned arrays: copied in and out by chunks. */
export const CHUNK: i32 = 8192; // samples
export const chunkIn = memory.data(CHUNK * 8, 16);
export const chunkOut = memory.data(CHUNK * 8, 16);
export const chunkIdx = memory.data(CHUNK * 4, 16);

/** The warp check's parameter and result blocks (see warp.ts). */
export const warpCfg = memory.data(128 + 64 * 32, 16);
export const warpOut = memory.data(64 + 64 * 32, 16);

/** pvclock_clocksource_read's clamp state (see pvclock.ts) and a scratch page. */
export const pvState = memory.data(64, 16);
export const pvPage = memory.data(32, 16);

/** A table of pvclock pages (one per vCPU) for streams of clamped reads. */
export const PV_PAGES_MAX: i32 = 256;
export const pvPages = memory.data(PV_PAGES_MAX * 32, 16);

/** A sample array of n u64 on the heap, 16-byte aligned for SIMD loads. */
export function allocU64(n: u32): usize {
  return heap.alloc(<usize>n << 3);
}

export function freeU64(ptr: usize): void {
  heap.free(ptr);
}

/** The simulation's vCPU table and where a reading of all of them goes (see vcpu.ts). */
export const vcpus = memory.data(64 * 96, 16);
export const vcpuReads = memory.data(64 * 24, 16);
