/**
 * The replacement of a proxy regex rule (`proxy_redirect ~re repl`, `proxy_cookie_path ~re
 * repl`, `proxy_cookie_domain ~re repl`): text with the rule's captures (`$1`, `${2}`, a named
 * group) and variables, compiled once at load, evaluated with a match.
 */
import { compileValue, splitReferences, type CompiledValue } from '../../http/variables';
import type { RequestContext } from '../../types';

/** One part: text, a capture of the rule's match (number or name), or a variable. */
export type ReplacementPart = string | number | { readonly group: string } | CompiledValue;

/** Compiles `text`: `$1`, `${2}` and the regex's named groups read its match; any other name is a variable (throws nginx's `unknown "x" variable`). */
export function compileReplacement(text: string, regex: RegExp, captureNames: ReadonlySet<string>): ReplacementPart[] {
  const groups = new Set([...regex.source.matchAll(/\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/g)].map((m) => m[1]));
  return splitReferences(text).map((part): ReplacementPart => {
    if (typeof part === 'string') return part;
    const { name } = part;
    if (/^\d+$/.test(name)) return Number(name);
    if (groups.has(name)) return { group: name };
    return compileValue(`\${${name}}`, captureNames);
  });
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
