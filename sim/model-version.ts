// What a fuzz finding is reproduced from: (build, input). The input is a
// (seed, path) and the generator options; the build is this version. Bump
// MODEL_VERSION whenever a change to the model (rule sets, host/KVM/guest/VMM
// behaviour), the scenario generators or the invariants can make the same seed
// generate another scenario or another verdict: campaigns spread over several
// machines refuse to mix results of two models (see sim/fuzz/queue.ts).
import { createRequire } from 'node:module';

export const MODEL_VERSION = 1;

/** The package version and the model version, e.g. "0.1.0+model.1": equal on both sides of a queued campaign, or the job is refused. */
export function modelVersion(): string {
  const pkg = createRequire(import.meta.url)('tsclab/package.json') as { version: string };
  return `${pkg.version}+model.${MODEL_VERSION}`;
}
