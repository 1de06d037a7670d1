// The old read-loop engine, kept only for the comparison with the event-driven one (scripts/compare-engines.ts):
// host -> KVM -> guest Linux, driven by the VMM's actions on a timeline; between two events the state is
// fixed and the guest's periodic clock reads run in Wasm (observe.ts), its detectors judging the gaps between
// reads. Same scenario and seed -> the same log, anomalies and measurements.
import { createKernel, type Kernel, type SimRecord } from '../../bindings/index.js';
import { Host } from '../host.js';
import { Kvm, rulesFor, type Rules } from '../kvm/x86.js';
import { Guest, type GuestPort } from './guest.js';
import { Vmm, type VmmPort } from '../vmm.js';
import { ksmMerge } from '../ksm.js';
import { Xen } from '../xen.js';
import type { Scenario, ScenarioEvent } from '../scenario.js';
import type { Anomaly, LogLine, RunResult } from '../types.js';
import { splitmix64 } from '../units.js';

/** Wall clock (CLOCK_REALTIME) at real time 0: 2026-01-01T00:00:00Z. Hosts are taken to agree on it. */
const WALL0 = 1_767_225_600n * 1_000_000_000n;
const SYNC_PERIOD = 300n * 1_000_000_000n; // KVMCLOCK_SYNC_PERIOD

interface Pending { t: bigint; run: () => void }

let shared: Kernel | undefined;

export class LegacyMachine implements GuestPort, VmmPort {
  readonly k: Kernel;
  readonly hosts = new Map<string, Host>();
  readonly rules: Rules;
  host: Host;
  kvm: Kvm;
  readonly guest: Guest;
  readonly vmm: Vmm;
  t = 0n;
  vmRunning = true;
  readonly period: bigint;
  readonly logLines: LogLine[] = [];
  readonly anomalies: Anomaly[] = [];
  readonly measurements: Record<string, bigint> = {};
  private queue: Pending[] = [];
  private reads = 0n;
  private events = 0;
  private rng: bigint;
  /** When the guest's NTP daemon looks at its clock's rate again (see Guest.ntpTrack). */
  private ntpCheckAt: bigint | null = null;

  /** With tracing on: each vCPU's last-read clocks every `traceEvery` of real time (from the run's own reads). */
  readonly trace: { t: bigint; vcpu: number; tsc: bigint; kvmclock: bigint; schedClock: bigint; monotonic: bigint }[] = [];
  traceEvery: bigint | null = null;
  /** Called as real time advances (after each event): how far the run is, of how long. */
  onProgress: ((done: bigint, total: bigint) => void) | null = null;

  constructor(readonly s: Scenario, kernel?: Kernel) {
    this.k = kernel ?? (shared ??= createKernel());
    this.k.simReset();
    for (const h of s.hosts) this.hosts.set(h.name, new Host(h));
    this.host = this.hosts.get(s.vm.host)!;
    this.rules = rulesFor(s.vm.kvm.rules, s.vm.kvm.commits);
    this.period = s.observe.period;
    this.rng = s.seed;
    const kvm = s.vm.hypervisor === 'xen'
      ? new Xen(this.k, this.host, s.vm.xen.tscMode, 0n, s.vm.tscKhz)
      : new Kvm(this.k, this.host, this.rules, 0n);
    kvm.hvReenlightenment = s.vm.guest.hvReenlightenment;
    this.kvm = kvm;
    this.wireKvm(kvm);
    this.guest = new Guest(s.vm.guest, this);
    this.guest.xenNonstopTsc = s.vm.xen.cpuidNonstopTsc;
    this.vmm = new Vmm(this);
  }

