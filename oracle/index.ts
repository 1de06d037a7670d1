// The oracle: every kernel formula in plain BigInt, written straight from the
// C with exact big-integer products, then truncated the way C truncates.
// It shares no code with the Wasm kernel; it is the reference of the
// differential tests and the baseline of the benchmarks. Inputs are assumed
// valid (the typed API validates); nothing here is fast.

export const U64 = (1n << 64n) - 1n;
export const U32 = 0xFFFFFFFFn;
const u64 = (x: bigint): bigint => x & U64;
const u32 = (x: bigint): bigint => x & U32;
const s64 = (x: bigint): bigint => BigInt.asIntN(64, x);
const NSEC_PER_SEC = 1_000_000_000n;

// ---- include/linux/math64.h ---------------------------------------------
export const mulU64U32Shr = (a: bigint, mul: bigint, shift: number): bigint => u64((a * mul) >> BigInt(shift));
export const mulU64U64Shr = (a: bigint, b: bigint, shift: number): bigint => u64((a * b) >> BigInt(shift));
export const mulU64U32Div = (a: bigint, mul: bigint, divisor: bigint): bigint => u64((a * mul) / divisor);
export function mulS64U64Shr(a: bigint, b: bigint, shift: number): bigint {
  const sa = s64(a);
  const mag = ((sa < 0n ? -sa : sa) * b) >> BigInt(shift);
  return s64(sa < 0n ? -u64(mag) : u64(mag));
}

// ---- pvclock --------------------------------------------------------------
export function pvclockScaleDelta(delta: bigint, mul: bigint, shift: number): bigint {
  const d = shift < 0 ? delta >> BigInt(-shift) : u64(delta << BigInt(shift));
  return u64((d * mul) >> 32n);
}
export interface OraclePvti { tscTimestamp: bigint; systemTime: bigint; tscToSystemMul: bigint; tscShift: number; flags?: number; version?: number }
export const pvclockReadCycles = (p: OraclePvti, tsc: bigint): bigint =>
  u64(p.systemTime + pvclockScaleDelta(u64(tsc - p.tscTimestamp), p.tscToSystemMul, p.tscShift));
export function pvclockTscKhz(mul: bigint, shift: number): bigint {
  const khz = (1_000_000n << 32n) / mul;
  return shift < 0 ? u64(khz << BigInt(-shift)) : khz >> BigInt(shift);
}
export function pvclockReadWallclock(sec: bigint, nsec: bigint, now: bigint): { sec: bigint; nsec: bigint } {
  const delta = u64(now + sec * NSEC_PER_SEC + nsec);
  return { sec: delta / NSEC_PER_SEC, nsec: delta % NSEC_PER_SEC };
}
/** pvclock_clocksource_read over a stream: the global last_value clamp unless STABLE is trusted and set. */
export function pvclockClocksourceReadStream(
  reads: { page: OraclePvti; tsc: bigint }[], validFlags: number, lastValue = 0n,
): { values: bigint[]; lastValue: bigint } {
  const values: bigint[] = [];
  for (const { page, tsc } of reads) {
    const ret = pvclockReadCycles(page, tsc);
    if ((validFlags & 1) && ((page.flags ?? 0) & 1)) { values.push(ret); continue; }
    if (ret <= lastValue) { values.push(lastValue); continue; }
    lastValue = ret;
    values.push(ret);
  }
  return { values, lastValue };
}

// ---- KVM --------------------------------------------------------------------
export function kvmGetTimeScale(scaledHz: bigint, baseHz: bigint): { shift: number; mul: bigint } {
  let tps64 = baseHz, scaled64 = scaledHz, shift = 0;
  const HI = 0xFFFFFFFF00000000n;
  while (tps64 > u64(scaled64 * 2n) || (tps64 & HI) !== 0n) { tps64 >>= 1n; shift--; }
  let tps32 = u32(tps64);
  while (tps32 <= scaled64 || (scaled64 & HI) !== 0n) {
    if ((scaled64 & HI) !== 0n || (tps32 & 0x80000000n) !== 0n) scaled64 >>= 1n;
    else tps32 = u32(tps32 << 1n);
    shift++;
  }
  return { shift, mul: u32((u32(scaled64) << 32n) / tps32) };
}
const defaultRatio = (fracBits: number): bigint => 1n << BigInt(fracBits);
export const kvmMaxTscScalingRatio = (fracBits: number): bigint => (fracBits === 48 ? U64 : 0xFF_FFFF_FFFFn);
export const kvmScaleTsc = (tsc: bigint, ratio: bigint, fracBits: number): bigint =>
  ratio === defaultRatio(fracBits) ? tsc : u64((tsc * ratio) >> BigInt(fracBits));
