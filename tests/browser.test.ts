// tsclab as a browser bundler sees it: esbuild bundles `tsclab` and `tsclab/sim`
// for the browser platform with no loader configuration and no shims, and the
// bundles run in a fresh JavaScript realm that has the web globals a page has
// and none of Node's (no process, Buffer, require, node:*), computing exact
// answers. (tests/install.test.ts runs a bundle of the installed package in
// headless Chromium.)
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { build, type Metafile } from 'esbuild';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as vm from 'node:vm';
import { pvclockRead, splitmix } from './support/pvclock-formula.js';

const root = fileURLToPath(new URL('..', import.meta.url));
// a consumer project whose node_modules/tsclab is this checkout (as `npm link` would make it)
const app = mkdtempSync(join(tmpdir(), 'tsclab-browser-'));
mkdirSync(join(app, 'node_modules'));
symlinkSync(root, join(app, 'node_modules', 'tsclab'), 'dir');

async function bundle(source: string): Promise<{ code: string; inputs: string[] }> {
  const r = await build({
    stdin: { contents: source, resolveDir: app, sourcefile: 'page.js' },
    bundle: true, platform: 'browser', format: 'iife', write: false, metafile: true, logLevel: 'silent', target: 'es2022',
  });
  return { code: r.outputFiles[0]!.text, inputs: Object.keys((r.metafile as Metafile).inputs) };
}

/** A realm with what pages have (the ECMAScript and WebAssembly globals, plus a few web APIs) and nothing of Node's. */
function runInPage(code: string): Record<string, unknown> {
  const page: Record<string, unknown> = { atob, btoa, TextEncoder, TextDecoder, URL, console, setTimeout, clearTimeout, queueMicrotask, structuredClone };
  page.window = page; page.self = page;
  const context = vm.createContext(page);
  vm.runInContext(code, context, { filename: 'page.js' });
  for (const g of ['process', 'Buffer', 'require', 'module', 'global', 'setImmediate']) {
    assert.is(vm.runInContext(`typeof ${g}`, context), 'undefined', `the page realm has no ${g}`);
  }
  return page;
}

const info = { tscTimestamp: 0xffff_ff00_0000_0000n, systemTime: 0xffff_ffff_0000_0000n, tscToSystemMul: 0xcccccccc, tscShift: -1 };
const N = 1027; // not a multiple of the SIMD width or of a chunk
const inputs = (() => {
  const xs: bigint[] = [0n, 1n, (1n << 64n) - 1n, info.tscTimestamp, info.tscTimestamp - 1n];
  let s = 7n, z: bigint;
  while (xs.length < N) { [s, z] = splitmix(s); xs.push(z); }
  return xs;
})();

test('esbuild bundles tsclab for the browser with no Node module and no dependency in it', async () => {
  const { inputs: files } = await bundle("import * as t from 'tsclab'; window.t = t;");
  assert.ok(files.some((f) => f.endsWith('dist/bindings/index.js')), 'the browser entry point');
  assert.not.ok(files.some((f) => f.endsWith('dist/bindings/node.js') || f.endsWith('node-env.js')), 'not the Node one');
  assert.equal(files.filter((f) => f.includes('node_modules') || f.startsWith('node:')), []);
});

test('the bundle runs pvclockReadBatch exactly on the SIMD and the scalar builds in a realm without Node globals', async () => {
  const { code } = await bundle(`import * as t from 'tsclab';
    const info = { tscTimestamp: ${info.tscTimestamp}n, systemTime: ${info.systemTime}n, tscToSystemMul: ${info.tscToSystemMul}, tscShift: ${info.tscShift} };
    const tsc = new BigUint64Array([${inputs.map((x) => `${x}n`).join(',')}]);
    window.result = JSON.stringify([t.kernel, t.createKernel({ simd: true }), t.createKernel({ simd: false })].map((k) => {
      const out = new BigUint64Array(tsc.length);
      k.pvclockReadBatch(info, tsc, out);
      return { simd: k.simd, out: Array.from(out, String), one: String(k.pvclockReadCycles(info, tsc[7])) };
    }));`);
  const result = JSON.parse(runInPage(code).result as string) as { simd: boolean; out: string[]; one: string }[];
  assert.equal(result.map((r) => r.simd), [true, true, false], 'the default kernel is SIMD where WebAssembly.validate accepts it');
  const want = inputs.map((x) => String(pvclockRead(info, x)));
  for (const r of result) {
    assert.equal(r.out, want, `pvclockReadBatch, ${r.simd ? 'SIMD' : 'scalar'}`);
    assert.is(r.one, want[7]);
  }
});

test('tsclab/sim bundles for the browser (zod its only dependency) and replays a built-in scenario as Node does', async () => {
  const { code, inputs: files } = await bundle(`import { builtinNames, loadBuiltin, runScenario, summarize } from 'tsclab/sim';
    const r = runScenario(loadBuiltin('seed-003-unify-tsc-logic'));
    window.result = JSON.stringify({ names: builtinNames(), summary: summarize(r), anomalies: JSON.stringify(r.anomalies, (_, v) => typeof v === 'bigint' ? String(v) : v) });`);
  assert.ok(files.some((f) => f.endsWith('dist/sim/index.js')));
  assert.equal(files.filter((f) => (f.includes('node_modules') && !f.includes('node_modules/zod/')) || f.startsWith('node:')), []);
  const result = JSON.parse(runInPage(code).result as string) as { names: string[]; summary: string; anomalies: string };
  const sim = await import('../sim/index.js');
  const r = sim.runScenario(sim.loadBuiltin('seed-003-unify-tsc-logic'));
  assert.equal(result.names, sim.builtinNames());
  assert.is(result.summary, 'time-stall x4');
  assert.is(result.anomalies, JSON.stringify(r.anomalies, (_, v) => (typeof v === 'bigint' ? String(v) : v)));
});

test.after(() => rmSync(app, { recursive: true, force: true }));

test.run();
