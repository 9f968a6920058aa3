/**
 * One gRPC call passed to one peer, as nginx's grpc module passes it: an HTTP/2 stream on the
 * peer's session; the client's body streamed up as it comes (nginx's grpc never buffers it),
 * under `client_max_body_size`, `client_body_timeout` and `grpc_send_timeout`; the response
 * header, DATA and trailers passed back as they come (`grpc_read_timeout` between two reads,
 * at most `grpc_buffer_size` read ahead of a slow client), so flow control holds in both
 * directions and nothing is buffered without bound. Every way it ends: a failure before the
 * response header is nginx's 502 or 504 (`error_page` may make it a gRPC status); after it
 * the client's stream is reset (RST_STREAM INTERNAL_ERROR, as nginx); a client that resets
 * its stream (or goes) cancels the upstream stream (RST_STREAM CANCEL) at once.
 */
import http2 from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../../errors';
import { isHttp2 } from '../../http/http2-messages';
import type { UpstreamTry } from '../../http/variables';
import { BodyWatch, BODY_CODES, hasBody, logBodyFailure, type BodyLimits } from '../../shared/request-body';
import type { Counters, Logger, RequestContext } from '../../types';
import { classifyUpstreamError, contextOf, Deadline, failureError, logUpstreamFailure, type UpstreamFailure, type UpstreamPhase } from '../proxy/upstream-errors';
import { passedLines } from './headers';

const { NGHTTP2_CANCEL, NGHTTP2_NO_ERROR } = http2.constants;

/** nginx's grpc timeouts, in milliseconds. */
export interface GrpcTimeouts {
  readonly connect: number;
  readonly send: number;
  readonly read: number;
}

/** What one call is made of. */
export interface CallInit {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly ctx: RequestContext;
  readonly log: Logger;
  /** The error log context, made when a line is written. */
  readonly context: () => string;
  /** The upstream stream's header block (`buildGrpcHeaders`). */
  readonly headers: Record<string, string | string[]>;
  readonly timeouts: GrpcTimeouts;
  /** Upstream headers and trailers not passed on (lower case). */
  readonly hidden: ReadonlySet<string>;
  /** `grpc_buffer_size`: bytes read ahead of a slow client. */
  readonly readAhead: number;
  /** `client_max_body_size` and `client_body_timeout` for the streamed body. */
  readonly bodyLimits: BodyLimits;
  /** A body a script read whole before (the client's stream is spent), else null. */
  readonly early: Buffer | null;
  /** Whether a response with this status goes to the next peer (`grpc_next_upstream http_503`). */
  readonly nextOnStatus: ((status: number) => boolean) | null;
  /** Whether a response with this status is answered by the location's `error_page` (`grpc_intercept_errors`). */
  readonly intercepts: ((status: number) => boolean) | null;
  readonly counters: Counters | null;
  /** The peer as `$upstream_addr` names it. */
  readonly peer: string;
}

/** A try, as `$upstream_*` report it. */
class TryRecord implements UpstreamTry {
  status = 0;
  connectTime = -1;
  headerTime = -1;
  responseTime = -1;
  responseLength = 0;
  headerLength = 0;

  constructor(readonly addr: string) {}

  get bytesReceived(): number {
    return this.headerLength + this.responseLength;
  }
}

/** One call to one peer; `promise` settles when it is over (rejects with the HttpError to render). */
export class GrpcCall {
  readonly promise: Promise<void>;
  private resolve!: () => void;
  private reject!: (err: HttpError) => void;
  private stream: http2.ClientHttp2Stream | null = null;
  private phase: UpstreamPhase = 'connecting to upstream';
  private readonly deadline = new Deadline(() => this.timedOut());
  private done = false;
  private responded = false;
  private upstreamEnded = false;
  /** The upstream's readable side ended (END_STREAM, or a reset: told apart when the stream closes). */
  private remoteEnded = false;
  private gotTrailers = false;
  /** The whole response was handed to the client's (`res.end`): a close after it is no departure. */
  private responseEnded = false;
  private bodySent = false;
  private watch: BodyWatch | null = null;
  /** A connection error the stream ended with (ECONNRESET...), if any. */
  private streamError: NodeJS.ErrnoException | null = null;
  private readonly try: TryRecord;
  private readonly started = performance.now();
  private readonly onData = (chunk: Buffer) => this.bodyData(chunk);
  private readonly onEnd = () => this.bodyEnded();

  constructor(private readonly init: CallInit) {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.try = new TryRecord(init.peer);
    (init.ctx.upstreamTries ??= []).push(this.try);
    init.res.once('close', this.clientClosed);
  }

  /** Whether the request went up (a stream was opened on a connected session). */
  get reachedUpstream(): boolean {
    return this.stream !== null;
  }

  /** Opens the stream once the session is connected (`session`: the pool's promise of it); `untrack` when the stream closes. */
  start(session: Promise<http2.ClientHttp2Session>, track: (session: http2.ClientHttp2Session) => () => void): this {
    session.then(
      (s) => this.open(s, track),
      (err: unknown) => this.failed(err),
    );
    return this;
  }

