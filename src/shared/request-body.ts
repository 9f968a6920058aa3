/**
 * Reading a request body under nginx's rules, for every reader (the push publisher's whole
 * read, the proxy's request buffering and its streamed body): `client_body_timeout` between
 * two reads, `client_max_body_size` for a body whose size is only known once read (chunked),
 * a client that leaves before the end of its body (its FIN or a reset: nginx's "client
 * prematurely closed connection"), and a body the HTTP parser refuses (a malformed chunk:
 * nginx's 400 "client sent invalid chunked body"). `BodyWatch` carries these rules;
 * `readBody` reads a body whole in memory with them.
 */
import type { IncomingMessage } from 'node:http';
import { HttpError, type ErrorCode } from '../errors';
import type { Logger } from '../types';

/** How a body is read: `client_max_body_size` (0: no limit) and `client_body_timeout` (0: none). */
export interface BodyLimits {
  readonly limit: number;
  /** ms allowed between two reads of the body, as nginx's `client_body_timeout`. */
  readonly timeoutMs: number;
  readonly log?: Logger;
}

/** Codes of the ways a body read ends early (the `HttpError`s a reader rejects with). */
export const BODY_CODES = {
  /** 408: silent past `client_body_timeout`; the connection is closed without an answer. */
  timeout: 'GW_BODY_TIMEOUT',
  /** 413: a chunked body past `client_max_body_size`. */
  tooLarge: 'GW_BODY_TOO_LARGE',
  /** 400: the parser refused the body (a malformed chunk). */
  invalid: 'GW_BODY_INVALID',
  /** 499: the client closed (or half-closed) its connection before the end of its body. */
  clientClosed: 'GW_CLIENT_CLOSED',
} as const satisfies Record<string, ErrorCode>;

/** The event a request gets when the HTTP parser refuses the rest of its body. */
const BODY_REFUSED = Symbol('gateway.body-refused');
/** Requests whose body the parser refused, for a watch that begins later (a body streamed once connected). */
const refusals = new WeakMap<IncomingMessage, NodeJS.ErrnoException>();

/**
 * The server's word that the HTTP parser refused what follows the head of `req` (its
 * `clientError` while `req`'s response is due): whoever reads the body, now or later, ends
 * with 400, or 499 when the refusal is an end of stream in the middle of the body.
 */
export function refuseBody(req: IncomingMessage, err: NodeJS.ErrnoException): void {
  refusals.set(req, err);
  req.emit(BODY_REFUSED, err);
}

/** The parser's word for a connection that ended in the middle of a message. */
const EOF_IN_BODY = 'HPE_INVALID_EOF_STATE';

/** nginx's error log line for a body failure (before ` while ...` and the context), and its level. */
export function bodyFailureLine(err: HttpError): { level: 'info' | 'error'; text: string } {
  return { level: err.code === BODY_CODES.tooLarge || err.code === BODY_CODES.invalid ? 'error' : 'info', text: err.message };
}

/** `, client: ..., request: "..."`: the context of a body failure logged before any upstream is chosen. */
export function requestContext(req: IncomingMessage): string {
  const host = req.headers.host;
  return `, client: ${req.socket?.remoteAddress ?? '-'}, request: "${req.method} ${req.url} HTTP/${req.httpVersion}"${host ? `, host: "${host}"` : ''}`;
}

/**
 * Watches one request body while someone consumes it (a `data` listener, a pipe): the reader
 * reports each piece (`data`) and when it stops asking for more (`pause`, while whatever it
 * writes to is full: not the client's fault, so no timer) and asks again (`resume`). `onFail`
 * is called at most once with the `HttpError` to answer with; `stop` lets go of everything.
 */
export class BodyWatch {
  private timer: NodeJS.Timeout | null = null;
  private size = 0;
  private stopped = false;
  private paused = false;

  constructor(
    private readonly req: IncomingMessage,
    private readonly limits: BodyLimits,
    private readonly onFail: (err: HttpError) => void,
  ) {
    req.once('close', this.closed);
    req.once(BODY_REFUSED, this.refused);
    req.socket?.once('end', this.ended);
    this.arm();
    // A client that left, or a body refused, before this watch began counts all the same.
    const refused = refusals.get(req);
    if (refused) queueMicrotask(() => this.refused(refused));
    else if (req.socket?.readableEnded && !req.complete) queueMicrotask(this.ended);
  }

