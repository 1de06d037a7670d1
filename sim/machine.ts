// The machine: host -> KVM (or Xen) -> guest Linux, driven by the VMM's actions on a timeline.
//
// Event-driven: between two host events nothing below the guest changes, so each of the guest's clocks is a
// closed-form function of real time (sim/guest/). The engine jumps from event to event: the next host event
// (the VMM's steps, KVM's delayed work, churn and preemption ends) or the next guest timer that can change
// something (a held tick, a soft-lockup firing on a CPU that resumed, an RCU or hung-task check while a grace
// period is held open, a watchdog round after a discontinuity), whichever comes first. At each host event the
// guest's clocks are evaluated just before and just after: the observer (sim/observer.ts) judges each step, and
// the guest reacts as its code would (sim/guest/guest.ts boundary()). Same scenario and seed -> the same log,
// anomalies and measurements.
import { createKernel, type Kernel } from '../bindings/index.js';
import { Host } from './host/host.js';
import { Kvm, rulesFor, type Rules } from './kvm/x86.js';
import { Guest, type View } from './guest/guest.js';
import type { GuestPort } from './guest/port.js';
import { Observer } from './observer.js';
import { Timeline } from './engine.js';
import { Vmm, type VmmPort } from './vmm/vmm.js';
import { ksmMerge } from './host/ksm.js';
import { Xen } from './xen/xen.js';
import { StepSchema, recipeParams, type Scenario, type ScenarioEvent } from './scenario.js';
import { StepRunner, expandSteps, type Step, type StepPort } from './vmm/steps.js';
import { RECIPES } from './vmm/recipes.js';
import { hasTracepoint, traceCmdLine, type TraceRecord } from './kvm/trace.js';
import type { Anomaly, LogLine, RunResult } from './types.js';
import { splitmix64 } from './units.js';

/** Wall clock (CLOCK_REALTIME) at real time 0: 2026-01-01T00:00:00Z. Hosts are taken to agree on it. */
const WALL0 = 1_767_225_600n * 1_000_000_000n;
const SYNC_PERIOD = 300n * 1_000_000_000n; // KVMCLOCK_SYNC_PERIOD
const PVCLOCK_GUEST_STOPPED = 2;


/** One traced sample: a vCPU's clocks at one real time. */
export interface TracePoint { t: bigint; vcpu: number; tsc: bigint; kvmclock: bigint; schedClock: bigint; monotonic: bigint }

let shared: Kernel | undefined;

export class Machine implements GuestPort, VmmPort, StepPort {
  readonly k: Kernel;
  readonly hosts = new Map<string, Host>();
  readonly rules: Rules;
  host: Host;
  kvm: Kvm;
  readonly guest: Guest;
  readonly vmm: Vmm;
  /** The VMM's ioctl-level steps and the values they saved (sim/vmm/steps.ts). */
  readonly steps: StepRunner;
  readonly observer: Observer;
  /** With tracing on (before run()): KVM's tracepoints, as trace-cmd records them. */
  tracepoints: TraceRecord[] | null = null;
  t = 0n;
  vmRunning = true;
  readonly logLines: LogLine[] = [];
  readonly measurements: Record<string, bigint> = {};
  private readonly own: Anomaly[] = [];
  private readonly timeline = new Timeline();
  private events = 0;
  private rng: bigint;
  private readonly raw: bigint[] = [];

  /** With tracing on: each reading vCPU's clocks every `traceEvery` of real time. */
  readonly trace: TracePoint[] = [];
  traceEvery: bigint | null = null;
  private nextTraceAt = 0n;
  /** Called as real time advances (after each event): how far the run is, of how long. */
  onProgress: ((done: bigint, total: bigint) => void) | null = null;

  constructor(readonly s: Scenario, kernel?: Kernel) {
    this.k = kernel ?? (shared ??= createKernel());
    this.k.simReset();
    for (const h of s.hosts) this.hosts.set(h.name, new Host(h));
    this.host = this.hosts.get(s.vm.host)!;
    this.rules = rulesFor(s.vm.kvm.rules, s.vm.kvm.commits);
    this.rng = s.seed;
    const kvm = s.vm.hypervisor === 'xen'
      ? new Xen(this.k, this.host, s.vm.xen.tscMode, 0n, s.vm.tscKhz)
      : new Kvm(this.k, this.host, this.rules, 0n);
    kvm.hvReenlightenment = s.vm.guest.hvReenlightenment;
    this.kvm = kvm;
    this.wireKvm(kvm);
    this.observer = new Observer(s.observe.period, s.observe.from);
    this.guest = new Guest(s.vm.guest, this, this.observer);
    this.guest.xenNonstopTsc = s.vm.xen.cpuidNonstopTsc;
    this.vmm = new Vmm(this);
    this.steps = new StepRunner(this);
  }

