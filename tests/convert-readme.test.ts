// The README's "Converting trace timestamps" walk-throughs, run as written:
// every `$ npx tsclab ...` line of its sh blocks is run (from the repository
// root, with the built CLI) and must print exactly the lines under it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createClockChain } from '../bindings/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const start = readme.indexOf('## Converting trace timestamps\n');
const section = readme.slice(start, readme.indexOf('\n## ', start + 1));

const runs: { cmd: string; want: string[] }[] = [];
for (const m of section.matchAll(/```sh\n([\s\S]*?)```/g)) {
  for (const line of m[1].split('\n').slice(0, -1)) {
    if (line.startsWith('$ ')) runs.push({ cmd: line.slice(2), want: [] });
    else runs[runs.length - 1].want.push(line);
  }
}

test('the section has its walk-throughs (trace-cmd, perf, the migrated VM, calc limits)', () => {
  assert.ok(start > 0);
  assert.is(runs.length, 7);
});

for (const r of runs) {
  test(`README: ${r.cmd.slice(0, 110)}`, () => {
    const res = spawnSync('bash', ['-c', r.cmd.replaceAll('npx tsclab', `"${process.execPath}" "${cli}"`)], { cwd: root, encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' } });
    assert.is(res.status, 0, res.stderr);
    assert.equal(res.stdout.split('\n').slice(0, -1), r.want);
  });
}

test('README: the library example computes what its comment says', () => {
  const chain = createClockChain({
    kvm: [{ from: 0n, params: { tscOffset: -1199999999999n, ratio: 337769972052787n } },
      { from: 1750000000000n, params: { tscOffset: -1207499999999n, ratio: 337769972052787n } }],
    tsc2nsec: { mult: 6710886, shift: 24, offset: 0n },
  });
  assert.match(section, /chain\.convert\('guest-tsc', 'host-ns', 952500000000n\);\s+\/\/ 719999957084n/);
  assert.is(chain.convert('guest-tsc', 'host-ns', 952500000000n), 719999957084n);
  const stamps = BigUint64Array.from([240000000000n, 952500000000n]);
  chain.convertBatch('guest-tsc', 'host-tsc', stamps);
  assert.equal([...stamps], [1200000000000n, 1800000000000n]);
});

test.run();
