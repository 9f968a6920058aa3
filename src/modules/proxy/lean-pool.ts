/**
 * The lean pool of one upstream peer: undici `Client`s, one connection each (pipelining 1),
 * kept as nginx's upstream `keepalive` keeps its connections (upstream-agent.ts does the same
 * for Node's agent): at most `keepalive` idle ones, each closed once idle for
 * `keepalive_timeout`, once it has served `keepalive_requests` requests, or once it is older
 * than `keepalive_time` (checked when a response ends, as nginx checks before caching the
 * connection). undici's own `Pool` cannot cap the idle connections, hence this small one; it
 * costs no more (a bare server proxying 100 B on each, alternated on one core: 30.6-31.0 µs
 * of CPU per request here against 30.6-30.8 on `Pool.dispatch`).
 *
 * The request's head is the gateway's, byte for byte: undici writes its own (`host:` in lower
 * case, a `connection:` line of its own choosing, some headers refused), so each connection's
 * socket is made here and the head undici writes for a request is swapped for the one the
 * exchange built (nginx's lines, in nginx's order and case) as it goes out. undici is told
 * only what changes its conduct: nothing, or `connection: close` (the connection's last).
 *
 * The only importer of `undici` (a maintained HTTP/1.1 client with llhttp: about 30 µs of CPU
 * less per proxied request than `http.request` on a keep-alive agent, measured).
 */
import net from 'node:net';
import { Client } from 'undici';
import type { KeepaliveLimits } from './upstream-agent';

/** undici's handler of one request (its "legacy" shape: raw header buffers, onData's false pauses). */
export interface LeanHandler {
  onConnect(abort: (err?: Error) => void): void;
  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean;
  onData(chunk: Buffer): boolean;
  onComplete(trailers: unknown): void;
  onError(err: Error): void;
  onRequestSent(): void;
  onUpgrade?(statusCode: number, headers: Buffer[] | string[] | null, socket: unknown): void;
}

/** What the pool needs to know of a call: whether its connection is up, and when it is. */
export interface LeanConnectListener {
  connecting(): void;
  connected(): void;
}

/** Where a peer is: a host and port, or a unix socket. */
export interface LeanAddress {
  readonly host: string;
  readonly port: number;
  readonly socketPath?: string;
}

/** The longest timer Node keeps (ms): "no keepalive_timeout" for a pool without one. */
const NEVER = 2 ** 31 - 1;

const CRLF2 = '\r\n\r\n';

/** One connection: its Client, what it served, and the head its next request goes out with. */
class Connection {
  requests = 0;
  readonly since = performance.now();
  /** Whether its socket is up (a new Client connects on its first request). */
  up = false;
  /** Closed, or failed: never used again. */
  dead = false;
  busy = false;
  /** The head of the request being written (taken at the first write). */
  head: string | null = null;
  /** Told when the connection comes up. */
  waiting: LeanConnectListener | null = null;
  readonly client: Client;

  constructor(address: LeanAddress, limits: KeepaliveLimits, onGone: (conn: Connection) => void) {
    const timeout = limits.timeout > 0 ? Math.min(limits.timeout, NEVER) : NEVER;
    this.client = new Client(`http://${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`, {
      pipelining: 1,
      // nginx's timeouts are the exchange's (its Deadline): undici's never fire first.
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: timeout,
      keepAliveMaxTimeout: timeout,
      keepAliveTimeoutThreshold: 0,
      connect: (_options, callback) => this.connect(address, callback as (err: Error | null, socket: net.Socket | null) => void),
    });
    this.client.on('disconnect', () => {
      this.dead = true;
      onGone(this);
    });
    this.client.on('connectionError', () => {
      this.dead = true;
      onGone(this);
    });
  }

