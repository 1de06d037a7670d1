// The built-in scenarios: data files in scenarios/, replayable by name.
import { readdirSync, readFileSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { parseScenario, parseScenarioFix, type Scenario } from './scenario.js';

function dir(): URL {
  for (const rel of ['../scenarios/', '../../scenarios/']) {
    const url = new URL(rel, import.meta.url);
    if (existsSync(url)) return url;
  }
  throw new Error('tsclab: the scenarios/ folder is missing from the package');
}

/** Names of the built-in scenarios. */
export function builtinNames(): string[] {
  return readdirSync(dir()).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)).sort();
}

/** The raw JSON and file path of a built-in scenario. */
export function builtinRaw(name: string): { raw: unknown; file: string } {
  if (!builtinNames().includes(name)) throw new Error(`tsclab: no built-in scenario "${name}" (built-ins: ${builtinNames().join(', ')})`);
  const file = new URL(`${name}.json`, dir());
  return { raw: JSON.parse(readFileSync(file, 'utf8')), file: `scenarios/${name}.json` };
}

/** A built-in scenario, optionally with one of its fixes applied. */
export function loadBuiltin(name: string, fix?: string): Scenario {
  const { raw, file } = builtinRaw(name);
  return fix === undefined ? parseScenario(raw, file) : parseScenarioFix(raw, fix, file);
}
