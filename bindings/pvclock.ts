// pvclock (arch/x86/include/asm/pvclock.h, arch/x86/kernel/pvclock.c).
import type { Core } from './core.js';
import type { PvclockTimeInfo, PvclockWallClock } from './types.js';
import { fromI64, int, object, pvShift, u32, u64, u8 } from './check.js';

export const PVCLOCK_TSC_STABLE_BIT = 1 << 0;
export const PVCLOCK_GUEST_STOPPED = 1 << 1;
export const PVCLOCK_COUNTS_FROM_ZERO = 1 << 2;
/** sizeof(struct pvclock_vcpu_time_info). */
export const PVCLOCK_TIME_INFO_SIZE = 32;

// Status bits of a clamped read (assembly/pvclock.ts).
const READ_RETRY = 1, READ_CLAMPED = 2, READ_GUEST_STOPPED = 4;
// Clamp state slots (assembly/pvclock.ts ST_*).
const ST_LAST = 0, ST_VALID = 8, ST_DOWD = 16, ST_STOPPED = 24, ST_CLAMPED = 32;

/** A checked copy of the fields the formulas use. */
function checkInfo(fn: string, info: unknown): Required<PvclockTimeInfo> {
  const p = object<PvclockTimeInfo>(fn, 'info', info);
  return {
    version: p.version === undefined ? 0 : u32(fn, 'info.version', p.version),
    tscTimestamp: u64(fn, 'info.tscTimestamp', p.tscTimestamp),
    systemTime: u64(fn, 'info.systemTime', p.systemTime),
    tscToSystemMul: u32(fn, 'info.tscToSystemMul', p.tscToSystemMul),
    tscShift: pvShift(fn, 'info.tscShift', p.tscShift),
    flags: p.flags === undefined ? 0 : u8(fn, 'info.flags', p.flags),
  };
}

function writeInfo(dv: DataView, at: number, p: Required<PvclockTimeInfo>): void {
  dv.setUint32(at, p.version, true);
  dv.setUint32(at + 4, 0, true);
  dv.setBigUint64(at + 8, p.tscTimestamp, true);
  dv.setBigUint64(at + 16, p.systemTime, true);
  dv.setUint32(at + 24, p.tscToSystemMul, true);
  dv.setInt8(at + 28, p.tscShift);
  dv.setUint8(at + 29, p.flags);
  dv.setUint16(at + 30, 0, true);
}

/** The 32-byte little-endian struct pvclock_vcpu_time_info of `info`. */
export function encodePvclockTimeInfo(info: PvclockTimeInfo): Uint8Array {
  const bytes = new Uint8Array(PVCLOCK_TIME_INFO_SIZE);
  writeInfo(new DataView(bytes.buffer), 0, checkInfo('encodePvclockTimeInfo', info));
  return bytes;
}

