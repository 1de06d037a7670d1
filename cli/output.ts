// Output conventions: colour only on a TTY and never with NO_COLOR; JSON with
// u64 values as strings of digits (JSON numbers cannot hold them); errors a
// user can act on go to stderr with exit code 2, never a stack trace.
import { ScenarioError } from '../sim/scenario.js';

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

/** Maps what went wrong to a message and an exit code; unexpected errors keep their stack. */
export function report(e: unknown): number {
  if (e instanceof ScenarioError || e instanceof UsageError || e instanceof RangeError || e instanceof TypeError) {
    process.stderr.write(`${red('error')}: ${(e as Error).message}\n`);
    return EXIT_BAD_INPUT;
  }
  if (e instanceof Error && /^tsclab: /.test(e.message)) {
    process.stderr.write(`${red('error')}: ${e.message.replace(/^tsclab: /, '')}\n`);
    return EXIT_BAD_INPUT;
  }
  throw e;
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
