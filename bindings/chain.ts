// The clock chain: a stamp in one clock domain of a KVM host and its guest,
// converted exactly into another, through the kernel's own formulas.
//
//   host-tsc --kvm (tsc offset, scaling ratio; nested L1->L2)--> guest-tsc
//   host-tsc --clocksource mult/shift | trace-cmd tsc2nsec--> host-ns
//   host-tsc --perf_event_mmap_page (perfOn 'host', the default)--> perf-ns
//   guest-tsc --pvclock page--> kvmclock-ns      guest-tsc --Hyper-V TSC page--> hv-ref
//   guest-tsc --perf_event_mmap_page (perfOn 'guest')--> perf-ns
//
// A conversion walks the tree: up from `from` through inverse steps, down to
// `to` through forward steps. Forward is the kernel's formula, with its u64
// wraps; an inverse returns the smallest input whose value reaches the given
// one (docs/convert.md has the exact definitions and what happens when no
// input does). Each step's parameters may change over time: a list of
// { from, params } holds each set with the input (in that step's own source
// domain) at which it takes effect. The math runs in Wasm (assembly/chain.ts),
// over chunks of the caller's arrays; no stamp goes through a JS number.
import { Core } from './core.js';
import { simdPreferred } from './wasm.js';
import { SampleBuffer, type Samples } from './batch.js';
import type { FracBits, PerfTimeParams, PvclockTimeInfo } from './types.js';
import type { HvTscPage } from './hyperv.js';
import { fracBits as checkFracBits, fromI64, int, object, pvShift, u32, u64, U64_MAX, S64_MIN } from './check.js';
import { checkPerfParams } from './perf.js';

export const CLOCK_DOMAINS = ['host-tsc', 'guest-tsc', 'kvmclock-ns', 'perf-ns', 'hv-ref', 'host-ns'] as const;
export type ClockDomain = (typeof CLOCK_DOMAINS)[number];

/** A vCPU's TSC controls (debugfs tsc-offset, tsc-scaling-ratio, tsc-scaling-ratio-frac-bits). */
export interface KvmTscParams {
  /** The TSC offset: an s64 (as debugfs prints it) or its u64 bits (as the tracepoint prints it). */
  tscOffset: bigint;
  /** The scaling ratio; absent: the default 1 << fracBits (no scaling). */
  ratio?: bigint;
  /** 48 on VMX (the default), 32 on SVM. */
  fracBits?: FracBits;
}

/** A clocksource's mult/shift: clocksource_cyc2ns, ((cycles * mult) mod 2^64) >> shift. */
export interface ClocksourceParams { mult: number; shift: number }

/** trace-cmd's TSC2NSEC option: mul_u64_u32_shr(tsc, mult, shift) + offset (a 96-bit product). */
export interface Tsc2nsecParams { mult: number; shift: number; offset: bigint }

/** One parameter set and the input (in the step's source domain) from which it is in force. */
export interface Timed<T> { from: bigint; params: T }
/** One set for all time, or sets that change: the first is in force below the second's `from`, whatever its own. */
export type Piecewise<T> = T | Timed<T>[];

export interface ClockChainParams {
  /** host TSC -> (L1) guest TSC: kvm_read_l1_tsc, kvm_scale_tsc(tsc, ratio) + offset. */
  kvm?: Piecewise<KvmTscParams>;
  /** An L2 guest inside the L1 one: composed with `kvm` as KVM does for the CPU (kvm_calc_nested_tsc_*). */
  nested?: KvmTscParams;
  /** guest TSC -> kvmclock ns: __pvclock_read_cycles. */
  pvclock?: Piecewise<PvclockTimeInfo>;
  /** guest TSC -> Hyper-V reference time (100 ns); absent: derived from each pvclock page as KVM does. */
  hvTscPage?: Piecewise<HvTscPage>;
  /** TSC -> perf time: the perf_event_mmap_page conversion (timeMask: cap_user_time_short). */
  perf?: Piecewise<PerfTimeParams>;
  /** Which TSC perf reads: the host's (default) or the guest's (perf run inside the VM). */
  perfOn?: 'host' | 'guest';
  /** host TSC -> host ns, as the kernel's clocksource does. */
  clocksource?: Piecewise<ClocksourceParams>;
  /** host TSC -> host ns, as trace-cmd's tsc2nsec clock does. */
  tsc2nsec?: Piecewise<Tsc2nsecParams>;
}

