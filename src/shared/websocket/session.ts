/**
 * lua-resty-websocket's server object over a `ws` WebSocket (the only importer of `ws`).
 *
 * `WebSocketAcceptor` answers an upgrade with ws's handshake (a failed one gets ws's raw HTTP
 * 400/405 and a destroyed socket), and an extended CONNECT (RFC 8441) on its HTTP/2 stream
 * with a 200 and ws over the stream; `WebSocketSessionImpl` turns ws's events into a queue read
 * by `recvFrame()`, with lua-resty's rules: a receive timeout returns `null` and is not fatal,
 * anything else that fails rejects with a `WebSocketError` and sets `fatal`. Where a location
 * turns permessage-deflate on (RFC 7692), ws negotiates and does it (`perMessageDeflate`);
 * the session only says which messages to compress (those of `threshold` bytes or more).
 */
import type { IncomingMessage } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import { Duplex } from 'node:stream';
import * as wsModule from 'ws';
import { WebSocket, WebSocketServer, type RawData, type Server, type ServerOptions } from 'ws';
import { MAX_TIMER_MS } from '../../config/values';
import type { Frame, WebSocketSession } from '../../types';
import { answerStream, isExtendedConnect } from '../../http/http2-messages';
import { streamHandshake } from './http2-handshake';
import { feedInSlices, resumeFeed, type FeedState } from './receive-feed';
import { startWait, stopWait, type ReceiveWaiter, type WaitList } from './receive-timers';
import {
  CLOSE_TIMEOUT_MS,
  CloseCode,
  ErrorCode,
  MAX_CLOSE_REASON,
  MAX_CONTROL_PAYLOAD,
  QUEUE_HIGH_WATER,
  QUEUE_LOW_WATER,
  FRAME_BURST,
  frameHeaderLength,
  isSendableCloseCode,
  type WebSocketErrorCode,
} from './constants';

/**
 * A session operation that failed. `message` reads like the seed's log lines
 * (`failed to receive frame: closed`); `reason` is lua-resty's error string (`closed`).
 */
export class WebSocketError extends Error {
  constructor(
    readonly code: WebSocketErrorCode,
    readonly reason: string,
    operation: string,
  ) {
    super(`failed to ${operation}: ${reason}`);
    this.name = 'WebSocketError';
  }
}

/** Per-connection settings, lua-resty's `new{}` options. */
export interface SessionOptions {
  /** Receive timeout in milliseconds; 0 waits for ever. */
  readonly timeoutMs: number;
  /** The largest payload a `send*` may write (`max_send_len`). */
  readonly maxSendLen: number;
  /** Messages of this many bytes or more are sent compressed when deflate was negotiated; default: none. */
  readonly compressFrom?: number;
  /** Told of every frame received and sent (the metrics), if given. */
  readonly counters?: FrameCounter;
  /** Told once, when the socket has closed, if given. */
  readonly observer?: SessionObserver;
}

/** Told how a session ended, once its socket has closed: an object, not a closure per connection. */
export interface SessionObserver {
  sessionEnded(session: WebSocketSessionImpl, end: SessionEnd): void;
}

/** Counts frames: a received message or control frame (`inbound`), or a sent frame, by payload size. */
export interface FrameCounter {
  frame(inbound: boolean, payloadBytes: number): void;
}

/** How a session ended, known once the socket has closed. */
export interface SessionEnd {
  /** The peer's close code: 1005 if its close frame had none, 1006 if it sent no close frame. */
  readonly code: number;
  /** Bytes written to the socket after the 101 response (nginx's `$body_bytes_sent`). */
  readonly bodyBytesSent: number;
}

