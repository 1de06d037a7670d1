// The package installed as users install it: `npm pack` (of the dist/ that
// `npm test` has just built), a fresh project that installs the tarball, then
// the command through npx, the library from ESM, CJS and a strict TypeScript
// consumer, the tarball on its own (no dependency installed), and an esbuild
// bundle of a page run in headless Chromium. One pack and one install serve
// every check.
//
// The install is `npm ci --offline` with a lockfile pinning tsclab's runtime
// dependencies to the versions of this repository's package-lock.json: `npm ci`
// in the checkout leaves their tarballs in npm's cache (not always the registry
// metadata `npm install <tarball>` would need to resolve ranges), so this works
// in CI with no network and installs the same versions every time.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, parse } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { pvclockRead, splitmix } from './support/pvclock-formula.js';

const started = Date.now();
const root = fileURLToPath(new URL('..', import.meta.url));
const repoPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string; engines: { node: string }; dependencies: Record<string, string>;
};
const tmp = mkdtempSync(join(tmpdir(), 'tsclab-install-'));
// the parent npm's npm_* variables (cache, prefix, lifecycle state) must not steer the npm and npx run here
const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
Object.assign(env, { NODE_OPTIONS: '', NO_COLOR: '1', TSCLAB_SIMD: '', npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' });

function sh(cmd: string, args: string[], cwd: string, timeout = 120_000): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout });
}
function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.is(r.status, 0, `${what} exited ${r.status}${r.error ? ` (${r.error.message})` : ''}\n${r.stderr}`);
  return r.stdout;
}

// ---- pack -------------------------------------------------------------------------------------
// --ignore-scripts: `npm test` built dist/ in its pretest step; packing must not rebuild it
const packed = JSON.parse(ok(sh('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], root), 'npm pack'))[0] as {
  filename: string; integrity: string; files: { path: string }[]; unpackedSize: number; size: number;
};
const tarball = join(tmp, packed.filename);

// ---- a fresh project that installs the tarball ------------------------------------------------
const project = join(tmp, 'app');
mkdirSync(project);
{
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const runtime = Object.fromEntries(Object.entries(lock.packages).filter(([k, v]) => k.startsWith('node_modules/') && !v.dev));
  for (const d of Object.keys(repoPkg.dependencies)) assert.ok(runtime[`node_modules/${d}`], `package-lock.json pins ${d}`);
  const deps = { tsclab: `file:${packed.filename}` };
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'tsclab-user', private: true, type: 'module', dependencies: deps }, null, 2));
  writeFileSync(join(project, 'package-lock.json'), JSON.stringify({
    name: 'tsclab-user', lockfileVersion: 3, requires: true,
    packages: {
      '': { name: 'tsclab-user', dependencies: deps },
      'node_modules/tsclab': { version: repoPkg.version, resolved: `file:${packed.filename}`, integrity: packed.integrity, license: 'MIT',
        dependencies: repoPkg.dependencies, bin: { tsclab: 'dist/cli/main.js' }, engines: repoPkg.engines },
      ...runtime,
    },
  }, null, 2));
  execFileSync('cp', [tarball, project]);
}
const installStart = Date.now();
const install = sh('npm', ['ci', '--offline', '--no-audit', '--no-fund'], project, 300_000);
const installMs = Date.now() - installStart;
const installed = install.status === 0;
// uvu imports every test file before it runs the suites: time this file's set-up, then its tests from the first one
const setupMs = Date.now() - started;
let testsStarted = 0;
const npx = (...args: string[]) => sh('npx', ['--no', '--', 'tsclab', ...args], project);
const nodeIn = (cwd: string, code: string, type: 'module' | 'commonjs' = 'module') =>
  sh(process.execPath, [`--input-type=${type}`, '-e', code], cwd);

test('npm ci of the tarball into a fresh project works offline', () => {
  testsStarted = Date.now();
  ok(install, 'npm ci --offline');
  assert.ok(existsSync(join(project, 'node_modules/tsclab/dist/bindings/index.js')));
  assert.ok(existsSync(join(project, 'node_modules/.bin/tsclab')));
  console.log(`  packed ${packed.size} bytes (${packed.unpackedSize} unpacked, ${packed.files.length} files); installed in ${installMs} ms`);
});

