// VMM steps at the ioctl level (issue 13): what a VMM really says to KVM -- KVM_CREATE_VM, KVM_CREATE_VCPU,
// KVM_SET/GET_TSC_KHZ, KVM_SET/GET_MSRS, KVM_GET/SET_CLOCK, KVM_GET/SET_DEVICE_ATTR(KVM_VCPU_TSC_OFFSET),
// KVM_KVMCLOCK_CTRL, KVM_RUN, pause -- each run through the same KVM code (sim/kvm/x86.ts) the canned procedures
// use, its result recorded (returned values or errno), values read by one step usable by later ones (`as`, and
// expressions "=..." over them). Recipes (sim/vmm/recipes.ts) are named lists of these steps. docs/vmm-steps.md
// documents every step, what KVM does with it per era, and each recipe's source.
import { Kvm, type KvmVcpu } from '../kvm/x86.js';
import type { Host } from '../host/host.js';
import { cyclesOf, nsOf, parseDuration, s64, u64 } from '../units.js';
import type { VmmPort } from './port.js';
import { BUILTINS, CLOCK_FLAGS, CONSTANTS, eraLacks, valueExpr, type MsrName, type Node, type RawValue, type Step, type StepRecord, type StepValue } from './step-defs.js';

export * from './step-defs.js';

/** What the steps see of the machine: the VMM's port, the hosts by name, and the scenario's VMM settings. */
export interface StepPort extends VmmPort {
  hostNamed(name: string): Host;
  /** How many CPUs the guest kernel has (the VM's vCPUs must all exist before it runs again). */
  guestVcpus(): number;
  /** What code on guest CPU i reads now (null: the vCPU is not in the guest). */
  guestPoint(i: number): { tsc: bigint; kvmclock: bigint | null; monotonic: bigint; stable: boolean } | null;
  /** CLOCK_REALTIME - CLOCK_MONOTONIC in the guest (its boot read of the wall clock page; no settimeofday, no NTP step). */
  guestWallToMonotonic(): bigint;
  /** The guest-physical address of vCPU i's kvmclock area (guest.kvmclockPa + 64 i). */
  kvmclockGpa(i: number): bigint;
  /** The guest-physical address of the guest's wall clock page (assumed: guest.kvmclockPa + 4096). */
  wallClockGpa(): bigint;
}

class StepError extends Error { constructor(readonly errno: string, msg: string) { super(msg); } }

const flagNames = (f: bigint) => Object.entries(CLOCK_FLAGS).filter(([, b]) => (f & BigInt(b)) !== 0n).map(([n]) => n.replace('KVM_CLOCK_', '')).join('|') || '0';

/** Runs steps against the machine's KVM, in order, keeping the values they read. */
export class StepRunner {
  readonly values = new Map<string, StepValue>();
  readonly records: StepRecord[] = [];
  /** MSR values userspace wrote that the model keeps only for reading back (the system-time and wall-clock MSRs). */
  private readonly msrs = new WeakMap<KvmVcpu, Map<MsrName, bigint>>();

  constructor(readonly m: StepPort) {}

  private builtin(name: string): bigint | undefined {
    const { m } = this;
    switch (name) {
      case 'running': return m.vmRunning ? 1n : 0n;
      case 'vcpus': return BigInt(m.kvm.vcpus.length);
      case 'wall_ns': return m.wallNs(); // the host's CLOCK_REALTIME (clock_gettime in the VMM)
      case 'host_tsc': return m.host.tsc(0, m.t); // the VMM's rdtsc() (on pCPU 0)
      case 'vm_wide_tsc_khz': return m.s.vm.vmm.vmWideTscKhz ? 1n : 0n;
      case 'era_vm_tsc_khz': return m.kvm.has('ffbb61d09fc5') ? 1n : 0n;
      case 'era_tsc_offset_attr': return m.kvm.rules.tscOffsetAttr ? 1n : 0n;
      case 'qemu_pre_2_9': return m.s.vm.vmm.qemu === '<2.9' ? 1n : 0n;
      default: return undefined;
    }
  }

