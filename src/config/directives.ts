/**
 * The directive table: for each nginx directive the gateway knows, where it may stand, how its
 * value is parsed, and the field it fills. Inheritance is one merge step (`mergeCommon`) with
 * nginx's defaults written once, in `COMMON_DEFAULTS`.
 */
import path from 'node:path';
import { compileAccessRules, mergeAccessRules, type AccessRules, type AccessRuleText } from '../modules/access/access-rules';
import { ConfigError } from '../errors';
import type { ConfNode } from './load';
import { plainValue } from './load';
import { parseExpires } from '../modules/headers/expires';
import { checkTryFiles } from '../modules/core/try-files';
import { TLS_PROTOCOLS } from '../server/tls';
import { BUILTIN_TYPES, parseNginxTypes, typesFromMap } from './mime';
import { headerNames, proxyRedirect } from '../modules/proxy/directives';
import type { NextUpstreamCondition, LogFormatConf, AccessLogConf, AddHeaderConf, CommonConf, ErrorLogConf, ErrorPageConf, LogLevel, ReturnConf } from './model';
import { compileRegex, MAX_TIMER_MS, parseBoundedTime, parseDisableSymlinks, parseFlag, parseListen, parseOpenFileCache, parseRedisUrl, parseServerName, parseSize, parseTime, splitArgs } from './values';

export type Context = 'main' | 'events' | 'http' | 'server' | 'location';

/** What a directive's parser may use: where the file is, and how to fail at a node. */
export interface ParseContext {
  readonly file: string;
  readonly prefix: string;
  /** Reads a file the configuration names (`types`), through the configuration's sources. */
  readFile(file: string): string;
  fail(reason: string, node: ConfNode): never;
}

/** One row of the table. */
export interface Directive {
  readonly contexts: readonly Context[];
  /** The field the parsed value fills (defaults to the directive's name). */
  readonly field: string;
  readonly parse: (node: ConfNode, cx: ParseContext, name: string) => unknown;
  /** For directives that fill one field together (`allow`, `deny`): joins a later key's value to the earlier one's. */
  readonly combine?: (earlier: unknown, later: unknown) => unknown;
}

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'notice', 'warn', 'error', 'crit', 'alert', 'emerg'];

/**
 * The arguments of one occurrence: a string split nginx's way, a number as written (`1.0` stays
 * `1.0`), a list. A YAML boolean is `on`/`off` only where `onOff` says the directive takes those
 * words; anywhere else it is refused (`listen: true` is not a host named "on").
 */
export function argsOf(node: ConfNode, cx: ParseContext, onOff = false): string[] {
  if (node.kind === 'scalar') {
    if (node.value === null) return cx.fail('a value is required', node);
    if (typeof node.value === 'string') {
      try {
        return splitArgs(node.value);
      } catch (err) {
        return cx.fail((err as Error).message, node);
      }
    }
    if (typeof node.value === 'boolean') {
      if (onOff) return [node.value ? 'on' : 'off'];
      return cx.fail(`invalid value ${node.value}: a YAML boolean stands for "on" or "off" only where a directive takes them; quote "${node.value}" to mean the text`, node);
    }
    return [node.source ?? String(node.value)];
  }
  if (node.kind === 'seq') return node.items.flatMap((item) => (item.kind === 'seq' ? cx.fail('a nested list is not allowed here', item) : argsOf(item, cx, onOff)));
  return cx.fail('a map is not allowed here', node);
}

/** `argsOf` for a directive that takes `on` or `off` among its words. */
const onOffArgs = (node: ConfNode, cx: ParseContext): string[] => argsOf(node, cx, true);

/** Each occurrence of a repeatable directive: a list's items, or the one value. */
function occurrences(node: ConfNode): ConfNode[] {
  return node.kind === 'seq' ? [...node.items] : [node];
}

/** Occurrences of a `name value` directive, also written as a map `{name: value}`. */
function namedPairs(node: ConfNode, cx: ParseContext, directive: string): { args: string[]; node: ConfNode }[] {
  if (node.kind === 'map') {
    return node.entries.map((e) => {
      const value = e.value.kind === 'scalar' && e.value.value === null ? [''] : argsOf(e.value, cx);
      return { args: [e.key, ...(value.length ? value : [''])], node: e.value };
    });
  }
  return occurrences(node).map((n) => {
    const args = argsOf(n, cx);
    if (args.length < 2) cx.fail(`invalid number of arguments in "${directive}" directive`, n);
    return { args, node: n };
  });
}