  // ---- GuestPort: what the guest sees of the machine -------------------------
  now(): bigint { return this.t; }
  spend(ns: bigint): void { this.t += ns; }
  vcpuCount(): number { return this.kvm.vcpus.length; }
  seed(): bigint { return this.s.seed; }
  running(i: number): boolean { return this.vmRunning && (this.kvm.vcpus[i]?.running ?? false); }
  clocksourceDriftPpb(cs: 'kvm-clock' | 'tsc'): bigint {
    // the TSC, and kvmclock pages extrapolated from it, run at the host's tsc_khz: ahead of true time by its drift;
    // without a masterclock, pages built on the NTP-disciplined CLOCK_BOOTTIME follow true time on average
    const onBoottime = !this.kvm.has('53fafdbb8b21') && !this.kvm.useMasterClock;
    return cs === 'kvm-clock' && onBoottime ? 0n : this.host.ntpDriftPpb;
  }
  read(i: number) { this.syncAll(); return this.k.simRead(i, this.t); }
  warpCpu(i: number) {
    const v = this.kvm.vcpus[i];
    return { ratio: v.ratio, offset: v.offset, skew: BigInt.asIntN(64, this.host.skew[Math.max(v.pcpu, 0)]) };
  }
  hostTscNow(): bigint { return this.host.tsc(0, this.t) - this.host.skew[0]; }
  hostKhz(): number { return this.host.khz; }
  calibrateTscKhz(): number {
    return Number(this.k.kvmScaleTsc(BigInt(this.host.khz), this.kvm.vcpus[0].ratio, this.host.fracBits));
  }
  fracBits(): 48 | 32 { return this.host.fracBits; }
  wrmsr(i: number, msr: 'IA32_TSC' | 'IA32_TSC_ADJUST', value: bigint): void {
    this.kvm.writeMsr(this.kvm.vcpus[i], msr, value, false, this.t);
    this.syncAll();
  }
  rdmsrTscAdjust(i: number): bigint { return this.kvm.vcpus[i].tscAdjust; }
  guestChanged(): void { this.syncGuest(); }
  hypervisor(): 'kvm' | 'xen' { return this.xen ? 'xen' : 'kvm'; }
  pvclockResume(): void { this.k.simSetClamp(0n, this.guest.validFlags); }
  page(i: number) { return this.kvm.vcpus[i].page; }
  log(line: LogLine): void { this.logLines.push(line); }
  anomaly(a: Omit<Anomaly, 'until' | 'count'> & Partial<Pick<Anomaly, 'count'>>): void {
    this.anomalies.push({ count: 1, until: a.t, ...a });
  }

  guestStopped(v: number): void { this.guest.touch(v, this.t + 2n * this.period); }
  guestPrintk(cpu: number, text: string): void { this.guest.printk(cpu, text); }
  guestClocks(): { kvmclock: bigint; monotonic: bigint } { return this.read(0); }
  guestXenResume(before: { kvmclock: bigint; monotonic: bigint }): void {
    this.guest.xenResume(before);
    // NOW() is the new host's uptime: the kernel re-bases across the restore, so the raw clock's step is not a jump
    this.kvm.vcpus.forEach((_, i) => this.k.simRebaseKvmclock(i, this.read(i).kvmclock));
  }

  /** The Xen model when the VM runs on Xen. */
  get xen(): Xen | null { return this.kvm instanceof Xen ? this.kvm : null; }

  // ---- what the VMM and the guest use -------------------------------------------
  wallNs(): bigint { return WALL0 + this.t; }
  vmmLog(text: string): void { this.logLines.push({ t: this.t, source: 'vmm', text }); }
  measure(name: string, value: bigint): void { this.measurements[name] = value; }
  /** Real time passes while the VM is stopped (nothing to observe). */
  advanceTo(t: bigint): void { this.observeTo(t); }
  replaceKvm(kvm: Kvm, host: Host): void { this.drainKvm(); this.kvm = kvm; this.host = host; this.wireKvm(kvm); }

  /** KVM's delayed work (kvmclock_update_work) runs on the timeline, for this KVM instance only. */
  private wireKvm(kvm: Kvm): void {
    kvm.defer = (t, fn) => this.at(t, () => { if (this.kvm === kvm) fn(this.t); });
  }

