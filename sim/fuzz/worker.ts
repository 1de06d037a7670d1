// A fuzz worker: instantiates the kernel from the module it is handed (no
// recompilation) and runs what it is sent: scenario shards, or kernel sweeps.
import { parentPort, workerData } from 'node:worker_threads';
import { createKernel, type SweepKind } from '../../bindings/index.js';
import { runShard, shrinkFinding } from './campaign.js';

const kernel = createKernel({ module: workerData.module as WebAssembly.Module });
type Msg =
  | { type: 'shard'; seed: number; shard: number; gen: Parameters<typeof runShard>[2] }
  | { type: 'shrink'; seed: number; path: string; gen: Parameters<typeof runShard>[2] }
  | { type: 'sweep'; kind: SweepKind; seed: string; cases: number };
parentPort!.on('message', (m: Msg) => {
  if (m.type === 'sweep') {
    const r = kernel.sweepKernel(m.kind, BigInt(m.seed), m.cases);
    parentPort!.postMessage({ ...r, seed: m.seed, first: r.first && Object.fromEntries(Object.entries(r.first).map(([k, v]) => [k, String(v)])) });
    return;
  }
  if (m.type === 'shrink') { parentPort!.postMessage(shrinkFinding(m.seed, m.path, m.gen, kernel)); return; }
  parentPort!.postMessage(runShard(m.seed, m.shard, m.gen, kernel));
});