function one(node: ConfNode, cx: ParseContext, name: string, onOff = false): string {
  const args = argsOf(node, cx, onOff);
  if (args.length !== 1) cx.fail(`invalid number of arguments in "${name}" directive`, node);
  return args[0];
}

/** Runs a parser; a plain error becomes a ConfigError at `node`, one with a position of its own stays as it is. */
function guard<T>(node: ConfNode, cx: ParseContext, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    return cx.fail((err as Error).message, node);
  }
}

const flag = (node: ConfNode, cx: ParseContext, name: string) =>
  guard(node, cx, () => parseFlag(node.kind === 'scalar' && typeof node.value === 'boolean' ? node.value : one(node, cx, name)));
/** A time that never feeds a timer (compared with clocks only): nginx's range, as far as a number counts milliseconds exactly. */
const time = (node: ConfNode, cx: ParseContext, name: string) => guard(node, cx, () => parseTime(one(node, cx, name)));
/** A time that feeds a timer: at most MAX_TIMER_MS, past which Node would fire it after 1 ms. */
const timerTime = (node: ConfNode, cx: ParseContext, name: string) => guard(node, cx, () => boundedTime(one(node, cx, name), name));

/** `parseBoundedTime` at the timer limit, the directive named in the refusal of a time too large. */
function boundedTime(value: string, name: string): number {
  parseTime(value);
  try {
    return parseBoundedTime(value, MAX_TIMER_MS);
  } catch (err) {
    throw new Error(`${(err as Error).message} in "${name}"`);
  }
}
const size = (node: ConfNode, cx: ParseContext, name: string) => guard(node, cx, () => parseSize(one(node, cx, name)));
const text = (node: ConfNode, cx: ParseContext, name: string) => one(node, cx, name);
const prefixPath = (node: ConfNode, cx: ParseContext, name: string) => path.resolve(cx.prefix, one(node, cx, name));
/** A path against the prefix, keeping a trailing slash (`alias /data/images/` maps `/img/a` to `/data/images/a`). */
const documentPath = (node: ConfNode, cx: ParseContext, name: string) => {
  const value = one(node, cx, name);
  const resolved = path.resolve(cx.prefix, value);
  return value.endsWith('/') && !resolved.endsWith('/') ? `${resolved}/` : resolved;
};

function integer(min: number, max: number) {
  return (node: ConfNode, cx: ParseContext, name: string) => {
    const value = one(node, cx, name);
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) cx.fail(`invalid value "${value}" in "${name}" directive`, node);
    return n;
  };
}

function oneOf<T extends string>(values: readonly T[]) {
  const onOff = values.includes('on' as T) || values.includes('off' as T);
  return (node: ConfNode, cx: ParseContext, name: string): T => {
    const value = one(node, cx, name, onOff);
    if (!values.includes(value as T)) cx.fail(`invalid value "${value}" in "${name}" directive, it must be ${values.map((v) => `"${v}"`).join(' or ')}`, node);
    return value as T;
  };
}

function errorLog(node: ConfNode, cx: ParseContext): ErrorLogConf {
  const args = argsOf(node, cx);
  if (args.length < 1 || args.length > 2) cx.fail('invalid number of arguments in "error_log" directive', node);
  const level = (args[1] ?? 'error') as LogLevel;
  if (!LEVELS.includes(level)) cx.fail(`invalid log level "${args[1]}"`, node);
  return { path: args[0] === 'stderr' ? 'stderr' : path.resolve(cx.prefix, args[0]), level };
}

function accessLogs(node: ConfNode, cx: ParseContext): AccessLogConf[] {
  const logs: AccessLogConf[] = [];
  for (const occurrence of occurrences(node)) {
    const args = argsOf(occurrence, cx, true);
    if (args[0] === 'off') {
      if (args.length !== 1 || occurrences(node).length !== 1) cx.fail('"off" must be the only "access_log" value', occurrence);
      return [];
    }
    if (args.length < 1 || args.length > 2) cx.fail('invalid number of arguments in "access_log" directive', occurrence);
    logs.push({ path: args[0] === 'stderr' || args[0] === 'stdout' ? args[0] : path.resolve(cx.prefix, args[0]), format: args[1] ?? 'combined' });
  }
  return logs;
}

