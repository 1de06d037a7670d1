// check_tsc_warp() of arch/x86/kernel/tsc_sync.c, run over simulated CPUs.
//
// Every CPU loops: take sync_lock, prev = last_tsc, now = its TSC, last_tsc =
// now, drop the lock; every 8th iteration stop when now > end (end = start +
// tsc_khz * timeout_ms, in its own TSC) or i > 10,000,000; count prev > now as
// a warp. The CPUs' TSCs are functions of one host clock h (host cycles):
//   tsc_c(h) = kvm_scale_tsc(h + skew_c, ratio_c) + offset_c + tsc_adjust_c
// Who gets the lock when several want it is drawn from a seeded splitmix64,
// so a run is deterministic; the lock hand-off costs cycles of host time. That
// cost is not a constant: the kernel's comment ("observed values are ~200 TSC
// cycles, but this really depends on CPU, node distance and frequency") and
// tglx's and Waiman Long's measurements (one-shot 104-330 cycles, changing
// between runs with the core's frequency) make it a per-run draw from
// [handoff, handoffMax], plus up to `jitter` per acquisition. A compensation
// by the observed warp then leaves the target behind by that run's hand-off,
// and the next run sees a residual warp whenever its hand-off is cheaper.
import { kvmScaleTsc } from "./kvm";
import { mulU64U64Shr } from "./wide";

export const WARP_MAX_CPUS: u32 = 64;

// Parameter block (u64 slots) at cfg.
export const WP_NCPUS: usize = 0;
export const WP_TSC_KHZ: usize = 8;
export const WP_TIMEOUT_MS: usize = 16;
export const WP_HOST_START: usize = 24;
export const WP_HANDOFF: usize = 32;      // host cycles to take the lock from another CPU (the run's draw starts here)
export const WP_LOCAL: usize = 40;        // host cycles to retake it on the same CPU
export const WP_LOOP: usize = 48;         // host cycles between dropping and wanting the lock
export const WP_SEED: usize = 56;
export const WP_FRAC_BITS: usize = 64;
export const WP_MAX_ITER: usize = 72;     // the kernel's 10,000,000
export const WP_LAST_TSC: usize = 80;     // last_tsc on entry (0 after the source's reset)
export const WP_HANDOFF_MAX: usize = 88;  // the run's hand-off is drawn from [WP_HANDOFF, WP_HANDOFF_MAX]
export const WP_JITTER: usize = 96;       // plus 0..WP_JITTER per acquisition
export const WP_STEP_ONLY: usize = 104;   // 1: never skip cycles in closed form (to test the skip against stepping)
export const WP_CPUS: usize = 128;        // then per CPU, 32 bytes:
export const WPC_RATIO: usize = 0;
export const WPC_OFFSET: usize = 8;
export const WPC_ADJUST: usize = 16;
export const WPC_SKEW: usize = 24;
export const WPC_SIZE: usize = 32;

// Result block (u64 slots) at out.
export const WR_MAX_WARP: usize = 0;
export const WR_NR_WARPS: usize = 8;
export const WR_RANDOM_WARPS: usize = 16;
export const WR_READS: usize = 24;
export const WR_HOST_END: usize = 32;
export const WR_FLAGS: usize = 40;        // bit 0: a CPU hit the iteration cap; bit 1: zero calibration delta
export const WR_CPUS: usize = 64;         // then per CPU, 32 bytes:
export const WRC_ITERATIONS: usize = 0;  // loop iterations = TSC reads of this CPU
export const WRC_MAX_WARP: usize = 8;     // cur_max_warp as this CPU's call returns it
export const WRC_START: usize = 16;
export const WRC_LAST: usize = 24;
export const WRC_SIZE: usize = 32;

// Per-CPU loop state, in a static area (no allocation on this path).
const ready = memory.data(<i32>(WARP_MAX_CPUS * 8), 8);
const endTsc = memory.data(<i32>(WARP_MAX_CPUS * 8), 8);
const curWarps = memory.data(<i32>(WARP_MAX_CPUS * 8), 8);
const running = memory.data(<i32>WARP_MAX_CPUS, 8);

/** splitmix64 step on the state at `st`. */
// @ts-ignore: decorator
@inline export function splitmix64(st: usize): u64 {
  const s = load<u64>(st) + 0x9E3779B97F4A7C15;
  store<u64>(st, s);
  let z = s;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
  return z ^ (z >> 31);
}

