/**
 * One proxied upgrade (WebSocket). http-proxy makes the upstream request, writes the 101 and
 * pipes the two sockets; this class does what it does not: error listeners on both sockets
 * first, the request line and headers, nginx's connect and read timeouts, the upstream's
 * refusal (a non-101 answer) passed to the client as a proper HTTP response, nginx's error
 * page when the upstream cannot be reached, a client that leaves (even half-closes) before the
 * answer noticed at once (nginx's check of a broken connection: 499), both sockets closed
 * together, and the outcome the access log needs. A WebSocket on an HTTP/2 stream (RFC 8441's
 * extended CONNECT) goes up as the same HTTP/1.1 Upgrade, with a key of the tunnel's own (the
 * client sent none) whose Sec-WebSocket-Accept it checks; the request is made here, as
 * http-proxy would make it, because http-proxy writes its 101 and error answers as raw bytes,
 * and the answers go on the stream as HTTP/2 responses: 200 for the upstream's 101 (without
 * Upgrade, Connection, Sec-WebSocket-Accept), the upstream's refusal, nginx's error page.
 */
import { createHash, randomBytes } from 'node:crypto';
import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { answerStream, closeOnceAnswered, http2Fields, isExtendedConnect } from '../../http/http2-messages';
import { WEBSOCKET_GUID } from '../../shared/websocket/constants';
import { errorPageHtml, reasonPhrase } from '../../http/status';
import type { Counters } from '../../types';
import type { Logger, UpgradeOutcome } from '../../types';
import type { ProxyTimeouts } from './exchange';
import { groupHeaders, rawResponseHead, responseHeaders, ownServerDate, switchingHeaders, type HeaderLine } from './headers';
import { classifyUpstreamError, contextOf, Deadline, UPSTREAM_CODES, UpstreamTimeout, type UpstreamFailure, type UpstreamPhase } from './upstream-errors';

/** Fields of a 101 that a 200 on an HTTP/2 stream does not carry (RFC 8441 5). */
const SWITCHING_ONLY = new Set(['upgrade', 'connection', 'sec-websocket-accept']);

/** The upstream's 101 did not prove it read the key (RFC 6455 4.1). */
const BAD_ACCEPT: UpstreamFailure = { status: 502, code: UPSTREAM_CODES.invalid, reason: 'upstream sent invalid "Sec-WebSocket-Accept" header' };

/** Bytes of the client's read before the upstream's answer, at most (a WebSocket client sends nothing then). */
const EARLY_LIMIT = 64 * 1024;

/** What a tunnel is built from. */
export interface TunnelInit {
  readonly req: IncomingMessage;
  /** The client's connection. */
  readonly socket: Duplex;
  readonly path: string;
  readonly headers: readonly HeaderLine[];
  readonly timeouts: ProxyTimeouts;
  /** The location's `send_timeout` (ms): how long a write to the client may stay blocked once upgraded. */
  readonly clientSendTimeout: number;
  readonly connectEvent: 'connect' | 'secureConnect';
  /** The gateway's `Server` header and error page signature. */
  readonly signature: string;
  readonly log: Logger;
  /** The error log context (`, client: ..., upstream: "..."`), or what makes it when a line is written. */
  readonly context: string | (() => string);
  readonly onDone: () => void;
  /** The location's counters: told of every upstream failure (the metrics). */
  readonly counters?: Counters | null;
  /** Upstream response headers not passed on (nginx's default list when unset). */
  readonly hidden?: ReadonlySet<string>;
  /** Rewrites the answer's header lines, the 101's or a refusal's (`proxy_redirect`, `proxy_cookie_*`), as nginx does on every upstream head. */
  readonly rewriteHeaders?: (lines: readonly HeaderLine[]) => readonly HeaderLine[];
}

/**
 * One upgrade through the proxy. `outcome` resolves when the client connection is closed:
 * status 101 and the bytes relayed to the client once upgraded; else the status the client
 * got (the upstream's refusal, 502/504, or 499 when it left first) and that body's length.
 */