/** `log_format: { name: "[escape=default|json|none] format" }`; a list of strings is joined. */
function logFormats(node: ConfNode, cx: ParseContext): Map<string, LogFormatConf> {
  if (node.kind !== 'map') return cx.fail('"log_format" takes a map of name -> format', node);
  const formats = new Map<string, LogFormatConf>();
  for (const e of node.entries) {
    const value = plainValue(e.value);
    const text = Array.isArray(value) ? value.join('') : value;
    if (typeof text !== 'string' || !text) cx.fail(`invalid format for "${e.key}"`, e.value);
    if (e.key === 'combined') cx.fail('duplicate "log_format" name "combined"', e.value);
    // nginx's separators only: `escape=json\u00a0$x` is an unknown escaping, not json.
    const escape = /^escape=([^ \t\r\n]*)(?:[ \t\r\n]+|$)/.exec(text as string);
    if (escape && !['default', 'json', 'none'].includes(escape[1])) cx.fail(`unknown log format escaping "${escape[1]}"`, e.value);
    const format = escape ? (text as string).slice(escape[0].length) : (text as string);
    formats.set(e.key, { format, escape: (escape?.[1] ?? 'default') as LogFormatConf['escape'] });
  }
  return formats;
}

function addHeaders(node: ConfNode, cx: ParseContext): AddHeaderConf[] {
  return namedPairs(node, cx, 'add_header').map(({ args, node: n }) => {
    const always = args.length === 3 && args[2] === 'always';
    if (args.length > 3 || (args.length === 3 && !always)) cx.fail(`invalid parameter "${args[2]}" in "add_header" directive`, n);
    return { name: args[0], value: args[1], always };
  });
}

function proxySetHeaders(node: ConfNode, cx: ParseContext): (readonly [string, string])[] {
  return namedPairs(node, cx, 'proxy_set_header').map(({ args, node: n }) => {
    if (args.length !== 2) cx.fail('invalid number of arguments in "proxy_set_header" directive', n);
    return [args[0], args[1]] as const;
  });
}

function errorPages(node: ConfNode, cx: ParseContext): ErrorPageConf[] {
  return occurrences(node).map((n) => {
    const args = argsOf(n, cx);
    const uri = args.pop();
    if (!uri || args.length === 0) cx.fail('invalid number of arguments in "error_page" directive', n);
    let response: ErrorPageConf['response'] = null;
    if (args[args.length - 1].startsWith('=')) {
      const change = args.pop()!.slice(1);
      response = change === '' ? 'page' : Number(change);
      if (response !== 'page' && !(Number.isInteger(response) && response >= 100 && response <= 599)) cx.fail(`invalid value "=${change}"`, n);
    }
    const codes = args.map((a) => {
      const code = Number(a);
      if (!/^\d{3}$/.test(a) || code < 300 || code > 599) cx.fail(`value "${a}" must be between 300 and 599`, n);
      return code;
    });
    return { codes, response, uri };
  });
}

function types(node: ConfNode, cx: ParseContext) {
  if (node.kind === 'map') return guard(node, cx, () => typesFromMap(plainValue(node) as Record<string, unknown>));
  const file = path.resolve(path.dirname(cx.file), one(node, cx, 'types'));
  return guard(node, cx, () => {
    let content: string;
    try {
      content = cx.readFile(file);
    } catch (err) {
      throw new Error(`open() "${file}" failed (${(err as NodeJS.ErrnoException).code})`);
    }
    if (/\.ya?ml$/.test(file)) throw new Error('a YAML types table is written inline as a map');
    try {
      return parseNginxTypes(content);
    } catch (err) {
      throw new Error(`${(err as Error).message} in types file "${file}"`);
    }
  });
}

function gzipTypes(node: ConfNode, cx: ParseContext): string[] {
  return argsOf(node, cx);
}

/** `gzip_disable`: each value a regex (checked here), or `msie6`. */
function gzipDisable(node: ConfNode, cx: ParseContext): string[] {
  const args: string[] = [];
  for (const item of occurrences(node)) {
    for (const arg of argsOf(item, cx)) {
      if (arg !== 'msie6') guard(item, cx, () => compileRegex(arg, true));
      args.push(arg);
    }
  }
  if (args.length === 0) cx.fail('invalid number of arguments in "gzip_disable" directive', node);
  return args;
}

