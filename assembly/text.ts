// Text stamps for `tsclab convert`: a block of lines is parsed (one field per
// line, decimal or hex) into a u64 array, converted by the chain's steps in
// place, and written back with every byte outside the field unchanged -- all
// in Wasm, so a line costs no JS string and no BigInt.

import { mulHi64 } from "./wide";

// Per line, TEXT_REC u32: line start, field start, field end, content end (before "\r\n" or "\n"), stamp index
// (0xFFFFFFFF: no stamp), and at the status array one byte: 0 ok, else TEXT_BAD_*.
export const TEXT_REC: u32 = 6;
export const TEXT_BAD_SYNTAX: u8 = 1;   // not a decimal (or hex) number
export const TEXT_BAD_RANGE: u8 = 2;    // does not fit u64
export const TEXT_BAD_FIELDS: u8 = 3;   // fewer fields than the column asks
export const TEXT_BAD_CONVERT: u8 = 4;  // set by the caller: the chain has no answer for it

let parsedStamps: u32 = 0;
let parsedEnd: u32 = 0;

/** How many stamps, and up to which byte, the last textParse took. */
export function textParsedStamps(): u32 { return parsedStamps; }
export function textParsedEnd(): u32 { return parsedEnd; }

// @ts-ignore: decorator
@inline function hexDigit(c: u32): i32 {
  if (c - 48 < 10) return <i32>(c - 48);
  const l = c | 32;
  if (l - 97 < 6) return <i32>(l - 87);
  return -1;
}

/**
 * Parses lines of src[from..len) until maxLines lines or the end; a line ends at "\n" (the last may lack it).
 * column 0 takes the whole line (without a trailing "\r"); column n >= 1 the n-th field between `sep` bytes.
 * Writes TEXT_REC u32 per line at rec, a status byte per line at status, the stamps densely at stamps.
 * Returns the number of lines; textParsedStamps()/textParsedEnd() say how many stamps and where it stopped.
 */
export function textParse(src: usize, from: u32, len: u32, column: u32, sep: u32, hex: bool,
                          rec: usize, status: usize, stamps: usize, maxLines: u32): u32 {
  let pos = from, lines: u32 = 0, k: u32 = 0;
  while (pos < len && lines < maxLines) {
    let end = pos;
    while (end < len && load<u8>(src + end) != 10) end++;
    let content = end;
    if (content > pos && load<u8>(src + content - 1) == 13) content--;
    let a = pos, b = content;
    let st: u8 = 0;
    if (column > 0) {
      for (let c: u32 = 1; c < column; c++) {
        while (a < content && load<u8>(src + a) != sep) a++;
        if (a >= content) { st = TEXT_BAD_FIELDS; break; }
        a++;
      }
      if (!st) { b = a; while (b < content && load<u8>(src + b) != sep) b++; }
      else { a = content; b = content; }
    }
    let v: u64 = 0;
    if (!st) {
      if (hex) {
        let p = a;
        if (b - p >= 2 && load<u8>(src + p) == 48 && (load<u8>(src + p + 1) | 32) == 120) p += 2;
        if (p == b) st = TEXT_BAD_SYNTAX;
        for (; p < b && !st; p++) {
          const d = hexDigit(load<u8>(src + p));
          if (d < 0) st = TEXT_BAD_SYNTAX;
          else if ((v >> 60) != 0) st = TEXT_BAD_RANGE;
          else v = (v << 4) | <u64>d;
        }
      } else {
        if (a == b) st = TEXT_BAD_SYNTAX;
        else if (b - a <= 19) {
          // 19 digits stay below 10^19 < 2^64: no range check
          for (let p = a; p < b; p++) {
            const d = <u32>load<u8>(src + p) - 48;
            if (d >= 10) { st = TEXT_BAD_SYNTAX; break; }
            v = v * 10 + <u64>d;
          }
        }
        else for (let p = a; p < b && !st; p++) {
          const d = <u32>load<u8>(src + p) - 48;
          if (d >= 10) st = TEXT_BAD_SYNTAX;
          else if (v > 1844674407370955161 || (v == 1844674407370955161 && d > 5)) st = TEXT_BAD_RANGE;
          else v = v * 10 + <u64>d;
        }
        // a syntax error anywhere in the field wins over a range one found first
        if (st == TEXT_BAD_RANGE) for (let p = a; p < b; p++) if (<u32>load<u8>(src + p) - 48 >= 10) { st = TEXT_BAD_SYNTAX; break; }
      }
    }
    const r = rec + (<usize>lines * TEXT_REC << 2);
    store<u32>(r, pos);
    store<u32>(r, a, 4);
    store<u32>(r, b, 8);
    store<u32>(r, content, 12);
    store<u32>(r, end, 16);
    store<u8>(status + lines, st);
    if (!st) { store<u64>(stamps + (<usize>k << 3), v); store<u32>(r, k, 20); k++; }
    else store<u32>(r, 0xFFFFFFFF, 20);
    lines++;
    pos = end < len ? end + 1 : end;
  }
  parsedStamps = k;
  parsedEnd = pos;
  return lines;
}

