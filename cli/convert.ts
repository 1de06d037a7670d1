// tsclab convert: streams stamps through a clock chain (bindings/chain.ts).
// Input is read in chunks and converted chunk by chunk through the Wasm batch,
// so memory stays bounded whatever the size. Text is handled as latin1 (one
// char per byte), so every byte outside the converted field is written back
// as it came. Errors name the line (or the stamp's index for u64le); bad
// parameters and bad input exit 2 (cli/output.ts).
import { closeSync, createReadStream, createWriteStream, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { createClockChain, ClockChainError, CLOCK_DOMAINS, type ClockChain, type ClockChainParams, type ClockDomain,
  type KvmTscParams, type Timed, type PvclockTimeInfo } from '../bindings/index.js';
import { parseKvmTrace, parseTimeConv, parseTsc2nsec, readKvmDebugfs, type TraceEvent } from '../tools/convert/readers.js';
import type { ConvertOpts } from './convert-command.js';
import { parseInteger, UsageError, EXIT_OK } from './output.js';

const U64 = (1n << 64n) - 1n;
const S64_MIN = -(1n << 63n);
type Format = 'dec' | 'hex' | 'u64le';

function domain(name: string, v: string): ClockDomain {
  if (!(CLOCK_DOMAINS as readonly string[]).includes(v)) throw new UsageError(`--${name}: one of ${CLOCK_DOMAINS.join(', ')}, got "${v}"`);
  return v as ClockDomain;
}

function format(name: string, v: string): Format {
  if (v !== 'dec' && v !== 'hex' && v !== 'u64le') throw new UsageError(`--${name}: dec, hex or u64le, got "${v}"`);
  return v;
}

/** A comma list of integers (decimal or 0x hex), each with its name and range. */
function tuple(opt: string, text: string, fields: [string, bigint, bigint][], required = fields.length): bigint[] {
  const parts = text.split(',');
  if (parts.length < required || parts.length > fields.length) {
    throw new UsageError(`--${opt}: expected ${fields.slice(0, required).map((f) => f[0]).join(',')}` +
      `${required < fields.length ? `[,${fields.slice(required).map((f) => f[0]).join(',')}]` : ''}, got "${text}"`);
  }
  return parts.map((p, i) => parseInteger(`${opt} ${fields[i][0]}`, p, fields[i][1], fields[i][2]));
}

const u64f = (n: string): [string, bigint, bigint] => [n, 0n, U64];
const s64u64 = (n: string): [string, bigint, bigint] => [n, S64_MIN, U64];
const u32f = (n: string): [string, bigint, bigint] => [n, 0n, 0xFFFFFFFFn];
const shiftf = (n: string): [string, bigint, bigint] => [n, 0n, 63n];
const toU64 = (v: bigint) => BigInt.asUintN(64, v);

function fileText(opt: string, file: string): string {
  try { return readFileSync(file === '-' ? 0 : file, 'utf8'); } catch (e) { throw new UsageError(`--${opt}: cannot read ${file}: ${(e as Error).message}`); }
}

/** The chain's parameters from the options (and the files they name). */
async function chainParams(o: ConvertOpts): Promise<ClockChainParams> {
  const p: ClockChainParams = {};
  let kvm: KvmTscParams | undefined = o.kvmDebugfs ? await readKvmDebugfs(o.kvmDebugfs) : undefined;
  if (o.tscOffset !== undefined || o.tscScalingRatio !== undefined || o.fracBits !== undefined) {
    kvm = { ...(kvm ?? { tscOffset: 0n }) };
    if (o.tscOffset !== undefined) kvm.tscOffset = toU64(parseInteger('tsc-offset', o.tscOffset, S64_MIN, U64));
    if (o.tscScalingRatio !== undefined) kvm.ratio = parseInteger('tsc-scaling-ratio', o.tscScalingRatio);
    if (o.fracBits !== undefined) {
      if (o.fracBits !== '48' && o.fracBits !== '32') throw new UsageError(`--frac-bits: 48 (VMX) or 32 (SVM), got "${o.fracBits}"`);
      kvm.fracBits = Number(o.fracBits) as 48 | 32;
    }
  }
  if (kvm) p.kvm = kvm;
  if (o.l2 !== undefined) {
    const [off, ratio] = tuple('l2', o.l2, [s64u64('offset'), u64f('ratio')], 1);
    p.nested = { tscOffset: toU64(off), ...(ratio !== undefined ? { ratio } : {}), ...(kvm?.fracBits ? { fracBits: kvm.fracBits } : {}) };
  }
  if (o.pvclock !== undefined) {
    const [ts, st, mul, shift, flags] = tuple('pvclock', o.pvclock, [u64f('tsc_timestamp'), u64f('system_time'), u32f('tsc_to_system_mul'),
      ['tsc_shift', -32n, 31n], ['flags', 0n, 255n]], 4);
    p.pvclock = { tscTimestamp: ts, systemTime: st, tscToSystemMul: Number(mul), tscShift: Number(shift), flags: Number(flags ?? 1n) };
  }
  if (o.hvPage !== undefined) {
    const [scale, offset] = tuple('hv-page', o.hvPage, [u64f('scale'), s64u64('offset')]);
    p.hvTscPage = { scale, offset: toU64(offset) };
  }
  if (o.perf !== undefined && o.perfTimeConv !== undefined) throw new UsageError('give --perf or --perf-time-conv, not both');
  if (o.perf !== undefined) {
    const f = tuple('perf', o.perf, [s64u64('time_zero'), u32f('time_mult'), shiftf('time_shift'), u64f('time_cycles'), u64f('time_mask')], 3);
    if (f.length === 4) throw new UsageError('--perf: time_cycles needs time_mask after it (cap_user_time_short)');
    p.perf = { timeZero: toU64(f[0]), timeMult: Number(f[1]), timeShift: Number(f[2]), ...(f.length === 5 ? { timeCycles: f[3], timeMask: f[4] } : {}) };
  }
  if (o.perfTimeConv !== undefined) p.perf = parseTimeConv(o.perfTimeConv, fileText('perf-time-conv', o.perfTimeConv));
  if (o.perfOn !== undefined) {
    if (o.perfOn !== 'host' && o.perfOn !== 'guest') throw new UsageError(`--perf-on: host or guest, got "${o.perfOn}"`);
    p.perfOn = o.perfOn;
  }
  const hostNs = [o.clocksource, o.tsc2nsec, o.traceCmdOptions].filter((x) => x !== undefined).length;
  if (hostNs > 1) throw new UsageError('give one of --clocksource, --tsc2nsec, --trace-cmd-options');
  if (o.clocksource !== undefined) {
    const [mult, shift] = tuple('clocksource', o.clocksource, [u32f('mult'), shiftf('shift')]);
    p.clocksource = { mult: Number(mult), shift: Number(shift) };
  }
  if (o.tsc2nsec !== undefined) {
    const [mult, shift, offset] = tuple('tsc2nsec', o.tsc2nsec, [u32f('mult'), shiftf('shift'), s64u64('offset')]);
    p.tsc2nsec = { mult: Number(mult), shift: Number(shift), offset: toU64(offset) };
  }
  if (o.traceCmdOptions !== undefined) p.tsc2nsec = parseTsc2nsec(o.traceCmdOptions, fileText('trace-cmd-options', o.traceCmdOptions));
  if (o.trace !== undefined) applyTrace(o, p, o.trace, parseKvmTrace(o.trace, fileText('trace', o.trace)));
  return p;
}

/** Piecewise kvm offsets and pvclock pages from tracepoint lines, for one vCPU. */
function applyTrace(o: ConvertOpts, p: ClockChainParams, file: string, all: TraceEvent[]): void {
  const vcpus = [...new Set(all.map((e) => e.vcpu))].sort((a, b) => a - b);
  let vcpu: number;
  if (o.vcpu !== undefined) vcpu = Number(parseInteger('vcpu', o.vcpu, 0n, 0xFFFFFFFFn));
  else if (vcpus.length > 1) throw new UsageError(`--trace ${file}: it has lines of vCPUs ${vcpus.join(', ')}; choose one with --vcpu`);
  else vcpu = vcpus[0] ?? 0;
  const ev = all.filter((e) => e.vcpu === vcpu);
  if (!ev.length) throw new UsageError(`--trace ${file}: no kvm_write_tsc_offset or kvm_pvclock_update line${o.vcpu !== undefined ? ` of vCPU ${vcpu}` : ''}`);
  const writes = ev.filter((e): e is Extract<TraceEvent, { event: 'kvm_write_tsc_offset' }> => e.event === 'kvm_write_tsc_offset');
  if (writes.length) {
    const base = p.kvm && !Array.isArray(p.kvm) ? p.kvm : { tscOffset: 0n };
    // a ns-clock trace (perf script, trace-cmd on a ns clock) is keyed back to host TSC by the inverse of the host clock
    const needKeys = writes.some((w) => w.ts.unit === 'ns');
    const keyChain = needKeys ? nsKeyChain(p, file, writes.find((w) => w.ts.unit === 'ns')!.line) : undefined;
    // before the first change, its prev= offset -- unless that is 0: a vCPU starts with offset 0 and KVM's first write
    // (kvm_synchronize_tsc at creation) sets the real one, so the first next= is taken back to host TSC 0 (the VM did
    // not run before it; an inverse would otherwise answer from the time before the VM existed)
    const created = writes[0].prev === 0n;
    const segs: Timed<KvmTscParams>[] = [{ from: 0n, params: { ...base, tscOffset: created ? writes[0].next : writes[0].prev } }];
    for (const w of created ? writes.slice(1) : writes) {
      let key = w.ts.value;
      if (w.ts.unit === 'ns') {
        try { key = keyChain!.chain.convert(keyChain!.from, 'host-tsc', w.ts.value); } catch (e) {
          throw new UsageError(`${file}:${w.line}: the timestamp has no host TSC: ${(e as Error).message}`);
        }
      }
      if (key <= segs[segs.length - 1].from) {
        throw new UsageError(`${file}:${w.line}: kvm_write_tsc_offset at host TSC ${key} is not after the previous change (${segs[segs.length - 1].from}); lines must be in time order`);
      }
      segs.push({ from: key, params: { ...base, tscOffset: w.next } });
    }
    p.kvm = segs;
  }
  const pages = ev.filter((e): e is Extract<TraceEvent, { event: 'kvm_pvclock_update' }> => e.event === 'kvm_pvclock_update');
  if (pages.length) {
    if (p.pvclock) throw new UsageError(`give --pvclock or kvm_pvclock_update lines in --trace ${file}, not both`);
    const segs: Timed<PvclockTimeInfo>[] = [];
    for (const e of pages) {
      // a page is keyed by its own tsc_timestamp: the guest TSC from which it is the current one
      const key = segs.length ? e.page.tscTimestamp : 0n;
      if (segs.length && key <= segs[segs.length - 1].from) {
        if (e.page.tscTimestamp === pages[segs.length - 1]?.page.tscTimestamp) { segs[segs.length - 1].params = e.page; continue; }
        throw new UsageError(`${file}:${e.line}: kvm_pvclock_update tsc_timestamp ${e.page.tscTimestamp} is below the previous page's; lines must be in time order`);
      }
      segs.push({ from: key, params: e.page });
    }
    p.pvclock = segs;
  }
}

function nsKeyChain(p: ClockChainParams, file: string, line: number): { chain: ClockChain; from: ClockDomain } {
  if (p.perf && (p.perfOn ?? 'host') === 'host') return { chain: createClockChain({ perf: p.perf }), from: 'perf-ns' };
  if (p.tsc2nsec || p.clocksource) return { chain: createClockChain({ tsc2nsec: p.tsc2nsec, clocksource: p.clocksource }), from: 'host-ns' };
  throw new UsageError(`${file}:${line}: this trace's timestamps are nanoseconds (perf script, or a ns trace clock); give --perf / ` +
    '--perf-time-conv or --tsc2nsec / --trace-cmd-options to map them back to host TSC, or record with the x86-tsc clock');
}

/** Where a stamp came from, for messages. */
interface Loc { line: number; text: string }

class Converter {
  bad = 0;
  firstBad = '';
  constructor(readonly chain: ClockChain, readonly from: ClockDomain, readonly to: ClockDomain, readonly skipBad: boolean) {}

  /** Converts in[0..n) to out; returns a flag per stamp that failed (only with --skip-bad; else throws). */
  run(input: BigUint64Array, output: BigUint64Array, where: (i: number) => string): Uint8Array | null {
    let failed: Uint8Array | null = null;
    for (let start = 0; start < input.length;) {
      try {
        this.chain.convertBatch(this.from, this.to, input.subarray(start), output.subarray(start, input.length));
        break;
      } catch (e) {
        if (!(e instanceof ClockChainError)) throw e;
        const i = start + e.index;
        this.skip(where(i), e.message.replace(/^convert: /, ''));
        (failed ??= new Uint8Array(input.length))[i] = 1;
        output[i] = input[i];
        start = i + 1;
      }
    }
    return failed;
  }

  /** The u64le fast path: converts bytes (a whole number of stamps) in place; returns the indexes that failed. */
  runBytes(bytes: Uint8Array, where: (i: number) => string): number[] {
    const failed: number[] = [];
    for (let start = 0; start < bytes.length / 8;) {
      try {
        this.chain.convertU64le(this.from, this.to, bytes.subarray(start * 8));
        break;
      } catch (e) {
        if (!(e instanceof ClockChainError)) throw e;
        const i = start + e.index;
        this.skip(where(i), e.message.replace(/^convert: /, ''));
        failed.push(i);
        start = i + 1;
      }
    }
    return failed;
  }

  skip(where: string, what: string): void {
    if (!this.skipBad) throw new UsageError(`${where}: ${what}`);
    if (!this.bad++) this.firstBad = `${where}: ${what}`;
  }
}

function parseStamp(field: string, fmt: 'dec' | 'hex'): bigint | string {
  if (fmt === 'dec') {
    if (!/^\d+$/.test(field)) return `"${field}" is not an unsigned decimal stamp`;
  } else if (!/^(0x)?[0-9a-f]+$/i.test(field)) return `"${field}" is not a hex stamp (hex digits, 0x optional)`;
  const v = BigInt(fmt === 'hex' ? `0x${field.replace(/^0x/i, '')}` : field);
  return v > U64 ? `${field} does not fit u64` : v;
}

const show = (v: bigint, fmt: Format) => (fmt === 'hex' ? `0x${v.toString(16)}` : v.toString());

/** Writes with backpressure. */
async function put(out: Writable, data: string | Uint8Array): Promise<void> {
  if (!out.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data)) await new Promise<void>((r) => out.once('drain', () => r()));
}

