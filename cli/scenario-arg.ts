// A scenario named on the command line: a file path or a built-in name.
import { existsSync, readFileSync } from 'node:fs';
import { parseScenario, parseScenarioFix, type Scenario } from '../sim/scenario.js';
import { builtinNames, loadBuiltin } from '../sim/scenarios.js';
import { UsageError } from './output.js';

export function loadScenarioArg(arg: string, fix?: string): Scenario {
  if (builtinNames().includes(arg)) return loadBuiltin(arg, fix);
  if (!existsSync(arg)) {
    throw new UsageError(`"${arg}" is neither a scenario file nor a built-in scenario (built-ins: ${builtinNames().join(', ')})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(arg, 'utf8'));
  } catch (e) {
    throw new UsageError(`${arg}: not valid JSON (${(e as Error).message})`);
  }
  return fix === undefined ? parseScenario(raw, arg) : parseScenarioFix(raw, fix, arg);
}