/** Reads a struct pvclock_vcpu_time_info (32 bytes, little-endian). */
export function decodePvclockTimeInfo(bytes: Uint8Array): Required<PvclockTimeInfo> {
  if (!(bytes instanceof Uint8Array) || bytes.length < PVCLOCK_TIME_INFO_SIZE) {
    throw new RangeError(`decodePvclockTimeInfo: need ${PVCLOCK_TIME_INFO_SIZE} bytes, got ${bytes?.length ?? typeof bytes}`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, PVCLOCK_TIME_INFO_SIZE);
  return {
    version: dv.getUint32(0, true),
    tscTimestamp: dv.getBigUint64(8, true),
    systemTime: dv.getBigUint64(16, true),
    tscToSystemMul: dv.getUint32(24, true),
    tscShift: dv.getInt8(28),
    flags: dv.getUint8(29),
  };
}

/** pvclock_read_begin: the version with the in-progress bit cleared. */
export function pvclockReadBegin(version: number): number {
  return (u32('pvclockReadBegin', 'version', version) & ~1) >>> 0;
}

/** pvclock_read_retry: true when the page changed (or was mid-update) during the read. */
export function pvclockReadRetry(begin: number, version: number): boolean {
  return u32('pvclockReadRetry', 'begin', begin) !== u32('pvclockReadRetry', 'version', version);
}

export type PvclockRead =
  | { retry: true }
  | { retry: false; ns: bigint; clamped: boolean; guestStopped: boolean };

export interface PvclockClampOptions {
  /** pvclock_set_flags(): PVCLOCK_TSC_STABLE_BIT when the guest trusts STABLE (KVM_FEATURE_CLOCKSOURCE_STABLE_BIT). */
  validFlags?: number;
  /** Clear GUEST_STOPPED and touch the watchdogs on reads (pvclock_clocksource_read), or not (_nowd). Default true. */
  dowd?: boolean;
  /** The global last_value to start from (pvclock_resume() sets 0). */
  lastValue?: bigint;
}

/**
 * The state of pvclock_clocksource_read: one global last_value for all vCPUs.
 * Reads of pages without a trusted STABLE bit never return less than it.
 */
export interface PvclockClamp {
  lastValue: bigint;
  readonly validFlags: number;
  readonly dowd: boolean;
  /** Reads that found GUEST_STOPPED, cleared it and touched the watchdogs. */
  guestStoppedCount: bigint;
  /** Reads whose own value was below last_value and were raised to it. */
  clampedCount: bigint;
  /** One pvclock_clocksource_read of `info` at guest TSC `tsc`. Clears GUEST_STOPPED in `info` like the guest does. */
  read(info: PvclockTimeInfo, tsc: bigint): PvclockRead;
  /**
   * A stream of reads: sample i reads pages[cpu[i]] at tsc[i] into out[i].
   * Returns how many samples were read: it stops before the first page with
   * an odd version (the reader would spin there until the host finishes).
   */
  readStream(pages: PvclockTimeInfo[], cpu: Uint32Array, tsc: BigUint64Array, out: BigUint64Array): number;
}

export function pvclockApi(k: Core) {
  const x = k.x;

  function loadState(c: PvclockClamp): void {
    const dv = k.dv;
    dv.setBigUint64(k.pvState + ST_LAST, c.lastValue, true);
    dv.setBigUint64(k.pvState + ST_VALID, BigInt(c.validFlags), true);
    dv.setBigUint64(k.pvState + ST_DOWD, c.dowd ? 1n : 0n, true);
    dv.setBigUint64(k.pvState + ST_STOPPED, 0n, true);
    dv.setBigUint64(k.pvState + ST_CLAMPED, 0n, true);
  }
  function saveState(c: PvclockClamp): void {
    const dv = k.dv;
    c.lastValue = dv.getBigUint64(k.pvState + ST_LAST, true);
    c.guestStoppedCount += dv.getBigUint64(k.pvState + ST_STOPPED, true);
    c.clampedCount += dv.getBigUint64(k.pvState + ST_CLAMPED, true);
  }

  return {
    /** pvclock_scale_delta: pre-shift delta by shift, then bits [95:32] of delta * mul. */
    pvclockScaleDelta(delta: bigint, mul: number, shift: number): bigint {
      const f = 'pvclockScaleDelta';
      return fromI64(x.pvclockScaleDelta(u64(f, 'delta', delta), u32(f, 'mul', mul), pvShift(f, 'shift', shift)));
    },
    /** __pvclock_read_cycles: system_time + scale(tsc - tsc_timestamp), mod 2^64. */
    pvclockReadCycles(info: PvclockTimeInfo, tsc: bigint): bigint {
      const f = 'pvclockReadCycles';
      const p = checkInfo(f, info);
      return fromI64(x.pvclockReadCycles(p.tscTimestamp, p.systemTime, p.tscToSystemMul, p.tscShift, u64(f, 'tsc', tsc)));
    },
    /** pvclock_tsc_khz: the TSC rate the page implies, (10^6 << 32) / mul undone by the shift (truncating). */
    pvclockTscKhz(info: Pick<PvclockTimeInfo, 'tscToSystemMul' | 'tscShift'>): bigint {
      const f = 'pvclockTscKhz';
      const p = object<PvclockTimeInfo>(f, 'info', info);
      return fromI64(x.pvclockTscKhz(int(f, 'info.tscToSystemMul', p.tscToSystemMul, 1, 0xFFFFFFFF, 'non-zero u32'),
        pvShift(f, 'info.tscShift', p.tscShift)));
    },
    /**
     * pvclock_read_wallclock: the wall time now, from the wall clock page and
     * the vCPU page at guest TSC tsc. Either page mid-update: { retry: true }.
     * (The kvmclock value is the raw __pvclock_read_cycles; see createPvclockClamp for the clamp.)
     */
    pvclockReadWallclock(wall: PvclockWallClock, info: PvclockTimeInfo, tsc: bigint):
        { retry: true } | { retry: false; sec: bigint; nsec: number } {
      const f = 'pvclockReadWallclock';
      const w = object<PvclockWallClock>(f, 'wall', wall);
      const sec = u32(f, 'wall.sec', w.sec), nsec = u32(f, 'wall.nsec', w.nsec);
      const wv = w.version === undefined ? 0 : u32(f, 'wall.version', w.version);
      const p = checkInfo(f, info);
      if (wv & 1 || p.version & 1) return { retry: true };
      const now = x.pvclockReadCycles(p.tscTimestamp, p.systemTime, p.tscToSystemMul, p.tscShift, u64(f, 'tsc', tsc));
      const s = fromI64(x.pvclockReadWallclock(sec, nsec, now, k.io));
      return { retry: false, sec: s, nsec: Number(k.dv.getBigUint64(k.io, true)) };
    },
    /** A pvclock_clocksource_read state (the global last_value clamp). */
    createPvclockClamp(options: PvclockClampOptions = {}): PvclockClamp {
      const f = 'createPvclockClamp';
      const o = object<PvclockClampOptions>(f, 'options', options);
      const clamp: PvclockClamp = {
        lastValue: o.lastValue === undefined ? 0n : u64(f, 'options.lastValue', o.lastValue),
        validFlags: o.validFlags === undefined ? 0 : u8(f, 'options.validFlags', o.validFlags),
        dowd: o.dowd ?? true,
        guestStoppedCount: 0n,
        clampedCount: 0n,
        read(info: PvclockTimeInfo, tsc: bigint): PvclockRead {
          const g = 'PvclockClamp.read';
          const p = checkInfo(g, info);
          const t = u64(g, 'tsc', tsc);
          writeInfo(k.dv, k.pvPage, p);
          loadState(clamp);
          const ns = fromI64(x.pvclockClocksourceRead(k.pvPage, t, k.pvState));
          const status = k.dv.getUint32(k.io, true);
          if (status & READ_RETRY) return { retry: true };
          saveState(clamp);
          if (status & READ_GUEST_STOPPED) info.flags = (info.flags ?? 0) & ~PVCLOCK_GUEST_STOPPED;
          return { retry: false, ns, clamped: (status & READ_CLAMPED) !== 0, guestStopped: (status & READ_GUEST_STOPPED) !== 0 };
        },
        readStream(pages: PvclockTimeInfo[], cpu: Uint32Array, tsc: BigUint64Array, out: BigUint64Array): number {
          const g = 'PvclockClamp.readStream';
          if (!Array.isArray(pages) || pages.length === 0 || pages.length > k.pvPagesMax) {
            throw new RangeError(`${g}: pages must be an array of 1..${k.pvPagesMax} pvclock pages`);
          }
          if (!(cpu instanceof Uint32Array)) throw new TypeError(`${g}: cpu must be a Uint32Array`);
          if (!(tsc instanceof BigUint64Array) || !(out instanceof BigUint64Array)) throw new TypeError(`${g}: tsc and out must be BigUint64Arrays`);
          if (cpu.length !== tsc.length || out.length < tsc.length) {
            throw new RangeError(`${g}: cpu (${cpu.length}), tsc (${tsc.length}) and out (${out.length}) lengths disagree`);
          }
          const checked = pages.map((p, i) => checkInfo(`${g} pages[${i}]`, p));
          for (let i = 0; i < cpu.length; i++) {
            if (cpu[i] >= pages.length) throw new RangeError(`${g}: cpu[${i}] = ${cpu[i]} but only ${pages.length} pages`);
          }
          checked.forEach((p, i) => writeInfo(k.dv, k.pvPages + i * PVCLOCK_TIME_INFO_SIZE, p));
          loadState(clamp);
          let done = 0;
          while (done < tsc.length) {
            const n = Math.min(k.chunk, tsc.length - done);
            new Uint32Array(k.memoryBuffer, k.chunkIdx, n).set(cpu.subarray(done, done + n));
            new BigUint64Array(k.memoryBuffer, k.chunkIn, n).set(tsc.subarray(done, done + n));
            const got = x.pvclockClocksourceReadBatch(k.pvPages, k.chunkIdx, k.chunkIn, k.chunkOut, n, k.pvState);
            out.set(new BigUint64Array(k.memoryBuffer, k.chunkOut, got), done);
            done += got;
            if (got < n) break;
          }
          saveState(clamp);
          // The guest clears GUEST_STOPPED in the pages it consumed: mirror that.
          pages.forEach((p, i) => {
            const flags = k.dv.getUint8(k.pvPages + i * PVCLOCK_TIME_INFO_SIZE + 29);
            if (p.flags !== undefined && p.flags !== flags) p.flags = flags;
          });
          return done;
        },
      };
      return clamp;
    },
  };
}