  private evalNode(n: Node): StepValue {
    switch (n.k) {
      case 'num': return n.v;
      case 'name': {
        const [head, ...fields] = n.path;
        let v: StepValue | undefined = CONSTANTS[head] ?? this.builtin(head) ?? this.values.get(head);
        if (v === undefined) throw new StepError('', `"${head}" has no value yet (no step saved it)`);
        for (const f of fields) {
          if (typeof v === 'bigint' || !(f in v)) throw new StepError('', `"${n.path.join('.')}": ${head} has no field ${f}`);
          v = v[f];
        }
        return v;
      }
      case 'call': {
        const a = n.args.map((x) => this.evalNode(x));
        const num = (x: StepValue) => { if (typeof x !== 'bigint') throw new StepError('', `${n.fn}() needs a number`); return x; };
        switch (n.fn) {
          case 'cycles': return cyclesOf(num(a[0]), Number(num(a[1])));
          case 'ns': return nsOf(num(a[0]), num(a[1]));
          case 'u64': return u64(num(a[0]));
          case 's64': return s64(num(a[0]));
          case 'pvclock': {
            const p = a[0];
            if (typeof p === 'bigint') throw new StepError('', 'pvclock() needs a page read by read-pvclock');
            return this.m.k.pvclockReadCycles({ tscTimestamp: p.tsc_timestamp, systemTime: p.system_time,
              tscToSystemMul: Number(p.tsc_to_system_mul), tscShift: Number(p.tsc_shift) }, num(a[1]));
          }
        }
        throw new StepError('', `no function ${n.fn}`);
      }
      case 'un': {
        const a = this.evalNode(n.a);
        if (typeof a !== 'bigint') throw new StepError('', `${n.op} needs a number`);
        return n.op === '-' ? -a : a === 0n ? 1n : 0n;
      }
      case 'bin': {
        if (n.op === '&&' || n.op === '||') {
          // short-circuit, as in C: a group's condition guards names its skipped steps never saved
          const a = this.evalNode(n.a);
          if (typeof a !== 'bigint') throw new StepError('', `${n.op} needs numbers (a struct was given)`);
          if ((a !== 0n) === (n.op === '||')) return n.op === '||' ? 1n : 0n;
          const b = this.evalNode(n.b);
          if (typeof b !== 'bigint') throw new StepError('', `${n.op} needs numbers (a struct was given)`);
          return b !== 0n ? 1n : 0n;
        }
        const a = this.evalNode(n.a), b = this.evalNode(n.b);
        if (typeof a !== 'bigint' || typeof b !== 'bigint') throw new StepError('', `${n.op} needs numbers (a struct was given)`);
        switch (n.op) {
          case '+': return a + b; case '-': return a - b; case '*': return a * b;
          case '/': if (b === 0n) throw new StepError('', 'division by zero'); return a / b;
          case '%': if (b === 0n) throw new StepError('', 'division by zero'); return a % b;
          case '&': return a & b; case '|': return a | b;
          case '&&': return a !== 0n && b !== 0n ? 1n : 0n; case '||': return a !== 0n || b !== 0n ? 1n : 0n;
          case '==': return a === b ? 1n : 0n; case '!=': return a !== b ? 1n : 0n;
          case '<': return a < b ? 1n : 0n; case '<=': return a <= b ? 1n : 0n;
          case '>': return a > b ? 1n : 0n; case '>=': return a >= b ? 1n : 0n;
        }
        throw new StepError('', `no operator ${n.op}`);
      }
      case 'if': { const c = this.evalNode(n.c); return c !== 0n ? this.evalNode(n.a) : this.evalNode(n.b); }
    }
  }

  /** A value field, evaluated now. */
  num(v: RawValue): bigint {
    const e = valueExpr(v);
    const r = e ? this.evalNode(e) : BigInt(v);
    if (typeof r !== 'bigint') throw new StepError('', 'a struct where a number is needed');
    return r;
  }

