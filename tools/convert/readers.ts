// Readers for the places conversion parameters come from, written from the
// formats their producers print (each cited below). They read text and return
// plain values; a malformed field is an error naming the line and the field.
//
//   KVM debugfs, arch/x86/kvm/debugfs.c: tsc-offset "%lld\n", tsc-scaling-ratio
//     "%llu\n", tsc-scaling-ratio-frac-bits "%llu\n" (the ratio files exist only
//     with kvm_has_tsc_control / kvm_caps.has_tsc_control).
//   arch/x86/kvm/trace.h TP_printk:
//     kvm_write_tsc_offset  "vcpu=%u prev=%llu next=%llu"
//     kvm_pvclock_update    "vcpu_id %u, pvclock { version %u, tsc_timestamp 0x%llx, system_time 0x%llx,
//                            tsc_to_system_mul 0x%x, tsc_shift %d, flags 0x%x }"
//   in the line forms of `trace-cmd report` ("comm-pid [cpu] ts: event: fields"; ts a raw count for counter
//   clocks such as x86-tsc, secs.fraction for ns clocks) and `perf script` ("comm pid [cpu] secs.fraction:
//   kvm:event: fields").
//   perf, tools/perf/util/tsc.c perf_event__fprintf_time_conv (PERF_RECORD_TIME_CONV in `perf script -D` /
//     `perf report -D`): "... Time Shift      %llu", "... Time Muliplier  %llu" (spelt "Multiplier" since
//     2021), "... Time Zero       %llu", then with cap_user_time_short "... Time Cycles     %llu",
//     "... Time Mask       %#llx", "... Cap Time Zero   %d", "... Cap Time Short  %d".
//   trace-cmd, tracecmd/trace-dump.c dump_option_tsc2nsec (`trace-cmd dump --options`):
//     "%d %d %llu [multiplier, shift, offset]" -- the multiplier is a u32 printed with %d.
import type { KvmTscParams, PerfTimeParams, PvclockTimeInfo, Tsc2nsecParams } from '../../bindings/index.js';

const U64 = (1n << 64n) - 1n;

/** An input the user gave that does not parse: shown as `error: <where>: <what>`, exit 2 (cli/output.ts). */
export class ReaderError extends Error {
  constructor(where: string, what: string) {
    super(`tsclab: ${where}: ${what}`);
    this.name = 'ReaderError';
  }
}

/** An unsigned decimal (or 0x hex with hex) that fits `bits`, exactly. */
function unsigned(where: string, field: string, text: string | undefined, bits = 64, hex = false): bigint {
  const re = hex ? /^(0x[0-9a-f]+|0)$/i : /^\d+$/; // %#llx prints 0 without 0x
  if (text === undefined || !re.test(text)) {
    throw new ReaderError(where, `${field}: ${text === undefined ? 'missing' : JSON.stringify(text)} is not ${hex ? 'a 0x hex' : 'an unsigned decimal'} number`);
  }
  const v = BigInt(text);
  if (v >> BigInt(bits) !== 0n) throw new ReaderError(where, `${field}: ${text} does not fit ${bits} bits`);
  return v;
}

/** A signed decimal in -2^(bits-1)..2^(bits-1)-1. */
function signed(where: string, field: string, text: string | undefined, bits: number): bigint {
  if (text === undefined || !/^-?\d+$/.test(text)) {
    throw new ReaderError(where, `${field}: ${text === undefined ? 'missing' : JSON.stringify(text)} is not a signed decimal number`);
  }
  const v = BigInt(text), lim = 1n << BigInt(bits - 1);
  if (v < -lim || v >= lim) throw new ReaderError(where, `${field}: ${text} does not fit s${bits}`);
  return v;
}

/** One debugfs attribute file's text: a number and a newline, as DEFINE_SIMPLE_ATTRIBUTE prints it. */
function attribute(where: string, text: string): string {
  const m = /^([^\n]*)\n?$/.exec(text);
  if (!m) throw new ReaderError(where, 'expected one line');
  return m[1].trim();
}

