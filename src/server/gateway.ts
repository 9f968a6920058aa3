/**
 * The listening side: one Node HTTP server per listening socket, socket options applied to
 * every accepted connection, `worker_connections` enforced, one 'request' and one 'upgrade'
 * listener handing over to the dispatcher, and nginx's answers to requests the parser rejects.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Server as TlsServer } from 'node:tls';
import type { MainConf } from '../config/model';
import { Dispatcher, writeRawError } from './dispatch';
import { armFirstHead, firstHeadDone } from './first-head-timeout';
import { isLingering } from './lingering';
import type { LogFiles } from '../shared/log';
import { coreModule } from '../modules/core/module';
import { connectionAccepted, connectionClosed } from '../modules/status/counters';
import { applySoKeepalive, closeTimedOut } from './socket-options';
import { awaitingProxyHeader, proxyHeaderLength, readProxyProtocol, type ProxyHeaderOutcome } from './proxy-protocol';
import { afterResponses, inTurn, whenIdle } from './pipeline';
import { Http2Sessions } from './http2-sessions';
import { alpnChoice, routeByAlpn } from './http2-alpn';
import { routeByPreface } from './http2-preface';
import { inspectRawHead } from '../http/raw-head';
import { refuseBody } from '../shared/request-body';
import { headBytes, maxLine } from '../http/request-head';
import { Runtime, type ListenerRuntime } from './runtime';
import { AcceptGate, type AcceptPeers, type GatedServer } from './accept-gate';
import type { Logger } from '../types';

/** How long connections get to close after the handlers said goodbye (1001) at shutdown. */
const SHUTDOWN_GRACE_MS = 2000;

