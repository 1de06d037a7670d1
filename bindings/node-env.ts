// Node only: what the environment asks of the kernel. TSCLAB_SIMD=0 makes every
// kernel created without an explicit `simd` choice use the scalar build. The
// Node entry points (bindings/node.ts, sim/node.ts, the CLI) import this module
// before anything that creates a kernel; browser entry points never load it.
import { setScalarForced } from './wasm.js';

setScalarForced(() => process.env.TSCLAB_SIMD === '0');
