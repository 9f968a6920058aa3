/**
 * HTTP/2 as raw frames, for tests that send what no well-behaved client sends (RFC 9113, HPACK
 * RFC 7541): a frame writer, a header block encoder (literal fields, raw strings, so any name or
 * value goes through as it is), and a connection that reads the server's frames, acknowledges
 * its SETTINGS, and tells what became of a stream: its response status (the first field of the
 * response's header block, decoded as far as a status needs), a RST_STREAM code, or the GOAWAY
 * that closed the connection.
 */
import net from 'node:net';

/** Frame types (RFC 9113 6). */
export const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
/** Frame flags. */
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;
/** Error codes (RFC 9113 7). */
export const ERROR = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, FLOW_CONTROL_ERROR: 3, SETTINGS_TIMEOUT: 4, STREAM_CLOSED: 5, FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7, CANCEL: 8, COMPRESSION_ERROR: 9, ENHANCE_YOUR_CALM: 0xb } as const;
/** SETTINGS identifiers. */
export const SETTING = { HEADER_TABLE_SIZE: 1, ENABLE_PUSH: 2, MAX_CONCURRENT_STREAMS: 3, INITIAL_WINDOW_SIZE: 4, MAX_FRAME_SIZE: 5, MAX_HEADER_LIST_SIZE: 6, ENABLE_CONNECT_PROTOCOL: 8 } as const;

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** One frame: the 9-byte header and its payload. */
export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK integer with an `n`-bit prefix, the first byte's high bits `mask`. */
export function hpackInt(value: number, n: number, mask = 0): Buffer {
  const max = (1 << n) - 1;
  if (value < max) return Buffer.from([mask | value]);
  const bytes = [mask | max];
  value -= max;
  while (value >= 128) {
    bytes.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  bytes.push(value);
  return Buffer.from(bytes);
}

/** An HPACK string literal, not Huffman-coded. */
function hpackString(text: string | Buffer): Buffer {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  return Buffer.concat([hpackInt(bytes.length, 7), bytes]);
}

/** A literal field without indexing, its name a literal too: any bytes go as they are. */
export function literal(name: string, value: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x00]), hpackString(name), hpackString(value)]);
}

/** A literal field with incremental indexing: the decoder adds it to its dynamic table. */
export function literalIndexed(name: string, value: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x40]), hpackString(name), hpackString(value)]);
}

/** An indexed field: entry `index` of the static (1-61) or dynamic (62-) table. */
export function indexed(index: number): Buffer {
  return hpackInt(index, 7, 0x80);
}

/** A header block of literal fields, in the given order (pseudo-headers are fields like any). */
export function headerBlock(fields: readonly (readonly [string, string | Buffer])[]): Buffer {
  return Buffer.concat(fields.map(([name, value]) => literal(name, value)));
}

/** The pseudo-headers of a GET of `path`, then `extra` fields. */
export function getFields(path = '/', extra: readonly [string, string][] = [], authority = 'localhost'): [string, string][] {
  return [[':method', 'GET'], [':scheme', 'http'], [':authority', authority], [':path', path], ...extra];
}

export const settings = (entries: readonly (readonly [number, number])[] = []): Buffer => {
  const payload = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(FRAME.SETTINGS, 0, 0, payload);
};
export const settingsAck = (): Buffer => frame(FRAME.SETTINGS, FLAG.ACK, 0);
export const headers = (streamId: number, block: Buffer, { endStream = true, endHeaders = true } = {}): Buffer =>
  frame(FRAME.HEADERS, (endStream ? FLAG.END_STREAM : 0) | (endHeaders ? FLAG.END_HEADERS : 0), streamId, block);
