// Tuned plain-JS versions of the batch kernels: u64 values as (lo, hi) 32-bit
// halves in a Uint32Array view of the BigUint64Array (little-endian), exact
// products through 16-bit splits (every intermediate below 2^53), no BigInt.
// `x >>> 0` is x mod 2^32 and `(x / 2^32) >>> 0` its high part, for 0 <= x < 2^53.
// They exist to be measured against Wasm and C; the checksums prove they agree.

const P32 = 4294967296;

/** out = system_time + pvclock_scale_delta(tsc - tsc_timestamp, mul, shift), shift in -31..0. */
export function pvclockBatchJs(input: BigUint64Array, output: BigUint64Array, ts: bigint, st: bigint, mul: number, shift: number): void {
  const a = new Uint32Array(input.buffer, input.byteOffset, input.length * 2);
  const o = new Uint32Array(output.buffer, output.byteOffset, output.length * 2);
  const tsLo = Number(ts & 0xffffffffn), tsHi = Number(ts >> 32n), stLo = Number(st & 0xffffffffn), stHi = Number(st >> 32n);
  const rs = -shift, mLo = mul & 0xffff, mHi = mul >>> 16;
  for (let i = 0, n = input.length * 2; i < n; i += 2) {
    // d = tsc - ts (mod 2^64), then >> rs
    const lo0 = a[i] - tsLo;
    const borrow = lo0 < 0 ? 1 : 0;
    let lo = lo0 >>> 0, hi = (a[i + 1] - tsHi - borrow) >>> 0;
    if (rs) { lo = ((lo >>> rs) | (hi << (32 - rs))) >>> 0; hi >>>= rs; }
    // bits [95:32] of d * mul = hi*mul + (lo*mul >> 32)
    const l0 = lo * mLo, l1 = lo * mHi;                          // < 2^48
    const lt = (l1 % 65536) * 65536 + l0;
    const carry = Math.floor(l1 / 65536) + Math.floor(lt / P32); // (lo*mul) >> 32, < 2^32
    const h0 = hi * mLo, h1 = hi * mHi;
    const ht = (h1 % 65536) * 65536 + h0 + carry;                // low part of hi*mul, plus the carry
    const rlo = ht % P32 + stLo;
    o[i] = rlo >>> 0;
    o[i + 1] = (Math.floor(h1 / 65536) + Math.floor(ht / P32) + stHi + (rlo >= P32 ? 1 : 0)) >>> 0;
  }
}

/** out = ((u64)cyc * mult) >> shift, the product wrapping mod 2^64 (shift 0..31). */
export function cyc2nsBatchJs(input: BigUint64Array, output: BigUint64Array, mult: number, shift: number): void {
  const a = new Uint32Array(input.buffer, input.byteOffset, input.length * 2);
  const o = new Uint32Array(output.buffer, output.byteOffset, output.length * 2);
  const mLo = mult & 0xffff, mHi = mult >>> 16;
  for (let i = 0, n = input.length * 2; i < n; i += 2) {
    const lo = a[i], hi = a[i + 1];
    const p0 = lo * mLo, p1 = lo * mHi;
    const t = (p1 % 65536) * 65536 + p0;
    const plo = t >>> 0;
    // high word: carry of lo*mult, plus the low 32 bits of hi*mult (wrapping)
    const phi = (Math.floor(p1 / 65536) + Math.floor(t / P32) + Math.imul(hi, mult)) >>> 0;
    o[i] = shift ? ((plo >>> shift) | (phi << (32 - shift))) >>> 0 : plo;
    o[i + 1] = phi >>> shift;
  }
}

/** [hi, lo] words of a 32x32 product into w (w[0] = hi, w[1] = lo). */
function mul32(a: number, b: number, w: Float64Array, at: number): void {
  const p0 = (a & 0xffff) * b, p1 = (a >>> 16) * b;
  const t = (p1 % 65536) * 65536 + p0;
  w[at + 1] = t % P32;
  w[at] = Math.floor(p1 / 65536) + Math.floor(t / P32);
}
const w = new Float64Array(8);