/** Settings of one accepted upgrade. */
export interface AcceptOptions {
  readonly timeoutMs: number;
  /** Default: the acceptor's `maxPayload`, as lua-resty defaults it to `max_payload_len`. */
  readonly maxSendLen?: number;
  /** The `Server` header of the 101 response; none when absent. */
  readonly serverHeader?: string;
  /** Told of every socket error (reset, broken pipe); they never go unhandled. */
  readonly onSocketError?: (err: Error) => void;
  /** Told of every frame received and sent. */
  readonly counters?: FrameCounter;
  /** Told once, when the socket has closed (a promise-free alternative to `closed`). */
  readonly observer?: SessionObserver;
}

/** permessage-deflate's settings for one location (`websocket_deflate_*`): ws's options. */
export interface DeflateOptions {
  /** Messages shorter than this many bytes are sent uncompressed. */
  readonly threshold: number;
  /** The server's LZ77 window (`server_max_window_bits`, 9-15); absent: the client's or 15. */
  readonly windowBits?: number;
  /** zlib's `memLevel` of the server's deflate stream (1-9); absent: zlib's 8. */
  readonly memLevel?: number;
  /** zlib's compression level (1-9); absent: zlib's default (6). */
  readonly level?: number;
}

/** Settings shared by every connection of one acceptor (one location). */
export interface AcceptorOptions {
  /** The largest message accepted (`max_payload_len`); bigger ones close with 1009, inflated ones too. */
  readonly maxPayload: number;
  /** permessage-deflate, offered to clients that ask for it; absent: never negotiated. */
  readonly deflate?: DeflateOptions;
  /** How long a closing handshake may take before the socket is destroyed. */
  readonly closeTimeoutMs?: number;
}

/** What the socket has written so far (0 for a stream that does not count). */
export function bytesWritten(socket: Duplex): number {
  const count = (socket as Duplex & { bytesWritten?: number }).bytesWritten;
  return typeof count === 'number' ? count : 0;
}

interface Failure {
  readonly code: WebSocketErrorCode;
  readonly reason: string;
}

const CLOSED: Failure = { code: ErrorCode.CLOSED, reason: 'closed' };
const TEXT = { binary: false, fin: true, compress: false } as const;
const BINARY = { binary: true, fin: true, compress: false } as const;
/** ws sends these uncompressed all the same when the connection has no permessage-deflate. */
const TEXT_DEFLATED = { binary: false, fin: true, compress: true } as const;
const BINARY_DEFLATED = { binary: true, fin: true, compress: true } as const;
type SendOptions = typeof TEXT | typeof BINARY;
const EMPTY = Buffer.alloc(0);
/** Frames under this many bytes of payload wait for the socket as soon as it holds anything unsent (`written`). */
const SMALL_FRAME = 1024;

/**
 * `WebSocketSession` over one ws connection, built by `WebSocketAcceptor.accept`. ws echoes a
 * peer's close frame at once (RFC 6455 5.5.1) and reports it when the socket has closed: only
 * then does `recvFrame` return the `close` frame (after every frame received before it).
 */
export class WebSocketSessionImpl implements WebSocketSession, FeedState, ReceiveWaiter {
  private readonly observer: SessionObserver | null;
  /** `closed`, made when first asked for; its resolve function until the socket has closed. */
  private closedPromise: Promise<SessionEnd> | null = null;
  private resolveClosed: ((end: SessionEnd) => void) | null = null;
  /** How the session ended, once the socket has closed. */
  private endedWith: SessionEnd | null = null;
  private readonly queue: Frame[] = [];
  /** The pending `recvFrame()`, if any: its settle functions. */
  private waitResolve: ((frame: Frame | null) => void) | null = null;
  private waitReject: ((err: Error) => void) | null = null;
  /** Its receive timeout, as a node of its duration's list (`receive-timers.ts`). */
  waitDeadline = 0;
  waitPrev: ReceiveWaiter | null = null;
  waitNext: ReceiveWaiter | null = null;
  waitList: WaitList | null = null;
  /** Why `recvFrame` fails once the queue is empty; set when the connection ends. */
  private ended: Failure | null = null;
  private paused = false;
  /** The rest of a read not yet parsed, kept while the session is paused (`receive-feed.ts`). */
  pendingInput: Buffer | null = null;
  /** Frames `recvFrame` has returned in a row from the queue, without waiting. */
  private burst = 0;
  private closeReceived = false;
  private timeoutMs: number;
  private readonly maxSendLen: number;
  /** The smallest payload sent compressed (Infinity: none). */
  private readonly compressFrom: number;
  private isFatal = false;
  private error: string | null = null;
  private readonly counters: FrameCounter | null;
  /** The socket's `bytesWritten` once the 101 was written. */
  private readonly baseBytes: number;

