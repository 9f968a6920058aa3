/**
 * The listening side: one Node HTTP server per listening socket, socket options applied to
 * every accepted connection, `worker_connections` enforced, one 'request' and one 'upgrade'
 * listener handing over to the dispatcher, and nginx's answers to requests the parser rejects.
 */
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { MainConf } from './config/model';
import { Dispatcher, writeRawError } from './dispatch';
import type { LogFiles } from './log';
import { connectionAccepted, connectionClosed } from './metrics/counters';
import { applySoKeepalive } from './net/socket-options';
import { refuseBody } from './request-body';
import { MAX_LINE } from './request-head';
import { Runtime, type ListenerRuntime } from './runtime';
import type { Logger } from './types';

/** nginx's 4 large_client_header_buffers of 8k: all header lines must fit in about this much. */
const MAX_HEADER_SIZE = 4 * 8192;

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
 * HTTP/1.1 is 501 (chunked beside a Content-Length is 400), an HTTP major version above 1 is
 * 505 (nginx stops at its first digit), the rest 400.
 */
function parserErrorStatus(code: string | undefined, raw: Buffer | undefined): number {
  const head = raw ? raw.subarray(0, 64 * 1024).toString('latin1') : '';
  if (code === 'HPE_INVALID_TRANSFER_ENCODING') {
    const te = /\r?\ntransfer-encoding:[ \t]*([^\r\n]*?)[ \t]*\r?\n/i.exec(head)?.[1];
    return te === undefined || /^chunked$/i.test(te) || /^\S+ +\S+ +HTTP\/1\.0\r?\n/.test(head) ? 400 : 501;
  }
  if (code === 'HPE_INVALID_VERSION' && /^\S+ +\S+ +HTTP\/0*[2-9]/.test(head)) return 505;
  return 400;
}

/**
 * Whether a head Node found too large failed on its request line (414) rather than its
 * headers (494, sent as 400). `raw` is only the chunk being parsed: it tells where the request
 * line ends only when it is the first data of the connection; a later chunk of a head that
 * arrived in pieces is taken as headers.
 */
function requestLineTooLong(raw: Buffer | undefined, socket: Duplex): boolean {
  if (!raw) return false;
  const firstChunk = ((socket as Duplex & { bytesRead?: number }).bytesRead ?? Infinity) <= raw.length;
  if (!firstChunk) return false;
  const end = raw.indexOf('\r\n');
  return end < 0 ? raw.length > MAX_LINE : end > MAX_LINE;
}

