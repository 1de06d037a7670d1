// Malformed input, generated from a fixed seed (FC_SEED overrides it; a failure
// prints fast-check's seed and path, and MALFORMED_ONLY=<test name part> runs
// one property): the built-in scenarios and the documented examples mutated
// (wrong types, out-of-range numbers, 2^64 and 2^64+1 as strings, negatives,
// unicode, truncation, duplicate keys, deep nesting, absurd durations and
// counts, deleted fields), calc options, dmesg lines from real logs,
// campaign.json files and random JS values into the API. Each goes through the
// CLI's own code (in-process for the bulk, `node dist/cli/main.js` for a
// sample) and must end with exit 0, 1 or 2, no stack trace, a message that
// names the field, the option or the file, in bounded time, with no file
// half-written; the API must refuse a bad argument with a TypeError or
// RangeError naming the function, and compute exactly (the BigInt oracle)
// what it accepts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';
import { CommanderError } from 'commander';
import * as t from '../bindings/index.js';
import * as o from '../oracle/index.js';
import { loadScenarioArg } from '../cli/scenario-arg.js';
import { calcCommand } from '../cli/calc.js';
import { bootLines } from '../cli/boot-lines.js';
import { report, writeFileAtomic } from '../cli/output.js';
import { runScenario } from '../sim/machine.js';
import { healthy, renderLog, summarize } from '../sim/summary.js';
import { analyzeDmesg } from '../tools/dmesg.js';
import { readCampaignState } from '../sim/fuzz/campaign.js';
import { builtinNames, builtinRaw } from '../sim/scenarios.js';

const SEED = process.env.FC_SEED !== undefined ? Number(process.env.FC_SEED) : 20_260_101;
console.log(`malformed-input seed ${SEED} (replay with FC_SEED=${SEED}; one property: MALFORMED_ONLY=<part of its name>)`);
const only = process.env.MALFORMED_ONLY;
const prop = (name: string, fn: () => void | Promise<void>) => test(name, only && !name.includes(only) ? () => undefined : fn);
/** MALFORMED_SCALE=n runs n times as many inputs (a deeper search outside the suite). */
const scale = Number(process.env.MALFORMED_SCALE ?? 1);
const params = (numRuns: number) => ({ seed: SEED, numRuns: Math.round(numRuns * scale), endOnFailure: true, includeErrorInReport: true });

const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'tsclab-malformed-'));
/** Budgets of the in-process runs: a valid mutated scenario runs, in milliseconds (the CLI's own limits are larger). */
const BUDGET = { maxScheduled: 3_000n };
/** Per input: a hang detector, not a speed test (the slowest inputs, 10,000 copies of something, take ~1 s alone). */
const WALL_MS = 15_000;

const TRACE = /\n\s+at /;
/** Messages that mean the program, not the input, went wrong. */
const UNCLEAR = /internal error|is not iterable|Cannot read prop|Division by zero|Maximum call stack|\[object Object\]|is not a function|tsclab kernel abort/;
/** A problem line of a ScenarioError: a path (or the top level) then what is wrong. */
const PROBLEM = /^ {2}(\(top level\)|(?:[A-Za-z_$][\w$]*|\["(?:[^"\\]|\\.)*"\])(\[\d+\]|\["(?:[^"\\]|\\.)*"\]|\.[^\s:]+)*|fixes\[\d+\] \(".*"\), once its patch is applied: (\(top level\)|(?:[A-Za-z_$][\w$]*|\["(?:[^"\\]|\\.)*"\])(\[\d+\]|\["(?:[^"\\]|\\.)*"\]|\.[^\s:]+)*)|\.\.\. and \d+ more$)(: |$)/;

const tally = { inputs: 0, children: 0, codes: [0, 0, 0], slowest: { ms: 0, what: '' }, sections: {} as Record<string, number> };
function count(section: string, code: number, ms: number, what: string): void {
  tally.inputs++;
  tally.codes[code]++;
  tally.sections[section] = (tally.sections[section] ?? 0) + 1;
  if (ms > tally.slowest.ms) tally.slowest = { ms: Math.round(ms), what: `${section}: ${what.slice(0, 120)}` };
}

/** Runs `fn` with stdout and stderr captured (the CLI writes with console.log and process.*.write). */
function captured<T>(fn: () => T): { value?: T; error?: unknown; out: string; err: string } {
  const w = { out: process.stdout.write, err: process.stderr.write };
  let out = '', err = '';
  process.stdout.write = ((s: string) => { out += s; return true; }) as typeof process.stdout.write;
  process.stderr.write = ((s: string) => { err += s; return true; }) as typeof process.stderr.write;
  try { return { value: fn(), out, err }; } catch (error) { return { error, out, err }; } finally {
    process.stdout.write = w.out;
    process.stderr.write = w.err;
  }
}
/** What the CLI prints for an error and its exit code (report(), with --debug off). */
function reported(e: unknown): { code: number; err: string } {
  const debug = process.env.TSCLAB_DEBUG;
  delete process.env.TSCLAB_DEBUG;
  try { const r = captured(() => report(e)); return { code: r.value!, err: r.err }; } finally { if (debug !== undefined) process.env.TSCLAB_DEBUG = debug; }
}

/** A child process of the real command: code, output, and whether it ran past its time limit. */
function child(args: string[], input = '', timeoutMs = 30_000): Promise<{ code: number | null; out: string; err: string; killed: boolean; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [cli, ...args], { env: { ...process.env, NODE_OPTIONS: '', TSCLAB_DEBUG: '' }, timeout: timeoutMs });
    let out = '', err = '';
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', (code, signal) => resolve({ code, out, err, killed: signal !== null, ms: performance.now() - t0 }));
    p.stdin.end(input);
  });
}
/** Runs async jobs `width` at a time. */
async function pool<T>(items: T[], width: number, job: (x: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => { while (next < items.length) { const i = next++; await job(items[i], i); } }));
}

// ---- mutating JSON values ----------------------------------------------------------------------------------------------
type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
const DUP = Symbol('duplicate key'), DEEP = Symbol('nested this deep');
type Key = string | number;

/** Every path in `v` (not the root), breadth-first, at most `max`. */
function paths(v: Json, max = 3000): Key[][] {
  const out: Key[][] = [];
  const queue: [Json, Key[]][] = [[v, []]];
  for (let i = 0; i < queue.length && out.length < max; i++) {
    const [x, p] = queue[i];
    if (x === null || typeof x !== 'object' || (x as Record<symbol, unknown>)[DEEP]) continue;
    for (const [k, c] of Array.isArray(x) ? x.map((c, j) => [j, c] as const) : Object.entries(x)) {
      const q = [...p, k];
      out.push(q);
      queue.push([c as Json, q]);
    }
  }
  return out;
}
const parentOf = (root: Json, p: Key[]): Record<Key, Json> => p.slice(0, -1).reduce<Json>((x, k) => (x as Record<Key, Json>)[k], root) as Record<Key, Json>;
const setOwn = (o: Record<Key, Json>, k: Key, v: Json) => Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });

const WEIRD: Json[] = [0, -1, 1.5, 1e308, -1e308, true, false, null, [], {}, '', 'x', '💥', '\u0000', [1, 2], { a: 1 }, 2 ** 53 + 2, 18446744073709551616, -0];
const NUMBERS = [-1, 0, 1, 2, 3, 24, 63, 64, 65, 4096, 4097, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53, 1e21, 0.5, 1_000_000, 4_294_967_295, 16_777_217];
const BIG = ['18446744073709551615', '18446744073709551616', '18446744073709551617', '-1', '0', '-9223372036854775808', '-9223372036854775809',
  '9223372036854775808', '0x10', '1e3', ' 5 ', '٣', '9'.repeat(100), '-0'];
const DURATIONS = ['99999999999999999999999d', '99999999999999d', '0s', '0ns', '1ns', '1us', '999ns', '10ms', '1000d', '1001d', '36500d', '36501d',
  '18446744073709551615ns', '18446744073709551616ns', '1.0000000001s', '-1s', '1e3s', '10 ms', '１０ms', '5180237.5709105s', '365d', '0.5ns',
  `1${'0'.repeat(60)}s`, '1.5', 's', '', '2.5s', '300s', '1h', '9'.repeat(30) + 'ns'];
const KEYS = ['bogus', '__proto__', 'constructor', 'toString', '', 'é', 'fixes', 'until', 'do'];

type Mutation =
  | { kind: 'type'; pick: number; v: Json } | { kind: 'number'; pick: number; v: number } | { kind: 'big'; pick: number; v: string }
  | { kind: 'duration'; pick: number; v: string } | { kind: 'unicode'; pick: number; v: string } | { kind: 'delete'; pick: number }
  | { kind: 'repeat'; pick: number; n: number } | { kind: 'deep'; pick: number; n: number } | { kind: 'unknown'; pick: number; key: string; v: Json }
  | { kind: 'dup'; pick: number; v: Json };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('type' as const), pick: fc.nat(), v: fc.constantFrom(...WEIRD) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('number' as const), pick: fc.nat(), v: fc.constantFrom(...NUMBERS) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('big' as const), pick: fc.nat(), v: fc.constantFrom(...BIG) }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('duration' as const), pick: fc.nat(), v: fc.constantFrom(...DURATIONS) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('unicode' as const), pick: fc.nat(), v: fc.string({ unit: 'binary', maxLength: 6 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('repeat' as const), pick: fc.nat(), n: fc.constantFrom(2, 3, 50, 300, 10_001) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('deep' as const), pick: fc.nat(), n: fc.constantFrom(2, 100, 1000, 5000) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('unknown' as const), pick: fc.nat(), key: fc.constantFrom(...KEYS), v: fc.constantFrom(...WEIRD) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('dup' as const), pick: fc.nat(), v: fc.constantFrom(...WEIRD) }) },
);

/** Applies `m` to `root` in place (the root itself is never replaced); returns a short description. */
function mutate(root: Json, m: Mutation): string {
  const all = paths(root);
  if (!all.length) return 'nothing to mutate';
  const p = all[m.pick % all.length], parent = parentOf(root, p), key = p[p.length - 1], cur = parent[key];
  const at = p.join('.');
  switch (m.kind) {
    case 'type': case 'number': case 'big': case 'duration': case 'unicode': setOwn(parent, key, m.v); return `${at} = ${JSON.stringify(m.v)}`;
    case 'delete':
      if (Array.isArray(parent)) parent.splice(key as number, 1); else delete parent[key];
      return `delete ${at}`;
    case 'repeat':
      if (!Array.isArray(cur) || !cur.length) { const n = Math.min(m.n, 300); setOwn(parent, key, Array.from({ length: n }, () => cur)); return `${at} = [x${n}]`; }
      setOwn(parent, key, [...cur, ...Array.from({ length: m.n }, () => JSON.parse(JSON.stringify(cur[0])) as Json)]);
      return `${at} += ${m.n} copies`;
    case 'deep': setOwn(parent, key, { [DEEP]: m.n } as unknown as Json); return `${at} nested ${m.n} deep`;
    case 'unknown':
      if (cur !== null && typeof cur === 'object' && !Array.isArray(cur)) { setOwn(cur as Record<Key, Json>, m.key, m.v); return `${at}.${m.key} added`; }
      setOwn(parent, key, { [m.key]: m.v });
      return `${at} = {${m.key}}`;
    case 'dup':
      if (cur !== null && typeof cur === 'object' && !Array.isArray(cur) && Object.keys(cur).length) { (cur as Record<symbol, Json>)[DUP] = m.v; return `${at}: a key twice`; }
      (parent as Record<symbol, Json>)[DUP] = m.v;
      return `${p.slice(0, -1).join('.')}: a key twice`;
  }
}

/** JSON text of a mutated value: a DUP object repeats its first key, a DEEP marker is written nested. */
function toJson(v: Json): string {
  if (v !== null && typeof v === 'object') {
    const deep = (v as Record<symbol, number>)[DEEP];
    if (deep) return `${'{"x":'.repeat(deep)}1${'}'.repeat(deep)}`;
    if (Array.isArray(v)) return `[${v.map(toJson).join(',')}]`;
    const entries = Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${toJson(x)}`);
    const dup = (v as Record<symbol, Json>)[DUP];
    if (dup !== undefined && entries.length) entries.push(`${JSON.stringify(Object.keys(v)[0])}:${toJson(dup)}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}
/** The same as YAML (duplicates and depth as plain values: YAML's own checks are exercised by the JSON path). */
function plain(v: Json): Json {
  if (v === null || typeof v !== 'object') return v;
  const deep = (v as Record<symbol, number>)[DEEP];
  if (deep) { let x: Json = 1; for (let i = 0; i < Math.min(deep, 300); i++) x = { x }; return x; }
  if (Array.isArray(v)) return v.map(plain);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
}

type TextEdit = { kind: 'none' } | { kind: 'truncate'; at: number } | { kind: 'flip'; at: number; c: string } | { kind: 'bom' } | { kind: 'empty' };
const textEdit: fc.Arbitrary<TextEdit> = fc.oneof(
  { weight: 12, arbitrary: fc.constant({ kind: 'none' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), c: fc.constantFrom('"', '{', ']', ',', ':', '\\', '\u0000', 'é', '9', ' ') }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'bom' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'empty' as const }) },
);
function edit(text: string, e: TextEdit): string {
  switch (e.kind) {
    case 'none': return text;
    case 'truncate': return text.slice(0, e.at % Math.max(1, text.length));
    case 'flip': { const i = e.at % Math.max(1, text.length); return text.slice(0, i) + e.c + text.slice(i + 1); }
    case 'bom': return `\ufeff${text}`;
    case 'empty': return '';
  }
}