  constructor(
    private readonly ws: SessionSocket,
    private readonly socket: Duplex,
    options: SessionOptions,
  ) {
    this.timeoutMs = Math.max(0, options.timeoutMs);
    this.maxSendLen = options.maxSendLen;
    this.compressFrom = options.compressFrom ?? Infinity;
    this.counters = options.counters ?? null;
    this.baseBytes = bytesWritten(socket);
    this.observer = options.observer ?? null;
    // Shared listeners (no closures per connection): each finds its session through the ws.
    ws.session = this;
    ws.on('message', WebSocketSessionImpl.onMessage);
    ws.on('ping', WebSocketSessionImpl.onPing);
    ws.on('pong', WebSocketSessionImpl.onPong);
    ws.on('error', WebSocketSessionImpl.onError);
    ws.on('close', WebSocketSessionImpl.onClose);
    feedInSlices(ws);
  }

  /** True while the queue is past its high-water mark and the socket is paused. */
  get receivePaused(): boolean {
    return this.paused;
  }

  private static onMessage(this: WebSocket, data: RawData, isBinary: boolean): void {
    sessionOf(this).push({ type: isBinary ? 'binary' : 'text', data: data as Buffer });
  }

  private static onPing(this: WebSocket, data: Buffer): void {
    sessionOf(this).push({ type: 'ping', data });
  }

  private static onPong(this: WebSocket, data: Buffer): void {
    sessionOf(this).push({ type: 'pong', data });
  }

  /** A protocol error: ws has already sent the close frame (1002, 1007, 1009). */
  private static onError(this: WebSocket, err: Error & { code?: string }): void {
    const protocol = typeof err.code === 'string' && err.code.startsWith('WS_ERR_');
    sessionOf(this).end(protocol ? { code: ErrorCode.PROTOCOL, reason: err.message } : CLOSED);
  }

  /** ws emits 'close' once, when the socket has closed. */
  private static onClose(this: WebSocket, code: number, reason: Buffer): void {
    const session = sessionOf(this);
    // 1006 never comes on the wire: any other code is the peer's close frame.
    if (code !== CloseCode.ABNORMAL && !session.ended) {
      session.closeReceived = true;
      session.push({ type: 'close', data: reason, code });
    }
    session.end(CLOSED);
    const end: SessionEnd = { code, bodyBytesSent: bytesWritten(session.socket) - session.baseBytes };
    session.endedWith = end;
    // Told in a microtask, as a reaction to a promise would be: after what the close settled.
    const observer = session.observer;
    if (observer) queueMicrotask(() => observer.sessionEnded(session, end));
    session.resolveClosed?.(end);
    session.resolveClosed = null;
  }

  /** The receive timeout passed (told by `receive-timers.ts`): `recvFrame()` returns null, not fatal. */
  receiveTimedOut(): void {
    const resolve = this.waitResolve!;
    this.clearWaiter();
    this.error = 'timeout';
    resolve(null);
  }

  /** Resolves once the socket has closed (never rejects); made on first use. */
  get closed(): Promise<SessionEnd> {
    if (!this.closedPromise) {
      const end = this.endedWith;
      this.closedPromise = end ? Promise.resolve(end) : new Promise((resolve) => (this.resolveClosed = resolve));
    }
    return this.closedPromise;
  }

