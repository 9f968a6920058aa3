/**
 * Pure parsers for nginx's argument syntax: times, sizes, flags, `listen`, `location`,
 * `server_name`, `disable_symlinks`, `open_file_cache`. Each throws a plain `Error` whose
 * message is the reason; the caller adds the file position.
 */


/**
 * nginx's time units, largest first, in milliseconds: a value names each unit at most once, in
 * this order (`1h30m`, `1h 30m`; not `30m 1h`), as `ngx_parse_time` reads it.
 */
const TIME_UNITS: readonly (readonly [string, number])[] = [
  ['y', 31_536_000_000],
  ['M', 2_592_000_000],
  ['w', 604_800_000],
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
  ['ms', 1],
];

/** The largest time any parser returns (ms): past it, a JavaScript number no longer counts milliseconds exactly. */
export const MAX_TIME_MS = Number.MAX_SAFE_INTEGER;

/**
 * The largest delay a Node.js timer honours (ms), about 24.8 days: `setTimeout`, `setInterval`
 * and `socket.setTimeout` turn anything larger into 1 ms. Every time that feeds a timer is
 * checked against it at load.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A time as nginx writes it (`500ms`, `2s`, `1m`, `1h 30m`, `1h30`), in milliseconds. A bare
 * number, and a number after the last unit, is in `bareUnit` (seconds for nginx's directives,
 * milliseconds where a handler says so). Only a space separates parts, as in nginx. Throws
 * `invalid time "..."`; a time past `MAX_TIME_MS` is invalid too (nginx stops at 2^63 ms).
 */
export function parseTime(value: string | number, bareUnit: 's' | 'ms' = 's'): number {
  const bareScale = bareUnit === 's' ? 1000 : 1;
  if (typeof value === 'number') {
    const ms = checkedNumber(value) * bareScale;
    if (ms > MAX_TIME_MS) throw new Error(`invalid time "${value}"`);
    return ms;
  }
  const invalid = () => new Error(`invalid time "${value}"`);
  let total = 0;
  let digits = '';
  let valid = false;
  // The index in TIME_UNITS of the last unit read: each next one must be smaller.
  let last = -1;
  let i = 0;
  const add = (n: number) => {
    total += n;
    if (total > MAX_TIME_MS) throw invalid();
  };
  while (i < value.length) {
    const c = value[i];
    if (c >= '0' && c <= '9') {
      digits += c;
      valid = true;
      i++;
      continue;
    }
    let unit: number;
    if (c === ' ') {
      // nginx: a space ends a bare number (seconds), once, and not after seconds or less.
      if (last >= TIME_UNITS.length - 2) throw invalid();
      unit = TIME_UNITS.length;
      i++;
    } else {
      const name = c === 'm' && value[i + 1] === 's' ? 'ms' : c;
      unit = TIME_UNITS.findIndex(([u]) => u === name);
      if (unit < 0) throw invalid();
      i += name.length;
    }
    if (unit <= last) throw invalid();
    last = unit;
    add(Number(digits || '0') * (unit === TIME_UNITS.length ? bareScale : TIME_UNITS[unit][1]));
    digits = '';
    while (value[i] === ' ') i++;
  }
  if (!valid) throw invalid();
  add(Number(digits || '0') * bareScale);
  return total;
}

/**
 * A time as `parseTime` reads it, no larger than `max` (ms): past it, one line that names the
 * largest value allowed, written as nginx writes times.
 */
export function parseBoundedTime(value: string | number, max: number, bareUnit: 's' | 'ms' = 's'): number {
  const ms = parseTime(value, bareUnit);
  if (ms > max) throw new Error(`time "${value}" is too large: the largest is ${formatTime(max)}`);
  return ms;
}

/** Milliseconds as nginx writes a time, largest units first: `24d20h31m23s647ms`; `0s` for 0. */
export function formatTime(ms: number): string {
  let rest = ms;
  let text = '';
  for (const [unit, scale] of TIME_UNITS) {
    if (unit === 'y' || unit === 'M' || unit === 'w') continue;
    const n = Math.floor(rest / scale);
    if (n > 0) text += `${n}${unit}`;
    rest -= n * scale;
  }
  return text || '0s';
}