// ---- the scenarios to mutate: the built-ins (from disk) and the documented examples -----------------------------------
const scenarioDir = new URL('../scenarios/', import.meta.url);
const docs = readFileSync(new URL('../docs/scenario-format.md', import.meta.url), 'utf8');
const docBlocks = [...docs.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]);
const docWorld = JSON.parse(docBlocks[0]) as Record<string, Json>;
const sources: { name: string; value: Json; fixes: string[] }[] = [
  ...readdirSync(scenarioDir).filter((f) => f.endsWith('.json')).map((f) => {
    const value = JSON.parse(readFileSync(new URL(f, scenarioDir), 'utf8')) as Record<string, Json>;
    return { name: f, value, fixes: ((value.fixes ?? []) as { name: string }[]).map((x) => x.name) };
  }),
  { name: 'docs world', value: docWorld, fixes: [] },
  ...docBlocks.slice(1).map((text, i) => {
    const v = JSON.parse(text.trim().startsWith('"fixes"') ? `{${text}}` : text) as Record<string, Json>;
    const value = 'fixes' in v ? { ...docWorld, fixes: v.fixes }
      : { ...docWorld, until: '6000000s', observe: { period: '1s' }, hosts: [...(docWorld.hosts as Json[]), { name: 'b', tscKhz: 3_000_000, pcpus: 8 }], events: [v] };
    return { name: `docs example ${i + 1}`, value, fixes: 'fixes' in v ? (v.fixes as { name: string }[]).map((x) => x.name) : [] };
  }),
];
assert.ok(sources.length >= 17, 'the built-ins and every documented example');

const scenarioInput = fc.record({
  source: fc.nat(sources.length - 1),
  mutations: fc.array(mutation, { minLength: 1, maxLength: 3 }),
  edit: textEdit,
  yaml: fc.oneof({ weight: 9, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  fix: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat() }, { weight: 1, arbitrary: fc.constant('no such fix') }),
  failOnAnomalies: fc.boolean(),
});
type ScenarioInput = typeof scenarioInput extends fc.Arbitrary<infer T> ? T : never;

/** The mutated file: its text, name and the --fix to give. */
function materialize(x: ScenarioInput, i: number): { file: string; text: string; fix?: string; what: string } {
  const src = sources[x.source];
  const value = JSON.parse(JSON.stringify(src.value)) as Json;
  const what = [src.name, ...x.mutations.map((m) => mutate(value, m))];
  let text = x.yaml ? toYaml(plain(value)) : toJson(value);
  text = edit(text, x.edit);
  if (x.edit.kind !== 'none') what.push(x.edit.kind);
  const fix = x.fix === null ? undefined : typeof x.fix === 'string' ? x.fix : src.fixes.length ? src.fixes[x.fix % src.fixes.length] : 'no such fix';
  if (fix) what.push(`--fix ${fix}`);
  const file = join(work, `s${i}.${x.yaml ? 'yaml' : 'json'}`);
  writeFileSync(file, text);
  return { file, text, fix, what: what.join('; ') };
}

/** What an error message must be: no trace, nothing unclear, the file named, each scenario problem with its path. */
function checkError(err: string, file: string, what: string): void {
  assert.not.match(err, TRACE, `a stack trace for ${what}:\n${err}`);
  assert.not.match(err, UNCLEAR, `an unclear error for ${what}:\n${err}`);
  assert.ok(err.startsWith('error: '), `${what}: ${err}`);
  assert.ok(err.includes(file), `${what}: the message names the file:\n${err}`);
  if (/: invalid scenario\n/.test(err)) {
    for (const line of err.trimEnd().split('\n').slice(1)) assert.match(line, PROBLEM, `${what}: a problem without its path: ${JSON.stringify(line)} in ${JSON.stringify(err)}`);
  }
}

prop('scenario files, mutated, through the CLI\'s own code in-process: exit 0/1/2, no trace, the field named, bounded time', () => {
  let i = 0;
  fc.assert(fc.property(scenarioInput, (x) => {
    const m = materialize(x, i++);
    const t0 = performance.now();
    let code: number, err = '';
    // what `tsclab run FILE [--fix F] [--fail-on-anomalies]` does (cli/main.ts), with smaller run budgets
    const r = captured(() => {
      const s = loadScenarioArg(m.file, m.fix, BUDGET);
      const run = runScenario(s);
      console.log(renderLog(run.log).join('\n'), summarize(run));
      return x.failOnAnomalies && !healthy(run) ? 1 : 0;
    });
    if (r.error === undefined) code = r.value!;
    else ({ code, err } = reported(r.error));
    const ms = performance.now() - t0;
    assert.ok(code === 0 || code === 1 || code === 2);
    assert.is(r.err, '', `${m.what}: nothing on stderr before the error`);
    if (code === 2) checkError(err, m.file, m.what);
    assert.ok(ms < WALL_MS, `${m.what}: ${ms} ms`);
    count('scenario', code, ms, m.what);
    rmSync(m.file);
  }), params(900));
});

prop('scenario files, mutated, through `tsclab run` and `tsclab report -o` (child processes): the same, and no file half-written', async () => {
  const inputs = fc.sample(scenarioInput, { seed: SEED + 1, numRuns: 10 });
  await pool(inputs, 3, async (x, i) => {
    const m = materialize(x, 10_000 + i);
    const dir = join(work, `report-${i}`);
    mkdirSync(dir);
    const out = i % 3 === 2 ? join(dir, 'missing', 'r.html') : join(dir, 'r.html');
    const args = i % 2 ? ['report', m.file, '-o', out] : ['run', m.file, ...(x.failOnAnomalies ? ['--fail-on-anomalies'] : [])];
    if (m.fix) args.push('--fix', m.fix);
    const r = await child(args);
    assert.not.ok(r.killed, `${m.what}: still running after 30 s`);
    assert.ok(r.code === 0 || r.code === 1 || r.code === 2, `${m.what}: exit ${r.code}`);
    if (r.code === 2) checkError(r.err, m.file.startsWith(work) && /cannot write/.test(r.err) ? out : m.file, m.what);
    else assert.not.match(r.err, TRACE);
    if (args[0] === 'report') {
      const left = readdirSync(dir, { recursive: true }).map(String);
      if (r.code === 0) {
        assert.equal(left, ['r.html'], `${m.what}: the page and nothing else`);
        assert.ok(readFileSync(out, 'utf8').trimEnd().endsWith('</html>'), 'the page is whole');
      } else assert.ok(left.every((f) => !f.endsWith('.html') && !f.includes('.tmp-')), `${m.what}: nothing written: ${left}`);
    }
    tally.children++;
    count('scenario (child)', r.code!, r.ms, m.what);
  });
});

