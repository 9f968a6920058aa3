/**
 * A WebSocket client by hand over `net`, for protocol conformance tests: writes whatever
 * bytes a test makes (well-formed or not) and parses the server's unmasked frames.
 */
import net from 'node:net';

export const Opcode = { CONTINUATION: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;

/** The seed's handshake, from the 2014 browser (note `Upgrade: Websocket`). */
export const SEED_KEY = 'D0QLjvO4fnHcXaE0/gqn6A==';

/** The seed's request, line for line; `headers` replace or add lines (`null` removes one). */
export function seedRequest(headers: Record<string, string | null> = {}, method = 'GET'): string {
  const lines: Record<string, string | null> = {
    Origin: 'http://192.168.65.138',
    'Sec-WebSocket-Key': SEED_KEY,
    Connection: 'Upgrade',
    Upgrade: 'Websocket',
    'Sec-WebSocket-Version': '13',
    'User-Agent': 'Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko',
    Host: '192.168.65.138',
    DNT: '1',
    'Cache-Control': 'no-cache',
    ...headers,
  };
  const head = Object.entries(lines).filter(([, v]) => v !== null).map(([k, v]) => `${k}: ${v}`);
  return [`${method} http://192.168.65.138/s HTTP/1.1`, ...head, '', ''].join('\r\n');
}

/** Options of one hand-made frame. */
export interface FrameOptions {
  fin?: boolean;
  /** Clients must mask; `false` makes a protocol error. */
  mask?: boolean;
  /** The three RSV bits as a number 0-7. */
  rsv?: number;
}

/** Encodes one client frame (masked unless told otherwise). */
export function encodeFrame(opcode: number, payload: Buffer | string = '', opts: FrameOptions = {}): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const { fin = true, mask = true, rsv = 0 } = opts;
  const len = data.length;
  const lenBytes = len < 126 ? 0 : len < 65536 ? 2 : 8;
  const header = Buffer.alloc(2 + lenBytes + (mask ? 4 : 0));
  header[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  header[1] = (mask ? 0x80 : 0) | (lenBytes === 0 ? len : lenBytes === 2 ? 126 : 127);
  if (lenBytes === 2) header.writeUInt16BE(len, 2);
  if (lenBytes === 8) header.writeBigUInt64BE(BigInt(len), 2);
  if (!mask) return Buffer.concat([header, data]);
  const key = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  key.copy(header, 2 + lenBytes);
  const masked = Buffer.from(data.map((byte, i) => byte ^ key[i % 4]));
  return Buffer.concat([header, masked]);
}

/** A close frame's payload: the status code, then the reason. */
export function closePayload(code: number, reason: Buffer | string = ''): Buffer {
  const code2 = Buffer.alloc(2);
  code2.writeUInt16BE(code);
  return Buffer.concat([code2, typeof reason === 'string' ? Buffer.from(reason) : reason]);
}

/** One frame from the server. */
export interface ServerFrame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
  /** RSV1 set: the payload is compressed (permessage-deflate); absent when clear. */
  compressed?: true;
}

/** A raw connection: the response head, then frames, then the server's FIN. */
export class RawClient {
  readonly socket: net.Socket;
  /** Resolves when the server has ended its side (FIN) or the socket closed. */
  readonly ended: Promise<void>;
  /** Resolves when the socket has fully closed. */
  readonly closed: Promise<void>;
  private buffer = Buffer.alloc(0);
  private head: string | null = null;
  private headWaiter: ((head: string) => void) | null = null;
  private frameWaiter: { resolve(f: ServerFrame): void; reject(e: Error): void } | null = null;
  private isEnded = false;

  private constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('error', () => {}); // a reset is a possible outcome; 'close' follows
    this.socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.pump();
    });
    this.ended = new Promise((resolve) => {
      const end = (): void => {
        this.isEnded = true;
        this.pump();
        this.frameWaiter?.reject(new Error('connection ended before a frame'));
        this.frameWaiter = null;
        resolve();
      };
      this.socket.once('end', end);
      this.socket.once('close', end);
    });
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
  }

  /** Connects and writes `request`. */
  static open(port: number, request: string): RawClient {
    const client = new RawClient(port);
    client.socket.write(request);
    return client;
  }

  /** The response head (status line and headers), without the blank line. */
  responseHead(): Promise<string> {
    if (this.head !== null) return Promise.resolve(this.head);
    return new Promise((resolve) => (this.headWaiter = resolve));
  }

  /** Everything the server wrote, once it has closed the connection. */
  async readAll(): Promise<string> {
    const chunks: Buffer[] = [];
    this.socket.removeAllListeners('data');
    this.socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    await this.ended;
    return Buffer.concat([this.buffer, ...chunks]).toString();
  }

  /** The next frame from the server. */
  nextFrame(): Promise<ServerFrame> {
    return new Promise((resolve, reject) => {
      this.frameWaiter = { resolve, reject };
      this.pump();
      if (this.frameWaiter && this.isEnded) reject(new Error('connection ended before a frame'));
    });
  }

  send(...frames: Buffer[]): void {
    this.socket.write(Buffer.concat(frames));
  }

  /** Ends our side and waits for the socket to close. */
  async finish(): Promise<void> {
    this.socket.end();
    await this.closed;
  }

  private pump(): void {
    if (this.head === null) {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.head = this.buffer.subarray(0, end).toString();
      this.buffer = this.buffer.subarray(end + 4);
      this.headWaiter?.(this.head);
    }
    if (!this.frameWaiter) return;
    const parsed = parseFrame(this.buffer);
    if (!parsed) return;
    this.buffer = this.buffer.subarray(parsed.size);
    const waiter = this.frameWaiter;
    this.frameWaiter = null;
    waiter.resolve(parsed.frame);
  }
}

/** Parses one unmasked server frame from the front of `buf`, or null when incomplete. */
export function parseFrame(buf: Buffer): { frame: ServerFrame; size: number } | null {
  if (buf.length < 2) return null;
  let len = buf[1] & 0x7f;
  let offset = 2;
  if (len === 126) {
    if (buf.length < 4) return null;
    len = buf.readUInt16BE(2);
    offset = 4;
  } else if (len === 127) {
    if (buf.length < 10) return null;
    len = Number(buf.readBigUInt64BE(2));
    offset = 10;
  }
  if (buf.length < offset + len) return null;
  const frame: ServerFrame = { fin: (buf[0] & 0x80) !== 0, opcode: buf[0] & 0x0f, payload: Buffer.from(buf.subarray(offset, offset + len)) };
  if (buf[0] & 0x40) frame.compressed = true;
  return { frame, size: offset + len };
}
