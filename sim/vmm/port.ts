// What the VMM sees of the machine: KVM (its ioctls), the hosts, real time, and where its log goes. The machine
// (sim/machine.ts) implements it; the VMM never imports the machine.
import type { Kernel } from '../../bindings/index.js';
import type { Scenario } from '../scenario.js';
import type { Kvm, Rules } from '../kvm/x86.js';
import type { Xen } from '../xen/xen.js';
import type { Host } from '../host/host.js';

export type Procedure = 'legacy' | 'precise' | 'precise-scaled';

/** What the VMM sees of the machine: KVM (its ioctls), the hosts, real time, and where its log goes. */
export interface VmmPort {
  readonly k: Kernel;
  readonly s: Scenario;
  readonly rules: Rules;
  kvm: Kvm;
  host: Host;
  /** Real time now. */
  t: bigint;
  vmRunning: boolean;
  readonly xen: Xen | null;
  wallNs(): bigint;
  vmmLog(text: string): void;
  measure(name: string, value: bigint): void;
  /** Real time passes to t (the VM may be stopped). */
  advanceTo(t: bigint): void;
  /** The VM now lives in another KVM instance (a migration's destination). */
  replaceKvm(kvm: Kvm, host: Host): void;
  /** The guest's printk on cpu. */
  guestPrintk(cpu: number, text: string): void;
  /** vCPU 0's kvmclock and CLOCK_MONOTONIC now, as the guest reads them. */
  guestClocks(): { kvmclock: bigint; monotonic: bigint };
  /** A Xen PV guest's do_suspend() up to the suspend hypercall (its lines). */
  guestXenSuspend(): void;
  /** A Xen PV guest resumes after a restore (re-basing its clocks as its kernel does). */
  guestXenResume(before: { kvmclock: bigint; monotonic: bigint }): void;
}