export class Tunnel {
  readonly outcome: Promise<UpgradeOutcome>;
  private resolve!: (outcome: UpgradeOutcome) => void;
  private proxyReq: ClientRequest | null = null;
  private upstream: Socket | null = null;
  private phase: UpstreamPhase = 'connecting to upstream';
  private readonly deadline = new Deadline(() => this.timedOut());
  /** nginx's send timeouts once upgraded: armed while a write to one side stays blocked. */
  private readonly blocked = new Deadline(() => this.writeTimedOut());
  private blockedSide: 'upstream' | 'client' = 'upstream';
  private status = 0;
  private bytesSent = 0;
  private answered = false;
  /** Set once the gateway's own error page went out: later errors are echoes of it. */
  private failedWith: UpstreamFailure | null = null;
  private closed = false;
  /**
   * What the client sent before the upstream answered, read only to see its end (a FIN):
   * given back to the socket once upgraded. Past `EARLY_LIMIT` bytes the socket is no longer read.
   */
  private early: Buffer[] = [];
  private earlyBytes = 0;
  /** The client's stream when it came as an extended CONNECT (HTTP/2), else null. */
  private readonly stream: ServerHttp2Stream | null;
  /** The Sec-WebSocket-Accept the upstream must answer with, for a key the tunnel made. */
  private expectedAccept: string | null = null;

  constructor(private readonly init: TunnelInit) {
    this.outcome = new Promise((resolve) => (this.resolve = resolve));
    this.stream = isExtendedConnect(init.req) ? init.req.stream : null;
    const { socket } = init;
    socket.on('error', () => this.closeBoth());
    socket.once('close', () => this.clientClosed());
    if (socket.destroyed) queueMicrotask(() => this.clientClosed());
  }

  /** http-proxy made the upstream request (its `proxyReqWs` event); nothing is written yet. */
  onRequest(proxyReq: ClientRequest): void {
    this.proxyReq = proxyReq;
    proxyReq.path = this.init.path;
    for (const name of proxyReq.getHeaderNames()) proxyReq.removeHeader(name);
    for (const [name, values] of groupHeaders(this.init.headers)) proxyReq.setHeader(name, values);
    // Runs before http-proxy's own 'upgrade' listener, which is added after this event.
    proxyReq.on('upgrade', (res: IncomingMessage, upstream: Socket, head: Buffer) => this.upgraded(res, upstream, head));
    proxyReq.once('socket', (socket: Socket) => {
      if (this.closed) return;
      if (!socket.connecting) return this.connected();
      this.deadline.arm(this.init.timeouts.connect);
      socket.once(this.init.connectEvent, () => this.connected());
    });
  }

  /**
   * The upstream request of a WebSocket on an HTTP/2 stream, made here as http-proxy makes one
   * (a fresh connection, the request's headers the tunnel's), with a Sec-WebSocket-Key of its own.
   */
  openUpstream(target: http.RequestOptions & { protocol: string }): void {
    const key = randomBytes(16).toString('base64');
    this.expectedAccept = createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
    const request = (target.protocol === 'https:' ? https : http).request({ ...target, method: 'GET', agent: false, rejectUnauthorized: false });
    request.on('error', (err) => this.onError(err));
    this.onRequest(request);
    request.setHeader('Sec-WebSocket-Key', key);
    this.started();
    request.end();
  }

  /**
   * After http-proxy's `ws()` returned: its 'response' listener would write the upstream's
   * header object and a de-chunked body under it; this one writes a proper response instead.
   */
  started(): void {
    const proxyReq = this.proxyReq;
    if (!proxyReq) return;
    proxyReq.removeAllListeners('response');
    proxyReq.on('response', (res: IncomingMessage) => this.refused(res));
    if (this.closed) {
      proxyReq.destroy();
      return;
    }
    const { socket } = this.init;
    socket.on('data', this.keepEarly);
    socket.once('end', this.endedEarly);
  }

  private readonly keepEarly = (chunk: Buffer): void => {
    this.early.push(chunk);
    this.earlyBytes += chunk.length;
    if (this.earlyBytes > EARLY_LIMIT) this.init.socket.pause();
  };

