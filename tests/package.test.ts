// The package as users get it: importable from plain Node (compiled JS, no
// tsx) through its exports, every issue-named function exported, the library
// loading nothing outside the package (no CLI dependency, no node: module),
// the Node and browser entry points the same API, TSCLAB_SIMD honoured, the
// built-in scenarios embedded from scenarios/*.json, the command's --version,
// --debug and exit codes, and the .wasm also loadable by @assemblyscript/loader.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { instantiateSync } from '@assemblyscript/loader';
import { loads as moduleLoads } from './support/loads.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const rootUrl = pathToFileURL(root).href;
const cli = join(root, 'dist/cli/main.js');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
const env = { ...process.env, NODE_OPTIONS: '', TSCLAB_SIMD: '' };
const names = [
  'mulU64U32Shr', 'mulU64U64Shr', 'mulU64U32Div', 'mulS64U64Shr',
  'pvclockScaleDelta', 'pvclockReadCycles', 'pvclockTscKhz', 'pvclockReadWallclock', 'createPvclockClamp',
  'kvmGetTimeScale', 'kvmScaleTsc', 'kvmTscScalingRatio', 'kvmSetTscKhz', 'kvmComputeTscOffset',
  'kvmCalcNestedTscOffset', 'kvmCalcNestedTscMultiplier', 'nsecToCycles', 'computeGuestTsc',
  'clocksCalcMultShift', 'clocksourceRegisterHz', 'clocksourceRegisterKhz', 'clocksourceRegisterJiffies',
  'clocksourceRegisterRefinedJiffies', 'clocksourceCyc2ns', 'formatClocksourceLine',
  'hvTscPageParams', 'hvReadTscPage', 'perfTscToNs',
  'pvclockReadBatch', 'kvmScaleTscBatch', 'clocksourceCyc2nsBatch', 'perfTscToNsBatch', 'hvReadTscPageBatch',
  'allocSamples', 'checkTscWarp', 'createKernel',
];

const node = (code: string, extraEnv: Record<string, string> = {}) =>
  execFileSync(process.execPath, ['--input-type=module', '-e', code], { cwd: root, encoding: 'utf8', env: { ...env, ...extraEnv } }).trim();

const scratch = mkdtempSync(join(tmpdir(), 'tsclab-package-'));
function loads(args: string[]): { urls: string[]; out: string } {
  const r = moduleLoads(args, root, env);
  assert.is(r.status, 0, r.err);
  return r;
}
const outside = (urls: string[]) => urls.filter((u) => !u.startsWith(`${rootUrl}dist/`));

test("import('tsclab') works in plain Node and exports the API", () => {
  const [keys, value] = node("import('tsclab').then(m => console.log(JSON.stringify(Object.keys(m)), String(m.pvclockScaleDelta(2500000000n, 0xcccccccc, -1))))").split(' ');
  for (const n of names) assert.ok(JSON.parse(keys!).includes(n), `missing export ${n}`);
  assert.is(value, '999999999');
});

test("import('tsclab') loads nothing outside the package: no dependency, no node: module", () => {
  const { urls, out } = loads(['--input-type=module', '-e', "const t = await import('tsclab'); console.log(String(t.kvmScaleTsc(2500000000n, 337769972052787n)))"]);
  assert.is(out, '2999999999');
  assert.ok(urls.includes(`${rootUrl}dist/bindings/node.js`), 'Node takes the "node" entry point');
  assert.equal(outside(urls), [], 'every module loaded is one of the package\'s own files');
});

test("import('tsclab/sim') loads zod and nothing else from outside the package (no node: module)", () => {
  const { urls, out } = loads(['--input-type=module', '-e', "const s = await import('tsclab/sim'); console.log(s.builtinNames().length)"]);
  assert.is(Number(out), readdirSync(join(root, 'scenarios')).filter((f) => f.endsWith('.json')).length);
  assert.ok(urls.includes(`${rootUrl}dist/sim/node.js`));
  const foreign = outside(urls);
  assert.ok(foreign.length > 0 && foreign.every((u) => u.includes('/node_modules/zod/')), foreign.filter((u) => !u.includes('/node_modules/zod/')).join(' '));
});

