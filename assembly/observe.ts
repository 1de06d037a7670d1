// The simulation's hot path: between two events the machine's state is
// fixed, so the guest's periodic clock reads on every vCPU, and the checks on
// them, run here in one call: no BigInt and no JS/Wasm crossing per read.
//
// Each read on vCPU v at real time t (ns) computes, as the machine does:
//   host TSC  H = base + (t - epoch) * khz / 10^6 + skew      (that pCPU's counter)
//   guest TSC G = kvm_scale_tsc(H, ratio) + offset
//   kvmclock  K = pvclock_clocksource_read(page_v, G)          (clamped unless STABLE trusted)
//   sched_clock S: kvmclock-based (K - off) or TSC-based (mul_u64_u32_shr(G, mul, shift) + off),
//              raw when sched_clock is stable, else filtered (never back, <= tick + TICK_NSEC)
//   monotonic M: the timekeeper's anchor + the clocksource delta read on v, as
//              timekeeping_delta_to_ns does (u64 product; 0 past max_raw_delta if checked)
// and checks each against the vCPU's previous read: backwards, stalled, or
// jumping forward more than real time allows.
import { mulU64U32Shr } from "./wide";
import { kvmScaleTsc } from "./kvm";
import { hvReadTscPage } from "./hyperv";
import { pvclockClocksourceReadAt, pvclockReadPage, PVTI_FLAGS, PVCLOCK_TSC_STABLE_BIT, ST_VALID_FLAGS } from "./pvclock";

export const OBS_MAX_VCPUS: i32 = 64;

// Per-vCPU slots (u64), VS_SIZE bytes each.
export const VS_SIZE: usize = 256;
export const VS_FLAGS: usize = 0;          // bit0 online, bit1 running, bit2 kvmclock enabled
export const VS_HOST_BASE: usize = 8;      // host TSC of this pCPU at VS_HOST_EPOCH (skew included)
export const VS_HOST_EPOCH: usize = 16;    // real ns
export const VS_HOST_KHZ: usize = 24;
export const VS_RATIO: usize = 32;
export const VS_OFFSET: usize = 40;
export const VS_FRAC: usize = 48;
export const VS_PAGE: usize = 64;          // 32-byte pvclock_vcpu_time_info
export const VS_LAST_T: usize = 96;        // real time of the previous read (0 = none yet)
export const VS_LAST_TSC: usize = 104;
export const VS_LAST_KVM: usize = 112;
export const VS_LAST_SCHED: usize = 120;
export const VS_LAST_MONO: usize = 128;
export const VS_LAST_HV: usize = 136;     // the last Hyper-V reference time read
export const VS_STALL_T: usize = 160;      // per clock (4): real time an open stall began (0 = none)
export const VS_STALL_SUM: usize = 192;    // per clock (4): time it has lost so far