  // ---- the Wasm tables -------------------------------------------------------------
  private syncVcpu(i: number): void {
    const v = this.kvm.vcpus[i];
    const line = this.host.tscLine(Math.max(v.pcpu, 0));
    this.k.simSetVcpu(i, {
      online: this.guest.online[i] ?? false, running: v.running && this.vmRunning, kvmclock: v.kvmclockEnabled,
      hostBase: line.base, hostEpoch: line.epoch, hostKhz: this.host.khz, ratio: v.ratio, offset: v.offset,
      fracBits: this.host.fracBits, page: v.page,
    });
  }
  /** do_timer duty: the first online vCPU that is running (vCPU 0 when none is). */
  private tickCpu(): number {
    const i = this.kvm.vcpus.findIndex((v, j) => v.running && this.guest.online[j]);
    return i < 0 ? 0 : i;
  }
  syncAll(): void {
    for (let i = 0; i < this.kvm.vcpus.length; i++) this.syncVcpu(i);
    this.k.simSetHvPage({ on: this.s.vm.guest.hypervClock, ...this.kvm.hvTscPage });
    this.k.simStateChanged(this.t, this.tickCpu());
  }
  /** The guest's NTP daemon looks at its clock's rate (after each event, and when a new rate has lasted long enough). */
  private ntpCheck(): void {
    const again = this.guest.ntpTrack(this.t);
    if (again !== null && again !== this.ntpCheckAt) {
      this.ntpCheckAt = again;
      this.at(again, () => this.ntpCheck());
    }
  }

  private syncGuest(): void {
    const g = this.guest, mask = (1n << 64n) - 1n;
    const cs = g.csReg();
    this.k.simSetGuest({
      schedMode: g.schedMode, schedStable: g.schedStable, schedOffset: g.schedOffset, schedMul: g.schedMul, schedShift: g.schedShift,
      stableOffset: 0n, csMode: g.clocksource === 'tsc' ? 'tsc' : 'kvmclock', csMult: cs.mult, csShift: cs.shift, csMask: mask,
      tkCycles: g.tk.cycles, tkNs: g.tk.ns, tkMaxRaw: g.spec.maxRawDelta ? (mask >> 1n) + (mask >> 2n) + (mask >> 3n) : 0n,
      slackNs: 1_000_000n, tickNs: g.tickNs, gapNs: 1_000_000_000n,
    });
    // kvm-clock (no MUST_VERIFY) watches tsc while tsc is a candidate and not trusted by tsc=reliable
    const watched = g.spec.kvmclock && !g.tscUnstable && !g.spec.tscReliable;
    this.k.simSetWatchdog({ on: watched, marginNs: g.watchdogMarginNs, intervalNs: 500_000_000n,
      tscMult: g.tscReg.mult, tscShift: g.tscReg.shift, next: this.t + 500_000_000n });
    this.k.simStateChanged(this.t, this.tickCpu());
  }
  /** The guest may have cleared GUEST_STOPPED in its pages: KVM keeps the guest's copy of that bit. */
  private pullPageFlags(): void {
    this.kvm.vcpus.forEach((v, i) => { v.page.flags = this.k.simPageFlags(i); });
  }

  // ---- the timeline ------------------------------------------------------------------
  at(t: bigint, run: () => void): void {
    // kept sorted by time, then by scheduling order: insert after every entry at or before t
    const q = this.queue;
    let lo = 0, hi = q.length;
    while (lo < hi) { const mid = (lo + hi) >>> 1; if (q[mid].t <= t) lo = mid + 1; else hi = mid; }
    q.splice(lo, 0, { t, run });
  }

  private observeTo(tEnd: bigint): void {
    let resume = 0n; // after an early stop: the round goes on from the next vCPU
    for (;;) {
      const from = this.t > this.s.observe.from ? this.t : this.s.observe.from;
      if (!(tEnd > from && this.vmRunning)) break;
      const start = resume ? (resume / this.period) * this.period : ((from + this.period - 1n) / this.period) * this.period;
      if (!(tEnd > start)) break;
      const { records, reads, stoppedAt, full } = this.k.simObserve(this.kvm.vcpus.length, start, tEnd, this.period, resume);
      this.reads += reads;
      this.recordAnomalies(records);
      const verdict = stoppedAt !== null && !full; // a watchdog verdict: the guest reacts at that instant
      if (verdict) this.t = stoppedAt;
      this.guest.detect(records);
      if (stoppedAt === null) break;
      resume = stoppedAt + 1n;
      if (!verdict) continue; // a full record buffer, handed over: read on, nothing changed
      this.syncAll();
      this.t = resume;
    }
    if (tEnd > this.t) this.t = tEnd;
  }

