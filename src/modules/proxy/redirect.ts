/**
 * nginx's `proxy_redirect`: the upstream's `Location` and `Refresh` (after `url=`) rewritten
 * by the first rule that matches: a text `redirect` that starts the value (case-sensitively)
 * is replaced; a `~regex` (`~*`: caseless) found anywhere in it makes the whole value the
 * replacement, with the match's captures; `default` is the `proxy_pass` URL replaced by the
 * location's prefix. A rewritten Location that names a path
 * is made absolute as nginx's header filter does (`absolute_redirect on`); one no rule
 * matched is passed as the upstream wrote it.
 */
import type { IncomingMessage } from 'node:http';
import type { ProxyRedirectConf } from './module';
import { compileRegex, type LocationMatch } from '../../config/values';
import { compileReplacement, replacementOf, type ReplacementPart } from './regex-replacement';
import { absoluteLocation, type RedirectConf } from '../../http/redirect';
import type { RequestContext } from '../../types';
import { compileValue, type CompiledValue } from '../../http/variables';
import type { HeaderLine } from './headers';
import type { ProxyTarget } from './target';

/** One compiled rule: a text prefix, or a regex. */
export type RedirectRule =
  | { readonly redirect: CompiledValue; readonly replacement: CompiledValue }
  | { readonly regex: RegExp; readonly parts: readonly ReplacementPart[] };

/**
 * Compiles a location's rules; `default` becomes nginx's: with a URI part in `proxy_pass`,
 * the URL -> the location's prefix; without one, `URL/` -> `/`. Throws on an unknown variable.
 */
export function compileRedirects(
  conf: readonly ProxyRedirectConf[],
  target: ProxyTarget,
  match: LocationMatch,
  locationName: string,
  captureNames: ReadonlySet<string>,
): RedirectRule[] {
  return conf.map((rule) => {
    if (rule === 'default') {
      const prefix = 'path' in match ? match.path : locationName;
      const [redirect, replacement] = target.uriPart !== null ? [target.url, prefix] : [`${target.url}/`, '/'];
      return { redirect: constant(redirect), replacement: constant(replacement) };
    }
    if (rule.redirect.startsWith('~')) {
      const caseless = rule.redirect.startsWith('~*');
      const regex = compileRegex(rule.redirect.slice(caseless ? 2 : 1), caseless);
      return { regex, parts: compileReplacement(rule.replacement, regex, captureNames) };
    }
    return { redirect: compileValue(rule.redirect, captureNames), replacement: compileValue(rule.replacement, captureNames) };
  });
}

/** A value without variables (`default`'s URL and prefix are taken as written). */
function constant(text: string): CompiledValue {
  return Object.assign(() => text, { constant: text });
}

/** `value` from `offset` rewritten by the first rule that matches there, or null when none does. */
export function rewriteRedirect(value: string, offset: number, rules: readonly RedirectRule[], ctx: Pick<RequestContext, 'evaluate'>): string | null {
  for (const rule of rules) {
    if ('regex' in rule) {
      const m = rule.regex.exec(offset ? value.slice(offset) : value);
      if (m) return value.slice(0, offset) + replacementOf(rule.parts, m, ctx);
      continue;
    }
    const redirect = ctx.evaluate(rule.redirect);
    if (value.startsWith(redirect, offset)) return value.slice(0, offset) + ctx.evaluate(rule.replacement) + value.slice(offset + redirect.length);
  }
  return null;
}

/** The response's header lines with Location and Refresh rewritten (a new array only when one was). */
export function rewriteRedirectHeaders(
  lines: readonly HeaderLine[],
  rules: readonly RedirectRule[],
  req: IncomingMessage,
  ctx: RequestContext,
  redirect: RedirectConf,
): readonly HeaderLine[] {
  if (rules.length === 0) return lines;
  let out: HeaderLine[] | null = null;
  for (let i = 0; i < lines.length; i++) {
    const [name, value] = lines[i];
    const lower = name.toLowerCase();
    let rewritten: string | null = null;
    if (lower === 'location') {
      rewritten = rewriteRedirect(value, 0, rules, ctx);
      if (rewritten !== null) rewritten = absoluteLocation(rewritten, redirect, req, ctx);
    } else if (lower === 'refresh') {
      const at = value.toLowerCase().indexOf('url=');
      if (at >= 0) rewritten = rewriteRedirect(value, at + 4, rules, ctx);
    }
    if (rewritten === null) continue;
    out ??= [...lines];
    out[i] = [name, rewritten];
  }
  return out ?? lines;
}
