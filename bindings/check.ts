// Argument checks at the API boundary. A value the kernel type cannot hold is
// refused with a message naming the function, the argument and what it
// expected -- never wrapped silently into range the way Wasm would.

export const U64_MAX = (1n << 64n) - 1n;
export const S64_MIN = -(1n << 63n);
export const S64_MAX = (1n << 63n) - 1n;

function show(v: unknown): string {
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || typeof v !== 'object') return `${typeof v} ${String(v)}`;
  return Array.isArray(v) ? 'an array' : 'an object';
}

/** A u64 as bigint in 0..2^64-1. */
export function u64(fn: string, name: string, v: unknown): bigint {
  if (typeof v !== 'bigint') throw new TypeError(`${fn}: ${name} must be a bigint (u64), got ${show(v)}`);
  if (v < 0n || v > U64_MAX) throw new RangeError(`${fn}: ${name} must be in 0..2^64-1 (u64), got ${v}`);
  return v;
}

/** An s64 as bigint in -2^63..2^63-1. */
export function s64(fn: string, name: string, v: unknown): bigint {
  if (typeof v !== 'bigint') throw new TypeError(`${fn}: ${name} must be a bigint (s64), got ${show(v)}`);
  if (v < S64_MIN || v > S64_MAX) throw new RangeError(`${fn}: ${name} must be in -2^63..2^63-1 (s64), got ${v}`);
  return v;
}

/** An integer Number in lo..hi (for u32, shifts and small counts). */
export function int(fn: string, name: string, v: unknown, lo: number, hi: number, what = ''): number {
  if (typeof v !== 'number') throw new TypeError(`${fn}: ${name} must be a number${what && ` (${what})`}, got ${show(v)}`);
  if (!Number.isInteger(v) || v < lo || v > hi) {
    throw new RangeError(`${fn}: ${name} must be an integer in ${lo}..${hi}${what && ` (${what})`}, got ${v}`);
  }
  return v;
}

export const u32 = (fn: string, name: string, v: unknown): number => int(fn, name, v, 0, 0xFFFFFFFF, 'u32');
export const u8 = (fn: string, name: string, v: unknown): number => int(fn, name, v, 0, 0xFF, 'u8');

/** Positive u32 (a rate or divisor the kernel divides by). */
export const nonzeroU32 = (fn: string, name: string, v: unknown): number => int(fn, name, v, 1, 0xFFFFFFFF, 'non-zero u32');

/** The pvclock tsc_shift: an s8 the guest applies before multiplying. */
export const pvShift = (fn: string, name: string, v: unknown): number => int(fn, name, v, -32, 31, 'tsc_shift');

/** The TSC scaling ratio's fractional bits: 48 on VMX, 32 on SVM. */
export function fracBits(fn: string, v: unknown): 48 | 32 {
  if (v !== 48 && v !== 32) throw new RangeError(`${fn}: fracBits must be 48 (VMX) or 32 (SVM), got ${show(v)}`);
  return v;
}

export function bool(fn: string, name: string, v: unknown): boolean {
  if (typeof v !== 'boolean') throw new TypeError(`${fn}: ${name} must be a boolean, got ${show(v)}`);
  return v;
}

export function object<T>(fn: string, name: string, v: unknown): T {
  if (v === null || typeof v !== 'object') throw new TypeError(`${fn}: ${name} must be an object, got ${show(v)}`);
  return v as T;
}

/** A u64 returned by Wasm (signed on the JS side) back to 0..2^64-1. */
export const fromI64 = (v: bigint): bigint => (v < 0n ? v + (1n << 64n) : v);

/**
 * Whether `e` is one of the API's argument errors: a TypeError or RangeError whose message starts with the
 * function's name ("pvclockReadBatch: info.tscShift must be ..."). The engine's own TypeErrors and RangeErrors
 * ("x is not iterable", "Maximum call stack size exceeded", "Division by zero") have no such prefix.
 */
export const isArgumentError = (e: unknown): e is TypeError | RangeError =>
  (e instanceof TypeError || e instanceof RangeError) && /^[A-Za-z_$][\w$.]*: \S/.test(e.message);