/**
 * `keepalive_timeout timeout [header_timeout]`: the first feeds the socket's timer; the second,
 * nginx's `Keep-Alive: timeout=` value in whole seconds, is checked as nginx checks it (and
 * not sent: the gateway sends no Keep-Alive header).
 */
function keepaliveTimeout(node: ConfNode, cx: ParseContext, name: string): number {
  const args = argsOf(node, cx);
  if (args.length < 1 || args.length > 2) cx.fail('invalid number of arguments in "keepalive_timeout" directive', node);
  if (args.length === 2 && /ms/.test(args[1])) cx.fail(`invalid time "${args[1]}" in "keepalive_timeout" (the header timeout is in whole seconds)`, node);
  if (args.length === 2) guard(node, cx, () => parseTime(args[1]));
  return guard(node, cx, () => boundedTime(args[0], name));
}

function returnDirective(node: ConfNode, cx: ParseContext): ReturnConf {
  const args = argsOf(node, cx);
  if (args.length < 1 || args.length > 2) cx.fail('invalid number of arguments in "return" directive', node);
  if (args.length === 1 && /^(https?:\/\/|\$scheme)/.test(args[0])) return { status: 302, text: args[0] };
  const status = Number(args[0]);
  if (!/^\d{3}$/.test(args[0]) || status > 999) cx.fail(`invalid return code "${args[0]}"`, node);
  return { status, text: args[1] ?? null };
}

/**
 * `stub_status`: nginx's `stub_status;` (no argument, or the old `stub_status on;`), written
 * `stub_status: on` or `stub_status:` with no value; the location's handler is then stub_status.
 */
function stubStatus(node: ConfNode, cx: ParseContext): true {
  if (node.kind === 'scalar' && (node.value === null || node.value === true || node.value === 'on' || node.value === '')) return true;
  return cx.fail('invalid value in "stub_status" directive (it takes none, or "on")', node);
}

const NEXT_UPSTREAM: readonly NextUpstreamCondition[] = [
  'error', 'timeout', 'invalid_header', 'non_idempotent', 'http_500', 'http_502', 'http_503', 'http_504', 'http_403', 'http_404', 'http_429',
];

/** `proxy_next_upstream`: conditions, or `off` alone (an empty list). */
function nextUpstream(node: ConfNode, cx: ParseContext): NextUpstreamCondition[] {
  const args = argsOf(node, cx, true);
  if (args.length === 0) cx.fail('invalid number of arguments in "proxy_next_upstream" directive', node);
  if (args.includes('off')) {
    if (args.length !== 1) cx.fail('invalid value "off" in "proxy_next_upstream" directive', node);
    return [];
  }
  for (const arg of args) if (!(NEXT_UPSTREAM as readonly string[]).includes(arg)) cx.fail(`invalid value "${arg}" in "proxy_next_upstream" directive`, node);
  return args as NextUpstreamCondition[];
}

/**
 * `allow`/`deny` (one value or a list), or `access`, the ordered form (`["deny 10.0.0.1",
 * "allow 10.0.0.0/8", "deny all"]`): every rule of a block, in the order written, compiled.
 */
function accessRules(kind: 'allow' | 'deny' | 'access') {
  return (node: ConfNode, cx: ParseContext): AccessRules => {
    const texts: AccessRuleText[] = occurrences(node).map((n) => {
      const args = argsOf(n, cx);
      let rule: AccessRuleText;
      if (kind !== 'access') {
        if (args.length !== 1) cx.fail(`invalid number of arguments in "${kind}" directive`, n);
        rule = { deny: kind === 'deny', value: args[0] };
      } else {
        if (args.length !== 2 || (args[0] !== 'allow' && args[0] !== 'deny')) cx.fail(`invalid rule "${args.join(' ')}" in "access", it must be "allow VALUE" or "deny VALUE"`, n);
        rule = { deny: args[0] === 'deny', value: args[1] };
      }
      guard(n, cx, () => compileAccessRules([rule]));
      return rule;
    });
    if (texts.length === 0) cx.fail(`invalid number of arguments in "${kind}" directive`, node);
    // Compiled at once: merging one rule at a time copied every earlier rule (50,000 rules took 12 s).
    return compileAccessRules(texts).rules;
  };
}

const d = (contexts: readonly Context[], parse: Directive['parse'], field?: string, combine?: Directive['combine']) => ({ contexts, parse, field, combine });
const HTTP_UP: readonly Context[] = ['http', 'server', 'location'];