// @ts-ignore: decorator
@inline function cpuTsc(cfg: usize, c: u32, h: u64, fracBits: u32): u64 {
  const p = cfg + WP_CPUS + <usize>c * WPC_SIZE;
  return kvmScaleTsc(h + load<u64>(p + WPC_SKEW), load<u64>(p + WPC_RATIO), fracBits)
    + load<u64>(p + WPC_OFFSET) + load<u64>(p + WPC_ADJUST);
}

const rng = memory.data(8, 8);

/** The run's totals into the result block (both loops end with them). */
// @ts-ignore: decorator
@inline function storeResult(out: usize, maxWarp: u64, nrWarps: u64, randomWarps: u64, reads: u64, hostEnd: u64, flags: u64): void {
  store<u64>(out + WR_MAX_WARP, maxWarp);
  store<u64>(out + WR_NR_WARPS, nrWarps);
  store<u64>(out + WR_RANDOM_WARPS, randomWarps);
  store<u64>(out + WR_READS, reads);
  store<u64>(out + WR_HOST_END, hostEnd);
  store<u64>(out + WR_FLAGS, flags);
}

/** One concurrent run of check_tsc_warp on every configured CPU. Returns 1, 0 on bad config. */
export function checkTscWarp(cfg: usize, out: usize): i32 {
  const n = <u32>load<u64>(cfg + WP_NCPUS);
  if (n < 1 || n > WARP_MAX_CPUS) return 0;
  const fracBits = <u32>load<u64>(cfg + WP_FRAC_BITS);
  const local = load<u64>(cfg + WP_LOCAL), loop = load<u64>(cfg + WP_LOOP);
  const maxIter = load<u64>(cfg + WP_MAX_ITER);
  const span = load<u64>(cfg + WP_TSC_KHZ) * load<u64>(cfg + WP_TIMEOUT_MS);
  const h0 = load<u64>(cfg + WP_HOST_START);
  store<u64>(rng, load<u64>(cfg + WP_SEED));
  const lo = load<u64>(cfg + WP_HANDOFF), hi = load<u64>(cfg + WP_HANDOFF_MAX), jitter = load<u64>(cfg + WP_JITTER);
  const handoff = hi > lo ? lo + splitmix64(rng) % (hi - lo + 1) : lo;

  let lastTsc = load<u64>(cfg + WP_LAST_TSC);
  let maxWarp: u64 = 0, nrWarps: u64 = 0, randomWarps: u64 = 0, reads: u64 = 0, flags: u64 = 0;
  for (let c: u32 = 0; c < n; c++) {
    const start = cpuTsc(cfg, c, h0, fracBits);
    const r = out + WR_CPUS + <usize>c * WRC_SIZE;
    store<u64>(r + WRC_ITERATIONS, 0);
    store<u64>(r + WRC_MAX_WARP, 0);
    store<u64>(r + WRC_START, start);
    store<u64>(ready + (<usize>c << 3), h0);
    store<u64>(endTsc + (<usize>c << 3), start + span);
    store<u64>(curWarps + (<usize>c << 3), 0);
    store<u8>(running + c, 1);
  }
  let live = n;
  let lockFree = h0;
  let holder: u32 = 0xFFFFFFFF;
  // Two CPUs whose TSCs are host cycles plus a constant, no jitter, and a loop shorter than the hand-off settle
  // into a strict alternation with no draw: each waits while the other holds the lock, so every 2-acquisition
  // cycle repeats the one before shifted by its length. Once two cycles match, whole 8-cycle chunks (so each
  // CPU's every-8th end check falls where it did) are skipped in closed form, as long as no end check in them
  // can fire: the same results as stepping, in a few dozen steps instead of ~250,000.
  // Scaled TSCs (one ratio for both, as a VM's vCPUs have) are floors of a line: a transition's difference
  // now - prev varies by at most 1 from cycle to cycle, so a cycle in which both differences are >= 1 proves
  // that no later cycle warps; such cycles are skipped too (without warps), each CPU's advance per chunk
  // bounded by ceil(chunk * ratio), and the TSCs after the skip computed, not added.
  const one = <u64>1 << <u64>fracBits;
  const ratio = load<u64>(cfg + WP_CPUS + WPC_RATIO);
  const unscaled = ratio == one && load<u64>(cfg + WP_CPUS + WPC_SIZE + WPC_RATIO) == one;
  const canSkip = load<u64>(cfg + WP_STEP_ONLY) == 0 && n == 2 && jitter == 0 && loop > 0 && loop <= handoff
    && load<u64>(cfg + WP_CPUS + WPC_SIZE + WPC_RATIO) == ratio;
  if (n == 2 && !canSkip) {
    checkTscWarp2(cfg, out, h0, lastTsc, handoff, local, loop, jitter, maxIter, fracBits);
    return 1;
  }
  let hc0: u32 = 9, hc1: u32 = 9, hc2: u32 = 9, hc3: u32 = 9;       // the last four acquisitions: CPU,
  let ht0: u64 = 0, ht1: u64 = 0, ht2: u64 = 0, ht3: u64 = 0;       // time,
  let hw0: u64 = 0, hw1: u64 = 0, hw2: u64 = 0, hw3: u64 = 0;       // whether it saw a warp,
  let hv0: u64 = 0, hv1: u64 = 0, hv2: u64 = 0, hv3: u64 = 0;       // and the TSC it read
  while (live > 0) {
    // Who takes the lock next: among the CPUs already waiting for it, a
    // seeded draw; if nobody waits, the first to arrive.
    let waiting: u32 = 0, first: u32 = 0, firstAt: u64 = 0xFFFFFFFFFFFFFFFF;
    for (let c: u32 = 0; c < n; c++) {
      if (!load<u8>(running + c)) continue;
      const at = load<u64>(ready + (<usize>c << 3));
      if (at <= lockFree) waiting++;
      if (at < firstAt) { firstAt = at; first = c; }
    }
    let c = first;
    if (waiting > 1) {
      let k = <u32>((splitmix64(rng) >> 32) * <u64>waiting >> 32);
      for (let d: u32 = 0; d < n; d++) {
        if (!load<u8>(running + d) || load<u64>(ready + (<usize>d << 3)) > lockFree) continue;
        if (k == 0) { c = d; break; }
        k--;
      }
    }
    const arrive = load<u64>(ready + (<usize>c << 3));
    let cost = c == holder ? local : handoff;
    if (jitter != 0) cost += splitmix64(rng) % (jitter + 1);
    const t = (arrive > lockFree ? arrive : lockFree) + cost;
    holder = c;
    const prev = lastTsc;
    const now = cpuTsc(cfg, c, t, fracBits);
    lastTsc = now;
    lockFree = t;
    reads++;
    const r = out + WR_CPUS + <usize>c * WRC_SIZE;
    const i = load<u64>(r + WRC_ITERATIONS);
    store<u64>(r + WRC_LAST, now);
    let next = t + loop;
    if ((i & 7) == 0 && (now > load<u64>(endTsc + (<usize>c << 3)) || i > maxIter)) {
      if (i > maxIter) flags |= 1;
      if (now == load<u64>(r + WRC_START)) flags |= 2;
      store<u64>(r + WRC_ITERATIONS, i + 1);
      store<u8>(running + c, 0);
      live--;
      continue;
    }
    if (prev > now) {
      // The warp is recorded under the lock again: one more acquisition.
      const w = prev - now;
      if (w > maxWarp) maxWarp = w;
      store<u64>(r + WRC_MAX_WARP, maxWarp);
      if (load<u64>(curWarps + (<usize>c << 3)) != nrWarps) randomWarps++;
      nrWarps++;
      store<u64>(curWarps + (<usize>c << 3), nrWarps);
      lockFree = t + local;
      next += local;
    }
    store<u64>(r + WRC_ITERATIONS, i + 1);
    store<u64>(ready + (<usize>c << 3), next);
    if (canSkip && live == 2) {
      hc0 = hc1; hc1 = hc2; hc2 = hc3; hc3 = c;
      ht0 = ht1; ht1 = ht2; ht2 = ht3; ht3 = t;
      hw0 = hw1; hw1 = hw2; hw2 = hw3; hw3 = prev > now ? 1 : 0;
      hv0 = hv1; hv1 = hv2; hv2 = hv3; hv3 = now;
      const period = ht2 - ht0;
      if (hc0 != 9 && hc0 == hc2 && hc1 == hc3 && hc0 != hc1 && ht3 - ht1 == period && hw0 == hw2 && hw1 == hw3 && hw0 + hw1 <= 1
        && (unscaled || (hv0 < hv1 && hv1 < hv2 && hv2 < hv3))) {
        // chunks of 8 cycles in which every read of both CPUs stays at or below its end and the iteration cap
        const r0 = out + WR_CPUS, r1 = r0 + WRC_SIZE;
        const last0 = load<u64>(r0 + WRC_LAST), last1 = load<u64>(r1 + WRC_LAST);
        const e0 = load<u64>(endTsc), e1 = load<u64>(endTsc + 8);
        // a CPU's TSC advance per chunk: the chunk itself unscaled, at most ceil(chunk * ratio) scaled
        const chunk = unscaled ? period << 3 : mulU64U64Shr(period << 3, ratio, fracBits) + 1;
        let m: u64 = 0xFFFFFFFFFFFFFFFF;
        m = e0 > last0 ? min(m, (e0 - last0) / chunk) : 0;
        m = e1 > last1 ? min(m, (e1 - last1) / chunk) : 0;
        if (!unscaled) {
          // no TSC may wrap inside the skipped chunks (the comparisons are unsigned)
          m = min(m, (0xFFFFFFFFFFFFFFFF - last0) / chunk);
          m = min(m, (0xFFFFFFFFFFFFFFFF - last1) / chunk);
          // nor a host TSC plus its skew (the scaling's input) from the pattern's first read to the chunks' end
          const s0 = load<u64>(cfg + WP_CPUS + WPC_SKEW), s1 = load<u64>(cfg + WP_CPUS + WPC_SIZE + WPC_SKEW);
          m = min(m, (0xFFFFFFFFFFFFFFFF - ht3) / (period << 3));
          const end = ht3 + (m << 3) * period;
          if (end + s0 < ht0 + s0 || end + s1 < ht0 + s1) m = 0;
        }
        const i0 = load<u64>(r0 + WRC_ITERATIONS), i1 = load<u64>(r1 + WRC_ITERATIONS);
        m = min(m, maxIter > i0 ? (maxIter - i0) >> 3 : 0);
        m = min(m, maxIter > i1 ? (maxIter - i1) >> 3 : 0);
        if (m > 1) {
          m -= 1; // leave the last chunk to stepping
          const cycles = m << 3, d = cycles * period, w = cycles * (hw0 + hw1);
          store<u64>(r0 + WRC_ITERATIONS, i0 + cycles);
          store<u64>(r1 + WRC_ITERATIONS, i1 + cycles);
          ht0 += d; ht1 += d; ht2 += d; ht3 += d;
          if (unscaled) {
            store<u64>(r0 + WRC_LAST, last0 + d);
            store<u64>(r1 + WRC_LAST, last1 + d);
            lastTsc += d;
            hv0 += d; hv1 += d; hv2 += d; hv3 += d;
          } else {
            // each CPU's last read (the two newest acquisitions, one per CPU), at its time moved by d
            hv0 = cpuTsc(cfg, hc0, ht0, fracBits); hv1 = cpuTsc(cfg, hc1, ht1, fracBits);
            hv2 = cpuTsc(cfg, hc2, ht2, fracBits); hv3 = cpuTsc(cfg, hc3, ht3, fracBits);
            store<u64>(out + WR_CPUS + <usize>hc2 * WRC_SIZE + WRC_LAST, hv2);
            store<u64>(out + WR_CPUS + <usize>hc3 * WRC_SIZE + WRC_LAST, hv3);
            lastTsc = hv3;
          }
          store<u64>(ready, load<u64>(ready) + d);
          store<u64>(ready + 8, load<u64>(ready + 8) + d);
          lockFree += d;
          reads += cycles << 1;
          if (w != 0) {
            // the CPU that warps each cycle keeps its count level with the total (no random warps)
            const wc: u32 = hw0 != 0 ? hc0 : hc1;
            nrWarps += w;
            store<u64>(curWarps + (<usize>wc << 3), load<u64>(curWarps + (<usize>wc << 3)) + w);
          }
        }
      }
    }
  }
  storeResult(out, maxWarp, nrWarps, randomWarps, reads, lockFree, flags);
  return 1;
}