export function kvmTscScalingRatio(userKhz: bigint, hostKhz: bigint, fracBits: number): bigint | null {
  const ratio = u64((defaultRatio(fracBits) * userKhz) / hostKhz);
  return ratio === 0n || ratio >= kvmMaxTscScalingRatio(fracBits) ? null : ratio;
}
export const kvmComputeTscOffset = (target: bigint, host: bigint, ratio: bigint, fracBits: number): bigint =>
  u64(target - kvmScaleTsc(host, ratio, fracBits));
export const kvmCalcNestedTscOffset = (l1: bigint, l2: bigint, l2Mult: bigint, fracBits: number): bigint =>
  u64((l2Mult === defaultRatio(fracBits) ? l1 : mulS64U64Shr(l1, l2Mult, fracBits)) + l2);
export const kvmCalcNestedTscMultiplier = (l1: bigint, l2: bigint, fracBits: number): bigint =>
  l2 !== defaultRatio(fracBits) ? mulU64U64Shr(l1, l2, fracBits) : l1;
export const nsecToCycles = (ns: bigint, mult: bigint, shift: number): bigint => pvclockScaleDelta(ns, mult, shift);
export const computeGuestTsc = (kernelNs: bigint, thisTscNsec: bigint, thisTscWrite: bigint, mult: bigint, shift: number): bigint =>
  u64(thisTscWrite + pvclockScaleDelta(u64(kernelNs - thisTscNsec), mult, shift));

export type OracleSetTscKhz =
  | { result: 'no-scaling' | 'scaled' | 'catchup'; ratio: bigint }
  | { result: 'error'; reason: 'zero' | 'below-host' | 'bad-ratio' | 'above-max'; ratio: bigint };
export function kvmSetTscKhz(userKhz: bigint, hostKhz: bigint, hasTscControl: boolean, fracBits: number,
                             tolerancePpm = 250n, viaIoctl = false): OracleSetTscKhz {
  const def = defaultRatio(fracBits);
  if (viaIoctl) {
    const maxGuest = hasTscControl ? [0x7FFFFFFFn, kvmScaleTsc(hostKhz, kvmMaxTscScalingRatio(fracBits), fracBits)].reduce((a, b) => (a < b ? a : b)) : 0n;
    if (hasTscControl && userKhz >= maxGuest) return { result: 'error', reason: 'above-max', ratio: def };
    if (userKhz === 0n) userKhz = hostKhz;
  }
  if (userKhz === 0n) return { result: 'error', reason: 'zero', ratio: def };
  const lo = (hostKhz * (1_000_000n - tolerancePpm)) / 1_000_000n;
  const hi = (hostKhz * (1_000_000n + tolerancePpm)) / 1_000_000n;
  if (!(userKhz < lo || userKhz > hi)) return { result: 'no-scaling', ratio: def };
  if (!hasTscControl) return userKhz > hostKhz ? { result: 'catchup', ratio: def } : { result: 'error', reason: 'below-host', ratio: def };
  const ratio = kvmTscScalingRatio(userKhz, hostKhz, fracBits);
  return ratio === null ? { result: 'error', reason: 'bad-ratio', ratio: def } : { result: 'scaled', ratio };
}

// ---- clocksource ------------------------------------------------------------
export function clocksCalcMultShift(from: bigint, to: bigint, maxsec: bigint): { mult: bigint; shift: number } {
  let sftacc = 32;
  let tmp = (maxsec * from) >> 32n;
  while (tmp) { tmp >>= 1n; sftacc--; }
  let sft = 32;
  for (; sft > 0; sft--) {
    tmp = u64(to << BigInt(sft)) + from / 2n;
    tmp = tmp / from;
    if ((tmp >> BigInt(sftacc)) === 0n) break;
  }
  return { mult: u32(tmp), shift: sft };
}
export const clocksourceCyc2ns = (cycles: bigint, mult: bigint, shift: number): bigint => u64(cycles * mult) >> BigInt(shift);