test('the tarball holds what users need (dist, both .wasm builds, scenarios, docs, README) and no tests, bench, sources or maps', () => {
  const files = packed.files.map((f) => f.path);
  for (const f of ['package.json', 'README.md', 'dist/bindings/index.js', 'dist/bindings/index.d.ts', 'dist/bindings/node.js',
    'dist/sim/index.js', 'dist/sim/node.js', 'dist/oracle/index.js', 'dist/cli/main.js', 'dist/sim/fuzz/worker.js',
    'build/tsclab.wasm', 'build/tsclab.simd.wasm', 'docs/scenario-format.md']) assert.ok(files.includes(f), `ships ${f}`);
  for (const s of readdirSync(join(root, 'scenarios'))) assert.ok(files.includes(`scenarios/${s}`), `ships scenarios/${s}`);
  const unwanted = files.filter((f) => /^(tests|bench|assembly|scripts|oracle|bindings|sim|cli|node_modules)\//.test(f) || /\.map$|\.tgz$/.test(f) ||
    (/\.ts$/.test(f) && !/\.d\.ts$/.test(f)));
  assert.equal(unwanted, []);
  // every file package.json points at (exports under every condition, main, types, bin) is in the tarball
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const targets = (x: unknown): string[] => (typeof x === 'string' ? [x] : x && typeof x === 'object' ? Object.values(x).flatMap(targets) : []);
  for (const t of [...targets(pkg.exports), pkg.main, pkg.types, ...targets(pkg.bin)]) {
    assert.ok(files.includes(t.replace(/^\.\//, '')), `package.json points at ${t}, which is not in the tarball`);
  }
});

test('package.json: every package the shipped code imports is a dependency; repository and engines set', async () => {
  const pkg = JSON.parse(readFileSync(join(project, 'node_modules/tsclab/package.json'), 'utf8'));
  // esbuild parses every shipped module (static and dynamic imports) and leaves packages unresolved
  const dist = join(tmp, 'scan');
  mkdirSync(dist);
  ok(sh('tar', ['-xzf', tarball, '-C', dist, '--strip-components=1'], tmp), 'tar');
  const entries: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(dir, e.name));
      else if (/\.m?js$/.test(e.name)) entries.push(join(dir, e.name));
    }
  };
  walk(join(dist, 'dist'));
  const r = await build({ entryPoints: entries, bundle: true, platform: 'node', format: 'esm', packages: 'external', metafile: true,
    write: false, outdir: join(tmp, 'scan-out'), logLevel: 'silent' });
  const imported = new Set<string>();
  for (const input of Object.values(r.metafile!.inputs)) {
    for (const i of input.imports) {
      if (!i.external || i.path.startsWith('node:')) continue;
      imported.add(i.path.startsWith('@') ? i.path.split('/').slice(0, 2).join('/') : i.path.split('/')[0]!);
    }
  }
  imported.delete('tsclab'); // self-reference: --version reads tsclab/package.json
  assert.ok(imported.has('commander') && imported.has('fast-check') && imported.has('zod') && imported.has('yaml'), [...imported].join(' '));
  // bullmq and ioredis are optional peers: only the queue commands load them, and tell the user to install them
  const optionalPeer = (d: string) => pkg.peerDependencies?.[d] !== undefined && pkg.peerDependenciesMeta?.[d]?.optional === true;
  assert.ok(imported.has('bullmq') && optionalPeer('bullmq') && optionalPeer('ioredis'), 'the queue commands\' packages are optional peers');
  assert.equal([...imported].filter((d) => !pkg.dependencies?.[d] && !optionalPeer(d)), [], 'imported at run time but not a dependency');
  assert.is(pkg.repository?.url, 'git+https://github.com/tsclab/tsclab.git');
  assert.is(pkg.engines?.node, '^20.19.0 || >=22.12.0', 'require(esm), which require(\'tsclab\') relies on, is unflagged from 20.19 and 22.12');
});

test('npx tsclab --version prints the version', () => {
  assert.ok(installed, 'installed');
  assert.is(ok(npx('--version'), 'tsclab --version').trim(), repoPkg.version);
});

test('npx tsclab start checks the kernel and replays the seeds', () => {
  assert.ok(installed, 'installed');
  const out = ok(npx('start'), 'tsclab start');
  assert.match(out, /in-Wasm sweep, 10\^6 mul_u64_u64_shr cases .*: 0 mismatches/);
  assert.match(out, /Seed incidents, replayed from their parameters/);
  assert.match(out, /seed-003-unify-tsc-logic\n\s+went wrong: time-stall x4/);
  assert.match(out, /seed-003-unify-tsc-logic\n.*\n\s+fix "catch-up"\s+cured/);
});

