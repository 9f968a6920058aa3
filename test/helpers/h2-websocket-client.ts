/**
 * A WebSocket client over an HTTP/2 stream (RFC 8441's extended CONNECT), by hand, with Node's
 * `http2` client: the CONNECT's response, then masked frames written as a test makes them
 * (well-formed or not) and the server's frames parsed, then the stream's end or reset.
 */
import http2 from 'node:http2';
import { parseFrame, type ServerFrame } from './ws-raw-client';

/** Connects an HTTP/2 session (TLS with any certificate, or cleartext h2c) and waits for the server's SETTINGS. */
export function connectH2(port: number, host = '127.0.0.1', scheme: 'https' | 'http' = 'https'): Promise<{ session: http2.ClientHttp2Session; settings: http2.Settings }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`${scheme}://${host}:${port}`, { rejectUnauthorized: false });
    session.once('error', reject);
    session.once('remoteSettings', (settings) => {
      session.off('error', reject);
      session.on('error', () => {});
      resolve({ session, settings });
    });
  });
}

/** The extended CONNECT's fields for `path`; `extra` adds or replaces some (`null` removes one). */
export function extendedConnect(path: string, extra: Record<string, string | null> = {}): http2.OutgoingHttpHeaders {
  const fields: Record<string, string | null> = {
    ':method': 'CONNECT',
    ':protocol': 'websocket',
    ':scheme': 'https',
    ':path': path,
    ':authority': 'localhost',
    'sec-websocket-version': '13',
    ...extra,
  };
  return Object.fromEntries(Object.entries(fields).filter((entry): entry is [string, string] => entry[1] !== null));
}

/** One WebSocket on one stream. */
export class H2WsClient {
  /** The response's fields (`:status` among them). */
  readonly response: Promise<http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader>;
  /** Resolves with the stream's RST_STREAM code (0 when it closed cleanly) once it has closed. */
  readonly closed: Promise<number>;
  /** Resolves once the server has ended its side (END_STREAM) or the stream closed. */
  readonly ended: Promise<void>;
  private buffer = Buffer.alloc(0);
  private waiter: { resolve(f: ServerFrame): void; reject(e: Error): void } | null = null;
  private isEnded = false;

  constructor(readonly stream: http2.ClientHttp2Stream) {
    stream.on('error', () => {}); // a reset is a possible outcome; 'close' follows
    this.response = new Promise((resolve, reject) => {
      stream.once('response', resolve);
      stream.once('close', () => reject(new Error(`stream closed before a response (RST ${stream.rstCode})`)));
    });
    this.response.catch(() => {});
    stream.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.pump();
    });
    this.ended = new Promise((resolve) => {
      const end = (): void => {
        this.isEnded = true;
        this.pump();
        this.waiter?.reject(new Error('stream ended before a frame'));
        this.waiter = null;
        resolve();
      };
      stream.once('end', end);
      stream.once('close', end);
    });
    this.closed = new Promise((resolve) => stream.once('close', () => resolve(stream.rstCode ?? 0)));
  }

  /** Opens an extended CONNECT for `path` on `session`. */
  static open(session: http2.ClientHttp2Session, path: string, extra: Record<string, string | null> = {}): H2WsClient {
    return new H2WsClient(session.request(extendedConnect(path, extra), { endStream: false }));
  }

  /** The next frame from the server. */
  nextFrame(): Promise<ServerFrame> {
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.pump();
      if (this.waiter && this.isEnded) reject(new Error('stream ended before a frame'));
    });
  }

  send(...frames: Buffer[]): void {
    this.stream.write(Buffer.concat(frames));
  }

  /** The body as text once the server has ended its side (a refusal's page). */
  async text(): Promise<string> {
    await this.ended;
    return this.buffer.toString();
  }

  /** Ends our side (END_STREAM) and waits for the stream to close. */
  async finish(): Promise<number> {
    this.stream.end();
    return this.closed;
  }

  private pump(): void {
    if (!this.waiter) return;
    const parsed = parseFrame(this.buffer);
    if (!parsed) return;
    this.buffer = this.buffer.subarray(parsed.size);
    const waiter = this.waiter;
    this.waiter = null;
    waiter.resolve(parsed.frame);
  }
}