// Guest-wide slots (u64) at the guest block.
export const GS_SCHED_MODE: usize = 0;     // 0: kvmclock - offset, 1: TSC cyc2ns
export const GS_SCHED_STABLE: usize = 8;
export const GS_SCHED_OFFSET: usize = 16;  // kvm_sched_clock_offset, or the cyc2ns offset
export const GS_SCHED_MUL: usize = 24;
export const GS_SCHED_SHIFT: usize = 32;
export const GS_SCHED_STABLE_OFFSET: usize = 40; // __sched_clock_offset
export const GS_CS_MODE: usize = 48;       // timekeeping clocksource: 0 kvm-clock, 1 tsc
export const GS_CS_MULT: usize = 56;
export const GS_CS_SHIFT: usize = 64;
export const GS_CS_MASK: usize = 72;
export const GS_TK_CYCLES: usize = 80;     // the timekeeper's cycle_last
export const GS_TK_NS: usize = 88;         // CLOCK_MONOTONIC at cycle_last
export const GS_TK_MAXRAW: usize = 96;     // max_raw_delta (0 = not checked: older kernels)
export const GS_STABLE_MAX: usize = 104;   // largest kvmclock any vCPU read under STABLE
export const GS_MONO_MAX: usize = 112;     // largest monotonic any vCPU read
export const GS_JUMP_NS: usize = 120;      // slack: a clock running this far ahead of (or behind) real time between reads is a jump (stall)
export const GS_TICK_NS: usize = 128;      // TICK_NSEC
export const GS_TICK_CPU: usize = 152;     // the vCPU slot that takes the tick (do_timer duty)
export const GS_STATE_SINCE: usize = 144;  // real time the vCPU tables last changed (ticks are not replayed before it)
export const GS_GAP_NS: usize = 136;       // the guest's clock advancing more than this between two reads of one vCPU is a gap
export const GS_PV_STATE: usize = 192;     // the pvclock clamp state (pvclock.ts ST_*), 64 bytes
// The clocksource watchdog (kernel/time/clocksource.c): kvm-clock watching tsc.
export const GS_WD_ON: usize = 256;        // 1 while tsc is watched
export const GS_WD_NEXT: usize = 264;      // real time of the next watchdog timer
export const GS_WD_CS: usize = 272;        // cs_last (TSC), 0 = re-initialise
export const GS_WD_WD: usize = 280;        // wd_last (kvmclock)
export const GS_WD_MD: usize = 288;        // cs->uncertainty_margin + watchdog->uncertainty_margin (or the old threshold)
export const GS_WD_INTERVAL: usize = 296;  // WATCHDOG_INTERVAL in ns
export const GS_TSC_MULT: usize = 304;     // the tsc clocksource's mult and shift
export const GS_TSC_SHIFT: usize = 312;
export const GS_STOP_AT: usize = 320;     // real time of the read after which the loop stopped early (0 = ran to the end)
export const GS_STABLE_MAX_CPU: usize = 328; // which vCPU read GS_STABLE_MAX
export const GS_MONO_MAX_CPU: usize = 336;   // which vCPU read GS_MONO_MAX
// The Hyper-V reference TSC page (one per VM) when the guest uses it (hyperv_clocksource_tsc_page).
export const GS_HV_ON: usize = 344;
export const GS_HV_SEQ: usize = 352;       // tsc_sequence; 0 = invalid: read the reference counter MSR instead
export const GS_HV_SCALE: usize = 360;
export const GS_HV_OFFSET: usize = 368;
export const GS_STOP_FULL: usize = 376;    // 1 when the loop stopped at GS_STOP_AT because the record buffer was nearly full
export const GS_READS: usize = 384;        // how many vCPU reads the last observe() call made

// Anomaly records: kind, clock, vcpu, real time, size, value now, previous value (u64 each).
export const AN_SIZE: usize = 56;
export const AN_BACKWARDS: u64 = 1;
export const AN_CROSS_BACKWARDS: u64 = 2; // behind another vCPU's read while STABLE is claimed
export const AN_JUMP: u64 = 3;
export const AN_STALL: u64 = 4;           // the clock lost time against real time (stood still)
export const AN_GAP: u64 = 5;             // the clock advanced more than GS_GAP_NS between two reads: what the guest's watchdogs see
export const AN_WATCHDOG: u64 = 6;        // the watchdog found tsc skewed against kvm-clock by more than the margin
export const AN_HV_BRACKET: u64 = 7;      // the TSC page and the reference counter (kvmclock / 100) differ by more than one unit
/** The most records one read can emit (tsc 1, kvmclock/sched/mono 2 each, 2 gaps, hv 2, watchdog 1, 2 across vCPUs). */
export const AN_PER_READ_MAX: u32 = 16;
export const CLK_TSC: u64 = 0;
export const CLK_KVMCLOCK: u64 = 1;
export const CLK_SCHED: u64 = 2;
export const CLK_MONO: u64 = 3;
export const CLK_HV: u64 = 4;             // Hyper-V reference time, 100 ns units

const status = memory.data(8, 8);

// @ts-ignore: decorator
@inline function hostTsc(vs: usize, t: u64): u64 {
  // base + mul_u64_u32_div(dt, khz, 10^6), split at whole milliseconds: floor(dt * khz / 10^6) equals
  // (dt / 10^6) * khz + floor((dt % 10^6) * khz / 10^6) exactly, and the second product fits in 64 bits
  const dt = t - load<u64>(vs + VS_HOST_EPOCH), khz = load<u64>(vs + VS_HOST_KHZ) & 0xFFFFFFFF;
  const msec = dt / 1000000;
  return load<u64>(vs + VS_HOST_BASE) + msec * khz + (dt - msec * 1000000) * khz / 1000000;
}

// @ts-ignore: decorator
@inline function guestTsc(vs: usize, t: u64): u64 {
  return kvmScaleTsc(hostTsc(vs, t), load<u64>(vs + VS_RATIO), <u32>load<u64>(vs + VS_FRAC)) + load<u64>(vs + VS_OFFSET);
}