export async function runConvert(o: ConvertOpts): Promise<number> {
  const from = domain('from', o.from), to = domain('to', o.to);
  const inFmt = format('format', o.format), outFmt = format('out-format', o.outFormat ?? o.format);
  if (o.column !== undefined && (inFmt === 'u64le' || outFmt === 'u64le')) throw new UsageError('--column works on text: not with u64le');
  if (o.separator !== undefined && o.column === undefined) throw new UsageError('--separator needs --column');
  const column = o.column === undefined ? 0 : Number(parseInteger('column', o.column, 1n, 1_000_000n));
  const sep = o.separator === undefined ? ',' : o.separator === '\\t' || o.separator === 'tab' ? '\t' : o.separator;
  if (sep.length !== 1) throw new UsageError(`--separator: one character (or \\t), got "${o.separator}"`);
  if (o.header && inFmt === 'u64le') throw new UsageError('--header works on text: not with u64le');
  const chain = createClockChain(await chainParams(o));
  let steps: ReturnType<ClockChain['path']>;
  try { steps = chain.path(from, to); } catch (e) { // a conversion the parameters do not allow: refused before any output
    throw new UsageError((e as Error).message.replace(/^path: /, ''));
  }
  if (o.explain) {
    process.stderr.write(steps.length ? steps.map((s) => `${s.from} -> ${s.to}: ${s.inverse ? 'inverse of ' : ''}${s.name}\n`).join('')
      : `${from} -> ${to}: nothing to do\n`);
  }
  const conv = new Converter(chain, from, to, !!o.skipBad);
  const inName = o.in === '-' ? '<stdin>' : o.in;
  let input: AsyncIterable<Buffer>;
  let size = 0;
  if (o.in === '-') input = process.stdin;
  else {
    try { size = statSync(o.in).size; } catch (e) { throw new UsageError(`--in: cannot read ${o.in}: ${(e as Error).message}`); }
    input = createReadStream(o.in, { highWaterMark: 1 << 20 });
  }
  const tmp = o.out === '-' ? undefined : `${o.out}.tmp-${process.pid}`;
  if (inFmt === 'u64le' && outFmt === 'u64le' && o.in !== '-' && tmp) {
    // file to file: synchronous reads and writes of one reused 4 MiB buffer, converted in place -- no stream
    // machinery between the disk and the Wasm loop (the streams below wait on each 1 MiB read, then each write)
    try { fileToFile(o.in, tmp, conv, inName); renameSync(tmp, o.out); } catch (e) {
      try { rmSync(tmp, { force: true }); } catch { /* nothing written there */ }
      if ((e as NodeJS.ErrnoException).code) throw new UsageError(`${(e as NodeJS.ErrnoException).path ?? o.out}: ${(e as Error).message}`);
      throw e;
    }
    if (conv.bad) process.stderr.write(`tsclab convert: left out ${conv.bad} bad stamp${conv.bad > 1 ? 's' : ''} (--skip-bad); the first: ${conv.firstBad}\n`);
    return EXIT_OK;
  }
  const out: Writable = tmp ? createWriteStream(tmp) : process.stdout;
  const progress = o.in !== '-' && process.stderr.isTTY && size > 64 << 20 ? await bar(size) : undefined;
  try {
    if (inFmt === 'u64le') await streamBinary(input, out, conv, outFmt, inName, progress);
    else if (outFmt !== 'u64le') await streamLines(input, out, conv, inFmt, outFmt, column, sep, !!o.header, inName, progress);
    else await streamText(input, out, conv, inFmt, outFmt, column, sep, !!o.header, inName, progress);
    if (tmp) {
      await new Promise<void>((res, rej) => out.end((e?: Error | null) => (e ? rej(e) : res())));
      renameSync(tmp, o.out);
    }
  } catch (e) {
    if (tmp) { out.destroy(); try { rmSync(tmp, { force: true }); } catch { /* nothing written there */ } }
    throw e;
  } finally {
    progress?.stop();
  }
  if (conv.bad) process.stderr.write(`tsclab convert: copied ${conv.bad} bad stamp${conv.bad > 1 ? 's' : ''} unchanged (--skip-bad); the first: ${conv.firstBad}\n`);
  return EXIT_OK;
}

