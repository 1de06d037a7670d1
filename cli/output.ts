// Output conventions: colour only on a TTY and never with NO_COLOR; JSON with
// u64 values as strings of digits (JSON numbers cannot hold them); errors a
// user can act on go to stderr with exit code 2, never a stack trace.
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { ScenarioError } from '../sim/scenario-error.js';
import { isArgumentError } from '../bindings/check.js';

export const EXIT_OK = 0, EXIT_ANOMALIES = 1, EXIT_BAD_INPUT = 2;

const useColor = (): boolean => !!process.stdout.isTTY && process.env.NO_COLOR === undefined && process.env.TERM !== 'dumb';
const paint = (code: number) => (s: string) => (useColor() ? `\x1b[${code}m${s}\x1b[0m` : s);
export const red = paint(31), green = paint(32), yellow = paint(33), dim = paint(2), bold = paint(1);

/** JSON with bigints as decimal strings, stable key order as built. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_, v) => (typeof v === 'bigint' ? v.toString() : v), 2);
}

/** An error the user caused (bad input): shown as a message, exit 2. */
export class UsageError extends Error {}

/** Whether `e` is an error of the user's input, with a message that says what is wrong: a bad scenario or option,
 *  an API argument error (its message starts with the function's name; the engine's own TypeErrors and RangeErrors
 *  do not, they are bugs), or a "tsclab: ..." error. */
export function isInputError(e: unknown): e is Error {
  if (e instanceof ScenarioError || e instanceof UsageError || isArgumentError(e)) return true;
  return e instanceof Error && /^tsclab: /.test(e.message);
}

const debugOn = (): boolean => process.env.TSCLAB_DEBUG === '1';

/**
 * The one place that turns an error into a message and an exit code, for every error: the user's (bad input)
 * as `error: ...`, anything else as `internal error: ... (please report it)`; both exit 2 (the README reserves 0,
 * 1 and 2). The stack only with --debug (TSCLAB_DEBUG=1).
 */
export function report(e: unknown): number {
  const stack = debugOn() && e instanceof Error && e.stack ? `\n${e.stack}` : '';
  if (isInputError(e)) {
    process.stderr.write(`${red('error')}: ${e.message.replace(/^tsclab: /, '')}${stack}\n`);
    return EXIT_BAD_INPUT;
  }
  const message = e instanceof Error ? `${e.name === 'Error' ? '' : `${e.name}: `}${e.message}` : String(e);
  process.stderr.write(`${red('internal error')}: ${message.split('\n')[0]} (please report it${stack ? '' : '; --debug shows where'})${stack}\n`);
  return EXIT_BAD_INPUT;
}

/** Writes `file` whole or not at all: a temporary file beside it, renamed over it; removed again on failure. */
export function writeFileAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  } catch (e) {
    try { rmSync(tmp, { force: true }); } catch { /* nothing was written there */ }
    throw new UsageError(`cannot write ${file}: ${(e as Error).message}`);
  }
}

/** A decimal or 0x-hex integer from an option, exactly (no float). */
export function parseInteger(name: string, text: string | undefined, min = 0n, max = (1n << 64n) - 1n): bigint {
  if (text === undefined) throw new UsageError(`--${name} is required`);
  const t = text.trim();
  if (!/^-?(\d+|0x[0-9a-f]+)$/i.test(t)) throw new UsageError(`--${name}: "${text}" is not an integer (decimal, or hex with 0x)`);
  const neg = t.startsWith('-');
  const v = BigInt(neg ? t.slice(1) : t) * (neg ? -1n : 1n);
  if (v < min || v > max) throw new UsageError(`--${name}: ${v} is outside ${min}..${max}`);
  return v;
}
export const parseSmall = (name: string, text: string | undefined, min: number, max: number): number =>
  Number(parseInteger(name, text, BigInt(min), BigInt(max)));