  get fatal(): boolean {
    return this.isFatal;
  }

  get lastError(): string | null {
    return this.error;
  }

  recvFrame(): Promise<Frame | null> {
    const frame = this.queue.shift();
    if (frame) {
      if (this.paused && this.queue.length <= QUEUE_LOW_WATER) {
        this.paused = false;
        // The rest of the last read first: it may fill the queue and pause again.
        resumeFeed(this.ws);
        if (!this.paused) this.ws.resume();
      }
      // Fairness: every FRAME_BURST frames taken in a row, the other connections have their turn.
      if (++this.burst < FRAME_BURST) return Promise.resolve(frame);
      this.burst = 0;
      return new Promise((resolve) => setImmediate(resolve, frame));
    }
    this.burst = 0;
    if (this.ended) return this.fail(this.ended, 'receive frame');
    if (this.waitResolve) {
      return Promise.reject(new WebSocketError(ErrorCode.BUSY, 'socket busy reading', 'receive frame'));
    }
    return new Promise((resolve, reject) => {
      this.waitResolve = resolve;
      this.waitReject = reject;
      if (this.timeoutMs > 0) startWait(this, this.timeoutMs);
    });
  }

  sendText(data: string | Buffer): Promise<number> {
    return this.sendData(data, TEXT, 'send text');
  }

  sendBinary(data: string | Buffer): Promise<number> {
    return this.sendData(data, BINARY, 'send binary');
  }

  send(frame: Frame): Promise<number> {
    switch (frame.type) {
      case 'text':
        return this.sendData(frame.data, TEXT, 'send text');
      case 'binary':
        return this.sendData(frame.data, BINARY, 'send binary');
      case 'ping':
        return this.sendPing(frame.data);
      case 'pong':
        return this.sendPong(frame.data);
      case 'close': {
        const code = frame.code === CloseCode.NO_STATUS ? undefined : frame.code;
        return this.sendClose(code, frame.data.toString());
      }
    }
  }

  sendPing(data?: string | Buffer): Promise<number> {
    const payload = toBuffer(data);
    const refused = this.refuse(payload.length, MAX_CONTROL_PAYLOAD, 'send ping');
    if (refused) return refused;
    this.ws.ping(payload);
    return this.written(payload.length, 'send ping');
  }

  sendPong(data?: string | Buffer): Promise<number> {
    const payload = toBuffer(data);
    const refused = this.refuse(payload.length, MAX_CONTROL_PAYLOAD, 'send pong');
    if (refused) return refused;
    this.ws.pong(payload);
    return this.written(payload.length, 'send pong');
  }

  /**
   * Starts the closing handshake; ws destroys the socket if the peer does not answer in time.
   * Resolves 0 when a handshake is already under way (the peer's close was received, and ws
   * echoed its code, or a close was sent before). A reason without a code is sent with 1000.
   */
  sendClose(code?: number, reason?: string): Promise<number> {
    if (this.closeReceived || this.ws.readyState === WebSocket.CLOSING) return Promise.resolve(0);
    const payload = reason ? Buffer.from(reason) : EMPTY;
    const status = code ?? (payload.length > 0 ? CloseCode.NORMAL : undefined);
    if (status !== undefined && !isSendableCloseCode(status)) {
      return this.fail({ code: ErrorCode.BAD_CLOSE_CODE, reason: `bad close code ${status}` }, 'send close');
    }
    const refused = this.refuse(payload.length, MAX_CLOSE_REASON, 'send close');
    if (refused) return refused;
    this.ws.close(status, payload);
    return this.written(status === undefined ? 0 : 2 + payload.length, 'send close');
  }

  /** Longer than a timer can wait (24.8 days) is the longest it can; not a number or negative is none. */
  setTimeout(ms: number): void {
    this.timeoutMs = ms > 0 ? Math.min(ms, MAX_TIMER_MS) : 0;
  }