test('npx tsclab worker without the optional peers bullmq and ioredis: a clear error naming what to install, exit 2', () => {
  assert.ok(installed, 'installed');
  assert.not.ok(existsSync(join(project, 'node_modules/bullmq')), 'an optional peer is not installed with tsclab');
  const r = npx('worker', '--queue', 'redis://127.0.0.1:1');
  assert.is(r.status, 2, `${r.stdout}${r.stderr}`);
  assert.match(r.stderr, /^error: the queue commands need bullmq and ioredis, .*: npm install bullmq@6 ioredis@6\n$/);
});

test('npx tsclab run seed-003-unify-tsc-logic replays it', () => {
  assert.ok(installed, 'installed');
  const out = ok(npx('run', 'seed-003-unify-tsc-logic'), 'tsclab run');
  assert.match(out, /clocksource: Switched to clocksource tsc/);
  assert.match(out, /\n4 anomalies: time-stall x4\n/);
});

test('npx tsclab fuzz --runs 20 --workers 1 runs a campaign (fast-check, workers) from the installed package', () => {
  assert.ok(installed, 'installed');
  const out = ok(npx('fuzz', '--runs', '20', '--workers', '1', '--seed', '3'), 'tsclab fuzz');
  assert.match(out, /\d+ scenarios in [\d.]+ s of search on 1 workers: \d+ scenarios\/s per worker/);
});

// inputs with every wrap: tsc below tsc_timestamp, 0, 2^64-1, and seeded values
const info = { tscTimestamp: 0xffff_ff00_0000_0000n, systemTime: 0xffff_ffff_0000_0000n, tscToSystemMul: 0xcccccccc, tscShift: -1 };
const info2 = { tscTimestamp: 12_345n, systemTime: 1n << 62n, tscToSystemMul: 0x9999_9999, tscShift: 2 };
const inputs = (() => {
  const xs: bigint[] = [0n, 1n, (1n << 64n) - 1n, info.tscTimestamp, info.tscTimestamp - 1n, info2.tscTimestamp];
  let s = 2026n, z: bigint;
  while (xs.length < 1031) { [s, z] = splitmix(s); xs.push(z); }
  return xs;
})();
const want = (p: typeof info) => inputs.map((x) => String(pvclockRead(p, x)));
const literal = (p: typeof info) => `{ tscTimestamp: ${p.tscTimestamp}n, systemTime: ${p.systemTime}n, tscToSystemMul: ${p.tscToSystemMul}, tscShift: ${p.tscShift} }`;
/** Source run by Node (ESM and CJS) and the browser page alike: every pvclock input through each build. */
const pvclockProgram = (t: string) => `
  const tsc = new BigUint64Array([${inputs.map((x) => `${x}n`).join(',')}]);
  const result = { default: ${t}.simd, builds: [] };
  for (const k of [${t}.createKernel({ simd: true }), ${t}.createKernel({ simd: false })]) {
    for (const info of [${literal(info)}, ${literal(info2)}]) {
      const out = new BigUint64Array(tsc.length);
      k.pvclockReadBatch(info, tsc, out);
      result.builds.push({ simd: k.simd, out: Array.from(out, String), one: String(k.pvclockReadCycles(info, tsc[3])) });
    }
  }`;
function checkPvclock(json: string, where: string): void {
  const r = JSON.parse(json) as { default: boolean; builds: { simd: boolean; out: string[]; one: string }[] };
  assert.is(r.default, true, `${where}: the default kernel is the SIMD build`);
  assert.equal(r.builds.map((b) => b.simd), [true, true, false, false], where);
  r.builds.forEach((b, i) => {
    const w = want(i % 2 ? info2 : info);
    assert.equal(b.out, w, `${where}: pvclockReadBatch, ${b.simd ? 'SIMD' : 'scalar'}, page ${i % 2}`);
    assert.is(b.one, w[3], `${where}: pvclockReadCycles`);
  });
}
const scenarioProgram = (sim: string) => `
  const run = ${sim}.runScenario(${sim}.loadBuiltin('seed-003-unify-tsc-logic'));
  const scenario = { names: ${sim}.builtinNames(), summary: ${sim}.summarize(run), anomalies: JSON.stringify(run.anomalies, (_, v) => typeof v === 'bigint' ? String(v) : v) };`;
let nodeScenario: { names: string[]; summary: string; anomalies: string } | undefined;

