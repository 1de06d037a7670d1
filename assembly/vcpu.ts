// The machine's vCPUs as the guest's clock reads see them: one slot per vCPU with its pCPU's TSC line,
// its TSC ratio and offset, and its pvclock page. Between two host events these are fixed, so each
// vCPU's clocks are functions of real time; the event engine (sim/machine.ts) evaluates all of them
// at one instant in one call, where it judges the guest (before and after each event, at each timer).
//
// At real time t (ns), for vCPU v:
//   host TSC  H = base + (t - epoch) * khz / 10^6        (its pCPU's counter, skew included in base)
//   guest TSC G = kvm_scale_tsc(H, ratio) + offset
//   pvclock   K = __pvclock_read_cycles(page_v, G)       (the raw page value: the guest clamps it)
import { kvmScaleTsc } from "./kvm";
import { pvclockReadPage, PVTI_FLAGS } from "./pvclock";

export const VCPUS_MAX: i32 = 64;

// Per-vCPU slots (u64), VS_SIZE bytes each.
export const VS_SIZE: usize = 96;
export const VS_FLAGS: usize = 0;          // bit2: kvmclock enabled (its page is read)
export const VS_HOST_BASE: usize = 8;      // host TSC of its pCPU at VS_HOST_EPOCH (skew included)
export const VS_HOST_EPOCH: usize = 16;    // real ns
export const VS_HOST_KHZ: usize = 24;
export const VS_RATIO: usize = 32;
export const VS_OFFSET: usize = 40;
export const VS_FRAC: usize = 48;
export const VS_PAGE: usize = 64;          // 32-byte pvclock_vcpu_time_info

// One reading, RD_SIZE bytes: guest TSC, raw pvclock value, page flags (u64 each).
export const RD_SIZE: usize = 24;

// @ts-ignore: decorator
@inline function hostTsc(vs: usize, t: u64): u64 {
  // base + mul_u64_u32_div(dt, khz, 10^6), split at whole milliseconds: floor(dt * khz / 10^6) equals
  // (dt / 10^6) * khz + floor((dt % 10^6) * khz / 10^6) exactly, and the second product fits in 64 bits
  const dt = t - load<u64>(vs + VS_HOST_EPOCH), khz = load<u64>(vs + VS_HOST_KHZ) & 0xFFFFFFFF;
  const msec = dt / 1000000;
  return load<u64>(vs + VS_HOST_BASE) + msec * khz + (dt - msec * 1000000) * khz / 1000000;
}

// @ts-ignore: decorator
@inline function guestTsc(vs: usize, t: u64): u64 {
  return kvmScaleTsc(hostTsc(vs, t), load<u64>(vs + VS_RATIO), <u32>load<u64>(vs + VS_FRAC)) + load<u64>(vs + VS_OFFSET);
}

/** The raw clocks of vCPU slots 0..n-1 at real time t into out (RD_SIZE bytes each); no side effects. */
export function vcpuReadAll(vcpus: usize, n: u32, t: u64, out: usize): void {
  for (let i: u32 = 0; i < n; i++) {
    const vs = vcpus + <usize>i * VS_SIZE, o = out + <usize>i * RD_SIZE;
    const g = guestTsc(vs, t);
    store<u64>(o, g);
    if ((load<u64>(vs + VS_FLAGS) & 4) != 0) {
      store<u64>(o, pvclockReadPage(vs + VS_PAGE, g), 8);
      store<u64>(o, <u64>load<u8>(vs + VS_PAGE + PVTI_FLAGS), 16);
    } else {
      store<u64>(o, 0, 8);
      store<u64>(o, 0, 16);
    }
  }
}

/** vCPU slot i's raw clocks at t into out (RD_SIZE bytes): the same as one entry of vcpuReadAll. */
export function vcpuReadOne(vcpus: usize, i: u32, t: u64, out: usize): void {
  vcpuReadAll(vcpus + <usize>i * VS_SIZE, 1, t, out);
}

/**
 * The largest raw pvclock value at t among the vCPUs in `mask` (bit i: vCPU i) that have kvmclock, leaving out those
 * whose page carries PVCLOCK_TSC_STABLE_BIT when `skipStable` (their reads do not touch pvclock's last_value); 0 if none.
 */
export function vcpuMaxPvclock(vcpus: usize, n: u32, mask: u64, skipStable: bool, t: u64): u64 {
  let max: u64 = 0;
  for (let i: u32 = 0; i < n; i++) {
    if (((mask >> <u64>i) & 1) == 0) continue;
    const vs = vcpus + <usize>i * VS_SIZE;
    if ((load<u64>(vs + VS_FLAGS) & 4) == 0) continue;
    if (skipStable && (load<u8>(vs + VS_PAGE + PVTI_FLAGS) & 1) != 0) continue;
    const v = pvclockReadPage(vs + VS_PAGE, guestTsc(vs, t));
    if (v > max) max = v;
  }
  return max;
}
