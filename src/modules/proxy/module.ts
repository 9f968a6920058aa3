/**
 * nginx's ngx_http_proxy_module and ngx_http_upstream_module directives: `proxy_pass` (which
 * makes the location's handler `proxy`), the request side (`proxy_set_header`, timeouts,
 * `proxy_http_version`, `proxy_request_buffering`, `proxy_next_upstream*`), the response side
 * (`proxy_buffering`, `proxy_hide_header`, `proxy_pass_header`, `proxy_redirect`,
 * `proxy_cookie_domain`, `proxy_cookie_path`, `proxy_cookie_flags`) and the http block's `upstreams`.
 */
import { NO_SIZE, sizeValue, type SizeValue } from '../limit-rate/rate-value';
import { argsOf, flag, guard, integer, namedPairs, occurrences, onOffArgs, oneOf, text, time, timerTime, type ParseContext } from '../../config/args';
import type { ConfNode } from '../../config/load';
import { INHERITED, row, type ConfModule } from '../../config/module';
import { compileValue } from '../../http/variables';
import { compileRegex } from '../../config/values';
import { compileReplacement } from './regex-replacement';
import { parseUpstreams, type UpstreamConf } from './upstreams';
import { parseScriptRef } from '../../shared/script-loader';
import { compileCookieFlags, compileCookieRewrite, type CookieFlagsConf, type CookieRewriteConf } from './cookies';

/**
 * One `proxy_redirect`: `default` (the `proxy_pass` URL replaced by the location's prefix,
 * resolved by the proxy handler) or `redirect replacement`, both may hold variables.
 */
export type ProxyRedirectConf = 'default' | { readonly redirect: string; readonly replacement: string };

/** What `proxy_next_upstream` may name. */
export type NextUpstreamCondition =
  | 'error' | 'timeout' | 'invalid_header' | 'non_idempotent'
  | 'http_500' | 'http_502' | 'http_503' | 'http_504' | 'http_403' | 'http_404' | 'http_429';

/** The proxy module's conf of a block. */
export interface ProxyConf {
  /** `proxy_pass` (a location's own: not inherited). */
  readonly proxyPass: string | null;
  /** `upstreams` (http), by name. */
  readonly upstreams: ReadonlyMap<string, UpstreamConf>;
  readonly proxySetHeaders: readonly (readonly [string, string])[];
  readonly proxyConnectTimeout: number;
  readonly proxyReadTimeout: number;
  readonly proxySendTimeout: number;
  readonly proxyHttpVersion: '1.0' | '1.1';
  /** `proxy_next_upstream`: the conditions that pass a request to the next peer (`error timeout`); empty is `off`. */
  readonly proxyNextUpstream: readonly NextUpstreamCondition[];
  /** `proxy_next_upstream_tries` (0: no limit). */
  readonly proxyNextUpstreamTries: number;
  /** `proxy_next_upstream_timeout` in ms (0: no limit). */
  readonly proxyNextUpstreamTimeout: number;
  /** `proxy_buffering`: read the upstream's response ahead of the client (on), or pass each chunk at once (off). */
  readonly proxyBuffering: boolean;
  /** `proxy_request_buffering`: read the client's body whole before the upstream is contacted (on, nginx's default). */
  readonly proxyRequestBuffering: boolean;
  /** `proxy_hide_header`: upstream response headers not passed on, besides nginx's default list. */
  readonly proxyHideHeaders: readonly string[];
  /** `proxy_pass_header`: headers of nginx's default hidden list passed on after all. */
  readonly proxyPassHeaders: readonly string[];
  /** `proxy_redirect`: how Location and Refresh are rewritten; `off` is an empty list. */
  readonly proxyRedirect: readonly ProxyRedirectConf[];
  /** `proxy_cookie_domain`: the Set-Cookie `Domain` rewrites; `off` (the default) is an empty list. */
  readonly proxyCookieDomain: readonly CookieRewriteConf[];
  /** `proxy_cookie_path`: the Set-Cookie `Path` rewrites; `off` is an empty list. */
  readonly proxyCookiePath: readonly CookieRewriteConf[];
  /** `proxy_cookie_flags`: Set-Cookie flags per cookie name; `off` is an empty list. */
  readonly proxyCookieFlags: readonly CookieFlagsConf[];
  /** `proxy_ignore_client_abort`: a client that leaves does not take the upstream request down (its response is read to the end, 499 logged). */
  readonly proxyIgnoreClientAbort: boolean;
  /** `proxy_limit_rate`: bytes per second the upstream's response is read at, per request, when buffered (0: no limit; variables as nginx 1.27). */
  readonly proxyLimitRate: SizeValue;
}