  // ---- StepPort -----------------------------------------------------------------------------------------------------
  hostNamed(name: string): Host { return this.hosts.get(name)!; }
  guestVcpus(): number { return this.guest.online.length; }
  kvmclockGpa(i: number): bigint { return this.s.vm.guest.kvmclockPa + 64n * BigInt(i); }
  wallClockGpa(): bigint { return this.s.vm.guest.kvmclockPa + 4096n; }
  guestPoint(i: number) {
    this.syncAll();
    return this.guest.now().points[i] ?? null;
  }
  /** The guest booted at real time 0 and set CLOCK_REALTIME from the wall clock page then: WALL0 + kvmclock 0. */
  guestWallToMonotonic(): bigint { return WALL0; }

  /** Turns KVM's tracepoints on (before run()): each one becomes a trace-cmd record. */
  enableTracepoints(): void { this.tracepoints = []; this.wireKvm(this.kvm); }

  // ---- GuestPort: what the guest sees of the machine -------------------------------------------------
  now(): bigint { return this.t; }
  seed(): bigint { return this.s.seed; }
  vcpuCount(): number { return this.kvm.vcpus.length; }
  /** As the table says (the guest sees the machine as of the last sync: before a change is taken, the old state). */
  running(i: number): boolean { return (this.written[i]?.[0] as boolean | undefined) ?? false; }
  readAll(t: bigint, into: bigint[] = this.raw): bigint[] { return this.k.simReadAll(this.kvm.vcpus.length, t, into); }
  readOne(i: number, t: bigint): [bigint, bigint, bigint] { return this.k.simReadOne(i, t); }
  maxPvclock(mask: bigint, skipStable: boolean, t: bigint): bigint { return this.k.simMaxPvclock(this.kvm.vcpus.length, mask, skipStable, t); }
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
    this.drainKvm();
    this.syncAll();
  }
  rdmsrTscAdjust(i: number): bigint {
    const v = this.kvm.vcpus[i];
    this.kvm.tp(this.t, { name: 'kvm_msr', vcpu: i, write: false, msr: 0x3b, data: BigInt.asUintN(64, v.tscAdjust) });
    return v.tscAdjust;
  }
  /** The guest keeps a CPU busy for ns (a tsc_sync run): the other CPUs go on, their timers fire meanwhile. */
  spend(ns: bigint): void { this.runGuestTo(this.t + ns); }
  hypervisor(): 'kvm' | 'xen' { return this.xen ? 'xen' : 'kvm'; }
  page(i: number) { return this.kvm.vcpus[i].page; }
  clearGuestStopped(i: number): void {
    // the guest made this change itself: write the flag through, no step to judge
    this.kvm.vcpus[i].page.flags &= ~PVCLOCK_GUEST_STOPPED;
    this.write(i, this.state(i));
  }
  hvPage() { return this.hvWritten; }
  clocksourceDriftPpb(cs: 'kvm-clock' | 'tsc'): bigint {
    // the TSC, and kvmclock pages extrapolated from it, run at the host's tsc_khz: ahead of true time by its drift;
    // without a masterclock, pages built on the NTP-disciplined CLOCK_BOOTTIME follow true time on average
    const onBoottime = !this.kvm.has('53fafdbb8b21') && !this.kvm.useMasterClock;
    return cs === 'kvm-clock' && onBoottime ? 0n : this.host.ntpDriftPpb;
  }
  log(line: LogLine): void { this.logLines.push(line); }
  anomaly(a: Omit<Anomaly, 'until' | 'count'> & Partial<Pick<Anomaly, 'count' | 'until'>>): Anomaly {
    const stored = { count: 1, until: a.t, ...a };
    this.own.push(stored);
    return stored;
  }

  // ---- VmmPort: what the VMM sees of the machine ------------------------------------------------------
  /** The Xen model when the VM runs on Xen. */
  get xen(): Xen | null { return this.kvm instanceof Xen ? this.kvm : null; }
  wallNs(): bigint { return WALL0 + this.t; }
  vmmLog(text: string): void { this.logLines.push({ t: this.t, source: 'vmm', text }); }
  measure(name: string, value: bigint): void { this.measurements[name] = value; }
  /** Real time passes to t in the middle of a VMM action (the VM may be stopped): the guest sees the change so far. */
  advanceTo(t: bigint): void {
    this.settle();
    this.runGuestTo(t);
  }
  replaceKvm(kvm: Kvm, host: Host): void { this.drainKvm(); this.kvm = kvm; this.host = host; this.wireKvm(kvm); }
  guestPrintk(cpu: number, text: string): void { this.guest.printk(cpu, text); }
  guestClocks(): { kvmclock: bigint; monotonic: bigint } {
    this.syncAll();
    const p = this.guest.now().points[0];
    return { kvmclock: p?.kvmclock ?? 0n, monotonic: p?.monotonic ?? 0n };
  }
  guestXenSuspend(): void {
    this.syncAll();
    this.guest.xenSuspend();
  }
  guestXenResume(before: { kvmclock: bigint; monotonic: bigint }): void {
    this.drainKvm();
    this.syncAll();
    this.guest.xenResume(before);
  }

  /** KVM's delayed work (kvmclock_update_work) runs on the timeline, for this KVM instance only. */
  private wireKvm(kvm: Kvm): void {
    kvm.defer = (t, fn) => this.at(t, () => { if (this.kvm === kvm) fn(this.t); });
    const out = this.tracepoints;
    if (!out || this.xen) return;
    kvm.tracer = (t, e) => {
      if (!hasTracepoint(kvm.rules, e.name)) return;
      // a vCPU's events fire in its thread (QEMU names it "CPU n/KVM"), on its pCPU; the VM's in QEMU's main thread
      const v = 'vcpu' in e ? kvm.vcpus[e.vcpu] : undefined;
      out.push({ ts: kvm.host.rawNs(t), comm: v ? `CPU ${v.id}/KVM` : 'qemu-system-x86', pid: v ? 4243 + v.id : 4242,
        cpu: v ? Math.max(v.pcpu, 0) : 0, e });
    };
  }

  /** The tracepoints as `trace-cmd report` prints them. */
  tracepointLines(): string[] {
    return (this.tracepoints ?? []).map((r) => traceCmdLine(this.rules, r));
  }

  // ---- the Wasm tables the guest's reads evaluate ---------------------------------------------------------
  /** What each vCPU's clocks depend on, as last written to the table (a change is a boundary for the guest). */
  private written: (bigint | number | boolean)[][] = [];

  /** What vCPU i's clocks depend on now, as the table would hold it. */
  private state(i: number): (bigint | number | boolean)[] {
    const v = this.kvm.vcpus[i];
    const line = this.host.tscLine(Math.max(v.pcpu, 0)), p = v.page;
    return [v.running && this.vmRunning, v.kvmclockEnabled, line.base, line.epoch, this.host.khz, v.ratio, v.offset,
      this.host.fracBits, p.tscTimestamp, p.systemTime, p.tscToSystemMul, p.tscShift, p.flags];
  }

  /** Something below the guest changed since the guest last looked (settle() lets it). */
  private unsettled = true;
  private hvWritten = { on: false, sequence: 0, scale: 0n, offset: 0n };

  /**
   * Brings the table up to date. When something below the guest changed, the guest's clocks are first taken at this
   * instant from the table as it was (the point just before the change), so that the step is judged at one instant.
   */
  syncAll(): void {
    const n = this.kvm.vcpus.length;
    const changed: [number, (bigint | number | boolean)[]][] = [];
    for (let i = 0; i < n; i++) {
      const now = this.state(i), was = this.written[i];
      let same = was !== undefined;
      for (let j = 0; same && j < now.length; j++) if (was[j] !== now[j]) same = false;
      if (!same) changed.push([i, now]);
    }
    // the Hyper-V reference page is read by the guest too (in JS: sim/guest/guest.ts hvRead)
    const hv = this.kvm.hvTscPage, was = this.hvWritten, on = this.s.vm.guest.hypervClock;
    const hvChanged = on !== was.on || hv.sequence !== was.sequence || hv.scale !== was.scale || hv.offset !== was.offset;
    if (!changed.length && !hvChanged && this.written.length === n) return;
    if (this.guest.booted) this.guest.advanceTo(this.t);
    this.hvWritten = { on, ...hv };
    for (const [i, now] of changed) this.write(i, now);
    this.written.length = n;
    this.unsettled = true;
  }

  private write(i: number, now: (bigint | number | boolean)[]): void {
    const v = this.kvm.vcpus[i];
    this.written[i] = now;
    this.k.simSetVcpu(i, {
      kvmclock: v.kvmclockEnabled, hostBase: now[2] as bigint, hostEpoch: now[3] as bigint, hostKhz: this.host.khz,
      ratio: v.ratio, offset: v.offset, fracBits: this.host.fracBits, page: v.page,
    });
  }
  /** After anything below the guest may have changed: KVM's notes, the table, and the guest's reaction if it did. */
  private settle(): void {
    this.drainKvm();
    this.syncAll();
    if (!this.unsettled) return;
    this.unsettled = false;
    this.guest.boundary();
  }

  // ---- the timeline ----------------------------------------------------------------------------------------
  at(t: bigint, run: () => void, marker = false): void { this.timeline.at(t, run, marker); }


  /** The guest runs on its own to real time `to`: its timers fire in order; nothing below it changes. */
  private runGuestTo(to: bigint): void {
    for (;;) {
      const nt = this.guest.nextTimer(to);
      if (nt === null || nt > to) break;
      this.traceTo(nt);
      if (nt > this.t) this.t = nt;
      this.guest.fireTimer();
      this.drainKvm();
    }
    this.traceTo(to);
    if (to > this.t) this.t = to;
  }

  /** Trace samples on the traceEvery grid up to `to` (views are pure: nothing changes between commits). */
  private traceTo(to: bigint): void {
    if (this.traceEvery === null) return;
    const from = this.s.observe.from;
    if (this.nextTraceAt < from) this.nextTraceAt = from;
    for (; this.nextTraceAt <= to; this.nextTraceAt += this.traceEvery) {
      if (this.nextTraceAt < this.t) continue;
      this.sample(this.guest.view(this.nextTraceAt));
    }
  }
  private sample(v: View): void {
    v.points.forEach((p, i) => {
      if (!p || !this.guest.online[i]) return;
      this.trace.push({ t: v.t, vcpu: i, tsc: p.tsc, kvmclock: p.kvmclock ?? 0n, schedClock: p.schedClock, monotonic: p.monotonic });
    });
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
    if (this.s.vm.guest.kvmclock || this.xen) for (const v of this.kvm.vcpus) this.kvm.enableKvmclock(v, 0n, this.kvmclockGpa(v.id));
    this.drainKvm();
    this.syncAll();
    this.guest.boot();
    this.drainKvm();
    this.syncAll();
    this.unsettled = false; // boot took the guest's clocks as they are
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
      case 'wrmsr': run(() => {
        const v = this.kvm.vcpus[e.vcpu];
        // "add": the writer reads the MSR first (RDMSR / KVM_GET_MSRS: the same values here) and writes it back moved
        const now = e.msr === 'IA32_TSC' ? this.kvm.readTsc(v, this.t) : v.tscAdjust;
        const value = e.value ?? BigInt.asUintN(64, now + e.add!);
        this.kvm.writeMsr(v, e.msr, e.msr === 'IA32_TSC_ADJUST' ? BigInt.asIntN(64, value) : value, e.by === 'host', this.t);
      }); break;
      case 'numad-migrate': run(() => this.numadMigrate()); break;
      case 'recipe': run(() => this.runRecipe(e)); break;
      default: run(() => this.steps.run(e as unknown as Step)); break;
    }
  }

  /** A recipe or a list of steps, in one timeline event (a `wait` lets real time pass inside it, as a migration's downtime). */
  private runRecipe(e: Extract<ScenarioEvent, { do: 'recipe' }>): void {
    const template = e.recipe !== undefined ? RECIPES[e.recipe].steps : e.steps!;
    const name = e.recipe ?? 'steps';
    for (const raw of expandSteps(template, recipeParams(this.s, e, this.host.name), this.kvm.vcpus.length)) {
      this.steps.run(StepSchema.parse(raw) as Step, name);
    }
  }

  private hotAdd(pcpu: number | undefined): void {
    const i = this.kvm.vcpus.length;
    // a new CPU object: KVM_SET_TSC_KHZ only when the user configured tsc-frequency; otherwise it keeps the rate
    // KVM created it at -- this host's, which after a migration is not the VM's
    const [v] = this.vmm.createVcpus(this.kvm, [pcpu ?? i % this.host.pcpus], this.vmm.configuredKhz);
    this.vmmLog(`hot-add vCPU ${i} on pCPU ${v.pcpu} (TSC ${v.virtualTscKhz} kHz, offset ${v.offset})`);
    this.guest.online[i] = false;
    if (!this.vmRunning) return;
    this.guest.announceHotAdd(i);
    // the new vCPU's first entry serves its pending requests (the masterclock update its creation asked for)
    this.kvm.vcpuLoad(v, v.pcpu, this.t);
    this.drainKvm();
    this.syncAll();
    // start_secondary: kvm_register_clock (MSR write, then the line), then check_tsc_sync_target
    this.guest.bringUp(i, () => { this.kvm.enableKvmclock(v, this.t, this.kvmclockGpa(i)); this.drainKvm(); this.syncAll(); });
  }

  /**
   * numad moves the VM's memory (migrate_pages): each KSM page it maps is unmapped and remapped through an rmap
   * walk of its stable node, with the VM's mmap lock held; vCPU threads faulting guest memory queue behind it
   * for the longest walk. The guest is not told (no GUEST_STOPPED).
   */
  private numadMigrate(): void {
    const h = this.s.hosts.find((x) => x.name === this.host.name)!;
    const ksm = h.ksm!;
    const st = ksmMerge({ maxPageSharing: ksm.maxPageSharing, rmapItemCostNs: ksm.rmapItemCostNs },
      [{ name: this.s.vm.name, memoryMiB: this.s.vm.memoryMiB, nonZeroPages: this.s.vm.nonZeroPages }, ...h.vms]);
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
      const cycle = () => {
        const v = this.kvm.vcpus[id];
        if (this.t >= until || !this.vmRunning) return;
        if (v.running) this.kvm.vcpuPut(v, this.t);
        this.at(this.t + wait, () => {
          if (!this.vmRunning) return;
          this.kvm.vcpuLoad(v, this.nextPcpu(v.pcpu), this.t);
          this.at(this.t + run, cycle);
        });
      };
      cycle();
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
    this.advanceTo(this.t + d);
    this.kvm.hostResumed(this.t);
    this.vmRunning = wasRunning;
    if (wasRunning) for (const v of this.kvm.vcpus) this.kvm.vcpuLoad(v, v.pcpu, this.t);
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
    // the observer judges from observe.from: a point there starts its pairs
    if (this.s.observe.from > 0n) this.at(this.s.observe.from, () => {}, true);
    for (let at = this.timeline.peek(); at !== null && at <= this.s.until; at = this.timeline.peek()) {
      const next = this.timeline.pop()!;
      this.runGuestTo(next.t);
      if (next.marker) { this.guest.advanceTo(this.t); continue; }
      next.run();
      this.events++;
      this.settle();
      this.guest.ntpNotice(this.t);
      this.onProgress?.(this.t, this.s.until);
    }
    this.runGuestTo(this.s.until);
    this.guest.advanceTo(this.s.until);
    this.guest.finish();
    this.onProgress?.(this.s.until, this.s.until);
    this.observer.flush();
    this.measure('kvm.masterclock', this.kvm.useMasterClock ? 1n : 0n);
    this.measure('kvm.stableBit', this.kvm.stableBit() ? 1n : 0n);
    if (this.s.vm.guest.hypervClock) this.measure('hv.tscSequence', BigInt(this.kvm.hvTscPage.sequence));
    this.kvm.vcpus.forEach((_, i) => {
      const last = this.observer.lastPoint(i);
      if (!last) return;
      this.measure(`vcpu${i}.lastReadAt`, last.t);
      this.measure(`vcpu${i}.tsc`, last.p.tsc);
      this.measure(`vcpu${i}.kvmclock`, last.p.kvmclock ?? 0n);
      this.measure(`vcpu${i}.schedClock`, last.p.schedClock);
      this.measure(`vcpu${i}.monotonic`, last.p.monotonic);
    });
    const anomalies = [...this.own, ...this.observer.anomalies];
    anomalies.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0));
    this.logLines.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : 0));
    return {
      scenario: this.s.name, seed: this.s.seed, log: this.logLines, anomalies, measurements: this.measurements,
      stats: { reads: this.observer.points, events: this.events },
      ...(this.steps.records.length ? { steps: this.steps.records } : {}),
      ...(this.tracepoints ? { tracepoints: this.tracepointLines() } : {}),
    };
  }
}

/** Runs a parsed scenario. */
export function runScenario(s: Scenario, kernel?: Kernel): RunResult {
  return new Machine(s, kernel).run();
}
