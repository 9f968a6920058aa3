/**
 * nginx's `proxy_cookie_domain`, `proxy_cookie_path` and `proxy_cookie_flags`: each upstream
 * `Set-Cookie` split into its `name=value` and attributes as nginx 1.22 splits it, its
 * `Domain` and `Path` rewritten by the first rule that matches, its `Secure`, `HttpOnly` and
 * `SameSite` set or removed by the first flags rule whose cookie name matches; a header no
 * rule touched is passed as the upstream wrote it, one a rule touched is written again with
 * `; ` between its parts. Rules are compiled once, at load; a request only evaluates them.
 */
import { compileRegex } from '../../config/values';
import { compileValue, type CompiledValue } from '../../http/variables';
import type { RequestContext } from '../../types';
import type { HeaderLine } from './headers';
import { compileReplacement, replacementOf, type ReplacementPart } from './regex-replacement';

/** One `proxy_cookie_domain` or `proxy_cookie_path` as written: `off` is no rule at all. */
export interface CookieRewriteConf {
  /** The text, or `~regex` (`~*regex` for a caseless path). */
  readonly pattern: string;
  readonly replacement: string;
}

/** One `proxy_cookie_flags` as written. */
export interface CookieFlagsConf {
  /** The cookie name (variables allowed), or `~regex` (always caseless, as nginx). */
  readonly cookie: string;
  /** The flags, each possibly with variables (checked per request: an unknown one is ignored). */
  readonly flags: readonly string[];
}

/** Evaluates a compiled value for the request. */
type Evaluator = Pick<RequestContext, 'evaluate'>;

/** A compiled `Domain` or `Path` rule. */
export type CookieValueRule =
  /** `proxy_cookie_domain text`: the whole domain, a leading dot aside, caselessly. */
  | { readonly kind: 'domain'; readonly pattern: CompiledValue; readonly replacement: CompiledValue }
  /** `proxy_cookie_path text`: a prefix of the path, case-sensitively; the prefix is replaced. */
  | { readonly kind: 'prefix'; readonly pattern: CompiledValue; readonly replacement: CompiledValue }
  /** `~regex`: found anywhere in the value, which the replacement then replaces whole. */
  | { readonly kind: 'regex'; readonly regex: RegExp; readonly replacement: readonly ReplacementPart[] };

/** A compiled `proxy_cookie_flags`. */
export interface CookieFlagsRule {
  readonly cookie: RegExp | CompiledValue;
  readonly flags: readonly CompiledValue[];
}

/** A location's cookie rules, compiled. */
export interface CookieRules {
  readonly domains: readonly CookieValueRule[];
  readonly paths: readonly CookieValueRule[];
  readonly flags: readonly CookieFlagsRule[];
}

/** Whether a location has any cookie rule (nginx installs its cookie rewriter only then). */
export function hasCookieRules(rules: CookieRules): boolean {
  return rules.domains.length > 0 || rules.paths.length > 0 || rules.flags.length > 0;
}

/**
 * Compiles a `proxy_cookie_domain` (`domain`) or `proxy_cookie_path` (`path`) rule. A domain's
 * text pattern and replacement lose a leading dot; a domain's regex is always caseless, a
 * path's is caseless with `~*`. Throws nginx's `unknown "x" variable` or the regex's error.
 */
export function compileCookieRewrite(conf: CookieRewriteConf, which: 'domain' | 'path', captureNames: ReadonlySet<string>): CookieValueRule {
  let { pattern, replacement } = conf;
  if (pattern.startsWith('~')) {
    let source = pattern.slice(1);
    let caseless = which === 'domain';
    if (which === 'path' && source.startsWith('*')) {
      source = source.slice(1);
      caseless = true;
    }
    const regex = compileRegex(source, caseless);
    return { kind: 'regex', regex, replacement: compileReplacement(replacement, regex, captureNames) };
  }
  if (which === 'path') return { kind: 'prefix', pattern: compileValue(pattern, captureNames), replacement: compileValue(replacement, captureNames) };
  if (pattern.startsWith('.')) pattern = pattern.slice(1);
  if (replacement.startsWith('.')) replacement = replacement.slice(1);
  return { kind: 'domain', pattern: compileValue(pattern, captureNames), replacement: compileValue(replacement, captureNames) };
}

/** Compiles a `proxy_cookie_flags` rule (a `~` name is a caseless regex). Throws as `compileCookieRewrite`. */
export function compileCookieFlags(conf: CookieFlagsConf, captureNames: ReadonlySet<string>): CookieFlagsRule {
  const cookie = conf.cookie.startsWith('~') ? compileRegex(conf.cookie.slice(1), true) : compileValue(conf.cookie, captureNames);
  return { cookie, flags: conf.flags.map((f) => compileValue(f, captureNames)) };
}

/** The value rewritten by the first rule that matches it, or null when none does. */
export function rewriteCookieValue(value: string, rules: readonly CookieValueRule[], ctx: Evaluator): string | null {
  for (const rule of rules) {
    if (rule.kind === 'regex') {
      const m = rule.regex.exec(value);
      if (m) return replacementOf(rule.replacement, m, ctx);
      continue;
    }
    const pattern = ctx.evaluate(rule.pattern);
    if (rule.kind === 'prefix') {
      if (value.startsWith(pattern)) return ctx.evaluate(rule.replacement) + value.slice(pattern.length);
      continue;
    }
    const dot = value.startsWith('.') ? '.' : '';
    if (value.slice(dot.length).toLowerCase() === pattern.toLowerCase()) return dot + ctx.evaluate(rule.replacement);
  }
  return null;
}

/** One `;`-separated part of a Set-Cookie: `key=value`, or `key` alone (value null). */
export interface CookieAttribute {
  key: string;
  value: string | null;
}

