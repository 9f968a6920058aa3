/**
 * nginx's configuration grammar, token by token, as ngx_conf_read_token reads it: words split at
 * spaces, tabs, CR and LF; `;` ends a directive, `{` opens a block, `}` closes one; `#` starts a
 * comment only where a word could start; a word that starts with a quote runs to the matching
 * quote (`\"`, `\'`, `\\`, `\t`, `\r`, `\n` are its escapes, any other backslash stays); a
 * backslash anywhere escapes the next character; `${` does not open a block; after a closing
 * quote only a space, `;`, `{` or `)` may follow. Errors have nginx's wording, at the line and
 * column where the reader stands (for an end of file inside a word or a statement: where it
 * began).
 */
import { ConfigError, type Position } from '../../errors';

/** One word of a directive: its text once unquoted and unescaped, and where it stands in the file. */
export interface Word {
  /** The argument as nginx hands it to the directive. */
  readonly text: string;
  /** Offsets of the word as written, quotes included: `source.slice(start, end)`. */
  readonly start: number;
  readonly end: number;
  readonly pos: Position;
}

/** What ends a statement: `;`, `{` (a block opens), `}` (a block closes) or the end of the file. */
export type Statement =
  | { readonly kind: 'directive' | 'block'; readonly words: readonly Word[]; readonly end: Position }
  | { readonly kind: 'close'; readonly pos: Position }
  | { readonly kind: 'eof'; readonly pos: Position };

const isSpace = (c: string) => c === ' ' || c === '\t' || c === '\r' || c === '\n';

