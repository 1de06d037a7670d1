// The VMM (QEMU-like): what userspace does to KVM for stop/cont, migration
// (legacy and precise), save/restore and vCPU hot-add. It talks to KVM only
// through the ioctls and MSR writes a VMM has.
import type { Machine } from './machine.js';
import type { KvmClockData } from './kvm.js';
import { Kvm, KVM_CLOCK_REALTIME } from './kvm.js';
import { Xen } from './xen.js';
import type { Host } from './host.js';
import { cyclesOf, nsOf, s64, u64, seconds } from './units.js';

export type Procedure = 'legacy' | 'precise' | 'precise-scaled';

export class Vmm {
  /** The kvmclock QEMU saved at stop (KVM_GET_CLOCK), for SET_CLOCK at cont. */
  savedClock: KvmClockData | null = null;
  private migrations = 0;

  constructor(readonly m: Machine) {}

  /** vm_stop: every vCPU leaves the CPU; QEMU reads the clock (kvmclock_vm_state_change). */
  stop(): void {
    const { m } = this;
    if (!m.vmRunning) return;
    for (const v of m.kvm.vcpus) if (v.running) m.kvm.vcpuPut(v, m.t);
    m.vmRunning = false;
    this.savedClock = m.kvm.getClock(m.t, m.wallNs());
    m.vmmLog(`stop: KVM_GET_CLOCK = ${this.savedClock.clock} ns${this.savedClock.flags & 2 ? ' (TSC_STABLE)' : ''}`);
  }

  /** vm_start: KVM_SET_CLOCK with the saved clock (no REALTIME), KVMCLOCK_CTRL, vCPUs run. */
  cont(kvmclockCtrl: boolean, setClock = true): void {
    const { m } = this;
    if (m.vmRunning) return;
    if (setClock && this.savedClock) {
      m.kvm.setClock(m.t, { clock: this.savedClock.clock, flags: 0, realtime: 0n, hostTsc: 0n }, m.wallNs());
      m.vmmLog(`cont: KVM_SET_CLOCK ${this.savedClock.clock} ns`);
    }
    m.vmRunning = true;
    for (const v of m.kvm.vcpus) {
      if (kvmclockCtrl && v.kvmclockEnabled && !m.xen) {
        m.kvm.kvmclockCtrl(v, m.t);
        m.guest.touch(v.id, m.t + 2n * m.period);
      }
      m.kvm.vcpuLoad(v, v.pcpu, m.t);
    }
  }