/** Bytes src[0..n) to dst: a byte loop for the short pieces of a line (memory.copy is an out-of-line call in V8). */
// @ts-ignore: decorator
@inline function copy(dst: usize, src: usize, n: u32): void {
  if (n > 16) { memory.copy(dst, src, n); return; }
  for (let i: usize = 0; i < <usize>n; i++) store<u8>(dst + i, load<u8>(src + i));
}

/** floor(v / 10^8) without a 64-bit division: the compilers' reciprocal (mulhi by 0xABCC77118461CEFD, >> 26). */
// @ts-ignore: decorator
@inline function div1e8(v: u64): u64 {
  return mulHi64(v, 0xABCC77118461CEFD) >> 26;
}

/** The number of decimal digits of v. */
// @ts-ignore: decorator
@inline function decDigits(v: u64): u32 {
  let n: u32 = 1;
  let p: u64 = 10;
  while (n < 20 && v >= p) { n++; p *= 10; }
  return n;
}

/** u64 as decimal digits at dst, written in place from the last digit; returns the length. */
// @ts-ignore: decorator
@inline function writeDec(dst: usize, v: u64): u32 {
  const n = decDigits(v);
  let at = dst + n;
  while (v >= 100000000) {
    const q = div1e8(v);
    let r = <u32>(v - q * 100000000);
    for (let i = 0; i < 8; i++) { at--; store<u8>(at, 48 + r % 10); r /= 10; }
    v = q;
  }
  let w = <u32>v;
  while (at > dst) { at--; store<u8>(at, 48 + w % 10); w /= 10; }
  return n;
}

/** u64 as 0x-prefixed lowercase hex at dst; returns the length. */
// @ts-ignore: decorator
@inline function writeHex(dst: usize, v: u64): u32 {
  store<u16>(dst, 0x7830); // "0x"
  const digits: u32 = v == 0 ? 1 : 16 - (<u32>clz<u64>(v) >> 2);
  for (let i: u32 = 0; i < digits; i++) {
    const d = <u32>((v >> (<u64>(digits - 1 - i) << 2)) & 15);
    store<u8>(dst + 2 + i, d < 10 ? 48 + d : 87 + d);
  }
  return digits + 2;
}

/**
 * Writes `lines` parsed lines to out: each good line with its field replaced by its converted stamp (decimal, or
 * hex with hexOut), each bad one as it was; the "\n" of a line that had one. Returns the bytes written. out must
 * hold the input's bytes plus 24 per line.
 */
export function textFormat(src: usize, rec: usize, status: usize, stamps: usize, lines: u32, hexOut: bool, out: usize): u32 {
  let o = out;
  for (let i: u32 = 0; i < lines; i++) {
    const r = rec + (<usize>i * TEXT_REC << 2);
    const start = load<u32>(r), a = load<u32>(r, 4), b = load<u32>(r, 8), end = load<u32>(r, 16);
    const nl = load<u8>(src + end) == 10 ? 1 : 0; // end < len is guaranteed by the caller's sentinel byte
    if (load<u8>(status + i)) {
      copy(o, src + start, end - start + nl);
      o += end - start + nl;
      continue;
    }
    copy(o, src + start, a - start);
    o += a - start;
    const v = load<u64>(stamps + (<usize>load<u32>(r, 20) << 3));
    o += hexOut ? writeHex(o, v) : writeDec(o, v);
    copy(o, src + b, end - b + nl);
    o += end - b + nl;
  }
  return <u32>(o - out);
}
