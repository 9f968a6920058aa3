/**
 * nginx's variables. A value such as `"$scheme://$host$request_uri"` is compiled once, at load,
 * into a function of the request; a request never parses a template.
 */
import { realpathSync } from 'node:fs';
import os from 'node:os';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basicCredentials } from './basic-credentials';
import type { ProxyAddresses } from './proxy-protocol';
import { SSL_VARIABLES } from './ssl-variables';
import { version } from './version';

/** What variables read: the request, and what the gateway learned about it. */
export interface VariableSource {
  readonly req: IncomingMessage;
  /** The client's own request (a subrequest's parent's): `$request`, `$request_uri`, `$request_method`. */
  readonly mainRequest: IncomingMessage;
  /** The connection's addresses, taken when the request came (a closed socket forgets them). */
  readonly remoteAddress: string;
  /** 0: none (a unix-domain client, or an address realip took from a header without a port). */
  readonly remotePort: number;
  /** The connection's peer, whatever realip made of `remoteAddress`. */
  readonly peerAddress: string;
  readonly peerPort: number;
  /** What the connection's PROXY header said (`listen ... proxy_protocol`), null without one. */
  readonly proxyProtocol: ProxyAddresses | null;
  readonly localAddress: string;
  readonly localPort: number;
  readonly res: ServerResponse | null;
  readonly uri: string;
  readonly args: string;
  readonly host: string;
  readonly scheme: string;
  readonly captures: readonly string[];
  readonly namedCaptures: Readonly<Record<string, string>>;
  /** `$server_name`: the server's first name. */
  readonly serverName: string;
  /** `$document_root`: the `root` of the location serving the request. */
  readonly documentRoot: string;
  /** When the request started, from `performance.now()`. */
  readonly startTime: number;
  readonly requestId: string;
  /** Body bytes sent so far (`$body_bytes_sent`), filled in by the access log. */
  readonly bodyBytesSent: number;
  /** The response status as logged (499 when the client went away first). */
  readonly status: number;
  /** The values modules set for this request (`ctx.setVariable`), null while none is set. */
  readonly setValues: ReadonlyMap<string, string> | null;
  /** The last upstream response's raw header lines (`$upstream_http_*`), null before one came. */
  readonly upstreamHeaders: readonly string[] | null;
  /** Each try of an upstream, in order (`$upstream_addr`, `$upstream_status`...), null when none was made. */
  readonly upstreamTries: readonly UpstreamTry[] | null;
  /** The connection's facts (`$connection`, `$connection_requests`, `$pipe`). */
  readonly connectionFacts: ConnectionFacts;
  /** What went out for this response, header included (`$bytes_sent`), filled in by the access log. */
  readonly bytesSent: number;
  /** The response went out whole (`$request_completion`), filled in by the access log. */
  readonly completed: boolean;
  /** `$request_filename`: the file path the request maps to (root or alias + URI). */
  readonly requestFilename: string;
  /** `$slice_range`: the slice module's (`modules/slice/slice-context.ts`); absent or '' where nothing is sliced. */
  sliceRange?(): string;
  /** Told when a declared variable is read before anything set it in this request (`uninitialized_variable_warn`). */
  unsetVariable?(name: string): void;
}

/**
 * One try of an upstream, as nginx's `ngx_http_upstream_state_t`: times in ms from the try's
 * start, -1 where the step was not reached (logged as `-`).
 */
export interface UpstreamTry {
  /** The peer: `127.0.0.1:8081`, `unix:/path`. */
  readonly addr: string;
  /** The upstream's status, or nginx's for a failed try (502, 504); 0 while unknown. */
  readonly status: number;
  readonly connectTime: number;
  readonly headerTime: number;
  readonly responseTime: number;
  /** Body bytes received. */
  readonly responseLength: number;
  /** Bytes received, the response header included. */
  readonly bytesReceived: number;
}

/** What the connection a request came on says about it. */
export interface ConnectionFacts {
  /** The connection's serial number (per worker). */
  readonly serial: number;
  /** This request's number on the connection (1 for the first). */
  readonly requests: number;
  /** The request came while an earlier one on the connection was still being answered. */
  readonly pipelined: boolean;
}

type Getter = (s: VariableSource) => string;