  /** The client's FIN before the upstream answered: gone, as nginx sees it (499). */
  private readonly endedEarly = (): void => {
    if (!this.answered) this.closeBoth();
  };

  /** Stops reading for the tunnel's own sake; what was read goes back to the socket, in order, for the pipe. */
  private giveBackEarly(): void {
    const { socket } = this.init;
    socket.off('data', this.keepEarly);
    socket.off('end', this.endedEarly);
    socket.pause();
    const early = this.early;
    this.early = [];
    for (let i = early.length - 1; i >= 0; i--) socket.unshift(early[i]);
  }

  /** http-proxy's error callback (it ends the client socket after this returns). */
  onError(err: unknown): void {
    if (this.closed || this.failedWith !== null) return;
    if (this.answered) this.closeBoth();
    else this.failed(classifyUpstreamError(err));
  }

  /**
   * http-proxy's `open` event: both pipes are in place. As nginx's upgraded connection, the
   * read timeout starts over on traffic in either direction: only silence both ways ends it.
   * A write that stays blocked (the other side reads nothing) ends it after
   * `proxy_send_timeout` towards the upstream, `send_timeout` towards the client.
   */
  opened(): void {
    const upstream = this.upstream;
    const client = this.init.socket;
    if (!upstream) return;
    // These run after the pipes' own listeners: the chunk is already written when they look.
    upstream.on('data', (chunk: Buffer) => {
      this.bytesSent += chunk.length;
      this.deadline.refresh();
      this.watchWrite(client, 'client');
    });
    client.on('data', () => {
      this.deadline.refresh();
      this.watchWrite(upstream, 'upstream');
    });
  }

  /** Arms the send timeout while `target` holds back what was written to it, until it drains. */
  private watchWrite(target: Duplex, side: 'upstream' | 'client'): void {
    if (!target.writableNeedDrain || this.blocked.armed || this.closed) return;
    this.blockedSide = side;
    this.blocked.arm(side === 'upstream' ? this.init.timeouts.send : this.init.clientSendTimeout);
    target.once('drain', () => this.blocked.clear());
  }

  private writeTimedOut(): void {
    if (this.closed) return;
    const who = this.blockedSide === 'upstream' ? 'upstream' : 'client';
    if (who === 'upstream') this.init.counters?.upstreamError(classifyUpstreamError(new UpstreamTimeout()).code);
    this.init.log.error(`${who} timed out (110: Connection timed out) while ${this.phase}${contextOf(this.init.context)}`);
    this.closeBoth();
  }

  /** The upstream socket of this tunnel, once upgraded (for matching http-proxy's `open`). */
  get upstreamSocket(): Socket | null {
    return this.upstream;
  }

  private connected(): void {
    if (this.closed || this.answered) return;
    this.phase = 'reading response header from upstream';
    this.deadline.arm(this.init.timeouts.read);
  }

  /**
   * 101: the gateway's Server/Date replace the upstream's; http-proxy writes it and pipes (on
   * an HTTP/2 stream: a 200, and the pipes laid here).
   */
  private upgraded(res: IncomingMessage, upstream: Socket, head?: Buffer): void {
    this.giveBackEarly();
    upstream.on('error', () => this.closeBoth());
    if (this.expectedAccept !== null && res.headers['sec-websocket-accept'] !== this.expectedAccept) {
      upstream.destroy();
      this.failed(BAD_ACCEPT);
      return;
    }
    this.upstream = upstream;
    this.answered = true;
    this.status = this.stream ? 200 : 101;
    this.phase = 'proxying upgraded connection';
    if (this.closed) {
      upstream.destroy();
      return;
    }
    res.headers = switchingHeaders(res.rawHeaders, this.init.signature, this.init.hidden, this.init.rewriteHeaders) as IncomingMessage['headers'];
    upstream.once('close', () => this.closeBoth());
    // Once one side's end has been passed on and flushed, nginx closes both.
    upstream.once('finish', () => this.closeBoth());
    this.init.socket.once('finish', () => this.closeBoth());
    this.deadline.arm(this.init.timeouts.read);
    if (this.stream) this.pipeStream(this.stream, res, upstream, head);
  }

