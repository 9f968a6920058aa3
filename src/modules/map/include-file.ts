/**
 * A file a `map` block includes (`include /etc/nginx/mime-map.conf;`), read in nginx's
 * syntax: `key value;` statements, `#` comments, quoted words with nginx's escapes. Each
 * statement keeps the file, line and column of its first word, so an error points into the file.
 */
import type { Position } from '../../errors';

/** One statement: its words, unquoted, and where it starts. */
export interface MapFileStatement {
  readonly words: readonly string[];
  readonly pos: Position;
}

const SPACE = /[ \t\r\n]/;

/** nginx's escapes in a word: `\"`, `\'`, `\\`, `\t`, `\r`, `\n`; any other backslash stays. */
function unescape(raw: string): string {
  return raw.replace(/\\(["'\\trn])/g, (_, c: string) => (c === 't' ? '\t' : c === 'r' ? '\r' : c === 'n' ? '\n' : c));
}

/** Splits `text` (the content of `file`) into statements; throws a one-line reason with the place on bad syntax. */
export function readMapFile(text: string, file: string): MapFileStatement[] {
  const statements: MapFileStatement[] = [];
  let words: string[] = [];
  let start: Position | null = null;
  let line = 1;
  let lineStart = 0;
  const here = (i: number): Position => ({ file, line, col: i - lineStart + 1 });
  const fail = (reason: string, i: number): never => {
    throw Object.assign(new Error(reason), { pos: here(i) });
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '\n') {
      line++;
      lineStart = ++i;
      continue;
    }
    if (SPACE.test(c)) {
      i++;
      continue;
    }
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
      continue;
    }
    if (c === ';') {
      if (!start) fail('unexpected ";"', i);
      statements.push({ words, pos: start! });
      words = [];
      start = null;
      i++;
      continue;
    }
    if (c === '{' || c === '}') fail(`unexpected "${c}"`, i);
    start ??= here(i);
    const quote = c === '"' || c === "'" ? c : null;
    let end = quote ? i + 1 : i;
    while (end < text.length && (quote ? text[end] !== quote : !SPACE.test(text[end]) && !';{}'.includes(text[end]))) {
      if (text[end] === '\n') {
        line++;
        lineStart = end + 1;
      }
      end += text[end] === '\\' && end + 1 < text.length ? 2 : 1;
    }
    if (quote && end >= text.length) fail('unexpected end of file, expecting ";" or "}"', i);
    words.push(unescape(text.slice(quote ? i + 1 : i, end)));
    i = quote ? end + 1 : end;
  }
  if (start) fail('unexpected end of file, expecting ";" or "}"', text.length);
  return statements;
}