  /**
   * Live migration (or save/restore to the same host) with `downtime`. legacy:
   * TSC by value through host MSR writes, kvmclock by KVM_SET_CLOCK at cont.
   * precise: the KVM_VCPU_TSC_OFFSET recipe of Documentation/virt/kvm/devices/vcpu.rst;
   * precise-scaled: the same with the source and destination TSCs scaled to
   * the guest's rate. `window` is the time from restoring the TSC to the first
   * guest entry.
   */
  migrate(to: Host, procedure: Procedure, downtime: bigint, window: bigint, pcpus?: number[]): void {
    const { m } = this;
    if (m.xen) { this.migrateXen(m.xen, to, downtime, pcpus); return; }
    const n = ++this.migrations;
    const tag = `migration${n}`;
    const src = m.kvm;
    const wasRunning = m.vmRunning;
    this.stop();
    const srcClock = this.savedClock!;
    const saved = src.vcpus.map((v) => ({
      tsc: src.readTsc(v, m.t), tscAdjust: v.tscAdjust, offset: v.offset, ratio: v.ratio, khz: v.virtualTscKhz,
      kvmclock: v.kvmclockEnabled, page: { ...v.page },
    }));
    const srcRatio0 = src.vcpus[0].ratio, srcFrac = src.host.fracBits;
    // KVM_GET_CLOCK extrapolates from the masterclock snapshot with a 32-bit scale: up to ~0.5 ns of error per second since
    const snapshotAge = src.useMasterClock ? src.host.ns(m.t) - src.masterKernelNs : 0n;
    if (procedure !== 'legacy' && !m.rules.tscOffsetAttr) {
      // QEMU checks for KVM_VCPU_TSC_OFFSET / KVM_CLOCK_REALTIME and falls back
      m.vmmLog(`precise migration unavailable (KVM predates 5.16): legacy`);
      procedure = 'legacy';
    }
    m.vmmLog(`migrate ${procedure} to ${to.name} (downtime ${seconds(downtime)} s)`);
    // Destination: a new VM, its vCPUs created at the source's guest TSC rate
    m.advanceTo(m.t + downtime);
    const dst = new Kvm(m.k, to, m.rules.name, saved[0].khz, m.t);
    // the reference TSC page is guest memory: it arrives as the source left it
    dst.hvReenlightenment = src.hvReenlightenment;
    dst.hvTscPage = { ...src.hvTscPage };
    m.replaceKvm(dst, to);
    for (const [i, s] of saved.entries()) {
      const v = dst.createVcpu(m.t, pcpus?.[i] ?? Math.min(i, to.pcpus - 1));
      v.kvmclockEnabled = s.kvmclock;
    }
    if (procedure === 'legacy') {
      for (const [i, s] of saved.entries()) {
        dst.writeMsr(dst.vcpus[i], 'IA32_TSC', s.tsc, true, m.t);
        dst.writeMsr(dst.vcpus[i], 'IA32_TSC_ADJUST', s.tscAdjust, true, m.t);
      }
      m.advanceTo(m.t + window);
      this.cont(true, true);
    } else {
      // KVM_SET_CLOCK{clock, realtime, REALTIME}: the downtime passes on kvmclock too -- when the source gave a
      // realtime (it does only under its masterclock); without one the clock resumes where it stopped
      const realtime = (srcClock.flags & KVM_CLOCK_REALTIME) !== 0;
      if (!realtime) m.vmmLog('source KVM_GET_CLOCK had no KVM_CLOCK_REALTIME (no masterclock): the downtime is not added');
      dst.setClock(m.t, { clock: srcClock.clock, flags: realtime ? KVM_CLOCK_REALTIME : 0, realtime: srcClock.realtime, hostTsc: 0n }, m.wallNs());
      const d = dst.getClock(m.t, m.wallNs());
      const elapsedCycles = (khz: number) => cyclesOf(s64(d.clock - srcClock.clock), khz);
      for (const [i, s] of saved.entries()) {
        const v = dst.vcpus[i];
        // ofs_dst = ofs_src - (guest_src - guest_dest) * freq + (tsc_src - tsc_dest)
        let tscDiff = srcClock.hostTsc - d.hostTsc;
        if (procedure === 'precise-scaled') {
          tscDiff = m.k.kvmScaleTsc(srcClock.hostTsc, srcRatio0, srcFrac) - m.k.kvmScaleTsc(d.hostTsc, v.ratio, to.fracBits);
        }
        const ofs = u64(s.offset + elapsedCycles(s.khz) + tscDiff);
        dst.setTscOffset(v, ofs, m.t);
        dst.writeMsr(v, 'IA32_TSC_ADJUST', s.tscAdjust, true, m.t);
      }
      m.advanceTo(m.t + window);
      this.cont(true, false);
    }
    if (!wasRunning) this.stop();
    // kvmclock at the same guest TSC -- the destination page's own tsc_timestamp -- by the source page and by it
    const page = dst.vcpus[0].page;
    const before = m.k.pvclockReadCycles(saved[0].page, page.tscTimestamp);
    m.measure(`${tag}.kvmclockDeltaAtSameTscNs`, s64(page.systemTime - before));
    // the procedure's own error: the destination page against the source host's KVM_GET_CLOCK, at the same guest TSC
    const gAtGet = src.k.kvmReadL1Tsc(srcClock.hostTsc, saved[0].ratio, saved[0].offset, srcFrac);
    const fromSource = srcClock.clock + nsOf(page.tscTimestamp - gAtGet, saved[0].khz);
    m.measure(`${tag}.kvmclockDeltaVsSourceClockNs`, s64(page.systemTime - fromSource));
    m.measure(`${tag}.sourceSnapshotAgeNs`, snapshotAge);
    // the recipe assumes the destination runs the guest TSC at KVM_GET_TSC_KHZ; within +-250 ppm KVM does not scale,
    // so the guest TSC runs at the host's rate: the error is that rate difference over the downtime
    const effKhz = to.hasTscControl ? m.k.kvmScaleTsc(BigInt(to.khz), dst.vcpus[0].ratio, to.fracBits) : BigInt(to.khz);
    const rateDiff = effKhz > BigInt(saved[0].khz) ? effKhz - BigInt(saved[0].khz) : BigInt(saved[0].khz) - effKhz;
    m.measure(`${tag}.rateToleranceNs`, (rateDiff * (downtime + window)) / BigInt(saved[0].khz) + 1n);
    // what the guest sees at its first entry: how far its TSC and its kvmclock moved across the migration
    const g = dst.readTsc(dst.vcpus[0], m.t);
    m.measure(`${tag}.guestTscJumpCycles`, s64(g - saved[0].tsc));
    m.measure(`${tag}.kvmclockAdvanceNs`, s64(m.k.pvclockReadCycles(page, g) - srcClock.clock));
    m.measure(`${tag}.masterclock`, dst.useMasterClock ? 1n : 0n);
    m.measure(`${tag}.stable`, dst.stableBit() ? 1n : 0n);
  }

