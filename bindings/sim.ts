// The simulation's tables in Wasm memory (assembly/observe.ts): one slot per
// vCPU with everything a clock read needs, one guest block, the anomaly
// records. The simulation (sim/) writes state here at each event and lets
// the Wasm loop do the periodic reads in between.
import type { Core } from './core.js';
import type { PvclockTimeInfo } from './types.js';

const VS_SIZE = 256;
const VS = { flags: 0, hostBase: 8, hostEpoch: 16, hostKhz: 24, ratio: 32, offset: 40, frac: 48, page: 64,
  lastT: 96, lastTsc: 104, lastKvm: 112, lastSched: 120, lastMono: 128 } as const;
const GS = { schedMode: 0, schedStable: 8, schedOffset: 16, schedMul: 24, schedShift: 32, stableOffset: 40, csMode: 48,
  csMult: 56, csShift: 64, csMask: 72, tkCycles: 80, tkNs: 88, tkMaxRaw: 96, stableMax: 104, monoMax: 112, slack: 120,
  tickNs: 128, gap: 136, since: 144, tickCpu: 152, pvState: 192,
  wdOn: 256, wdNext: 264, wdCs: 272, wdWd: 280, wdMd: 288, wdInterval: 296, tscMult: 304, tscShift: 312, stopAt: 320,
  hvOn: 344, hvSeq: 352, hvScale: 360, hvOffset: 368, stopFull: 376, reads: 384 } as const;
const AN_SIZE = 56;

/** What a vCPU's clock reads depend on. */
export interface SimVcpuState {
  online: boolean;
  running: boolean;
  kvmclock: boolean;
  /** Its pCPU's TSC: base at epoch (ns), counting at khz. */
  hostBase: bigint;
  hostEpoch: bigint;
  hostKhz: number;
  ratio: bigint;
  offset: bigint;
  fracBits: 48 | 32;
  page: Required<PvclockTimeInfo>;
}

export interface SimGuestState {
  /** sched_clock: 'kvmclock' = kvm_clock_read() - offset; 'tsc' = mul_u64_u32_shr(tsc, mul, shift) + offset. */
  schedMode: 'kvmclock' | 'tsc';
  schedStable: boolean;
  schedOffset: bigint;
  schedMul: number;
  schedShift: number;
  /** __sched_clock_offset of the stable mode. */
  stableOffset: bigint;
  /** The timekeeping clocksource and its registration. */
  csMode: 'kvmclock' | 'tsc';
  csMult: number;
  csShift: number;
  csMask: bigint;
  /** The timekeeper's anchor: cycle_last and CLOCK_MONOTONIC there. */
  tkCycles: bigint;
  tkNs: bigint;
  /** max_raw_delta, 0 when not checked. */
  tkMaxRaw: bigint;
  /** A clock ahead of or behind real time by more than this between two reads is a jump or a stall. */
  slackNs: bigint;
  tickNs: bigint;
  /** A clock advancing more than this between two reads of one vCPU is a gap (what lockup detectors see). */
  gapNs: bigint;
}

export type SimAnomalyKind = 'backwards' | 'cross-backwards' | 'jump' | 'stall' | 'gap' | 'watchdog' | 'hv-bracket';
export type SimClock = 'tsc' | 'kvmclock' | 'sched_clock' | 'monotonic' | 'hv-reference';
export interface SimRecord { kind: SimAnomalyKind; clock: SimClock; vcpu: number; t: bigint; size: bigint; now: bigint; prev: bigint }
export interface SimReading { tsc: bigint; kvmclock: bigint; schedClock: bigint; monotonic: bigint; stable: boolean }

const KINDS: SimAnomalyKind[] = ['backwards', 'backwards', 'cross-backwards', 'jump', 'stall', 'gap', 'watchdog', 'hv-bracket'];
const CLOCKS: SimClock[] = ['tsc', 'kvmclock', 'sched_clock', 'monotonic', 'hv-reference'];