export interface ChainOptions {
  /** true/false: the SIMD/scalar build in a kernel instance of the chain's own; absent: one shared instance. */
  simd?: boolean;
}

// step kinds and parameter blocks of assembly/chain.ts
const KIND = { kvm: 0, pvclock: 1, hv: 2, perf: 3, cyc2ns: 4, tsc2nsec: 5 } as const;
type Kind = keyof typeof KIND;
const PARAM_SLOTS = 8;
const CHUNK = 1 << 16;
const FAIL_REASON: Record<number, string> = {
  1: 'no input up to 2^64-1 reaches it',
  2: 'the formula\'s 64-bit arithmetic wraps before it reaches it',
};

interface ChainExports {
  chainStepBatch(buf: number, n: number, kind: number, inverse: number, params: number, keys: number, nseg: number): number;
  chainFailCode(): number;
  textParse(src: number, from: number, len: number, column: number, sep: number, hex: number, rec: number, status: number,
            stamps: number, maxLines: number): number;
  textParsedStamps(): number;
  textParsedEnd(): number;
  textFormat(src: number, rec: number, status: number, stamps: number, lines: number, hexOut: number, out: number): number;
}

/** How convertLines reads and writes stamps. */
export interface LinesOptions {
  /** Convert field n (1-based) of each line; 0 or absent: the whole line (less a trailing "\r"). */
  column?: number;
  /** The field separator with column: one byte (default ","). */
  separator?: string;
  /** Stamps in hex (0x optional) instead of decimal. */
  hexIn?: boolean;
  /** Write stamps as 0x-prefixed hex instead of decimal. */
  hexOut?: boolean;
}

/** A line convertLines copied unchanged, and why. */
export interface LineFailure {
  /** 0-based line of the text. */
  line: number;
  reason: 'syntax' | 'range' | 'fields' | 'convert';
  /** The field's bytes (latin1). */
  field: string;
  /** For 'convert': the ClockChainError's message. */
  message?: string;
}

const TEXT_REC = 6, TEXT_LINES = 1 << 16;
const TEXT_REASON = ['', 'syntax', 'range', 'fields', 'convert'] as const;

/** A stamp the chain cannot convert: which one (index into the batch), its value, and why. */
export class ClockChainError extends RangeError {
  constructor(message: string, readonly index: number, readonly value: bigint, readonly step: string, readonly reason: string) {
    super(message);
    this.name = 'ClockChainError';
  }
}

/** A step with its parameter blocks in Wasm memory. */
interface Step {
  name: string;
  /** The domains it maps between. */
  input: ClockDomain | 'tsc';
  kind: Kind;
  keys: bigint[];
  blocks: bigint[][];
  paramsPtr: number;
  keysPtr: number;
}

interface Edge { step: Step; inverse: boolean }

let sharedCore: Core | undefined;

const asU64 = (f: string, name: string, v: unknown): bigint => {
  if (typeof v === 'bigint' && v >= S64_MIN && v < 0n) return v + (1n << 64n);
  return u64(f, name, v);
};

function segments<T>(f: string, name: string, v: Piecewise<T> | undefined): Timed<T>[] | undefined {
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) return [{ from: 0n, params: v }];
  if (v.length === 0) throw new RangeError(`${f}: ${name} is an empty list (give at least one parameter set)`);
  let prev = 0n;
  return v.map((s, i) => {
    const e = object<Timed<T>>(f, `${name}[${i}]`, s);
    const from = i === 0 ? 0n : u64(f, `${name}[${i}].from`, e.from);
    if (i > 0 && from <= prev) {
      throw new RangeError(`${f}: ${name}[${i}].from must be above ${i === 1 ? '0' : `${name}[${i - 1}].from (${prev})`}, got ${from}`);
    }
    prev = from;
    return { from, params: object<T>(f, `${name}[${i}].params`, e.params) };
  });
}

