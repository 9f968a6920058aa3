/**
 * The gateway's expected failures (a configuration that does not check, a request that ends
 * with an error status, an internal redirect) and the catalogue of their stable codes: tests
 * and callers match codes, never messages, as fastify's `FST_ERR_*` and undici's `UND_ERR_*`.
 */

/** Every code the gateway gives an error, with what it means. */
export const ERROR_CODES = {
  GW_ERR_CONFIG: 'the configuration does not check (one line with file:line:column)',
  GW_INTERNAL_REDIRECT: 'the request is served again for another URI or a named location',
  GW_ERROR_PAGE: 'an error_page that redirects to a URL',
  GW_REDIRECT_CYCLE: 'more than 10 internal redirects (500)',
  GW_NO_NAMED_LOCATION: 'an internal redirect to a named location that does not exist (500)',
  GW_BAD_URI: 'a request target nginx refuses (400)',
  GW_BAD_HOST: 'a Host nginx refuses (400)',
  GW_NO_HOST: 'an HTTP/1.1 request without Host (400)',
  GW_BAD_VERSION: 'an HTTP version nginx refuses (400)',
  GW_BAD_PSEUDO_HEADER: "an HTTP/2 request line nginx refuses: a method in lower case, no :scheme or no :path, as a CONNECT without :protocol (400)",
  GW_URI_TOO_LONG: 'a request line longer than nginx takes (414)',
  GW_HEADER_TOO_LARGE: 'a header line longer than nginx takes (400, nginx 494)',
  GW_TOO_MANY_HEADERS: 'more header lines than nginx takes (400, nginx 494)',
  GW_DUPLICATE_HEADER: 'a header nginx takes once given twice (400)',
  GW_BAD_CONTENT_LENGTH: 'an invalid Content-Length (400)',
  GW_BAD_TRANSFER_ENCODING: 'a Transfer-Encoding nginx refuses (400)',
  GW_TRACE: 'the TRACE method (405)',
  GW_HTTP2_CONNECT: 'a plain CONNECT on an HTTP/2 stream (400: no :scheme, as nginx)',
  GW_ACCESS_FORBIDDEN: 'an allow/deny rule refused the client (403)',
  GW_AUTH_REQUIRED: 'auth_basic: no credentials, an unknown user or a wrong password (401)',
  GW_AUTH_FILE_MISSING: 'auth_basic: the password file does not exist (403, as nginx)',
  GW_AUTH_FILE_UNREADABLE: 'auth_basic: the password file cannot be read (500)',
  GW_AUTH_CRYPT_FAILED: 'auth_basic: the system has no crypt(3) for a password hash (500)',
  GW_INTERNAL_LOCATION: "a client's request for an `internal` location (404)",
  GW_UNSAFE_ACCEL_REDIRECT: 'an upstream\'s X-Accel-Redirect names an unsafe URI (404, "unsafe URI ... was detected")',
  GW_AUTO_REDIRECT: 'nginx\'s auto_redirect: a proxied location `/app/` asked for as `/app` (301 to `/app/`)',
  GW_AUTH_REQUEST_FORBIDDEN: 'the auth_request subrequest answered 403 (403)',
  GW_AUTH_REQUEST_UNAUTHORIZED: "the auth_request subrequest answered 401 (401, with its WWW-Authenticate)",
  GW_AUTH_REQUEST_STATUS: 'the auth_request subrequest answered another status than 2xx, 401 or 403 (500)',
  GW_LIMIT_REQ: 'limit_req refused the request: over its burst, or no room in its zone (limit_req_status, 503)',
  GW_LIMIT_CONN: 'limit_conn refused the request: its key at the limit, or no room in its zone (limit_conn_status, 503)',
  GW_BODY_TOO_LARGE: 'a request body over client_max_body_size (413)',
  GW_BODY_TIMEOUT: 'a request body that stalled past client_body_timeout (408: closed unanswered)',
  GW_BODY_INVALID: 'a malformed chunked request body (400)',
  GW_BODY_TEMP_FILE: 'a request body that could not be written to its temporary file (500)',
  GW_CLIENT_CLOSED: 'the client closed before its request was answered (499)',
  GW_SCRIPT_FAILED: 'a phase script (access_by, content_by...) threw, rejected or outlived script_timeout (500)',
  GW_SCRIPT_EXIT: "a phase script's exit(status) or redirect (that status, nginx's page or error_page)",
  GW_METRICS_TIMEOUT: 'the master did not answer with the counters in time (503)',
  GW_BALANCER_SCRIPT: 'a balancer_by script threw, rejected or did not settle within proxy_connect_timeout (500)',
  GW_BALANCER_NO_PEER: 'a balancer_by script set no peer for an upstream without servers (500)',
  GW_NO_LIVE_UPSTREAMS: "every peer of an upstream is down or out for its failures (502)",
  GW_UPSTREAM_CONNECT: 'the upstream refused or failed the connection (502)',
  GW_UPSTREAM_TIMEOUT: 'the upstream did not connect, take or answer in time (504)',
  GW_UPSTREAM_RESET: 'the upstream reset the connection (502)',
  GW_UPSTREAM_CLOSED: 'the upstream closed the connection early (502)',
  GW_UPSTREAM_INVALID: 'the upstream sent an invalid response header (502)',
  GW_UPSTREAM_ERROR: 'another upstream failure (502)',
  GW_UPSTREAM_REQUEST: 'the upstream request could not be made (502)',
  GW_UPSTREAM_NEXT: 'the upstream answered a status proxy_next_upstream passes on (internal)',
  GW_UPSTREAM_RESOLVE: 'the host a proxy_pass with variables names could not be resolved, or no resolver is configured (502)',
  GW_UPSTREAM_URL: 'a proxy_pass with variables made a URL that is not valid (500)',
  GW_CACHE_UNKNOWN: 'a proxy_cache with variables named a zone no proxy_cache_path declares (500)',
  GW_PUSH_CHANNEL: 'a channel id that is not valid (400)',
  GW_PUSH_LAST_ID: 'a malformed last message id (400)',
  GW_PUSH_INPUT: 'a push operation given input it refuses (400)',
  GW_PUSH_SECRET: "a publisher's secret missing or wrong (403)",
  GW_PUSH_WEBSOCKET_ONLY: 'an event stream asked of a WebSocket-only subscriber location (400)',
  GW_PUSH_EVENTSOURCE_ONLY: 'a WebSocket asked of an EventSource-only subscriber location (400)',
  GW_PUSH_UNAVAILABLE: 'the channels cannot be reached now (503)',
  GW_PUSH_SUBSCRIBER_TYPE: 'a request that no subscriber type of an nchan_subscriber location takes (403)',
  GW_WS_CLOSED: 'a WebSocket operation on a connection that is gone',
  GW_WS_PROTOCOL: 'the peer broke the WebSocket protocol',
  GW_WS_PAYLOAD_TOO_BIG: 'a frame over max_payload_len or max_send_len',
  GW_WS_BAD_CLOSE_CODE: 'a close code that may not be sent',
  GW_WS_BUSY: 'a second recvFrame while one waits',
} as const;

