/**
 * The proxy's header rules, pure: what goes upstream (nginx's defaults `Host: $proxy_host` and
 * `Connection: close`, then `proxy_set_header`, then the client's end-to-end headers) and what
 * comes back to the client (hop-by-hop headers dropped, upstream `Server`, `Date`, `X-Pad`
 * and `X-Accel-*` hidden as nginx's `proxy_hide_header` default does).
 */
import type { IncomingMessage } from 'node:http';
import { reasonPhrase } from '../../http/status';
import { compileValue, type CompiledValue } from '../../http/variables';
import type { RequestContext } from '../../types';

/** A header line: name as it will be written, and its value. Repeated names are repeated lines. */
export type HeaderLine = readonly [name: string, value: string];

/** Hop-by-hop headers (RFC 9110 7.6.1, plus the old Keep-Alive and Proxy-Connection). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** What nginx never copies from the client: it answers `Expect` itself. */
const NOT_FORWARDED = new Set(['expect']);

/** nginx's `proxy_hide_header` default list: the gateway writes its own `Server` and `Date`. */
const DEFAULT_HIDDEN = ['date', 'server', 'x-pad', 'x-accel-expires', 'x-accel-redirect', 'x-accel-limit-rate', 'x-accel-buffering', 'x-accel-charset'];

/** The default hidden set (no `proxy_hide_header` or `proxy_pass_header`). */
export const HIDDEN_RESPONSE: ReadonlySet<string> = new Set(DEFAULT_HIDDEN);

/**
 * The upstream response headers a location hides: nginx's default list and `proxy_hide_header`,
 * less `proxy_pass_header`; lower case.
 */
export function hiddenHeaders(hide: readonly string[], pass: readonly string[]): ReadonlySet<string> {
  const hidden = new Set([...DEFAULT_HIDDEN, ...hide.map((h) => h.toLowerCase())]);
  // Every X-Accel-* header is copied when passed (nginx's copy handler for each is ngx_http_upstream_copy_header_line).
  for (const name of pass) hidden.delete(name.toLowerCase());
  return hidden;
}

/** One header the proxy writes itself, compiled once. */
export interface OwnHeader {
  readonly name: string;
  readonly value: CompiledValue;
}

/** The request headers of a location, compiled at load. */
export interface RequestHeaderPlan {
  /** The proxy's own headers in order: the defaults not overridden, then `proxy_set_header`. */
  readonly own: readonly OwnHeader[];
  /** Lower-case names of `own`: the client's headers of these names are not copied. */
  readonly ownNames: ReadonlySet<string>;
}

/**
 * Compiles `proxy_set_header` over nginx's defaults `Host: $proxy_host` and `Connection:
 * close`, whatever `proxy_http_version` says: with 1.1 and `proxy_set_header Connection ""`
 * no Connection header goes and the keep-alive agent keeps the upstream connection. Throws on
 * an unknown variable.
 */
export function compileRequestHeaders(
  setHeaders: readonly (readonly [string, string])[],
  proxyHost: string,
  captureNames: ReadonlySet<string>,
): RequestHeaderPlan {
  const userNames = new Set(setHeaders.map(([name]) => name.toLowerCase()));
  // nginx sends `Connection: close` under either version: a kept connection takes `proxy_set_header Connection ""`.
  const defaults: [string, string][] = [['Host', proxyHost], ['Connection', 'close']];
  // nginx's order: the location's own headers, then the defaults they leave.
  const own: OwnHeader[] = setHeaders.map(([name, value]) => ({ name, value: compileValue(value, captureNames) }));
  for (const [name, value] of defaults) {
    if (!userNames.has(name.toLowerCase())) own.push({ name, value: compileValue(value, captureNames) });
  }
  const ownNames = new Set([...userNames, ...defaults.map(([name]) => name.toLowerCase())]);
  return { own, ownNames };
}

const NO_TOKENS: ReadonlySet<string> = new Set();

/** The token sets of the Connection values seen lately (a handful: `close`, `keep-alive`, `Upgrade`...), at most this many. */
const TOKENS_KEPT = 64;
const tokensByValue = new Map<string, ReadonlySet<string>>();

/** Lower-case names listed in a `Connection` header value (a set made once per value seen lately). */
export function connectionTokens(value: string | string[] | undefined): ReadonlySet<string> {
  if (value === undefined) return NO_TOKENS;
  const text = Array.isArray(value) ? value.join(',') : (value ?? '');
  let tokens = tokensByValue.get(text);
  if (tokens === undefined) {
    tokens = new Set(text.split(',').map((t) => t.trim().toLowerCase()).filter(Boolean));
    if (tokensByValue.size >= TOKENS_KEPT) tokensByValue.clear();
    tokensByValue.set(text, tokens);
  }
  return tokens;
}

/**
 * The headers of one upstream request. An own header whose value comes out empty is not
 * sent (nginx's `proxy_set_header X ""`). Hop-by-hop headers of the client, and any it names
 * in `Connection`, stay behind. The body's framing follows the own headers, as nginx's: the
 * length of a body read whole (`bodyLength`), else the client's Content-Length, else chunked
 * again. The client's `Upgrade` never goes up by itself: only a location's own `Upgrade`
 * (`proxy_set_header Upgrade $http_upgrade`, nginx's recipe) sends one, for an upgrade too.
 */
