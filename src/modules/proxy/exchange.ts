/**
 * One proxied HTTP request, from the upstream request (an `UpstreamCall`: undici's lean pool
 * of the peer or Node's keep-alive agent, its request line and headers whole from the start,
 * the body sent once the connection is up) to the end of the response: nginx's three timeouts, the response written by the gateway
 * (status, headers with repeats, body piped with backpressure), and every way it can end:
 * an upstream failure before the header is a 502/504 `HttpError`, after it the client
 * connection is cut; a client that goes away (closes, resets, or only half-closes: nginx's
 * check of a broken connection) takes the upstream request down with it at once. The body
 * goes up once the connection is made: read whole beforehand (`proxy_request_buffering on`),
 * or streamed from the client under `client_body_timeout`, where a client that leaves, stalls
 * or sends a malformed chunk ends the exchange (499, 408, 400) and the upstream request.
 */
import type { Agent, IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { UpstreamTry } from '../../http/variables';
import { HttpError, type InternalRedirect } from '../../errors';
import { accelRedirectOf } from './accel-redirect';
import { applyAccel, type AccelActions } from './accel-headers';
import { startNodeCall, type UpstreamAddress } from './node-upstream';
import { closesConnection, framedBy, requestHead, startLeanCall } from './undici-upstream';
import type { LeanPool } from './lean-pool';
import type { UpstreamCall, UpstreamListener, UpstreamResponse } from './upstream-call';
import { ResponseSpool, type SpoolLimits } from './response-spool';
import { BodyWatch, BODY_CODES, hasBody, logBodyFailure, type BodyLimits } from '../../shared/request-body';
import type { StoredBody } from '../../shared/request-body-store';
import type { Counters } from '../../types';
import type { Logger } from '../../types';
import { responseHeaders, type HeaderLine } from './headers';
import {
  classifyUpstreamError,
  contextOf,
  Deadline,
  failureError,
  INVALID_HEADER,
  logUpstreamFailure,
  PREMATURE_CLOSE,
  UNASKED_UPGRADE,
  UpstreamTimeout,
  type UpstreamFailure,
  type UpstreamPhase,
} from './upstream-errors';
import { NOT_MODIFIED_DROPPED } from './cache/not-modified';
import { appendCheckedLines, isWritableHeader } from '../../http/header-table';

/** nginx's proxy timeouts, in milliseconds. */
export interface ProxyTimeouts {
  readonly connect: number;
  readonly send: number;
  readonly read: number;
}

/** What an exchange is built from. */
export interface ExchangeInit {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** The request target sent upstream. */
  readonly path: string;
  readonly headers: readonly HeaderLine[];
  readonly timeouts: ProxyTimeouts;
  /** The event that says the upstream connection is up (`connect`, `secureConnect` for TLS). */
  readonly connectEvent: 'connect' | 'secureConnect';
  readonly log: Logger;
  /** The error log context (`, client: ..., upstream: "..."`), or what makes it when a line is written. */
  readonly context: string | (() => string);
  /** Called once when the exchange is over, whichever way. */
  readonly onDone?: () => void;
  /** The request body read whole beforehand (`proxy_request_buffering on`), sent instead of the client's stream. */
  readonly body?: StoredBody | null;
  /** `client_max_body_size` and `client_body_timeout` for a body streamed from the client. */
  readonly bodyLimits?: BodyLimits;
  /**
   * Whether a response with this status goes to the next upstream peer instead of the client
   * (`proxy_next_upstream http_503`): the exchange then rejects with `GW_UPSTREAM_NEXT`.
   */
  readonly nextOnStatus?: ((status: number) => boolean) | null;
  /** The location's counters: told of every upstream failure (the metrics). */
  readonly counters?: Counters | null;
  /** Upstream response headers not passed on (lower case; nginx's default list when unset). */
  readonly hidden?: ReadonlySet<string>;
  /** `proxy_buffering`, which the upstream's `X-Accel-Buffering: yes|no` overrides per response. */
  readonly buffering?: boolean;
  /** Rewrites the response's header lines (`proxy_redirect`). */
  readonly rewriteHeaders?: (lines: readonly HeaderLine[]) => readonly HeaderLine[];
  /** The request's context: told of the upstream's header lines when they come (`$upstream_http_*`), and of each try (`$upstream_addr`...). */
  readonly ctx?: {
    upstreamHeaders: readonly string[] | null;
    upstreamTries?: UpstreamTry[] | null;
    setVariable?(name: string, value: string): void;
    /** Routes the response's body through the filters before anything is written (the request's state has it: the limit_rate filter then paces it). */
    hookBody?(): void;
  };
  /** The peer as `$upstream_addr` names it (`127.0.0.1:8081`, `unix:/path`). */
  readonly peer?: string;
  /** The cache's look at the response header: a copy of the body to make, or the response kept from the client (the cache answers instead). */
  readonly tap?: ResponseTap | null;
  /** `proxy_ignore_client_abort`: a client that leaves does not take the upstream request down; the response is read to its end. */
  readonly ignoreClientAbort?: boolean;
  /** `proxy_limit_rate`: the request's rate of reading a buffered response, in bytes per second (absent: none). */
  readonly limitRate?: () => number;
  /** How far a buffered response is read ahead of a slow client: memory, then a temporary file (absent: READ_AHEAD bytes, no file). */
  readonly spool?: SpoolLimits;
  /** Whether an `X-Accel-Redirect` from the upstream is acted on (an internal redirect): not in `proxy_ignore_headers`. */
  readonly accelRedirect?: boolean;
  /** Which of `X-Accel-Limit-Rate`, `X-Accel-Charset`, `X-Accel-Buffering` are acted on (absent: none). */
  readonly accel?: AccelActions;
  /** `proxy_http_version`: the request line's version (absent: 1.1). */
  readonly httpVersion?: '1.0' | '1.1';
}

/** Where a copy of the response body goes (a cache entry being written). */
export interface BodySink {
  write(chunk: Buffer): void;
  /** The body is whole. */
  end(): void;
  /** The body broke off: nothing is kept. */
  abort(): void;
  /** The client is answered 304 (nginx's not-modified filter on a response being stored); the body is still read into the sink. */
  readonly notModified?: boolean;
}

/** What the cache makes of an upstream response header: keep a copy (a sink), pass it on only (null), or keep it from the client ('divert'). */
export interface ResponseTap {
  onHeader(status: number, raw: readonly string[], reason: string): BodySink | 'divert' | null;
}

/** A try being made: what `$upstream_*` report, filled in as it goes; the head's bytes counted only if asked for. */
class TryRecord implements UpstreamTry {
  status = 0;
  connectTime = -1;
  headerTime = -1;
  responseTime = -1;
  responseLength = 0;
  /** The response, once its header came. */
  response: UpstreamResponse | null = null;

  constructor(readonly addr: string) {}

  get bytesReceived(): number {
    return (this.response ? headBytes(this.response) : 0) + this.responseLength;
  }
}

/**
 * How far a buffered response is read ahead of a slow client: nginx's `proxy_buffer_size`
 * and `proxy_buffers 8 4k`, the memory it fills before it would spill to a temporary file.
 */
export const READ_AHEAD = 36 * 1024;

export type { UpstreamAddress } from './node-upstream';

/** Where an exchange's request goes: the peer, its agent (Node's path) and its lean pool (plain HTTP). */
export interface ExchangeTarget {
  readonly url: UpstreamAddress;
  readonly agent: Agent;
  /** The peer's undici pool; absent for TLS (Node's path only). */
  readonly lean?: LeanPool | null;
}

/** How many requests each path made (tests: which path a request took). */
export const upstreamPaths = { lean: 0, node: 0 };

/** One proxied request; `promise` settles when it is over (rejects with the HttpError to render). */
export class HttpExchange {
  readonly promise: Promise<void>;
  private resolve!: () => void;
  private reject!: (err: HttpError | InternalRedirect) => void;
  private proxyReq: UpstreamCall | null = null;
  private proxyRes: UpstreamResponse | null = null;
  private phase: UpstreamPhase = 'connecting to upstream';
  private readonly deadline = new Deadline(() => this.timedOut());
  private done = false;
  /** What is piped into the upstream request: the client's body, or the stored body's file; null when written at once or none. */
  private source: Readable | null = null;
  /** The rules of the client's body while it streams up. */
  private watch: BodyWatch | null = null;
  /** This try, as `$upstream_*` report it. */
  private readonly try: TryRecord;
  private readonly started = performance.now();
  /** Where a copy of the body goes (the cache), until it is whole. */
  private sink: BodySink | null = null;
  /** The client left under `proxy_ignore_client_abort`: the response is read on, for nobody (or the cache). */
  private clientGone = false;
  /** The cache kept this response from the client (a 304 that revalidated, a status `proxy_cache_use_stale` names). */
  diverted = false;

  constructor(private readonly init: ExchangeInit) {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.try = new TryRecord(init.peer ?? '');
    if (init.ctx) (init.ctx.upstreamTries ??= []).push(this.try);
    init.res.on('close', () => this.clientClosed());
    const socket = init.req.socket;
    // nginx's check of a broken connection: the client's FIN, even a half-close, ends the
    // exchange at once. A socket handed over by an upgrade request served as plain HTTP is
    // read by nobody: read it (its bytes have no taker) so that its end is seen.
    socket.on('end', this.clientLeft);
    if ((init.req as IncomingMessage & { upgrade?: boolean }).upgrade && !socket.readableFlowing) socket.resume();
    if (socket.readableEnded) queueMicrotask(this.clientLeft);
  }

  /**
   * Makes the upstream request to `target`: on its lean pool when the request is plain
   * HTTP/1.1 with nothing to send after its head but a body whole in memory (not HEAD, no
   * Upgrade or Expect), else on Node's agent. The request line and headers are set at once (nothing is
   * written until the request has a connection).
   */
  start(target: ExchangeTarget, method: string): void {
    const { path, headers, req, body } = this.init;
    const listener = this.listener();
    const endAtOnce = !body && (req.readableEnded || !hasBody(req));
    // A body read whole into memory goes in the same write as the head; one in a file or streamed takes Node's path.
    const inMemory = body?.memory && framedBy(headers, body.memory.length) ? body.memory : null;
    try {
      if (target.lean && (endAtOnce || inMemory) && method !== 'HEAD' && this.init.httpVersion !== '1.0' && !headers.some(keepsNodePath)) {
        const head = requestHead(method, path, headers);
        upstreamPaths.lean++;
        this.proxyReq = startLeanCall({ pool: target.lean, method, path, head, body: inMemory, last: closesConnection(headers) }, listener);
      } else {
        upstreamPaths.node++;
        const http10 = this.init.httpVersion === '1.0';
        this.proxyReq = startNodeCall({ address: target.url, agent: target.agent, method, path, headers, http10, connectEvent: this.init.connectEvent, endAtOnce }, listener);
      }
    } catch (err) {
      // A header Node refuses (a variable's CR or LF).
      this.fail({ status: 502, code: 'GW_UPSTREAM_REQUEST', reason: `cannot build the upstream request (${(err as Error).message})` });
    }
  }

  /** What an upstream call tells this exchange. */
  private listener(): UpstreamListener {
    return {
      isDone: () => this.done,
      connecting: () => this.deadline.arm(this.init.timeouts.connect),
      connected: () => this.connected(),
      sent: () => this.sent(),
      response: (res) => this.onResponse(res),
      error: (err) => this.onError(err),
      upgraded: () => {
        if (this.done) return;
        if (this.init.res.headersSent) this.cut(UNASKED_UPGRADE);
        else this.fail(UNASKED_UPGRADE);
      },
    };
  }

  /** Whether the request got past connecting: something may have reached the upstream. */
  get reachedUpstream(): boolean {
    return this.phase !== 'connecting to upstream';
  }

  /** An error of the upstream request. */
  private onError(err: unknown): void {
    if (this.done) return;
    const failure = classifyUpstreamError(err);
    if (this.init.res.headersSent) this.cut(failure);
    else this.fail(failure);
  }

  /** The upstream's response header arrived. */
  private onResponse(proxyRes: UpstreamResponse): void {
    this.proxyRes = proxyRes;
    if (this.init.ctx) this.init.ctx.upstreamHeaders = proxyRes.rawHeaders;
    this.try.headerTime = performance.now() - this.started;
    this.try.status = proxyRes.statusCode ?? 0;
    this.try.response = proxyRes;
    this.phase = 'reading upstream';
    proxyRes.on('error', () => {});
    const { res } = this.init;
    const raw = proxyRes.rawHeaders;
    let lines: readonly HeaderLine[] = responseHeaders(raw, this.init.hidden);
    const status = proxyRes.statusCode ?? 0;
    // nginx reads these as the header is parsed, before anything else is decided.
    const accel = this.init.accel ? applyAccel(raw, this.init.accel, this.init.ctx, res) : null;
    if (this.init.nextOnStatus?.(status)) {
      this.finish();
      this.reject(new HttpError(status, 'GW_UPSTREAM_NEXT', `upstream answered ${status}`));
      return;
    }
    if (status < 200 || status > 999 || !lines.every(validLine) || !validLine(['Status', proxyRes.statusMessage ?? ''])) {
      this.fail(INVALID_HEADER);
      return;
    }
    if (this.init.accelRedirect) {
      const redirect = accelRedirectOf(raw, this.init.req, res, this.init.log, this.init.context);
      if (redirect) {
        // nginx's ngx_http_upstream_process_headers: the upstream is let go, the request goes on elsewhere.
        this.finish();
        this.reject(redirect);
        return;
      }
    }
    const tapped = this.init.tap?.onHeader(status, raw, proxyRes.statusMessage ?? '') ?? null;
    if (tapped === 'divert') {
      this.diverted = true;
      this.settle();
      return;
    }
    this.sink = tapped;
    proxyRes.on('close', () => {
      if (!proxyRes.complete) this.cut(PREMATURE_CLOSE);
    });
    if (this.clientGone) {
      this.relayToNobody(proxyRes);
      return;
    }
    if (this.init.rewriteHeaders) {
      const rewritten = this.init.rewriteHeaders(lines);
      // A rewritten value (a variable in a proxy_redirect replacement) is checked before it is written.
      if (rewritten !== lines && !rewritten.every(validLine)) {
        this.fail(INVALID_HEADER);
        return;
      }
      lines = rewritten;
    }
    // A Server passed on (`proxy_pass_header Server`) replaces the gateway's, as in nginx.
    if (lines.some(([name]) => name.toLowerCase() === 'server')) res.removeHeader('server');
    if (tapped?.notModified) {
      this.answerNotModified(proxyRes, lines);
      return;
    }
    // Each line was checked (validLine): straight into the header table.
    appendCheckedLines(res, lines);
    const buffering = accel?.buffering ?? this.init.buffering ?? true;
    res.writeHead(status, proxyRes.statusMessage || undefined);
    // nginx sends an unbuffered response unpaced: `limit_rate` is 0 for it once its header is
    // out, whatever set it (the header's filters saw the rate; the pacer reads it again).
    if (!buffering) this.init.ctx?.setVariable?.('limit_rate', '0');
    res.once('finish', () => this.settle());
    // `proxy_limit_rate` paces the buffered reading only (nginx's event pipe).
    this.relay(proxyRes, res, buffering ? (this.init.spool?.memory ?? READ_AHEAD) : 0, buffering ? (this.init.limitRate?.() ?? 0) : 0, buffering ? this.init.spool : undefined);
  }

  /**
   * Writes the upstream's body to the client as it comes, reading at most `readAhead` bytes
   * ahead of a slow client (0: nothing, pipe's backpressure). nginx's read timeout runs
   * between two reads, not while the client holds the body back. The header goes out with the
   * first piece of the body, in one write, as nginx's output does; a body that is not there
   * yet (an event stream) does not hold it back: it goes on the next turn of the loop.
   */
  private relay(proxyRes: UpstreamResponse, res: ServerResponse, readAhead: number, rate: number, spooling?: SpoolLimits): void {
    const read = this.init.timeouts.read;
    let flush: NodeJS.Immediate | null = setImmediate(() => {
      flush = null;
      res.flushHeaders();
    });
    const unflush = (): void => {
      if (flush) clearImmediate(flush);
      flush = null;
    };
    // Two reasons to hold the upstream back: a client that takes no more, and the rate.
    let draining = false;
    let paced: NodeJS.Timeout | null = null;
    const resume = (): void => {
      if (this.done || draining || paced) return;
      this.deadline.arm(read);
      proxyRes.resume();
    };
    const hold = (): void => {
      proxyRes.pause();
      this.deadline.clear();
    };
    const start = performance.now();
    let received = 0;
    let spool: ResponseSpool | null = null;
    this.deadline.arm(read);
    proxyRes.on('data', (chunk: Buffer) => {
      unflush();
      this.deadline.refresh();
      this.try.responseLength += chunk.length;
      received += chunk.length;
      this.sink?.write(chunk);
      if (this.clientGone) {
        // Nothing goes to a client that left.
      } else if (spool) {
        if (!spool.write(chunk)) {
          draining = true;
          hold();
          spool.onRoom(() => {
            draining = false;
            resume();
          });
        }
      } else if (!res.write(chunk) && res.writableLength > readAhead) {
        // The memory is full: a file takes what comes next (the spool is made only now), else the upstream waits.
        if (spooling && spooling.file > 0) {
          spool = new ResponseSpool(res, spooling, this.init.log);
        } else {
          draining = true;
          hold();
          res.once('drain', () => {
            draining = false;
            resume();
          });
        }
      }
      // `proxy_limit_rate`: what came ahead of the rate is waited for before the next read.
      const early = rate > 0 ? (received * 1000) / rate - (performance.now() - start) : 0;
      if (early >= 1 && !paced) {
        hold();
        paced = setTimeout(() => {
          paced = null;
          resume();
        }, Math.ceil(early));
      }
    });
    proxyRes.once('end', () => {
      unflush();
      this.bodyWhole();
      if (this.clientGone) this.settle();
      else if (spool) spool.end();
      else res.end();
    });
    proxyRes.once('close', () => {
      unflush();
      if (paced) clearTimeout(paced);
      paced = null;
    });
  }

  /** The client gets a 304 of the response's header; its body is read for the cache only. */
  private answerNotModified(proxyRes: UpstreamResponse, lines: readonly HeaderLine[]): void {
    const { res } = this.init;
    for (const [name, value] of lines) if (!NOT_MODIFIED_DROPPED.has(name.toLowerCase())) res.appendHeader(name, value);
    res.writeHead(304);
    res.end();
    this.relayToNobody(proxyRes);
  }

  /** The client left (`proxy_ignore_client_abort`) before the header came: the body is read for the cache only. */
  private relayToNobody(proxyRes: UpstreamResponse): void {
    this.deadline.arm(this.init.timeouts.read);
    proxyRes.on('data', (chunk: Buffer) => {
      this.deadline.refresh();
      this.try.responseLength += chunk.length;
      this.sink?.write(chunk);
    });
    proxyRes.once('end', () => {
      this.bodyWhole();
      this.settle();
    });
  }

  /** The upstream's body is whole: the cache's copy is kept. */
  private bodyWhole(): void {
    this.sink?.end();
    this.sink = null;
  }

  private connected(): void {
    if (this.done) return;
    this.deadline.clear();
    if (this.phase !== 'connecting to upstream') return;
    this.try.connectTime = performance.now() - this.started;
    this.phase = 'sending request to upstream';
    this.sendBody();
    // nginx's send timeout: how long a write may stay blocked (the body held back by the upstream).
    const send = this.init.timeouts.send;
    const source = this.source;
    if (!source) {
      if (!this.proxyReq?.sentWhole()) this.deadline.arm(send);
      return;
    }
    const sending = () => this.phase === 'sending request to upstream' && !this.done;
    source.on('pause', () => {
      if (!sending()) return;
      this.watch?.pause();
      this.deadline.arm(send);
    });
    source.on('resume', () => {
      if (!sending()) return;
      this.watch?.resume();
      this.deadline.clear();
    });
    source.once('end', () => sending() && this.deadline.arm(send));
  }

  /**
   * The body goes up once the connection is made (an attempt that could not connect has taken
   * nothing of the client's stream, so the next peer may have it): the stored body, or the
   * client's stream under `client_body_timeout` and `client_max_body_size`.
   */
  private sendBody(): void {
    const proxyReq = this.proxyReq;
    const { req, body } = this.init;
    if (!proxyReq) return;
    const target = proxyReq.bodyTarget;
    if (!target) return;
    if (body) {
      this.source = body.sendTo(target);
      return;
    }
    if (req.readableEnded || !hasBody(req)) return;
    this.source = req;
    this.watch = new BodyWatch(req, this.init.bodyLimits ?? { limit: 0, timeoutMs: 0 }, (err) => this.bodyFailed(err));
    const watch = this.watch;
    req.on('data', (chunk: Buffer) => watch.data(chunk.length));
    req.once('end', () => watch.stop());
    req.pipe(target);
  }

  /** The client's body broke off while streaming up: nginx's status (408, 400, 413, 499), the upstream request dropped. */
  private bodyFailed(err: HttpError): void {
    if (this.done) return;
    logBodyFailure(this.init.log, err, ' while sending request to upstream', contextOf(this.init.context));
    // What is left of a body too large is read and dropped, so the 413 can be read by the client.
    if (err.code === BODY_CODES.tooLarge) this.init.req.resume();
    if (this.init.res.headersSent) {
      this.init.res.destroy();
      this.settle();
      return;
    }
    this.finish();
    this.reject(err);
  }

  /** The whole request is written: wait for the response header. */
  private sent(): void {
    if (this.done || this.phase !== 'sending request to upstream') return;
    this.phase = 'reading response header from upstream';
    this.deadline.arm(this.init.timeouts.read);
  }

  private timedOut(): void {
    if (this.done) return;
    const failure = classifyUpstreamError(new UpstreamTimeout());
    if (this.init.res.headersSent) this.cut(failure);
    else this.fail(failure);
  }

  /** The client went away (or the response is over: then there is nothing to do). */
  private clientClosed(): void {
    if (this.done || this.init.res.writableFinished) return;
    if (this.init.ignoreClientAbort) {
      // nginx's proxy_ignore_client_abort: the upstream is read on; the request is logged 499 if nothing went out.
      this.clientGone = true;
      this.deadline.refresh();
      return;
    }
    this.init.log.info(`client prematurely closed connection, so upstream connection is closed too while ${this.phase}${contextOf(this.init.context)}`);
    this.settle();
  }

  /**
   * The client's FIN: closed, or only its sending side (nginx, told by epoll, treats both as
   * gone: 499). While its body is still streaming up, the body's watch says so instead.
   */
  private readonly clientLeft = (): void => {
    if (this.done || this.init.res.writableFinished) return;
    if (this.watch && !this.init.req.complete) return;
    // Under proxy_ignore_client_abort nginx does not look for a broken connection: a half-close changes nothing.
    if (this.init.ignoreClientAbort) return;
    this.clientClosed();
    this.init.res.destroy();
  };

  /** Before the response header: the request ends with nginx's error page. */
  private fail(failure: UpstreamFailure): void {
    // nginx's status of a try that failed before its response was passed on (502, 504).
    this.try.status = failure.status;
    logUpstreamFailure(this.init, failure, this.phase);
    this.finish();
    this.reject(failureError(failure));
  }

  /** After the response header: nginx can only close the client connection. */
  private cut(failure: UpstreamFailure): void {
    if (this.done) return;
    logUpstreamFailure(this.init, failure, this.phase);
    this.init.res.destroy();
    this.settle();
  }

  private settle(): void {
    if (this.done) return;
    this.finish();
    this.resolve();
  }

  /** Stops the timers, takes the upstream request down unless it completed, lets go of the client. */
  private finish(): void {
    this.done = true;
    this.sink?.abort();
    this.sink = null;
    this.try.responseTime = performance.now() - this.started;
    this.deadline.clear();
    this.watch?.stop();
    this.init.req.socket.off('end', this.clientLeft);
    const source = this.source;
    const target = this.proxyReq?.bodyTarget;
    if (source && target) source.unpipe(target);
    // The stored body's file stream, if still reading (the client's own stream is not ours to end).
    if (source && source !== this.init.req && !source.readableEnded) source.destroy();
    // Reusable only when both directions completed: an upstream that answered early (413
    // while the body was still going up) leaves a half-sent request that must not linger.
    const finished = this.proxyRes?.complete === true && this.init.res.writableFinished && this.proxyReq?.sentWhole() === true;
    if (!finished) {
      this.proxyRes?.destroy();
      this.proxyReq?.destroy();
    }
    this.init.onDone?.();
  }
}

/** The bytes of a response's status line and header as the upstream wrote them (Node does not count them). */
function headBytes(res: UpstreamResponse): number {
  let length = Buffer.byteLength(`HTTP/${res.httpVersion} ${res.statusCode} ${res.statusMessage ?? ''}\r\n\r\n`, 'latin1');
  const raw = res.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) length += Buffer.byteLength(raw[i], 'latin1') + Buffer.byteLength(raw[i + 1], 'latin1') + 4;
  return length;
}

/** Whether Node will write this header line (the parser is more lenient than the writer). */
function validLine([name, value]: HeaderLine): boolean {
  return isWritableHeader(name, value);
}

/**
 * Whether a header line (a location's own) keeps the request on Node's path: `Upgrade` (Node's
 * knows a 101) and `Expect` (Node's reads the 100 it asks for; undici refuses a 100).
 */
function keepsNodePath([name]: HeaderLine): boolean {
  return (name.length === 7 && name.toLowerCase() === 'upgrade') || (name.length === 6 && name.toLowerCase() === 'expect');
}
