// The host: pCPUs whose TSCs count at tscKhz from one epoch (plus a skew per
// pCPU), a CLOCK_MONOTONIC_RAW + boot offset that KVM calls
// get_kvmclock_base_ns(), and suspend/resume that resets or rewinds the TSC.
// Real time t is the simulation's clock (ns since the VM started). The host's
// ns clock is taken to be exact; the rounding of its own clocksource mult is
// not modelled.
import type { HostSpec } from './scenario.js';
import { cyclesOf, u64 } from './units.js';

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

  /** get_kvmclock_base_ns(): host boot-based ns at real time t. */
  ns(t: bigint): bigint {
    return this.ns0 + t;
  }

  /** Suspend at t for d: on resume the TSC restarts from 0 (reset) or from `rewind` cycles back. */
  suspend(t: bigint, d: bigint, mode: 'reset' | 'rewind', rewind: bigint): void {
    const before = this.tsc(0, t);
    this.epoch = t + d;
    this.tscBase = mode === 'reset' ? 0n : u64(before - rewind);
    this.suspendedUntil = t + d;
  }
}