/** A header block as HEADERS then CONTINUATION frames of at most `maxFrame` bytes (16384, the default SETTINGS_MAX_FRAME_SIZE). */
export function headerFrames(streamId: number, block: Buffer, { endStream = true, maxFrame = 16384 } = {}): Buffer[] {
  const frames: Buffer[] = [];
  for (let at = 0; at === 0 || at < block.length; at += maxFrame) {
    const part = block.subarray(at, at + maxFrame);
    const last = at + maxFrame >= block.length;
    frames.push(at === 0 ? headers(streamId, part, { endStream, endHeaders: last }) : continuation(streamId, part, last));
  }
  return frames;
}
export const continuation = (streamId: number, block: Buffer, endHeaders = false): Buffer => frame(FRAME.CONTINUATION, endHeaders ? FLAG.END_HEADERS : 0, streamId, block);
export const data = (streamId: number, body: Buffer | string, endStream = true): Buffer => frame(FRAME.DATA, endStream ? FLAG.END_STREAM : 0, streamId, Buffer.from(body));
export const rstStream = (streamId: number, code: number = ERROR.CANCEL): Buffer => frame(FRAME.RST_STREAM, 0, streamId, u32(code));
export const ping = (payload = Buffer.alloc(8), ack = false): Buffer => frame(FRAME.PING, ack ? FLAG.ACK : 0, 0, payload);
export const windowUpdate = (streamId: number, increment: number): Buffer => frame(FRAME.WINDOW_UPDATE, 0, streamId, u32(increment));
export const priority = (streamId: number, dependsOn = 0, weight = 15): Buffer => frame(FRAME.PRIORITY, 0, streamId, Buffer.concat([u32(dependsOn), Buffer.from([weight])]));

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0);
  return b;
}

/** A frame read from the server. */
export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/** The static table's `:status` entries (RFC 7541 appendix A). */
const STATIC_STATUS: Record<number, number> = { 8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500 };
/** Huffman codes of the ten digits (RFC 7541 appendix B): a status is only digits. */
const DIGIT_CODES: readonly [number, number][] = [
  [0x0, 5], [0x1, 5], [0x2, 5], [0x19, 6], [0x1a, 6], [0x1b, 6], [0x1c, 6], [0x1d, 6], [0x1e, 6], [0x1f, 6],
];

function huffmanDigits(bytes: Buffer): string {
  let bits = '';
  for (const b of bytes) bits += b.toString(2).padStart(8, '0');
  let out = '';
  let at = 0;
  for (;;) {
    const digit = DIGIT_CODES.findIndex(([code, len]) => at + len <= bits.length && parseInt(bits.slice(at, at + len), 2) === code);
    if (digit < 0) break;
    out += String(digit);
    at += DIGIT_CODES[digit][1];
  }
  return out;
}

/**
 * The `:status` of a response header block, the block's first field (servers send it first):
 * an indexed static entry, or a literal with the `:status` name's index and a raw or
 * Huffman-coded value. Null when the block starts otherwise.
 */
export function statusOf(block: Buffer): number | null {
  let at = 0;
  // Dynamic table size updates may come first.
  while (at < block.length && (block[at] & 0xe0) === 0x20) at++;
  const first = block[at];
  if (first & 0x80) return STATIC_STATUS[first & 0x7f] ?? null;
  const nameIndex = first & ((first & 0x40) ? 0x3f : 0x0f);
  if (nameIndex < 8 || nameIndex > 14) return null;
  const huffman = (block[at + 1] & 0x80) !== 0;
  const length = block[at + 1] & 0x7f;
  const value = block.subarray(at + 2, at + 2 + length);
  return Number(huffman ? huffmanDigits(value) : value.toString('latin1'));
}

/** What became of a stream. */
export type StreamOutcome =
  | { readonly status: number }
  | { readonly reset: number }
  | { readonly goaway: number }
  | { readonly closed: true };

