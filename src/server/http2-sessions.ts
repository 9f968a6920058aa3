/**
 * HTTP/2 on a listening socket: the connections ALPN (TLS) or the client's preface (cleartext)
 * gave to HTTP/2 become sessions of one unattached Node `Http2Server`, whose streams (Node's
 * core API: its 'stream' event, no compatibility classes) reach the dispatcher as requests
 * and responses (src/http/http2-messages.ts). nginx's connection rules, per session:
 * `keepalive_requests` streams, then GOAWAY; `keepalive_timeout` without an open stream, then
 * GOAWAY and close; a graceful GOAWAY on reload and quit that lets open streams finish.
 */
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { Http2Request, Http2Response } from '../http/http2-messages';
import { MAX_HEADERS } from '../http/request-head';
import { firstHeadDone } from './first-head-timeout';

/**
 * What Node adds to each header field when it measures a header list against
 * SETTINGS_MAX_HEADER_LIST_SIZE (RFC 9113's 32 octets of overhead); nginx counts names and
 * values only, so Node's limit is raised by this much per field and nginx's sum checked here.
 */
const FIELD_OVERHEAD = 32;
/** The fields a request may have beside its regular ones: the pseudo-headers, and the 1001st that nginx answers 494. */
const PSEUDO_AND_ONE = 8;

/** A listening socket's HTTP/2 settings (its default server's). */
export interface Http2Settings {
  /** `http2_max_concurrent_streams`. */
  readonly maxConcurrentStreams: number;
  /** `http2_body_preread_size`: the initial window of a stream's request body. */
  readonly initialWindowSize: number;
  /** The most a header list may hold (`large_client_header_buffers`: number x size), names and values. */
  readonly maxHeaderListSize: number;
  /** The longest header name or value (`large_client_header_buffers`' size). */
  readonly maxFieldSize: number;
  /** `client_header_timeout` (ms): a new session must begin a stream within it. */
  readonly headerTimeoutMs: number;
  /** `keepalive_timeout` (ms): a session without open streams for that long is closed. */
  readonly idleTimeoutMs: number;
  /** `keepalive_requests`: the streams a session serves before its GOAWAY. */
  readonly maxRequests: number;
  /** `lingering_timeout` (ms): how long a closed session's connection waits for the client's FIN. */
  readonly lingeringTimeoutMs: number;
  /** `http2_websocket`: SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441). */
  readonly enableConnectProtocol: boolean;
}

/** What the first bytes of an HTTP/2 connection are (RFC 9113 3.4). */
export const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

interface SessionState {
  readonly session: http2.Http2Session;
  /** The connection under the session (TCP or TLS). */
  readonly socket: Duplex | null;
  /** Streams open now. */
  open: number;
  /** Streams begun in all. */
  begun: number;
  idle: NodeJS.Timeout | null;
  /** Streams that ended reset in the current second, and when that second began. */
  resets: number;
  resetsSince: number;
}

/**
 * Reset streams a session may have in one second, per allowed concurrent stream: more is the
 * rapid reset attack (CVE-2023-44487), and the connection is closed, as nginx closes it.
 * Browsers cancel a page's streams when the user moves on: a few dozen, not hundreds a second.
 */
const RESETS_PER_STREAM_SLOT = 2;

/** The HTTP/2 sessions of one listening socket. */
export class Http2Sessions {
  private readonly server: http2.Http2Server;
  private readonly sessions = new Map<http2.Http2Session, SessionState>();
  private draining = false;

