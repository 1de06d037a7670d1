// The host: pCPUs whose TSCs count at tscKhz from one epoch (plus a skew per
// pCPU), its two boot-based clocks KVM builds kvmclock on, and suspend/resume
// that resets or rewinds the TSC. Real time t is the simulation's clock (ns
// since the VM started), and the TSC counts exactly tscKhz against it: the
// host's calibrated tsc_khz. CLOCK_MONOTONIC_RAW runs on that same TSC (the
// rounding of its clocksource mult is not modelled); CLOCK_BOOTTIME is
// disciplined by NTP to the true second, which the crystal misses by
// ntpDriftPpb: a masterclock page that extrapolates the TSC at tsc_khz runs
// that far ahead of a page built on CLOCK_BOOTTIME (seed 000's 134 s).
import type { HostSpec } from '../scenario.js';
import { cyclesOf, u64 } from '../units.js';

export class Host {
  readonly name: string;
  readonly khz: number;
  readonly pcpus: number;
  readonly scaling: 'vmx' | 'svm' | 'none';
  readonly clocksource: string;
  /** Skew of each pCPU's TSC against pCPU 0, in cycles. */
  readonly skew: bigint[];
  /** check_tsc_unstable() on this host. */
  tscUnstable: boolean;
  /** TSC of pCPU 0 at real time `epoch`. */
  private tscBase: bigint;
  private epoch = 0n;
  /** Host ns (boot-based) at real time 0. */
  private readonly ns0: bigint;
  /** How far the TSC at tsc_khz runs ahead of the NTP-disciplined clock, in parts per 10^9. */
  readonly ntpDriftPpb: bigint;
  /** Real time until which the host is suspended (its CPUs do not run). */
  suspendedUntil = 0n;

  constructor(spec: HostSpec) {
    this.name = spec.name;
    this.khz = spec.tscKhz;
    this.pcpus = spec.pcpus;
    this.scaling = spec.scaling;
    this.clocksource = spec.clocksource;
    this.skew = Array.from({ length: spec.pcpus }, (_, i) => spec.skew[i] ?? 0n);
    this.tscUnstable = !spec.tscStable;
    this.ns0 = spec.uptime;
    this.ntpDriftPpb = BigInt(spec.ntpDriftPpb);
    this.tscBase = cyclesOf(spec.uptime, spec.tscKhz);
  }

  /** Hardware TSC scaling: kvm_caps.has_tsc_control and its frac bits. */
  get hasTscControl(): boolean { return this.scaling !== 'none'; }
  get fracBits(): 48 | 32 { return this.scaling === 'svm' ? 32 : 48; }
  /** Whether KVM's masterclock may be used: the host clocksource is TSC-based. */
  get tscClocksource(): boolean { return this.clocksource === 'tsc' && !this.tscUnstable; }

  /** rdtsc on pCPU p at real time t. */
  tsc(p: number, t: bigint): bigint {
    return u64(this.tscBase + cyclesOf(t - this.epoch, this.khz) + this.skew[p]);
  }

  /** The (base, epoch) pair for pCPU p: tsc(p, t) = base + cycles(t - epoch). */
  tscLine(p: number): { base: bigint; epoch: bigint } {
    return { base: u64(this.tscBase + this.skew[p]), epoch: this.epoch };
  }

  /** CLOCK_MONOTONIC_RAW + the boot offset (get_kvmclock_base_ns() from 5.5): the TSC at tsc_khz. */
  rawNs(t: bigint): bigint {
    return this.ns0 + t;
  }

  /** CLOCK_BOOTTIME (ktime_get_boot_ns()), NTP-disciplined: t * 10^9 / (10^9 + drift) since real time 0. */
  bootNs(t: bigint): bigint {
    if (this.ntpDriftPpb === 0n) return this.ns0 + t;
    return this.ns0 + (t * 1_000_000_000n) / (1_000_000_000n + this.ntpDriftPpb);
  }

  /** The host's own clock for messages and Xen's NOW(): boot-based ns. */
  ns(t: bigint): bigint {
    return this.bootNs(t);
  }

  /** Suspend at t for d: on resume the TSC restarts from 0 (reset) or from `rewind` cycles back. */
  suspend(t: bigint, d: bigint, mode: 'reset' | 'rewind', rewind: bigint): void {
    const before = this.tsc(0, t);
    this.epoch = t + d;
    this.tscBase = mode === 'reset' ? 0n : u64(before - rewind);
    this.suspendedUntil = t + d;
  }
}