/** A raw HTTP/2 client connection. */
export class RawH2 {
  /** Connections not closed yet: what a test that failed midway leaves is closed by `closeAll`. */
  private static readonly open = new Set<RawH2>();
  readonly frames: Frame[] = [];
  private buffer: Buffer = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  closed = false;
  /** The connection's end: resolves once the server closed it. */
  readonly ended: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('error', () => undefined);
    RawH2.open.add(this);
    this.ended = new Promise((resolve) =>
      socket.once('close', () => {
        RawH2.open.delete(this);
        this.closed = true;
        this.wake();
        resolve();
      }),
    );
  }

  /** Connects, sends the preface and `initial` SETTINGS, acknowledges the server's as they come. */
  static connect(port: number, initial: readonly (readonly [number, number])[] = [], host = '127.0.0.1'): Promise<RawH2> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host }, () => {
        socket.off('error', reject);
        const conn = new RawH2(socket);
        socket.write(Buffer.concat([PREFACE, settings(initial)]));
        resolve(conn);
      });
      socket.once('error', reject);
    });
  }

  /** Writes frames; false once the socket is gone. */
  send(...frames: Buffer[]): boolean {
    if (this.socket.destroyed || !this.socket.writable) return false;
    return this.socket.write(Buffer.concat(frames));
  }

  private read(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    while (this.buffer.length >= 9) {
      const length = this.buffer.readUIntBE(0, 3);
      if (this.buffer.length < 9 + length) break;
      const f: Frame = { type: this.buffer[3], flags: this.buffer[4], streamId: this.buffer.readUInt32BE(5) & 0x7fffffff, payload: this.buffer.subarray(9, 9 + length) };
      this.buffer = this.buffer.subarray(9 + length);
      if (f.type === FRAME.SETTINGS && !(f.flags & FLAG.ACK)) this.send(settingsAck());
      this.frames.push(f);
    }
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Waits until `check` returns something, the connection closed, or `ms` passed (then null). */
  async until<T>(check: () => T | null | undefined, ms = 5000): Promise<T | null> {
    const deadline = performance.now() + ms;
    for (;;) {
      const found = check();
      if (found !== null && found !== undefined) return found;
      const left = deadline - performance.now();
      if (this.closed || left <= 0) return check() ?? null;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The GOAWAY the server sent, as its last stream and code. */
  goaway(): { lastStreamId: number; code: number } | null {
    const f = this.frames.find((x) => x.type === FRAME.GOAWAY);
    return f ? { lastStreamId: f.payload.readUInt32BE(0) & 0x7fffffff, code: f.payload.readUInt32BE(4) } : null;
  }

  /** Frames of one stream. */
  ofStream(streamId: number): Frame[] {
    return this.frames.filter((f) => f.streamId === streamId);
  }

  /** The response body bytes received on a stream so far. */
  body(streamId: number): Buffer {
    return Buffer.concat(this.ofStream(streamId).filter((f) => f.type === FRAME.DATA).map((f) => f.payload));
  }

  /** Whether the stream's response ended (END_STREAM) or the stream was reset. */
  streamEnded(streamId: number): boolean {
    return this.ofStream(streamId).some((f) => ((f.type === FRAME.DATA || f.type === FRAME.HEADERS) && f.flags & FLAG.END_STREAM) || f.type === FRAME.RST_STREAM);
  }

  /**
   * What became of a stream, waiting up to `ms`: its response's status, its reset, or the GOAWAY
   * (with an error) or close that ended the connection first. Null if nothing within `ms`.
   */
  outcome(streamId: number, ms = 5000): Promise<StreamOutcome | null> {
    return this.until<StreamOutcome>(() => {
      for (const f of this.ofStream(streamId)) {
        if (f.type === FRAME.HEADERS) return { status: statusOf(f.payload.subarray(headerBlockStart(f))) ?? -1 };
        if (f.type === FRAME.RST_STREAM) return { reset: f.payload.readUInt32BE(0) };
      }
      const away = this.goaway();
      if (away && (away.code !== ERROR.NO_ERROR || away.lastStreamId < streamId)) return { goaway: away.code };
      if (this.closed) return { closed: true };
      return null;
    }, ms);
  }

  close(): void {
    this.socket.destroy();
  }

  /** Closes every connection still open. */
  static closeAll(): void {
    for (const conn of RawH2.open) conn.close();
  }
}

/** Where a HEADERS frame's block starts (after its padding length and priority fields). */
function headerBlockStart(f: Frame): number {
  return (f.flags & FLAG.PADDED ? 1 : 0) + (f.flags & FLAG.PRIORITY ? 5 : 0);
}
