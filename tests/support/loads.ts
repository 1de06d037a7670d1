// Which modules a Node program loads: a module-resolution hook (node:module register) appends every URL Node
// resolves -- the package's own files, dependencies, node: built-ins -- to a file the test reads back.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const hooks = mkdtempSync(join(tmpdir(), 'tsclab-loads-'));
process.on('exit', () => rmSync(hooks, { recursive: true, force: true }));
writeFileSync(join(hooks, 'hooks.mjs'), `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(process.env.TSCLAB_LOADS_FILE, r.url + '\\n');
  return r;
}\n`);
writeFileSync(join(hooks, 'register.mjs'), `import { register } from 'node:module';\nregister('./hooks.mjs', import.meta.url);\n`);
let run = 0;

/** Runs `node [args]` in cwd with env; what it loaded, its exit status and output. */
export function loads(args: string[], cwd: string, env: NodeJS.ProcessEnv): { urls: string[]; status: number | null; out: string; err: string } {
  const file = join(hooks, `loads-${run++}.txt`);
  writeFileSync(file, '');
  const r = spawnSync(process.execPath, ['--import', pathToFileURL(join(hooks, 'register.mjs')).href, ...args],
    { cwd, encoding: 'utf8', env: { ...env, TSCLAB_LOADS_FILE: file } });
  return { urls: readFileSync(file, 'utf8').split('\n').filter(Boolean), status: r.status, out: r.stdout.trim(), err: r.stderr };
}