  private open(session: http2.ClientHttp2Session, track: (session: http2.ClientHttp2Session) => () => void): void {
    if (this.done) return;
    this.try.connectTime = performance.now() - this.started;
    const { req, early } = this.init;
    const body = early !== null ? early.length > 0 : hasBody(req) && !req.readableEnded;
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(this.init.headers, { endStream: !body });
    } catch (err) {
      this.fail({ status: 502, code: 'GW_UPSTREAM_REQUEST', reason: `cannot make the upstream request (${(err as Error).message})` });
      return;
    }
    this.stream = stream;
    const untrack = track(session);
    stream.once('close', untrack);
    // A connection error (a reset) says more than the stream's code: kept for the log line.
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (typeof err.code === 'string' && !err.code.startsWith('ERR_HTTP2')) this.streamError = err;
    });
    stream.once('response', (headers: http2.IncomingHttpHeaders, flags: number, raw: string[]) => this.response(headers, flags, raw));
    stream.once('trailers', (_headers, _flags, raw) => this.trailers(raw as unknown as string[]));
    stream.once('close', () => this.upstreamClosed());
    if (!body) {
      this.sent();
      return;
    }
    this.phase = 'sending request to upstream';
    if (early !== null) {
      this.write(early);
      this.bodyEnded();
      return;
    }
    this.watch = new BodyWatch(req, this.init.bodyLimits, (err) => this.bodyFailed(err));
    req.on('data', this.onData);
    req.once('end', this.onEnd);
    if (req.readableEnded) this.bodyEnded();
  }

  /** A piece of the client's body: up it goes; a blocked write holds the client back under `grpc_send_timeout`. */
  private bodyData(chunk: Buffer): void {
    this.watch?.data(chunk.length);
    if (this.done) return;
    this.write(chunk);
  }

  private write(chunk: Buffer): void {
    const stream = this.stream!;
    if (stream.write(chunk)) return;
    const { req } = this.init;
    req.pause();
    this.watch?.pause();
    this.deadline.arm(this.init.timeouts.send);
    stream.once('drain', () => {
      if (this.done) return;
      this.deadline.clear();
      if (this.responded || !this.bodySent) this.rearmRead();
      this.watch?.resume();
      req.resume();
    });
  }

  /** The client's body is over: the upstream stream's request side ends. */
  private bodyEnded(): void {
    if (this.done || this.bodySent) return;
    this.watch?.stop();
    this.stream?.end();
    this.sent();
  }

  /** The whole request is up: the response header is awaited under `grpc_read_timeout`. */
  private sent(): void {
    this.bodySent = true;
    if (this.responded) return;
    this.phase = 'reading response header from upstream';
    this.deadline.arm(this.init.timeouts.read);
  }

  private rearmRead(): void {
    if (this.bodySent || this.responded) this.deadline.arm(this.init.timeouts.read);
    else this.deadline.clear();
  }

  /** The client's body broke off (too large, stalled, malformed, the client gone): nginx's status, the upstream stream cancelled. */
  private bodyFailed(err: HttpError): void {
    if (this.done) return;
    logBodyFailure(this.init.log, err, ' while sending request to upstream', contextOf(this.init.context));
    if (err.code === BODY_CODES.tooLarge) this.init.req.resume();
    if (this.init.res.headersSent) {
      this.resetClient();
      this.settle();
      return;
    }
    this.finish();
    this.reject(err);
  }

  /** The upstream's response header. */
  private response(headers: http2.IncomingHttpHeaders, flags: number, raw: string[]): void {
    if (this.done) return;
    const { res, ctx } = this.init;
    const status = Number(headers[':status']);
    this.responded = true;
    this.try.status = status;
    this.try.headerTime = performance.now() - this.started;
    this.try.headerLength = raw.reduce((n, s) => n + s.length, 0);
    ctx.upstreamHeaders = raw.filter((_, i) => raw[i - (i % 2)].charCodeAt(0) !== 0x3a);
    if (this.init.nextOnStatus?.(status)) {
      this.finish();
      this.reject(new HttpError(status, 'GW_UPSTREAM_NEXT', `upstream answered ${status}`));
      return;
    }
    if (this.init.intercepts?.(status)) {
      this.finish();
      this.reject(new HttpError(status));
      return;
    }
    this.phase = 'reading upstream';
    for (const [name, value] of passedLines(raw, this.init.hidden)) res.appendHeader(name, value);
    const stream = this.stream!;
    // Node's HTTP/2 response says 'finish' (then 'close') when the client resets its stream too.
    res.once('finish', () => (this.responseEnded ? this.settle() : this.clientClosed()));
    // A trailers-only response (grpc-status in the header, END_STREAM): the header is the whole
    // answer, and goes with END_STREAM too (Node's `end` without `writeHead` first sends it so).
    if (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) {
      this.upstreamEnded = true;
      this.deadline.clear();
      res.statusCode = status;
      this.responseEnded = true;
      res.end();
      return;
    }
    res.writeHead(status);
    this.rearmRead();
    stream.on('data', (chunk: Buffer) => {
      this.try.responseLength += chunk.length;
      if (this.done) return;
      this.rearmRead();
      if (!res.write(chunk) && res.writableLength > this.init.readAhead) {
        stream.pause();
        this.deadline.clear();
        res.once('drain', () => {
          if (this.done) return;
          this.rearmRead();
          stream.resume();
        });
      }
    });
    stream.once('end', () => {
      // A reset ends the readable side too, and its code is known only once the close is
      // handled, later in the same read: decided after it (`upstreamClosed`), or here if the
      // stream stays open (its request side still going up).
      this.remoteEnded = true;
      setImmediate(() => {
        if (!stream.closed) this.upstreamFinished();
      });
    });
  }

  /** The upstream's response is over: so is the client's. */
  private upstreamFinished(): void {
    if (this.done || this.upstreamEnded) return;
    this.upstreamEnded = true;
    this.deadline.clear();
    this.responseEnded = true;
    this.init.res.end();
  }

  /** The upstream's trailers (grpc-status, grpc-message...): passed on with the end of the response. */
  private trailers(raw: string[]): void {
    if (this.done) return;
    this.gotTrailers = true;
    const trailers: Record<string, string | string[]> = {};
    for (const [name, value] of passedLines(raw, this.init.hidden)) {
      const lower = name.toLowerCase();
      const earlier = trailers[lower];
      trailers[lower] = earlier === undefined ? value : Array.isArray(earlier) ? [...earlier, value] : [earlier, value];
    }
    this.init.res.addTrailers(trailers);
  }

  /** The upstream stream closed: a reset, or a close before its end, is a failure. */
  private upstreamClosed(): void {
    if (this.done || this.upstreamEnded) return;
    const code = this.stream?.rstCode ?? NGHTTP2_NO_ERROR;
    // Ended (END_STREAM), then closed without error, or reset after its trailers: a whole response.
    if (this.remoteEnded && (code === NGHTTP2_NO_ERROR || this.gotTrailers)) {
      this.upstreamFinished();
      return;
    }
    const reason = code !== NGHTTP2_NO_ERROR ? `upstream rejected request with error ${code}` : 'upstream prematurely closed connection';
    const failure: UpstreamFailure = this.streamError
      ? classifyUpstreamError(this.streamError)
      : { status: 502, code: code !== NGHTTP2_NO_ERROR ? 'GW_UPSTREAM_INVALID' : 'GW_UPSTREAM_CLOSED', reason };
    if (this.responded) this.cut(failure);
    else this.fail(failure);
  }

  /** The session could not be had (refused, timed out, TLS failed). */
  private failed(err: unknown): void {
    if (this.done) return;
    this.fail(classifyUpstreamError(err));
  }

  private timedOut(): void {
    if (this.done) return;
    const failure = classifyUpstreamError({ code: 'ETIMEDOUT' });
    if (this.responded) this.cut(failure);
    else this.fail(failure);
  }

  /** The client reset its stream or went away before the response was over: the upstream stream is cancelled. */
  private readonly clientClosed = (): void => {
    if (this.done || this.responseEnded) return;
    this.init.log.info(`client prematurely closed connection, so upstream connection is closed too while ${this.phase}${contextOf(this.init.context)}`);
    this.settle();
  };

  /** Before the response header: nginx's error page (502, 504). */
  private fail(failure: UpstreamFailure): void {
    if (this.done) return;
    this.try.status = failure.status;
    logUpstreamFailure(this.init, failure, this.phase);
    this.finish();
    this.reject(failureError(failure));
  }

  /** After the response header: the client's stream is reset, as nginx resets it. */
  private cut(failure: UpstreamFailure): void {
    if (this.done) return;
    logUpstreamFailure(this.init, failure, this.phase);
    this.resetClient();
    this.settle();
  }

  private resetClient(): void {
    const { res } = this.init;
    if (isHttp2(this.init.req)) {
      // `destroy` with an error is RST_STREAM INTERNAL_ERROR whatever the client's side: Node's
      // `close(code)` on a stream whose client already ended its body sends END_STREAM instead.
      const stream = (res as unknown as http2.Http2ServerResponse).stream;
      if (!stream.destroyed) stream.destroy(new Error('upstream failed'));
    } else res.destroy();
  }

  private settle(): void {
    if (this.done) return;
    this.finish();
    this.resolve();
  }

  /** Stops the timers and the body, cancels the upstream stream unless it ended, lets go of the client. */
  private finish(): void {
    this.done = true;
    this.try.responseTime = performance.now() - this.started;
    this.deadline.clear();
    this.watch?.stop();
    const { req, res } = this.init;
    req.off('data', this.onData);
    req.off('end', this.onEnd);
    res.off('close', this.clientClosed);
    // The rest of a body this call began to take, and nobody takes any longer, is read and dropped
    // (one it never touched stays for the next peer, or for the error page's lingering close).
    if (this.watch && !req.readableEnded) req.resume();
    const stream = this.stream;
    if (stream && !stream.closed && !stream.destroyed) stream.close(this.upstreamEnded ? NGHTTP2_NO_ERROR : NGHTTP2_CANCEL);
  }
}
