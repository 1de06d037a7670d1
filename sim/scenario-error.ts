// The error a scenario file that cannot be run raises. On its own (no zod) so that the command line can
// recognise it without loading the scenario schema for commands that never read one (--version, calc).

/** Problems shown in a ScenarioError's message (all are in `problems`). */
const SHOWN_PROBLEMS = 50;

/** A scenario file that cannot be run: every problem, each with its path. */
export class ScenarioError extends Error {
  constructor(readonly file: string, readonly problems: string[]) {
    const more = problems.length - SHOWN_PROBLEMS;
    super(`${file}: invalid scenario\n${problems.slice(0, SHOWN_PROBLEMS).map((p) => `  ${p}`).join('\n')}${more > 0 ? `\n  ... and ${more} more` : ''}`);
  }
}