/** The directives, by name. `field` is where the value goes (camelCase of the name if unset). */
const TABLE: Record<string, { contexts: readonly Context[]; parse: Directive['parse']; field?: string; combine?: Directive['combine'] }> = {
  worker_processes: d(['main'], (n, cx, name) => (one(n, cx, name) === 'auto' ? 'auto' : integer(1, 1024)(n, cx, name))),
  pid: d(['main'], (n, cx, name) => (one(n, cx, name, true) === 'off' ? null : prefixPath(n, cx, name))),
  handlers_dir: d(['main'], prefixPath),
  master_process: d(['main'], flag),
  worker_shutdown_timeout: d(['main'], timerTime),
  worker_connections: d(['events'], integer(1, 1_000_000)),
  error_log: d(['main', ...HTTP_UP], errorLog),
  log_format: d(['http'], logFormats, 'logFormats'),
  access_log: d(HTTP_UP, accessLogs, 'accessLogs'),
  listen: d(['server'], (n, cx) => occurrences(n).map((o) => guard(o, cx, () => parseListen(argsOf(o, cx)))), 'listens'),
  server_name: d(['server'], (n, cx) => argsOf(n, cx), 'serverNameArgs'),
  root: d(HTTP_UP, documentPath),
  alias: d(['location'], documentPath),
  index: d(HTTP_UP, (n, cx) => argsOf(n, cx)),
  try_files: d(['server', 'location'], (n, cx) => {
    const args = argsOf(n, cx);
    guard(n, cx, () => checkTryFiles(args));
    return args;
  }),
  autoindex: d(HTTP_UP, flag),
  disable_symlinks: d(HTTP_UP, (n, cx) => guard(n, cx, () => parseDisableSymlinks(onOffArgs(n, cx)))),
  open_file_cache: d(HTTP_UP, (n, cx) => guard(n, cx, () => parseOpenFileCache(onOffArgs(n, cx)))),
  open_file_cache_valid: d(HTTP_UP, time),
  open_file_cache_min_uses: d(HTTP_UP, integer(0, 1_000_000)),
  open_file_cache_errors: d(HTTP_UP, flag),
  types: d(HTTP_UP, types),
  default_type: d(HTTP_UP, text),
  etag: d(HTTP_UP, flag),
  if_modified_since: d(HTTP_UP, oneOf(['off', 'exact', 'before'])),
  gzip: d(HTTP_UP, flag),
  gzip_min_length: d(HTTP_UP, size),
  gzip_types: d(HTTP_UP, gzipTypes),
  gzip_comp_level: d(HTTP_UP, integer(1, 9)),
  gzip_vary: d(HTTP_UP, flag),
  gzip_http_version: d(HTTP_UP, oneOf(['1.0', '1.1'])),
  gzip_proxied: d(HTTP_UP, oneOf(['off', 'any'])),
  gzip_disable: d(HTTP_UP, gzipDisable),
  gzip_static: d(HTTP_UP, oneOf(['off', 'on', 'always'])),
  expires: d(HTTP_UP, (n, cx) => guard(n, cx, () => parseExpires(onOffArgs(n, cx)))),
  add_header: d(HTTP_UP, addHeaders, 'addHeaders'),
  error_page: d(HTTP_UP, errorPages, 'errorPages'),
  server_tokens: d(HTTP_UP, flag),
  client_max_body_size: d(HTTP_UP, size),
  keepalive_timeout: d(HTTP_UP, keepaliveTimeout),
  send_timeout: d(HTTP_UP, timerTime),
  client_header_timeout: d(['http', 'server'], timerTime),
  client_body_timeout: d(HTTP_UP, timerTime),
  client_body_buffer_size: d(HTTP_UP, size),
  client_body_temp_path: d(HTTP_UP, (n, cx, name) => {
    const args = argsOf(n, cx);
    if (args.length > 1) cx.fail(`the levels of "${name}" are not supported yet`, n);
    return prefixPath(n, cx, name);
  }),
  lingering_time: d(HTTP_UP, timerTime),
  lingering_timeout: d(HTTP_UP, timerTime),
  ssl_certificate: d(['http', 'server'], prefixPath),
  ssl_certificate_key: d(['http', 'server'], prefixPath),
  ssl_protocols: d(['http', 'server'], (n, cx) => {
    const args = argsOf(n, cx);
    for (const arg of args) if (!(TLS_PROTOCOLS as readonly string[]).includes(arg)) cx.fail(`invalid value "${arg}" in "ssl_protocols" directive`, n);
    return args;
  }),
  ssl_ciphers: d(['http', 'server'], text),
  proxy_pass: d(['location'], text),
  proxy_set_header: d(HTTP_UP, proxySetHeaders, 'proxySetHeaders'),
  proxy_connect_timeout: d(HTTP_UP, timerTime),
  proxy_read_timeout: d(HTTP_UP, timerTime),
  proxy_send_timeout: d(HTTP_UP, timerTime),
  proxy_http_version: d(HTTP_UP, oneOf(['1.0', '1.1'])),
  proxy_next_upstream: d(HTTP_UP, nextUpstream),
  proxy_next_upstream_tries: d(HTTP_UP, integer(0, 1_000_000)),
  proxy_next_upstream_timeout: d(HTTP_UP, time),
  proxy_buffering: d(HTTP_UP, flag),
  proxy_request_buffering: d(HTTP_UP, flag),
  proxy_hide_header: d(HTTP_UP, headerNames(argsOf), 'proxyHideHeaders'),
  proxy_pass_header: d(HTTP_UP, headerNames(argsOf), 'proxyPassHeaders'),
  proxy_redirect: d(HTTP_UP, proxyRedirect(onOffArgs)),
  return: d(['location'], returnDirective),
  stub_status: d(['location'], stubStatus),
  allow: d(HTTP_UP, accessRules('allow'), 'accessRules', mergeAccessRules as Directive['combine']),
  deny: d(HTTP_UP, accessRules('deny'), 'accessRules', mergeAccessRules as Directive['combine']),
  access: d(HTTP_UP, accessRules('access'), 'accessRules', mergeAccessRules as Directive['combine']),
  message_buffer_length: d(HTTP_UP, integer(0, 1_000_000)),
  message_timeout: d(HTTP_UP, time),
  push_redis_url: d(['http'], (n, cx, name) => guard(n, cx, () => parseRedisUrl(one(n, cx, name)))),
};