/** nginx's escapes in a word: `\"`, `\'`, `\\` stand for the character, `\t`, `\r`, `\n` for control characters; any other backslash stays. */
export function unescapeWord(raw: string): string {
  return raw.replace(/\\(["'\\trn])/g, (_, c: string) => (c === 't' ? '\t' : c === 'r' ? '\r' : c === 'n' ? '\n' : c));
}

/** Reads one file's text statement by statement. */
export class Lexer {
  private offset = 0;
  private line = 1;
  private lineStart = 0;

  constructor(
    readonly source: string,
    private readonly file: string,
  ) {}

  /** The position of `offset` (which must not be behind the last line start seen). */
  private at(offset: number, line = this.line, lineStart = this.lineStart): Position {
    return { file: this.file, line, col: offset - lineStart + 1 };
  }

  /** The position the reader stands at. */
  here(): Position {
    return this.at(this.offset);
  }

  private fail(reason: string, pos: Position = this.at(Math.max(this.offset - 1, this.lineStart))): never {
    throw new ConfigError(reason, pos);
  }

  /** The next statement: a directive's words up to `;` or `{`, a `}`, or the end of the file. */
  next(): Statement {
    const text = this.source;
    const words: Word[] = [];
    let lastSpace = true;
    let needSpace = false;
    let comment = false;
    let escaped = false;
    let doubleQuoted = false;
    let singleQuoted = false;
    let variable = false;
    let start = this.offset;
    let rawStart = start;
    let startPos = this.here();
    for (;;) {
      if (this.offset >= text.length) {
        if (words.length > 0 || !lastSpace) {
          const began = doubleQuoted || singleQuoted || !lastSpace ? startPos : words[0].pos;
          this.fail('unexpected end of file, expecting ";" or "}"', began);
        }
        return { kind: 'eof', pos: this.here() };
      }
      const ch = text[this.offset++];
      if (ch === '\n') {
        this.line++;
        this.lineStart = this.offset;
        comment = false;
      }
      if (comment) continue;
      if (escaped) {
        escaped = false;
        continue;
      }
      if (needSpace) {
        if (isSpace(ch)) {
          lastSpace = true;
          needSpace = false;
          continue;
        }
        if (ch === ';') return { kind: 'directive', words, end: this.at(this.offset - 1) };
        if (ch === '{') return { kind: 'block', words, end: this.at(this.offset - 1) };
        if (ch !== ')') this.fail(`unexpected "${ch}"`);
        lastSpace = true;
        needSpace = false;
      }
      if (lastSpace) {
        if (isSpace(ch)) continue;
        start = this.offset - 1;
        rawStart = start;
        startPos = this.at(start);
        switch (ch) {
          case ';':
          case '{':
            if (words.length === 0) this.fail(`unexpected "${ch}"`);
            return { kind: ch === '{' ? 'block' : 'directive', words, end: this.at(this.offset - 1) };
          case '}':
            if (words.length !== 0) this.fail('unexpected "}"');
            return { kind: 'close', pos: this.at(this.offset - 1) };
          case '#':
            comment = true;
            continue;
          case '\\':
            escaped = true;
            lastSpace = false;
            continue;
          case '"':
            start++;
            doubleQuoted = true;
            lastSpace = false;
            continue;
          case "'":
            start++;
            singleQuoted = true;
            lastSpace = false;
            continue;
          case '$':
            variable = true;
            lastSpace = false;
            continue;
          default:
            lastSpace = false;
            continue;
        }
      }
      if (ch === '{' && variable) continue;
      variable = false;
      if (ch === '\\') {
        escaped = true;
        continue;
      }
      if (ch === '$') {
        variable = true;
        continue;
      }
      let found = false;
      if (doubleQuoted) {
        if (ch === '"') {
          doubleQuoted = false;
          needSpace = true;
          found = true;
        }
      } else if (singleQuoted) {
        if (ch === "'") {
          singleQuoted = false;
          needSpace = true;
          found = true;
        }
      } else if (isSpace(ch) || ch === ';' || ch === '{') {
        lastSpace = true;
        found = true;
      }
      if (!found) continue;
      const quoted = needSpace;
      words.push({
        text: unescapeWord(text.slice(start, this.offset - 1)),
        start: rawStart,
        end: quoted ? this.offset : this.offset - 1,
        pos: startPos,
      });
      if (ch === ';') return { kind: 'directive', words, end: this.at(this.offset - 1) };
      if (ch === '{') return { kind: 'block', words, end: this.at(this.offset - 1) };
    }
  }

  /**
   * The body of a `*_by_lua_block { ... }` (the reader stands just after its `{`): Lua text up
   * to the `}` that closes it, braces inside Lua strings, long strings and comments not counted
   * (lua-nginx-module's rule). Returns the body as written and where it starts; the reader
   * then stands after the closing `}`.
   */
  luaBlock(opened: Position): { text: string; pos: Position } {
    const text = this.source;
    const begin = this.offset;
    const pos = this.here();
    let depth = 0;
    const advanceTo = (to: number) => {
      for (let i = this.offset; i < to; i++) {
        if (text[i] === '\n') {
          this.line++;
          this.lineStart = i + 1;
        }
      }
      this.offset = to;
    };
    const unclosed = (what: string): never => this.fail(`Lua code block missing the closing ${what}`, opened);
    while (this.offset < text.length) {
      const ch = text[this.offset];
      if (ch === '{') {
        depth++;
        advanceTo(this.offset + 1);
      } else if (ch === '}') {
        if (depth === 0) {
          const body = text.slice(begin, this.offset);
          advanceTo(this.offset + 1);
          return { text: body, pos };
        }
        depth--;
        advanceTo(this.offset + 1);
      } else if (ch === '"' || ch === "'") {
        let i = this.offset + 1;
        while (i < text.length && text[i] !== ch && text[i] !== '\n') i += text[i] === '\\' ? 2 : 1;
        if (i >= text.length || text[i] !== ch) unclosed('quote');
        advanceTo(i + 1);
      } else if (ch === '-' && text[this.offset + 1] === '-') {
        const long = longBracketLevel(text, this.offset + 2);
        if (long !== null) {
          const close = text.indexOf(`]${'='.repeat(long)}]`, this.offset + 2);
          if (close < 0) unclosed('long bracket');
          advanceTo(close + long + 2);
        } else {
          const eol = text.indexOf('\n', this.offset);
          advanceTo(eol < 0 ? text.length : eol);
        }
      } else if (ch === '[' && longBracketLevel(text, this.offset) !== null) {
        const long = longBracketLevel(text, this.offset)!;
        const close = text.indexOf(`]${'='.repeat(long)}]`, this.offset);
        if (close < 0) unclosed('long bracket');
        advanceTo(close + long + 2);
      } else advanceTo(this.offset + 1);
    }
    return this.fail('unexpected end of file, expecting "}"', opened);
  }
}

/** The level of a Lua long bracket (`[[` is 0, `[==[` is 2) opening at `at`, or null. */
function longBracketLevel(text: string, at: number): number | null {
  if (text[at] !== '[') return null;
  let i = at + 1;
  while (text[i] === '=') i++;
  return text[i] === '[' ? i - at - 1 : null;
}
