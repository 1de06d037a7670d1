// The Node entry point of `tsclab/sim` (package.json exports, condition "node"):
// the same API as sim/index.ts, with TSCLAB_SIMD honoured by the machines' kernels.
// node-env.js must be imported first (ES modules evaluate imports in order).
import '../bindings/node-env.js';

export * from './index.js';