/** nginx's split of a Set-Cookie: on `;`, spaces (not tabs) trimmed around the key and the value. */
export function parseSetCookie(header: string): CookieAttribute[] {
  return header.split(';').map((part) => {
    const eq = part.indexOf('=');
    if (eq < 0) return { key: trimSpaces(part), value: null };
    return { key: trimSpaces(part.slice(0, eq)), value: trimSpaces(part.slice(eq + 1)) };
  });
}

function trimSpaces(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && s.charCodeAt(start) === 0x20) start++;
  while (end > start && s.charCodeAt(end - 1) === 0x20) end--;
  return s.slice(start, end);
}

/** The attributes written back: `; ` between them. */
export function formatSetCookie(attributes: readonly CookieAttribute[]): string {
  return attributes.map((a) => (a.value === null ? a.key : `${a.key}=${a.value}`)).join('; ');
}

const SECURE = 0x1;
const NO_SECURE = 0x2;
const HTTP_ONLY = 0x4;
const NO_HTTP_ONLY = 0x8;
const STRICT = 0x10;
const LAX = 0x20;
const NONE = 0x40;
const NO_SAMESITE = 0x80;

/** The flags nginx knows, by lower-case name. */
const FLAG_BITS: ReadonlyMap<string, number> = new Map([
  ['secure', SECURE],
  ['nosecure', NO_SECURE],
  ['httponly', HTTP_ONLY],
  ['nohttponly', NO_HTTP_ONLY],
  ['samesite=strict', STRICT],
  ['samesite=lax', LAX],
  ['samesite=none', NONE],
  ['nosamesite', NO_SAMESITE],
]);

/** The flags of the first rule naming this cookie (caselessly), as bits; 0 when none does or it has none nginx knows. */
export function cookieFlagsFor(name: string, rules: readonly CookieFlagsRule[], ctx: Evaluator): number {
  const rule = rules.find((r) => (r.cookie instanceof RegExp ? r.cookie.test(name) : ctx.evaluate(r.cookie).toLowerCase() === name.toLowerCase()));
  let bits = 0;
  for (const flag of rule?.flags ?? []) bits |= FLAG_BITS.get(ctx.evaluate(flag).toLowerCase()) ?? 0;
  return bits;
}

/**
 * Applies flag bits to the attributes, as nginx: an existing `Secure`/`HttpOnly` is kept when
 * set, removed when unset (every occurrence); an existing `SameSite` of another value becomes
 * the one asked for (the first occurrence), or is removed by `nosamesite`; what is asked for
 * and absent is added at the end (`Secure`, `HttpOnly`, `SameSite=...`).
 */
export function applyCookieFlags(attributes: CookieAttribute[], bits: number): CookieAttribute[] {
  const kept: CookieAttribute[] = [attributes[0]];
  for (const attr of attributes.slice(1)) {
    const key = attr.key.toLowerCase();
    if (key === 'secure' || key === 'httponly') {
      const [on, off] = key === 'secure' ? [SECURE, NO_SECURE] : [HTTP_ONLY, NO_HTTP_ONLY];
      if (bits & on) bits &= ~on;
      else if (bits & off) continue;
    } else if (key === 'samesite') {
      const wanted = bits & STRICT ? 'Strict' : bits & LAX ? 'Lax' : bits & NONE ? 'None' : null;
      if (wanted) {
        bits &= ~(bits & STRICT ? STRICT : bits & LAX ? LAX : NONE);
        if (attr.value?.toLowerCase() !== wanted.toLowerCase()) {
          kept.push({ key: 'SameSite', value: wanted });
          continue;
        }
      } else if (bits & NO_SAMESITE) continue;
    }
    kept.push(attr);
  }
  if (bits & SECURE) kept.push({ key: 'Secure', value: null });
  if (bits & HTTP_ONLY) kept.push({ key: 'HttpOnly', value: null });
  if (bits & (STRICT | LAX | NONE)) kept.push({ key: 'SameSite', value: bits & STRICT ? 'Strict' : bits & LAX ? 'Lax' : 'None' });
  return kept;
}

/**
 * One Set-Cookie value rewritten by the rules, or null when no rule touched it (nor when its
 * first part has no `=`: nginx leaves such a header alone).
 */
export function rewriteSetCookie(header: string, rules: CookieRules, ctx: Evaluator): string | null {
  let attributes = parseSetCookie(header);
  if (attributes[0].value === null) return null;
  let changed = false;
  for (const attr of attributes.slice(1)) {
    if (attr.value === null) continue;
    const key = attr.key.toLowerCase();
    const rewritten = key === 'domain' ? rewriteCookieValue(attr.value, rules.domains, ctx) : key === 'path' ? rewriteCookieValue(attr.value, rules.paths, ctx) : null;
    if (rewritten === null) continue;
    attr.value = rewritten;
    changed = true;
  }
  if (rules.flags.length) {
    const bits = cookieFlagsFor(attributes[0].key, rules.flags, ctx);
    if (bits) {
      attributes = applyCookieFlags(attributes, bits);
      changed = true;
    }
  }
  return changed ? formatSetCookie(attributes) : null;
}

/** The response's header lines with each Set-Cookie rewritten (a new array only when one was). */
export function rewriteCookieHeaders(lines: readonly HeaderLine[], rules: CookieRules, ctx: Evaluator): readonly HeaderLine[] {
  let out: HeaderLine[] | null = null;
  for (let i = 0; i < lines.length; i++) {
    const [name, value] = lines[i];
    if (name.toLowerCase() !== 'set-cookie') continue;
    const rewritten = rewriteSetCookie(value, rules, ctx);
    if (rewritten === null) continue;
    out ??= [...lines];
    out[i] = [name, rewritten];
  }
  return out ?? lines;
}