  /**
   * xl migrate / save-restore of a PV domain: the guest freezes, the domain is rebuilt on `to` (its time
   * records now carry that host's NOW()), rdtsc per tsc_mode, the guest resumes: pvclock_resume() resets
   * last_value and timekeeping resumes from the new clock; sched_clock continues only with the offset rule.
   */
  private migrateXen(src: Xen, to: Host, downtime: bigint, pcpus?: number[]): void {
    const { m } = this;
    const n = ++this.migrations, tag = `migration${n}`;
    m.guest.printk(0, 'Freezing user space processes ... (elapsed 0.00 seconds) done.');
    const before = m.read(0);
    const saved = src.vcpus.map((v) => src.readTsc(v, m.t));
    for (const v of src.vcpus) if (v.running) src.vcpuPut(v, m.t);
    m.vmRunning = false;
    m.vmmLog(`xl migrate to ${to.name} (downtime ${seconds(downtime)} s, tsc_mode ${src.tscMode})`);
    m.advanceTo(m.t + downtime);
    // default mode: a restored or migrated PV domain is emulated from then on
    const emulated = src.tscMode === 1 || src.tscMode === 0;
    const dst = new Xen(m.k, to, src.tscMode, m.t, src.originalKhz, emulated);
    dst.incarnation = src.incarnation + (src.tscMode === 3 ? 1 : 0);
    m.replaceKvm(dst, to);
    saved.forEach((g, i) => {
      const v = dst.createVcpu(m.t, pcpus?.[i] ?? Math.min(i, to.pcpus - 1));
      v.kvmclockEnabled = true;
      // emulated: the counter resumes at the saved value (only >= last + 1 is promised); native: the host's TSC
      if (dst.emulated) v.offset = dst.k.kvmComputeTscOffset(g + 1n, to.tsc(v.pcpu, m.t), v.ratio, to.fracBits);
    });
    m.vmRunning = true;
    for (const v of dst.vcpus) dst.vcpuLoad(v, v.pcpu, m.t);
    m.guest.xenResume(before);
    // NOW() is the new host's uptime: the kernel re-bases across the restore, so the raw clock's step is not a jump
    // (sched_clock and CLOCK_MONOTONIC stay checked: they are what the guest promises)
    dst.vcpus.forEach((v, i) => m.k.simRebaseKvmclock(i, m.read(i).kvmclock));
    m.guest.printk(0, 'Restarting tasks ... done.');
    const g = dst.readTsc(dst.vcpus[0], m.t);
    m.measure(`${tag}.guestTscJumpCycles`, s64(g - saved[0]));
    m.measure(`${tag}.xenSystemTimeJumpNs`, s64(dst.vcpus[0].page.systemTime - before.kvmclock));
    m.measure('xen.incarnation', BigInt(dst.incarnation));
  }
}