  /** observeTo, in steps of traceEvery when tracing, noting each vCPU's last reads after each step. */
  private observeTraced(tEnd: bigint): void {
    if (this.traceEvery === null) {
      if (!this.onProgress) { this.observeTo(tEnd); return; }
      // progress in steps of whole read periods (the same reads as one call)
      const step = ((this.s.until / 200n) / this.period + 1n) * this.period;
      for (let c = (this.t / this.period + 1n) * this.period + step; c < tEnd; c += step) { this.observeTo(c); this.onProgress(this.t, this.s.until); }
      this.observeTo(tEnd);
      return;
    }
    const note = () => this.kvm.vcpus.forEach((_, i) => {
      const l = this.k.simLast(i);
      const last = this.trace.findLast((p) => p.vcpu === i);
      if (l.t !== 0n && (!last || last.t !== l.t)) this.trace.push({ t: l.t, vcpu: i, tsc: l.tsc, kvmclock: l.kvmclock, schedClock: l.schedClock, monotonic: l.monotonic });
    });
    // steps of whole read periods, on the period grid: the reads are exactly those of an untraced run
    const from = this.t > this.s.observe.from ? this.t : this.s.observe.from;
    const step = this.traceEvery > this.period ? (this.traceEvery / this.period) * this.period : this.period;
    for (let c = (from / this.period + 1n) * this.period + step; c < tEnd; c += step) { this.observeTo(c); note(); }
    this.observeTo(tEnd);
    note();
  }

  private recordAnomalies(records: SimRecord[]): void {
    for (const r of records) {
      if (r.kind === 'gap' || r.kind === 'watchdog') continue; // the guest's detectors and watchdog act on these
      if (r.kind === 'hv-bracket') {
        const prev = this.anomalies.findLast((a) => a.type === 'hv-page-mismatch' && a.vcpu === r.vcpu);
        if (prev && r.t - prev.until <= 1_000_000_000n) { prev.count++; prev.until = r.t; if (r.size > prev.size) prev.size = r.size; continue; }
        this.anomalies.push({ type: 'hv-page-mismatch', t: r.t, until: r.t, vcpu: r.vcpu, clock: r.clock, size: r.size, unit: '100ns', count: 1 });
        continue;
      }
      const type = r.kind === 'jump' ? 'time-jump' : r.kind === 'stall' ? 'time-stall' : 'time-backwards';
      const across = r.kind === 'cross-backwards';
      const last = this.anomalies.findLast((a) => a.type === type && a.clock === r.clock && a.vcpu === r.vcpu && !!a.across === across);
      const window = 3n * this.period > 1_000_000_000n ? 3n * this.period : 1_000_000_000n;
      if (last && r.t - last.until <= window) {
        last.count++;
        last.until = r.t;
        last.size = type === 'time-stall' ? last.size + r.size : r.size > last.size ? r.size : last.size;
        continue;
      }
      this.anomalies.push({ type, t: r.t, until: r.t, vcpu: r.vcpu, clock: r.clock, size: r.size,
        unit: r.clock === 'tsc' ? 'cycles' : r.clock === 'hv-reference' ? '100ns' : 'ns', count: 1,
        ...(across ? { across } : {}) });
    }
  }

