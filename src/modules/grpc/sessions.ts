/**
 * The HTTP/2 client sessions to gRPC peers, on Node's `node:http2`: one session per peer
 * (address, TLS or not, keepalive or not) in a worker, made when first needed and shared by
 * the streams of every request to that peer, as gRPC clients multiplex (nginx opens one
 * connection per request, or keeps some with `keepalive`). A session is dropped from the pool
 * when it closes, fails or gets a GOAWAY (streams open on it finish), and closed after
 * `IDLE_MS` without a stream. The connection is the module's own socket, so that
 * `grpc_connect_timeout` covers the TCP (and TLS) handshake and `grpc_socket_keepalive` sets
 * SO_KEEPALIVE; `grpcs://` offers ALPN `h2` and does not check the peer's certificate (nginx's
 * `grpc_ssl_verify off`).
 */
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { GrpcPeer } from './target';

/** How long a session without streams is kept (nginx's upstream `keepalive_timeout` default). */
export const IDLE_MS = 60_000;

/** How to connect to one peer. */
export interface ConnectOptions {
  readonly tls: boolean;
  readonly keepalive: boolean;
  /** `grpc_connect_timeout`, ms. */
  readonly timeout: number;
}

/** A connection attempt that took longer than `grpc_connect_timeout`. */
export class ConnectTimeout extends Error {
  readonly code = 'ETIMEDOUT';
  constructor() {
    super('upstream timed out');
  }
}

interface PooledSession {
  readonly session: http2.ClientHttp2Session;
  /** Settles once the session is connected (rejects with the connection's error). */
  readonly ready: Promise<http2.ClientHttp2Session>;
  streams: number;
  idle: NodeJS.Timeout | null;
}

/** A worker's sessions to its gRPC peers. */
export class GrpcSessions {
  private readonly pool = new Map<string, PooledSession>();
  private closed = false;

  /**
   * A connected session to `peer`: the pooled one, or a new one (its connection bounded by
   * `options.timeout`). Rejects with the connection's error (ECONNREFUSED...) or a ConnectTimeout.
   */
  session(peer: GrpcPeer, options: ConnectOptions): Promise<http2.ClientHttp2Session> {
    if (this.closed) return Promise.reject(new Error('the gRPC sessions are closed'));
    const key = `${options.tls ? 's' : ''}${options.keepalive ? 'k' : ''}|${peer.name}`;
    let pooled = this.pool.get(key);
    if (!pooled || pooled.session.closed || pooled.session.destroyed) {
      pooled = this.connect(key, peer, options);
      this.pool.set(key, pooled);
    }
    return pooled.ready;
  }

  /** A stream began on `session` (its idle timer stops) and ended (`done`, once). */
  track(session: http2.ClientHttp2Session): () => void {
    const pooled = [...this.pool.values()].find((p) => p.session === session);
    if (!pooled) return () => {};
    pooled.streams++;
    if (pooled.idle) clearTimeout(pooled.idle);
    pooled.idle = null;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      pooled.streams--;
      if (pooled.streams === 0) this.armIdle(pooled);
    };
  }

  /** Closes every session (the worker stops or reloads): open streams are cut. */
  close(): void {
    this.closed = true;
    for (const pooled of this.pool.values()) {
      if (pooled.idle) clearTimeout(pooled.idle);
      pooled.session.destroy();
    }
    this.pool.clear();
  }

  private connect(key: string, peer: GrpcPeer, options: ConnectOptions): PooledSession {
    const socket = openSocket(peer, options);
    const authority = options.tls ? `https://${hostOf(peer)}` : `http://${hostOf(peer)}`;
    const session = http2.connect(authority, {
      createConnection: () => socket,
      // No push (as nginx's connection start); the windows are Node's (64 KiB a stream): a peer sends no more than is taken.
      settings: { enablePush: false },
    });
    const ready = new Promise<http2.ClientHttp2Session>((resolve, reject) => {
      const timer = setTimeout(() => {
        socket.destroy();
        session.destroy();
        reject(new ConnectTimeout());
      }, options.timeout);
      const connected = () => {
        clearTimeout(timer);
        session.off('error', failed);
        resolve(session);
      };
      const failed = (err: Error) => {
        clearTimeout(timer);
        reject(err);
      };
      session.once('connect', connected);
      session.once('error', failed);
      session.once('close', () => failed(new Error('upstream prematurely closed connection')));
    });
    // Rejections are the callers'; this one is only watched.
    ready.catch(() => {});
    const pooled: PooledSession = { session, ready, streams: 0, idle: null };
    const drop = () => {
      if (pooled.idle) clearTimeout(pooled.idle);
      pooled.idle = null;
      if (this.pool.get(key) === pooled) this.pool.delete(key);
    };
    session.on('error', drop);
    session.once('close', drop);
    session.once('goaway', () => {
      drop();
      // Streams already open finish; the session closes after them.
      if (!session.closed) session.close();
    });
    session.on('connect', () => {
      if (pooled.streams === 0) this.armIdle(pooled);
      // The socket should not keep a stopping worker alive by itself.
      socket.unref();
    });
    return pooled;
  }

  private armIdle(pooled: PooledSession): void {
    if (pooled.idle) clearTimeout(pooled.idle);
    pooled.idle = setTimeout(() => {
      pooled.idle = null;
      if (pooled.streams === 0) pooled.session.close();
    }, IDLE_MS);
    pooled.idle.unref();
  }
}

/** The peer's host as a URL authority names it. */
function hostOf(peer: GrpcPeer): string {
  if (peer.socketPath !== null) return 'localhost';
  return `${net.isIPv6(peer.host) ? `[${peer.host}]` : peer.host}:${peer.port}`;
}

/** The TCP (or TLS, ALPN h2) connection to a peer, SO_KEEPALIVE set when asked. */
function openSocket(peer: GrpcPeer, options: ConnectOptions): net.Socket {
  const where = peer.socketPath !== null ? { path: peer.socketPath } : { host: peer.host, port: peer.port };
  const socket = options.tls
    ? tls.connect({ ...where, ALPNProtocols: ['h2'], rejectUnauthorized: false, ...(peer.socketPath === null && net.isIP(peer.host) === 0 ? { servername: peer.host } : {}) })
    : net.connect(where);
  if (options.keepalive) socket.setKeepAlive(true);
  socket.on('error', () => {});
  return socket;
}