export interface OracleRegistration { mult: bigint; shift: number; maxadj: bigint; maxCycles: bigint; maxIdleNs: bigint; uncertaintyMargin: bigint }
/** __clocksource_update_freq_scale + clocks_calc_max_nsecs, for the modern WATCHDOG_MAX_SKEW. */
export function clocksourceUpdateFreqScale(mask: bigint, scale: bigint, freq: bigint,
  preset: { mult?: bigint; shift?: number; uncertaintyMargin?: bigint } = {},
  maxSkewNs = 62_000n, thresholdNs = NSEC_PER_SEC >> 5n): OracleRegistration {
  let mult = preset.mult ?? 0n, shift = preset.shift ?? 0, margin = preset.uncertaintyMargin ?? 0n;
  if (freq) {
    let sec = mask / freq / scale;
    if (!sec) sec = 1n; else if (sec > 600n && mask > U32) sec = 600n;
    ({ mult, shift } = clocksCalcMultShift(freq, NSEC_PER_SEC / scale, u32(sec * scale)));
  }
  if (scale && freq && !margin) {
    margin = NSEC_PER_SEC / u32(scale * freq);
    if (margin < 2n * maxSkewNs) margin = 2n * maxSkewNs;
  } else if (!margin) margin = thresholdNs;
  const adj = (m: bigint) => (m * 11n) / 100n;
  let maxadj = adj(mult);
  while (freq && (mult + maxadj > U32 || mult - maxadj < 0n)) { mult >>= 1n; shift--; maxadj = adj(mult); }
  let maxCycles = U64 / u32(mult + maxadj);
  if (maxCycles > mask) maxCycles = mask;
  const maxIdleNs = clocksourceCyc2ns(maxCycles, mult - maxadj, shift) >> 1n;
  return { mult, shift, maxadj, maxCycles, maxIdleNs, uncertaintyMargin: margin };
}
export const clocksourceRegisterHz = (hz: bigint, mask: bigint) => clocksourceUpdateFreqScale(mask, 1n, hz);
export const clocksourceRegisterKhz = (khz: bigint, mask: bigint) => clocksourceUpdateFreqScale(mask, 1000n, khz);
const jiffiesShift = (hz: bigint): number => (hz < 34n ? 6 : hz < 67n ? 7 : 8);
const tickNsec = (hz: bigint): bigint => (NSEC_PER_SEC + hz / 2n) / hz;
export const jiffiesMult = (hz: bigint): bigint => u32(tickNsec(hz) << BigInt(jiffiesShift(hz)));
export function refinedJiffiesMult(hz: bigint, cyclesPerSecond = 1_193_182n): bigint {
  const cyclesPerTick = (cyclesPerSecond + hz / 2n) / hz;
  const shiftHz = ((cyclesPerSecond << 8n) + cyclesPerTick / 2n) / cyclesPerTick;
  const nsecPerTick = ((NSEC_PER_SEC << 8n) + u32(shiftHz) / 2n) / u32(shiftHz);
  return u32(u32(nsecPerTick) << BigInt(jiffiesShift(hz)));
}
export const clocksourceRegisterJiffies = (hz: bigint) =>
  clocksourceUpdateFreqScale(U32, 1n, 0n, { mult: jiffiesMult(hz), shift: jiffiesShift(hz), uncertaintyMargin: 32_000_000n });
export const clocksourceRegisterRefinedJiffies = (hz: bigint, cyclesPerSecond = 1_193_182n) =>
  clocksourceUpdateFreqScale(U32, 1n, 0n, { mult: refinedJiffiesMult(hz, cyclesPerSecond), shift: jiffiesShift(hz), uncertaintyMargin: 32_000_000n });

// ---- Hyper-V TSC page -----------------------------------------------------------
export function hvTscPageParams(p: OraclePvti): { scale: bigint; offset: bigint } | null {
  if (!((p.flags ?? 0) & 1)) return null;
  // 100ull << (32 - shift) wraps in u64; a shift by 64 (undefined in C) is x86's shift by 0.
  if (p.tscToSystemMul >= u64(100n << BigInt((32 - p.tscShift) & 63))) return null;
  const scale = mulU64U32Div(1n << BigInt(32 + p.tscShift), p.tscToSystemMul, 100n);
  return { scale, offset: u64(p.systemTime / 100n - mulU64U64Shr(p.tscTimestamp, scale, 64)) };
}
export const hvReadTscPage = (scale: bigint, offset: bigint, tsc: bigint): bigint => u64(((tsc * scale) >> 64n) + offset);

// ---- perf_event_mmap_page ----------------------------------------------------------
export function perfTscToNs(cyc: bigint, p: { timeZero: bigint; timeMult: bigint; timeShift: number; timeCycles?: bigint; timeMask?: bigint }): bigint {
  if (p.timeMask !== undefined) cyc = u64((p.timeCycles ?? 0n) + (u64(cyc - (p.timeCycles ?? 0n)) & p.timeMask));
  const s = BigInt(p.timeShift);
  const quot = cyc >> s, rem = cyc & ((1n << s) - 1n);
  return u64(p.timeZero + u64(quot * p.timeMult) + (u64(rem * p.timeMult) >> s));
}
export * from './chain.js';
export * from './warp.js';