  private drainKvm(): void {
    const events = this.kvm.events.splice(0);
    events.forEach(({ t, e }, i) => {
      if (e.kind === 'host-log') { this.logLines.push({ t, source: 'kvm', text: `${this.kvm.host.name}: ${e.text}` }); return; }
      if (e.kind === 'stable') {
        this.logLines.push({ t, source: 'kvm', text: `${this.kvm.host.name}: pvclock pages ${e.on ? 'carry' : 'lose'} PVCLOCK_TSC_STABLE_BIT` +
          (e.on ? '' : ' (the guest clamps every read to last_value; its vDSO leaves the pvclock fast path)') });
        return;
      }
      this.logLines.push({ t, source: 'kvm', text: `${this.kvm.host.name}: masterclock ${e.on ? 'on' : 'off'} (${e.reason})` });
      // off and on again within one instant (a restore while the VM is stopped) is not seen by the guest
      const backOn = events.slice(i + 1).some((n) => n.t === t && n.e.kind === 'masterclock' && n.e.on);
      if (!e.on && !backOn) this.anomaly({ type: 'masterclock-off', t, size: 0n, unit: 'ns', reason: e.reason });
    });
  }

  private boot(): void {
    const n = this.s.vm.vcpus;
    if (this.xen) for (let i = 0; i < n; i++) this.kvm.createVcpu(0n, this.s.vm.pcpus?.[i] ?? i % this.host.pcpus);
    else this.vmm.createVcpus(this.kvm, Array.from({ length: n }, (_, i) => this.s.vm.pcpus?.[i] ?? i % this.host.pcpus), this.vmm.configuredKhz);
    for (const v of this.kvm.vcpus) this.kvm.vcpuLoad(v, v.pcpu, 0n);
    // KVM guests enable kvmclock by MSR; a Xen PV guest always has its vcpu_time_info
    if (this.s.vm.guest.kvmclock || this.xen) for (const v of this.kvm.vcpus) this.kvm.enableKvmclock(v, 0n);
    this.guest.online = Array.from({ length: n }, () => true);
    this.k.simSetClamp(0n, this.guest.validFlags);
    this.syncAll();
    this.syncGuest();
    this.guest.boot();
    this.guest.ntpTrack(this.t, true);
    this.syncAll();
    this.drainKvm();
  }

  private schedule(e: ScenarioEvent): void {
    const run = (f: () => void) => this.at(e.at, f);
    switch (e.do) {
      case 'stop': run(() => this.vmm.stop()); break;
      case 'cont': run(() => this.vmm.cont(e.kvmclockCtrl)); break;
      case 'migrate': run(() => this.vmm.migrate(this.hosts.get(e.to)!, e.procedure ?? this.s.vm.migration, e.downtime,
        e.window ?? this.s.vm.vmm.restoreWindow, e.pcpus)); break;
      case 'save-restore': run(() => this.vmm.migrate(this.host, e.procedure ?? this.s.vm.migration, e.downtime,
        e.window ?? this.s.vm.vmm.restoreWindow)); break;
      case 'hot-add': run(() => this.hotAdd(e.pcpu)); break;
      case 'move-vcpu': run(() => this.moveVcpu(e.vcpu, e.pcpu)); break;
      case 'preempt': run(() => {
        const v = this.kvm.vcpus[e.vcpu];
        if (!v.running) return;
        this.kvm.vcpuPut(v, this.t);
        this.at(this.t + e.duration, () => { if (this.vmRunning) this.kvm.vcpuLoad(v, v.pcpu, this.t); });
      }); break;
      case 'churn': run(() => this.churn(e.vcpus ?? this.kvm.vcpus.map((v) => v.id), e.run, e.wait, e.until)); break;
      case 'host-suspend': run(() => this.hostSuspend(this.hosts.get(e.host)!, e.duration, e.tsc, e.rewind)); break;
      case 'wrmsr': run(() => this.kvm.writeMsr(this.kvm.vcpus[e.vcpu], e.msr, e.value, e.by === 'host', this.t)); break;
      case 'numad-migrate': run(() => this.numadMigrate()); break;
    }
  }

