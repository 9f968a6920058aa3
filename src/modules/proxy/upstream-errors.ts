/**
 * What the proxy says when an upstream fails: the status (502, or 504 for a timeout), a stable
 * code, and nginx's error log line (`connect() failed (111: Connection refused) while
 * connecting to upstream, client: ..., upstream: "..."`). Also the one-slot timer that carries
 * nginx's connect, send and read timeouts.
 */
import type { IncomingMessage } from 'node:http';
import { HttpError, type ErrorCode } from '../../errors';
import type { Counters, Logger } from '../../types';

/** Where an exchange with the upstream stands, in the words of nginx's log context. */
export type UpstreamPhase =
  | 'connecting to upstream'
  | 'sending request to upstream'
  | 'reading response header from upstream'
  | 'reading upstream'
  | 'proxying upgraded connection';

/** Codes of the proxy's `HttpError`s. */
export const UPSTREAM_CODES = {
  connect: 'GW_UPSTREAM_CONNECT',
  timeout: 'GW_UPSTREAM_TIMEOUT',
  reset: 'GW_UPSTREAM_RESET',
  closed: 'GW_UPSTREAM_CLOSED',
  invalid: 'GW_UPSTREAM_INVALID',
  error: 'GW_UPSTREAM_ERROR',
} as const satisfies Record<string, ErrorCode>;

/** An upstream failure, classified. */
export interface UpstreamFailure {
  readonly status: 502 | 504;
  readonly code: ErrorCode;
  /** nginx's words for what happened, before ` while ...`. */
  readonly reason: string;
  /** The error log level when not `error` (nginx logs a unix socket that is not there at `crit`). */
  readonly level?: 'crit';
}

/** What a unix socket's connect() says, as nginx (`connect() to unix:/path failed (2: No such file or directory)`). */
const UNIX_CONNECT: Readonly<Record<string, { text: string; level?: 'crit' }>> = {
  ENOENT: { text: '2: No such file or directory', level: 'crit' },
  ECONNREFUSED: { text: '111: Connection refused' },
  EACCES: { text: '13: Permission denied', level: 'crit' },
  ENOTSOCK: { text: '88: Socket operation on non-socket', level: 'crit' },
  EAGAIN: { text: '11: Resource temporarily unavailable' },
};

/** The error the proxy's own timers raise. */
export class UpstreamTimeout extends Error {
  readonly code = 'ETIMEDOUT';
  constructor() {
    super('upstream timed out');
  }
}

const TIMED_OUT = 'upstream timed out (110: Connection timed out)';

