// KVM's guest TSC arithmetic (arch/x86/kvm/x86.c, x86.h).
import type { Core } from './core.js';
import type { FracBits } from './types.js';
import { bool, fracBits as checkFracBits, fromI64, int, nonzeroU32, object, pvShift, u32, u64 } from './check.js';

/** The outcome of kvm_set_tsc_khz for a requested guest rate. */
export interface KvmSetTscKhzResult {
  /** no-scaling: within tolerance, runs at host rate; scaled: hardware ratio; catchup: faster than host, no scaling hardware. */
  result: 'no-scaling' | 'scaled' | 'catchup' | 'error';
  /** For errors: why KVM refused (and returned -1 / -EINVAL). */
  reason?: 'zero' | 'below-host' | 'bad-ratio' | 'above-max';
  /** The kernel's own message where it prints one. */
  message?: string;
  /** The ratio written (the default 1 << fracBits unless scaled). */
  ratio: bigint;
  /** virtual_tsc_khz as KVM reports it (the request, even without scaling). */
  virtualTscKhz: number;
  /** kvm_get_time_scale(user_tsc_khz * 1000, NSEC_PER_SEC): the ns -> guest cycles conversion. */
  virtualTscMult: number;
  virtualTscShift: number;
  /** The tolerance band (inclusive) around the host rate. */
  threshLo: bigint;
  threshHi: bigint;
  /** min(0x7fffffff, scale(host, max ratio)) with hardware scaling, else 0. */
  maxGuestTscKhz: bigint;
}

export interface KvmSetTscKhzOptions {
  userKhz: number;
  hostKhz: number;
  /** kvm_caps.has_tsc_control: hardware TSC scaling present. */
  hasTscControl: boolean;
  fracBits?: FracBits;
  /** tsc_tolerance_ppm module parameter (default 250). */
  tolerancePpm?: number;
  /** Go through the vCPU KVM_SET_TSC_KHZ ioctl: 0 means the host rate; >= max_guest_tsc_khz is -EINVAL. */
  viaIoctl?: boolean;
}

export interface GuestTscClock {
  /** vcpu->arch.this_tsc_nsec and this_tsc_write: the generation's reference point. */
  thisTscNsec: bigint;
  thisTscWrite: bigint;
  virtualTscMult: number;
  virtualTscShift: number;
}

const SET_TSC_KHZ: Record<number, Pick<KvmSetTscKhzResult, 'result' | 'reason' | 'message'>> = {
  0: { result: 'no-scaling' },
  1: { result: 'scaled' },
  2: { result: 'catchup' },
  [-1]: { result: 'error', reason: 'zero', message: 'user_tsc_khz is 0: the default ratio was written' },
  [-2]: { result: 'error', reason: 'below-host', message: 'user requested TSC rate below hardware speed' },
  [-3]: { result: 'error', reason: 'bad-ratio', message: 'Invalid TSC scaling ratio' },
  [-4]: { result: 'error', reason: 'above-max', message: 'KVM_SET_TSC_KHZ: user_tsc_khz >= max_guest_tsc_khz (-EINVAL)' },
};