/** The largest size any parser returns (bytes), nginx's own limit (off_t) as a JavaScript number can hold it exactly. */
export const MAX_SIZE = Number.MAX_SAFE_INTEGER;

/** A size as nginx writes it (`512`, `64k`, `1m`, `1g`), in bytes. */
export function parseSize(value: string | number): number {
  if (typeof value === 'number') {
    if (checkedNumber(value) > MAX_SIZE) throw new Error(`invalid size "${value}"`);
    return value;
  }
  const m = /^(\d+)([kKmMgG]?)$/.exec(value);
  if (!m) throw new Error(`invalid size "${value}"`);
  const unit = m[2].toLowerCase();
  const factor = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1;
  const bytes = Number(m[1]) * factor;
  if (bytes > MAX_SIZE) throw new Error(`invalid size "${value}"`);
  return bytes;
}

function checkedNumber(n: number): number {
  if (!Number.isFinite(n) || n < 0 || !Number.isInteger(n)) throw new Error(`invalid value "${n}"`);
  return n;
}

/** `on`/`off`, `true`/`false` (strings or YAML booleans). */
export function parseFlag(value: string | number | boolean): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 'on' || value === 'true') return true;
  if (value === 'off' || value === 'false') return false;
  throw new Error(`invalid value "${value}", it must be "on" or "off"`);
}

/**
 * What separates nginx's arguments: space, tab, CR and LF, and nothing else
 * (`ngx_conf_read_token`). A no-break space, U+FEFF, U+3000, `\v`, `\f`... are part of an
 * argument, as in nginx. Every reader of nginx's argument syntax asks this one function.
 */
export function isArgSeparator(c: string): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r';
}

/**
 * Splits one nginx directive occurrence into its arguments: white space (`isArgSeparator`)
 * separates, single or double quotes group, a backslash escapes the next character, `""` is an
 * empty argument; after a closing quote a separator or the end must follow, as in nginx.
 */
export function splitArgs(text: string): string[] {
  const args: string[] = [];
  let i = 0;
  // Every turn of each loop moves `i` or `end` forward by at least one character.
  while (i < text.length) {
    const c = text[i];
    if (isArgSeparator(c)) {
      i++;
      continue;
    }
    const quote = c === '"' || c === "'" ? c : null;
    let end = quote ? i + 1 : i;
    while (end < text.length && (quote ? text[end] !== quote : !isArgSeparator(text[end]))) {
      end += text[end] === '\\' && end + 1 < text.length ? 2 : 1;
    }
    if (!quote) {
      args.push(unescape(text.slice(i, end)));
      i = end;
      continue;
    }
    if (end >= text.length) throw new Error(`unbalanced quote in "${text}"`);
    args.push(unescape(text.slice(i + 1, end)));
    i = end + 1;
    if (i < text.length && !isArgSeparator(text[i])) throw new Error(`unexpected "${text[i]}" after a quoted argument in "${text}"`);
  }
  return args;
}