/** The guest TSC of vCPU slot vs at real time t. */
export function obsGuestTsc(vs: usize, t: u64): u64 {
  return guestTsc(vs, t);
}

// @ts-ignore: decorator
@inline function record(out: usize, n: u32, cap: u32, kind: u64, clock: u64, vcpu: u32, t: u64, size: u64, now: u64, prev: u64): u32 {
  if (n < cap) {
    const r = out + <usize>n * AN_SIZE;
    store<u64>(r, kind);
    store<u64>(r, clock, 8);
    store<u64>(r, <u64>vcpu, 16);
    store<u64>(r, t, 24);
    store<u64>(r, size, 32);
    store<u64>(r, now, 40);
    store<u64>(r, prev, 48);
  }
  return n + 1;
}

// @ts-ignore: decorator
@inline function check(out: usize, n: u32, cap: u32, clock: u64, vcpu: u32, t: u64, elapsed: u64,
                       last: u64, now: u64, slackMin: u64, vs: usize): u32 {
  // a clock within ~488 ppm of real time (KVM leaves rates within +-250 ppm unscaled) neither jumps nor stalls
  const slackNs = elapsed >> 11 > slackMin ? elapsed >> 11 : slackMin;
  const st = vs + VS_STALL_T + <usize>(clock << 3), sum = vs + VS_STALL_SUM + <usize>(clock << 3);
  if (now >= last) {
    const advance = now - last;
    if (advance + slackNs < elapsed) {
      // the clock lost time: one record per episode, emitted when it ends
      if (load<u64>(st) == 0) store<u64>(st, t);
      store<u64>(sum, load<u64>(sum) + (elapsed - advance));
      return n;
    }
  }
  n = closeStall(out, n, cap, clock, vcpu, vs, now);
  if (now < last) return record(out, n, cap, AN_BACKWARDS, clock, vcpu, t, last - now, now, last);
  const advance = now - last;
  if (advance > elapsed + slackNs) return record(out, n, cap, AN_JUMP, clock, vcpu, t, advance - elapsed, now, last);
  return n;
}

/** Emits the open stall of `clock` on this vCPU, if any (t = when it began, size = time lost). */
// @ts-ignore: decorator
@inline function closeStall(out: usize, n: u32, cap: u32, clock: u64, vcpu: u32, vs: usize, now: u64): u32 {
  const st = vs + VS_STALL_T + <usize>(clock << 3), sum = vs + VS_STALL_SUM + <usize>(clock << 3);
  const began = load<u64>(st);
  if (began == 0) return n;
  n = record(out, n, cap, AN_STALL, clock, vcpu, began, load<u64>(sum), now, now);
  store<u64>(st, 0);
  store<u64>(sum, 0);
  return n;
}

/**
 * One clocksource_watchdog() round: cs_nsec and wd_nsec since the last round;
 * an interval over 2 * WATCHDOG_INTERVAL is skipped ("Long readout interval"),
 * a skew over the margin is recorded (the guest then marks tsc unstable).
 */
function watchdog(guest: usize, vcpu: u32, t: u64, csNow: u64, wdNow: u64, out: usize, n: u32, cap: u32): u32 {
  const interval = load<u64>(guest + GS_WD_INTERVAL);
  store<u64>(guest + GS_WD_NEXT, t + interval);
  const csLast = load<u64>(guest + GS_WD_CS), wdLast = load<u64>(guest + GS_WD_WD);
  store<u64>(guest + GS_WD_CS, csNow);
  store<u64>(guest + GS_WD_WD, wdNow);
  if (csLast == 0) return n;
  const csNs = mulU64U32Shr(csNow - csLast, <u32>load<u64>(guest + GS_TSC_MULT), <u32>load<u64>(guest + GS_TSC_SHIFT));
  const wdNs = wdNow - wdLast;
  if (<i64>csNs < 0 || <i64>wdNs < 0 || csNs > 2 * interval || wdNs > 2 * interval) return n;
  const skew = csNs > wdNs ? csNs - wdNs : wdNs - csNs;
  if (skew > load<u64>(guest + GS_WD_MD)) {
    store<u64>(guest + GS_WD_ON, 0);
    return record(out, n, cap, AN_WATCHDOG, CLK_TSC, vcpu, t, skew, csNs, wdNs);
  }
  return n;
}

