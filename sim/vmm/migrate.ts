// Live migration and save/restore, as QEMU does them: stop, move the state, create the destination's vCPUs,
// restore the TSC (by value, or by offset: the KVM_VCPU_TSC_OFFSET recipe of
// Documentation/virt/kvm/devices/vcpu.rst) and kvmclock, then continue (docs/model.md, "The VMM").
import { Kvm, KVM_CLOCK_REALTIME } from '../kvm/x86.js';
import { Xen } from '../xen/xen.js';
import type { Host } from '../host/host.js';
import { cyclesOf, nsOf, s64, u64, seconds } from '../units.js';
import type { Procedure } from './port.js';
import type { Vmm } from './vmm.js';

/**
 * Live migration (or save/restore to the same host) with `downtime`. legacy:
 * TSC by value through host MSR writes, kvmclock by KVM_SET_CLOCK at cont.
 * precise: the KVM_VCPU_TSC_OFFSET recipe of Documentation/virt/kvm/devices/vcpu.rst;
 * precise-scaled: the same with the source and destination TSCs scaled to
 * the guest's rate. `window` is the time from restoring the TSC (KVM_PUT_FULL_STATE after the state
 * is loaded) to the first guest entry (cont); the destination VM may sit paused that long.
 */
export function migrateKvm(vmm: Vmm, to: Host, procedure: Procedure, downtime: bigint, window: bigint, n: number, pcpus?: number[]): void {
  const { m } = vmm;
  const tag = `migration${n}`;
  const src = m.kvm;
  const wasRunning = m.vmRunning;
  vmm.stop();
  const { clock: srcClock, tsc: savedTsc } = vmm.saved!;
  const saved = src.vcpus.map((v, i) => ({
    tsc: savedTsc[i], tscAdjust: v.tscAdjust, offset: v.offset, ratio: v.ratio, khz: v.virtualTscKhz,
    kvmclock: v.kvmclockEnabled, page: { ...v.page },
  }));
  const srcRatio0 = src.vcpus[0].ratio, srcFrac = src.host.fracBits;
  // KVM_GET_CLOCK extrapolates from the masterclock snapshot with a 32-bit scale: up to ~0.5 ns of error per second since
  const snapshotAge = src.useMasterClock ? src.baseNs(m.t) - src.masterKernelNs : 0n;
  if (procedure !== 'legacy' && !m.rules.tscOffsetAttr) {
    // QEMU checks for KVM_VCPU_TSC_OFFSET / KVM_CLOCK_REALTIME and falls back
    m.vmmLog(`precise migration unavailable (KVM ${m.rules.name} predates 5.16): legacy`);
    procedure = 'legacy';
  }
  m.vmmLog(`migrate ${procedure} to ${to.name} (downtime ${seconds(downtime)} s)`);
  // Destination: a new VM; QEMU creates its vCPUs and sets the migrated env->tsc_khz on each
  m.advanceTo(m.t + downtime);
  const dst = new Kvm(m.k, to, m.rules, m.t);
  // the reference TSC page is guest memory: it arrives as the source left it
  dst.hvReenlightenment = src.hvReenlightenment;
  dst.hvTscPage = { ...src.hvTscPage };
  m.replaceKvm(dst, to);
  vmm.createVcpus(dst, saved.map((_, i) => pcpus?.[i] ?? Math.min(i, to.pcpus - 1)), saved[0].khz)
    .forEach((v, i) => { v.kvmclockEnabled = saved[i].kvmclock; });
  if (procedure === 'legacy') {
    for (const [i, s] of saved.entries()) {
      dst.writeMsr(dst.vcpus[i], 'IA32_TSC', s.tsc, true, m.t);
      dst.writeMsr(dst.vcpus[i], 'IA32_TSC_ADJUST', s.tscAdjust, true, m.t);
    }
    m.advanceTo(m.t + window);
    vmm.cont(true, true);
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
    vmm.cont(true, false);
  }
  if (!wasRunning) vmm.stop();
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
export function migrateXen(vmm: Vmm, src: Xen, to: Host, downtime: bigint, n: number, pcpus?: number[]): void {
  const { m } = vmm;
  const tag = `migration${n}`;
  m.guestXenSuspend();
  const before = m.guestClocks();
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
  m.guestXenResume(before);
  const g = dst.readTsc(dst.vcpus[0], m.t);
  m.measure(`${tag}.guestTscJumpCycles`, s64(g - saved[0]));
  m.measure(`${tag}.xenSystemTimeJumpNs`, s64(dst.vcpus[0].page.systemTime - before.kvmclock));
  m.measure('xen.incarnation', BigInt(dst.incarnation));
}
