// Worker entry when running from the TypeScript sources (tests, tsx): register
// tsx in this thread, then load the worker. dist/ runs worker.js directly.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