/** Emits every stall still open (at the end of a run, or before a vCPU's history is reset). */
export function obsFlush(vcpus: usize, n: u32, out: usize, cap: u32): u32 {
  let found: u32 = 0;
  for (let i: u32 = 0; i < n; i++) {
    const vs = vcpus + <usize>i * VS_SIZE;
    for (let c: u64 = 1; c < 4; c++) found = closeStall(out, found, cap, c, i, vs, load<u64>(vs + VS_LAST_TSC + <usize>(c << 3)));
  }
  return found;
}

/** The timekeeping clocksource read on vCPU slot vs at t: its TSC, or kvm_clock_read() (through the clamp). */
// @ts-ignore: decorator
@inline function csRead(vs: usize, t: u64, csTsc: bool, state: usize): u64 {
  const g = guestTsc(vs, t);
  return csTsc ? g : pvclockClocksourceReadAt(vs + VS_PAGE, g, state, status);
}

// One read's results (g, k, s, m, stable) and the timekeeper's tick cache.
const rd = memory.data(56, 8);
const tick = memory.data(24, 8); // tick time, cycle_last, CLOCK_MONOTONIC at that tick

/**
 * The clocks vCPU i reads at real time t: TSC, kvmclock (through the clamp:
 * a real read), sched_clock and CLOCK_MONOTONIC, left in `rd`.
 */
// @ts-ignore: decorator
@inline function readAt(vcpus: usize, i: u32, guest: usize, t: u64, flags: u64): void {
  const vs = vcpus + <usize>i * VS_SIZE;
  const state = guest + GS_PV_STATE;
  const g = guestTsc(vs, t);
  let k: u64 = 0;
  let stable: u64 = 0;
  if (flags & 4) {
    k = pvclockClocksourceReadAt(vs + VS_PAGE, g, state, status);
    if ((load<u64>(state + ST_VALID_FLAGS) & <u64>PVCLOCK_TSC_STABLE_BIT) != 0 &&
        (load<u8>(vs + VS_PAGE + PVTI_FLAGS) & PVCLOCK_TSC_STABLE_BIT) != 0) stable = 1;
  }
  // sched_clock
  const raw: u64 = load<u64>(guest + GS_SCHED_MODE) == 0
    ? k - load<u64>(guest + GS_SCHED_OFFSET)
    : mulU64U32Shr(g, <u32>load<u64>(guest + GS_SCHED_MUL), <u32>load<u64>(guest + GS_SCHED_SHIFT)) + load<u64>(guest + GS_SCHED_OFFSET);
  const tickNs = load<u64>(guest + GS_TICK_NS);
  // monotonic: the last tick's cycle_last (read on the tick CPU) plus this CPU's clocksource delta
  const csTsc = load<u64>(guest + GS_CS_MODE) == 1;
  const csMult = <u32>load<u64>(guest + GS_CS_MULT), csShift = <u32>load<u64>(guest + GS_CS_SHIFT);
  const csMask = load<u64>(guest + GS_CS_MASK);
  // the last tick, but never before the state last changed: a tick then used the pages of its time
  let tk = t - t % tickNs;
  const since = load<u64>(guest + GS_STATE_SINCE);
  if (tk < since) tk = since;
  if (tk != load<u64>(tick)) {
    const cl = csRead(vcpus + <usize>load<u64>(guest + GS_TICK_CPU) * VS_SIZE, tk, csTsc, state);
    store<u64>(tick, tk);
    store<u64>(tick, cl, 8);
    store<u64>(tick, load<u64>(guest + GS_TK_NS) + mulU64U32Shr((cl - load<u64>(guest + GS_TK_CYCLES)) & csMask, csMult, csShift), 16);
  }
  let d = ((csTsc ? g : k) - load<u64>(tick, 8)) & csMask;
  const maxRaw = load<u64>(guest + GS_TK_MAXRAW);
  if (maxRaw != 0 && d > maxRaw) d = 0;
  const m = load<u64>(tick, 16) + ((d * <u64>csMult) >> <u64>csShift);
  // sched_clock: raw + __sched_clock_offset when stable; unstable, sched_clock_local() keeps it
  // on the GTOD clock, never backwards (modelled at tick granularity: max(old, monotonic)).
  let s: u64;
  if (load<u64>(guest + GS_SCHED_STABLE) != 0) s = raw + load<u64>(guest + GS_SCHED_STABLE_OFFSET);
  else {
    const old = load<u64>(vs + VS_LAST_SCHED);
    s = <i64>(m - old) > 0 ? m : old;
  }
  store<u64>(rd, g);
  store<u64>(rd, k, 8);
  store<u64>(rd, s, 16);
  store<u64>(rd, m, 24);
  store<u64>(rd, stable, 32);
  // Hyper-V reference time: the TSC page when its sequence is valid, else HV_X64_MSR_TIME_REF_COUNT (kvmclock / 100)
  if (load<u64>(guest + GS_HV_ON) != 0) {
    store<u64>(rd, load<u64>(guest + GS_HV_SEQ) != 0
      ? hvReadTscPage(load<u64>(guest + GS_HV_SCALE), load<u64>(guest + GS_HV_OFFSET), g) : k / 100, 40);
  }
}