export function simApi(k: Core) {
  const x = k.x;
  const vcpus = x.simVcpusPtr(), guest = x.simGuestPtr(), anomalies = x.simAnomaliesPtr(), cap = x.simAnomalyCap();
  const slot = (i: number) => vcpus + i * VS_SIZE;
  const state = guest + GS.pvState;
  // the loop divides by TICK_NSEC: reads need the guest block first
  const needGuest = (what: string) => {
    if (k.dv.getBigUint64(guest + GS.tickNs, true) === 0n) throw new Error(`${what}: set the guest block with simSetGuest() first`);
  };
  const decode = (count: number): SimRecord[] => {
    const dv = k.dv, records: SimRecord[] = [];
    for (let r = 0; r < Math.min(count, cap); r++) {
      const at = anomalies + r * AN_SIZE, g = (o: number) => dv.getBigUint64(at + o, true);
      records.push({ kind: KINDS[Number(g(0))], clock: CLOCKS[Number(g(8))], vcpu: Number(g(16)), t: g(24), size: g(32), now: g(40), prev: g(48) });
    }
    return records;
  };
  return {
    simMaxVcpus: 64,
    /** Clears every table (a new run). */
    simReset(): void {
      new Uint8Array(k.memoryBuffer, vcpus, 64 * VS_SIZE).fill(0);
      new Uint8Array(k.memoryBuffer, guest, 512).fill(0);
      x.obsResetTick();
    },
    /** Writes what vCPU i's reads depend on (its last-read history is kept). */
    simSetVcpu(i: number, v: SimVcpuState): void {
      const dv = k.dv, at = slot(i);
      dv.setBigUint64(at + VS.flags, BigInt((v.online ? 1 : 0) | (v.running ? 2 : 0) | (v.kvmclock ? 4 : 0)), true);
      dv.setBigUint64(at + VS.hostBase, v.hostBase, true);
      dv.setBigUint64(at + VS.hostEpoch, v.hostEpoch, true);
      dv.setBigUint64(at + VS.hostKhz, BigInt(v.hostKhz), true);
      dv.setBigUint64(at + VS.ratio, v.ratio, true);
      dv.setBigUint64(at + VS.offset, v.offset, true);
      dv.setBigUint64(at + VS.frac, BigInt(v.fracBits), true);
      const p = at + VS.page;
      dv.setUint32(p, v.page.version, true);
      dv.setBigUint64(p + 8, v.page.tscTimestamp, true);
      dv.setBigUint64(p + 16, v.page.systemTime, true);
      dv.setUint32(p + 24, v.page.tscToSystemMul, true);
      dv.setInt8(p + 28, v.page.tscShift);
      dv.setUint8(p + 29, v.page.flags);
      x.obsResetTick();
    },
    /** The state changed at real time t: ticks before it are not replayed; tickCpu now takes the tick. */
    simStateChanged(t: bigint, tickCpu: number): void {
      k.dv.setBigUint64(guest + GS.since, t, true);
      k.dv.setBigUint64(guest + GS.tickCpu, BigInt(tickCpu), true);
      x.obsResetTick();
    },
    /** The page flags as the guest left them (it clears GUEST_STOPPED). */
    simPageFlags(i: number): number {
      return k.dv.getUint8(slot(i) + VS.page + 29);
    },
    simSetGuest(g: SimGuestState): void {
      const dv = k.dv, w = (o: number, v: bigint) => dv.setBigUint64(guest + o, v, true);
      w(GS.schedMode, g.schedMode === 'tsc' ? 1n : 0n);
      w(GS.schedStable, g.schedStable ? 1n : 0n);
      w(GS.schedOffset, g.schedOffset);
      w(GS.schedMul, BigInt(g.schedMul));
      w(GS.schedShift, BigInt(g.schedShift));
      w(GS.stableOffset, g.stableOffset);
      w(GS.csMode, g.csMode === 'tsc' ? 1n : 0n);
      w(GS.csMult, BigInt(g.csMult));
      w(GS.csShift, BigInt(g.csShift));
      w(GS.csMask, g.csMask);
      w(GS.tkCycles, g.tkCycles);
      w(GS.tkNs, g.tkNs);
      w(GS.tkMaxRaw, g.tkMaxRaw);
      w(GS.slack, g.slackNs);
      if (g.tickNs <= 0n) throw new RangeError(`simSetGuest: tickNs must be positive, got ${g.tickNs}`);
      w(GS.tickNs, g.tickNs);
      w(GS.gap, g.gapNs);
      x.obsResetTick();
    },
    /** The clocksource watchdog: whether tsc is watched, its margin, interval and the tsc mult/shift. */
    simSetWatchdog(w: { on: boolean; marginNs: bigint; intervalNs: bigint; tscMult: number; tscShift: number; next: bigint }): void {
      const dv = k.dv, s = (o: number, v: bigint) => dv.setBigUint64(guest + o, v, true);
      s(GS.wdOn, w.on ? 1n : 0n);
      s(GS.wdMd, w.marginNs);
      s(GS.wdInterval, w.intervalNs);
      s(GS.tscMult, BigInt(w.tscMult));
      s(GS.tscShift, BigInt(w.tscShift));
      s(GS.wdNext, w.next);
      s(GS.wdCs, 0n); // the first round after any change re-initialises cs_last/wd_last
    },
    /** clocksource_touch_watchdog(): the next watchdog round re-initialises instead of judging. */
    simTouchWatchdog(): void {
      k.dv.setBigUint64(guest + GS.wdCs, 0n, true);
    },
    /** The Hyper-V reference TSC page the guest reads (sequence 0: the reference counter MSR). */
    simSetHvPage(p: { on: boolean; sequence: number; scale: bigint; offset: bigint }): void {
      const dv = k.dv;
      dv.setBigUint64(guest + GS.hvOn, p.on ? 1n : 0n, true);
      dv.setBigUint64(guest + GS.hvSeq, BigInt(p.sequence), true);
      dv.setBigUint64(guest + GS.hvScale, p.scale, true);
      dv.setBigUint64(guest + GS.hvOffset, p.offset, true);
    },
    /** The pvclock clamp: last_value and whether STABLE is trusted (valid_flags). */
    simSetClamp(lastValue: bigint, validFlags: number): void {
      k.dv.setBigUint64(state, lastValue, true);
      k.dv.setBigUint64(state + 8, BigInt(validFlags), true);
      k.dv.setBigUint64(state + 16, 1n, true); // dowd: reads consume GUEST_STOPPED
    },
    simClamp(): { lastValue: bigint; guestStopped: bigint; clamped: bigint } {
      const dv = k.dv;
      return { lastValue: dv.getBigUint64(state, true), guestStopped: dv.getBigUint64(state + 24, true), clamped: dv.getBigUint64(state + 32, true) };
    },
    /** The largest kvmclock read under STABLE and the largest CLOCK_MONOTONIC read so far. */
    simMaxima(): { stableMax: bigint; monoMax: bigint } {
      return { stableMax: k.dv.getBigUint64(guest + GS.stableMax, true), monoMax: k.dv.getBigUint64(guest + GS.monoMax, true) };
    },
    /**
     * The raw clocks of vCPUs 0..n-1 at t, without side effects: each one's TSC, its page's pvclock value at that
     * TSC (no clamp; 0 where kvmclock is off) and the page's flags. Into `into` (3 entries per vCPU), returned.
     */
    simReadAll(n: number, t: bigint, into: bigint[] = []): bigint[] {
      if (n > 64) throw new RangeError(`simReadAll: n must be 0..64, got ${n}`);
      x.evReadAll(vcpus, n, t, anomalies);
      const m = k.mem64, base = anomalies >>> 3;
      for (let j = 0; j < n * 3; j++) into[j] = m[base + j];
      into.length = n * 3;
      return into;
    },
    /** One read on vCPU i at t (it goes through the clamp, as a real read does). */
    simRead(i: number, t: bigint): SimReading {
      needGuest('simRead');
      const at = x.obsRead(vcpus, i, guest, t), dv = k.dv;
      return { tsc: dv.getBigUint64(at, true), kvmclock: dv.getBigUint64(at + 8, true), schedClock: dv.getBigUint64(at + 16, true),
        monotonic: dv.getBigUint64(at + 24, true), stable: dv.getBigUint64(at + 32, true) !== 0n };
    },
    /** The last values the periodic reads saw on vCPU i (0 time: none yet). */
    simLast(i: number): { t: bigint; tsc: bigint; kvmclock: bigint; schedClock: bigint; monotonic: bigint } {
      const dv = k.dv, at = slot(i);
      return { t: dv.getBigUint64(at + VS.lastT, true), tsc: dv.getBigUint64(at + VS.lastTsc, true), kvmclock: dv.getBigUint64(at + VS.lastKvm, true),
        schedClock: dv.getBigUint64(at + VS.lastSched, true), monotonic: dv.getBigUint64(at + VS.lastMono, true) };
    },
    /** Re-base vCPU i's last kvmclock read (a clock the guest kernel re-bases itself, as after a Xen restore). */
    simRebaseKvmclock(i: number, value: bigint): void {
      k.dv.setBigUint64(slot(i) + VS.lastKvm, value, true);
    },
    /** Forget vCPU i's last reads (a vCPU coming online starts a fresh history). */
    simForget(i: number): void {
      new Uint8Array(k.memoryBuffer, slot(i) + VS.lastT, 48).fill(0);
      new Uint8Array(k.memoryBuffer, slot(i) + 160, 64).fill(0);
    },
    /** Emits the stalls still open on vCPUs 0..n-1 (end of a run, or before a history reset). */
    simFlush(n: number): SimRecord[] {
      return decode(x.obsFlush(vcpus, n, anomalies, cap) >>> 0);
    },
    /** The periodic reads over [from, to) every period (none before notBefore): the anomalies, how many reads were made,
     *  and where it stopped early, if it did: for the guest to react to a watchdog verdict, or (full) to hand over a
     *  full record buffer; the caller resumes after stoppedAt. */
    simObserve(n: number, from: bigint, to: bigint, period: bigint, notBefore = 0n): { records: SimRecord[]; reads: bigint; stoppedAt: bigint | null; full: boolean } {
      needGuest('simObserve');
      const count = x.observe(vcpus, n, guest, from, to, period, anomalies, cap, notBefore) >>> 0;
      const dv = k.dv, stop = dv.getBigUint64(guest + GS.stopAt, true);
      return { records: decode(count), reads: dv.getBigUint64(guest + GS.reads, true), stoppedAt: stop === 0n ? null : stop,
        full: dv.getBigUint64(guest + GS.stopFull, true) !== 0n };
    },
  };
}