/**
 * checkTscWarp's loop for two CPUs with its state in locals (no per-read loads and stores of the per-CPU arrays):
 * the same rules, the same draws in the same order (tests/warp-model.test.ts checks both paths against the BigInt
 * model). Used when the closed-form skip does not apply (jitter, different ratios, stepOnly).
 */
function checkTscWarp2(cfg: usize, out: usize, h0: u64, lastIn: u64, handoff: u64, local: u64, loop: u64, jitter: u64,
                       maxIter: u64, fracBits: u32): void {
  const p0 = cfg + WP_CPUS, p1 = p0 + WPC_SIZE;
  const ratio0 = load<u64>(p0 + WPC_RATIO), skew0 = load<u64>(p0 + WPC_SKEW), add0 = load<u64>(p0 + WPC_OFFSET) + load<u64>(p0 + WPC_ADJUST);
  const ratio1 = load<u64>(p1 + WPC_RATIO), skew1 = load<u64>(p1 + WPC_SKEW), add1 = load<u64>(p1 + WPC_OFFSET) + load<u64>(p1 + WPC_ADJUST);
  const r0 = out + WR_CPUS, r1 = r0 + WRC_SIZE;
  const start0 = load<u64>(r0 + WRC_START), start1 = load<u64>(r1 + WRC_START);
  const end0 = load<u64>(endTsc), end1 = load<u64>(endTsc + 8);
  let ready0 = h0, ready1 = h0, run0 = true, run1 = true;
  let it0: u64 = 0, it1: u64 = 0, last0: u64 = 0, last1: u64 = 0, mw0: u64 = 0, mw1: u64 = 0, cw0: u64 = 0, cw1: u64 = 0;
  let lockFree = h0, holder: u32 = 0xFFFFFFFF, lastTsc = lastIn;
  let maxWarp: u64 = 0, nrWarps: u64 = 0, randomWarps: u64 = 0, reads: u64 = 0, flags: u64 = 0;
  while (run0 || run1) {
    // who takes the lock: both waiting, a draw; else the first to arrive (CPU 0 on a tie)
    let c: u32;
    if (run0 && run1) {
      if (ready0 <= lockFree && ready1 <= lockFree) c = <u32>(((splitmix64(rng) >> 32) * 2) >> 32);
      else c = ready1 < ready0 ? 1 : 0;
    } else c = run0 ? 0 : 1;
    const arrive = c == 0 ? ready0 : ready1;
    let cost = c == holder ? local : handoff;
    if (jitter != 0) cost += splitmix64(rng) % (jitter + 1);
    const t = (arrive > lockFree ? arrive : lockFree) + cost;
    holder = c;
    const prev = lastTsc;
    const now = c == 0 ? kvmScaleTsc(t + skew0, ratio0, fracBits) + add0 : kvmScaleTsc(t + skew1, ratio1, fracBits) + add1;
    lastTsc = now;
    lockFree = t;
    reads++;
    const i = c == 0 ? it0 : it1;
    if (c == 0) last0 = now; else last1 = now;
    let next = t + loop;
    if ((i & 7) == 0 && (now > (c == 0 ? end0 : end1) || i > maxIter)) {
      if (i > maxIter) flags |= 1;
      if (now == (c == 0 ? start0 : start1)) flags |= 2;
      if (c == 0) { it0 = i + 1; run0 = false; } else { it1 = i + 1; run1 = false; }
      continue;
    }
    if (prev > now) {
      const w = prev - now;
      if (w > maxWarp) maxWarp = w;
      if ((c == 0 ? cw0 : cw1) != nrWarps) randomWarps++;
      nrWarps++;
      if (c == 0) { mw0 = maxWarp; cw0 = nrWarps; } else { mw1 = maxWarp; cw1 = nrWarps; }
      lockFree = t + local;
      next += local;
    }
    if (c == 0) { it0 = i + 1; ready0 = next; } else { it1 = i + 1; ready1 = next; }
  }
  store<u64>(r0 + WRC_ITERATIONS, it0); store<u64>(r0 + WRC_MAX_WARP, mw0); store<u64>(r0 + WRC_LAST, last0);
  store<u64>(r1 + WRC_ITERATIONS, it1); store<u64>(r1 + WRC_MAX_WARP, mw1); store<u64>(r1 + WRC_LAST, last1);
  storeResult(out, maxWarp, nrWarps, randomWarps, reads, lockFree, flags);
}