/** Classifies an error of the upstream connection or of Node's HTTP client. */
export function classifyUpstreamError(err: unknown): UpstreamFailure {
  const e = err as NodeJS.ErrnoException & { hostname?: string };
  if (err instanceof UpstreamTimeout || e?.code === 'ETIMEDOUT') return { status: 504, code: UPSTREAM_CODES.timeout, reason: TIMED_OUT };
  // A unix socket fails at connect() at once, and nginx names it.
  const address = (e as { address?: unknown })?.address;
  if (e?.syscall === 'connect' && typeof address === 'string' && address.startsWith('/') && e.code && Object.hasOwn(UNIX_CONNECT, e.code)) {
    const { text, level } = UNIX_CONNECT[e.code];
    return { status: 502, code: UPSTREAM_CODES.connect, reason: `connect() to unix:${address} failed (${text})`, ...(level ? { level } : {}) };
  }
  switch (e?.code) {
    case 'ECONNREFUSED':
      return { status: 502, code: UPSTREAM_CODES.connect, reason: 'connect() failed (111: Connection refused)' };
    case 'EHOSTUNREACH':
      return { status: 502, code: UPSTREAM_CODES.connect, reason: 'connect() failed (113: No route to host)' };
    case 'ENETUNREACH':
      return { status: 502, code: UPSTREAM_CODES.connect, reason: 'connect() failed (101: Network is unreachable)' };
    case 'EADDRNOTAVAIL':
      return { status: 502, code: UPSTREAM_CODES.connect, reason: 'connect() failed (99: Cannot assign requested address)' };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { status: 502, code: UPSTREAM_CODES.connect, reason: `${e.hostname ?? 'upstream'} could not be resolved (3: Host not found)` };
    case 'EPIPE':
      return { status: 502, code: UPSTREAM_CODES.reset, reason: 'writev() failed (32: Broken pipe)' };
    case 'ECONNRESET':
      // Node says "socket hang up" when the upstream closed cleanly before answering.
      if (e.syscall === undefined && /hang up|aborted/i.test(e.message)) {
        return { status: 502, code: UPSTREAM_CODES.closed, reason: 'upstream prematurely closed connection' };
      }
      return { status: 502, code: UPSTREAM_CODES.reset, reason: 'recv() failed (104: Connection reset by peer)' };
  }
  // undici's (the lean path): a socket that ended or closed before the response was whole;
  // llhttp's errors (no code: the message says what), a length its parser refused (two, or with chunked).
  // ('bad response': a 100 to a request that sent no Expect, which undici refuses.)
  if (e?.code === 'UND_ERR_SOCKET') return e.message === 'bad response' ? INVALID_HEADER : PREMATURE_CLOSE;
  if (e?.code === 'UND_ERR_HEADERS_OVERFLOW') return { status: 502, code: UPSTREAM_CODES.invalid, reason: 'upstream sent too big header' };
  if (e?.code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') return INVALID_HEADER;
  if (e?.name === 'HTTPParserError') {
    const noStatusLine = /Invalid status|Expected HTTP\//.test(e.message);
    return noStatusLine ? { status: 502, code: UPSTREAM_CODES.invalid, reason: 'upstream sent no valid HTTP/1.0 header' } : INVALID_HEADER;
  }
  if (typeof e?.code === 'string' && e.code.startsWith('HPE_')) {
    const reason =
      e.code === 'HPE_INVALID_CONSTANT' || e.code === 'HPE_INVALID_STATUS' ? 'upstream sent no valid HTTP/1.0 header' : e.code === 'HPE_HEADER_OVERFLOW' ? 'upstream sent too big header' : 'upstream sent invalid header';
    return { status: 502, code: UPSTREAM_CODES.invalid, reason };
  }
  return { status: 502, code: UPSTREAM_CODES.error, reason: `upstream error (${e?.code ?? 'unknown'}: ${e?.message ?? String(err)})` };
}

/** nginx's failure for a response header the gateway cannot pass on. */
export const INVALID_HEADER: UpstreamFailure = { status: 502, code: UPSTREAM_CODES.invalid, reason: 'upstream sent invalid header' };

/**
 * A `101 Switching Protocols` to a request that forwarded no `Upgrade` (the location does not
 * ask for upgrades): never tunnelled. nginx 1.22 tunnels it when the client sent an Upgrade.
 */
export const UNASKED_UPGRADE: UpstreamFailure = { status: 502, code: UPSTREAM_CODES.invalid, reason: 'upstream sent "101 Switching Protocols" to a request that asked for no upgrade' };

/** nginx's failure for an upstream that closed in the middle of a response body. */
export const PREMATURE_CLOSE: UpstreamFailure = { status: 502, code: UPSTREAM_CODES.closed, reason: 'upstream prematurely closed connection' };

/** The `HttpError` a failure is rendered as. */
export function failureError(failure: UpstreamFailure): HttpError {
  return new HttpError(failure.status, failure.code, failure.reason);
}

/**
 * nginx's context for an error log line: `, client: ..., server: ..., request: "...",
 * upstream: "...", host: "..."`. `client` is the request's address (realip's, when it set one); in
 * a subrequest (`main`: the client's request, `uri`: the subrequest's), the client's request
 * line and `subrequest: "URI"` after it.
 */
export function logContext(req: IncomingMessage, client: string, serverName: string, upstream: string, main: IncomingMessage = req, uri = ''): string {
  const host = req.headers.host;
  return (
    `, client: ${client || 'unix:'}, server: ${serverName}, ` +
    `request: "${main.method} ${main.url} HTTP/${main.httpVersion}"${main !== req ? `, subrequest: "${uri}"` : ''}, upstream: "${upstream}"` +
    (host ? `, host: "${host}"` : '')
  );
}

/** A log context given as a string, or made now by its function (built only when a line is logged). */
export function contextOf(context: string | (() => string)): string {
  return typeof context === 'string' ? context : context();
}

/** Where a failure is told: the error log (nginx's line), and the upstream error counters. */
export interface FailureSinks {
  readonly log: Logger;
  readonly counters?: Counters | null;
  readonly context: string | (() => string);
}

/** nginx's error log line for a failed exchange (`crit` or `error`), and the failure counted. */
export function logUpstreamFailure(sinks: FailureSinks, failure: UpstreamFailure, phase: UpstreamPhase): void {
  sinks.counters?.upstreamError(failure.code);
  const line = `${failure.reason} while ${phase}${contextOf(sinks.context)}`;
  if (failure.level === 'crit') sinks.log.crit(line);
  else sinks.log.error(line);
}

/** One timer slot: arming it replaces what was armed. 0 ms disarms (nginx has no 0 timeout). */
export class Deadline {
  private timer: NodeJS.Timeout | null = null;
  private ms = 0;

  constructor(private readonly onExpire: () => void) {}

  /** Starts `ms` over; an armed timer of the same length is restarted rather than replaced. */
  arm(ms: number): void {
    if (this.timer && this.ms === ms) {
      this.timer.refresh();
      return;
    }
    this.clear();
    if (ms > 0) {
      this.ms = ms;
      this.timer = setTimeout(() => {
        this.timer = null;
        this.onExpire();
      }, ms);
    }
  }

  /** Starts the same timeout over, if armed (a read happened). */
  refresh(): void {
    this.timer?.refresh();
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  get armed(): boolean {
    return this.timer !== null;
  }
}
