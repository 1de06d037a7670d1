// include/linux/math64.h: the 64-bit multiply helpers.
import type { Core } from './core.js';
import { fromI64, int, nonzeroU32, s64, u32, u64 } from './check.js';

export function wideApi(k: Core) {
  const x = k.x;
  return {
    /** mul_u64_u32_shr: (a * mul) >> shift over the 96-bit product (shift 0..127). */
    mulU64U32Shr(a: bigint, mul: number, shift: number): bigint {
      const f = 'mulU64U32Shr';
      return fromI64(x.mulU64U32Shr(u64(f, 'a', a), u32(f, 'mul', mul), int(f, 'shift', shift, 0, 127)));
    },
    /** mul_u64_u64_shr: (a * b) >> shift over the 128-bit product (shift 0..127). */
    mulU64U64Shr(a: bigint, b: bigint, shift: number): bigint {
      const f = 'mulU64U64Shr';
      return fromI64(x.mulU64U64Shr(u64(f, 'a', a), u64(f, 'b', b), int(f, 'shift', shift, 0, 127)));
    },
    /** mul_u64_u32_div: floor(a * mul / divisor) over the 96-bit product, mod 2^64 (generic div64.c). */
    mulU64U32Div(a: bigint, mul: number, divisor: number): bigint {
      const f = 'mulU64U32Div';
      return fromI64(x.mulU64U32Div(u64(f, 'a', a), u32(f, 'mul', mul), nonzeroU32(f, 'divisor', divisor)));
    },
    /** mul_s64_u64_shr: |a| * b >> shift, negated for negative a (rounds toward 0); returns an s64. */
    mulS64U64Shr(a: bigint, b: bigint, shift: number): bigint {
      const f = 'mulS64U64Shr';
      return x.mulS64U64Shr(s64(f, 'a', a), u64(f, 'b', b), int(f, 'shift', shift, 0, 127));
    },
  };
}