test('the Node and the browser entry points export the same API, with the same kinds of values', () => {
  const shape = (file: string) => node(`const m = await import(${JSON.stringify(pathToFileURL(join(root, file)).href)});
    console.log(JSON.stringify(Object.keys(m).sort().map((k) => [k, typeof m[k]])))`);
  assert.is(shape('dist/bindings/node.js'), shape('dist/bindings/index.js'));
  assert.is(shape('dist/sim/node.js'), shape('dist/sim/index.js'));
  assert.ok(JSON.parse(shape('dist/bindings/index.js')).length >= names.length);
});

test('TSCLAB_SIMD=0 forces the scalar build in Node, also when tsclab/sim is imported first', () => {
  assert.is(node("const t = await import('tsclab'); console.log(t.simd)"), 'true', 'this Node runs Wasm SIMD');
  assert.is(node("const t = await import('tsclab'); console.log(t.simd, t.createKernel().simd, t.createKernel({ simd: true }).simd)", { TSCLAB_SIMD: '0' }), 'false false true');
  // tsclab/sim's Node entry reads the variable before its kernels exist (bindings/index.js would be evaluated first otherwise)
  assert.is(node("await import('tsclab/sim'); const t = await import('tsclab'); console.log(t.simd)", { TSCLAB_SIMD: '0' }), 'false');
});

test('the built-in scenarios are embedded from scenarios/*.json, every file and nothing else', () => {
  const files = readdirSync(join(root, 'scenarios')).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
  const got = JSON.parse(node(`const s = await import('tsclab/sim');
    console.log(JSON.stringify(s.builtinNames().map((n) => [n, s.builtinRaw(n).raw])))`)) as [string, unknown][];
  assert.equal(got.map(([n]) => n), files);
  for (const [n, raw] of got) assert.equal(raw, JSON.parse(readFileSync(join(root, 'scenarios', `${n}.json`), 'utf8')), n);
});

test('the oracle is importable as tsclab/oracle', () => {
  assert.is(node("import('tsclab/oracle').then(m => console.log(String(m.kvmGetTimeScale(1000000000n, 2500000000n).mul)))"), String(0xcccccccc));
});

test('the simulation is importable as tsclab/sim and replays a seed in plain Node', () => {
  assert.is(node("import('tsclab/sim').then(m => console.log(m.summarize(m.runScenario(m.loadBuiltin('seed-003-unify-tsc-logic')))))"), 'time-stall x4');
});

const tsclab = (...args: string[]) => {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env });
  return { code: r.status, out: r.stdout, err: r.stderr };
};

test('tsclab --version and -V print the package version; --help and help exit 0', () => {
  for (const flag of ['--version', '-V']) {
    const r = tsclab(flag);
    assert.is(r.code, 0, flag);
    assert.is(r.out.trim(), pkg.version, flag);
  }
  for (const args of [['--help'], ['help'], ['calc', '--help'], ['fuzz', '--help']]) {
    const r = tsclab(...args);
    assert.is(r.code, 0, args.join(' '));
    assert.match(r.out, /^Usage: tsclab/, args.join(' '));
  }
  assert.match(tsclab('--help').out, /--debug/);
});

