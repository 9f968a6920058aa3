/**
 * The replacement of a proxy regex rule (`proxy_redirect ~re repl`, `proxy_cookie_path ~re
 * repl`, `proxy_cookie_domain ~re repl`): text with the rule's captures (`$1`, `${2}`, a named
 * group) and variables, compiled once at load, evaluated with a match.
 */
import { compileValue, type CompiledValue } from '../../http/variables';
import type { RequestContext } from '../../types';

/** One part: text, a capture of the rule's match (number or name), or a variable. */
export type ReplacementPart = string | number | { readonly group: string } | CompiledValue;

/** Compiles `text`: `$1`, `${2}` and the regex's named groups read its match; any other name is a variable (throws nginx's `unknown "x" variable`). */
export function compileReplacement(text: string, regex: RegExp, captureNames: ReadonlySet<string>): ReplacementPart[] {
  const groups = new Set([...regex.source.matchAll(/\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/g)].map((m) => m[1]));
  const parts: ReplacementPart[] = [];
  const re = /\$(?:\{([A-Za-z0-9_]+)\}|(\d|[A-Za-z_][A-Za-z0-9_]*))/g;
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m.index > last) parts.push(text.slice(last, m.index));
    const name = m[1] ?? m[2];
    if (/^\d+$/.test(name)) parts.push(Number(name));
    else if (groups.has(name)) parts.push({ group: name });
    else parts.push(compileValue(`\${${name}}`, captureNames));
    last = re.lastIndex;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

/** The replacement made with match `m` (a capture it does not have is empty). */
export function replacementOf(parts: readonly ReplacementPart[], m: RegExpExecArray, ctx: Pick<RequestContext, 'evaluate'>): string {
  let out = '';
  for (const p of parts) {
    if (typeof p === 'string') out += p;
    else if (typeof p === 'number') out += m[p] ?? '';
    else if (typeof p === 'function') out += ctx.evaluate(p);
    else out += m.groups?.[p.group] ?? '';
  }
  return out;
}
