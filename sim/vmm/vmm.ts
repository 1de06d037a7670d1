// The VMM (QEMU): what userspace does to KVM to create the VM and its vCPUs,
// hot-add one, stop and continue it, and migrate or save/restore it (legacy
// and precise). It talks to KVM only through the ioctls and MSR writes a VMM
// has, in QEMU's order (target/i386/kvm/kvm.c, hw/i386/kvm/clock.c; docs/model.md).
import type { KvmClockData, KvmVcpu, Kvm } from '../kvm/x86.js';
import { KVM_CLOCK_TSC_STABLE } from '../kvm/x86.js';
import type { Host } from '../host/host.js';
import type { PvclockTimeInfo } from '../../bindings/index.js';
import type { Procedure, VmmPort } from './port.js';

export type { Procedure, VmmPort } from './port.js';
import { migrateKvm, migrateXen } from './migrate.js';

/** What QEMU holds while the VM is stopped: the clock it read, each vCPU's TSC (env->tsc), vCPU 0's pvclock page. */
export interface Saved { clock: KvmClockData; tsc: bigint[]; page0: Required<PvclockTimeInfo> }

export class Vmm {
  /** Saved at stop (kvmclock_vm_state_change, kvm_synchronize_all_tsc), used at cont. */
  saved: Saved | null = null;
  private migrations = 0;

  constructor(readonly m: VmmPort) {}

  /**
   * The rate QEMU sets on a vCPU it creates: env->tsc_khz when the user gave tsc-frequency; with the VM-wide ioctl,
   * the VM's own rate (the first host's unless configured); otherwise none (the vCPU keeps the host's).
   */
  get configuredKhz(): number | null {
    return this.m.s.vm.tscKhz ?? (this.m.s.vm.vmm.vmWideTscKhz ? this.m.s.hosts.find((h) => h.name === this.m.s.vm.host)!.tscKhz : null);
  }

  /**
   * vCPUs as QEMU creates them: each KVM_CREATE_VCPU (KVM writes TSC 0 at the host's rate) followed by
   * KVM_SET_TSC_KHZ to env->tsc_khz when QEMU knows one; then, for all of them in turn, the reset's MSR writes
   * (IA32_TSC = 0, IA32_TSC_ADJUST = 0). At machine start every creation comes before every reset, so the resets
   * match one another; a hot-added CPU's creation and reset come together (the Huawei 2021 report).
   */
  createVcpus(kvm: Kvm, pcpus: number[], khz: number | null): KvmVcpu[] {
    const { m } = this;
    if (m.s.vm.vmm.vmWideTscKhz && !kvm.vcpus.length && khz !== null && kvm.has('ffbb61d09fc5')) kvm.setDefaultTscKhz(khz);
    const vs = pcpus.map((pcpu) => {
      const v = kvm.createVcpu(m.t, pcpu);
      if (khz !== null && khz !== v.virtualTscKhz) kvm.setTscKhz(v, khz, m.t);
      return v;
    });
    for (const v of vs) {
      kvm.writeMsr(v, 'IA32_TSC', 0n, true, m.t);
      kvm.writeMsr(v, 'IA32_TSC_ADJUST', 0n, true, m.t);
    }
    return vs;
  }

  /** vm_stop: every vCPU leaves the CPU; QEMU reads each TSC (env->tsc) and the clock (KVM_GET_CLOCK). */
  stop(): void {
    const { m } = this;
    if (!m.vmRunning) return;
    for (const v of m.kvm.vcpus) if (v.running) m.kvm.vcpuPut(v, m.t);
    m.vmRunning = false;
    const clock = m.kvm.getClock(m.t, m.wallNs());
    this.saved = { clock, tsc: m.kvm.vcpus.map((v) => m.kvm.readTsc(v, m.t)), page0: { ...m.kvm.vcpus[0].page } };
    m.vmmLog(`stop: KVM_GET_CLOCK = ${clock.clock} ns${clock.flags & KVM_CLOCK_TSC_STABLE ? ' (TSC_STABLE)' : ''}`);
  }

  /**
   * The kvmclock QEMU sets at cont: the KVM_GET_CLOCK value when KVM flagged it reliable (KVM_CLOCK_TSC_STABLE),
   * else vCPU 0's pvclock page in guest memory read at the TSC saved at stop (kvmclock_current_nsec, QEMU 2.9+).
   */
  private contClock(saved: Saved): bigint {
    if (saved.clock.flags & KVM_CLOCK_TSC_STABLE || this.m.s.vm.vmm.qemu === '<2.9') return saved.clock.clock;
    const fromMemory = this.m.k.pvclockReadCycles(saved.page0, saved.tsc[0]);
    return saved.page0.tscToSystemMul ? fromMemory : saved.clock.clock;
  }

  /** vm_start: KVM_SET_CLOCK with the saved clock (no REALTIME), KVM_KVMCLOCK_CTRL on every vCPU, vCPUs run. */
  cont(kvmclockCtrl: boolean, setClock = true): void {
    const { m } = this;
    if (m.vmRunning) return;
    if (setClock && this.saved) {
      const clock = this.contClock(this.saved);
      m.kvm.setClock(m.t, { clock, flags: 0, realtime: 0n, hostTsc: 0n }, m.wallNs());
      m.vmmLog(`cont: KVM_SET_CLOCK ${clock} ns`);
    }
    m.vmRunning = true;
    for (const v of m.kvm.vcpus) {
      if (kvmclockCtrl && v.kvmclockEnabled && !m.xen) {
        m.kvm.kvmclockCtrl(v, m.t);
      }
      m.kvm.vcpuLoad(v, v.pcpu, m.t);
    }
  }

  /** Live migration or save/restore (sim/vmm/migrate.ts). */
  migrate(to: Host, procedure: Procedure, downtime: bigint, window: bigint, pcpus?: number[]): void {
    const n = ++this.migrations;
    if (this.m.xen) migrateXen(this, this.m.xen, to, downtime, n, pcpus);
    else migrateKvm(this, to, procedure, downtime, window, n, pcpus);
  }
}
