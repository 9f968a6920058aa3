/**
 * A `rewrite` replacement, compiled at load as nginx's script compiler does: literal text,
 * regex captures (`$1`, `${2}`) and variables; a literal `?` starts the new arguments (not in a
 * redirect, which keeps it in the URL). Captures are escaped as nginx escapes them
 * (NGX_ESCAPE_ARGS) in a redirect and in the arguments part, when the request's URI came
 * percent-encoded or with a `+` (nginx's `quoted_uri`, `plus_in_uri`).
 */
import { splitReferences, variableGetter, type VariableSource } from '../../http/variables';

type Part = string | number | ((s: VariableSource) => string);

/** A compiled piece of a replacement: evaluated per request with the captures of the rewrite's match. */
export interface ReplacementPart {
  readonly parts: readonly Part[];
  /** The literal text when it has no capture and no variable. */
  readonly constant: string | null;
}

/** Compiles `text` (throws nginx's `unknown "x" variable`). */
export function compilePart(text: string, captureNames: ReadonlySet<string>): ReplacementPart {
  const parts = splitReferences(text).map((part): Part => {
    if (typeof part === 'string') return part;
    if (/^\d+$/.test(part.name)) return Number(part.name);
    const getter = variableGetter(part.name, captureNames);
    if (!getter) throw new Error(`unknown "${part.name}" variable`);
    return getter;
  });
  return { parts, constant: parts.every((p) => typeof p === 'string') ? parts.join('') : null };
}

/** Evaluates a part: captures from `captures`, escaped when `escape` says so. */
export function evaluatePart(part: ReplacementPart, source: VariableSource, captures: readonly string[], escape: boolean): string {
  if (part.constant !== null) return part.constant;
  let out = '';
  for (const p of part.parts) {
    if (typeof p === 'string') out += p;
    else if (typeof p === 'number') {
      const value = captures[p] ?? '';
      out += escape ? escapeArgs(value) : value;
    } else out += p(source);
  }
  return out;
}

/** nginx's NGX_ESCAPE_ARGS: space, `#`, `%`, `&`, `+`, `;`, `?`, controls and every byte past 0x7e. */
export function escapeArgs(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += byte <= 0x20 || byte >= 0x7f || ' #%&+;?'.includes(c) ? `%${byte.toString(16).toUpperCase().padStart(2, '0')}` : c;
  }
  return out;
}

/**
 * nginx's NGX_UNESCAPE_REDIRECT on a redirect's URL: `%XX` of a printable character above `%`
 * is decoded, any other stays as it is; nothing after the first `?` is touched.
 */
export function unescapeRedirect(url: string): string {
  const query = url.indexOf('?');
  const head = query < 0 ? url : url.slice(0, query);
  const decoded = head.replace(/%([0-9A-Fa-f]{2})/g, (all, hex: string) => {
    const code = parseInt(hex, 16);
    return code > 0x25 && code < 0x7f ? String.fromCharCode(code) : all;
  });
  return query < 0 ? decoded : decoded + url.slice(query);
}