/** out = mul_u64_u64_shr(tsc, ratio, frac) for frac 32 or 48. */
export function scaleBatchJs(input: BigUint64Array, output: BigUint64Array, ratio: bigint, frac: 48 | 32): void {
  const a = new Uint32Array(input.buffer, input.byteOffset, input.length * 2);
  const o = new Uint32Array(output.buffer, output.byteOffset, output.length * 2);
  const b0 = Number(ratio & 0xffffffffn), b1 = Number(ratio >> 32n);
  for (let i = 0, n = input.length * 2; i < n; i += 2) {
    const a0 = a[i], a1 = a[i + 1];
    mul32(a0, b0, w, 0); mul32(a0, b1, w, 2); mul32(a1, b0, w, 4); mul32(a1, b1, w, 6);
    // the 128-bit sum as 32-bit words: w1 = p00.hi + p01.lo + p10.lo, w2 = carry + p01.hi + p10.hi + p11.lo, w3 = carry + p11.hi
    const s1 = w[0] + w[3] + w[5];
    const s2 = Math.floor(s1 / P32) + w[2] + w[4] + w[7];
    const w1 = s1 % P32, w2 = s2 % P32, w3 = (Math.floor(s2 / P32) + w[6]) >>> 0;
    if (frac === 32) { o[i] = w1; o[i + 1] = w2; }
    else { o[i] = ((w1 >>> 16) | (w2 << 16)) >>> 0; o[i + 1] = ((w2 >>> 16) | (w3 << 16)) >>> 0; }
  }
}

/** The perf_event_mmap_page conversion: zero + quot * mult + ((rem * mult) >> shift), in u64 (shift 1..32; JS shifts
 *  count mod 32, so 32 -- x86's time_shift above 1 GHz -- takes the high word whole). */
export function perfBatchJs(input: BigUint64Array, output: BigUint64Array, zero: bigint, mult: number, shift: number): void {
  const a = new Uint32Array(input.buffer, input.byteOffset, input.length * 2);
  const o = new Uint32Array(output.buffer, output.byteOffset, output.length * 2);
  const zLo = Number(zero & 0xffffffffn), zHi = Number(zero >> 32n), mask = shift === 32 ? 0xffffffff : ((1 << shift) - 1) >>> 0;
  const whole = shift === 32;
  const mLo = mult & 0xffff, mHi = mult >>> 16;
  for (let i = 0, n = input.length * 2; i < n; i += 2) {
    const lo = a[i], hi = a[i + 1];
    const qLo = whole ? hi : ((lo >>> shift) | (hi << (32 - shift))) >>> 0, qHi = whole ? 0 : hi >>> shift;
    // quot * mult, wrapped to 64 bits
    const p0 = qLo * mLo, p1 = qLo * mHi, t = (p1 % 65536) * 65536 + p0;
    const sLo0 = t % P32;
    const sHi0 = Math.floor(p1 / 65536) + Math.floor(t / P32) + (Math.imul(qHi, mult) >>> 0);
    // (rem * mult) >> shift; rem < 2^32 so the product < 2^64, exact in (lo, hi) words
    const rem = (lo & mask) >>> 0;
    const r0 = rem * mLo, r1 = rem * mHi, rt = (r1 % 65536) * 65536 + r0;
    const rLo = rt % P32, rHi = Math.floor(r1 / 65536) + Math.floor(rt / P32);
    const fLo = whole ? rHi : ((rLo >>> shift) | (rHi << (32 - shift))) >>> 0, fHi = whole ? 0 : rHi >>> shift;
    const sLo = sLo0 + fLo + zLo;
    o[i] = sLo >>> 0;
    o[i + 1] = (sHi0 + fHi + zHi + Math.floor(sLo / P32)) >>> 0;
  }
}