  private vcpu(i: number): KvmVcpu {
    const v = this.m.kvm.vcpus[i];
    if (!v) throw new StepError('ENOENT', `vCPU ${i} does not exist (the VM has ${this.m.kvm.vcpus.length})`);
    return v;
  }

  private save(rec: StepRecord, as: string | undefined, v: StepValue): void {
    if (as) { this.values.set(as, v); rec.as = as; }
  }

  /** Runs one step now; `recipe` names the recipe it belongs to. Never throws for what KVM refuses: that is recorded. */
  run(s: Step, recipe?: string): StepRecord | null {
    const { m } = this;
    if (s.do === 'wait') { m.advanceTo(m.t + parseDuration(s.duration)!); return null; }
    const rec: StepRecord = { t: m.t, do: s.do };
    if ('vcpu' in s && s.vcpu !== undefined) rec.vcpu = s.vcpu;
    if (recipe) rec.recipe = recipe;
    this.records.push(rec);
    try {
      if (s.if !== undefined && this.num(`=${s.if}`) === 0n) { rec.skipped = `if ${s.if}`; return rec; }
      const lacks = eraLacks(m.kvm.rules, s);
      if (lacks) {
        if (s.optional) { rec.skipped = lacks; return rec; }
        throw new StepError(/-(E[A-Z]+)/.exec(lacks)?.[1] ?? 'EINVAL', lacks);
      }
      this.exec(s, rec);
    } catch (e) {
      const err = e as Error;
      const errno = e instanceof StepError && e.errno ? e.errno : /-(E[A-Z]+)/.exec(err.message)?.[1] ?? (e instanceof StepError ? 'step' : 'EINVAL');
      rec.errno = errno;
      rec.error = err.message;
    }
    // a recipe's group conditions (_gN) are bookkeeping: recorded, not logged
    if (!(s.do === 'let' && s.as.startsWith('_'))) m.vmmLog(describe(rec));
    return rec;
  }

