// A replay beside the real log it reproduces: each real line ("[5180237.377019] CPU8 has been hot-added") paired
// with the replay's first guest line of the same form -- the same words, any numbers -- after the previous pair,
// so the comparison keeps the log's order (a line printed out of order in the real log is looked for from the
// start). Failing that, a replay line whose words begin the real line's (the model prints less: an RCU stall line
// without g=, c=, q=; a vcpu_info line without its address) is paired as partial. What differs is shown, not
// judged: the tests judge the numbers that matter, from the seed documents.
import type { LogLine } from '../sim/types.js';
import { printkTime } from '../sim/units.js';

export interface LogPair {
  /** The real line, verbatim. */
  real: string;
  /** The replay's line of the same form, as dmesg prints it, or null when it printed none. */
  replay: string | null;
  /** Replay stamp minus real stamp (ns), when both lines have one. */
  stampDiffNs: bigint | null;
  /** Whether the two texts (stamps apart) are identical, numbers included. */
  same: boolean;
  /** The replay's line is the real line's beginning, word for word (numbers apart), not all of it. */
  partial: boolean;
}

const STAMPED = /^\[\s*(\d+)\.(\d{6})\]\s?(.*)$/;
/** The words of a line with each number (decimal or hex) as '#': the form a real and a replayed line share. */
const form = (text: string) => text.replace(/\b(0x)?[0-9a-f]*\d[0-9a-f]*\b/gi, '#').replace(/\s+/g, ' ').trim();
const words = (f: string) => f.split(/[\s,()]+/).filter(Boolean);
/** The replay's words begin the real line's (at least three of them). */
const begins = (replayForm: string, realWords: string[]) => {
  const w = words(replayForm);
  return w.length >= 3 && w.length < realWords.length && w.every((x, i) => x === realWords[i]);
};
/** A printk stamp as printed: whole microseconds. */
const usec = (ns: bigint) => ns - (ns % 1000n);

/** Each real line with the replay's line of the same form. */
export function compareLog(real: readonly string[], replay: readonly LogLine[]): LogPair[] {
  const guest = replay.filter((l) => l.source === 'guest');
  let from = 0;
  return real.map((line) => {
    const m = STAMPED.exec(line);
    const text = m ? m[3] : line;
    const realStamp = m ? BigInt(m[1]) * 1_000_000_000n + BigInt(m[2]) * 1000n : null;
    const want = form(text);
    const realWords = words(want);
    const find = (ok: (f: string) => boolean) => {
      const i = guest.findIndex((l, j) => j >= from && ok(form(l.text)));
      return i >= 0 ? i : guest.findIndex((l) => ok(form(l.text)));
    };
    let partial = false;
    let at = find((f) => f === want);
    if (at < 0) { at = find((f) => begins(f, realWords)); partial = at >= 0; }
    if (at < 0) return { real: line, replay: null, stampDiffNs: null, same: false, partial };
    from = at + 1;
    const g = guest[at];
    return { real: line, replay: `${printkTime(g.stamp ?? 0n)} ${g.text}`, same: g.text.trim() === text.trim(), partial,
      stampDiffNs: realStamp !== null && g.stamp !== undefined ? usec(g.stamp) - realStamp : null };
  });
}