  /** Bytes handed to the connection and not yet sent. */
  get bufferedAmount(): number {
    return this.ws.bufferedAmount;
  }

  /** Calls `listener` each time the connection's send buffer has emptied. */
  onDrain(listener: () => void): void {
    this.socket.on('drain', listener);
  }

  /**
   * Writes a frame from `prepareFrame` as it is, without waiting (a push subscriber's fan-out:
   * one frame built per message, nothing per connection); false when the connection is no
   * longer open. Safe beside ws's own sends: without permessage-deflate ws writes each frame
   * to the socket at once, so the order holds (push's acceptor never negotiates deflate).
   */
  postFrame(frame: PreparedFrame): boolean {
    if (this.ws.readyState !== WebSocket.OPEN) return false;
    this.socket.write(frame.bytes);
    this.counters?.frame(false, frame.payloadLength);
    return true;
  }

  /**
   * Closes cleanly if the connection is still open: a close frame with `code` (and `reason`),
   * or without a status code when none is given.
   */
  close(code?: number, reason?: string): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(code, reason);
  }

  /**
   * Drops the connection without a close frame (nginx's `ngx.exit(444)`). A closing handshake
   * already under way (ws answering a protocol error, say) is left to finish on its timer.
   */
  abort(): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.terminate();
  }

  private push(frame: Frame): void {
    this.counters?.frame(true, frame.data.length);
    const resolve = this.waitResolve;
    if (resolve) {
      stopWait(this);
      this.clearWaiter();
      resolve(frame);
      return;
    }
    this.queue.push(frame);
    if (!this.paused && this.queue.length >= QUEUE_HIGH_WATER) {
      this.paused = true;
      this.ws.pause();
    }
  }

  private end(failure: Failure): void {
    if (this.ended) return;
    this.ended = failure;
    const reject = this.waitReject;
    if (reject) {
      stopWait(this);
      this.clearWaiter();
      reject(this.fatalError(failure, 'receive frame'));
    }
  }

  private clearWaiter(): void {
    this.waitResolve = null;
    this.waitReject = null;
  }

  /** Records a fatal failure (lua-resty's `fatal` and `err`) and returns its error. */
  private fatalError(failure: Failure, operation: string): WebSocketError {
    this.isFatal = true;
    this.error = failure.reason;
    return new WebSocketError(failure.code, failure.reason, operation);
  }

  private fail(failure: Failure, operation: string): Promise<never> {
    return Promise.reject(this.fatalError(failure, operation));
  }

  private sendData(data: string | Buffer, options: SendOptions, op: string): Promise<number> {
    const payload = typeof data === 'string' ? Buffer.from(data) : data;
    const refused = this.refuse(payload.length, Infinity, op);
    if (refused) return refused;
    // ws applies its own threshold only without context takeover: the session applies it always.
    if (payload.length >= this.compressFrom) this.ws.send(payload, options.binary ? BINARY_DEFLATED : TEXT_DEFLATED);
    else this.ws.send(payload, options);
    return this.written(payload.length, op);
  }

  /** The rejection for a send that may not go out, or null when it may. */
  private refuse(length: number, frameLimit: number, op: string): Promise<never> | null {
    if (this.ws.readyState !== WebSocket.OPEN) return this.fail(CLOSED, op);
    if (length > frameLimit || length > this.maxSendLen) {
      return this.fail({ code: ErrorCode.PAYLOAD_TOO_BIG, reason: 'payload too big' }, op);
    }
    return null;
  }

  /**
   * The frame's size once it may be counted as sent. lua-resty's `send_*` returns when its bytes
   * are written; while they are not, the script waits and reads nothing more, so a client that
   * sends and never reads (a ping flood) is pushed back by TCP. A small frame (under
   * `SMALL_FRAME` bytes) waits as soon as anything is left unsent: waiting only past the
   * socket's 16 KiB high-water mark let 2,300 pongs of 7 bytes pile up per connection in the
   * socket's userland buffer (two write requests each, with their Buffers: about 1 MB of heap).
   * A larger frame waits past the high-water mark, as before: its bytes outweigh its bookkeeping,
   * and waiting for every 16 KiB echo to be flushed cost the 50 x 16 KiB echo 1.33x the CPU per
   * message. The wait is an empty write, whose callback comes once everything before it has
   * gone out (or, with an error, when the socket is destroyed).
   */
  private written(payloadLength: number, op: string): Promise<number> {
    this.counters?.frame(false, payloadLength);
    const bytes = frameHeaderLength(payloadLength) + payloadLength;
    const socket = this.socket;
    if (socket.destroyed || socket.writableLength === 0 || (payloadLength >= SMALL_FRAME && !socket.writableNeedDrain)) return Promise.resolve(bytes);
    return new Promise((resolve, reject) => {
      this.socket.write(EMPTY, (err) => {
        if (err || this.socket.destroyed) reject(this.fatalError(CLOSED, op));
        else resolve(bytes);
      });
    });
  }
}

