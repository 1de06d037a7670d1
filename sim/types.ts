// What a run produces: the log the guest (and host, VMM) printed, the
// structured anomalies, and named measurements.
import type { StepRecord } from './vmm/step-defs.js';

/** The guest clocks the observer judges (hv-reference: the Hyper-V reference time, 100 ns units). */
export type SimClock = 'tsc' | 'kvmclock' | 'sched_clock' | 'monotonic' | 'hv-reference';

export type AnomalyType =
  | 'time-backwards' | 'time-jump' | 'time-stall'
  | 'tsc-warp' | 'tsc-adjust-compensate' | 'tsc-unstable' | 'masterclock-off'
  | 'soft-lockup' | 'rcu-stall' | 'hung-task'
  /** The Hyper-V TSC page and the reference counter disagree by more than one 100 ns unit. */
  | 'hv-page-mismatch';

export interface Anomaly {
  type: AnomalyType;
  /** Real time (ns since the VM started) it was first seen. */
  t: bigint;
  /** Real time it was last seen (merged runs of the same anomaly). */
  until: bigint;
  vcpu?: number;
  clock?: SimClock;
  /** Across vCPUs while the clock claims PVCLOCK_TSC_STABLE_BIT (or for CLOCK_MONOTONIC, always). */
  across?: boolean;
  /** The size: ns for time anomalies, cycles for warps and adjustments, 2^30-ns units for soft lockups. */
  size: bigint;
  unit: 'ns' | 'cycles' | 'units' | 's' | '100ns';
  /** How many observations were merged into this one. */
  count: number;
  reason?: string;
}

export interface LogLine {
  /** Real time (ns). */
  t: bigint;
  source: 'guest' | 'kvm' | 'vmm';
  vcpu?: number;
  /** The printk timestamp (the guest's local_clock on that vCPU). */
  stamp?: bigint;
  text: string;
}

export interface RunResult {
  scenario: string;
  seed: bigint;
  log: LogLine[];
  anomalies: Anomaly[];
  measurements: Record<string, bigint>;
  /** Periodic reads the Wasm loop did, and simulated events handled. */
  stats: { reads: bigint; events: number };
  /** The VMM steps taken (sim/vmm/steps.ts): arguments, what KVM returned or its errno (present when any ran). */
  steps?: StepRecord[];
  /** KVM's tracepoints as `trace-cmd report` prints them (present when tracing was on: `tsclab run --tracepoints`). */
  tracepoints?: string[];
}