/**
 * Brands that make `instanceof` hold across copies of this module: a handler that imports the
 * package by name (loaded by TypeScript's loader, or from another install) gets classes of its
 * own, and its errors must still be the gateway's.
 */
const CONFIG_ERROR = Symbol.for('gateway.ConfigError');
const HTTP_ERROR = Symbol.for('gateway.HttpError');
const INTERNAL_REDIRECT = Symbol.for('gateway.InternalRedirect');

/** Whether `value` carries `brand` (set by the constructor of one copy or another of a class). */
function branded(value: unknown, brand: symbol): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[brand] === true;
}

/** A code of the catalogue. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** What an `HttpError` carries: a catalogue code, or `GW_HTTP_<status>` for a plain error status. */
export type HttpErrorCode = ErrorCode | `GW_HTTP_${number}`;

/** Where something stands in a configuration file (1-based line and column). */
export interface Position {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

/**
 * A configuration that does not check. Printed as one line, nginx's way:
 * `[emerg] unknown directive "foo" in conf/site.yaml:12:3`. The line is always one line and
 * readable: line breaks, control characters and invisible white space in it (a value's own, a
 * file name's) are written as escapes (`\n`, `\u00a0`), and a very long reason is cut in its
 * middle, as nginx cuts its error lines (NGX_MAX_ERROR_STR).
 */
export class ConfigError extends Error {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return branded(value, CONFIG_ERROR);
  }

