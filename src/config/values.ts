/**
 * Pure parsers for nginx's argument syntax: times, sizes, flags, `listen`, `location`,
 * `server_name`, `disable_symlinks`, `open_file_cache`. Each throws a plain `Error` whose
 * message is the reason; the caller adds the file position.
 */

import type { DisableSymlinksConf, OpenFileCacheConf } from './model';

/** nginx's time units, in milliseconds. */
const TIME_UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  M: 2_592_000_000,
  y: 31_536_000_000,
};

/**
 * A time as nginx writes it (`500ms`, `2s`, `1m`, `1h 30m`), in milliseconds. A bare number
 * is in `bareUnit` (seconds for nginx's directives, milliseconds where a handler says so).
 */
export function parseTime(value: string | number, bareUnit: 's' | 'ms' = 's'): number {
  if (typeof value === 'number') return checkedNumber(value) * TIME_UNITS[bareUnit];
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * TIME_UNITS[bareUnit];
  let total = 0;
  let rest = text;
  if (!rest) throw new Error(`invalid time "${value}"`);
  while (rest) {
    const m = /^(\d+)(ms|s|m|h|d|w|M|y)\s*/.exec(rest);
    if (!m) throw new Error(`invalid time "${value}"`);
    total += Number(m[1]) * TIME_UNITS[m[2]];
    rest = rest.slice(m[0].length);
  }
  return total;
}

/** A size as nginx writes it (`512`, `64k`, `1m`, `1g`), in bytes. */
export function parseSize(value: string | number): number {
  if (typeof value === 'number') return checkedNumber(value);
  const m = /^(\d+)([kKmMgG]?)$/.exec(value.trim());
  if (!m) throw new Error(`invalid size "${value}"`);
  const unit = m[2].toLowerCase();
  const factor = unit === 'k' ? 1024 : unit === 'm' ? 1024 ** 2 : unit === 'g' ? 1024 ** 3 : 1;
  return Number(m[1]) * factor;
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
 * Splits one nginx directive occurrence into its arguments: white space separates, single or
 * double quotes group, a backslash escapes the next character, `""` is an empty argument.
 */
export function splitArgs(text: string): string[] {
  const args: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    let raw = '';
    if (c === '"' || c === "'") {
      i++;
      while (i < text.length && text[i] !== c) raw += text[i] === '\\' && i + 1 < text.length ? text[i++] + text[i++] : text[i++];
      if (i >= text.length) throw new Error(`unbalanced quote in "${text}"`);
      i++;
    } else {
      while (i < text.length && !/\s/.test(text[i])) raw += text[i] === '\\' && i + 1 < text.length ? text[i++] + text[i++] : text[i++];
    }
    args.push(unescape(raw));
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
  readonly ipv6only: boolean;
  readonly soKeepalive: SoKeepalive | null;
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
    ipv6only: true,
    soKeepalive: null as SoKeepalive | null,
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
        // Not silently ignored: see the README's note on HTTP/2.
        throw new Error('the "http2" parameter of "listen" is not supported yet');
      case 'reuseport':
        spec.reuseport = true;
        break;
      case 'backlog': {
        const n = Number(value);
        if (!/^-?\d+$/.test(value ?? '') || n === 0) throw new Error(`invalid backlog "${value}"`);
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

/** `on`, `off`, or `[idle]:[intvl]:[cnt]` with nginx's time units for idle and intvl. */
export function parseSoKeepalive(value: string): SoKeepalive {
  if (value === 'on') return { enabled: true, idle: null, interval: null, count: null };
  if (value === 'off') return { enabled: false, idle: null, interval: null, count: null };
  const parts = value.split(':');
  if (parts.length !== 3 || parts.every((p) => p === '')) throw new Error(`invalid so_keepalive value "${value}"`);
  const seconds = (p: string) => {
    if (p === '') return null;
    const ms = parseTime(p, 's');
    if (ms < 1000 || ms % 1000 !== 0) throw new Error(`invalid so_keepalive value "${value}"`);
    return ms / 1000;
  };
  const count = parts[2] === '' ? null : Number(parts[2]);
  if (count !== null && (!/^\d+$/.test(parts[2]) || count < 1)) throw new Error(`invalid so_keepalive value "${value}"`);
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