test('ESM: import from tsclab and tsclab/sim computes exact answers', () => {
  assert.ok(installed, 'installed');
  const out = ok(nodeIn(project, `import * as t from 'tsclab'; import * as sim from 'tsclab/sim';
    ${pvclockProgram('t')}
    ${scenarioProgram('sim')}
    console.log(JSON.stringify(result)); console.log(JSON.stringify(scenario));`), 'ESM import');
  const [pv, sc] = out.trim().split('\n');
  checkPvclock(pv!, 'Node ESM');
  nodeScenario = JSON.parse(sc!);
  assert.is(nodeScenario!.summary, 'time-stall x4');
  assert.equal(nodeScenario!.names, readdirSync(join(root, 'scenarios')).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort());
});

test('CJS: require(\'tsclab\') and require(\'tsclab/sim\') work (require(esm), Node >= 20.19) with exact answers', () => {
  assert.ok(installed, 'installed');
  const out = ok(nodeIn(project, `const t = require('tsclab'); const sim = require('tsclab/sim');
    ${pvclockProgram('t')}
    ${scenarioProgram('sim')}
    console.log(JSON.stringify(result)); console.log(scenario.summary);`, 'commonjs'), 'CJS require');
  const [pv, summary] = out.trim().split('\n');
  checkPvclock(pv!, 'Node CJS');
  assert.is(summary, 'time-stall x4');
});

test('the library needs no dependency: the tarball alone (no node_modules beside it) imports and requires', () => {
  const bare = join(tmp, 'bare');
  mkdirSync(join(bare, 'node_modules/tsclab'), { recursive: true });
  ok(sh('tar', ['-xzf', tarball, '-C', join(bare, 'node_modules/tsclab'), '--strip-components=1'], tmp), 'tar');
  for (let d = bare; d !== parse(d).root; d = dirname(d)) {
    if (d !== bare) assert.not.ok(existsSync(join(d, 'node_modules')), `${d}/node_modules would make this check unsound`);
  }
  const esm = ok(nodeIn(bare, "const t = await import('tsclab'); console.log(String(t.pvclockScaleDelta(2500000000n, 0xcccccccc, -1)), String(t.kvmScaleTsc(2500000000n, 337769972052787n)))"), 'bare ESM');
  assert.is(esm.trim(), '999999999 2999999999');
  const cjs = ok(nodeIn(bare, "console.log(String(require('tsclab').mulU64U64Shr(1n << 63n, 4n, 64)))", 'commonjs'), 'bare CJS');
  assert.is(cjs.trim(), '2');
  // the simulation validates scenarios with zod, its one dependency
  const sim = nodeIn(bare, "await import('tsclab/sim')");
  assert.is.not(sim.status, 0);
  assert.match(sim.stderr, /Cannot find package 'zod'/);
});

test('TypeScript: a strict consumer type-checks under moduleResolution nodenext and bundler (without @types/node)', () => {
  assert.ok(installed, 'installed');
  const dir = join(project, 'ts');
  mkdirSync(dir);
  writeFileSync(join(dir, 'consumer.ts'), `import * as t from 'tsclab';
import { createKernel, pvclockReadBatch, type Kernel, type PvclockTimeInfo, type SampleBuffer } from 'tsclab';
import { loadBuiltin, runScenario, type RunResult, type Scenario } from 'tsclab/sim';
import * as oracle from 'tsclab/oracle';

const info: PvclockTimeInfo = { tscTimestamp: 0n, systemTime: 0n, tscToSystemMul: 0xcccccccc, tscShift: -1 };
const k: Kernel = createKernel({ simd: false });
const ns: bigint = k.pvclockReadCycles(info, 2_500_000_000n);
const buf: SampleBuffer = t.allocSamples(4);
pvclockReadBatch(info, new BigUint64Array([1n, 2n]), buf);
const simd: boolean = t.simd;
const s: Scenario = loadBuiltin('seed-003-unify-tsc-logic');
const r: RunResult = runScenario(s);
const o: bigint = oracle.pvclockScaleDelta(1n, 1n, 0);
// @ts-expect-error a u64 is a bigint, not a number
t.pvclockScaleDelta(5, 0xcccccccc, -1);
// @ts-expect-error no such export
t.noSuchFunction();
export const used = [ns, buf, simd, r.anomalies.length, o];
`);
  const configs = {
    nodenext: { module: 'nodenext', moduleResolution: 'nodenext' },
    bundler: { module: 'esnext', moduleResolution: 'bundler' },
  };
  for (const [name, options] of Object.entries(configs)) {
    writeFileSync(join(dir, `tsconfig.${name}.json`), JSON.stringify({
      compilerOptions: { ...options, target: 'es2022', lib: ['es2022', 'dom'], types: [], strict: true, noEmit: true, skipLibCheck: false },
      files: ['consumer.ts'],
    }));
    ok(sh(join(root, 'node_modules/.bin/tsc'), ['-p', `tsconfig.${name}.json`], dir), `tsc (${name})`);
  }
});