interface Progress { add(n: number): void; stop(): void }
async function bar(total: number): Promise<Progress> {
  const { default: cliProgress } = await import('cli-progress');
  const b = new cliProgress.SingleBar({ stream: process.stderr, clearOnComplete: true, hideCursor: true,
    format: 'convert [{bar}] {percentage}% | {eta_formatted} left' }, cliProgress.Presets.shades_classic);
  b.start(total, 0);
  let done = 0;
  return { add: (n) => { done += n; b.update(done); }, stop: () => b.stop() };
}

function fileToFile(inPath: string, outPath: string, conv: Converter, name: string): void {
  const buf = new Uint8Array(4 << 20);
  const fin = openSync(inPath, 'r'), fout = openSync(outPath, 'w');
  try {
    let have = 0, index = 0;
    for (;;) {
      const got = readSync(fin, buf, have, buf.length - have, null);
      have += got;
      const whole = have - (have % 8);
      if (got === 0 && have !== whole) throw new UsageError(`${name}: ends with ${have - whole} bytes, not a whole u64le stamp (8 bytes)`);
      if (whole === 0) { if (got === 0) break; continue; }
      const base = index;
      const failed = conv.runBytes(buf.subarray(0, whole), (i) => `${name}: stamp ${base + i} (byte ${(base + i) * 8})`);
      index += whole / 8;
      if (failed.length) {
        const keep = new Set(failed);
        for (let i = 0; i < whole / 8; i++) if (!keep.has(i)) writeSync(fout, buf, i * 8, 8);
      } else {
        for (let off = 0; off < whole;) off += writeSync(fout, buf, off, whole - off);
      }
      buf.copyWithin(0, whole, have);
      have -= whole;
      if (got === 0) break;
    }
  } finally {
    closeSync(fin);
    closeSync(fout);
  }
}

