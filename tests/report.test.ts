// tsclab report: the page renders in headless Chromium (Debian's chromium;
// .ci/run installs it where missing) and shows the expected markers.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const find = () => ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
// the test set-up installs Debian's chromium where it is missing and it can (root with apt-get)
if (!find() && process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
  console.log('installing Debian\'s chromium for the report test ...');
  spawnSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium'], { stdio: 'ignore', timeout: 600_000 });
}
const chromium = find();
const dir = mkdtempSync(join(tmpdir(), 'tsclab-report-'));

function render(file: string): string {
  const r = spawnSync(chromium!, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${join(dir, 'profile')}`,
    '--virtual-time-budget=2000', '--dump-dom', `file://${file}`], { encoding: 'utf8', timeout: 60_000 });
  return r.stdout;
}

test('report writes one self-contained page: inline SVG, no external resources', () => {
  const out = join(dir, 'seed-002.html');
  const r = spawnSync(process.execPath, [cli, 'report', 'seed-002-precise-migration', '-o', out], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const html = readFileSync(out, 'utf8');
  assert.match(html, /<svg /);
  assert.not.match(html, /(src|href)="(https?:)?\/\//, 'nothing fetched from elsewhere');
  // its 2 timeline events (the migrations), 2 vCPU panels, each vCPU's stall markers
  assert.is((html.match(/<g class="event"/g) ?? []).length, 2);
  assert.is((html.match(/<g class="vcpu"/g) ?? []).length, 2);
  assert.ok((html.match(/<g class="anomaly" data-type="time-stall"/g) ?? []).length >= 4);
});

test('tracing for the report does not change the run', async () => {
  const { loadBuiltin } = await import('../sim/scenarios.js');
  const { runScenario } = await import('../sim/machine.js');
  const { runTraced } = await import('../tools/report.js');
  for (const name of ['seed-000-tsc-adjust-hotplug', 'seed-001-xen-nonstop-tsc', 'seed-002-precise-migration', 'seed-003-unify-tsc-logic', 'seed-004-ksm-numad']) {
    const str = (x: unknown) => JSON.stringify(x, (_, v) => (typeof v === 'bigint' ? `${v}` : v));
    const plain = runScenario(loadBuiltin(name)), traced = runTraced(loadBuiltin(name));
    assert.is(str(traced.result.anomalies), str(plain.anomalies), name);
    assert.ok(traced.trace.length > 100);
  }
});

test('it renders in headless Chromium with every marker drawn', () => {
  assert.ok(chromium, 'headless Chromium is needed: apt-get install chromium (done automatically when run as root)');
  const out = join(dir, 'seed-000.html');
  assert.is(spawnSync(process.execPath, [cli, 'report', 'seed-000-tsc-adjust-hotplug', '-o', out]).status, 0);
  const html = readFileSync(out, 'utf8');
  const markers = (html.match(/<g class="(anomaly|event)"/g) ?? []).length;
  const dom = render(out);
  const drawn = /data-rendered="(\d+)"/.exec(dom);
  assert.ok(drawn, 'the page ran its script: it rendered');
  assert.is(Number(drawn![1]), markers, 'every event and anomaly marker has a box on the page');
  for (const label of ['hot-add', 'rcu-stall', 'soft-lockup', 'time-stall']) assert.ok(dom.includes(`>${label}<`), label);
});

// Every seed's page at 1400x900, kept as artefacts (TSCLAB_ARTIFACTS, else a temporary folder): no two labels' boxes
// overlap, every anomaly in the observed window is carried by a marker.
const seeds = ['seed-000-tsc-adjust-hotplug', 'seed-001-xen-nonstop-tsc', 'seed-002-precise-migration', 'seed-002-guest-tsc-write', 'seed-003-unify-tsc-logic', 'seed-004-ksm-numad'];
const shots = process.env.TSCLAB_ARTIFACTS ?? join(dir, 'screens');
test('every seed: no two label boxes overlap, every anomaly has a marker; screenshots kept', async () => {
  assert.ok(chromium, 'headless Chromium is needed');
  const { loadBuiltin } = await import('../sim/scenarios.js');
  const { runTraced } = await import('../tools/report.js');
  mkdirSync(shots, { recursive: true });
  for (const name of seeds) {
    const out = join(dir, `${name}.html`);
    assert.is(spawnSync(process.execPath, [cli, 'report', name, '-o', out]).status, 0, name);
    const dom = render(out);
    const attr = (k: string) => Number(new RegExp(`data-${k}="(\\d+)"`).exec(dom)?.[1] ?? NaN);
    const s = loadBuiltin(name);
    const inWindow = runTraced(s).result.anomalies.filter((a) => a.t >= s.observe.from && a.t <= s.until).length;
    assert.is(attr('overlaps'), 0, `${name}: overlapping labels`);
    assert.ok(attr('labels') > 0, `${name}: labels`);
    assert.is(attr('marked'), inWindow, `${name}: anomalies carried by markers`);
    spawnSync(chromium!, ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', `--user-data-dir=${join(dir, 'profile')}`,
      '--window-size=1400,900', '--hide-scrollbars', `--screenshot=${join(shots, `${name}.png`)}`, `file://${out}`], { timeout: 60_000 });
    assert.ok(existsSync(join(shots, `${name}.png`)), `${name}: screenshot`);
  }
  console.log(`report screenshots: ${shots}`);
});

test('placeLabels: labels take free rows, a label with none free is left to its marker\'s title', async () => {
  const { placeLabels } = await import('../tools/report.js');
  assert.equal(placeLabels([{ x: 0, w: 50 }, { x: 10, w: 50 }, { x: 20, w: 50 }, { x: 100, w: 10 }], 2, 0, 1000), [0, 1, -1, 0]);
  assert.equal(placeLabels([{ x: 990, w: 50 }], 1, 0, 1000), [0], 'clamped into the plot');
});

test.run();