/** `proxy_set_header` (and `grpc_set_header`): `name value` pairs, each value's variables known. */
export function setHeaders(node: ConfNode, cx: ParseContext, name = 'proxy_set_header'): (readonly [string, string])[] {
  const headers = namedPairs(node, cx, name).map(({ args, node: n }) => {
    if (args.length !== 2) cx.fail(`invalid number of arguments in "${name}" directive`, n);
    return [args[0], args[1]] as const;
  });
  for (const [, value] of headers) {
    try {
      compileValue(value, cx.captureNames);
    } catch (err) {
      cx.fail((err as Error).message, node);
    }
  }
  return headers;
}

const NEXT_UPSTREAM: readonly NextUpstreamCondition[] = [
  'error', 'timeout', 'invalid_header', 'non_idempotent', 'http_500', 'http_502', 'http_503', 'http_504', 'http_403', 'http_404', 'http_429',
];

/** `proxy_next_upstream` (and `grpc_next_upstream`): conditions, or `off` alone (an empty list). */
export function nextUpstream(node: ConfNode, cx: ParseContext, name = 'proxy_next_upstream'): NextUpstreamCondition[] {
  const args = argsOf(node, cx, true);
  if (args.length === 0) cx.fail(`invalid number of arguments in "${name}" directive`, node);
  if (args.includes('off')) {
    if (args.length !== 1) cx.fail(`invalid value "off" in "${name}" directive`, node);
    return [];
  }
  for (const arg of args) if (!(NEXT_UPSTREAM as readonly string[]).includes(arg)) cx.fail(`invalid value "${arg}" in "${name}" directive`, node);
  return args as NextUpstreamCondition[];
}

/** `proxy_hide_header` and `proxy_pass_header` (and grpc's): one header name per occurrence. */
export function headerNames(node: ConfNode, cx: ParseContext, name: string): string[] {
  return occurrences(node).map((n) => {
    const args = argsOf(n, cx);
    if (args.length !== 1) cx.fail(`invalid number of arguments in "${name}" directive`, n);
    return args[0];
  });
}

/**
 * `proxy_redirect`: `off` alone, or occurrences of `default` and `redirect replacement`.
 * A `~regex` (`~*regex`: caseless) redirect is checked here, compiled with the location.
 */
function proxyRedirect(node: ConfNode, cx: ParseContext): ProxyRedirectConf[] {
  const all = occurrences(node);
  const rules: ProxyRedirectConf[] = [];
  for (const n of all) {
    const args = onOffArgs(n, cx);
    if (args.length === 1 && args[0] === 'off') {
      if (all.length !== 1) cx.fail('"proxy_redirect" directive is duplicate', n);
      return [];
    }
    if (args.length === 1 && args[0] === 'default') {
      rules.push('default');
      continue;
    }
    if (args.length === 1) cx.fail(`invalid parameter "${args[0]}"`, n);
    if (args.length !== 2) cx.fail('invalid number of arguments in "proxy_redirect" directive', n);
    try {
      if (args[0].startsWith('~')) compileReplacement(args[1], compileRegex(args[0].slice(args[0].startsWith('~*') ? 2 : 1), false), cx.captureNames);
      else for (const arg of args) compileValue(arg, cx.captureNames);
    } catch (err) {
      cx.fail(`${(err as Error).message} in "proxy_redirect"`, n);
    }
    rules.push({ redirect: args[0], replacement: args[1] });
  }
  return rules;
}

/**
 * The occurrences of a `proxy_cookie_*` directive: `off` alone (nginx: "is duplicate" beside
 * any other), or rules of 2 to `max` words, each checked by `check` (variables, regexes).
 */
function cookieRules(node: ConfNode, cx: ParseContext, name: string, max: number, check: (args: string[]) => void): string[][] {
  const all = occurrences(node);
  const rules: string[][] = [];
  for (const [i, n] of all.entries()) {
    const args = onOffArgs(n, cx);
    if (args.length === 1 && args[0] === 'off') {
      // nginx blames the second occurrence: the one after `off`, or `off` after rules.
      if (all.length !== 1) cx.fail(`"${name}" directive is duplicate`, all[Math.max(i, 1)]);
      return [];
    }
    if (args.length === 0 || args.length > max) cx.fail(`invalid number of arguments in "${name}" directive`, n);
    if (args.length === 1) cx.fail(`invalid parameter "${args[0]}"`, n);
    guard(n, cx, () => check(args));
    rules.push(args);
  }
  return rules;
}