/** The conversions between clock domains a set of parameters allows. */
export class ClockChain {
  readonly #core: Core;
  readonly #x: ChainExports;
  readonly #steps: Partial<Record<'kvm' | 'pvclock' | 'hv' | 'perf' | 'hostNs', Step>> = {};
  readonly #perfOn: 'host' | 'guest';
  #work: SampleBuffer | undefined;

  constructor(params: ClockChainParams, options: ChainOptions = {}) {
    const f = 'createClockChain';
    const p = object<ClockChainParams>(f, 'params', params);
    this.#core = options.simd === undefined ? (sharedCore ??= new Core(simdPreferred())) : new Core(options.simd);
    this.#x = this.#core.x as unknown as ChainExports;
    if (p.perfOn !== undefined && p.perfOn !== 'host' && p.perfOn !== 'guest') {
      throw new RangeError(`${f}: perfOn must be 'host' or 'guest', got ${String(p.perfOn)}`);
    }
    this.#perfOn = p.perfOn ?? 'host';
    const kvm = segments(f, 'kvm', p.kvm);
    if (p.nested !== undefined && !kvm) throw new RangeError(`${f}: nested (L2) needs kvm (L1) parameters`);
    if (kvm) this.#steps.kvm = this.#kvmStep(f, kvm, p.nested);
    const pv = segments(f, 'pvclock', p.pvclock);
    if (pv) {
      this.#steps.pvclock = this.#make('pvclock', 'kvmclock', 'guest-tsc', pv.map((s, i) => {
        const n = `pvclock[${i}]`, q = s.params;
        return [s.from, [u64(f, `${n}.tscTimestamp`, q.tscTimestamp), u64(f, `${n}.systemTime`, q.systemTime),
          BigInt(u32(f, `${n}.tscToSystemMul`, q.tscToSystemMul)), BigInt(pvShift(f, `${n}.tscShift`, q.tscShift))]];
      }));
    }
    const hv = segments(f, 'hvTscPage', p.hvTscPage);
    if (hv) {
      this.#steps.hv = this.#make('hv', 'Hyper-V TSC page', 'guest-tsc', hv.map((s, i) =>
        [s.from, [u64(f, `hvTscPage[${i}].scale`, s.params.scale), asU64(f, `hvTscPage[${i}].offset`, s.params.offset)]]));
    } else if (pv) {
      this.#steps.hv = this.#make('hv', 'Hyper-V TSC page (from the pvclock page, compute_tsc_page_parameters)', 'guest-tsc',
        pv.map((s, i) => {
          const page = hvPage(this.#core, s.params);
          if (!page) {
            return [s.from, [0n, 0n], `pvclock[${i}] cannot be a Hyper-V TSC page (no PVCLOCK_TSC_STABLE_BIT in flags, or mul too large)`];
          }
          return [s.from, [page.scale, page.offset]];
        }));
    }
    const perf = segments(f, 'perf', p.perf);
    if (perf) {
      this.#steps.perf = this.#make('perf', 'perf_event_mmap_page', this.#perfOn === 'host' ? 'host-tsc' : 'guest-tsc', perf.map((s, i) => {
        let c;
        try { c = checkPerfParams(f, s.params); } catch (e) {
          if (e instanceof Error) e.message = e.message.replace('params.', `perf[${i}].`);
          throw e;
        }
        return [s.from, [c.timeZero, BigInt(c.timeMult), BigInt(c.timeShift), c.short ? 1n : 0n, c.timeCycles, c.timeMask]];
      }));
    }
    const cs = segments(f, 'clocksource', p.clocksource), t2n = segments(f, 'tsc2nsec', p.tsc2nsec);
    if (cs && t2n) throw new RangeError(`${f}: give clocksource or tsc2nsec for host-ns, not both`);
    if (cs) {
      this.#steps.hostNs = this.#make('cyc2ns', 'clocksource_cyc2ns', 'host-tsc', cs.map((s, i) =>
        [s.from, [BigInt(u32(f, `clocksource[${i}].mult`, s.params.mult)), BigInt(int(f, `clocksource[${i}].shift`, s.params.shift, 0, 63))]]));
    } else if (t2n) {
      this.#steps.hostNs = this.#make('tsc2nsec', 'trace-cmd tsc2nsec', 'host-tsc', t2n.map((s, i) =>
        [s.from, [BigInt(u32(f, `tsc2nsec[${i}].mult`, s.params.mult)), BigInt(int(f, `tsc2nsec[${i}].shift`, s.params.shift, 0, 63)),
          asU64(f, `tsc2nsec[${i}].offset`, s.params.offset)]]));
    }
  }

  #kvmStep(f: string, kvm: Timed<KvmTscParams>[], nested: KvmTscParams | undefined): Step {
    const x = this.#core.x;
    const one = (q: KvmTscParams, n: string) => {
      const fb = q.fracBits === undefined ? 48 : checkFracBits(f, q.fracBits);
      return { ratio: q.ratio === undefined ? 1n << BigInt(fb) : u64(f, `${n}.ratio`, q.ratio), fb, off: asU64(f, `${n}.tscOffset`, q.tscOffset) };
    };
    const l2 = nested === undefined ? undefined : one(object<KvmTscParams>(f, 'nested', nested), 'nested');
    return this.#make('kvm', l2 ? 'kvm_scale_tsc + tsc_offset (L1 composed with L2, kvm_calc_nested_tsc_*)' : 'kvm_scale_tsc + tsc_offset',
      'host-tsc', kvm.map((s, i) => {
        let { ratio, fb, off } = one(object<KvmTscParams>(f, `kvm[${i}]`, s.params), `kvm[${i}]`);
        if (l2) {
          if (l2.fb !== fb) throw new RangeError(`${f}: nested.fracBits (${l2.fb}) must equal kvm[${i}].fracBits (${fb})`);
          off = fromI64(x.kvmCalcNestedTscOffset(off, l2.off, l2.ratio, fb));
          ratio = fromI64(x.kvmCalcNestedTscMultiplier(ratio, l2.ratio, fb));
        }
        return [s.from, [ratio, BigInt(fb), off]];
      }));
  }

  /** Puts a step's blocks and keys in Wasm memory. A segment with `bad` set refuses to be used (kept for its key). */
  #make(kind: Kind, name: string, input: ClockDomain, segs: ([bigint, bigint[]] | [bigint, bigint[], string])[]): Step {
    const bad = segs.find((s) => s.length === 3);
    if (bad) {
      // an unusable set is an error only when a conversion needs the step (stored, reported then)
      return { name, input, kind, keys: [], blocks: [], paramsPtr: 0, keysPtr: 0, unusable: bad[2] } as Step & { unusable: string };
    }
    const x = this.#core.x;
    const paramsPtr = x.allocU64(segs.length * PARAM_SLOTS) >>> 0, keysPtr = x.allocU64(segs.length) >>> 0;
    const mem = this.#core.mem64;
    segs.forEach(([key, block], i) => {
      mem[keysPtr / 8 + i] = key;
      for (let j = 0; j < PARAM_SLOTS; j++) mem[paramsPtr / 8 + i * PARAM_SLOTS + j] = BigInt.asUintN(64, block[j] ?? 0n);
    });
    return { name, input, kind, keys: segs.map((s) => s[0]), blocks: segs.map((s) => s[1]), paramsPtr, keysPtr };
  }

  /** The domain each domain hangs from, and the step between them (null: the root). */
  #parent(d: ClockDomain): { up: ClockDomain; key: 'kvm' | 'pvclock' | 'hv' | 'perf' | 'hostNs'; need: string } | null {
    switch (d) {
      case 'host-tsc': return null;
      case 'guest-tsc': return { up: 'host-tsc', key: 'kvm', need: 'the guest\'s TSC offset and ratio (kvm)' };
      case 'kvmclock-ns': return { up: 'guest-tsc', key: 'pvclock', need: 'a pvclock page (pvclock)' };
      case 'hv-ref': return { up: 'guest-tsc', key: 'hv', need: 'a Hyper-V TSC page (hvTscPage) or a pvclock page to derive it from' };
      case 'perf-ns': return { up: this.#perfOn === 'host' ? 'host-tsc' : 'guest-tsc', key: 'perf', need: 'the perf_event_mmap_page time fields (perf)' };
      case 'host-ns': return { up: 'host-tsc', key: 'hostNs', need: 'a clocksource mult/shift or trace-cmd tsc2nsec parameters' };
    }
  }

  /** The steps from one domain to another: inverse steps up to their common ancestor, forward steps down. */
  path(from: ClockDomain, to: ClockDomain): { name: string; inverse: boolean; from: ClockDomain; to: ClockDomain }[] {
    return this.#edges('path', from, to).map((e) => ({ name: e.step.name, inverse: e.inverse, ...e.ends }));
  }

  #edges(f: string, from: ClockDomain, to: ClockDomain): (Edge & { ends: { from: ClockDomain; to: ClockDomain } })[] {
    for (const [n, d] of [['from', from], ['to', to]] as const) {
      if (!CLOCK_DOMAINS.includes(d)) throw new RangeError(`${f}: ${n} must be one of ${CLOCK_DOMAINS.join(', ')}, got ${String(d)}`);
    }
    const chain = (d: ClockDomain): ClockDomain[] => { const r = [d]; for (let p = this.#parent(d); p; p = this.#parent(p.up)) r.push(p.up); return r; };
    const a = chain(from), b = chain(to);
    while (a.length > 1 && b.length > 1 && a[a.length - 2] === b[b.length - 2]) { a.pop(); b.pop(); }
    const edge = (d: ClockDomain, inverse: boolean) => {
      const p = this.#parent(d)!;
      const step = this.#steps[p.key] as (Step & { unusable?: string }) | undefined;
      if (!step) throw new RangeError(`${f}: converting ${from} to ${to} needs ${p.need}`);
      if (step.unusable) throw new RangeError(`${f}: converting ${from} to ${to}: ${step.unusable}`);
      return { step, inverse, ends: inverse ? { from: d, to: p.up } : { from: p.up, to: d } };
    };
    return [...a.slice(0, -1).map((d) => edge(d, true)), ...b.slice(0, -1).reverse().map((d) => edge(d, false))];
  }

  /**
   * Runs the path over n values at ptr (in the kernel's memory), in place. On a failure, the values before it still
   * go through the remaining steps (a later step may fail earlier: the first failing index wins), so values[0..index)
   * are fully converted; returns null or the failure.
   */
  #run(edges: Edge[], ptr: number, n: number): { index: number; edge: Edge; code: number } | null {
    let limit = n;
    let fail: { index: number; edge: Edge; code: number } | null = null;
    for (const e of edges) {
      const s = e.step;
      const done = this.#x.chainStepBatch(ptr, limit, KIND[s.kind], e.inverse ? 1 : 0, s.paramsPtr, s.keysPtr, s.keys.length);
      if (done < limit) { limit = done; fail = { index: done, edge: e, code: this.#x.chainFailCode() }; }
    }
    return fail;
  }

  #fail(from: ClockDomain, to: ClockDomain, r: { index: number; edge: Edge & { ends?: { from: ClockDomain; to: ClockDomain } }; code: number },
        index: number, value: bigint): ClockChainError {
    const reason = FAIL_REASON[r.code] ?? `failure ${r.code}`;
    const ends = r.edge.ends;
    const at = ends ? `the inverse of ${r.edge.step.name} (${ends.to} <- ${ends.from})` : `the inverse of ${r.edge.step.name}`;
    return new ClockChainError(`convert: ${from} ${value} has no ${to}: at ${at}, ${reason}`, index, value, r.edge.step.name, reason);
  }

  #buffer(): SampleBuffer {
    if (!this.#work || this.#work.freed) this.#work = new SampleBuffer(this.#core, CHUNK);
    return this.#work;
  }

  /** One stamp from one domain to another. Throws a ClockChainError where no exact answer exists. */
  convert(from: ClockDomain, to: ClockDomain, stamp: bigint): bigint {
    const edges = this.#edges('convert', from, to);
    const v = u64('convert', 'stamp', stamp);
    const buf = this.#buffer();
    buf.array[0] = v;
    const r = this.#run(edges, buf.ptr, 1);
    if (r) throw this.#fail(from, to, r, 0, v);
    return buf.array[0];
  }

  /**
   * Every stamp of `input` into `output` (the same array by default: in place), by chunks through Wasm.
   * Throws a ClockChainError for the first stamp without an answer; the ones before it are converted.
   */
  convertBatch(from: ClockDomain, to: ClockDomain, input: Samples, output: Samples = input): void {
    const f = 'convertBatch';
    const edges = this.#edges(f, from, to);
    const arr = (s: Samples, n: string) => {
      if (s instanceof SampleBuffer) return s.array;
      if (s instanceof BigUint64Array) return s;
      throw new TypeError(`${f}: ${n} must be a BigUint64Array or a SampleBuffer`);
    };
    const a = arr(input, 'input'), b = arr(output, 'output');
    if (b.length < a.length) throw new RangeError(`${f}: output has ${b.length} samples, input ${a.length}`);
    const buf = this.#buffer();
    for (let done = 0; done < a.length; done += CHUNK) {
      const n = Math.min(CHUNK, a.length - done);
      const view = buf.array.subarray(0, n);
      view.set(a.subarray(done, done + n));
      const r = this.#run(edges, buf.ptr, n);
      if (r) {
        b.set(view.subarray(0, r.index), done);
        throw this.#fail(from, to, r, done + r.index, arr(input, 'input')[done + r.index]);
      }
      b.set(view, done);
    }
  }

  /**
   * Stamps as little-endian u64 bytes (a file read in binary), converted in place: the fast path of
   * `tsclab convert --format u64le`. bytes.length must be a multiple of 8.
   */
  convertU64le(from: ClockDomain, to: ClockDomain, bytes: Uint8Array): void {
    const f = 'convertU64le';
    if (bytes.length % 8) throw new RangeError(`${f}: ${bytes.length} bytes is not a whole number of u64 stamps`);
    const edges = this.#edges(f, from, to);
    const buf = this.#buffer();
    for (let off = 0; off < bytes.length; off += CHUNK * 8) {
      const len = Math.min(CHUNK * 8, bytes.length - off);
      const mem = new Uint8Array(this.#core.memoryBuffer, buf.ptr, len);
      mem.set(bytes.subarray(off, off + len));
      const r = this.#run(edges, buf.ptr, len / 8);
      if (r) {
        const value = new DataView(bytes.buffer, bytes.byteOffset + off + r.index * 8, 8).getBigUint64(0, true);
        bytes.set(mem.subarray(0, r.index * 8), off);
        throw this.#fail(from, to, r, off / 8 + r.index, value);
      }
      bytes.set(mem, off);
    }
  }

  #text: { cap: number; src: number; out: number; rec: number; status: number; stamps: number } | undefined;

  /**
   * Lines of text (bytes, e.g. a file's chunk of whole lines), one stamp each (or one field each, `column`), converted:
   * the output has every line's bytes as they were except the stamp, in the same order. A line whose stamp does not
   * parse, or has no answer, is copied unchanged and listed in `failures`. Parsing, the conversion and the writing
   * all run in Wasm.
   */
  convertLines(from: ClockDomain, to: ClockDomain, text: Uint8Array, options: LinesOptions = {}): { output: Uint8Array; lines: number; failures: LineFailure[] } {
    const f = 'convertLines';
    const edges = this.#edges(f, from, to);
    const column = options.column === undefined ? 0 : int(f, 'options.column', options.column, 0, 0xFFFFFFFF);
    const sepText = options.separator ?? ',';
    if (sepText.length !== 1 || sepText.charCodeAt(0) > 255) throw new RangeError(`${f}: options.separator must be one byte, got ${JSON.stringify(sepText)}`);
    const x = this.#x, core = this.#core;
    let t = this.#text;
    if (!t || t.cap < text.length) {
      if (t) for (const p of [t.src, t.out, t.rec, t.status, t.stamps]) core.x.freeU64(p);
      const cap = Math.max(text.length, 1 << 20);
      const words = (bytes: number) => core.x.allocU64(Math.ceil(bytes / 8)) >>> 0;
      t = this.#text = { cap, src: words(cap + 8), out: words(cap + 24 * TEXT_LINES + 64), rec: words(4 * TEXT_REC * TEXT_LINES),
        status: words(TEXT_LINES), stamps: words(8 * TEXT_LINES) };
    }
    new Uint8Array(core.memoryBuffer, t.src, text.length).set(text);
    new Uint8Array(core.memoryBuffer, t.src + text.length, 1)[0] = 0; // the sentinel textFormat may read past the end
    const pieces: Uint8Array[] = [];
    const failures: LineFailure[] = [];
    const latin1 = (a: number, b: number) => String.fromCharCode(...new Uint8Array(core.memoryBuffer, t!.src + a, Math.min(b - a, 64)));
    let pos = 0, lineBase = 0;
    while (pos < text.length) {
      const n = x.textParse(t.src, pos, text.length, column, sepText.charCodeAt(0), options.hexIn ? 1 : 0, t.rec, t.status, t.stamps, TEXT_LINES);
      const k = x.textParsedStamps(), end = x.textParsedEnd();
      // convert the block's stamps; one without an answer marks its line, and the rest go on from the next
      for (let start = 0; start < k;) {
        const r = this.#run(edges, t.stamps + start * 8, k - start);
        if (!r) break;
        const j = start + r.index;
        const rec = new Uint32Array(core.memoryBuffer, t.rec, n * TEXT_REC);
        let line = 0;
        while (rec[line * TEXT_REC + 5] !== j) line++;
        new Uint8Array(core.memoryBuffer, t.status, n)[line] = 4;
        const a = rec[line * TEXT_REC + 1], b = rec[line * TEXT_REC + 2];
        const value = String.fromCharCode(...new Uint8Array(core.memoryBuffer, t.src + a, b - a));
        failures.push({ line: lineBase + line, reason: 'convert', field: value,
          message: this.#fail(from, to, r, j, parseValue(value, !!options.hexIn)).message });
        start = j + 1;
      }
      const status = new Uint8Array(core.memoryBuffer, t.status, n);
      for (let i = 0; i < n; i++) {
        if (status[i] && status[i] !== 4) {
          const rec = new Uint32Array(core.memoryBuffer, t.rec + i * TEXT_REC * 4, TEXT_REC);
          failures.push({ line: lineBase + i, reason: TEXT_REASON[status[i]] as LineFailure['reason'], field: latin1(rec[1], rec[2]) });
        }
      }
      const len = x.textFormat(t.src, t.rec, t.status, t.stamps, n, options.hexOut ? 1 : 0, t.out);
      pieces.push(new Uint8Array(core.memoryBuffer, t.out, len).slice());
      pos = end;
      lineBase += n;
    }
    failures.sort((a, b) => a.line - b.line);
    const output = pieces.length === 1 ? pieces[0] : new Uint8Array(pieces.reduce((s, p) => s + p.length, 0));
    if (pieces.length > 1) { let o = 0; for (const p of pieces) { output.set(p, o); o += p.length; } }
    return { output, lines: lineBase, failures };
  }

  /** Returns the chain's Wasm memory (parameter blocks and its work buffer) to the kernel's heap. */
  free(): void {
    const x = this.#core.x;
    for (const s of Object.values(this.#steps)) if (s && s.paramsPtr) { x.freeU64(s.paramsPtr); x.freeU64(s.keysPtr); s.paramsPtr = 0; }
    this.#work?.free();
    if (this.#text) for (const p of [this.#text.src, this.#text.out, this.#text.rec, this.#text.status, this.#text.stamps]) x.freeU64(p);
    this.#text = undefined;
  }
}

/** A field that parsed as a stamp, as its value (for messages). */
const parseValue = (text: string, hex: boolean): bigint => BigInt(hex && !/^0x/i.test(text) ? `0x${text}` : text);

function hvPage(core: Core, info: PvclockTimeInfo): HvTscPage | null {
  const ok = core.x.hvTscPageParams(info.tscTimestamp, info.systemTime, info.tscToSystemMul, info.tscShift, info.flags ?? 0, core.io);
  return ok ? { scale: core.dv.getBigUint64(core.io, true), offset: core.dv.getBigUint64(core.io + 8, true) } : null;
}

/** A clock chain over the given parameters (validated here: a bad one is a RangeError/TypeError naming it). */
export function createClockChain(params: ClockChainParams, options?: ChainOptions): ClockChain {
  return new ClockChain(params, options);
}

export { U64_MAX };
