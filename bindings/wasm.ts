// Instantiation: by hand, synchronously, the way ChainSafe's as-sha256 does it.
// The module is small (~20 KB) and needs one import (env.abort), so
// `new WebAssembly.Instance(new WebAssembly.Module(bytes))` at import time
// costs well under a millisecond and lets the API be synchronous. The bytes
// are embedded as base64 (bindings/wasm-code.ts, generated from build/*.wasm
// by scripts/embed.mjs), so this file needs no file system, no fetch and no
// bundler loader: it runs unchanged in Node, browsers, workers and bundles.
// The SIMD build is used when this engine validates it (WebAssembly.validate);
// a Node entry point may force the scalar one (TSCLAB_SIMD=0, see node-env.ts).
// This file never touches `process` or `node:*`. It and the API files beside
// it are the only code that knows the module's memory layout.
import { SCALAR_WASM_BASE64, SIMD_WASM_BASE64 } from './wasm-code.js';

/** The raw exports of the kernel module (u64 as BigInt, signed on the way out). */
export interface KernelExports {
  memory: WebAssembly.Memory;
  ioPtr(): number; chunkInPtr(): number; chunkOutPtr(): number; chunkIdxPtr(): number; chunkSize(): number;
  warpCfgPtr(): number; warpOutPtr(): number; pvStatePtr(): number; pvPagePtr(): number; pvPagesPtr(): number;
  pvPagesMax(): number; simd(): number;
  allocU64(n: number): number; freeU64(ptr: number): void;
  mulU64U32Shr(a: bigint, mul: number, shift: number): bigint;
  mulU64U64Shr(a: bigint, b: bigint, shift: number): bigint;
  mulU64U32Div(a: bigint, mul: number, divisor: number): bigint;
  mulS64U64Shr(a: bigint, b: bigint, shift: number): bigint;
  pvclockScaleDelta(delta: bigint, mul: number, shift: number): bigint;
  pvclockReadCycles(tscTimestamp: bigint, systemTime: bigint, mul: number, shift: number, tsc: bigint): bigint;
  pvclockTscKhz(mul: number, shift: number): bigint;
  pvclockReadWallclock(sec: number, nsec: number, now: bigint, nsecOut: number): bigint;
  pvclockClocksourceRead(page: number, tsc: bigint, state: number): bigint;
  pvclockClocksourceReadBatch(pages: number, cpu: number, tsc: number, out: number, n: number, state: number): number;
  kvmGetTimeScale(scaledHz: bigint, baseHz: bigint, out: number): number;
  kvmScaleTsc(tsc: bigint, ratio: bigint, fracBits: number): bigint;
  kvmTscScalingRatio(userKhz: number, hostKhz: number, fracBits: number): bigint;
  kvmSetTscKhz(userKhz: number, hostKhz: number, hasTscControl: number, fracBits: number, tolerancePpm: number,
               viaIoctl: number, out: number): number;
  kvmComputeTscOffset(target: bigint, host: bigint, ratio: bigint, fracBits: number): bigint;
  kvmReadL1Tsc(host: bigint, ratio: bigint, offset: bigint, fracBits: number): bigint;
  kvmCalcNestedTscOffset(l1: bigint, l2: bigint, l2Mult: bigint, fracBits: number): bigint;
  kvmCalcNestedTscMultiplier(l1: bigint, l2: bigint, fracBits: number): bigint;
  nsecToCycles(ns: bigint, mult: number, shift: number): bigint;
  computeGuestTsc(kernelNs: bigint, thisTscNsec: bigint, thisTscWrite: bigint, mult: number, shift: number): bigint;
  clocksCalcMultShift(from: number, to: number, maxsec: number, out: number): void;
  clocksourceUpdateFreqScale(mask: bigint, scale: number, freq: number, mult: number, shift: number, margin: number,
                             maxSkewNs: number, thresholdNs: number, out: number): number;
  clocksourceCyc2ns(cycles: bigint, mult: number, shift: number): bigint;
  jiffiesMult(hz: number): number;
  jiffiesShift(hz: number): number;
  refinedJiffiesMult(hz: number, cyclesPerSecond: bigint): number;
  tickNsec(hz: number): bigint;
  hvTscPageParams(tscTimestamp: bigint, systemTime: bigint, mul: number, shift: number, flags: number, out: number): number;
  hvReadTscPage(scale: bigint, offset: bigint, tsc: bigint): bigint;
  perfTscToNs(cyc: bigint, zero: bigint, mult: number, shift: number, short: number, cycles: bigint, mask: bigint): bigint;
  pvclockReadBatch(tsc: number, out: number, n: number, ts: bigint, st: bigint, mul: number, shift: number): void;
  kvmScaleTscBatch(tsc: number, out: number, n: number, ratio: bigint, fracBits: number, offset: bigint): void;
  clocksourceCyc2nsBatch(cyc: number, out: number, n: number, mult: number, shift: number): void;
  hvReadTscPageBatch(tsc: number, out: number, n: number, scale: bigint, offset: bigint): void;
  perfTscToNsBatch(cyc: number, out: number, n: number, zero: bigint, mult: number, shift: number, short: number,
                   cycles: bigint, mask: bigint): void;
  checkTscWarp(cfg: number, out: number): number;
  sweep(kind: number, seed: bigint, count: number): number;
  vcpusPtr(): number; vcpuReadsPtr(): number;
  vcpuReadAll(vcpus: number, n: number, t: bigint, out: number): void;
  vcpuReadOne(vcpus: number, i: number, t: bigint, out: number): void;
  vcpuMaxPvclock(vcpus: number, n: number, mask: bigint, skipStable: number, t: bigint): bigint;
  sweepFirstBad(): number;
}

