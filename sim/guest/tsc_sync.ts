// arch/x86/kernel/tsc_sync.c: check_tsc_sync_source (on the boot CPU) and check_tsc_sync_target (on the CPU
// coming up), each running check_tsc_warp() -- here one run of both in the Wasm warp loop. A hot-added vCPU
// is the first CPU of its package: tsc_store_and_check_tsc_adjust() lets the test run, 20 ms a run; with
// TSC_ADJUST up to three runs, the target adding what it observed (or minus the source's warp) to its
// TSC_ADJUST after each failed one ("TSC ADJUST compensate: ...", printed before the WRMSR), then "Measured
// ... turning off TSC clock." and mark_tsc_unstable() when the last run fails or warps are random.
import type { Guest } from './guest.js';
import * as printk from './printk.js';
import { nsOf, s64 } from '../units.js';

export function checkTscSyncTarget(g: Guest, cpu: number): void {
  const { port, spec } = g;
  if (g.tscUnstable) return; // unsynchronized_tsc(): no test
  // tsc_store_and_check_tsc_adjust(false): the first CPU of a package keeps its value (sanitized by the clamp variant)
  let adjusted = spec.tscAdjust ? port.rdmsrTscAdjust(cpu) : 0n;
  if (spec.tscAdjust && spec.tscAdjustClamp && (adjusted < 0n || adjusted > 0x7FFFFFFFn)) adjusted = 0n;
  if (spec.tscReliable) return; // skip_test
  // native_cpu_up calls check_tsc_sync_source with interrupts off on the boot CPU; the target runs with them off
  // until it is online: neither ticks while the runs last (the other CPUs go on, their timers fire)
  g.irqsOff.add(0).add(cpu);
  try { warpRuns(g, cpu, adjusted); } finally { g.irqsOff.clear(); }
}

/** Up to three runs (one without TSC_ADJUST), compensating after each failed one. */
function warpRuns(g: Guest, cpu: number, adjusted: bigint): void {
  const { port, spec, k } = g;
  let testRuns = spec.tscAdjust ? 3 : 1;
  // the lock arbitration and hand-off draws of each run: from the scenario's seed, per CPU
  let seed = port.seed() * 0x100n + BigInt(cpu);
  while (testRuns > 0) {
    const src = port.warpCpu(0), tgt = port.warpCpu(cpu);
    const hostStart = port.hostTscNow();
    const r = k.checkTscWarp({
      cpus: [{ ratio: src.ratio, offset: src.offset, skew: src.skew }, { ratio: tgt.ratio, offset: tgt.offset, skew: tgt.skew }],
      tscKhz: g.tscKhz, timeoutMs: 20, hostStart, seed: seed++, fracBits: port.fracBits(),
    });
    port.spend(nsOf(r.hostEnd - hostStart, port.hostKhz()));
    // check_tsc_sync_source
    if (r.nrWarps === 0) return;
    port.anomaly({ type: 'tsc-warp', t: port.now(), vcpu: cpu, size: r.maxWarp, unit: 'cycles' });
    if (--testRuns === 0 || r.randomWarps) {
      g.printk(0, printk.tscWarpMeasured(r.maxWarp));
      if (r.randomWarps) g.printk(0, printk.tscWarpedRandomly());
      g.markTscUnstable('check_tsc_sync_source failed');
      return;
    }
    // check_tsc_sync_target: if this CPU saw no warp it was ahead: move back by the source's
    let cur = s64(r.cpus[1].curMaxWarp);
    if (cur === 0n) cur = -s64(r.maxWarp);
    adjusted = s64(adjusted + cur);
    if (spec.tscAdjustClamp) adjusted = adjusted < 0n ? 0n : adjusted > 0x7FFFFFFFn ? 0x7FFFFFFFn : adjusted;
    // pr_warn first, then wrmsrl: the line is stamped before the write moves this CPU's TSC
    g.printk(cpu, printk.tscAdjustCompensate(cpu, cur, adjusted));
    port.anomaly({ type: 'tsc-adjust-compensate', t: port.now(), vcpu: cpu, size: adjusted, unit: 'cycles' });
    port.wrmsr(cpu, 'IA32_TSC_ADJUST', adjusted);
    g.boundary();
  }
}