async function streamBinary(input: AsyncIterable<Buffer>, out: Writable, conv: Converter, outFmt: Format, name: string, progress?: Progress) {
  let carry = new Uint8Array(0);
  let index = 0;
  for await (const chunk of input) {
    progress?.add(chunk.length);
    // each chunk is converted in place (the stream hands over its buffer); only a stamp split across chunks is copied
    let all: Uint8Array = chunk;
    if (carry.length) {
      all = new Uint8Array(carry.length + chunk.length);
      all.set(carry);
      all.set(chunk, carry.length);
    }
    const whole = all.length - (all.length % 8);
    carry = all.slice(whole);
    const bytes = all.subarray(0, whole);
    const base = index;
    const failed = conv.runBytes(bytes, (i) => `${name}: stamp ${base + i} (byte ${(base + i) * 8})`);
    index += whole / 8;
    if (outFmt === 'u64le') {
      if (!failed.length) { await put(out, bytes); continue; }
      const keep = new Set(failed);
      await put(out, Buffer.concat(Array.from({ length: whole / 8 }, (_, i) => i).filter((i) => !keep.has(i)).map((i) => bytes.subarray(i * 8, i * 8 + 8))));
      continue;
    }
    const v = new BigUint64Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + whole));
    await put(out, Array.from(v, (x) => show(x, outFmt)).join('\n') + (v.length ? '\n' : ''));
  }
  if (carry.length) throw new UsageError(`${name}: ends with ${carry.length} bytes, not a whole u64le stamp (8 bytes)`);
}