  /** undici's connector: a socket of our own, whose first write of each request carries our head. */
  private connect(address: LeanAddress, callback: (err: Error | null, socket: net.Socket | null) => void): void {
    const socket = address.socketPath ? net.connect({ path: address.socketPath }) : net.connect({ host: address.host, port: address.port, noDelay: true });
    const write = socket.write;
    const swap = (chunk: unknown): unknown => {
      const head = this.head;
      if (head === null || typeof chunk !== 'string') return chunk;
      this.head = null;
      return head + chunk.slice(chunk.indexOf(CRLF2) + CRLF2.length);
    };
    socket.write = function (this: net.Socket, chunk: unknown, ...rest: unknown[]) {
      return (write as (...args: unknown[]) => boolean).call(this, swap(chunk), ...rest);
    } as typeof socket.write;
    const failed = (err: Error): void => {
      socket.off('connect', connected);
      callback(err, null);
    };
    const connected = (): void => {
      socket.off('error', failed);
      this.up = true;
      const waiting = this.waiting;
      this.waiting = null;
      waiting?.connected();
      callback(null, socket);
    };
    socket.once('error', failed);
    socket.once('connect', connected);
  }
}

/** The lean pool of one peer under nginx's keep-alive limits. */
export class LeanPool {
  /** Idle connections, the most recently used last (Node's agent is LIFO too). */
  private readonly idle: Connection[] = [];
  /** Connections serving a request now. */
  private busyCount = 0;
  /** Let go (the location or upstream is gone): a connection whose request ends now is closed, not kept. */
  private closed = false;

  constructor(
    private readonly address: LeanAddress,
    private readonly limits: KeepaliveLimits,
  ) {}

  /** Whether a request is being served (a pool in use is not evicted). */
  get busy(): boolean {
    return this.busyCount > 0;
  }

  /** How many connections are idle (tests). */
  get idleCount(): number {
    return this.idle.length;
  }

  /**
   * Sends one request: `head` is what goes on the wire (request line and header lines, ending
   * in an empty line; undici's own is swapped for it), then `body` if any; `last` says it is the connection's last (`Connection: close`). The
   * listener hears when the connection is up; `handler` hears the rest. Returns what takes the
   * request down (its connection with it).
   */
  dispatch(method: string, path: string, head: string, body: Buffer | null, last: boolean, listener: LeanConnectListener, handler: LeanHandler): () => void {
    let conn = this.idle.pop();
    while (conn && conn.dead) conn = this.idle.pop();
    conn ??= new Connection(this.address, this.limits, (gone) => this.gone(gone));
    conn.busy = true;
    conn.requests++;
    this.busyCount++;
    conn.head = head;
    const taken = conn;
    let over = false;
    const release = (reusable: boolean): void => {
      if (over) return;
      over = true;
      this.release(taken, reusable && !last);
    };
    if (conn.up) listener.connected();
    else {
      conn.waiting = listener;
      listener.connecting();
    }
    const wrapped: LeanHandler = {
      onConnect: (abort) => handler.onConnect(abort),
      onHeaders: (status, raw, resume, text) => handler.onHeaders(status, raw as Buffer[], resume, text),
      onData: (chunk) => handler.onData(chunk),
      onRequestSent: () => handler.onRequestSent(),
      onComplete: (trailers) => {
        release(true);
        handler.onComplete(trailers);
      },
      onError: (err) => {
        release(false);
        handler.onError(err);
      },
    };
    // undici's handler types know its new shape only; the legacy one is still what it calls.
    conn.client.dispatch({ method, path, body, headers: last ? ['connection', 'close'] : null }, wrapped as unknown as Parameters<Client['dispatch']>[1]);
    return () => {
      if (over) return;
      release(false);
    };
  }

  /** Closes every idle connection, and each busy one when its request ends (the pool is let go). */
  close(): void {
    this.closed = true;
    for (const conn of this.idle.splice(0)) conn.client.destroy().catch(() => {});
  }

  /** A request is over: its connection is kept idle if nginx's limits allow, else closed. */
  private release(conn: Connection, reusable: boolean): void {
    conn.busy = false;
    conn.waiting = null;
    conn.head = null;
    this.busyCount--;
    const { idle, requests, time } = this.limits;
    if (reusable && !conn.dead && !this.closed && conn.requests < requests && performance.now() - conn.since < time && this.idle.length < idle) {
      this.idle.push(conn);
      return;
    }
    conn.dead = true;
    conn.client.destroy().catch(() => {});
  }

  /** A connection closed (the upstream, the idle timeout) or failed to connect: idle, it is dropped. */
  private gone(conn: Connection): void {
    const at = this.idle.indexOf(conn);
    if (at >= 0) this.idle.splice(at, 1);
    if (!conn.busy) conn.client.destroy().catch(() => {});
  }
}