/** nginx directives a user may write that the gateway does not do yet: named in the error. */
export const NOT_YET_SUPPORTED = new Set([
  'upstream', 'gzip_buffers', 'proxy_buffers', 'proxy_buffer_size', 'proxy_ignore_headers',
  'rewrite',
  'if', 'set', 'charset', 'sendfile', 'tcp_nopush', 'tcp_nodelay',
  'limit_req', 'limit_conn', 'auth_basic', 'http2', 'resolver',
  'large_client_header_buffers', 'server_name_in_redirect', 'port_in_redirect',
  'absolute_redirect', 'merge_slashes', 'internal', 'limit_except', 'lua_package_path', 'content_by_lua',
  'content_by_lua_block', 'access_by_lua', 'user', 'worker_rlimit_nofile', 'multi_accept', 'use',
]);

const camel = (name: string) => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** The directive named `name`, or undefined. */
export function directive(name: string): Directive | undefined {
  const row = Object.hasOwn(TABLE, name) ? TABLE[name] : undefined;
  return row && { contexts: row.contexts, parse: row.parse, field: row.field ?? camel(name), combine: row.combine };
}

/** nginx's defaults for the inherited directives, relative paths resolved against `prefix`. */
export function commonDefaults(prefix: string): CommonConf {
  return {
    root: path.resolve(prefix, 'html'),
    index: ['index.html'],
    autoindex: false,
    types: BUILTIN_TYPES,
    defaultType: 'text/plain',
    etag: true,
    ifModifiedSince: 'exact',
    gzip: false,
    gzipMinLength: 20,
    gzipTypes: ['text/html'],
    gzipCompLevel: 1,
    gzipVary: false,
    gzipHttpVersion: '1.1',
    gzipProxied: 'off',
    gzipDisable: [],
    gzipStatic: 'off',
    expires: { kind: 'off' },
    disableSymlinks: { mode: 'off', from: null },
    openFileCache: null,
    openFileCacheValid: 60_000,
    openFileCacheMinUses: 1,
    openFileCacheErrors: false,
    addHeaders: [],
    errorPages: [],
    serverTokens: true,
    accessLogs: [{ path: path.resolve(prefix, 'logs/access.log'), format: 'combined' }],
    errorLog: null,
    clientMaxBodySize: 1024 * 1024,
    keepaliveTimeout: 75_000,
    sendTimeout: 60_000,
    clientHeaderTimeout: 60_000,
    clientBodyTimeout: 60_000,
    // nginx's two memory pages (16k on 64-bit), and its compiled-in `client_body_temp` under the prefix.
    clientBodyBufferSize: 16 * 1024,
    clientBodyTempPath: path.resolve(prefix, 'client_body_temp'),
    lingeringTime: 30_000,
    lingeringTimeout: 5_000,
    sslCertificate: null,
    sslCertificateKey: null,
    sslProtocols: ['TLSv1.2', 'TLSv1.3'],
    sslCiphers: 'HIGH:!aNULL:!MD5',
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
    accessRules: null,
    messageBufferLength: 10,
    messageTimeout: 3_600_000,
  };
}

