// The simulation's vCPU table in Wasm memory (assembly/vcpu.ts): one slot per vCPU with what its clocks
// depend on between two host events. The event engine (sim/machine.ts) writes a slot when KVM changes
// that vCPU and reads every vCPU's raw clocks at one instant with one call.
import type { Core } from './core.js';
import type { PvclockTimeInfo } from './types.js';

const VS_SIZE = 96, VCPUS_MAX = 64;
const VS = { flags: 0, hostBase: 8, hostEpoch: 16, hostKhz: 24, ratio: 32, offset: 40, frac: 48, page: 64 } as const;

/** What a vCPU's clocks depend on. */
export interface SimVcpuState {
  /** MSR_KVM_SYSTEM_TIME is enabled: its pvclock page is read. */
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

export function simApi(k: Core) {
  const x = k.x;
  const vcpus = x.vcpusPtr(), reads = x.vcpuReadsPtr();
  const slot = (i: number) => vcpus + i * VS_SIZE;
  const vcpuIndex = (f: string, i: number) => {
    if (!Number.isInteger(i) || i < 0 || i >= VCPUS_MAX) throw new RangeError(`${f}: the vCPU index must be 0..${VCPUS_MAX - 1}, got ${i}`);
  };
  return {
    simMaxVcpus: VCPUS_MAX,
    /** Clears the table (a new run). */
    simReset(): void {
      new Uint8Array(k.memoryBuffer, vcpus, VCPUS_MAX * VS_SIZE).fill(0);
    },
    /** Writes what vCPU i's clocks depend on. */
    simSetVcpu(i: number, v: SimVcpuState): void {
      vcpuIndex('simSetVcpu', i);
      const dv = k.dv, at = slot(i);
      dv.setBigUint64(at + VS.flags, v.kvmclock ? 4n : 0n, true);
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
    },
    /**
     * The raw clocks of vCPUs 0..n-1 at real time t, without side effects: each one's guest TSC, its page's pvclock
     * value at that TSC (no clamp; 0 where kvmclock is off) and the page's flags. Into `into` (3 entries per vCPU).
     */
    simReadAll(n: number, t: bigint, into: bigint[] = []): bigint[] {
      if (!Number.isInteger(n) || n < 0 || n > VCPUS_MAX) throw new RangeError(`simReadAll: n must be 0..${VCPUS_MAX}, got ${n}`);
      x.vcpuReadAll(vcpus, n, t, reads);
      const m = k.mem64, base = reads >>> 3;
      for (let j = 0; j < n * 3; j++) into[j] = m[base + j];
      into.length = n * 3;
      return into;
    },
    /** vCPU i's raw clocks at t: [guest TSC, raw pvclock value (0 without kvmclock), page flags]. */
    simReadOne(i: number, t: bigint): [bigint, bigint, bigint] {
      vcpuIndex('simReadOne', i);
      x.vcpuReadOne(vcpus, i, t, reads);
      const m = k.mem64, base = reads >>> 3;
      return [m[base], m[base + 1], m[base + 2]];
    },
    /**
     * The largest raw pvclock value at t among vCPUs 0..n-1 in `mask` (bit i: vCPU i) with kvmclock, leaving out pages
     * with PVCLOCK_TSC_STABLE_BIT when skipStable (what raises pvclock's last_value); 0 if none.
     */
    simMaxPvclock(n: number, mask: bigint, skipStable: boolean, t: bigint): bigint {
      if (!Number.isInteger(n) || n < 0 || n > VCPUS_MAX) throw new RangeError(`simMaxPvclock: n must be 0..${VCPUS_MAX}, got ${n}`);
      return BigInt.asUintN(64, x.vcpuMaxPvclock(vcpus, n, BigInt.asUintN(64, mask), skipStable ? 1 : 0, t));
    },
  };
}