// ---- the browser ------------------------------------------------------------------------------
const chromiumPath = () => ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
if (!chromiumPath() && process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
  console.log('installing Debian\'s chromium for the browser check ...');
  spawnSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium'], { stdio: 'ignore', timeout: 600_000 });
}
const chromium = chromiumPath();
if (!chromium) console.log('  SKIPPED the headless Chromium check: no /usr/bin/chromium (install Debian\'s chromium; .ci/run does)');

function chromiumDump(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(chromium!, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${join(tmp, 'profile')}`,
      '--virtual-time-budget=10000', '--dump-dom', url], { env: process.env });
    let out = '', err = '';
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`chromium timed out\n${err}`)); }, 90_000);
    p.stdout.on('data', (d) => { out += d; });
    p.stderr.on('data', (d) => { err += d; });
    p.on('error', reject);
    p.on('close', () => { clearTimeout(timer); resolve(out); });
  });
}

(chromium ? test : test.skip)('an esbuild bundle of the installed package runs in headless Chromium: pvclockReadBatch (SIMD and scalar) and a built-in scenario, exact', async () => {
  assert.ok(installed, 'installed');
  const page = join(project, 'page');
  mkdirSync(page);
  // no loader, no plugin, no define: what `esbuild page.js --bundle` does for anyone
  await build({
    stdin: { resolveDir: project, sourcefile: 'page.js', contents: `import * as t from 'tsclab'; import * as sim from 'tsclab/sim';
      let text;
      try {
        ${pvclockProgram('t')}
        ${scenarioProgram('sim')}
        text = JSON.stringify({ pvclock: JSON.stringify(result), scenario });
      } catch (e) { text = JSON.stringify({ error: String(e && e.stack || e) }); }
      document.getElementById('result').textContent = text;` },
    bundle: true, platform: 'browser', format: 'esm', outfile: join(page, 'bundle.js'), logLevel: 'silent',
  });
  writeFileSync(join(page, 'index.html'), '<!doctype html><meta charset="utf-8"><title>tsclab</title><pre id="result">not run</pre><script type="module" src="bundle.js"></script>\n');
  const served: string[] = [];
  const server: Server = createServer((req, res) => {
    const name = (req.url ?? '/').split('?')[0] === '/' ? 'index.html' : (req.url ?? '').slice(1).split('?')[0]!;
    served.push(name);
    const file = join(page, name);
    if (!/^[\w.-]+$/.test(name) || !existsSync(file)) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': name.endsWith('.js') ? 'text/javascript' : 'text/html' }).end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  let dom: string;
  try { dom = await chromiumDump(`http://127.0.0.1:${port}/`); } finally { server.close(); }
  assert.ok(served.includes('bundle.js'), `chromium fetched the bundle (served: ${served.join(', ')})`);
  const m = /<pre id="result">([^<]*)<\/pre>/.exec(dom);
  assert.ok(m, `the page ran: ${dom.slice(0, 300)}`);
  const text = m![1]!.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  assert.is.not(text, 'not run', 'the page script ran');
  const got = JSON.parse(text) as { error?: string; pvclock: string; scenario: typeof nodeScenario };
  assert.not.ok(got.error, got.error);
  checkPvclock(got.pvclock, 'Chromium');
  assert.ok(nodeScenario, 'the ESM check ran first');
  assert.equal(got.scenario, nodeScenario, 'the scenario replays in the browser exactly as in Node');
});

test('the install test stays within its budget', () => {
  const s = (setupMs + Date.now() - testsStarted) / 1000;
  console.log(`  install test: ${s.toFixed(1)} s (pack and install ${(setupMs / 1000).toFixed(1)} s)`);
  assert.ok(s < 60, `took ${s.toFixed(1)} s (measured ~15 s on 2 cores; the budget is 60 s)`);
});

test.after(() => rmSync(tmp, { recursive: true, force: true }));

test.run();