/**
 * A vCPU's debugfs files (the texts of tsc-offset and, when present, tsc-scaling-ratio and
 * tsc-scaling-ratio-frac-bits). `name` prefixes errors (the directory).
 */
export function parseKvmDebugfs(name: string, files: { tscOffset: string; ratio?: string; fracBits?: string }): KvmTscParams {
  const tscOffset = signed(`${name}/tsc-offset`, 'tsc-offset', attribute(`${name}/tsc-offset`, files.tscOffset), 64);
  if (files.ratio === undefined && files.fracBits === undefined) return { tscOffset };
  if (files.ratio === undefined || files.fracBits === undefined) {
    throw new ReaderError(name, `tsc-scaling-ratio and tsc-scaling-ratio-frac-bits come together; found only ${files.ratio === undefined ? 'the frac bits' : 'the ratio'}`);
  }
  const ratio = unsigned(`${name}/tsc-scaling-ratio`, 'tsc-scaling-ratio', attribute(`${name}/tsc-scaling-ratio`, files.ratio));
  const fb = unsigned(`${name}/tsc-scaling-ratio-frac-bits`, 'tsc-scaling-ratio-frac-bits', attribute(`${name}/tsc-scaling-ratio-frac-bits`, files.fracBits));
  if (fb !== 48n && fb !== 32n) throw new ReaderError(`${name}/tsc-scaling-ratio-frac-bits`, `tsc-scaling-ratio-frac-bits: ${fb} is neither 48 (VMX) nor 32 (SVM)`);
  return { tscOffset, ratio, fracBits: Number(fb) as 48 | 32 };
}

/** Reads a vCPU directory (e.g. /sys/kernel/debug/kvm/<pid>-<fd>/vcpu0). */
export async function readKvmDebugfs(dir: string): Promise<KvmTscParams> {
  const { readFileSync, existsSync } = await import('node:fs');
  const { join } = await import('node:path');
  const read = (f: string) => {
    const p = join(dir, f);
    if (!existsSync(p)) return undefined;
    try { return readFileSync(p, 'utf8'); } catch (e) { throw new ReaderError(p, `cannot read: ${(e as Error).message}`); }
  };
  const tscOffset = read('tsc-offset');
  if (tscOffset === undefined) throw new ReaderError(dir, 'no tsc-offset file: not a KVM vCPU debugfs directory');
  return parseKvmDebugfs(dir, { tscOffset, ratio: read('tsc-scaling-ratio'), fracBits: read('tsc-scaling-ratio-frac-bits') });
}

/** A trace line's timestamp: a raw count (counter clocks: x86-tsc) or seconds.fraction of a ns clock. */
export type TraceStamp = { unit: 'count'; value: bigint } | { unit: 'ns'; value: bigint; digits: number };

export type TraceEvent =
  | { line: number; ts: TraceStamp; event: 'kvm_write_tsc_offset'; vcpu: number; prev: bigint; next: bigint }
  | { line: number; ts: TraceStamp; event: 'kvm_pvclock_update'; vcpu: number; page: PvclockTimeInfo & { version: number; flags: number } };

const EVENTS = '(kvm_write_tsc_offset|kvm_pvclock_update)';
// trace-cmd report: "<comm>-<pid> [<cpu>] [<latency flags>] <ts>: <event>: <fields>"
const TRACE_CMD = new RegExp(`^\\s*(.+)-(\\d+)\\s+\\[(\\d+)\\]\\s+(?:[^\\s:]{4,6}\\s+)?(\\d+(?:\\.\\d+)?):\\s+${EVENTS}:\\s+(.*)$`);
// perf script: "<comm> <pid>[/<tid>] [<cpu>] <secs>.<frac>: kvm:<event>: <fields>"
const PERF_SCRIPT = new RegExp(`^\\s*(.+?)\\s+(\\d+(?:/\\d+)?)\\s+\\[(\\d+)\\]\\s+(\\d+\\.\\d+):\\s+(?:\\d+\\s+)?kvm:${EVENTS}:\\s+(.*)$`);