/** True if `promise` settles within `ms` (null: no limit). */
function settleWithin(promise: Promise<unknown>, ms: number | null): Promise<boolean> {
  if (ms === null) return promise.then(() => true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void promise.then(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * nginx's status for what Node's parser refused: a `Transfer-Encoding` other than `chunked` on
 * HTTP/1.1 is 501 (chunked beside a Content-Length is 400), also when it is a control character
 * in that value that Node refused (nginx strips only spaces around a value: a tab or a
 * control character is part of it); an HTTP major version above 1 is 505 (nginx stops at its
 * first digit); the rest 400.
 */
function parserErrorStatus(code: string | undefined, raw: Buffer | undefined): number {
  const head = raw ? raw.subarray(0, 64 * 1024).toString('latin1') : '';
  if (code === 'HPE_INVALID_TRANSFER_ENCODING' || code === 'HPE_INVALID_HEADER_TOKEN') {
    const te = /\ntransfer-encoding: *([^\r\n]*?) *\r?\n/i.exec(head)?.[1];
    if (te === undefined || /^chunked$/i.test(te) || /^\S+ +\S+ +HTTP\/1\.0\r?\n/.test(head)) return 400;
    return headerLinesNginxRefuses(head) ? 400 : 501;
  }
  if (code === 'HPE_INVALID_VERSION' && /^\S+ +\S+ +HTTP\/0*[2-9]/.test(head)) return 505;
  return 400;
}

/**
 * Whether nginx refuses one of the head's header lines outright (400 "client sent invalid
 * header line", before it looks at `Transfer-Encoding`): a line that starts with white space
 * (a folded line) or a colon, a name with a control character or a space, a NUL in a value.
 */
function headerLinesNginxRefuses(head: string): boolean {
  const end = head.indexOf('\r\n\r\n');
  const lines = head.slice(0, end < 0 ? head.length : end).split('\r\n').slice(1);
  return lines.some((line) => {
    const colon = line.indexOf(':');
    const name = colon < 0 ? line : line.slice(0, colon);
    return colon === 0 || /^[\x00-\x20\x7f]/.test(line) || /[\x00-\x20\x7f]/.test(name) || line.includes('\0', colon);
  });
}

/**
 * Whether a head Node found too large failed on its request line (414) rather than its
 * headers (494, sent as 400). `raw` is only the chunk being parsed: it tells where the request
 * line ends only when it is the first data of the connection; a later chunk of a head that
 * arrived in pieces is taken as headers.
 */
function requestLineTooLong(raw: Buffer | undefined, socket: Duplex, longest: number): boolean {
  if (!raw) return false;
  // A PROXY header (`listen ... proxy_protocol`) came before the request's first byte.
  const firstChunk = ((socket as Duplex & { bytesRead?: number }).bytesRead ?? Infinity) - proxyHeaderLength(socket) <= raw.length;
  if (!firstChunk) return false;
  const end = raw.indexOf('\r\n');
  return end < 0 ? raw.length > longest : end > longest;
}

/**
 * How often Node looks for connections past `client_header_timeout` (its headersTimeout, which
 * runs from the accept, then from the first byte of each later request, as nginx's timer): a
 * tenth of the timeout, between 100 ms and 1 s, so a connection is closed within that of it.
 */
export function headerCheckInterval(timeoutMs: number): number {
  return Math.min(1000, Math.max(100, Math.round(timeoutMs / 10)));
}

/** Node's server socket with its parser, and the request it parsed last (internal, stable since Node 0.x). */
type ParsedSocket = Duplex & {
  parser?: { incoming?: http.IncomingMessage | null } | null;
  _httpMessage?: http.ServerResponse | null;
  bytesRead?: number;
  remoteAddress?: string;
};

/** Connections whose bad input was answered (or dropped) already: the parser keeps failing on what follows. */
const refused = new WeakSet<Duplex>();

/** A running configuration: its runtime and its listening sockets. */
export class Gateway {
  private readonly servers: http.Server[] = [];
  /** Each server with the options it listens with (listened with again after a pause). */
  private readonly listened: GatedServer[] = [];
  /** Stops accepting when this worker is nearly full and a sibling still accepts (`accept-gate.ts`). */
  private gate: AcceptGate | null = null;
  /** The HTTP/2 sessions of each socket that speaks HTTP/2. */
  private readonly http2: Http2Sessions[] = [];
  private readonly sockets = new Set<Socket>();
  private dispatcher!: Dispatcher;
  private draining = false;
  private runtime!: Runtime;
  /**
   * Every accepted socket's 'close' listener (the counters' too): one function for all, not a
   * closure per socket.
   */
  private readonly forget: (this: Socket) => void;

  constructor(
    readonly conf: MainConf,
    private readonly log: Logger,
    private readonly files: LogFiles,
  ) {
    const sockets = this.sockets;
    const gateway = this;
    this.forget = function (this: Socket) {
      sockets.delete(this);
      firstHeadDone(this);
      connectionClosed(this);
      gateway.gate?.closed(sockets.size);
    };
  }

  /**
   * Builds the handlers and binds every listening socket. Rejects if a bind fails. `beforeListen`
   * runs once the handlers are built (their files opened) and before any socket listens (a
   * worker drops its privileges there, as nginx's worker before it accepts). With `peers` (the
   * other workers sharing the listening sockets), a worker past 7/8 of its `worker_connections`
   * stops accepting while one of them still accepts.
   */
  async start(beforeListen?: () => void, peers?: AcceptPeers): Promise<void> {
    this.runtime = await Runtime.build(this.conf, this.log, this.files);
    this.dispatcher = new Dispatcher(this.runtime);
    beforeListen?.();
    for (const listener of this.runtime.listeners) this.servers.push(await this.listen(listener));
    if (peers) this.gate = new AcceptGate(this.listened, peers, this.conf.workerConnections, () => this.sockets.size, this.log);
    for (const { key, address, port } of this.addresses()) this.log.notice(`listening on ${key} (${address}:${port})`);
  }

  /** The addresses actually bound (useful with port 0), by listen key. */
  addresses(): { key: string; port: number; address: string }[] {
    return this.servers.map((server, i) => {
      const address = server.address();
      const key = this.runtime.listeners[i].listen.key;
      if (address && typeof address === 'object') return { key, port: address.port, address: address.address };
      return { key, port: 0, address: String(address) };
    });
  }

  private listen(listener: ListenerRuntime): Promise<http.Server> {
    const spec = listener.listen;
    const defaults = listener.servers.defaultServer.confs.get(coreModule);
    const options: http.ServerOptions = {
      keepAliveTimeout: defaults.keepaliveTimeout.ms,
      headersTimeout: defaults.clientHeaderTimeout,
      connectionsCheckingInterval: headerCheckInterval(defaults.clientHeaderTimeout),
      requestTimeout: 0,
      requireHostHeader: false,
      maxHeaderSize: headBytes(listener.head.buffers),
    };
    const scheme = listener.tls ? 'https' : 'http';
    // nginx's client_header_timeout covers the TLS handshake too.
    const tls = listener.tls && { ...listener.tls, handshakeTimeout: defaults.clientHeaderTimeout, ...(listener.http2 ? { ALPNCallback: alpnChoice(listener) } : {}) };
    const server: http.Server = tls ? https.createServer({ ...options, ...tls }) : http.createServer(options);
    // Every header line is kept: the count nginx allows is checked by the dispatcher (request-head.ts).
    server.maxHeadersCount = 0;
    if (listener.tls) {
      listener.attachTls?.(server as unknown as TlsServer);
      server.on('tlsClientError', (err: NodeJS.ErrnoException) =>
        this.log.info(err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'client timed out (110: Connection timed out) while SSL handshaking' : `SSL handshake failed: ${err.message}`),
      );
    }
    // A client that half-closes after its request still gets the response, as from nginx.
    (server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    // Cleartext: the default server decides whether the preface is looked for.
    const h2 = listener.http2 && (listener.tls || listener.speaksHttp2(null)) ? this.http2Sessions(listener, scheme) : null;
    // ALPN's choice: a TLS connection that chose `h2` is HTTP/2's, any other HTTP/1.1's.
    if (h2 && listener.tls) routeByAlpn(server, h2);
    const h2c = listener.tls ? null : h2;
    // For TLS too, 'connection' gives the TCP socket: keepalive and the cap apply to it.
    if (listener.proxyProtocol || h2c) this.takeConnections(server, listener, h2c);
    else server.on('connection', (socket: Socket) => this.accept(socket, listener));
    // A request is looked at while the parser still holds its bytes, then served in its turn:
    // a pipelined one once those before it are answered, never after one that closed.
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
      firstHeadDone(req.socket);
      inspectRawHead(req);
      inTurn(res, () => {
        if (this.draining) res.shouldKeepAlive = false;
        void this.dispatcher.request(req, res, listener, scheme);
      });
    };
    server.on('request', onRequest);
    // nginx ignores an Expect it does not know (Node would answer 417 itself), and sends
    // `100 Continue` only once the request passed its checks (Node would send it at once).
    server.on('checkExpectation', onRequest);
    server.on('checkContinue', onRequest);
    // Node hands an upgrade or a CONNECT over as soon as it is parsed, even behind responses
    // still being written: it waits for them, and is dropped if one of them closes.
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      firstHeadDone(socket);
      // Node has taken its own listeners off the socket: this one keeps its errors until the
      // handler takes it (never, behind a response that closed the connection).
      const onError = () => socket.destroy();
      socket.on('error', onError);
      whenIdle(socket, () => {
        socket.off('error', onError);
        void this.dispatcher.upgrade(req, socket, head, listener, scheme);
      });
    });
    // CONNECT: nginx refuses an authority-form target (400), and the method itself (405).
    server.on('connect', (req: http.IncomingMessage, socket: Duplex) => {
      firstHeadDone(socket);
      socket.on('error', () => socket.destroy());
      whenIdle(socket, () => writeRawError(socket, req.url?.startsWith('/') ? 405 : 400, this.runtime.server(listener.servers.defaultServer).signature));
    });
    server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket) => this.clientError(err, socket, listener));
    if (spec.reuseport) this.log.notice(`"reuseport" on ${spec.key} is not available in this runtime; worker processes share the socket instead`);
    if (spec.deferred) this.log.notice(`"deferred" on ${spec.key} is not available in this runtime; connections are accepted at once`);
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`bind() to ${spec.key} failed (${err.code}: ${err.message})`)));
      const options = spec.unix ? { path: spec.unix, backlog: spec.backlog } : { host: spec.host ?? undefined, port: spec.port, backlog: spec.backlog, ipv6Only: spec.ipv6only && spec.host === '::' };
      const onListening = () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.log.error(`listener ${spec.key}: ${err.message}`));
        this.listened.push({ server, options });
        resolve(server);
      };
      server.listen(options, onListening);
    });
  }

  /** The HTTP/2 sessions of a socket that speaks it: their streams go to the dispatcher as requests. */
  private http2Sessions(listener: ListenerRuntime, scheme: string): Http2Sessions {
    const sessions = new Http2Sessions(
      listener.http2!,
      (req, res) => {
        firstHeadDone(req.socket);
        void this.dispatcher.request(req as unknown as http.IncomingMessage, res as unknown as http.ServerResponse, listener, scheme);
      },
      (req, res) => {
        firstHeadDone(req.socket);
        void this.dispatcher.connect(req, res, listener, scheme);
      },
    );
    this.http2.push(sessions);
    return sessions;
  }

  /**
   * Node's own 'connection' listener (HTTP's parser, or TLS's handshake) runs only once the
   * connection is known: on a `proxy_protocol` socket once its PROXY header is read (a
   * connection that does not start with one is closed with nginx's error line,
   * `proxy-protocol.ts`); on a cleartext socket that speaks HTTP/2 (`h2`) once its first bytes
   * tell HTTP/2's preface from HTTP/1.x (`http2-preface.ts`).
   */
  private takeConnections(server: http.Server, listener: ListenerRuntime, h2: Http2Sessions | null): void {
    const takeOver = server.listeners('connection') as ((this: http.Server, socket: Socket) => void)[];
    server.removeAllListeners('connection');
    const http1 = (socket: Socket) => {
      for (const listen of takeOver) listen.call(server, socket);
    };
    const known = h2 ? (socket: Socket) => routeByPreface(socket, { http2: (s) => h2.take(s), http1 }) : http1;
    if (!listener.proxyProtocol) {
      server.on('connection', (socket: Socket) => {
        if (this.accept(socket, listener)) known(socket);
      });
      return;
    }
    const outcome: ProxyHeaderOutcome = {
      accepted: known,
      refused: (socket, error) => {
        if (error) this.log.error(`${error} while reading PROXY protocol, client: ${socket.remoteAddress ?? 'unix:'}, server: ${listener.listen.key}`);
      },
      ended: (socket) => this.log.info(`client closed connection while reading PROXY protocol, client: ${socket.remoteAddress ?? 'unix:'}, server: ${listener.listen.key}`),
    };
    server.on('connection', (socket: Socket) => {
      if (this.accept(socket, listener)) readProxyProtocol(socket, listener.tls !== null, outcome);
    });
  }

  /** Every accepted connection: counted (stub_status), the connection cap, then `so_keepalive`. False when refused. */
  private accept(socket: Socket, listener: ListenerRuntime): boolean {
    if (this.sockets.size >= this.conf.workerConnections) {
      this.log.warn(`${this.conf.workerConnections} worker_connections are not enough`);
      connectionAccepted(socket, false);
      socket.destroy();
      return false;
    }
    connectionAccepted(socket, true);
    this.sockets.add(socket);
    this.gate?.opened(this.sockets.size);
    socket.on('close', this.forget); // 'close' comes once: no once() wrapper needed
    armFirstHead(socket, listener.headerTimeout, (s) => this.headTimedOut(s, listener));
    const keepalive = listener.listen.soKeepalive;
    if (keepalive) applySoKeepalive(socket, keepalive, (msg) => this.log.warn(msg));
    return true;
  }

  /**
   * What the HTTP parser refuses gets nginx's status, once every response before it is out; a
   * reset, or a body broken while it was being thrown away, just closes. A head not complete
   * within `client_header_timeout` closes the connection without an answer, as nginx does.
   */
  private clientError(err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex, listener: ListenerRuntime): void {
    const parsed = socket as ParsedSocket;
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      this.headTimedOut(socket, listener);
      return;
    }
    firstHeadDone(socket);
    // A TLS handshake that failed or timed out ('tlsClientError' logged it): nothing to answer.
    const tlsFailure = err.code?.startsWith('ERR_TLS_') || err.code?.startsWith('ERR_SSL_');
    if (err.code === 'ECONNRESET' || tlsFailure || !socket.writable || isLingering(socket)) {
      socket.destroy();
      return;
    }
    if (refused.has(socket)) return;
    refused.add(socket);
    const signature = this.runtime.server(listener.servers.defaultServer).signature;
    const client = `client: ${parsed.remoteAddress ?? 'unix:'}`;
    // The request whose body broke the parser, if it is a body: its head was handed over.
    const broken = parsed.parser?.incoming;
    const inBody = broken != null && !broken.complete;
    // Whoever reads a body the parser refused (the proxy, a publisher, now or once its request's
    // turn comes) ends with nginx's 400, or 499 for an end of stream, and says so in the log.
    const reading = inBody && (broken.listenerCount('data') > 0 || broken.listenerCount('readable') > 0);
    if (inBody) refuseBody(broken, err);
    if (err.code === 'HPE_INVALID_EOF_STATE') {
      // The client closed its side in the middle of a request: nginx closes without an answer;
      // answers already under way for a body nobody reads go out first, as nginx takes the end
      // as the end of the discarding.
      if (!reading) this.log.info(`client prematurely closed connection${inBody ? '' : ' while reading client request headers'}, ${client}`);
      if (reading) setImmediate(() => socket.destroy());
      else afterResponses(socket, () => (socket as Socket).destroySoon());
      return;
    }
    const inFlight = parsed._httpMessage;
    if (inBody) {
      // The head was fine and its response is under way (the body is what broke the parser):
      // let that response be the answer, then close, rather than write a second one after it.
      if (!reading) this.log.info(`client sent invalid request body (${err.code}), ${client}`);
      if (!inFlight) {
        socket.destroy();
        return;
      }
      inFlight.shouldKeepAlive = false;
      if (inFlight.writableFinished) socket.end();
      else inFlight.once('finish', () => socket.end());
      return;
    }
    this.log.info(`client sent invalid request (${err.code}) while reading client request headers, ${client}`);
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? (requestLineTooLong(err.rawPacket, socket, maxLine(listener.head.buffers)) ? 414 : 494) : parserErrorStatus(err.code, err.rawPacket);
    whenIdle(socket, () => writeRawError(socket, status, signature));
  }

  /** `client_header_timeout` passed: nginx closes the connection without an answer, and says so at info. */
  private headTimedOut(socket: Duplex, listener: ListenerRuntime): void {
    const parsed = socket as ParsedSocket;
    const waiting = awaitingProxyHeader(socket)
      ? 'reading PROXY protocol'
      : (parsed.bytesRead ?? 0) - proxyHeaderLength(socket) === 0
        ? 'waiting for request'
        : 'reading client request headers';
    this.log.info(`client timed out (110: Connection timed out) while ${waiting}, client: ${parsed.remoteAddress ?? 'unix:'}, server: ${listener.listen.key}`);
    // nginx resets only a connection with a request begun (ngx_http_free_request); one still waiting is closed.
    closeTimedOut(socket, listener.resetTimedout && waiting === 'reading client request headers');
  }

  /** The open client connections (what worker_connections counts). */
  get connections(): ReadonlySet<Socket> {
    return this.sockets;
  }

  /** Stops listening, closes every connection and every handler. */
  async close(): Promise<void> {
    this.gate?.stop();
    const closed = this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    for (const sessions of this.http2) sessions.destroy();
    for (const socket of this.sockets) socket.destroy();
    await Promise.all(closed);
    this.dispatcher?.stop();
    await this.runtime?.close();
  }

  /**
   * nginx's graceful shutdown of a worker: stop accepting, close idle keep-alive connections,
   * answer what is in flight with `Connection: close`, let WebSockets run until they close; once
   * `timeoutMs` (`worker_shutdown_timeout`) passes, close the handlers (WebSockets get 1001) and
   * then whatever is still open.
   */
  async drain(timeoutMs: number | null): Promise<void> {
    this.draining = true;
    this.gate?.stop();
    // OpenResty's timers: each pending one runs once now with premature = true; running ones are waited for.
    const timers = this.runtime?.timers.shutdown();
    const closed = Promise.all(this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    for (const server of this.servers) server.closeIdleConnections();
    for (const sessions of this.http2) sessions.drain();
    const finished = await settleWithin(Promise.all([closed, timers]), timeoutMs);
    await this.runtime?.close();
    if (!finished && !(await settleWithin(closed, SHUTDOWN_GRACE_MS))) for (const socket of this.sockets) socket.destroy();
  }
}
