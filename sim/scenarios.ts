// The built-in scenarios, replayable by name. Their source of truth is the data
// files in scenarios/; `npm run build` embeds their text (scripts/embed.mjs ->
// sim/builtin-scenarios.ts), so they need no file system and work in browsers.
import { BUILTIN_SCENARIO_TEXT } from './builtin-scenarios.js';
import { parseScenario, parseScenarioFix, type Scenario } from './scenario.js';
import { parseJsonStrict } from './strict-json.js';

/** Names of the built-in scenarios. */
export function builtinNames(): string[] {
  return Object.keys(BUILTIN_SCENARIO_TEXT);
}

/** The raw JSON and file path of a built-in scenario. */
export function builtinRaw(name: string): { raw: unknown; file: string } {
  if (!Object.hasOwn(BUILTIN_SCENARIO_TEXT, name)) throw new Error(`tsclab: no built-in scenario "${name}" (built-ins: ${builtinNames().join(', ')})`);
  return { raw: parseJsonStrict(BUILTIN_SCENARIO_TEXT[name]!), file: `scenarios/${name}.json` };
}

/** A built-in scenario, optionally with one of its fixes applied. */
export function loadBuiltin(name: string, fix?: string): Scenario {
  const { raw, file } = builtinRaw(name);
  return fix === undefined ? parseScenario(raw, file) : parseScenarioFix(raw, fix, file);
}