function stamp(where: string, text: string): TraceStamp {
  const dot = text.indexOf('.');
  if (dot < 0) return { unit: 'count', value: unsigned(where, 'timestamp', text) };
  const secs = text.slice(0, dot), frac = text.slice(dot + 1);
  if (!/^\d+$/.test(secs) || !/^\d{1,9}$/.test(frac)) throw new ReaderError(where, `timestamp: "${text}" is not seconds with 1 to 9 decimals`);
  const value = BigInt(secs) * 1_000_000_000n + BigInt(frac) * 10n ** BigInt(9 - frac.length);
  if (value > U64) throw new ReaderError(where, `timestamp: ${text} s does not fit u64 nanoseconds`);
  return { unit: 'ns', value, digits: frac.length };
}

function fieldsOf(where: string, event: string, text: string, re: RegExp, names: string[]): string[] {
  const m = re.exec(text.trim());
  if (m) return m.slice(1);
  // say which field is wrong: the first one whose "name value" shape is absent
  for (const n of names) if (!new RegExp(`(^|[\\s,{])${n}[= ]\\S`).test(text)) throw new ReaderError(where, `${event}: field ${n} is missing`);
  throw new ReaderError(where, `${event}: "${text.trim()}" does not have the tracepoint's format`);
}

const WRITE_TSC_OFFSET = /^vcpu=(\S+) prev=(\S+) next=(\S+)$/;
const PVCLOCK_UPDATE = /^vcpu_id (\S+), pvclock \{ version (\S+), tsc_timestamp (\S+), system_time (\S+), tsc_to_system_mul (\S+), tsc_shift (\S+), flags (\S+) \}$/;

/**
 * The kvm_write_tsc_offset and kvm_pvclock_update lines of a `trace-cmd report` or `perf script` text, in
 * order. Other lines are skipped; a line of one of these events that does not parse is an error naming
 * its number and field. `name` prefixes errors (the file).
 */
export function parseKvmTrace(name: string, text: string): TraceEvent[] {
  const out: TraceEvent[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i];
    if (!raw.includes('kvm_write_tsc_offset') && !raw.includes('kvm_pvclock_update')) continue;
    const where = `${name}:${i + 1}`;
    const m = TRACE_CMD.exec(raw) ?? PERF_SCRIPT.exec(raw);
    if (!m) throw new ReaderError(where, 'a kvm_write_tsc_offset/kvm_pvclock_update line in neither the trace-cmd report nor the perf script form');
    const ts = stamp(where, m[4]), event = m[5] as TraceEvent['event'], body = m[6];
    if (event === 'kvm_write_tsc_offset') {
      const [vcpu, prev, next] = fieldsOf(where, event, body, WRITE_TSC_OFFSET, ['vcpu', 'prev', 'next']);
      out.push({ line: i + 1, ts, event, vcpu: Number(unsigned(where, 'vcpu', vcpu, 32)),
        prev: unsigned(where, 'prev', prev), next: unsigned(where, 'next', next) });
    } else {
      const f = fieldsOf(where, event, body, PVCLOCK_UPDATE,
        ['vcpu_id', 'version', 'tsc_timestamp', 'system_time', 'tsc_to_system_mul', 'tsc_shift', 'flags']);
      out.push({ line: i + 1, ts, event, vcpu: Number(unsigned(where, 'vcpu_id', f[0].replace(/,$/, ''), 32)), page: {
        version: Number(unsigned(where, 'version', f[1].replace(/,$/, ''), 32)),
        tscTimestamp: unsigned(where, 'tsc_timestamp', f[2].replace(/,$/, ''), 64, true),
        systemTime: unsigned(where, 'system_time', f[3].replace(/,$/, ''), 64, true),
        tscToSystemMul: Number(unsigned(where, 'tsc_to_system_mul', f[4].replace(/,$/, ''), 32, true)),
        tscShift: Number(signed(where, 'tsc_shift', f[5].replace(/,$/, ''), 8)),
        flags: Number(unsigned(where, 'flags', f[6], 8, true)),
      } });
    }
  }
  return out;
}

