// A scenario named on the command line: a file path (.json, or .yaml/.yml) or a built-in name.
import { existsSync, readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { parseScenario, parseScenarioFix, type Scenario } from '../sim/scenario.js';
import { builtinNames, loadBuiltin } from '../sim/scenarios.js';
import { UsageError } from './output.js';

export function loadScenarioArg(arg: string, fix?: string): Scenario {
  if (builtinNames().includes(arg)) return loadBuiltin(arg, fix);
  if (!existsSync(arg)) {
    throw new UsageError(`"${arg}" is neither a scenario file nor a built-in scenario (built-ins: ${builtinNames().join(', ')})`);
  }
  let raw: unknown;
  const yaml = /\.ya?ml$/i.test(arg);
  try {
    const text = readFileSync(arg, 'utf8');
    // YAML: large integers stay strings of digits only when quoted, as in JSON
    raw = yaml ? parseYaml(text, { intAsBigInt: false }) : JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${arg}: not valid ${yaml ? 'YAML' : 'JSON'} (${(e as Error).message.split('\n')[0]})`);
  }
  return fix === undefined ? parseScenario(raw, arg) : parseScenarioFix(raw, fix, arg);
}
