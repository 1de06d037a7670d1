// One kernel instance and its views on linear memory. Views are re-taken
// whenever memory has grown (growth detaches the old ArrayBuffer).
import { instantiateKernel, simdPreferred, type KernelExports } from './wasm.js';

export class Core {
  readonly x: KernelExports;
  readonly simd: boolean;
  /** Static areas (fixed addresses; see assembly/buffers.ts). */
  readonly io: number;
  readonly chunkIn: number;
  readonly chunkOut: number;
  readonly chunkIdx: number;
  readonly chunk: number;
  readonly warpCfg: number;
  readonly warpOut: number;
  readonly pvState: number;
  readonly pvPage: number;
  readonly pvPages: number;
  readonly pvPagesMax: number;
  private buffer: ArrayBuffer;
  private dataView: DataView;
  private u64View: BigUint64Array;

  constructor(which: boolean | WebAssembly.Module = simdPreferred()) {
    this.x = instantiateKernel(which);
    this.simd = this.x.simd() !== 0;
    this.io = this.x.ioPtr();
    this.chunkIn = this.x.chunkInPtr();
    this.chunkOut = this.x.chunkOutPtr();
    this.chunkIdx = this.x.chunkIdxPtr();
    this.chunk = this.x.chunkSize();
    this.warpCfg = this.x.warpCfgPtr();
    this.warpOut = this.x.warpOutPtr();
    this.pvState = this.x.pvStatePtr();
    this.pvPage = this.x.pvPagePtr();
    this.pvPages = this.x.pvPagesPtr();
    this.pvPagesMax = this.x.pvPagesMax();
    this.buffer = this.x.memory.buffer;
    this.dataView = new DataView(this.buffer);
    this.u64View = new BigUint64Array(this.buffer);
  }

  private refresh(): void {
    this.buffer = this.x.memory.buffer;
    this.dataView = new DataView(this.buffer);
    this.u64View = new BigUint64Array(this.buffer);
  }

  /** A DataView over all of linear memory (little-endian accessors). */
  get dv(): DataView {
    if (this.x.memory.buffer !== this.buffer) this.refresh();
    return this.dataView;
  }

  /** All of linear memory as u64 (index = byte address / 8). */
  get mem64(): BigUint64Array {
    if (this.x.memory.buffer !== this.buffer) this.refresh();
    return this.u64View;
  }

  /** The current ArrayBuffer of linear memory. */
  get memoryBuffer(): ArrayBuffer {
    return this.x.memory.buffer;
  }
}