/** perf's PERF_RECORD_TIME_CONV as `perf script -D` prints it: the last record in the text. */
export function parseTimeConv(name: string, text: string): PerfTimeParams {
  const lines = text.split('\n');
  let found: Record<string, { v: string; line: number }> | undefined;
  for (let i = 0; i < lines.length; i++) {
    const m = /^\s*\.\.\. (Time Shift|Time Mu(?:l)?tiplier|Time Muliplier|Time Zero|Time Cycles|Time Mask|Cap Time Zero|Cap Time Short)\s+(\S*)\s*$/.exec(lines[i]);
    if (!m) continue;
    const key = m[1].startsWith('Time Mu') ? 'Time Multiplier' : m[1];
    if (key === 'Time Shift') found = {};
    if (!found) throw new ReaderError(`${name}:${i + 1}`, `"... ${m[1]}" before any "... Time Shift": not a TIME_CONV record`);
    found[key] = { v: m[2], line: i + 1 };
  }
  if (!found) throw new ReaderError(name, 'no PERF_RECORD_TIME_CONV ("... Time Shift") found: use the output of perf script -D or perf report -D');
  const get = (k: string, bits: number, hex = false) => {
    const f = found![k];
    if (!f) throw new ReaderError(name, `TIME_CONV: "... ${k}" is missing`);
    return unsigned(`${name}:${f.line}`, k, f.v, bits, hex);
  };
  const timeShift = get('Time Shift', 64);
  if (timeShift > 63n) throw new ReaderError(`${name}:${found['Time Shift'].line}`, `Time Shift: ${timeShift} is above 63`);
  const p: PerfTimeParams = { timeShift: Number(timeShift), timeMult: Number(get('Time Multiplier', 32)), timeZero: get('Time Zero', 64) };
  if (found['Cap Time Zero'] && get('Cap Time Zero', 32) === 0n) {
    throw new ReaderError(`${name}:${found['Cap Time Zero'].line}`, 'Cap Time Zero: 0, so this perf.data has no time_zero to convert TSC stamps with');
  }
  if (found['Cap Time Short'] && get('Cap Time Short', 32) !== 0n) {
    p.timeCycles = get('Time Cycles', 64);
    p.timeMask = get('Time Mask', 64, true);
  }
  return p;
}

/** trace-cmd's TSC2NSEC option as `trace-cmd dump --options` prints it. */
export function parseTsc2nsec(name: string, text: string): Tsc2nsecParams {
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!lines[i].includes('[multiplier, shift, offset]')) continue;
    const where = `${name}:${i + 1}`;
    const m = /^\s*(\S+) (\S+) (\S+) \[multiplier, shift, offset\]\s*$/.exec(lines[i]);
    if (!m) throw new ReaderError(where, 'TSC2NSEC: expected "<multiplier> <shift> <offset> [multiplier, shift, offset]"');
    const mult = signed(where, 'multiplier', m[1], 33), shift = signed(where, 'shift', m[2], 32);
    if (mult < -(1n << 31n) || mult > 0xFFFFFFFFn) throw new ReaderError(where, `multiplier: ${mult} does not fit 32 bits`);
    if (shift < 0n || shift > 63n) throw new ReaderError(where, `shift: ${shift} is not in 0..63`);
    return { mult: Number(BigInt.asUintN(32, mult)), shift: Number(shift), offset: unsigned(where, 'offset', m[3]) };
  }
  throw new ReaderError(name, 'no TSC2NSEC option ("... [multiplier, shift, offset]") found: use the output of trace-cmd dump --options');
}
