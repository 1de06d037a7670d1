// node --import tsx bench/queue.ts [--quick]: campaigns over BullMQ on Redis (issue 17's targets) against the
// single-machine fuzzer, in one run on this machine: the same campaign (the benchmark's modern generator, fixed seed
// and runs) run locally with 1 and 2 worker threads, then through a real redis-server with 1, 2 and 3 `tsclab worker`
// processes (one thread each). Prints wall times, scenarios/s, the queue's overhead per scenario against the local
// run with the same parallelism, and whether the finding files are byte for byte the local run's. Needs
// redis-server and the built CLI (npm run build). A 2-core machine cannot show scaling past 2 workers.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const quick = process.argv.includes('--quick');
const RUNS = quick ? 1000 : 4000;
const GEN = ['--seed', '11', '--runs', String(RUNS), '--rules', '6.7+', '--procedure', 'precise-scaled', '--no-suspend', '--vm-wide-tsc-khz'];
const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'dist/cli/main.js');
const tmp = mkdtempSync(join(tmpdir(), 'tsclab-bench-queue-'));
const env = { ...process.env, NO_COLOR: '1', TSCLAB_REDIS_PASSWORD: '' };

if (spawnSync('redis-server', ['--version']).status !== 0) { console.log('bench/queue.ts: redis-server is not installed (apt-get install redis-server)'); process.exit(0); }
const port = await new Promise<number>((res) => { const s = createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => res(p)); }); });
const url = `redis://127.0.0.1:${port}`;
const redis = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction', '--dir', tmp], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 500));

const time = (args: string[]) => {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [cli, ...args], { env, encoding: 'utf8', timeout: 900_000 });
  if (r.status !== 0) throw new Error(`tsclab ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
};
const files = (dir: string) => JSON.stringify(readdirSync(dir).sort().map((f) => [f, readFileSync(join(dir, f), 'utf8')]));
function worker(): Promise<ChildProcess> {
  const p = spawn(process.execPath, [cli, 'worker', '--queue', url, '--concurrency', '1'], { env, stdio: ['ignore', 'pipe', 'ignore'] });
  return new Promise((res) => { let t = ''; p.stdout!.on('data', (d) => { t += d; if (/^tsclab worker \(/m.test(t)) res(p); }); });
}
const stop = (p: ChildProcess) => new Promise((r) => { p.once('exit', r); p.kill('SIGTERM'); });

const rows: [string, number, string][] = [];
const local1 = time(['fuzz', ...GEN, '--workers', '1', '--out', join(tmp, 'local1')]);
rows.push(['local, 1 worker thread', local1, '']);
const local2 = time(['fuzz', ...GEN, '--workers', '2', '--out', join(tmp, 'local2')]);
rows.push(['local, 2 worker threads', local2, '']);
const want = files(join(tmp, 'local1'));
for (const n of [1, 2, 3]) {
  const ws = await Promise.all(Array.from({ length: n }, worker));
  const out = join(tmp, `queued${n}`);
  const t = time(['fuzz', ...GEN, '--queue', url, '--campaign', `bench-${n}`, '--out', out]);
  await Promise.all(ws.map(stop));
  const base = n === 1 ? local1 : local2;
  rows.push([`queue, ${n} worker process${n > 1 ? 'es' : ''}`, t,
    `overhead vs local ${n === 1 ? 1 : 2}: ${(((t - base) / base) * 100).toFixed(1)}% (${(((t - base) * 1e6) / RUNS).toFixed(0)} us/scenario); findings ${files(out) === want ? 'identical' : 'DIFFER'}`]);
}
redis.kill('SIGTERM');
rmSync(tmp, { recursive: true, force: true });
console.log(`${cpus().length} CPUs, ${RUNS} scenarios (seed 11, modern precise-scaled generator); wall time includes process start\n`);
console.log(`| run | wall s | scenarios/s | |\n|---|---:|---:|---|\n${rows.map(([n, t, x]) => `| ${n} | ${t.toFixed(2)} | ${(RUNS / t).toFixed(0)} | ${x} |`).join('\n')}`);
