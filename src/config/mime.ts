/**
 * MIME type tables for `types`: the built-in one (the mime-db table, through `mime-types`, the
 * only importer of it), an nginx-format `mime.types` file, or a YAML map of type -> extensions.
 */
import mimeTypes from 'mime-types';

/** A MIME type table (`types`), looked up by lower-case file extension. */
export type MimeTypes = ReadonlyMap<string, string>;

/** The full built-in table, by extension: what `types` means when it is not set. */
export const BUILTIN_TYPES: MimeTypes = new Map(Object.entries(mimeTypes.types));

/** nginx's white space between words (ngx_conf_read_token): a no-break space or U+3000 is part of a word. */
const WORD_GAP = /[ \t\r\n]+/;
const isGap = (c: string) => c === ' ' || c === '\t' || c === '\r' || c === '\n';

/** `text` without nginx's white space at either end (a loop: `/[ \t]+$/` takes quadratic time on a long run of spaces). */
function trimGaps(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isGap(text[start])) start++;
  while (end > start && isGap(text[end - 1])) end--;
  return text.slice(start, end);
}

/**
 * Parses nginx's `types { text/html html htm; ... }` format (the `types {` wrapper is optional;
 * `#` starts a comment). Throws with the line number on a malformed entry.
 */
export function parseNginxTypes(text: string): MimeTypes {
  const table = new Map<string, string>();
  const body = text.replace(/#[^\n]*/g, '');
  const inner = /^[ \t\r\n]*types[ \t\r\n]*\{([^]*)\}[ \t\r\n]*$/.exec(body);
  const statements = (inner ? inner[1] : body).split(';');
  const last = trimGaps(statements.pop() ?? '');
  if (last) throw new Error(`unexpected end of file, expecting ";" after "${last.split(WORD_GAP)[0]}"`);
  for (const statement of statements) {
    const words = trimGaps(statement).split(WORD_GAP).filter(Boolean);
    if (words.length === 0) continue;
    const [type, ...extensions] = words;
    if (!type.includes('/') || extensions.length === 0) throw new Error(`invalid types entry "${trimGaps(statement)}"`);
    for (const ext of extensions) table.set(ext.toLowerCase(), type);
  }
  return table;
}

/** A YAML map `{ "text/html": "html htm" }` or `{ "text/html": [html, htm] }` as a table. */
export function typesFromMap(map: Readonly<Record<string, unknown>>): MimeTypes {
  const table = new Map<string, string>();
  for (const [type, exts] of Object.entries(map)) {
    const list = Array.isArray(exts) ? exts : String(exts ?? '').split(WORD_GAP);
    if (!type.includes('/')) throw new Error(`invalid MIME type "${type}"`);
    for (const ext of list) if (ext) table.set(String(ext).toLowerCase(), type);
  }
  return table;
}