/** nginx's escapes in an argument: `\"`, `\'`, `\\` stand for themselves, `\t`, `\r`, `\n` for control characters; any other backslash stays (regexes keep `\.`). */
function unescape(raw: string): string {
  return raw.replace(/\\(["'\\trn])/g, (_, c: string) => (c === 't' ? '\t' : c === 'r' ? '\r' : c === 'n' ? '\n' : c));
}

/** `so_keepalive=on|off|[idle]:[intvl]:[cnt]`: seconds; a missing field keeps the system's value. */
export interface SoKeepalive {
  readonly enabled: boolean;
  readonly idle: number | null;
  readonly interval: number | null;
  readonly count: number | null;
}

/** One `listen` occurrence, parsed. */
export interface ListenSpec {
  /** Bind address: an IP, `::`, `0.0.0.0`, or a host name; null for unix sockets. */
  readonly host: string | null;
  readonly port: number;
  /** A unix socket path (`listen unix:/path`), or null. */
  readonly unix: string | null;
  readonly defaultServer: boolean;
  readonly ssl: boolean;
  readonly backlog: number;
  readonly reuseport: boolean;
  /** `deferred` (Linux's TCP_DEFER_ACCEPT): accepted; the socket is the cluster master's, where Node sets no such option (a notice says so). */
  readonly deferred: boolean;
  readonly ipv6only: boolean;
  readonly soKeepalive: SoKeepalive | null;
  /** `proxy_protocol`: every connection starts with a PROXY header (v1 or v2) before its HTTP or TLS bytes. */
  readonly proxyProtocol: boolean;
  /** `http2`: the socket speaks HTTP/2 (chosen by ALPN with `ssl`, by the client's preface without). */
  readonly http2: boolean;
  /** What identifies the listening socket: `host:port` or `unix:path`. */
  readonly key: string;
}

/** nginx's default listen backlog on Linux. */
const DEFAULT_BACKLOG = 511;

/** Parses `listen` arguments: `[addr:]port | [::]:port | addr | unix:/path`, then parameters. */
export function parseListen(args: readonly string[]): ListenSpec {
  if (args.length === 0) throw new Error('"listen" needs an address');
  const { host, port, unix } = parseListenAddress(args[0]);
  const spec = {
    host,
    port,
    unix,
    defaultServer: false,
    ssl: false,
    backlog: DEFAULT_BACKLOG,
    reuseport: false,
    deferred: false,
    ipv6only: true,
    soKeepalive: null as SoKeepalive | null,
    proxyProtocol: false,
    http2: false,
    key: unix ? `unix:${unix}` : `${host && host.includes(':') ? `[${host}]` : host}:${port}`,
  };
  for (const param of args.slice(1)) {
    const [name, value] = splitParam(param);
    switch (name) {
      case 'default_server':
      case 'default':
        spec.defaultServer = true;
        break;
      case 'ssl':
        spec.ssl = true;
        break;
      case 'http2':
        spec.http2 = true;
        break;
      case 'reuseport':
        spec.reuseport = true;
        break;
      case 'deferred':
        spec.deferred = true;
        break;

      case 'proxy_protocol':
        if (value !== undefined) throw new Error(`invalid parameter "${param}"`);
        spec.proxyProtocol = true;
        break;
      case 'backlog': {
        const n = Number(value);
        if (!/^-?\d+$/.test(value ?? '') || n === 0 || Math.abs(n) > MAX_SOCKOPT_INT) throw new Error(`invalid backlog "${value}"`);
        spec.backlog = n;
        break;
      }
      case 'ipv6only':
        spec.ipv6only = parseFlag(value ?? '');
        break;
      case 'so_keepalive':
        spec.soKeepalive = parseSoKeepalive(value ?? '');
        break;
      default:
        throw new Error(`invalid parameter "${param}"`);
    }
  }
  return spec;
}

function splitParam(param: string): [string, string | undefined] {
  const eq = param.indexOf('=');
  return eq < 0 ? [param, undefined] : [param.slice(0, eq), param.slice(eq + 1)];
}

function parseListenAddress(addr: string): { host: string | null; port: number; unix: string | null } {
  if (addr.startsWith('unix:')) {
    const path = addr.slice(5);
    if (!path) throw new Error(`invalid unix socket "${addr}"`);
    return { host: null, port: 0, unix: path };
  }
  let host = '0.0.0.0';
  let portText: string | undefined;
  if (addr.startsWith('[')) {
    const end = addr.indexOf(']');
    if (end < 0) throw new Error(`invalid IPv6 address "${addr}"`);
    host = addr.slice(1, end);
    const rest = addr.slice(end + 1);
    if (rest && !rest.startsWith(':')) throw new Error(`invalid address "${addr}"`);
    portText = rest ? rest.slice(1) : '80';
  } else if (/^\d+$/.test(addr)) {
    portText = addr;
  } else {
    const colon = addr.lastIndexOf(':');
    if (colon >= 0) {
      host = addr.slice(0, colon);
      portText = addr.slice(colon + 1);
    } else {
      host = addr;
      portText = '80';
    }
    if (host === '*') host = '0.0.0.0';
    if (!host || !/^[A-Za-z0-9.-]+$/.test(host)) throw new Error(`invalid host in "${addr}"`);
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65535) throw new Error(`invalid port in "${addr}"`);
  return { host, port, unix: null };
}

/** The largest value `setsockopt` takes (a C int): so_keepalive's fields go there as they are. */
const MAX_SOCKOPT_INT = 2 ** 31 - 1;

/**
 * `on`, `off`, or `[idle]:[intvl]:[cnt]` with nginx's time units for idle and intvl; each field
 * fits the C int `setsockopt` takes (the kernel may still refuse it, which is logged, as nginx).
 */
export function parseSoKeepalive(value: string): SoKeepalive {
  if (value === 'on') return { enabled: true, idle: null, interval: null, count: null };
  if (value === 'off') return { enabled: false, idle: null, interval: null, count: null };
  const parts = value.split(':');
  if (parts.length !== 3 || parts.every((p) => p === '')) throw new Error(`invalid so_keepalive value "${value}"`);
  const seconds = (p: string) => {
    if (p === '') return null;
    const ms = parseTime(p, 's');
    if (ms < 1000 || ms % 1000 !== 0 || ms / 1000 > MAX_SOCKOPT_INT) throw new Error(`invalid so_keepalive value "${value}"`);
    return ms / 1000;
  };
  const count = parts[2] === '' ? null : Number(parts[2]);
  if (count !== null && (!/^\d+$/.test(parts[2]) || count < 1 || count > MAX_SOCKOPT_INT)) throw new Error(`invalid so_keepalive value "${value}"`);
  return { enabled: true, idle: seconds(parts[0]), interval: seconds(parts[1]), count };
}

/** How a location matches, in nginx's terms. */
export type LocationMatch =
  | { readonly kind: 'exact'; readonly path: string }
  | { readonly kind: 'prefix'; readonly path: string; readonly noRegex: boolean }
  | { readonly kind: 'regex'; readonly regex: RegExp; readonly source: string }
  | { readonly kind: 'named'; readonly name: string };

/** Parses `location` arguments: `= /x`, `^~ /x`, `~ re`, `~* re`, `@name`, `/x`. */
export function parseLocation(args: readonly string[]): LocationMatch {
  const [first, second] = args;
  if (args.length === 0 || args.length > 2 || (args.length === 1 && !first)) {
    throw new Error('invalid number of arguments in "location"');
  }
  if (args.length === 2) {
    switch (first) {
      case '=':
        return { kind: 'exact', path: second };
      case '^~':
        return { kind: 'prefix', path: second, noRegex: true };
      case '~':
        return { kind: 'regex', regex: compileRegex(second, false), source: second };
      case '~*':
        return { kind: 'regex', regex: compileRegex(second, true), source: second };
      default:
        throw new Error(`invalid location modifier "${first}"`);
    }
  }
  if (first.startsWith('@')) return { kind: 'named', name: first };
  if (first.startsWith('=')) return { kind: 'exact', path: first.slice(1) };
  if (first.startsWith('^~')) return { kind: 'prefix', path: first.slice(2), noRegex: true };
  if (first.startsWith('~*')) return { kind: 'regex', regex: compileRegex(first.slice(2), true), source: first.slice(2) };
  if (first.startsWith('~')) return { kind: 'regex', regex: compileRegex(first.slice(1), false), source: first.slice(1) };
  return { kind: 'prefix', path: first, noRegex: false };
}

/** Compiles a PCRE-style regex as JavaScript does, accepting PCRE's `(?P<name>...)`. */
export function compileRegex(source: string, caseless: boolean): RegExp {
  try {
    return new RegExp(source.replace(/\(\?P</g, '(?<'), caseless ? 'i' : '');
  } catch (err) {
    throw new Error(`invalid regex "${source}": ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`);
  }
}

/** One `server_name` entry, classified as nginx classifies it. */
export type ServerName =
  | { readonly kind: 'exact'; readonly name: string }
  | { readonly kind: 'leading-wildcard'; readonly suffix: string }
  | { readonly kind: 'trailing-wildcard'; readonly prefix: string }
  | { readonly kind: 'regex'; readonly regex: RegExp; readonly source: string };

/** Parses one `server_name` argument; `.example.com` gives two entries, as in nginx. */
export function parseServerName(arg: string): ServerName[] {
  if (arg.startsWith('~')) {
    return [{ kind: 'regex', regex: compileRegex(arg.slice(1), true), source: arg.slice(1) }];
  }
  const name = arg.toLowerCase();
  if (name.startsWith('*.')) return [{ kind: 'leading-wildcard', suffix: name.slice(1) }];
  if (name.endsWith('.*')) return [{ kind: 'trailing-wildcard', prefix: name.slice(0, -1) }];
  if (name.startsWith('.')) {
    return [
      { kind: 'exact', name: name.slice(1) },
      { kind: 'leading-wildcard', suffix: name },
    ];
  }
  if (name.includes('*')) throw new Error(`invalid server name or wildcard "${arg}"`);
  return [{ kind: 'exact', name }];
}

/** `disable_symlinks off|on|if_not_owner [from=part]`; `from` may hold variables. */
export interface DisableSymlinksConf {
  readonly mode: 'off' | 'on' | 'if_not_owner';
  readonly from: string | null;
}

/** `open_file_cache max=N [inactive=time]` (`off` is null). */
export interface OpenFileCacheConf {
  readonly max: number;
  /** Entries unused this long are dropped (ms; nginx's default 60s). */
  readonly inactive: number;
}

/** `disable_symlinks off|on|if_not_owner [from=part]`, nginx's checks and words. */
export function parseDisableSymlinks(args: readonly string[]): DisableSymlinksConf {
  if (args.length < 1 || args.length > 2) throw new Error('invalid number of arguments in "disable_symlinks" directive');
  let mode: DisableSymlinksConf['mode'] | null = null;
  let from: string | null = null;
  for (const arg of args) {
    if (arg === 'off' || arg === 'on' || arg === 'if_not_owner') mode = mode === null ? arg : fail(`duplicate parameters "${args[0]} ${args[1]}"`);
    else if (arg.startsWith('from=')) from = from === null ? arg.slice(5) : fail(`duplicate parameters "${args[0]} ${args[1]}"`);
    else fail(`invalid parameter "${arg}"`);
  }
  if (mode === null) fail('"disable_symlinks" must have "off", "on" or "if_not_owner" parameter');
  if (mode === 'off' && from !== null) fail('"from=" cannot be used with "off" parameter');
  return { mode, from };
}

/** `open_file_cache off | max=N [inactive=time]`; times also in ms (nginx: whole seconds). */
export function parseOpenFileCache(args: readonly string[]): OpenFileCacheConf | null {
  let max = 0;
  let inactive = 60_000;
  let off = false;
  for (const arg of args) {
    if (arg === 'off') off = true;
    else if (arg.startsWith('max=') && /^\d+$/.test(arg.slice(4)) && Number(arg.slice(4)) > 0) max = Number(arg.slice(4));
    else if (arg.startsWith('inactive=') && isTime(arg.slice(9))) inactive = parseTime(arg.slice(9));
    else fail(`invalid "open_file_cache" parameter "${arg}"`);
  }
  if (off) return null;
  if (max === 0) fail('"open_file_cache" must have the "max" parameter');
  return { max, inactive };
}

function isTime(value: string): boolean {
  try {
    parseTime(value);
    return true;
  } catch {
    return false;
  }
}

function fail(reason: string): never {
  throw new Error(reason);
}

/** `push_redis_url`: `redis://host:port[/db]` (port 6379 when left out), checked and kept as written. */
export function parseRedisUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`invalid Redis URL "${value}"`);
  }
  if (url.protocol !== 'redis:') throw new Error(`invalid Redis URL "${value}" (only redis:// is supported)`);
  if (!url.hostname) throw new Error(`no host in Redis URL "${value}"`);
  if (url.pathname !== '' && url.pathname !== '/' && !/^\/\d{1,2}$/.test(url.pathname)) throw new Error(`invalid database in Redis URL "${value}"`);
  return value;
}