/** ws's WebSocket, pointing at its session so that shared listeners can find it. */
class SessionSocket extends WebSocket {
  session: WebSocketSessionImpl | null = null;
}

/** The session a ws WebSocket of ours belongs to (set before any listener is added). */
function sessionOf(ws: WebSocket): WebSocketSessionImpl {
  return (ws as SessionSocket).session!;
}

/** A server data frame, built once to be written to many connections (server frames are not masked). */
export interface PreparedFrame {
  readonly bytes: Buffer;
  readonly payloadLength: number;
}

/** ws's permessage-deflate negotiation, which @types/ws leaves out (`ws.extension`, `ws.PerMessageDeflate`). */
interface DeflateExtension {
  readonly params: Record<string, unknown>;
  accept(offers: unknown[]): Record<string, unknown>;
}
const wsInternals = wsModule as unknown as {
  extension: { parse(header: string): Record<string, unknown[]>; format(extensions: Record<string, unknown[]>): string };
  PerMessageDeflate: { new (options: object): DeflateExtension; readonly extensionName: string };
};

/** ws's frame builder (`Sender.frame`), which @types/ws leaves out. */
const frameParts = (wsModule as unknown as { Sender: { frame(data: Buffer, options: object): Buffer[] } }).Sender.frame;

/** Frames `data` once, with ws's own framing, as one final text or binary frame. */
export function prepareFrame(data: Buffer, binary: boolean): PreparedFrame {
  const parts = frameParts(data, { fin: true, rsv1: false, opcode: binary ? 2 : 1, mask: false, readOnly: false });
  return { bytes: parts.length === 1 ? parts[0] : Buffer.concat(parts), payloadLength: data.length };
}

function toBuffer(data: string | Buffer | undefined): Buffer {
  if (data === undefined) return EMPTY;
  return typeof data === 'string' ? Buffer.from(data) : data;
}

/**
 * Accepts upgrades for one location: one `WebSocketServer` in `noServer` mode, without
 * automatic pongs (scripts answer pings, as in the seed), with permessage-deflate only where
 * the location turns it on.
 */
export class WebSocketAcceptor {
  private readonly wss: Server<typeof SessionSocket>;
  private readonly serverHeaders = new WeakMap<IncomingMessage, string>();
  /** Set by `close`: later extended CONNECTs get 503, as ws answers later upgrades. */
  private closed = false;

  constructor(private readonly options: AcceptorOptions) {
    const serverOptions: ServerOptions<typeof SessionSocket> & { closeTimeout: number } = {
      noServer: true,
      autoPong: false,
      clientTracking: false,
      perMessageDeflate: deflateOptions(options.deflate),
      maxPayload: options.maxPayload,
      closeTimeout: options.closeTimeoutMs ?? CLOSE_TIMEOUT_MS,
      WebSocket: SessionSocket,
    };
    this.wss = new WebSocketServer(serverOptions);
    // nginx's order: Status line, Server, Date, then ws's Upgrade/Connection/Accept.
    this.wss.on('headers', (headers: string[], req: IncomingMessage) => {
      const server = this.serverHeaders.get(req);
      const date = `Date: ${new Date().toUTCString()}`;
      if (server) headers.splice(1, 0, `Server: ${server}`, date);
      else headers.splice(1, 0, date);
    });
  }