export function buildRequestHeaders(plan: RequestHeaderPlan, req: IncomingMessage, ctx: Pick<RequestContext, 'evaluate'>, bodyLength: number | null = null): HeaderLine[] {
  const lines: HeaderLine[] = [];
  for (const { name, value } of plan.own) {
    const text = ctx.evaluate(value);
    if (text !== '') lines.push([name, text]);
  }
  // A body someone already read (an internal redirect) is not there to send: no framing for it.
  const bodyGone = req.readableEnded && bodyLength === null;
  if (!plan.ownNames.has('content-length') && !plan.ownNames.has('transfer-encoding')) {
    const length = req.headers['content-length'];
    if (bodyLength !== null) lines.push(['Content-Length', String(bodyLength)]);
    else if (!bodyGone && req.headers['transfer-encoding'] !== undefined) lines.push(['Transfer-Encoding', 'chunked']);
    else if (!bodyGone && length !== undefined) lines.push(['Content-Length', length]);
  }
  const listed = connectionTokens(req.headers.connection);
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = raw[i].toLowerCase();
    if (plan.ownNames.has(lower) || HOP_BY_HOP.has(lower) || NOT_FORWARDED.has(lower) || listed.has(lower) || lower === 'content-length') continue;
    lines.push([raw[i], raw[i + 1]]);
  }
  return lines;
}

/** Groups lines by name (case-insensitive, first spelling kept) for `setHeader(name, values)`. */
export function groupHeaders(lines: readonly HeaderLine[]): Map<string, string[]> {
  const byLower = new Map<string, { name: string; values: string[] }>();
  for (const [name, value] of lines) {
    const lower = name.toLowerCase();
    const entry = byLower.get(lower);
    if (entry) entry.values.push(value);
    else byLower.set(lower, { name, values: [value] });
  }
  return new Map([...byLower.values()].map(({ name, values }) => [name, values]));
}

/**
 * The upstream response headers the client gets, in order and with repeats kept (several
 * `Set-Cookie`): hop-by-hop headers, those the upstream names in `Connection`, and nginx's
 * hidden headers (`hidden`) are dropped. `keep` spares some hop-by-hop names (`Connection` and `Upgrade`
 * of a 101).
 */
export function responseHeaders(rawHeaders: readonly string[], hidden: ReadonlySet<string> = HIDDEN_RESPONSE, keep: ReadonlySet<string> = NO_TOKENS): HeaderLine[] {
  const lower: string[] = new Array(rawHeaders.length >> 1);
  let listed: ReadonlySet<string> = NO_TOKENS;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (lower[i >> 1] = rawHeaders[i].toLowerCase());
    if (name === 'connection') listed = listed === NO_TOKENS ? connectionTokens(rawHeaders[i + 1]) : new Set([...listed, ...connectionTokens(rawHeaders[i + 1])]);
  }
  const lines: HeaderLine[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = lower[i >> 1];
    if (hidden.has(name)) continue;
    if (!keep.has(name) && (HOP_BY_HOP.has(name) || listed.has(name))) continue;
    lines.push([rawHeaders[i], rawHeaders[i + 1]]);
  }
  return lines;
}

/**
 * The head of a response written raw to a socket (an upgrade the upstream refused): the
 * status line, the gateway's `Server` and `Date` (unless `lines` pass the upstream's), `lines`,
 * then `Connection: close`.
 */
export function rawResponseHead(status: number, reason: string, signature: string, lines: readonly HeaderLine[]): string {
  let head = `HTTP/1.1 ${status} ${reason || reasonPhrase(status)}\r\n`;
  for (const [name, value] of ownServerDate(signature, lines)) head += `${name}: ${value}\r\n`;
  for (const [name, value] of lines) head += `${name}: ${value}\r\n`;
  return `${head}Connection: close\r\n\r\n`;
}

/**
 * The headers of a 101 as http-proxy writes them (an object; arrays for repeats): the
 * gateway's `Server` and `Date` unless passed on, then the upstream's, hidden ones dropped
 * and the rest rewritten by `rewrite`.
 */
export function switchingHeaders(
  rawHeaders: readonly string[],
  signature: string,
  hidden: ReadonlySet<string> = HIDDEN_RESPONSE,
  rewrite: (lines: readonly HeaderLine[]) => readonly HeaderLine[] = (lines) => lines,
): Record<string, string | string[]> {
  const lines = rewrite(responseHeaders(rawHeaders, hidden, new Set(['connection', 'upgrade'])));
  const out: Record<string, string | string[]> = Object.fromEntries(ownServerDate(signature, lines));
  for (const [name, values] of groupHeaders(lines)) out[name] = values.length === 1 ? values[0] : values;
  return out;
}

/** The gateway's `Server` and `Date`, less those the upstream's lines carry (`proxy_pass_header`). */
export function ownServerDate(signature: string, lines: readonly HeaderLine[]): HeaderLine[] {
  const passed = new Set(lines.map(([name]) => name.toLowerCase()));
  const own: HeaderLine[] = [];
  if (!passed.has('server')) own.push(['Server', signature]);
  if (!passed.has('date')) own.push(['Date', new Date().toUTCString()]);
  return own;
}