/** The fields of `CommonConf`: what inherits downwards. */
export function isCommonField(field: string, defaults: CommonConf): field is keyof CommonConf {
  return Object.hasOwn(defaults, field);
}

/**
 * A copy of the inherited fields, written as one object literal on purpose: V8 keeps such an
 * object in fast mode, with one shape shared by every copy. A spread or `Object.assign` of these
 * 50-odd fields makes a dictionary-mode object instead, some eight times slower to make, with
 * many times the garbage: 200,000 locations took 15 s to check. Every field of CommonConf must be
 * listed (the compiler says when one is missing).
 */
export function copyCommon(c: CommonConf): CommonConf {
  return {
    root: c.root, index: c.index, autoindex: c.autoindex, types: c.types,
    defaultType: c.defaultType, etag: c.etag, ifModifiedSince: c.ifModifiedSince, gzip: c.gzip,
    gzipMinLength: c.gzipMinLength, gzipTypes: c.gzipTypes, gzipCompLevel: c.gzipCompLevel,
    gzipVary: c.gzipVary, gzipHttpVersion: c.gzipHttpVersion, gzipProxied: c.gzipProxied,
    gzipDisable: c.gzipDisable, gzipStatic: c.gzipStatic, expires: c.expires,
    disableSymlinks: c.disableSymlinks, openFileCache: c.openFileCache,
    openFileCacheValid: c.openFileCacheValid, openFileCacheMinUses: c.openFileCacheMinUses,
    openFileCacheErrors: c.openFileCacheErrors, addHeaders: c.addHeaders, errorPages: c.errorPages,
    serverTokens: c.serverTokens, accessLogs: c.accessLogs, errorLog: c.errorLog,
    clientMaxBodySize: c.clientMaxBodySize, keepaliveTimeout: c.keepaliveTimeout,
    sendTimeout: c.sendTimeout, clientHeaderTimeout: c.clientHeaderTimeout,
    clientBodyTimeout: c.clientBodyTimeout, clientBodyBufferSize: c.clientBodyBufferSize,
    clientBodyTempPath: c.clientBodyTempPath, lingeringTime: c.lingeringTime,
    lingeringTimeout: c.lingeringTimeout, sslCertificate: c.sslCertificate,
    sslCertificateKey: c.sslCertificateKey, sslProtocols: c.sslProtocols, sslCiphers: c.sslCiphers,
    proxySetHeaders: c.proxySetHeaders, proxyConnectTimeout: c.proxyConnectTimeout,
    proxyReadTimeout: c.proxyReadTimeout, proxySendTimeout: c.proxySendTimeout,
    proxyHttpVersion: c.proxyHttpVersion, proxyNextUpstream: c.proxyNextUpstream,
    proxyNextUpstreamTries: c.proxyNextUpstreamTries,
    proxyNextUpstreamTimeout: c.proxyNextUpstreamTimeout, proxyBuffering: c.proxyBuffering,
    proxyRequestBuffering: c.proxyRequestBuffering,
    proxyHideHeaders: c.proxyHideHeaders, proxyPassHeaders: c.proxyPassHeaders,
    proxyRedirect: c.proxyRedirect, accessRules: c.accessRules,
    messageBufferLength: c.messageBufferLength, messageTimeout: c.messageTimeout,
  };
}

/** One merge step: the child's own values over the parent's (whole values, as nginx's arrays). */
export function mergeCommon(parent: CommonConf, own: Readonly<Record<string, unknown>>): CommonConf {
  const merged = copyCommon(parent) as unknown as Record<string, unknown>;
  for (const [field, value] of Object.entries(own)) if (Object.hasOwn(parent, field)) merged[field] = value;
  return merged as unknown as CommonConf;
}
