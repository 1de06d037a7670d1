// tsclab/sim: the simulation's public surface.
export { runScenario, Machine } from './machine.js';
export { parseScenario, parseScenarioFix, mergePatch, ScenarioSchema, ScenarioError, RULE_SETS,
  type Scenario, type ScenarioInput, type ScenarioEvent, type HostSpec, type GuestSpec, type RuleSet,
  MAX_UNTIL, MAX_UPTIME, MAX_HOST_TSC, MAX_EVENTS, MAX_SCHEDULED, MIN_CHURN_RUN, MAX_FIXES, MAX_MEMORY_MIB,
  MIN_TSC_KHZ, MAX_TSC_KHZ, LIMITS, type Limits } from './scenario.js';
export { builtinNames, builtinRaw, loadBuiltin } from './scenarios.js';
export { renderLog, summarize, healthy, HARMFUL } from './summary.js';
export type { Anomaly, AnomalyType, LogLine, RunResult } from './types.js';