test('usage errors exit 2 in every command, with commander\'s message and no stack trace', () => {
  const cases: [string[], RegExp][] = [
    [['calc', 'pvclock'], /required option '--mul/],
    [['calc', 'nope'], /unknown command 'nope'/],
    [['fuzz', '--bogus'], /unknown option '--bogus'/],
    [['nope'], /unknown command 'nope'/],
    [['run'], /missing required argument 'scenario'/],
    [['run', 'seed-003-unify-tsc-logic', '--bogus'], /unknown option '--bogus'/],
    [['calc'], /Usage: tsclab calc/],
    [['--bogus'], /unknown option '--bogus'/],
  ];
  for (const [args, message] of cases) {
    const r = tsclab(...args);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.match(r.err, message, args.join(' '));
    assert.not.match(r.err, /\n\s+at /, `${args.join(' ')}: no stack trace`);
  }
});

test('--debug is a global option, before or after the command, and reaches the error reporting as TSCLAB_DEBUG=1', () => {
  // what cli/output.ts reads: the environment as the command leaves it
  const probe = join(scratch, 'debug-probe.mjs');
  writeFileSync(probe, "process.on('exit', () => process.stderr.write(`TSCLAB_DEBUG=${process.env.TSCLAB_DEBUG ?? ''}\\n`));\n");
  const debugOf = (...args: string[]) => {
    const r = spawnSync(process.execPath, ['--import', pathToFileURL(probe).href, cli, ...args], { encoding: 'utf8', env: { ...env, TSCLAB_DEBUG: '' } });
    assert.is(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stdout, /^seed-000-tsc-adjust-hotplug /);
    return /TSCLAB_DEBUG=(.*)/.exec(r.stderr)?.[1];
  };
  assert.is(debugOf('--debug', 'list'), '1');
  assert.is(debugOf('list', '--debug'), '1');
  assert.is(debugOf('list'), '');
});

test('the command loads each command\'s modules in its action: --version and calc load no YAML, report or dmesg code', () => {
  const lazy = ['/node_modules/yaml/', '/node_modules/zod/', '/node_modules/fast-check/', '/node_modules/cli-progress/', '/dist/cli/scenario-arg.js', '/dist/tools/report.js', '/dist/tools/dmesg.js', '/dist/cli/boot-lines.js'];
  for (const args of [['--version'], ['calc', 'time-scale', '--khz', '2500000']]) {
    const { urls } = loads([cli, ...args]);
    assert.ok(urls.some((u) => u.endsWith('/dist/cli/main.js') || u.includes('commander')), 'the hook saw the command load');
    for (const l of lazy) assert.not.ok(urls.some((u) => u.includes(l)), `${args.join(' ')} loaded ${l}`);
  }
  const { urls } = loads([cli, 'run', 'seed-003-unify-tsc-logic']);
  assert.ok(urls.some((u) => u.includes('/node_modules/yaml/')), 'run loads yaml when it needs it');
});

test('the .wasm loads with @assemblyscript/loader too', () => {
  const { exports } = instantiateSync(readFileSync(new URL('../build/tsclab.wasm', import.meta.url)), {}) as
    unknown as { exports: { kvmScaleTsc(t: bigint, r: bigint, f: number): bigint } };
  assert.is(exports.kvmScaleTsc(2_500_000_000n, 337_769_972_052_787n, 48), 2_999_999_999n);
});

test('the embedded kernel bytes are the built .wasm files', async () => {
  const t = await import('../bindings/index.js');
  assert.is(Buffer.from(t.scalarKernelBytes()).toString('base64'), readFileSync(join(root, 'build/tsclab.wasm')).toString('base64'));
  assert.is(Buffer.from(t.simdKernelBytes()).toString('base64'), readFileSync(join(root, 'build/tsclab.simd.wasm')).toString('base64'));
});

test('npm run bench leaves the checkout clean: its results file is git-ignored, the committed one written only with --save', () => {
  // (running the benchmark here would add ~25 s to npm test; this checks where bench/run.ts writes)
  const ignored = (f: string) => spawnSync('git', ['check-ignore', '-q', f], { cwd: root }).status === 0;
  assert.ok(ignored('bench/results/last-run.json'));
  assert.not.ok(ignored('bench/results/latest.json'));
  const src = readFileSync(join(root, 'bench/run.ts'), 'utf8');
  const writes = [...src.matchAll(/\b(writeFileSync|renameSync)\(/g)].length;
  assert.is(writes, 2, 'one write (to a .tmp) and one rename, in the loop over the chosen files');
  assert.match(src, /for \(const file of save \? \['last-run\.json', 'latest\.json'\] : \['last-run\.json'\]\)/);
  assert.match(src, /const save = process\.argv\.includes\('--save'\)/);
});

test.after(() => rmSync(scratch, { recursive: true, force: true }));

test.run();