/** Text to text: whole lines go through chain.convertLines (parsing, conversion and writing in Wasm). */
async function streamLines(input: AsyncIterable<Buffer>, out: Writable, conv: Converter, inFmt: 'dec' | 'hex', outFmt: 'dec' | 'hex',
                           column: number, sep: string, header: boolean, name: string, progress?: Progress) {
  let carry: Buffer = Buffer.alloc(0);
  let line = 0;
  let skipHeader = header;
  const block = async (bytes: Buffer) => {
    if (skipHeader) {
      const nl = bytes.indexOf(10);
      const head = nl < 0 ? bytes : bytes.subarray(0, nl + 1);
      await put(out, head);
      bytes = bytes.subarray(head.length);
      line++;
      skipHeader = false;
    }
    if (!bytes.length) return;
    const r = conv.chain.convertLines(conv.from, conv.to, bytes, { column, separator: sep, hexIn: inFmt === 'hex', hexOut: outFmt === 'hex' });
    for (const f of r.failures) {
      const where = `${name}:${line + f.line + 1}${column ? `, column ${column}` : ''}`;
      conv.skip(where, f.reason === 'convert' ? f.message!.replace(/^convert: /, '')
        : f.reason === 'fields' ? `the line has fewer than ${column} fields (separator ${JSON.stringify(sep)})`
        : f.reason === 'range' ? `${f.field} does not fit u64`
        : inFmt === 'dec' ? `"${f.field}" is not an unsigned decimal stamp` : `"${f.field}" is not a hex stamp (hex digits, 0x optional)`);
    }
    line += r.lines;
    await put(out, r.output);
  };
  for await (const chunk of input) {
    progress?.add(chunk.length);
    const nl = chunk.lastIndexOf(10);
    if (nl < 0) { carry = Buffer.concat([carry, chunk]); continue; }
    const whole = carry.length ? Buffer.concat([carry, chunk.subarray(0, nl + 1)]) : chunk.subarray(0, nl + 1);
    carry = Buffer.from(chunk.subarray(nl + 1));
    await block(whole);
  }
  if (carry.length) await block(carry);
}