  /** A piece of the body arrived: the timeout starts over; a chunked body is measured against the limit. */
  data(size: number): void {
    if (this.stopped) return;
    this.size += size;
    const { limit } = this.limits;
    if (limit > 0 && this.size > limit) {
      this.fail(new HttpError(413, BODY_CODES.tooLarge, `client intended to send too large chunked body: ${this.size} bytes`));
      return;
    }
    this.arm();
  }

  /** The reader stopped asking for more (backpressure): no client timeout meanwhile. */
  pause(): void {
    this.paused = true;
    this.disarm();
  }

  /** The reader asks for more again. */
  resume(): void {
    this.paused = false;
    this.arm();
  }

  /** The body is over, or no longer wanted: timers and listeners go. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.disarm();
    this.req.off('close', this.closed);
    this.req.off(BODY_REFUSED, this.refused);
    this.req.socket?.off('end', this.ended);
  }

  private arm(): void {
    if (this.stopped || this.paused || this.limits.timeoutMs <= 0) return;
    if (this.timer) this.timer.refresh();
    else this.timer = setTimeout(this.timedOut, this.limits.timeoutMs);
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private fail(err: HttpError): void {
    if (this.stopped) return;
    this.stop();
    this.onFail(err);
  }

  private readonly timedOut = (): void => {
    this.timer = null;
    this.fail(new HttpError(408, BODY_CODES.timeout, 'client timed out (110: Connection timed out)'));
  };

  /** The client's FIN (or a reset) before the whole body came. */
  private readonly ended = (): void => {
    if (!this.req.complete) this.fail(clientClosed());
  };

  private readonly closed = (): void => {
    if (!this.req.complete) this.fail(clientClosed());
  };

  private readonly refused = (err: NodeJS.ErrnoException): void => {
    this.fail(err.code === EOF_IN_BODY ? clientClosed() : new HttpError(400, BODY_CODES.invalid, 'client sent invalid chunked body'));
  };
}

function clientClosed(): HttpError {
  return new HttpError(499, BODY_CODES.clientClosed, 'client prematurely closed connection');
}

/**
 * The whole body, in memory. Over `limit` bytes it rejects with 413 at once, logs nginx's line,
 * and drains the rest unread; a client silent for `timeoutMs` in the middle of it gets 408
 * (the connection is closed without an answer, as nginx does), one that leaves gets 499, a
 * malformed chunk 400, each with nginx's line. A body already read (an internal redirect) is empty.
 */
export function readBody(req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      watch.data(chunk.length);
    };
    const watch = new BodyWatch(req, limits, (err) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.resume();
      logBodyFailure(limits.log, err, err.code === BODY_CODES.timeout ? ' while reading client request body' : '', requestContext(req));
      reject(err);
    });
    const onEnd = () => {
      watch.stop();
      resolve(Buffer.concat(chunks));
    };
    req.on('data', onData);
    req.once('end', onEnd);
  });
}

/** Logs a body failure as nginx does: its line, ` while ...` (`phase`, may be empty), the context. */
export function logBodyFailure(log: Logger | undefined, err: HttpError, phase: string, context: string): void {
  const { level, text } = bodyFailureLine(err);
  log?.[level](`${text}${phase}${context}`);
}

/** Whether the client announced a body: a Content-Length or a Transfer-Encoding (HTTP/1.1 has no other way). */
export function hasBody(req: IncomingMessage): boolean {
  return req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
}

/** Whether the body is chunked (its size known only once read). */
export function isChunked(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined;
}

/** Where a request's body read whole by a script is kept (its request's `ctx.data`). */
const READ_EARLIER = Symbol('gateway.body-read-earlier');

/**
 * The whole body read once per request (OpenResty's `ngx.req.read_body`), kept in `data` (the
 * request context's) for whoever comes next: a second read gets the same bytes, and the proxy
 * sends them upstream (`bodyReadEarlier`) where the client's stream has been consumed.
 */
export function readBodyOnce(data: Record<string | symbol, unknown>, req: IncomingMessage, limits: BodyLimits): Promise<Buffer> {
  const earlier = data[READ_EARLIER] as Promise<Buffer> | undefined;
  if (earlier) return earlier;
  const body = readBody(req, limits);
  data[READ_EARLIER] = body;
  return body;
}

/** The body `readBodyOnce` read for this request, or undefined when nothing read it. */
export function bodyReadEarlier(data: Record<string | symbol, unknown>): Promise<Buffer> | undefined {
  return data[READ_EARLIER] as Promise<Buffer> | undefined;
}