  private exec(s: Step, rec: StepRecord): void {
    const { m } = this;
    const t = m.t;
    const kvm = m.kvm;
    switch (s.do) {
      case 'KVM_CREATE_VM': {
        // a new VM on that host, the guest's memory (its Hyper-V reference page included) arriving as it was left
        if (m.vmRunning) throw new StepError('EBUSY', 'the VM is running: pause it first (its vCPUs must be out of KVM_RUN)');
        const to = m.hostNamed(s.host);
        const dst = new Kvm(m.k, to, m.rules, t);
        dst.hvReenlightenment = kvm.hvReenlightenment;
        dst.hvTscPage = { ...kvm.hvTscPage };
        dst.wallClock = { ...kvm.wallClock };
        m.replaceKvm(dst, to);
        rec.args = { host: s.host };
        return;
      }
      case 'KVM_CREATE_VCPU': {
        const id = kvm.vcpus.length;
        const pcpu = s.pcpu ?? Math.min(id, m.host.pcpus - 1);
        if (pcpu >= m.host.pcpus) throw new StepError('EINVAL', `pCPU ${pcpu} is not a pCPU of ${m.host.name}`);
        const v = kvm.createVcpu(t, pcpu);
        rec.vcpu = v.id;
        rec.ret = { vcpu_id: BigInt(v.id), pcpu: BigInt(pcpu), tsc_khz: BigInt(v.virtualTscKhz), offset: v.offset };
        return;
      }
      case 'KVM_SET_TSC_KHZ': {
        const khz = this.num(s.khz);
        rec.args = { khz };
        if (khz <= 0n || khz > 0xffffffffn) throw new StepError('EINVAL', `${khz} kHz is not a TSC rate`);
        if (s.vcpu === undefined) { kvm.setDefaultTscKhz(Number(khz)); return; }
        const r = kvm.setTscKhz(this.vcpu(s.vcpu), Number(khz), t);
        rec.ret = { result: r.result, ratio: r.ratio, virtual_tsc_khz: BigInt(r.virtualTscKhz) };
        if (r.result === 'error') throw new StepError('EINVAL', r.message ?? 'KVM refused the rate');
        return;
      }
      case 'KVM_GET_TSC_KHZ': {
        const khz = BigInt(s.vcpu === undefined ? kvm.defaultTscKhz : this.vcpu(s.vcpu).virtualTscKhz);
        rec.ret = { khz };
        this.save(rec, s.as, khz);
        return;
      }
      case 'KVM_SET_MSRS': {
        const v = this.vcpu(s.vcpu);
        const value = this.num(s.value);
        rec.args = { msr: s.msr, value };
        switch (s.msr) {
          case 'IA32_TSC': kvm.writeMsr(v, 'IA32_TSC', u64(value), true, t); return;
          case 'IA32_TSC_ADJUST': kvm.writeMsr(v, 'IA32_TSC_ADJUST', s64(value), true, t); return;
          case 'IA32_TSC_DEADLINE': kvm.writeTscDeadline(v, u64(value), true, t); return;
          case 'MSR_KVM_SYSTEM_TIME': case 'MSR_KVM_SYSTEM_TIME_NEW':
            this.msrMap(v).set(s.msr, u64(value));
            kvm.writeSystemTime(v, u64(value), t);
            return;
          default:
            // MSR_KVM_WALL_CLOCK(_NEW): kvm_write_wall_clock writes the page for userspace's write too
            this.msrMap(v).set(s.msr, u64(value));
            kvm.writeWallClock(v, u64(value), true, t, m.wallNs());
            return;
        }
      }
      case 'KVM_GET_MSRS': {
        const v = this.vcpu(s.vcpu);
        let value: bigint;
        switch (s.msr) {
          case 'IA32_TSC': value = kvm.readTsc(v, t); break;
          case 'IA32_TSC_ADJUST': value = v.tscAdjust; break;
          case 'IA32_TSC_DEADLINE': value = v.tscDeadline ?? 0n; break;
          case 'MSR_KVM_SYSTEM_TIME': case 'MSR_KVM_SYSTEM_TIME_NEW':
            value = this.msrMap(v).get(s.msr) ?? (v.kvmclockEnabled && s.msr === 'MSR_KVM_SYSTEM_TIME_NEW' ? m.kvmclockGpa(v.id) | 1n : 0n);
            break;
          default: value = this.msrMap(v).get(s.msr) ?? 0n;
        }
        rec.args = { msr: s.msr };
        rec.ret = { value };
        this.save(rec, s.as, value);
        return;
      }
      case 'KVM_GET_CLOCK': {
        const c = kvm.getClock(t, m.wallNs());
        const v = { clock: c.clock, flags: BigInt(c.flags), realtime: c.realtime, host_tsc: c.hostTsc };
        rec.ret = { ...v };
        this.save(rec, s.as, v);
        return;
      }
      case 'KVM_SET_CLOCK': {
        const flags = Array.isArray(s.flags) ? s.flags.reduce((a, f) => a | BigInt(CLOCK_FLAGS[f]), 0n) : s.flags === undefined ? 0n : this.num(s.flags);
        const clock = this.num(s.clock), realtime = s.realtime === undefined ? 0n : this.num(s.realtime);
        const hostTsc = s.host_tsc === undefined ? 0n : this.num(s.host_tsc);
        rec.args = { clock: u64(clock), flags, realtime, host_tsc: hostTsc };
        kvm.setClock(t, { clock: u64(clock), flags: Number(flags), realtime, hostTsc }, m.wallNs());
        return;
      }
      case 'KVM_GET_DEVICE_ATTR': {
        const offset = kvm.getTscOffset(this.vcpu(s.vcpu));
        rec.args = { attr: s.attr };
        rec.ret = { offset };
        this.save(rec, s.as, offset);
        return;
      }
      case 'KVM_SET_DEVICE_ATTR': {
        const offset = u64(this.num(s.value));
        rec.args = { attr: s.attr, offset };
        kvm.setTscOffset(this.vcpu(s.vcpu), offset, t);
        return;
      }
      case 'KVM_KVMCLOCK_CTRL': kvm.kvmclockCtrl(this.vcpu(s.vcpu), t); return;
      case 'KVM_RUN': {
        const vs = s.vcpu === undefined ? kvm.vcpus : [this.vcpu(s.vcpu)];
        if (m.guestVcpus() !== kvm.vcpus.length) {
          throw new StepError('step', `the guest has ${m.guestVcpus()} CPUs and this VM ${kvm.vcpus.length} vCPUs: create them all before KVM_RUN`);
        }
        m.vmRunning = true;
        for (const v of vs) if (!v.running) kvm.vcpuLoad(v, v.pcpu, t);
        return;
      }
      case 'pause': {
        for (const v of kvm.vcpus) if (v.running) kvm.vcpuPut(v, t);
        m.vmRunning = false;
        return;
      }
      case 'read-pvclock': {
        // the VMM reads the vCPU's pvclock page from guest memory (QEMU's kvmclock_current_nsec)
        const p = this.vcpu(s.vcpu).page;
        const v = { version: BigInt(p.version), tsc_timestamp: p.tscTimestamp, system_time: p.systemTime,
          tsc_to_system_mul: BigInt(p.tscToSystemMul), tsc_shift: BigInt(p.tscShift), flags: BigInt(p.flags) };
        rec.ret = { ...v };
        this.save(rec, s.as, v);
        return;
      }
      case 'let': {
        const v = this.num(s.value);
        rec.ret = { value: v };
        this.save(rec, s.as, v);
        return;
      }
      case 'KVM_GET_CLOCK_GUEST': {
        const pg = kvm.getClockGuest(this.vcpu(s.vcpu));
        const v = { version: BigInt(pg.version), tsc_timestamp: pg.tscTimestamp, system_time: pg.systemTime,
          tsc_to_system_mul: BigInt(pg.tscToSystemMul), tsc_shift: BigInt(pg.tscShift), flags: BigInt(pg.flags) };
        rec.ret = { ...v };
        this.save(rec, s.as, v);
        return;
      }
      case 'KVM_SET_CLOCK_GUEST': {
        const p = this.values.get(s.pvti);
        if (p === undefined || typeof p === 'bigint' || !('tsc_to_system_mul' in p)) {
          throw new StepError('EFAULT', `"${s.pvti}" is not a pvclock (saved by read-pvclock or KVM_GET_CLOCK_GUEST)`);
        }
        rec.args = { pvti: s.pvti, tsc_timestamp: p.tsc_timestamp, system_time: p.system_time };
        kvm.setClockGuest(this.vcpu(s.vcpu), { tscTimestamp: p.tsc_timestamp, systemTime: p.system_time,
          tscToSystemMul: Number(p.tsc_to_system_mul), tscShift: Number(BigInt.asIntN(8, p.tsc_shift)) }, t);
        return;
      }
      case 'guest-wrmsr': {
        const v = this.vcpu(s.vcpu);
        if (!m.guestPoint(v.id)) throw new StepError('step', `vCPU ${v.id} is not running guest code now`);
        const value = this.num(s.value);
        rec.args = { msr: s.msr, value };
        if (s.msr === 'IA32_TSC' || s.msr === 'IA32_TSC_ADJUST') kvm.writeMsr(v, s.msr, s.msr === 'IA32_TSC' ? u64(value) : s64(value), false, t);
        else if (s.msr === 'IA32_TSC_DEADLINE') kvm.writeTscDeadline(v, u64(value), false, t);
        else kvm.guestWriteSystemTime(v, u64(value), s.msr === 'MSR_KVM_SYSTEM_TIME', t);
        return;
      }
      case 'guest-rdtsc': case 'guest-rdmsr': case 'guest-kvmclock': case 'guest-clock_gettime': case 'guest-wallclock': {
        const v = this.vcpu(s.vcpu);
        const p = m.guestPoint(v.id);
        if (!p) throw new StepError('step', `vCPU ${v.id} is not running guest code now`);
        let value: bigint;
        if (s.do === 'guest-rdtsc') value = p.tsc;
        else if (s.do === 'guest-rdmsr') {
          rec.args = { msr: s.msr };
          if (s.msr === 'IA32_TSC') value = kvm.readTsc(v, t);
          else if (s.msr === 'IA32_TSC_DEADLINE') {
            kvm.tp(t, { name: 'kvm_msr', vcpu: v.id, write: false, msr: 0x6e0, data: v.tscDeadline ?? 0n });
            value = v.tscDeadline ?? 0n;
            // the guest's count of timer interrupts (the test's ISR counter)
            rec.ret = { fired: BigInt(v.deadlineFired ?? 0) };
          } else {
            kvm.tp(t, { name: 'kvm_msr', vcpu: v.id, write: false, msr: 0x3b, data: u64(v.tscAdjust) });
            value = v.tscAdjust;
          }
        } else if (s.do === 'guest-kvmclock') {
          if (p.kvmclock === null) throw new StepError('step', `vCPU ${v.id} has no kvmclock`);
          value = p.kvmclock;
          rec.ret = { flags: BigInt(v.page.flags) };
        } else if (s.do === 'guest-clock_gettime') {
          rec.args = { clock: s.clock };
          value = s.clock === 'CLOCK_MONOTONIC' ? p.monotonic : p.monotonic + m.guestWallToMonotonic();
          // the vDSO reads kvmclock itself only when the page carries a trusted PVCLOCK_TSC_STABLE_BIT; else a syscall
          rec.ret = { path: p.stable ? 'vdso-pvclock' : 'syscall' };
        } else {
          // kvm_get_wallclock: WRMSR(MSR_KVM_WALL_CLOCK_NEW, &wall_clock), then pvclock_read_wallclock(wall_clock, this
          // vCPU's page) at its TSC now
          kvm.writeWallClock(v, m.wallClockGpa(), false, t, m.wallNs());
          const w = kvm.wallClock;
          const r = m.k.pvclockReadWallclock(w, v.page, p.tsc);
          if (r.retry) throw new StepError('step', 'a page is mid-update');
          value = r.sec;
          rec.ret = { version: BigInt(w.version), wc_sec: BigInt(w.sec), wc_nsec: BigInt(w.nsec), sec: r.sec, nsec: BigInt(r.nsec) };
          this.save(rec, s.as, { sec: r.sec, nsec: BigInt(r.nsec), version: BigInt(w.version), wc_sec: BigInt(w.sec), wc_nsec: BigInt(w.nsec) });
          return;
        }
        rec.ret = { value, ...rec.ret };
        this.save(rec, s.as, value);
        return;
      }
    }
  }