test('writeFileAtomic: a file is written whole or not at all, even over a directory', () => {
  const dir = join(work, 'atomic');
  mkdirSync(join(dir, 'taken'), { recursive: true });
  writeFileAtomic(join(dir, 'ok.txt'), 'whole');
  assert.is(readFileSync(join(dir, 'ok.txt'), 'utf8'), 'whole');
  for (const target of [join(dir, 'taken'), join(dir, 'missing', 'x.txt')]) {
    assert.throws(() => writeFileAtomic(target, 'x'), /^cannot write /);
  }
  assert.equal(readdirSync(dir).sort(), ['ok.txt', 'taken'], 'no temporary file left behind');
});

// ---- calc ---------------------------------------------------------------------------------------------------------
const CALC: Record<string, string[]> = {
  'time-scale': ['--scaled-hz', '--base-hz', '--khz'],
  pvclock: ['--mul', '--shift', '--tsc-timestamp', '--system-time', '--tsc', '--flags'],
  'scale-tsc': ['--tsc', '--ratio', '--frac-bits', '--offset'],
  'tsc-ratio': ['--user-khz', '--host-khz', '--frac-bits', '--tolerance-ppm', '--no-scaling'],
  clocksource: ['--name', '--khz', '--hz', '--jiffies', '--refined-jiffies', '--mask-bits'],
  'hv-page': ['--mul', '--shift', '--tsc-timestamp', '--system-time', '--flags', '--tsc'],
  perf: ['--tsc', '--time-mult', '--time-shift', '--time-zero'],
};
const VALUES = ['0', '1', '-1', '2', '32', '48', '64', '250', '1000', '2500000', '2596142', '3000000', '0xcccccccc', '-0x10', '4294967295', '4294967296',
  '18446744073709551615', '18446744073709551616', '0xffffffffffffffff', '0x10000000000000000', '9'.repeat(40), '1.5', '1e3', '', ' ', 'NaN', 'x', '١', '💥',
  '--json', '-0', '+5', ' 7 ', '0x', 'tsc', 'x'.repeat(300)];
const calcInput = fc.record({
  sub: fc.oneof({ weight: 12, arbitrary: fc.constantFrom(...Object.keys(CALC)) }, { weight: 1, arbitrary: fc.constantFrom('nope', '', '--json') }),
  opts: fc.array(fc.tuple(fc.nat(), fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...VALUES) }, { weight: 2, arbitrary: fc.bigInt({ min: 0n, max: 1n << 64n }).map(String) })), { maxLength: 7 }),
  json: fc.boolean(),
  bogus: fc.oneof({ weight: 9, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom('--bogus', '-x', '--mul') }),
});
const calcArgs = (x: typeof calcInput extends fc.Arbitrary<infer T> ? T : never): string[] => {
  const names = CALC[x.sub] ?? ['--json'];
  const args = [x.sub];
  for (const [n, v] of x.opts) {
    const opt = names[n % names.length];
    args.push(...(opt === '--no-scaling' ? [opt] : [opt, v]));
  }
  if (x.json) args.push('--json');
  if (x.bogus) args.push(x.bogus);
  return args;
};
/** Signed integers as the CLI reads them (decimal, or hex with 0x). */
const int = (s: string): bigint => { const v = s.trim(), neg = v.startsWith('-'); const b = BigInt(neg ? v.slice(1) : v); return neg ? -b : b; };
const opt = (args: string[], name: string, dflt?: string): string | undefined => { const i = args.lastIndexOf(name); return i >= 0 ? args[i + 1] : dflt; };

/** For --json answers of the formulas with an oracle: the exact value the kernel computes. */
function checkCalcAnswer(args: string[], out: string): void {
  let j: Record<string, string>;
  try { j = JSON.parse(out); } catch { return; }
  if (j === null || typeof j !== 'object') return; // --json was taken as another option's value
  const a = (n: string, d?: string) => int(opt(args, n, d)!);
  switch (args[0]) {
    case 'pvclock': {
      const info = { tscTimestamp: a('--tsc-timestamp', '0'), systemTime: a('--system-time', '0'), tscToSystemMul: a('--mul'), tscShift: Number(a('--shift')) };
      assert.is(j.ns, String(o.pvclockReadCycles(info, a('--tsc'))), args.join(' '));
      break;
    }
    case 'scale-tsc':
      assert.is(j.tsc, String((o.kvmScaleTsc(a('--tsc'), a('--ratio'), Number(a('--frac-bits', '48'))) + a('--offset', '0')) & o.U64), args.join(' '));
      break;
    case 'perf':
      assert.is(j.ns, String(o.perfTscToNs(a('--tsc'), { timeZero: a('--time-zero', '0'), timeMult: a('--time-mult'), timeShift: Number(a('--time-shift')) })), args.join(' '));
      break;
    default:
      break;
  }
}