/** Forget the timekeeper's tick cache (after the guest block changed). */
export function obsResetTick(): void {
  store<u64>(tick, 0xFFFFFFFFFFFFFFFF);
}

/** One read of vCPU i at t (a printk, a measurement): results at the returned address (g, k, s, m, stable). */
export function obsRead(vcpus: usize, i: u32, guest: usize, t: u64): usize {
  readAt(vcpus, i, guest, t, load<u64>(vcpus + <usize>i * VS_SIZE + VS_FLAGS));
  return rd;
}

/**
 * Reads every online, running vCPU at tStart + k*period (vCPU i staggered by
 * i*period/n) for max(tStart, tMin) <= t < tEnd (tMin resumes a round midway). Records anomalies at `out` and
 * returns how many; stops early (GS_STOP_AT) after a watchdog verdict, for the guest to react, or when one
 * more read could overflow `cap` (GS_STOP_FULL), so that no record is ever lost. The state tables are updated in place.
 * The timekeeper ticks on vCPU slot GS_TICK_CPU every TICK_NSEC of real time: at each
 * tick cycle_last is that CPU's clocksource reading, and CLOCK_MONOTONIC
 * there is GS_TK_NS + cyc2ns(cycle_last - GS_TK_CYCLES) (exact, as the
 * per-tick accumulation of xtime_nsec is).
 */