/** `proxy_cookie_domain` and `proxy_cookie_path`: `off`, or `pattern replacement` (text or `~regex`). */
function cookieRewrites(which: 'domain' | 'path') {
  return (node: ConfNode, cx: ParseContext, name: string): CookieRewriteConf[] =>
    cookieRules(node, cx, name, 2, ([pattern, replacement]) => void compileCookieRewrite({ pattern, replacement }, which, cx.captureNames)).map(([pattern, replacement]) => ({
      pattern,
      replacement,
    }));
}

/** `proxy_cookie_flags`: `off`, or a cookie name (or `~regex`) and one to three flags. */
function cookieFlags(node: ConfNode, cx: ParseContext, name: string): CookieFlagsConf[] {
  return cookieRules(node, cx, name, 4, ([cookie, ...flags]) => void compileCookieFlags({ cookie, flags }, cx.captureNames)).map(([cookie, ...flags]) => ({ cookie, flags }));
}

/** `upstreams`: the http block's map of upstream blocks, `hash` keys' variables known. */
function upstreams(node: ConfNode, cx: ParseContext): Map<string, UpstreamConf> {
  return parseUpstreams(node, cx.fail, (key) => void compileValue(key, cx.captureNames), (n) => parseScriptRef(n, cx, 'balancer_by'));
}

export const proxyModule: ConfModule<ProxyConf> = {
  name: 'proxy',
  directives: {
    proxy_pass: row(['location'], text, { inherit: false }),
    upstreams: row(['http'], upstreams),
    // Only inside an upstream block (read by `upstreams`): anywhere else it is misplaced.
    balancer_by: row([], () => null),
    proxy_set_header: row(INHERITED, setHeaders, { field: 'proxySetHeaders', multiple: true }),
    proxy_connect_timeout: row(INHERITED, timerTime),
    proxy_read_timeout: row(INHERITED, timerTime),
    proxy_send_timeout: row(INHERITED, timerTime),
    proxy_http_version: row(INHERITED, oneOf(['1.0', '1.1'])),
    proxy_next_upstream: row(INHERITED, nextUpstream),
    proxy_next_upstream_tries: row(INHERITED, integer(0, 1_000_000)),
    proxy_next_upstream_timeout: row(INHERITED, time),
    proxy_buffering: row(INHERITED, flag),
    proxy_request_buffering: row(INHERITED, flag),
    proxy_hide_header: row(INHERITED, headerNames, { field: 'proxyHideHeaders', multiple: true }),
    proxy_pass_header: row(INHERITED, headerNames, { field: 'proxyPassHeaders', multiple: true }),
    proxy_redirect: row(INHERITED, proxyRedirect, { multiple: true }),
    proxy_cookie_domain: row(INHERITED, cookieRewrites('domain'), { multiple: true }),
    proxy_cookie_path: row(INHERITED, cookieRewrites('path'), { multiple: true }),
    proxy_cookie_flags: row(INHERITED, cookieFlags, { multiple: true }),
    proxy_ignore_client_abort: row(INHERITED, flag),
    proxy_limit_rate: row(INHERITED, sizeValue),
  },
  defaults: () => ({
    proxyPass: null,
    upstreams: new Map(),
    proxySetHeaders: [],
    proxyConnectTimeout: 60_000,
    proxyReadTimeout: 60_000,
    proxySendTimeout: 60_000,
    proxyHttpVersion: '1.0',
    proxyNextUpstream: ['error', 'timeout'],
    proxyNextUpstreamTries: 0,
    proxyNextUpstreamTimeout: 0,
    proxyBuffering: true,
    proxyRequestBuffering: true,
    proxyHideHeaders: [],
    proxyPassHeaders: [],
    proxyRedirect: ['default'],
    proxyCookieDomain: [],
    proxyCookiePath: [],
    proxyCookieFlags: [],
    proxyIgnoreClientAbort: false,
    proxyLimitRate: NO_SIZE,
  }),
  /**
   * nginx refuses `proxy_redirect default` in a block without `proxy_pass` (http, server, or a
   * location that does not proxy): "default" is the `proxy_pass` URL, which only a proxying
   * location has.
   */
  check(_conf, own, block, fail) {
    if (own.proxyRedirect?.includes('default') && own.proxyPass === undefined) {
      fail('"proxy_redirect default" should be placed after the "proxy_pass" directive', block.at('proxy_redirect'));
    }
  },
  implies: { proxy_pass: 'proxy' },
};