  /** The upgraded upstream and the client's stream: the 200, then each piped into the other. */
  private pipeStream(stream: ServerHttp2Stream, res: IncomingMessage, upstream: Socket, head: Buffer | undefined): void {
    const lines: HeaderLine[] = [];
    for (const [name, value] of Object.entries(res.headers)) {
      if (value === undefined || SWITCHING_ONLY.has(name.toLowerCase())) continue;
      for (const one of Array.isArray(value) ? value : [value]) lines.push([name, one]);
    }
    stream.respond(http2Fields(200, lines));
    upstream.setTimeout(0);
    upstream.setNoDelay(true);
    upstream.setKeepAlive(true, 0);
    if (head && head.length) upstream.unshift(head);
    upstream.pipe(stream).pipe(upstream);
    this.opened();
  }

  /** The upstream answered the upgrade with something else: pass it on, then close. */
  private refused(res: IncomingMessage): void {
    this.giveBackEarly();
    if (this.closed) {
      res.destroy();
      return;
    }
    this.deadline.clear();
    this.answered = true;
    this.status = res.statusCode ?? 502;
    res.on('error', () => {});
    const { socket } = this.init;
    const passed = responseHeaders(res.rawHeaders, this.init.hidden);
    const lines = this.init.rewriteHeaders ? this.init.rewriteHeaders(passed) : passed;
    if (this.stream) {
      this.stream.respond(http2Fields(this.status, [...ownServerDate(this.init.signature, lines), ...lines]));
      closeOnceAnswered(this.stream);
    } else {
      socket.write(rawResponseHead(this.status, res.statusMessage ?? '', this.init.signature, lines));
      socket.once('finish', () => socket.destroy());
    }
    res.on('data', (chunk: Buffer) => (this.bytesSent += chunk.length));
    res.once('close', () => (res.complete ? socket.end() : socket.destroy()));
    res.pipe(socket, { end: false });
  }

  private timedOut(): void {
    if (this.closed) return;
    const failure = classifyUpstreamError(new UpstreamTimeout());
    if (this.answered) {
      this.init.counters?.upstreamError(failure.code);
      this.init.log.error(`${failure.reason} while ${this.phase}${contextOf(this.init.context)}`);
      this.closeBoth();
    } else {
      this.failed(failure);
    }
  }

  /** Before any answer: nginx's error page, raw on the socket, then close. */
  private failed(failure: UpstreamFailure): void {
    this.answered = true;
    this.failedWith = failure;
    this.init.counters?.upstreamError(failure.code);
    this.deadline.clear();
    const line = `${failure.reason} while ${this.phase}${contextOf(this.init.context)}`;
    if (failure.level === 'crit') this.init.log.crit(line);
    else this.init.log.error(line);
    this.proxyReq?.destroy();
    const { socket } = this.init;
    this.status = failure.status;
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const body = errorPageHtml(failure.status, this.init.signature);
    this.bytesSent = Buffer.byteLength(body);
    const lines: HeaderLine[] = [
      ['Content-Type', 'text/html'],
      ['Content-Length', String(this.bytesSent)],
    ];
    if (this.stream) {
      answerStream(this.stream, failure.status, [...ownServerDate(this.init.signature, lines), ...lines], body);
      return;
    }
    const head = rawResponseHead(failure.status, reasonPhrase(failure.status), this.init.signature, lines);
    socket.once('finish', () => socket.destroy());
    socket.end(head + body);
  }

  /** Closes both sides now (the gateway is stopping). */
  destroy(): void {
    this.closeBoth();
  }

  private closeBoth(): void {
    this.deadline.clear();
    this.blocked.clear();
    this.init.socket.destroy();
    this.upstream?.destroy();
    this.proxyReq?.destroy();
  }

  private clientClosed(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.answered) {
      this.status = 499;
      this.init.log.info(`client prematurely closed connection, so upstream connection is closed too while ${this.phase}${contextOf(this.init.context)}`);
    }
    this.closeBoth();
    this.init.onDone();
    this.resolve({ status: this.status, bytesSent: this.bytesSent });
  }
}