export function kvmApi(k: Core) {
  const x = k.x;
  return {
    /**
     * kvm_get_time_scale(scaled_hz, base_hz): shift and 32-bit mul so that
     * scaling a base_hz count gives scaled_hz units, rounding down.
     */
    kvmGetTimeScale(scaledHz: bigint, baseHz: bigint): { shift: number; mul: number } {
      const f = 'kvmGetTimeScale';
      const s = u64(f, 'scaledHz', scaledHz), b = u64(f, 'baseHz', baseHz);
      if (!x.kvmGetTimeScale(s, b, k.io)) {
        throw new RangeError(`${f}: no (shift, mul) converts baseHz ${b} to scaledHz ${s} (both must be non-zero and within 2^32 of each other)`);
      }
      const dv = k.dv;
      return { shift: dv.getInt32(k.io + 4, true), mul: dv.getUint32(k.io, true) };
    },
    /** kvm_scale_tsc: tsc at the default ratio, else mul_u64_u64_shr(tsc, ratio, fracBits). */
    kvmScaleTsc(tsc: bigint, ratio: bigint, fracBits: FracBits = 48): bigint {
      const f = 'kvmScaleTsc';
      return fromI64(x.kvmScaleTsc(u64(f, 'tsc', tsc), u64(f, 'ratio', ratio), checkFracBits(f, fracBits)));
    },
    /**
     * The ratio set_tsc_khz programs for userKhz on a hostKhz host:
     * mul_u64_u32_div(1 << fracBits, user, host). Throws when KVM rejects it (0 or >= the vendor max).
     */
    kvmTscScalingRatio(userKhz: number, hostKhz: number, fracBits: FracBits = 48): bigint {
      const f = 'kvmTscScalingRatio';
      const u = u32(f, 'userKhz', userKhz), h = nonzeroU32(f, 'hostKhz', hostKhz), fb = checkFracBits(f, fracBits);
      const r = fromI64(x.kvmTscScalingRatio(u, h, fb));
      if (r === 0n) throw new RangeError(`${f}: Invalid TSC scaling ratio for ${u} kHz on a ${h} kHz host (0 or >= the ${fb === 48 ? 'VMX' : 'SVM'} maximum)`);
      return r;
    },
    /** kvm_set_tsc_khz: the decision KVM takes for a requested guest TSC rate. */
    kvmSetTscKhz(options: KvmSetTscKhzOptions): KvmSetTscKhzResult {
      const f = 'kvmSetTscKhz';
      const o = object<KvmSetTscKhzOptions>(f, 'options', options);
      const user = u32(f, 'userKhz', o.userKhz), host = nonzeroU32(f, 'hostKhz', o.hostKhz);
      const fb = checkFracBits(f, o.fracBits ?? 48);
      const ppm = int(f, 'tolerancePpm', o.tolerancePpm ?? 250, 0, 999_999);
      const viaIoctl = o.viaIoctl === undefined ? false : bool(f, 'viaIoctl', o.viaIoctl);
      const code = x.kvmSetTscKhz(user, host, bool(f, 'hasTscControl', o.hasTscControl) ? 1 : 0, fb, ppm, viaIoctl ? 1 : 0, k.io);
      const dv = k.dv, io = k.io;
      return {
        ...SET_TSC_KHZ[code],
        ratio: dv.getBigUint64(io, true),
        virtualTscKhz: viaIoctl && user === 0 ? host : user,
        virtualTscMult: Number(dv.getBigUint64(io + 24, true)),
        virtualTscShift: Number(dv.getBigInt64(io + 32, true)),
        threshLo: dv.getBigUint64(io + 8, true),
        threshHi: dv.getBigUint64(io + 16, true),
        maxGuestTscKhz: dv.getBigUint64(io + 40, true),
      };
    },
    /** kvm_compute_l1_tsc_offset: the offset that makes the guest read targetTsc at host TSC hostTsc. */
    kvmComputeTscOffset(targetTsc: bigint, hostTsc: bigint, ratio: bigint, fracBits: FracBits = 48): bigint {
      const f = 'kvmComputeTscOffset';
      return fromI64(x.kvmComputeTscOffset(u64(f, 'targetTsc', targetTsc), u64(f, 'hostTsc', hostTsc),
        u64(f, 'ratio', ratio), checkFracBits(f, fracBits)));
    },
    /** kvm_read_l1_tsc: kvm_scale_tsc(hostTsc, ratio) + offset, the L1 guest's TSC. */
    kvmReadL1Tsc(hostTsc: bigint, ratio: bigint, offset: bigint, fracBits: FracBits = 48): bigint {
      const f = 'kvmReadL1Tsc';
      return fromI64(x.kvmReadL1Tsc(u64(f, 'hostTsc', hostTsc), u64(f, 'ratio', ratio), u64(f, 'offset', offset),
        checkFracBits(f, fracBits)));
    },
    /** kvm_calc_nested_tsc_offset: L2's offset = (s64)l1 scaled by l2's ratio (toward 0) + l2 offset. */
    kvmCalcNestedTscOffset(l1Offset: bigint, l2Offset: bigint, l2Multiplier: bigint, fracBits: FracBits = 48): bigint {
      const f = 'kvmCalcNestedTscOffset';
      return fromI64(x.kvmCalcNestedTscOffset(u64(f, 'l1Offset', l1Offset), u64(f, 'l2Offset', l2Offset),
        u64(f, 'l2Multiplier', l2Multiplier), checkFracBits(f, fracBits)));
    },
    /** kvm_calc_nested_tsc_multiplier: L2's effective ratio. */
    kvmCalcNestedTscMultiplier(l1Multiplier: bigint, l2Multiplier: bigint, fracBits: FracBits = 48): bigint {
      const f = 'kvmCalcNestedTscMultiplier';
      return fromI64(x.kvmCalcNestedTscMultiplier(u64(f, 'l1Multiplier', l1Multiplier), u64(f, 'l2Multiplier', l2Multiplier),
        checkFracBits(f, fracBits)));
    },
    /** nsec_to_cycles: pvclock_scale_delta(ns, virtual_tsc_mult, virtual_tsc_shift). */
    nsecToCycles(ns: bigint, virtualTscMult: number, virtualTscShift: number): bigint {
      const f = 'nsecToCycles';
      return fromI64(x.nsecToCycles(u64(f, 'ns', ns), u32(f, 'virtualTscMult', virtualTscMult), pvShift(f, 'virtualTscShift', virtualTscShift)));
    },
    /** compute_guest_tsc: this_tsc_write + nsec_to_cycles(kernel_ns - this_tsc_nsec), the catch-up target. */
    computeGuestTsc(kernelNs: bigint, clock: GuestTscClock): bigint {
      const f = 'computeGuestTsc';
      const c = object<GuestTscClock>(f, 'clock', clock);
      return fromI64(x.computeGuestTsc(u64(f, 'kernelNs', kernelNs), u64(f, 'clock.thisTscNsec', c.thisTscNsec),
        u64(f, 'clock.thisTscWrite', c.thisTscWrite), u32(f, 'clock.virtualTscMult', c.virtualTscMult),
        pvShift(f, 'clock.virtualTscShift', c.virtualTscShift)));
    },
  };
}
