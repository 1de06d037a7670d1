// A scenario named on the command line: a file path (.json, or .yaml/.yml) or a built-in name.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { parseScenario, parseScenarioFix, type Limits, type Scenario } from '../sim/scenario.js';
import { builtinNames, loadBuiltin } from '../sim/scenarios.js';
import { parseJsonStrict } from '../sim/strict-json.js';
import { UsageError } from './output.js';

/** The largest scenario file read: JSON 16 MiB, YAML 4 MiB (its parser reads ~1 MiB a second; 10,000 events take
 *  under 1 MiB either way). */
export const MAX_SCENARIO_BYTES = 16 << 20, MAX_YAML_BYTES = 4 << 20;

/** Reads the file a user named, or refuses with a UsageError naming it. */
function readScenarioFile(arg: string, max: number): string {
  let size: number;
  try {
    const st = statSync(arg);
    if (st.isDirectory()) throw new UsageError(`${arg} is a directory, not a scenario file`);
    size = st.size;
  } catch (e) {
    if (e instanceof UsageError) throw e;
    throw new UsageError(`cannot read ${arg}: ${(e as Error).message}`);
  }
  if (size > max) throw new UsageError(`${arg}: ${size} bytes, above the limit of ${max} for a scenario file`);
  try {
    return readFileSync(arg, 'utf8');
  } catch (e) {
    throw new UsageError(`cannot read ${arg}: ${(e as Error).message}`);
  }
}

export function loadScenarioArg(arg: string, fix?: string, limits: Partial<Limits> = {}): Scenario {
  if (builtinNames().includes(arg)) return loadBuiltin(arg, fix);
  if (!existsSync(arg)) {
    throw new UsageError(`"${arg}" is neither a scenario file nor a built-in scenario (built-ins: ${builtinNames().join(', ')})`);
  }
  const yaml = /\.ya?ml$/i.test(arg);
  const text = readScenarioFile(arg, yaml ? MAX_YAML_BYTES : MAX_SCENARIO_BYTES);
  let raw: unknown;
  try {
    // YAML: large integers stay strings of digits only when quoted, as in JSON; a key given twice is an error in both
    raw = yaml ? parseYaml(text, { intAsBigInt: false, uniqueKeys: true }) : parseJsonStrict(text);
  } catch (e) {
    const why = (e as Error).message.split('\n')[0].replace(/^Maximum call stack size exceeded/, 'nested too deeply');
    throw new UsageError(`${arg}: not valid ${yaml ? 'YAML' : 'JSON'} (${why})`);
  }
  return fix === undefined ? parseScenario(raw, arg, limits) : parseScenarioFix(raw, fix, arg, limits);
}
