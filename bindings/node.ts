// The Node entry point of `tsclab` (package.json exports, condition "node"):
// the same API as bindings/index.ts, with TSCLAB_SIMD honoured. The import of
// node-env.js must stay first: ES modules evaluate their imports in order, so
// it runs before index.js creates the default kernel.
import './node-env.js';

export * from './index.js';