/** A running configuration: its runtime and its listening sockets. */
export class Gateway {
  private readonly servers: http.Server[] = [];
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
    this.forget = function (this: Socket) {
      sockets.delete(this);
      connectionClosed(this);
    };
  }

  /** Builds the handlers and binds every listening socket. Rejects if a bind fails. */
  async start(): Promise<void> {
    this.runtime = await Runtime.build(this.conf, this.log, this.files);
    this.dispatcher = new Dispatcher(this.runtime);
    for (const listener of this.runtime.listeners) this.servers.push(await this.listen(listener));
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
    const defaults = listener.servers.defaultServer;
    const options: http.ServerOptions = {
      keepAliveTimeout: defaults.keepaliveTimeout,
      headersTimeout: defaults.clientHeaderTimeout,
      requestTimeout: 0,
      requireHostHeader: false,
      maxHeaderSize: MAX_HEADER_SIZE,
    };
    const scheme = listener.tls ? 'https' : 'http';
    const server: http.Server = listener.tls ? https.createServer({ ...options, ...listener.tls }) : http.createServer(options);
    if (listener.tls) server.on('tlsClientError', (err: Error) => this.log.info(`SSL handshake failed: ${err.message}`));
    // A client that half-closes after its request still gets the response, as from nginx.
    (server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
    // For TLS too, 'connection' gives the TCP socket: keepalive and the cap apply to it.
    server.on('connection', (socket: Socket) => this.accept(socket, listener));
    server.on('request', (req, res) => {
      if (this.draining) res.shouldKeepAlive = false;
      void this.dispatcher.request(req, res, listener, scheme);
    });
    server.on('upgrade', (req, socket, head) => void this.dispatcher.upgrade(req, socket, head, listener, scheme));
    // nginx ignores an Expect it does not know (Node would answer 417 itself), and sends
    // `100 Continue` only once the request passed its checks (Node would send it at once).
    for (const event of ['checkExpectation', 'checkContinue']) {
      server.on(event, (req: http.IncomingMessage, res: http.ServerResponse) => {
        if (this.draining) res.shouldKeepAlive = false;
        void this.dispatcher.request(req, res, listener, scheme);
      });
    }
    // CONNECT: nginx refuses an authority-form target (400), and the method itself (405).
    server.on('connect', (req: http.IncomingMessage, socket: Duplex) => {
      socket.on('error', () => socket.destroy());
      writeRawError(socket, req.url?.startsWith('/') ? 405 : 400, this.runtime.server(listener.servers.defaultServer).signature);
    });
    server.on('clientError', (err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket) => this.clientError(err, socket, listener));
    if (spec.reuseport) this.log.notice(`"reuseport" on ${spec.key} is not available in this runtime; worker processes share the socket instead`);
    return new Promise((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`bind() to ${spec.key} failed (${err.code}: ${err.message})`)));
      const onListening = () => {
        server.removeAllListeners('error');
        server.on('error', (err) => this.log.error(`listener ${spec.key}: ${err.message}`));
        resolve(server);
      };
      if (spec.unix) server.listen({ path: spec.unix, backlog: spec.backlog }, onListening);
      else server.listen({ host: spec.host ?? undefined, port: spec.port, backlog: spec.backlog, ipv6Only: spec.ipv6only && spec.host === '::' }, onListening);
    });
  }

  /** Every accepted connection: counted (stub_status), the connection cap, then `so_keepalive`. */
  private accept(socket: Socket, listener: ListenerRuntime): void {
    if (this.sockets.size >= this.conf.workerConnections) {
      this.log.warn(`${this.conf.workerConnections} worker_connections are not enough`);
      connectionAccepted(socket, false);
      socket.destroy();
      return;
    }
    connectionAccepted(socket, true);
    this.sockets.add(socket);
    socket.on('close', this.forget); // 'close' comes once: no once() wrapper needed
    const keepalive = listener.listen.soKeepalive;
    if (keepalive) applySoKeepalive(socket, keepalive, (msg) => this.log.warn(msg));
  }

  /** What the HTTP parser refuses gets nginx's status; a timeout or reset just closes. */
  private clientError(err: NodeJS.ErrnoException & { rawPacket?: Buffer }, socket: Duplex, listener: ListenerRuntime): void {
    const signature = this.runtime.server(listener.servers.defaultServer).signature;
    if (err.code === 'ECONNRESET' || err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || !socket.writable) {
      socket.destroy();
      return;
    }
    // The head was fine and a response is under way (the body is what broke the parser): let
    // that response be the answer, then close, rather than write a second one after it.
    const inFlight = (socket as Duplex & { _httpMessage?: http.ServerResponse | null })._httpMessage;
    if (inFlight) {
      this.log.info(`client sent invalid request body (${err.code})`);
      inFlight.shouldKeepAlive = false;
      // Whoever reads that body (the proxy, a publisher) ends with nginx's 400 (499 for an end of stream).
      refuseBody(inFlight.req, err);
      if (inFlight.writableFinished) socket.end();
      else inFlight.once('finish', () => socket.end());
      return;
    }
    this.log.info(`client sent invalid request (${err.code}) while reading client request headers`);
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      writeRawError(socket, requestLineTooLong(err.rawPacket, socket) ? 414 : 494, signature);
      return;
    }
    writeRawError(socket, parserErrorStatus(err.code, err.rawPacket), signature);
  }

  /** The open client connections (what worker_connections counts). */
  get connections(): ReadonlySet<Socket> {
    return this.sockets;
  }

  /** Stops listening, closes every connection and every handler. */
  async close(): Promise<void> {
    const closed = this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
    for (const socket of this.sockets) socket.destroy();
    await Promise.all(closed);
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
    const closed = Promise.all(this.servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    for (const server of this.servers) server.closeIdleConnections();
    const finished = await settleWithin(closed, timeoutMs);
    await this.runtime?.close();
    if (!finished && !(await settleWithin(closed, SHUTDOWN_GRACE_MS))) for (const socket of this.sockets) socket.destroy();
  }
}