prop('calc with random options, in-process (the command\'s own parser and actions): exit 0 or 2, the option named, exact answers', async () => {
  const inputs = fc.sample(calcInput, { seed: SEED + 2, numRuns: Math.round(400 * scale) });
  for (const x of inputs) {
    const args = calcArgs(x);
    const t0 = performance.now();
    let code: number, err: string, out = '';
    const w = { out: process.stdout.write, err: process.stderr.write };
    let cerr = '';
    process.stdout.write = ((s: string) => { out += s; return true; }) as typeof process.stdout.write;
    process.stderr.write = ((s: string) => { cerr += s; return true; }) as typeof process.stderr.write;
    let error: unknown;
    try { await calcCommand().parseAsync(args, { from: 'user' }); } catch (e) { error = e; } finally {
      process.stdout.write = w.out;
      process.stderr.write = w.err;
    }
    // cli/main.ts: commander's own errors exit 2 (help: 0), anything else goes through report()
    if (error === undefined) { code = 0; err = cerr; } else if (error instanceof CommanderError) { code = error.exitCode === 0 ? 0 : 2; err = cerr; } else ({ code, err } = reported(error));
    const ms = performance.now() - t0;
    const what = `calc ${args.map((s) => JSON.stringify(s)).join(' ')}`;
    assert.not.match(err, TRACE, what);
    assert.not.match(err, UNCLEAR, `${what}: ${err}`);
    if (code === 2) assert.match(err, /'-[\w-]+|--[a-z-]+|^error: [A-Za-z]+: [a-zA-Z.]+ |unknown command|too many arguments|Usage: calc/m, `${what}: the option is named: ${err}`);
    else if (!/--help|-h\b/.test(args.join(' ')) && x.sub in CALC) { assert.ok(out.length > 0, what); checkCalcAnswer(args, out); }
    count('calc', code, ms, what);
  }
});

prop('calc through `tsclab calc` (child processes)', async () => {
  const inputs = fc.sample(calcInput, { seed: SEED + 3, numRuns: 4 });
  await pool(inputs, 3, async (x) => {
    const args = ['calc', ...calcArgs(x)];
    const r = await child(args);
    assert.ok(r.code === 0 || r.code === 2, `${args.join(' ')}: exit ${r.code}`);
    assert.not.match(r.err, TRACE);
    assert.not.match(r.err, UNCLEAR);
    tally.children++;
    count('calc (child)', r.code!, r.ms, args.join(' '));
  });
});

// ---- dmesg --------------------------------------------------------------------------------------------------------
const seedDir = [process.env.TSCLAB_SEEDS_DIR, fileURLToPath(new URL('../../shared/seeds/', import.meta.url)), '/work/shared/seeds']
  .find((d) => d && existsSync(d));
const seedLines = seedDir ? readdirSync(seedDir).filter((f) => f.endsWith('.txt')).flatMap((f) => readFileSync(join(seedDir, f), 'utf8').split('\n')) : [];
const corpus = [
  ...bootLines.map(([line]) => `[    0.000000] ${line}`),
  ...seedLines.filter((l) => /^\s*\[\s*\d+\.\d+\]/.test(l)),
  '[    0.000000] tsc: Detected 2596.142 MHz processor',
  '[    1.200000] tsc: Refined TSC clocksource calibration: 2596.108 MHz',
  '[    0.520000] hpet0: 3 comparators, 64-bit 14.318180 MHz counter',
  '[    0.700000] sched_clock: Marking stable (701234567, -16655)->(702110123, -892211)',
  '[10360474.550626] TSC ADJUST compensate: CPU2 observed 13266090348023583 warp. Adjust: 13266090348023583',
  '[    2.000000] Measured 2367 cycles TSC warp between CPUs, turning off TSC clock.',
  '[   10.000000] Clocksource tsc unstable (delta = -123456789 ns)',
  "[   20.000000] clocksource: timekeeping watchdog on CPU1: Marking clocksource 'tsc' as unstable because the skew is too large:",
  "[   20.000000] clocksource:                       'hpet' wd_nsec: 503123208 wd_now: 3a0aa7f5 wd_last: 39ae1a48 mask: ffffffff",
  "[   20.000000] clocksource:                       'tsc' cs_nsec: 502002000 cs_now: 2a4d5b6a3e8 cs_last: 2a4b1f8bb4e mask: ffffffffffffffff",
];
console.log(`dmesg corpus: ${corpus.length} lines (${seedLines.length} from ${seedDir ?? 'no seed logs found'})`);
const lineEdit = fc.oneof(
  { weight: 4, arbitrary: fc.constant((l: string) => l) },
  { weight: 3, arbitrary: fc.tuple(fc.nat(), fc.constantFrom(...'0123456789abcdefx-.')).map(([i, c]) => (l: string) => {
    const digits = [...l.matchAll(/[0-9a-f]/g)];
    if (!digits.length) return l;
    const at = digits[i % digits.length].index!;
    return l.slice(0, at) + c + l.slice(at + 1);
  }) },
  { weight: 3, arbitrary: fc.tuple(fc.nat(), fc.constantFrom('0', '-1', '4294967296', '4294967.296', '18446744073709551616', '9'.repeat(40), '0x', '', '1.5', '9007199254740993.999'))
    .map(([i, v]) => (l: string) => { let n = 0; return l.replace(/\d+(\.\d+)?/g, (d) => (n++ === i % 6 ? v : d)); }) },
  { weight: 1, arbitrary: fc.nat().map((i) => (l: string) => l.slice(0, i % Math.max(1, l.length))) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 4 }).map((s) => (l: string) => `${l}${s}`) },
  { weight: 1, arbitrary: fc.constant((l: string) => l.replace(/^\s*\[[^\]]*\]\s?/, '')) },
  { weight: 1, arbitrary: fc.constant((l: string) => `${l}\r`) },
);
const dmesgInput = fc.array(fc.tuple(fc.nat(corpus.length - 1), lineEdit), { minLength: 1, maxLength: 30 });

prop('dmesg: real log lines, mutated, analysed in-process: never thrown, one bad line reported as malformed, bounded time', () => {
  fc.assert(fc.property(dmesgInput, fc.boolean(), (lines, long) => {
    const text = lines.map(([i, f]) => f(corpus[i])).join('\n') + (long ? `\n[    1.000000] hpet0: ${'1 '.repeat(20_000)}` : '');
    const t0 = performance.now();
    const r = analyzeDmesg(text, t.kernel); // throws: the test fails, as the command would print an error for a readable log
    const ms = performance.now() - t0;
    const n = text.split(/\r?\n/).length;
    for (const f of r.findings) {
      assert.ok(f.line >= 1 && f.line <= n, `line ${f.line} of ${n}`);
      assert.not.match(f.text, UNCLEAR, f.text);
    }
    assert.is(r.summary.malformed, r.findings.filter((f) => f.verdict === 'malformed').length);
    assert.ok(ms < WALL_MS, `${ms} ms`);
    count('dmesg', r.summary.mismatch || r.summary.malformed ? 1 : 0, ms, text.slice(0, 80));
  }), params(500));
});

