/**
 * MIME type tables for `types`: the built-in one (the mime-db table, through `mime-types`, the
 * only importer of it), an nginx-format `mime.types` file, or a YAML map of type -> extensions.
 */
import mimeTypes from 'mime-types';
import type { MimeTypes } from './model';

/** The full built-in table, by extension: what `types` means when it is not set. */
export const BUILTIN_TYPES: MimeTypes = new Map(Object.entries(mimeTypes.types));

/**
 * Parses nginx's `types { text/html html htm; ... }` format (the `types {` wrapper is optional;
 * `#` starts a comment). Throws with the line number on a malformed entry.
 */
export function parseNginxTypes(text: string): MimeTypes {
  const table = new Map<string, string>();
  const body = text.replace(/#[^\n]*/g, '');
  const inner = /^\s*types\s*\{([\s\S]*)\}\s*$/.exec(body);
  const statements = (inner ? inner[1] : body).split(';');
  const last = statements.pop();
  if (last && last.trim()) throw new Error(`unexpected end of file, expecting ";" after "${last.trim().split(/\s+/)[0]}"`);
  for (const statement of statements) {
    const words = statement.trim().split(/\s+/).filter(Boolean);
    if (words.length === 0) continue;
    const [type, ...extensions] = words;
    if (!type.includes('/') || extensions.length === 0) throw new Error(`invalid types entry "${statement.trim()}"`);
    for (const ext of extensions) table.set(ext.toLowerCase(), type);
  }
  return table;
}

/** A YAML map `{ "text/html": "html htm" }` or `{ "text/html": [html, htm] }` as a table. */
export function typesFromMap(map: Readonly<Record<string, unknown>>): MimeTypes {
  const table = new Map<string, string>();
  for (const [type, exts] of Object.entries(map)) {
    const list = Array.isArray(exts) ? exts : String(exts ?? '').split(/\s+/);
    if (!type.includes('/')) throw new Error(`invalid MIME type "${type}"`);
    for (const ext of list) if (ext) table.set(String(ext).toLowerCase(), type);
  }
  return table;
}
