// KVM's clock tracepoints as `trace-cmd report` prints them: the TP_printk format strings of
// arch/x86/kvm/trace.h in each era, behind trace-cmd's line prefix. docs/vmm-steps.md, "Tracepoints", cites the
// copies read:
//   - kvm-x86/linux@aebed32e4985 arch/x86/kvm/trace.h (6.x): kvm_msr, kvm_write_tsc_offset, kvm_update_master_clock,
//     kvm_track_tsc (host_clocks = {VDSO_CLOCKMODE_NONE, "none"}, {VDSO_CLOCKMODE_TSC, "tsc"}), kvm_pvclock_update;
//   - a 4.x copy with the same strings and host_clocks = {VCLOCK_NONE, "none"}, {VCLOCK_TSC, "tsc"},
//     {VCLOCK_HPET, "hpet"} (the vDSO clock modes before the generic VDSO_CLOCKMODE storage of 5.7);
//   - trace-cmd's tracecmd/trace-read.c: "%16s-%-5d [%03d]", " %6.1000d:" (seconds.microseconds, rounded), then
//     print_event_name: " %s: " padded to 20 characters with spaces.
// 2.6.37-3.3 has none of the clock tracepoints (they came with the masterclock series, 3.8); kvm_msr is older.
import type { KvmTrace } from './x86.js';
import type { Rules } from './eras.js';

/** The printf conversions a TP_printk of these events uses, applied to the values in order (the test checks each
 *  line against the format string with the same function). */
export function printk(fmt: string, args: (bigint | number | string)[]): string {
  let i = 0;
  return fmt.replace(/%(%|u|d|x|llu|llx|s)/g, (_, c: string) => {
    if (c === '%') return '%';
    const a = args[i++];
    if (c === 's') return String(a);
    const v = BigInt(a as bigint | number);
    if (c === 'x' || c === 'llx') return (c === 'x' ? BigInt.asUintN(32, v) : BigInt.asUintN(64, v)).toString(16);
    if (c === 'u') return BigInt.asUintN(32, v).toString();
    if (c === 'llu') return BigInt.asUintN(64, v).toString();
    return BigInt.asIntN(32, v).toString();
  });
}

/** TP_printk of each event, as trace.h writes it (string literals joined). */
export const FORMATS = {
  kvm_write_tsc_offset: 'vcpu=%u prev=%llu next=%llu',
  kvm_update_master_clock: 'masterclock %d hostclock %s offsetmatched %u',
  kvm_track_tsc: 'vcpu_id %u masterclock %u offsetmatched %u nr_online %u hostclock %s',
  kvm_pvclock_update: 'vcpu_id %u, pvclock { version %u, tsc_timestamp 0x%llx, system_time 0x%llx, tsc_to_system_mul 0x%x, tsc_shift %d, flags 0x%x }',
  kvm_msr: 'msr_%s %x = 0x%llx%s',
} as const;

/** Whether an era's KVM has the event (the clock ones arrive with the masterclock, 3.8). */
export function hasTracepoint(rules: Rules, name: KvmTrace['name']): boolean {
  return name === 'kvm_msr' || rules.masterclock;
}

/** __print_symbolic(host_clock, host_clocks): the era's table (VCLOCK_* to 5.6, VDSO_CLOCKMODE_* after). */
function hostClock(rules: Rules, mode: string): string {
  const vclock = rules.name === '3.8-4.11' || rules.name === '4.12-5.9';
  if (mode === 'hpet') return vclock ? 'hpet' : 'none';
  return mode;
}

/** The event's TP_printk output. */
export function tracepointText(rules: Rules, e: KvmTrace): string {
  switch (e.name) {
    case 'kvm_write_tsc_offset': return printk(FORMATS[e.name], [e.vcpu, e.prev, e.next]);
    case 'kvm_update_master_clock':
      return printk(FORMATS[e.name], [e.masterclock ? 1 : 0, hostClock(rules, e.hostClock), e.offsetMatched ? 1 : 0]);
    case 'kvm_track_tsc':
      return printk(FORMATS[e.name], [e.vcpu, e.masterclock ? 1 : 0, e.nrMatched, e.online, hostClock(rules, e.hostClock)]);
    case 'kvm_pvclock_update':
      return printk(FORMATS[e.name], [e.vcpu, e.version, e.tscTimestamp, e.systemTime, e.mul, BigInt.asIntN(8, BigInt(e.shift)), e.flags]);
    case 'kvm_msr': return printk(FORMATS[e.name], [e.write ? 'write' : 'read', e.msr, e.data, '']);
  }
}

/** One traced event: when (the host's trace clock, ns), in which task and on which pCPU. */
export interface TraceRecord { ts: bigint; comm: string; pid: number; cpu: number; e: KvmTrace }

const pad = (s: string, n: number, left = false) => (s.length >= n ? s : left ? s + ' '.repeat(n - s.length) : ' '.repeat(n - s.length) + s);

/** The line `trace-cmd report` prints for it. */
export function traceCmdLine(rules: Rules, r: TraceRecord): string {
  const us = (r.ts + 500n) / 1000n; // " %6.1000d:": ns / 1000, rounded
  const secs = us / 1_000_000n, frac = (us % 1_000_000n).toString().padStart(6, '0');
  const name = r.e.name;
  return `${pad(r.comm, 16)}-${pad(String(r.pid), 5, true)} [${String(r.cpu).padStart(3, '0')}] ${pad(secs.toString(), 5)}.${frac}: ${name}: `
    + `${' '.repeat(Math.max(0, 20 - name.length))}${tracepointText(rules, r.e)}`;
}