prop('dmesg through `tsclab dmesg -` and a file it cannot read (child processes)', async () => {
  const inputs = fc.sample(dmesgInput, { seed: SEED + 4, numRuns: 3 });
  const jobs: [string[], string][] = [...inputs.map((l) => [['dmesg', '-'], l.map(([i, f]) => f(corpus[i])).join('\n')] as [string[], string]),
    [['dmesg', join(work, 'no-such.log')], ''], [['dmesg', work], '']];
  await pool(jobs, 3, async ([args, input]) => {
    const r = await child(args, input);
    assert.ok(r.code === 0 || r.code === 1 || r.code === 2, `exit ${r.code}`);
    assert.not.match(r.err, TRACE);
    if (r.code === 2) assert.match(r.err, new RegExp(`^error: cannot read ${args[1].replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    tally.children++;
    count('dmesg (child)', r.code!, r.ms, args.join(' '));
  });
});

// ---- campaign.json (fuzz --resume) ---------------------------------------------------------------------------------
const state: Json = {
  version: 1, seed: 1, budget: { runs: 50 }, gen: { rules: 'v4.x', actions: ['hot-add', 'churn'], unstableHosts: false }, done: [0, 1],
  findings: [{ shard: 1, file: 'fuzz-no-time-stall-seed2.json', invariant: 'no-time-stall-while-running', detail: 'vCPU 0 stalled', seed: 2, path: '0:1' }],
};

prop('campaign.json, mutated: --resume reads it with a clear error naming the file and field, and leaves it as it is', () => {
  const dir = join(work, 'campaign');
  mkdirSync(dir);
  const file = join(dir, 'campaign.json');
  fc.assert(fc.property(fc.array(mutation, { minLength: 1, maxLength: 2 }), textEdit, (ms, e) => {
    const value = JSON.parse(JSON.stringify(state)) as Json;
    const what = ms.map((m) => mutate(value, m)).join('; ');
    const text = edit(toJson(value), e);
    writeFileSync(file, text);
    const bytes = readFileSync(file); // a cut surrogate pair is written as U+FFFD: compare bytes
    const t0 = performance.now();
    let code = 0, err = '';
    try { readCampaignState(dir); } catch (x) { ({ code, err } = reported(x)); }
    const took = performance.now() - t0;
    if (code) {
      assert.is(code, 2);
      assert.not.match(err, TRACE);
      assert.not.match(err, UNCLEAR, `${what}: ${err}`);
      assert.match(err, /^error: .*campaign\.json: (not valid JSON|not a campaign state of this tsclab: [\w.()[\] ]+: |findings: )/, `${what}: ${err}`);
    }
    assert.ok(readFileSync(file).equals(bytes), 'left as it is');
    count('campaign.json', code, took, what);
  }), params(200));
});

prop('fuzz --out naming a file, and --resume of mutated campaigns (child processes): exit 0 or 2, nothing overwritten', async () => {
  const muts = fc.sample(fc.array(mutation, { minLength: 1, maxLength: 2 }), { seed: SEED + 5, numRuns: 2 });
  const jobs = muts.map((ms, i) => {
    const dir = join(work, `fuzz-${i}`);
    mkdirSync(dir);
    const value = JSON.parse(JSON.stringify(state)) as Json;
    ms.forEach((m) => mutate(value, m));
    writeFileSync(join(dir, 'campaign.json'), toJson(value));
    return { dir, text: toJson(value) };
  });
  const file = join(work, 'not-a-dir');
  writeFileSync(file, 'x');
  const runs: [string[], () => void][] = [
    ...jobs.map(({ dir, text }) => [['fuzz', '--out', dir, '--resume', '--seconds', '1', '--workers', '1'],
      () => assert.ok(readFileSync(join(dir, 'campaign.json'), 'utf8') === text || JSON.parse(readFileSync(join(dir, 'campaign.json'), 'utf8')).version === 1)] as [string[], () => void]),
    [['fuzz', '--out', file, '--runs', '1', '--workers', '1'], () => assert.is(readFileSync(file, 'utf8'), 'x')],
  ];
  await pool(runs, 3, async ([args, after]) => {
    const r = await child(args);
    assert.ok(r.code === 0 || r.code === 2, `${args.join(' ')}: exit ${r.code}\n${r.err}`);
    assert.not.match(r.err, TRACE);
    assert.not.match(r.err, UNCLEAR, r.err);
    if (r.code === 2) assert.match(r.err, /^error: (--\w[\w-]*: |.*campaign\.json: )/, r.err);
    after();
    tally.children++;
    count('fuzz (child)', r.code!, r.ms, args.join(' '));
  });
});

// ---- the API: random JS values into every exported function ---------------------------------------------------------
type Kind = 'u64' | 's64' | 'u32' | 'nzu32' | 'shift127' | 'shift63' | 'pvshift' | 'fb' | 'info' | 'perf' | 'hz' | 'bits' | 'len';
const U64 = (1n << 64n) - 1n;
const valid: Record<Kind, fc.Arbitrary<unknown>> = {
  u64: fc.oneof(fc.constantFrom(0n, 1n, U64, 1n << 63n, 0xFFFFFFFFn), fc.bigInt({ min: 0n, max: U64 })),
  s64: fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }),
  u32: fc.oneof(fc.constantFrom(0, 1, 0xFFFFFFFF, 0xcccccccc), fc.integer({ min: 0, max: 0xFFFFFFFF })),
  nzu32: fc.integer({ min: 1, max: 0xFFFFFFFF }),
  shift127: fc.integer({ min: 0, max: 127 }),
  shift63: fc.integer({ min: 0, max: 63 }),
  pvshift: fc.integer({ min: -32, max: 31 }),
  fb: fc.constantFrom(48, 32),
  info: fc.record({ tscTimestamp: fc.bigInt({ min: 0n, max: U64 }), systemTime: fc.bigInt({ min: 0n, max: U64 }),
    tscToSystemMul: fc.integer({ min: 0, max: 0xFFFFFFFF }), tscShift: fc.integer({ min: -32, max: 31 }), flags: fc.integer({ min: 0, max: 255 }) }),
  perf: fc.record({ timeZero: fc.bigInt({ min: 0n, max: U64 }), timeMult: fc.integer({ min: 0, max: 0xFFFFFFFF }), timeShift: fc.integer({ min: 0, max: 63 }) }),
  hz: fc.integer({ min: 1, max: 100_000 }),
  bits: fc.integer({ min: 1, max: 64 }),
  len: fc.integer({ min: 0, max: 64 }),
};
/** Values no parameter of that kind accepts. */
const notBigint = fc.oneof(fc.integer(), fc.double(), fc.string({ maxLength: 4 }), fc.boolean(), fc.constantFrom(null, undefined, {}, [], [1n], Symbol('s')));
const notNumber = fc.oneof(fc.bigInt({ min: -10n, max: 10n }), fc.string({ maxLength: 4 }), fc.boolean(), fc.constantFrom(null, undefined, {}, [], Symbol('s')));
const badNumber = (lo: number, hi: number) => fc.oneof(notNumber, fc.constantFrom(NaN, Infinity, -Infinity, 0.5, lo - 1, hi + 1, hi + 0.5, 2 ** 53, -(2 ** 53)),
  fc.double().filter((d) => !(Number.isInteger(d) && d >= lo && d <= hi)));
const invalid: Record<Kind, fc.Arbitrary<unknown>> = {
  u64: fc.oneof(notBigint, fc.bigInt({ min: -(1n << 70n), max: -1n }), fc.bigInt({ min: 1n << 64n, max: 1n << 70n })),
  s64: fc.oneof(notBigint, fc.bigInt({ min: -(1n << 70n), max: -(1n << 63n) - 1n }), fc.bigInt({ min: 1n << 63n, max: 1n << 70n })),
  u32: badNumber(0, 0xFFFFFFFF), nzu32: badNumber(1, 0xFFFFFFFF), shift127: badNumber(0, 127), shift63: badNumber(0, 63), pvshift: badNumber(-32, 31),
  fb: fc.oneof(notNumber.filter((v) => v !== undefined), fc.constantFrom(0, 31, 33, 47, 49, 64, 48.5, NaN)),
  info: fc.oneof(fc.constantFrom(null, undefined, 5, 'info', 1n), fc.tuple(valid.info, fc.constantFrom('tscTimestamp', 'systemTime', 'tscToSystemMul', 'tscShift', 'flags'), fc.nat())
    .chain(([i, k]) => (k === 'tscTimestamp' || k === 'systemTime' ? invalid.u64 : k === 'tscShift' ? badNumber(-32, 31) : k === 'flags' ? badNumber(0, 255).filter((v) => v !== undefined) : badNumber(0, 0xFFFFFFFF))
      .map((v) => ({ ...(i as object), [k]: v })))),
  perf: fc.oneof(fc.constantFrom(null, undefined, 5, 'p'), fc.tuple(valid.perf, fc.constantFrom('timeZero', 'timeMult', 'timeShift'))
    .chain(([p, k]) => (k === 'timeZero' ? invalid.u64 : k === 'timeMult' ? badNumber(0, 0xFFFFFFFF) : badNumber(0, 63)).map((v) => ({ ...(p as object), [k]: v })))),
  hz: badNumber(1, 100_000), bits: badNumber(1, 64), len: fc.oneof(notNumber, fc.constantFrom(-1, 0.5, NaN, 2 ** 27, 2 ** 28, 2 ** 53)),
};
/** A JS value for messages (bigints, symbols and undefined included). */
const show = (v: unknown): string => {
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'symbol' || v === undefined || typeof v === 'number') return String(v);
  return JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : typeof x === 'symbol' ? 'symbol' : x === undefined ? 'undefined' : x));
};
type Api = { fn: string; params: [name: string, kind: Kind, optional?: 'optional'][]; call: (k: t.Kernel, a: unknown[]) => unknown; oracle?: (a: never) => unknown };
const pv = (i: { tscTimestamp: bigint; systemTime: bigint; tscToSystemMul: number; tscShift: number; flags?: number }) => ({ ...i, tscToSystemMul: BigInt(i.tscToSystemMul) });
const API: Api[] = [
  { fn: 'mulU64U32Shr', params: [['a', 'u64'], ['mul', 'u32'], ['shift', 'shift127']], call: (k, a) => k.mulU64U32Shr(...(a as [bigint, number, number])),
    oracle: ([a, m, s]: [bigint, number, number]) => o.mulU64U32Shr(a, BigInt(m), s) },
  { fn: 'mulU64U64Shr', params: [['a', 'u64'], ['b', 'u64'], ['shift', 'shift127']], call: (k, a) => k.mulU64U64Shr(...(a as [bigint, bigint, number])),
    oracle: ([a, b, s]: [bigint, bigint, number]) => o.mulU64U64Shr(a, b, s) },
  { fn: 'mulU64U32Div', params: [['a', 'u64'], ['mul', 'u32'], ['divisor', 'nzu32']], call: (k, a) => k.mulU64U32Div(...(a as [bigint, number, number])),
    oracle: ([a, m, d]: [bigint, number, number]) => o.mulU64U32Div(a, BigInt(m), BigInt(d)) },
  { fn: 'mulS64U64Shr', params: [['a', 's64'], ['b', 'u64'], ['shift', 'shift127']], call: (k, a) => k.mulS64U64Shr(...(a as [bigint, bigint, number])),
    oracle: ([a, b, s]: [bigint, bigint, number]) => o.mulS64U64Shr(a, b, s) },
  { fn: 'pvclockScaleDelta', params: [['delta', 'u64'], ['mul', 'u32'], ['shift', 'pvshift']], call: (k, a) => k.pvclockScaleDelta(...(a as [bigint, number, number])),
    oracle: ([d, m, s]: [bigint, number, number]) => o.pvclockScaleDelta(d, BigInt(m), s) },
  { fn: 'pvclockReadCycles', params: [['info', 'info'], ['tsc', 'u64']], call: (k, a) => k.pvclockReadCycles(a[0] as never, a[1] as bigint),
    oracle: ([i, tsc]: [never, bigint]) => o.pvclockReadCycles(pv(i), tsc) },
  { fn: 'kvmScaleTsc', params: [['tsc', 'u64'], ['ratio', 'u64'], ['fracBits', 'fb']], call: (k, a) => k.kvmScaleTsc(...(a as [bigint, bigint, 48])),
    oracle: ([tsc, r, fb]: [bigint, bigint, number]) => o.kvmScaleTsc(tsc, r, fb) },
  { fn: 'kvmComputeTscOffset', params: [['targetTsc', 'u64'], ['hostTsc', 'u64'], ['ratio', 'u64'], ['fracBits', 'fb']],
    call: (k, a) => k.kvmComputeTscOffset(...(a as [bigint, bigint, bigint, 48])), oracle: ([tg, h, r, fb]: [bigint, bigint, bigint, number]) => o.kvmComputeTscOffset(tg, h, r, fb) },
  { fn: 'kvmReadL1Tsc', params: [['hostTsc', 'u64'], ['ratio', 'u64'], ['offset', 'u64'], ['fracBits', 'fb']],
    call: (k, a) => k.kvmReadL1Tsc(...(a as [bigint, bigint, bigint, 48])), oracle: ([h, r, off, fb]: [bigint, bigint, bigint, number]) => (o.kvmScaleTsc(h, r, fb) + off) & U64 },
  { fn: 'kvmCalcNestedTscOffset', params: [['l1Offset', 'u64'], ['l2Offset', 'u64'], ['l2Multiplier', 'u64'], ['fracBits', 'fb']],
    call: (k, a) => k.kvmCalcNestedTscOffset(...(a as [bigint, bigint, bigint, 48])), oracle: ([a1, a2, m, fb]: [bigint, bigint, bigint, number]) => o.kvmCalcNestedTscOffset(a1, a2, m, fb) },
  { fn: 'kvmCalcNestedTscMultiplier', params: [['l1Multiplier', 'u64'], ['l2Multiplier', 'u64'], ['fracBits', 'fb']],
    call: (k, a) => k.kvmCalcNestedTscMultiplier(...(a as [bigint, bigint, 48])), oracle: ([a1, a2, fb]: [bigint, bigint, number]) => o.kvmCalcNestedTscMultiplier(a1, a2, fb) },
  { fn: 'kvmTscScalingRatio', params: [['userKhz', 'u32'], ['hostKhz', 'nzu32'], ['fracBits', 'fb']], call: (k, a) => k.kvmTscScalingRatio(...(a as [number, number, 48])),
    oracle: ([u, h, fb]: [number, number, number]) => o.kvmTscScalingRatio(BigInt(u), BigInt(h), fb) },
  { fn: 'kvmGetTimeScale', params: [['scaledHz', 'u64'], ['baseHz', 'u64']], call: (k, a) => k.kvmGetTimeScale(...(a as [bigint, bigint])) },
  { fn: 'nsecToCycles', params: [['ns', 'u64'], ['virtualTscMult', 'u32'], ['virtualTscShift', 'pvshift']], call: (k, a) => k.nsecToCycles(...(a as [bigint, number, number])),
    oracle: ([n, m, s]: [bigint, number, number]) => o.nsecToCycles(n, BigInt(m), s) },
  { fn: 'clocksourceCyc2ns', params: [['cycles', 'u64'], ['mult', 'u32'], ['shift', 'shift63']], call: (k, a) => k.clocksourceCyc2ns(...(a as [bigint, number, number])),
    oracle: ([c, m, s]: [bigint, number, number]) => o.clocksourceCyc2ns(c, BigInt(m), s) },
  { fn: 'clocksourceRegisterHz', params: [['hz', 'nzu32'], ['mask', 'u64']], call: (k, a) => k.clocksourceRegisterHz(...(a as [number, bigint])).maxIdleNs,
    oracle: ([hz, mask]: [number, bigint]) => o.clocksourceRegisterHz(BigInt(hz), mask).maxIdleNs },
  { fn: 'clocksourceRegisterKhz', params: [['khz', 'nzu32'], ['mask', 'u64']], call: (k, a) => k.clocksourceRegisterKhz(...(a as [number, bigint])).maxCycles,
    oracle: ([khz, mask]: [number, bigint]) => o.clocksourceRegisterKhz(BigInt(khz), mask).maxCycles },
  { fn: 'clocksourceRegisterJiffies', params: [['hz', 'hz']], call: (k, a) => k.clocksourceRegisterJiffies(a[0] as number).maxIdleNs,
    oracle: ([hz]: [number]) => o.clocksourceRegisterJiffies(BigInt(hz)).maxIdleNs },
  { fn: 'tickNsec', params: [['hz', 'hz']], call: (k, a) => k.tickNsec(a[0] as number), oracle: ([hz]: [number]) => (1_000_000_000n + BigInt(hz) / 2n) / BigInt(hz) },
  { fn: 'clocksourceMask', params: [['bits', 'bits']], call: (_, a) => t.clocksourceMask(a[0] as number), oracle: ([b]: [number]) => (1n << BigInt(b)) - 1n },
  { fn: 'hvTscPageParams', params: [['info', 'info']], call: (k, a) => k.hvTscPageParams(a[0] as never),
    oracle: ([i]: [never]) => o.hvTscPageParams(pv(i)) },
  { fn: 'hvReadTscPage', params: [['scale', 'u64'], ['offset', 'u64'], ['tsc', 'u64']], call: (k, a) => k.hvReadTscPage(...(a as [bigint, bigint, bigint])),
    oracle: ([s, off, tsc]: [bigint, bigint, bigint]) => o.hvReadTscPage(s, off, tsc) },
  { fn: 'perfTscToNs', params: [['tsc', 'u64'], ['params', 'perf']], call: (k, a) => k.perfTscToNs(a[0] as bigint, a[1] as never),
    oracle: ([tsc, p]: [bigint, { timeZero: bigint; timeMult: number; timeShift: number }]) => o.perfTscToNs(tsc, { ...p, timeMult: BigInt(p.timeMult) }) },
  { fn: 'pvclockReadBegin', params: [['version', 'u32']], call: (_, a) => t.pvclockReadBegin(a[0] as number), oracle: ([v]: [number]) => (v & ~1) >>> 0 },
  { fn: 'allocSamples', params: [['length', 'len']], call: (k, a) => { const b = k.allocSamples(a[0] as number); const n = b.array.length; b.free(); return n; },
    oracle: ([n]: [number]) => n },
  { fn: 'pvclockReadBatch', params: [['info', 'info']], call: (k, a) => { const out = new BigUint64Array(3); k.pvclockReadBatch(a[0] as never, new BigUint64Array([5n, 0n, U64]), out); return [...out]; },
    oracle: ([i]: [never]) => [5n, 0n, U64].map((x) => o.pvclockReadCycles(pv(i), x)) },
  { fn: 'kvmScaleTscBatch', params: [['ratio', 'u64'], ['fracBits', 'fb'], ['offset', 'u64', 'optional']],
    call: (k, a) => { const out = new BigUint64Array(2); k.kvmScaleTscBatch(new BigUint64Array([123456789n, U64]), out, a[0] as bigint, a[1] as 48, a[2] as bigint); return [...out]; },
    oracle: ([r, fb, off]: [bigint, number, bigint]) => [123456789n, U64].map((x) => (o.kvmScaleTsc(x, r, fb) + off) & U64) },
  { fn: 'perfTscToNsBatch', params: [['params', 'perf']], call: (k, a) => { const out = new BigUint64Array(1); k.perfTscToNsBatch(new BigUint64Array([987654321n]), out, a[0] as never); return [...out]; },
    oracle: ([p]: [{ timeZero: bigint; timeMult: number; timeShift: number }]) => [o.perfTscToNs(987654321n, { ...p, timeMult: BigInt(p.timeMult) })] },
];
const apiInput = fc.nat(API.length - 1).chain((i) => fc.tuple(fc.constant(i),
  fc.tuple(...API[i].params.map(([, kind, optional]) => fc.oneof({ weight: 2, arbitrary: valid[kind].map((v) => ({ ok: true, v })) },
    // an optional parameter takes undefined: its default
    { weight: 1, arbitrary: (optional ? invalid[kind].filter((v) => v !== undefined) : invalid[kind]).map((v) => ({ ok: false, v })) })))));

prop('the API: random JS values into every exported function: a TypeError or RangeError naming the function and argument, or the exact answer', () => {
  const k = t.createKernel({ simd: false });
  fc.assert(fc.property(apiInput, ([i, args]) => {
    const api = API[i], values = args.map((a) => a.v), bad = args.map((a, j) => (a.ok ? null : api.params[j][0])).filter((x) => x !== null);
    const t0 = performance.now();
    let got: unknown, error: unknown;
    try { got = api.call(k, values); } catch (e) { error = e; }
    const what = `${api.fn}(${values.map(show).join(', ')})`;
    if (error !== undefined) {
      assert.ok(error instanceof TypeError || error instanceof RangeError, `${what}: ${error}`);
      const msg = (error as Error).message;
      assert.ok(msg.startsWith(`${api.fn}: `), `${what}: names the function: ${msg}`);
      assert.ok(api.params.some(([name]) => msg.includes(name)) || /no \(shift, mul\)|Invalid TSC scaling ratio|divide by zero/.test(msg), `${what}: names the argument: ${msg}`);
      if (!bad.length) assert.ok(/no \(shift, mul\)|Invalid TSC scaling ratio|divide by zero/.test(msg), `${what}: valid arguments refused: ${msg}`);
    } else {
      assert.equal(bad, [], `${what}: accepted a bad ${bad.join(', ')}`);
      if (api.oracle) assert.equal(got, api.oracle(values as never), what);
    }
    count('API', error === undefined ? 0 : 2, performance.now() - t0, what);
  }), params(900));
});

test('the numbers', () => {
  const { inputs, codes, children, slowest, sections } = tally;
  console.log(`malformed inputs: ${inputs} (${Object.entries(sections).map(([s, n]) => `${s} ${n}`).join(', ')}), ${children} of them child processes; ` +
    `exit 0: ${codes[0]}, 1: ${codes[1]}, 2: ${codes[2]}; 0 traces, 0 hangs, 0 unclear errors; slowest ${slowest.ms} ms (${slowest.what})`);
  if (!only) assert.ok(inputs >= 2000, `${inputs} inputs`);
  rmSync(work, { recursive: true, force: true });
});

test.run();