  /**
   * Answers the upgrade. Resolves with the session once the 101 is written, or with null once
   * the socket has closed when the handshake failed (ws wrote its HTTP 400/405 and destroyed
   * the socket). Never rejects.
   */
  accept(req: IncomingMessage, socket: Duplex, head: Buffer, options: AcceptOptions): Promise<WebSocketSessionImpl | null> {
    const onError = options.onSocketError ?? noop;
    socket.on('error', onError);
    if (socket.destroyed) return Promise.resolve(null);
    const sessionOptions: SessionOptions = {
      timeoutMs: options.timeoutMs,
      maxSendLen: options.maxSendLen ?? this.options.maxPayload,
      compressFrom: this.options.deflate?.threshold,
      counters: options.counters,
      observer: options.observer,
    };
    if (isExtendedConnect(req)) return Promise.resolve(this.acceptStream(req, req.stream, options.serverHeader, sessionOptions));
    if (options.serverHeader) this.serverHeaders.set(req, options.serverHeader);
    return new Promise((resolve) => {
      let accepted = false;
      try {
        this.wss.handleUpgrade(req, socket, head, (ws) => {
          accepted = true;
          this.serverHeaders.delete(req);
          resolve(new WebSocketSessionImpl(ws, socket, sessionOptions));
        });
      } catch (err) {
        onError(err as Error);
        socket.destroy();
      }
      // Without `verifyClient`, ws answers within handleUpgrade: a socket not accepted by now
      // is being refused (ws wrote its 400/405 and ends or destroys it). Only then is 'close'
      // listened to ('close' is never emitted synchronously), so an accepted connection does
      // not carry a third 'close' listener that grew the listener array for ever.
      if (!accepted) socket.once('close', () => accepted || resolve(null));
    });
  }

  /**
   * An extended CONNECT (RFC 8441): ws's checks but the key's (`http2-handshake.ts`), then a
   * 200 where HTTP/1.1 has its 101 (no Sec-WebSocket-Accept: the stream is the proof), and ws
   * framing on the stream as on a socket; a refusal is ws's status and reason, on the stream.
   */
  private acceptStream(req: IncomingMessage, stream: ServerHttp2Stream, serverHeader: string | undefined, sessionOptions: SessionOptions): WebSocketSessionImpl | null {
    const own: [string, string][] = serverHeader ? [['server', serverHeader]] : [];
    own.push(['date', new Date().toUTCString()]);
    const handshake = this.closed ? ({ accepted: false, status: 503, reason: 'Service Unavailable', lines: [] } as const) : streamHandshake(req.headers);
    if (!handshake.accepted) {
      const lines = [...own, ['content-type', 'text/html'], ['content-length', String(Buffer.byteLength(handshake.reason))], ...handshake.lines] as const;
      answerStream(stream, handshake.status, lines, handshake.reason);
      return null;
    }
    const options = (this.wss as unknown as { options: ServerOptions & { WebSocket: typeof SessionSocket } }).options;
    const deflate = this.negotiateDeflate(req.headers['sec-websocket-extensions'], options);
    if (deflate === REFUSED) {
      // ws's answer to an offer it cannot parse or accept, on the stream.
      const reason = 'Invalid or unacceptable Sec-WebSocket-Extensions header';
      answerStream(stream, 400, [...own, ['content-type', 'text/html'], ['content-length', String(reason.length)]], reason);
      return null;
    }
    if (handshake.protocol !== null) own.push(['sec-websocket-protocol', handshake.protocol]);
    if (deflate) own.push(['sec-websocket-extensions', deflate.header]);
    stream.respond(Object.fromEntries([[':status', 200], ...own]));
    countWrites(stream);
    // What ws's completeUpgrade does after writing the 101, with the server's own options.
    const ws = new SessionSocket(null as unknown as string, undefined, options);
    if (handshake.protocol !== null) (ws as unknown as { _protocol: string })._protocol = handshake.protocol;
    if (deflate) (ws as unknown as { _extensions: Record<string, DeflateExtension> })._extensions = deflate.extensions;
    (ws as unknown as { setSocket(socket: Duplex, head: Buffer, options: object): void }).setSocket(stream, EMPTY, options);
    return new WebSocketSessionImpl(ws, stream, sessionOptions);
  }

