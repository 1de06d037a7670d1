// JSON as scenario and campaign files are read: JSON.parse, plus what it lets
// through silently -- a key given twice in one object (JSON.parse keeps the
// last; YAML refuses it). JSON.parse's reviver cannot see duplicates, and the
// well-kept JSON parsers (json-parse-even-better-errors, jsonc-parser, momoa)
// do not refuse them, so this is a small scanner over text JSON.parse has
// already accepted: iterative (any depth), exact (each key decoded by
// JSON.parse itself, so "a" and "\u0061" are the same key).

/** A key given twice: where (the path of the second one, and its line and column), and which. */
export interface DuplicateKey { path: string; key: string; line: number; column: number }

/** A JSON text that cannot be used: the message says where. */
export class JsonInputError extends Error {}

interface Frame { keys: Set<string> | null; key: string; index: number; expectKey: boolean }

const pathOf = (stack: Frame[]): string => stack.reduce((acc, f) => (f.keys ? (acc ? `${acc}.${f.key}` : f.key) : `${acc}[${f.index}]`), '');

/** The first key that appears twice in one object of `text` (valid JSON: check it with JSON.parse first), or null. */
export function findDuplicateKey(text: string): DuplicateKey | null {
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top?.keys && top.expectKey) {
        const raw = text.slice(i + 1, j), key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
        if (top.keys.has(key)) {
          const before = text.slice(0, i), line = before.split('\n').length;
          top.key = key;
          return { path: pathOf(stack), key, line, column: i - before.lastIndexOf('\n') };
        }
        top.keys.add(key);
        top.key = key;
      }
      i = j;
      continue;
    }
    const top = stack[stack.length - 1];
    if (c === '{') stack.push({ keys: new Set(), key: '', index: 0, expectKey: true });
    else if (c === '[') stack.push({ keys: null, key: '', index: 0, expectKey: false });
    else if (c === '}' || c === ']') stack.pop();
    else if (!top) continue;
    else if (c === ':') top.expectKey = false;
    else if (c === ',') { if (top.keys) top.expectKey = true; else top.index++; }
  }
  return null;
}

/**
 * JSON.parse for files people write: a leading byte-order mark is skipped, a syntax error and a duplicate key are
 * JsonInputErrors that name the place (the caller adds the file's name).
 */
export function parseJsonStrict(text: string): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (e) {
    throw new JsonInputError((e as Error).message.split('\n')[0]);
  }
  const dup = findDuplicateKey(body);
  if (dup) throw new JsonInputError(`${dup.path}: the key "${dup.key}" appears twice in one object (line ${dup.line}, column ${dup.column}); JSON.parse would keep the last silently`);
  return value;
}