export function observe(vcpus: usize, n: u32, guest: usize, tStart: u64, tEnd: u64, period: u64,
                        out: usize, cap: u32, tMin: u64): u32 {
  let found: u32 = 0;
  store<u64>(guest + GS_STOP_AT, 0);
  store<u64>(guest + GS_STOP_FULL, 0);
  store<u64>(guest + GS_READS, 0);
  if (n == 0 || period == 0 || tEnd <= tStart) return 0;
  let reads: u64 = 0;
  const slack = load<u64>(guest + GS_JUMP_NS);
  const gap = load<u64>(guest + GS_GAP_NS);
  const stagger = period / <u64>n;
  for (let base = tStart; base < tEnd; base += period) {
    for (let i: u32 = 0; i < n; i++) {
      const vs = vcpus + <usize>i * VS_SIZE;
      const flags = load<u64>(vs + VS_FLAGS);
      if ((flags & 3) != 3) continue;
      const t = base + <u64>i * stagger;
      if (t >= tEnd || t < tMin) continue;
      readAt(vcpus, i, guest, t, flags);
      reads++;
      const g = load<u64>(rd), k = load<u64>(rd, 8), s = load<u64>(rd, 16), m = load<u64>(rd, 24);
      const lastT = load<u64>(vs + VS_LAST_T);
      if (lastT != 0) {
        const elapsed = t - lastT;
        const lg = load<u64>(vs + VS_LAST_TSC);
        if (g < lg) found = record(out, found, cap, AN_BACKWARDS, CLK_TSC, i, t, lg - g, g, lg);
        if (flags & 4) found = check(out, found, cap, CLK_KVMCLOCK, i, t, elapsed, load<u64>(vs + VS_LAST_KVM), k, slack, vs);
        const ls = load<u64>(vs + VS_LAST_SCHED), lm = load<u64>(vs + VS_LAST_MONO);
        found = check(out, found, cap, CLK_SCHED, i, t, elapsed, ls, s, slack, vs);
        found = check(out, found, cap, CLK_MONO, i, t, elapsed, lm, m, slack, vs);
        if (s > ls && s - ls > gap) found = record(out, found, cap, AN_GAP, CLK_SCHED, i, t, s - ls, s, ls);
        if (load<u64>(guest + GS_HV_ON) != 0) {
          const h = load<u64>(rd, 40), lh = load<u64>(vs + VS_LAST_HV);
          if (h < lh) found = record(out, found, cap, AN_BACKWARDS, CLK_HV, i, t, lh - h, h, lh);
          const ref = k / 100;
          if (load<u64>(guest + GS_HV_SEQ) != 0 && (h > ref + 1 || ref > h + 1)) {
            found = record(out, found, cap, AN_HV_BRACKET, CLK_HV, i, t, h > ref ? h - ref : ref - h, h, ref);
          }
        }
        if (m > lm && m - lm > gap) found = record(out, found, cap, AN_GAP, CLK_MONO, i, t, m - lm, m, lm);
      }
      // the clocksource watchdog's timer, on whichever CPU it lands: wd (kvm-clock) then cs (tsc)
      if (load<u64>(guest + GS_WD_ON) != 0 && t >= load<u64>(guest + GS_WD_NEXT) && (flags & 4) != 0) {
        const before = found;
        found = watchdog(guest, i, t, g, k, out, found, cap);
        if (found != before) {
          // the guest reacts (marks tsc unstable, switches clocksource) before anything else is read
          storeLast(vs, t, g, k, s, m);
          store<u64>(guest + GS_STOP_AT, t);
          store<u64>(guest + GS_READS, reads);
          return found;
        }
      }
      // across vCPUs: behind what another vCPU already read (its own step back is recorded above)
      if (load<u64>(rd, 32) != 0) {
        const smax = load<u64>(guest + GS_STABLE_MAX);
        if (k < smax) {
          if (load<u64>(guest + GS_STABLE_MAX_CPU) != <u64>i && (lastT == 0 || k >= load<u64>(vs + VS_LAST_KVM))) {
            found = record(out, found, cap, AN_CROSS_BACKWARDS, CLK_KVMCLOCK, i, t, smax - k, k, smax);
          }
        } else { store<u64>(guest + GS_STABLE_MAX, k); store<u64>(guest + GS_STABLE_MAX_CPU, <u64>i); }
      }
      const mmax = load<u64>(guest + GS_MONO_MAX);
      if (m < mmax) {
        if (load<u64>(guest + GS_MONO_MAX_CPU) != <u64>i && (lastT == 0 || m >= load<u64>(vs + VS_LAST_MONO))) {
          found = record(out, found, cap, AN_CROSS_BACKWARDS, CLK_MONO, i, t, mmax - m, m, mmax);
        }
      } else { store<u64>(guest + GS_MONO_MAX, m); store<u64>(guest + GS_MONO_MAX_CPU, <u64>i); }
      storeLast(vs, t, g, k, s, m);
      if (found + AN_PER_READ_MAX > cap) {
        // the next read could overflow the records: stop here, to be resumed after this read once they are taken
        store<u64>(guest + GS_STOP_AT, t);
        store<u64>(guest + GS_STOP_FULL, 1);
        store<u64>(guest + GS_READS, reads);
        return found;
      }
    }
  }
  store<u64>(guest + GS_READS, reads);
  return found;
}

// @ts-ignore: decorator
@inline function storeLast(vs: usize, t: u64, g: u64, k: u64, s: u64, m: u64): void {
  store<u64>(vs + VS_LAST_HV, load<u64>(rd, 40));
  store<u64>(vs + VS_LAST_T, t);
  store<u64>(vs + VS_LAST_TSC, g);
  store<u64>(vs + VS_LAST_KVM, k);
  store<u64>(vs + VS_LAST_SCHED, s);
  store<u64>(vs + VS_LAST_MONO, m);
}

// ---- the event engine's reads (sim/guest/): every vCPU's raw clocks at one instant, no side effects ----
// Per vCPU, 24 bytes at out: guest TSC, the raw pvclock value of its page at that TSC (no clamp, no flags
// consumed), the page's flags.
export const EV_SIZE: usize = 24;

/** The raw clocks of vCPU slots 0..n-1 at real time t (kvmclock only where enabled: bit 2 of VS_FLAGS). */
export function evReadAll(vcpus: usize, n: u32, t: u64, out: usize): void {
  for (let i: u32 = 0; i < n; i++) {
    const vs = vcpus + <usize>i * VS_SIZE, o = out + <usize>i * EV_SIZE;
    const g = guestTsc(vs, t);
    store<u64>(o, g);
    if ((load<u64>(vs + VS_FLAGS) & 4) != 0) {
      store<u64>(o, pvclockReadPage(vs + VS_PAGE, g), 8);
      store<u64>(o, <u64>load<u8>(vs + VS_PAGE + PVTI_FLAGS), 16);
    } else {
      store<u64>(o, 0, 8);
      store<u64>(o, 0, 16);
    }
  }
}