function decode(base64: string): Uint8Array<ArrayBuffer> {
  const text = atob(base64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

let scalarModule: WebAssembly.Module | undefined;
let simdModule: WebAssembly.Module | null | undefined;

/** The scalar build's bytes (a fresh copy), e.g. to instantiate it another way. */
export function scalarKernelBytes(): Uint8Array<ArrayBuffer> {
  return decode(SCALAR_WASM_BASE64);
}

/** The SIMD build's bytes (a fresh copy); engines without Wasm SIMD reject them. */
export function simdKernelBytes(): Uint8Array<ArrayBuffer> {
  return decode(SIMD_WASM_BASE64);
}

/** The compiled scalar module (compiled once, shareable with workers). */
export function scalarKernelModule(): WebAssembly.Module {
  return (scalarModule ??= new WebAssembly.Module(scalarKernelBytes()));
}

/** The compiled SIMD module, or null when this engine cannot run it. */
export function simdKernelModule(): WebAssembly.Module | null {
  if (simdModule === undefined) {
    const bytes = simdKernelBytes();
    simdModule = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  return simdModule;
}

let scalarForced: () => boolean = () => false;

/**
 * Lets an environment force the scalar build for kernels made without an explicit choice (the Node entry
 * points use it for TSCLAB_SIMD=0). The predicate is asked each time such a kernel is made.
 */
export function setScalarForced(predicate: () => boolean): void {
  scalarForced = predicate;
}

/** Whether a default kernel uses SIMD here: the engine validates it and nothing forces the scalar build. */
export function simdPreferred(): boolean {
  return !scalarForced() && simdKernelModule() !== null;
}

/** A fresh instance of the chosen build (or of a module handed over, e.g. to a worker). */
export function instantiateKernel(which: boolean | WebAssembly.Module): KernelExports {
  const module = which instanceof WebAssembly.Module ? which
    : which ? simdKernelModule() ?? fail('this engine does not support Wasm SIMD') : scalarKernelModule();
  let memory: WebAssembly.Memory | undefined;
  const imports = {
    env: {
      abort(msg: number, file: number, line: number, column: number): never {
        const text = (ptr: number) => (memory && ptr ? readAsString(memory, ptr) : '?');
        throw new Error(`tsclab kernel abort: ${text(msg)} at ${text(file)}:${line}:${column}`);
      },
    },
  };
  const exports = new WebAssembly.Instance(module, imports).exports as unknown as KernelExports;
  memory = exports.memory;
  return exports;
}

function readAsString(memory: WebAssembly.Memory, ptr: number): string {
  const bytes = new Uint32Array(memory.buffer, ptr - 4, 1)[0];
  return String.fromCharCode(...new Uint16Array(memory.buffer, ptr, bytes >>> 1));
}

function fail(message: string): never {
  throw new Error(`tsclab: ${message}`);
}
