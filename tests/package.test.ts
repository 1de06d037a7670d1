// The package as users get it: importable from plain Node (compiled JS, no
// tsx), every issue-named function exported, and the .wasm also loadable by
// @assemblyscript/loader for people who use it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { instantiateSync } from '@assemblyscript/loader';

const root = fileURLToPath(new URL('..', import.meta.url));
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

test("import('tsclab') works in plain Node and exports the API", () => {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e',
    "import('tsclab').then(m => console.log(JSON.stringify(Object.keys(m)), String(m.pvclockScaleDelta(2500000000n, 0xcccccccc, -1))))"],
  { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  const [keys, value] = out.trim().split(' ');
  for (const n of names) assert.ok(JSON.parse(keys).includes(n), `missing export ${n}`);
  assert.is(value, '999999999');
});

test('the oracle is importable as tsclab/oracle', () => {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e',
    "import('tsclab/oracle').then(m => console.log(String(m.kvmGetTimeScale(1000000000n, 2500000000n).mul)))"],
  { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  assert.is(out.trim(), String(0xcccccccc));
});

test('the simulation is importable as tsclab/sim and replays a seed in plain Node', () => {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e',
    "import('tsclab/sim').then(m => console.log(m.summarize(m.runScenario(m.loadBuiltin('seed-003-unify-tsc-logic')))))"],
  { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  assert.is(out.trim(), 'time-stall x4');
});

test('the .wasm loads with @assemblyscript/loader too', () => {
  const { exports } = instantiateSync(readFileSync(new URL('../build/tsclab.wasm', import.meta.url)), {}) as
    unknown as { exports: { kvmScaleTsc(t: bigint, r: bigint, f: number): bigint } };
  assert.is(exports.kvmScaleTsc(2_500_000_000n, 337_769_972_052_787n, 48), 2_999_999_999n);
});

test.run();