  private msrMap(v: KvmVcpu): Map<MsrName, bigint> {
    let x = this.msrs.get(v);
    if (!x) this.msrs.set(v, (x = new Map()));
    return x;
  }
}

/** The VMM log line of a step. */
function describe(r: StepRecord): string {
  // KVM_GET/SET_CLOCK's flags by name; a pvclock page's flags (PVCLOCK_TSC_STABLE_BIT 1, PVCLOCK_GUEST_STOPPED 2) in hex
  const clockFlags = r.do === 'KVM_GET_CLOCK' || r.do === 'KVM_SET_CLOCK';
  const kv = (o: Record<string, bigint | string>) => Object.entries(o).map(([k, v]) => `${k}=${k === 'flags' && typeof v === 'bigint'
    ? (clockFlags ? flagNames(v) : `0x${v.toString(16)}`) : v}`).join(' ');
  let s = r.do + (r.vcpu !== undefined ? ` vCPU ${r.vcpu}` : '');
  if (r.args) s += ` ${kv(r.args)}`;
  if (r.skipped) return `${s}: skipped (${r.skipped})`;
  if (r.errno) return `${s}: -${r.errno} (${r.error})`;
  if (r.ret) s += ` -> ${kv(r.ret)}`;
  if (r.as) s += ` (as ${r.as})`;
  return s;
}