  readonly [CONFIG_ERROR] = true;
  readonly code: ErrorCode = 'GW_ERR_CONFIG';
  readonly reason: string;
  constructor(
    reason: string,
    readonly position?: Position,
  ) {
    const shown = oneLine(reason);
    super(position ? `${shown} in ${oneLine(formatPosition(position))}` : shown);
    this.reason = shown;
    this.name = 'ConfigError';
  }
}

/** `file:line:col`, the way editors and compilers point at a place. */
export function formatPosition(p: Position): string {
  return `${p.file}:${p.line}:${p.col}`;
}

/** The longest reason shown whole; a longer one keeps its start and its end. */
const MAX_REASON_LENGTH = 1000;

/**
 * Characters never shown as they are: C0 and C1 controls but the tab, DEL, line and paragraph
 * separators, white space other than the space, and invisible format characters (U+FEFF...).
 */
const UNSHOWN = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u00a0\u00ad\u061c\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff\ufff9-\ufffb]/g;

/** `text` as one readable line of at most about MAX_REASON_LENGTH characters. */
export function oneLine(text: string): string {
  const escaped = text.replace(UNSHOWN, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
  if (escaped.length <= MAX_REASON_LENGTH) return escaped;
  const half = MAX_REASON_LENGTH / 2;
  // Never cut a surrogate pair in two.
  const head = escaped.slice(0, isHighSurrogate(escaped.charCodeAt(half - 1)) ? half - 1 : half);
  const tail = escaped.slice(isLowSurrogate(escaped.charCodeAt(escaped.length - half)) ? escaped.length - half + 1 : escaped.length - half);
  return `${head}...${tail}`;
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;
const isLowSurrogate = (code: number) => code >= 0xdc00 && code <= 0xdfff;

/**
 * A request that ends with an error status. Thrown (or rejected) by a handler, it is rendered
 * in one place as nginx's error page, or by the location's `error_page`.
 */
export class HttpError extends Error {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return branded(value, HTTP_ERROR);
  }

  readonly [HTTP_ERROR] = true;

  constructor(
    readonly status: number,
    readonly code: HttpErrorCode = `GW_HTTP_${status}`,
    message?: string,
    /** Extra response headers, e.g. `Content-Range` on 416 or `Location` on 301; a list for a header sent more than once (two `WWW-Authenticate`). */
    readonly headers: Readonly<Record<string, string | readonly string[]>> = {},
  ) {
    super(message ?? `HTTP ${status}`);
    this.name = 'HttpError';
  }
}

/**
 * Thrown by a handler to have the request served again for another URI: nginx's internal
 * redirect (the `index` module, `try_files`). Locations are matched anew; a URI starting with
 * `@` names a named location. A request may be redirected 10 times, as in nginx.
 */
export class InternalRedirect extends Error {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return branded(value, INTERNAL_REDIRECT);
  }

  readonly [INTERNAL_REDIRECT] = true;
  readonly code: ErrorCode = 'GW_INTERNAL_REDIRECT';
  constructor(
    /** The new `$uri` (decoded, as `$uri` is), or `@name`. */
    readonly uri: string,
    /** The new `$args`. */
    readonly args: string,
  ) {
    super(`internal redirect to "${uri}"`);
    this.name = 'InternalRedirect';
  }
}

/**
 * nginx's post-rewrite phase: a location's rewrite directives changed `$uri` (a `rewrite`
 * without `break`): the location is found again for it, counted with the internal redirects,
 * and the request keeps its context (unlike an internal redirect, which starts it anew).
 */
export class UriRewritten extends InternalRedirect {
  static override [Symbol.hasInstance](value: unknown): boolean {
    return typeof value === 'object' && value !== null && Object.prototype.isPrototypeOf.call(UriRewritten.prototype, value);
  }

  constructor(uri: string, args: string) {
    super(uri, args);
    this.name = 'UriRewritten';
  }
}