  private hotAdd(pcpu: number | undefined): void {
    const i = this.kvm.vcpus.length;
    // a new CPU object: KVM_SET_TSC_KHZ only when the user configured tsc-frequency; otherwise it keeps the rate
    // KVM created it at -- this host's, which after a migration is not the VM's
    const [v] = this.vmm.createVcpus(this.kvm, [pcpu ?? i % this.host.pcpus], this.vmm.configuredKhz);
    this.vmmLog(`hot-add vCPU ${i} on pCPU ${v.pcpu} (TSC ${v.virtualTscKhz} kHz, offset ${v.offset})`);
    this.guest.online[i] = false;
    this.guest.touchedUntil[i] = 0n;
    if (!this.vmRunning) return;
    // the ACPI notification, then cpu_up() on the boot CPU, which prints before it sends INIT/SIPI
    this.guest.printk(0, `CPU${i} has been hot-added`);
    this.guest.printk(0, `smpboot: Booting Node 0 Processor ${i} APIC 0x${i.toString(16)}`);
    // the new vCPU's first entry serves its pending requests (the masterclock update its creation asked for)
    this.kvm.vcpuLoad(v, v.pcpu, this.t);
    this.drainKvm();
    this.syncAll();
    this.k.simForget(i);
    // start_secondary: kvm_register_clock (MSR write, then the line), then check_tsc_sync_target
    if (this.s.vm.guest.kvmclock) {
      this.kvm.enableKvmclock(v, this.t);
      this.syncAll();
      this.guest.kvmRegisterClock(i, 'secondary cpu clock');
    }
    this.guest.bringUp(i);
    this.syncAll();
  }

  /**
   * numad moves the VM's memory (migrate_pages): each KSM page it maps is unmapped and remapped through an rmap
   * walk of its stable node, with the VM's mmap lock held; vCPU threads faulting guest memory queue behind it
   * for the longest walk. The guest is not told (no GUEST_STOPPED).
   */
  private numadMigrate(): void {
    const ksm = this.s.hosts.find((h) => h.name === this.host.name)!.ksm!;
    const st = ksmMerge({ maxPageSharing: ksm.maxPageSharing, rmapItemCostNs: ksm.rmapItemCostNs },
      [{ name: this.s.vm.name, memoryMiB: this.s.vm.memoryMiB, nonZeroPages: this.s.vm.nonZeroPages },
        ...this.s.hosts.find((h) => h.name === this.host.name)!.vms]);
    const n = (this.measurements['ksm.numadMigrations'] ?? 0n) + 1n;
    this.measure('ksm.rmapItems', st.rmapItems);
    this.measure('ksm.stableNodes', st.stableNodes);
    this.measure('ksm.longestNodeItems', st.longestNodeItems);
    this.measure('ksm.longestWalkNs', st.longestWalkNs);
    this.measure('ksm.numadMigrations', n);
    this.logLines.push({ t: this.t, source: 'kvm', text: `${this.host.name}: numad migrate_pages(${this.s.vm.name}): the zero page's ${st.rmapItems} ` +
      `rmap_items sit in ${st.stableNodes} stable node(s); the longest walk (${st.longestNodeItems} items) holds the mmap lock for ${st.longestWalkNs} ns` });
    for (const v of this.kvm.vcpus) {
      if (!v.running) continue;
      this.kvm.vcpuPut(v, this.t);
      this.at(this.t + st.longestWalkNs, () => { if (this.vmRunning && !v.running) this.kvm.vcpuLoad(v, v.pcpu, this.t); });
    }
  }

  private moveVcpu(i: number, pcpu: number): void {
    const v = this.kvm.vcpus[i];
    if (v.running) { this.kvm.vcpuPut(v, this.t); this.kvm.vcpuLoad(v, pcpu, this.t); }
    else v.pcpu = pcpu;
  }

  /** vCPUs that run for `run`, then wait `wait` off-CPU, landing on another pCPU each time. */
  private churn(ids: number[], run: bigint, wait: bigint, until: bigint): void {
    for (const id of ids) {
      const cycle = (t0: bigint) => {
        const v = this.kvm.vcpus[id];
        if (this.t >= until || !this.vmRunning) return;
        if (v.running) this.kvm.vcpuPut(v, this.t);
        this.at(this.t + wait, () => {
          if (!this.vmRunning) return;
          this.kvm.vcpuLoad(v, this.nextPcpu(v.pcpu), this.t);
          this.at(this.t + run, () => cycle(t0));
        });
      };
      cycle(this.t);
    }
  }