const HOSTNAME = os.hostname();
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** `23/Nov/2026:20:29:12 +0000`, nginx's `$time_local`. */
export function timeLocal(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return (
    `${pad(date.getDate())}/${MONTHS[date.getMonth()]}/${date.getFullYear()}:` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ` +
    `${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`
  );
}

/** The second `$time_local` and `$time_iso8601` were made for, and the strings: nginx formats them once a second. */
let cachedSecond = -1;
let cachedLocal = '';
let cachedIso = '';

function refreshTimes(): void {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second === cachedSecond) return;
  const date = new Date(second * 1000);
  cachedLocal = timeLocal(date);
  cachedIso = date.toISOString().replace(/\.\d{3}Z$/, '+00:00');
  cachedSecond = second;
}

function connectionUpgrade(s: VariableSource): string {
  return s.req.headers.upgrade ? 'upgrade' : 'close';
}

function forwardedFor(s: VariableSource): string {
  const previous = s.req.headers['x-forwarded-for'];
  const addr = s.remoteAddress || 'unix:';
  return previous ? `${Array.isArray(previous) ? previous.join(', ') : previous}, ${addr}` : addr;
}

/** The address of the last `$binary_remote_addr`, and its bytes (a connection's requests ask again and again). */
let lastAddress = '';
let lastBinary = '';

/**
 * `$binary_remote_addr`: the client's address as nginx stores it, 4 bytes for IPv4 and 16 for
 * IPv6 (an IPv4-mapped address too, as nginx on a dual-stack socket), one character per byte
 * (latin1), so an IPv4 and an IPv6 key never meet; a unix-domain client is `unix:`, as nginx.
 */
export function binaryAddress(address: string): string {
  if (address === lastAddress) return lastBinary;
  let bytes: number[] | null = null;
  if (address.includes(':')) bytes = ipv6Bytes(address);
  else if (address !== '') bytes = ipv4Bytes(address);
  lastAddress = address;
  lastBinary = bytes ? String.fromCharCode(...bytes) : address;
  return lastBinary;
}

function ipv4Bytes(text: string): number[] | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const bytes = parts.map(Number);
  return bytes.every((b, i) => /^\d{1,3}$/.test(parts[i]) && b <= 255) ? bytes : null;
}

function ipv6Bytes(text: string): number[] | null {
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  let tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  if (text.includes('.', lastColon)) {
    const v4 = ipv4Bytes(text.slice(lastColon + 1));
    if (!v4) return null;
    tail = v4;
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = text.split('::');
  const groups = (part: string | undefined) => (part ? part.split(':') : []);
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const missing = 8 - left.length - right.length;
  if (rest === undefined ? missing !== 0 : missing < 0) return null;
  const all = [...left, ...Array<string>(missing).fill('0'), ...right];
  const bytes: number[] = [];
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    const n = parseInt(g, 16);
    bytes.push(n >> 8, n & 0xff);
  }
  if (tail.length) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** A port as nginx's variables write it: empty when there is none (0). */
function portText(port: number): string {
  return port > 0 ? String(port) : '';
}

function requestLine(s: VariableSource): string {
  const main = s.mainRequest;
  return `${main.method} ${main.url} HTTP/${main.httpVersion}`;
}

/** `$realpath_root`: the root with its symbolic links resolved; empty when it cannot be (a root that is not there), as nginx's not found. */
function realpath(root: string): string {
  try {
    return realpathSync.native(root);
  } catch {
    return '';
  }
}

/** nginx's `%T.%03M` of a time in ms, `-` for one not reached. */
function seconds(ms: number): string {
  return ms < 0 ? '-' : (Math.floor(ms) / 1000).toFixed(3);
}

/** An `$upstream_*` variable: one value per try, `, ` between them; empty when no upstream was tried. */
function perTry(value: (t: UpstreamTry) => string): Getter {
  return (s) => (s.upstreamTries ? s.upstreamTries.map(value).join(', ') : '');
}

/**
 * `$request_length`: the request line, header and body. Node parses the head, so its length is
 * counted as a client writes it when it came; the body is its Content-Length (nginx counts what
 * it read of it: the same, but for a body refused unread or cut short; a chunked body's framing
 * is not counted).
 */
function requestLength(s: VariableSource): string {
  const req = s.mainRequest;
  const length = Number(req.headers['content-length']);
  return String(headLength(req) + (Number.isSafeInteger(length) && length > 0 ? length : 0));
}

/** The request line and header fields as a client writes them (`NAME: value\r\n`), in bytes. */
function headLength(req: IncomingMessage): number {
  let length = Buffer.byteLength(`${req.method} ${req.url} HTTP/${req.httpVersion}\r\n\r\n`, 'latin1');
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) length += Buffer.byteLength(raw[i], 'latin1') + Buffer.byteLength(raw[i + 1], 'latin1') + 4;
  return length;
}

/** Variables by name (without `$`). Prefixed families (`http_`, `arg_`, ...) are below. */
const VARIABLES: Record<string, Getter> = {
  host: (s) => s.host,
  hostname: () => HOSTNAME,
  // A unix-domain client is `unix:` (nginx's addr_text for one).
  remote_addr: (s) => s.remoteAddress || 'unix:',
  binary_remote_addr: (s) => binaryAddress(s.remoteAddress || 'unix:'),
  remote_port: (s) => portText(s.remotePort),
  realip_remote_addr: (s) => s.peerAddress || 'unix:',
  realip_remote_port: (s) => portText(s.peerPort),
  proxy_protocol_addr: (s) => s.proxyProtocol?.sourceAddress ?? '',
  proxy_protocol_port: (s) => (s.proxyProtocol ? portText(s.proxyProtocol.sourcePort) : ''),
  proxy_protocol_server_addr: (s) => s.proxyProtocol?.destinationAddress ?? '',
  proxy_protocol_server_port: (s) => (s.proxyProtocol ? portText(s.proxyProtocol.destinationPort) : ''),
  // nginx's $remote_user is the user the Authorization header names, whatever auth_basic says.
  remote_user: (s) => basicCredentials(s.req.headers.authorization)?.user ?? '',
  server_addr: (s) => s.localAddress,
  server_port: (s) => String(s.localPort),
  server_name: (s) => s.serverName,
  server_protocol: (s) => `HTTP/${s.req.httpVersion}`,
  scheme: (s) => s.scheme,
  https: (s) => (s.scheme === 'https' ? 'on' : ''),
  // nginx's $http2: `h2` over TLS, `h2c` in cleartext, empty for HTTP/1.x.
  http2: (s) => (s.req.httpVersionMajor === 2 ? (s.scheme === 'https' ? 'h2' : 'h2c') : ''),
  request: requestLine,
  request_uri: (s) => s.mainRequest.url ?? '',
  uri: (s) => s.uri,
  document_uri: (s) => s.uri,
  args: (s) => s.args,
  query_string: (s) => s.args,
  is_args: (s) => (s.args ? '?' : ''),
  request_method: (s) => s.mainRequest.method ?? '',
  request_id: (s) => s.requestId,
  request_time: (s) => ((performance.now() - s.startTime) / 1000).toFixed(3),
  request_length: requestLength,
  bytes_sent: (s) => String(s.bytesSent),
  request_completion: (s) => (s.completed ? 'OK' : ''),
  connection: (s) => String(s.connectionFacts.serial),
  connection_requests: (s) => String(s.connectionFacts.requests),
  pipe: (s) => (s.connectionFacts.pipelined ? 'p' : '.'),
  request_filename: (s) => s.requestFilename,
  upstream_addr: perTry((t) => t.addr),
  upstream_status: perTry((t) => (t.status ? String(t.status) : '-')),
  upstream_connect_time: perTry((t) => seconds(t.connectTime)),
  upstream_header_time: perTry((t) => seconds(t.headerTime)),
  upstream_response_time: perTry((t) => seconds(t.responseTime)),
  upstream_response_length: perTry((t) => String(t.responseLength)),
  upstream_bytes_received: perTry((t) => String(t.bytesReceived)),
  content_type: (s) => s.req.headers['content-type'] ?? '',
  content_length: (s) => s.req.headers['content-length'] ?? '',
  status: (s) => String(s.status),
  body_bytes_sent: (s) => String(s.bodyBytesSent),
  time_local: () => (refreshTimes(), cachedLocal),
  time_iso8601: () => (refreshTimes(), cachedIso),
  msec: () => (Date.now() / 1000).toFixed(3),
  pid: () => String(process.pid),
  nginx_version: () => version,
  proxy_add_x_forwarded_for: forwardedFor,
  http_upgrade: (s) => s.req.headers.upgrade ?? '',
  connection_upgrade: connectionUpgrade,
  slice_range: (s) => s.sliceRange?.() ?? '',
  realpath_root: (s) => realpath(s.documentRoot),
  document_root: (s) => s.documentRoot,
  ...SSL_VARIABLES,
};

function headerValue(value: string | string[] | number | undefined): string {
  if (value === undefined) return '';
  return Array.isArray(value) ? value.join(', ') : String(value);
}

/** Cookies are `; `-separated `name=value` pairs. */
function cookie(s: VariableSource, name: string): string {
  for (const part of (s.req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return '';
}

function queryArg(s: VariableSource, name: string): string {
  for (const part of s.args.split('&')) {
    const eq = part.indexOf('=');
    const key = eq < 0 ? part : part.slice(0, eq);
    if (key === name) return eq < 0 ? '' : part.slice(eq + 1);
  }
  return '';
}

const NO_NAMES: ReadonlySet<string> = new Set();

/**
 * The variables a module sets per request (nginx's module variables: `$limit_req_status`...;
 * `$remote_user` is not one: nginx reads it from the Authorization header): empty until the module sets them (`ctx.setVariable`).
 */
const SET_BY_MODULES: ReadonlySet<string> = new Set<string>(['limit_req_status', 'limit_conn_status', 'proxy_host', 'proxy_port', 'upstream_cache_status', 'limit_rate']);

/** What a module's variable reads before anything set it: `''`, but `$limit_rate`'s 0 (no limit). */
const UNSET_VALUES: Readonly<Record<string, string>> = { limit_rate: '0' };

/** Whether `name` is a variable a module sets per request (`ctx.setVariable` takes only these). */
export function isSetByModules(name: string): boolean {
  return SET_BY_MODULES.has(name);
}

function setValue(name: string): Getter {
  const unset = UNSET_VALUES[name] ?? '';
  return (s) => s.setValues?.get(name) ?? unset;
}

/**
 * Whether `name` is one of nginx's own variables that no directive may declare again (nginx's
 * `the duplicate "host" variable`). A name of a family (`$http_x`) may be declared, as in
 * nginx: the declared variable then wins over the family's.
 */
export function isBuiltInVariable(name: string): boolean {
  return (Object.hasOwn(VARIABLES, name) && !DEFINABLE.has(name)) || /^\d$/.test(name);
}

/** nginx 1.22's `$upstream_http_NAME`: the first upstream header line of that name (`-` in NAME as `_`). */
function upstreamHeader(s: VariableSource, lower: string): string {
  const raw = s.upstreamHeaders;
  if (raw === null) return '';
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i].length === lower.length && raw[i].toLowerCase() === lower) return raw[i + 1];
  return '';
}

/** Where a defined variable's getter goes once the configuration made it (it may be read before: a value compiled earlier). */
interface DefinedSlot {
  getter: Getter | null;
}

/**
 * The variables a configuration makes: its names (named captures of its regexes, user variables
 * its directives declare) and, for some, a getter the configuration itself defines (a `map`'s
 * `$variable`), as nginx's `ngx_http_add_variable` with a `get_handler`. A value compiled with
 * this set reads such a variable through `define`'s getter, whenever the value was compiled.
 */
export class ConfigVariables extends Set<string> {
  private readonly slots = new Map<string, DefinedSlot>();

  /** Declares `name` as a variable whose getter the configuration defines (`define`), once built. */
  declareDefined(name: string): void {
    this.add(name);
    if (!this.slots.has(name)) this.slots.set(name, { getter: null });
  }

  /** Gives a declared variable its getter; the last definition wins, as nginx's last `map` of a name. */
  define(name: string, getter: Getter): void {
    const slot = this.slots.get(name);
    if (!slot) throw new Error(`variable "${name}" was not declared`);
    slot.getter = getter;
  }

  /** The slot of a defined variable, null for a plain declared name. */
  slotOf(name: string): { readonly getter: Getter | null } | null {
    return this.slots.get(name) ?? null;
  }
}

/**
 * A variable the configuration makes: a named capture, a user variable a directive declares
 * (`auth_request_set`, `set`), or one it defines (`map`); in nginx they are one table, so what
 * a module set for the request wins over the definition. One that nothing set is empty, and
 * told (`uninitialized_variable_warn`).
 */
function declared(name: string, names: Pick<ReadonlySet<string>, 'has'>): Getter {
  const slot = names instanceof ConfigVariables ? names.slotOf(name) : null;
  if (slot) return (s) => s.setValues?.get(name) ?? (slot.getter ? slot.getter(s) : '');
  return (s) => {
    const value = s.setValues?.get(name) ?? s.namedCaptures[name];
    if (value !== undefined) return value;
    s.unsetVariable?.(name);
    return '';
  };
}

/**
 * The gateway's own shortcuts in the table of nginx's variables, which a configuration may
 * define (`map $http_upgrade $connection_upgrade`): `$connection_upgrade` is not nginx's, and
 * `$http_upgrade` is a member of the `$http_*` family.
 */
const DEFINABLE: ReadonlySet<string> = new Set(['connection_upgrade', 'http_upgrade']);

/**
 * The getter for a variable name, or null when nginx has no such variable. Captures (`$1`),
 * named captures, `$http_*`, `$sent_http_*`, `$arg_*` and `$cookie_*` are families.
 */
export function variableGetter(name: string, captureNames: Pick<ReadonlySet<string>, 'has'> = NO_NAMES): Getter | null {
  if (DEFINABLE.has(name) && captureNames.has(name)) return declared(name, captureNames);
  if (Object.hasOwn(VARIABLES, name)) return VARIABLES[name];
  if (SET_BY_MODULES.has(name)) return setValue(name);
  if (/^\d$/.test(name)) {
    const i = Number(name);
    return (s) => s.captures[i] ?? '';
  }
  // A declared name (a named capture, a user variable) before the families, as nginx's exact names.
  if (captureNames.has(name)) return declared(name, captureNames);
  const family = /^(http|sent_http|upstream_http|arg|cookie)_(.+)$/.exec(name);
  if (family) {
    const [, kind, rest] = family;
    const header = rest.toLowerCase().replace(/_/g, '-');
    // nginx matches `_` in the name to `-` or `_` in a header's (`underscores_in_headers on` keeps `X_A`).
    const spelled = rest.toLowerCase();
    if (kind === 'http') return spelled === header ? (s) => headerValue(s.req.headers[header]) : (s) => headerValue(s.req.headers[header] ?? s.req.headers[spelled]);
    if (kind === 'sent_http') return (s) => headerValue(s.res?.getHeader(header));
    if (kind === 'upstream_http') return (s) => upstreamHeader(s, header);
    if (kind === 'arg') return (s) => queryArg(s, rest);
    return (s) => cookie(s, rest);
  }
  return null;
}

/** A compiled value: a function of the request. */
export type CompiledValue = ((s: VariableSource) => string) & { readonly constant: string | null };

/**
 * A value with variables, compiled at load (`cx.compile`), evaluated per request
 * (`ctx.evaluate`); `constant` is its text when it has no variable.
 */
export type Template = CompiledValue;

/**
 * `text` as nginx's script compiler reads it: literal runs and `$name` / `${name}` references
 * (`$1a` is `$1` then `a`; a digit is a capture's number).
 */
export function splitReferences(text: string): (string | { readonly name: string })[] {
  const parts: (string | { readonly name: string })[] = [];
  const re = /\$(?:\{([A-Za-z0-9_]+)\}|(\d|[A-Za-z_][A-Za-z0-9_]*))/g;
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m.index > last) parts.push(text.slice(last, m.index));
    parts.push({ name: m[1] ?? m[2] });
    last = re.lastIndex;
  }
  if (last < text.length) parts.push(text.slice(last));
  return parts;
}

/**
 * Compiles `text` with `$name` and `${name}` references. `captureNames` are the named captures
 * of the regexes in scope (location, server_name). Throws on an unknown variable, with nginx's
 * message; the caller adds the file position. `escape`, when given, transforms each variable's
 * value (the access log's escaping).
 */
export function compileValue(
  text: string,
  captureNames: ReadonlySet<string> = NO_NAMES,
  escape?: (value: string) => string,
): CompiledValue {
  const parts = splitReferences(text).map((part): string | Getter => {
    if (typeof part === 'string') return part;
    const getter = variableGetter(part.name, captureNames);
    if (!getter) throw new Error(`unknown "${part.name}" variable`);
    return escape ? (s: VariableSource) => escape(getter(s)) : getter;
  });
  if (parts.every((p) => typeof p === 'string')) {
    const constant = parts.join('');
    return Object.assign(() => constant, { constant });
  }
  const fn = (s: VariableSource) => {
    let out = '';
    for (const p of parts) out += typeof p === 'string' ? p : p(s);
    return out;
  };
  return Object.assign(fn, { constant: null });
}
