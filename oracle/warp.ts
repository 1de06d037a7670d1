// The warp check's model (assembly/warp.ts) written again from its rules, plainly, in BigInt: check_tsc_warp on every
// CPU with a spinlock whose hand-off costs host cycles, one acquisition at a time, no closed form. The Wasm loop (its
// two-CPU path in locals, its general path and its closed-form skip) is property-tested against this.
//  - who takes the lock next: among the running CPUs already waiting for it (ready <= when it is free) a seeded draw
//    ((splitmix64 >> 32) * waiting >> 32, in CPU order); if nobody waits, the first to arrive (the lower CPU on a tie);
//  - the acquisition costs `local` cycles on the CPU that held it last, else the run's hand-off (drawn once from
//    [handoff, handoffMax] when they differ), plus 0..jitter drawn per acquisition;
//  - the CPU reads its TSC (kvm_scale_tsc(host + skew, ratio) + offset + TSC_ADJUST); every 8th iteration it leaves
//    when that is past its start + tsc_khz * timeout or the iteration count is past the cap (that read is not
//    compared); else a read below the last one is a warp, recorded under the lock again (`local` more cycles);
//  - then it wants the lock again `loop` cycles later.
import { kvmScaleTsc } from './index.js';

const M = (1n << 64n) - 1n;
const u64 = (x: bigint) => x & M;
function splitmix64(s: { v: bigint }): bigint {
  s.v = u64(s.v + 0x9e3779b97f4a7c15n);
  let z = s.v;
  z = u64((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n);
  z = u64((z ^ (z >> 27n)) * 0x94d049bb133111ebn);
  return z ^ (z >> 31n);
}

export interface WarpModel {
  cpus: { ratio: bigint; offset: bigint; tscAdjust: bigint; skew: bigint }[];
  tscKhz: bigint; timeoutMs: bigint; hostStart: bigint; handoff: bigint; handoffMax: bigint; jitter: bigint;
  local: bigint; loop: bigint; seed: bigint; fracBits: number; maxIterations: bigint; lastTsc: bigint;
}

export function checkTscWarpModel(m: WarpModel) {
  const n = m.cpus.length, rng = { v: m.seed };
  const handoff = m.handoffMax > m.handoff ? m.handoff + splitmix64(rng) % (m.handoffMax - m.handoff + 1n) : m.handoff;
  const tsc = (c: number, h: bigint) => {
    const p = m.cpus[c];
    return u64(kvmScaleTsc(u64(h + p.skew), p.ratio, m.fracBits) + p.offset + p.tscAdjust);
  };
  const span = m.tscKhz * m.timeoutMs;
  const cpu = m.cpus.map((_, c) => {
    const start = tsc(c, m.hostStart);
    return { ready: m.hostStart, end: u64(start + span), running: true, iterations: 0n, maxWarp: 0n, start, last: 0n, curWarps: 0n };
  });
  let lastTsc = m.lastTsc, lockFree = m.hostStart, holder = -1, live = n;
  let maxWarp = 0n, nrWarps = 0n, randomWarps = 0n, reads = 0n, capped = false, zero = false;
  while (live > 0) {
    const waiting = cpu.map((x, c) => c).filter((c) => cpu[c].running && cpu[c].ready <= lockFree);
    let c = -1;
    for (let d = 0; d < n; d++) if (cpu[d].running && (c < 0 || cpu[d].ready < cpu[c].ready)) c = d;
    if (waiting.length > 1) c = waiting[Number(((splitmix64(rng) >> 32n) * BigInt(waiting.length)) >> 32n)];
    const x = cpu[c];
    let cost = c === holder ? m.local : handoff;
    if (m.jitter !== 0n) cost += splitmix64(rng) % (m.jitter + 1n);
    const t = u64((x.ready > lockFree ? x.ready : lockFree) + cost);
    holder = c;
    const prev = lastTsc, now = tsc(c, t);
    lastTsc = now;
    lockFree = t;
    reads++;
    const i = x.iterations;
    x.last = now;
    let next = u64(t + m.loop);
    if ((i & 7n) === 0n && (now > x.end || i > m.maxIterations)) {
      if (i > m.maxIterations) capped = true;
      if (now === x.start) zero = true;
      x.iterations = i + 1n;
      x.running = false;
      live--;
      continue;
    }
    if (prev > now) {
      if (prev - now > maxWarp) maxWarp = prev - now;
      x.maxWarp = maxWarp;
      if (x.curWarps !== nrWarps) randomWarps++;
      nrWarps++;
      x.curWarps = nrWarps;
      lockFree = u64(t + m.local);
      next = u64(next + m.local);
    }
    x.iterations = i + 1n;
    x.ready = next;
  }
  return { maxWarp, nrWarps, randomWarps, reads, hostEnd: lockFree, hitIterationCap: capped, zeroCalibrationDelta: zero,
    cpus: cpu.map((x) => ({ iterations: x.iterations, curMaxWarp: x.maxWarp, start: x.start, last: x.last })) };
}