  private nextPcpu(cur: number): number {
    // a seeded draw: a pCPU other than the current one
    let z: bigint;
    [this.rng, z] = splitmix64(this.rng);
    const n = this.host.pcpus;
    if (n === 1) return 0;
    const p = Number(z % BigInt(n - 1));
    return p >= cur ? p + 1 : p;
  }

  private hostSuspend(h: Host, d: bigint, mode: 'reset' | 'rewind', rewind: bigint): void {
    if (h !== this.host) { h.suspend(this.t, d, mode, rewind); return; }
    // kvm_arch_suspend_notifier: every vCPU is told it was stopped
    for (const v of this.kvm.vcpus) if (v.kvmclockEnabled) this.kvm.kvmclockCtrl(v, this.t);
    const wasRunning = this.vmRunning;
    for (const v of this.kvm.vcpus) if (v.running) this.kvm.vcpuPut(v, this.t);
    this.vmRunning = false;
    h.suspend(this.t, d, mode, rewind);
    this.vmmLog(`host ${h.name} suspended for ${d} ns (TSC ${mode})`);
    this.observeTo(this.t + d);
    this.kvm.hostResumed(this.t);
    this.vmRunning = wasRunning;
    if (wasRunning) for (const v of this.kvm.vcpus) { this.kvm.vcpuLoad(v, v.pcpu, this.t); this.guest.touch(v.id, this.t + 2n * this.period); }
  }

  run(): RunResult {
    this.boot();
    for (const e of this.s.events) this.schedule(e);
    if (this.s.vm.kvm.periodicSync) {
      // kvmclock_sync_fn: kvmclock_update_work every KVMCLOCK_SYNC_PERIOD, masterclock or not (a stale page is refreshed)
      const tick = (t: bigint) => this.at(t, () => {
        this.kvm.queueUpdateWork(this.t);
        if (t + SYNC_PERIOD <= this.s.until) tick(t + SYNC_PERIOD);
      });
      tick(SYNC_PERIOD);
    }
    while (this.queue.length && this.queue[0].t <= this.s.until) {
      const next = this.queue.shift()!;
      this.observeTraced(next.t);
      this.pullPageFlags();
      next.run();
      this.events++;
      if (this.s.vm.guest.ntp) this.ntpCheck();
      this.onProgress?.(this.t, this.s.until);
      this.drainKvm();
      this.syncAll();
    }
    this.observeTraced(this.s.until);
    this.onProgress?.(this.s.until, this.s.until);
    this.recordAnomalies(this.k.simFlush(this.kvm.vcpus.length));
    this.measure('kvm.masterclock', this.kvm.useMasterClock ? 1n : 0n);
    this.measure('kvm.stableBit', this.kvm.stableBit() ? 1n : 0n);
    if (this.s.vm.guest.hypervClock) this.measure('hv.tscSequence', BigInt(this.kvm.hvTscPage.sequence));
    this.kvm.vcpus.forEach((_, i) => {
      const last = this.k.simLast(i);
      if (last.t === 0n) return;
      this.measure(`vcpu${i}.lastReadAt`, last.t);
      this.measure(`vcpu${i}.tsc`, last.tsc);
      this.measure(`vcpu${i}.kvmclock`, last.kvmclock);
      this.measure(`vcpu${i}.schedClock`, last.schedClock);
      this.measure(`vcpu${i}.monotonic`, last.monotonic);
    });
    this.anomalies.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0));
    this.logLines.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0));
    return {
      scenario: this.s.name, seed: this.s.seed, log: this.logLines, anomalies: this.anomalies, measurements: this.measurements,
      stats: { reads: this.reads, events: this.events },
    };
  }
}

/** Runs a parsed scenario on the old engine. */
export function runScenarioLegacy(s: Scenario, kernel?: Kernel): RunResult {
  return new LegacyMachine(s, kernel).run();
}