async function streamText(input: AsyncIterable<Buffer>, out: Writable, conv: Converter, inFmt: 'dec' | 'hex', outFmt: Format,
                          column: number, sep: string, header: boolean, name: string, progress?: Progress) {
  let carry = '';
  let line = 0;
  let skipHeader = header;
  const block = async (text: string, last: boolean) => {
    const lines = text.split('\n');
    if (!last) lines.pop(); // text ends with '\n': the empty string after it is no line
    const stamps = new BigUint64Array(lines.length);
    const spans: (Loc & { a: number; b: number; k: number })[] = [];
    let k = 0;
    for (let i = 0; i < lines.length; i++) {
      line++;
      const s = lines[i];
      if (skipHeader) { skipHeader = false; spans.push({ line, text: s, a: -1, b: -1, k: -1 }); continue; }
      const end = s.endsWith('\r') ? s.length - 1 : s.length;
      let a = 0, b = end;
      if (column) {
        for (let c = 1; c < column; c++) {
          const j = s.indexOf(sep, a);
          if (j < 0 || j >= end) { a = -1; break; }
          a = j + 1;
        }
        if (a >= 0) { const j = s.indexOf(sep, a); b = j < 0 || j > end ? end : j; }
      }
      const where = `${name}:${line}${column ? `, column ${column}` : ''}`;
      if (a < 0) {
        conv.skip(where, `the line has fewer than ${column} fields (separator ${JSON.stringify(sep)})`);
        spans.push({ line, text: s, a: -1, b: -1, k: -1 });
        continue;
      }
      const v = parseStamp(s.slice(a, b), inFmt);
      if (typeof v === 'string') {
        conv.skip(where, v);
        spans.push({ line, text: s, a: -1, b: -1, k: -1 });
        continue;
      }
      stamps[k] = v;
      spans.push({ line, text: s, a, b, k: k++ });
    }
    const input = stamps.subarray(0, k), res = new BigUint64Array(k);
    const byK = spans.filter((x) => x.k >= 0);
    const failed = conv.run(input, res, (j) => `${name}:${byK[j].line}${column ? `, column ${column}` : ''}`);
    if (outFmt === 'u64le') {
      const good = failed ? res.filter((_, j) => !failed[j]) : res;
      await put(out, new Uint8Array(good.buffer, good.byteOffset, good.byteLength));
      return;
    }
    let o = '';
    for (const x of spans) {
      const nl = x.line === line && last ? '' : '\n';
      if (x.k < 0 || failed?.[x.k]) { o += x.text + nl; continue; }
      o += column ? x.text.slice(0, x.a) + show(res[x.k], outFmt) + x.text.slice(x.b) + nl
        : show(res[x.k], outFmt) + x.text.slice(x.b) + nl;
    }
    await put(out, o);
  };
  for await (const chunk of input) {
    progress?.add(chunk.length);
    const text = carry + chunk.toString('latin1');
    const nl = text.lastIndexOf('\n');
    if (nl < 0) { carry = text; continue; }
    carry = text.slice(nl + 1);
    await block(text.slice(0, nl + 1), false);
  }
  if (carry) await block(carry, true);
}