  constructor(
    private readonly settings: Http2Settings,
    onRequest: (req: Http2Request, res: Http2Response) => void,
    /** A CONNECT stream: an extended one (RFC 8441) where `http2_websocket` allows it, or a plain one. */
    onConnect: (req: Http2Request, res: Http2Response) => void,
  ) {
    // nginx's limits are checked as each stream begins (`fieldsTooLarge`); Node's only bound
    // what it buffers, a little above them, so that what nginx takes reaches that check.
    const fieldPairs = MAX_HEADERS + PSEUDO_AND_ONE;
    const listBytes = settings.maxHeaderListSize + FIELD_OVERHEAD * fieldPairs;
    this.server = http2.createServer({
      settings: {
        maxConcurrentStreams: settings.maxConcurrentStreams,
        initialWindowSize: settings.initialWindowSize,
        maxHeaderListSize: listBytes,
        enableConnectProtocol: settings.enableConnectProtocol,
      },
      maxHeaderListPairs: fieldPairs,
      // Streams past the limit are refused by nghttp2; a client that keeps opening them is cut off.
      maxSessionRejectedStreams: 100,
      maxSessionInvalidFrames: 1000,
    } as http2.ServerOptions);
    this.server.on('session', (session) => this.opened(session));
    // Every stream, a CONNECT too (Node's compatibility layer would answer it 405 itself, and an
    // Expect 417 or an immediate 100: the dispatcher answers them as nginx does).
    this.server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
      // A stream's errors are its own (a reset, its session gone): its 'close' ends what it served.
      stream.on('error', ignoreError);
      const state = this.streamBegun(stream, rawHeaders);
      if (state === null) return;
      // Streams whose session was closed as they began (nginx's limits) are not served.
      if (stream.destroyed) {
        stream.once('close', () => this.streamEnded(stream, state));
        return;
      }
      const req = new Http2Request(stream, headers, rawHeaders, state.socket);
      const res = new Http2Response(stream, req, takesTrailers(headers.te));
      // One listener ends all three: the session's count, the request (its body, 'close'), the response ('finish', 'close').
      stream.once('close', () => {
        this.streamEnded(stream, state);
        req.streamClosed();
        res.closeNow();
      });
      if (headers[':method'] === 'CONNECT') onConnect(req, res);
      else onRequest(req, res);
    });
    // Errors of a session are its own (a client's protocol error): the session closes, the worker serves on.
    this.server.on('sessionError', () => undefined);
  }

  /** The connection being made a session now (Node creates it within `take`). */
  private taking: Duplex | null = null;

  /** Makes an accepted connection (TLS after ALPN chose `h2`, or cleartext after the preface) a session. */
  take(socket: Duplex): void {
    this.taking = socket;
    // The session keeps its own time (`client_header_timeout` to a first stream, then `keepalive_timeout`).
    firstHeadDone(socket);
    // The socket was accepted half-open (for HTTP/1.1): a client's FIN ends an HTTP/2
    // connection, as nginx's read of 0 bytes closes it; else it would wait in CLOSE-WAIT.
    socket.once('end', () => socket.destroy());
    try {
      this.server.emit('connection', socket as Socket);
    } finally {
      this.taking = null;
    }
  }

  /** Sessions open now. */
  get size(): number {
    return this.sessions.size;
  }

  /** GOAWAY to every session: streams begun finish, no new one is taken; each closes when its last ends. */
  drain(): void {
    this.draining = true;
    for (const session of this.sessions.keys()) session.close();
  }

  /** Closes every session at once. */
  destroy(): void {
    for (const session of this.sessions.keys()) session.destroy();
  }

  private opened(session: http2.Http2Session): void {
    const state: SessionState = { session, socket: this.taking, open: 0, begun: 0, idle: null, resets: 0, resetsSince: performance.now() };
    const socket = this.taking;
    this.sessions.set(session, state);
    session.on('error', () => undefined);
    // Node ends the session's side of the connection, then waits for the client's FIN.
    if (socket) socket.once('finish', () => this.linger(socket));
    session.once('close', () => {
      if (state.idle) clearTimeout(state.idle);
      this.sessions.delete(session);
    });
    if (this.draining) session.close();
    else this.armIdle(session, state, this.settings.headerTimeoutMs);
  }

  /** Counts a stream that began, under nginx's limits: its session's state, or null when the session was closed for it. */
  private streamBegun(stream: http2.ServerHttp2Stream, rawHeaders: readonly string[]): SessionState | null {
    const session = stream.session;
    const state = session && this.sessions.get(session);
    if (!session || !state) return null;
    // nginx: a name or value longer than a header buffer, or a list longer than all of them,
    // ends the connection (GOAWAY ENHANCE_YOUR_CALM, "client sent too large header").
    if (fieldsTooLarge(rawHeaders, this.settings)) {
      session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      session.destroy();
      return null;
    }
    state.open++;
    state.begun++;
    if (state.idle) {
      clearTimeout(state.idle);
      state.idle = null;
    }
    // keepalive_requests: the last stream is served, then the session says goodbye.
    if (state.begun >= this.settings.maxRequests) session.close();
    return state;
  }

  /** A stream of the session closed: counted, and a reset flood (CVE-2023-44487) cut off; the session's idle time begins when it was the last. */
  private streamEnded(stream: http2.ServerHttp2Stream, state: SessionState): void {
    state.open--;
    const session = state.session;
    if (stream.rstCode && this.tooManyResets(state) && !session.destroyed) {
      // Node sends its own GOAWAY for a reset flood but may leave the connection open, unread.
      // The GOAWAY gets a turn to be written before the connection closes.
      session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      setImmediate(() => session.destroy());
      return;
    }
    if (state.open === 0 && !session.closed) this.armIdle(session, state, this.settings.idleTimeoutMs);
  }

  /** Counts a reset stream; true once this second's resets pass the limit. */
  private tooManyResets(state: SessionState): boolean {
    const now = performance.now();
    if (now - state.resetsSince >= 1000) {
      state.resets = 0;
      state.resetsSince = now;
    }
    return ++state.resets > RESETS_PER_STREAM_SLOT * this.settings.maxConcurrentStreams;
  }

  /**
   * The session is over and its side of the connection ended: as nginx's lingering close, the
   * client gets `lingering_timeout` to close too, then the connection is closed (a client that
   * never closes holds no descriptor).
   */
  private linger(socket: Duplex): void {
    if (socket.destroyed) return;
    const timer = setTimeout(() => socket.destroy(), this.settings.lingeringTimeoutMs);
    socket.once('close', () => clearTimeout(timer));
  }

  /** Without an open stream for `ms`, the session says GOAWAY and closes (nginx: "client timed out" at first, then keepalive). */
  private armIdle(session: http2.Http2Session, state: SessionState, ms: number): void {
    if (ms <= 0) return;
    state.idle = setTimeout(() => {
      state.idle = null;
      if (state.open === 0) session.close();
    }, ms);
    state.idle.unref();
  }
}

/** Whether a stream's header list is over nginx's limits: a name or value over `maxFieldSize`, names and values together over `maxHeaderListSize`. */
export function fieldsTooLarge(rawHeaders: readonly string[], limits: Pick<Http2Settings, 'maxFieldSize' | 'maxHeaderListSize'>): boolean {
  let total = 0;
  for (const field of rawHeaders) {
    if (field.length > limits.maxFieldSize) return true;
    total += field.length;
  }
  return total > limits.maxHeaderListSize;
}

/** Whether a client's `TE` says it takes trailers (gRPC's clients say so): its responses wait for them. */
function takesTrailers(te: string | string[] | undefined): boolean {
  if (te === undefined) return false;
  return /(^|,)\s*trailers\s*(;|,|$)/i.test(Array.isArray(te) ? te.join(',') : te);
}

/** A stream's 'error' listener: one shared function, not a closure per stream. */
function ignoreError(): void {
  /* the stream's 'close' follows */
}