  /**
   * ws's negotiation of an HTTP/1.1 upgrade (`handleUpgrade`), for an extended CONNECT: null
   * when deflate is off here or not offered, REFUSED when the offer cannot be parsed or accepted.
   */
  private negotiateDeflate(offered: string | undefined, options: ServerOptions): NegotiatedDeflate | null | typeof REFUSED {
    if (!options.perMessageDeflate || offered === undefined) return null;
    const { PerMessageDeflate, extension } = wsInternals;
    const deflate = new PerMessageDeflate({ ...(options.perMessageDeflate as object), isServer: true, maxPayload: options.maxPayload });
    try {
      const offers = extension.parse(offered)[PerMessageDeflate.extensionName];
      if (!offers) return null;
      deflate.accept(offers);
    } catch {
      return REFUSED;
    }
    return {
      extensions: { [PerMessageDeflate.extensionName]: deflate },
      header: extension.format({ [PerMessageDeflate.extensionName]: [deflate.params] }),
    };
  }

  /** Refuses later upgrades (ws answers 503); open sessions keep running. */
  close(): void {
    this.closed = true;
    this.wss.close();
  }
}

/** An extension offer that fails the handshake. */
const REFUSED = Symbol('refused');

/** permessage-deflate as accepted for one extended CONNECT: ws's extension and the answer's header. */
interface NegotiatedDeflate {
  readonly extensions: Record<string, DeflateExtension>;
  readonly header: string;
}

/**
 * ws's `perMessageDeflate` server option for a location's settings (false: off). The threshold
 * is also the session's (`compressFrom`), which applies it whether or not context takeover is on.
 */
function deflateOptions(deflate: DeflateOptions | undefined): ServerOptions['perMessageDeflate'] {
  if (!deflate) return false;
  const zlibDeflateOptions: { memLevel?: number; level?: number } = {};
  if (deflate.memLevel !== undefined) zlibDeflateOptions.memLevel = deflate.memLevel;
  if (deflate.level !== undefined) zlibDeflateOptions.level = deflate.level;
  return {
    threshold: deflate.threshold,
    zlibDeflateOptions,
    ...(deflate.windowBits !== undefined ? { serverMaxWindowBits: deflate.windowBits } : {}),
  };
}

/**
 * Counts what is written to a stream as `bytesWritten` (a socket's own count; an HTTP/2 stream
 * has none): `$body_bytes_sent` of a WebSocket on a stream. One shared function, no closure.
 */
function countWrites(stream: Duplex): void {
  (stream as Duplex & { bytesWritten: number }).bytesWritten = 0;
  stream.write = countedWrite as Duplex['write'];
}

function countedWrite(this: Duplex & { bytesWritten: number }, chunk: Buffer | string, encoding?: BufferEncoding, cb?: (err?: Error | null) => void): boolean {
  this.bytesWritten += typeof chunk === 'string' ? Buffer.byteLength(chunk, typeof encoding === 'string' ? encoding : 'utf8') : chunk.length;
  return Duplex.prototype.write.call(this, chunk, encoding as BufferEncoding, cb);
}

function noop(): void {}
