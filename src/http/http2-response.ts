/**
 * The response every module writes to, on an HTTP/2 stream, made on Node's core API
 * (`stream.respond`, `stream.write`, `stream.end`) instead of its compatibility class
 * (Http2ServerResponse: 5 listeners on each stream, trailers waited for on every response, its
 * headers copied again to be sent; about 5 µs of a 1 KiB static response on this machine).
 * It keeps the surface HTTP/1.1's ServerResponse gives the modules and the filters
 * (`setHeader`, `writeHead`, `write`, `end`, `headersSent`, 'finish' and 'close'...), and its
 * header table has the form and the key of Node's own (`kOutHeaders`: lowercased name ->
 * [name, value]), so that headers checked once (src/http/header-table.ts: the Server line, a
 * cached file's prepared values) go in without a per-call check, as on HTTP/1.1.
 *
 * What HTTP/2 cannot carry is dropped instead of thrown: connection-specific fields
 * (`Connection`, `Keep-Alive`, `Transfer-Encoding`, `Upgrade`, `Proxy-Connection`, a `TE`
 * other than `trailers`), as nginx's HTTP/2 header filter drops them; there is no reason
 * phrase. Events as Node's class gives them: 'finish' then 'close' when the stream closes,
 * however it closes, 'drain' when the stream drains after a write that filled it.
 */
import http2 from 'node:http2';
import { validateHeaderName, validateHeaderValue, type OutgoingHttpHeader, type OutgoingHttpHeaders } from 'node:http';
import { Stream } from 'node:stream';
import { OUT_HEADERS } from './header-table';

/** Response headers HTTP/2 forbids (RFC 9113 8.2.2); `te` is allowed only as `trailers`. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** Whether a response field is one HTTP/2 cannot carry (`lower`: the name in lower case). */
export function forbiddenField(lower: string, value?: unknown): boolean {
  return CONNECTION_SPECIFIC.has(lower) || (lower === 'te' && String(value).toLowerCase() !== 'trailers');
}

/** The header table: lowercased name -> [name as set, value], as Node's OutgoingMessage keeps it. */
type Table = Record<string, [string, OutgoingHttpHeader]>;

/** Where the table is kept: Node's own symbol where it was found, else one of ours (then setHeader is always used). */
const TABLE: symbol = OUT_HEADERS ?? Symbol('gateway.http2Headers');
/** The response of a stream, for the stream's shared listeners. */
const RESPONSE = Symbol('gateway.http2Response');

/** The response as its header table is kept on it. */
type Tabled = Record<symbol, Table | null>;

type StreamWithResponse = http2.ServerHttp2Stream & { [RESPONSE]?: Http2Response };

/** An error with Node's code, as its own classes throw them. */
function codedError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

function onStreamDrain(this: StreamWithResponse): void {
  const res = this[RESPONSE];
  if (res === undefined) return;
  res.drainArmed = false;
  res.emit('drain');
}

function onWantTrailers(this: StreamWithResponse): void {
  const res = this[RESPONSE];
  this.sendTrailers(res?.trailers ?? {});
}

/** An HTTP/2 response on Node's core stream API, with ServerResponse's surface. */
export class Http2Response extends Stream {
  readonly stream: http2.ServerHttp2Stream;
  /** The request answered (its `socket` is the stream's stand-in for a connection). */
  private readonly answering: { readonly socket: object };
  /** The status the header goes out with. */
  statusCode = 200;
  /** Whether Node adds a Date field (it does unless told not to). */
  sendDate = true;
  /** HTTP/1.1's connection reuse flag, set by modules that would close the connection: a stream has none. */
  shouldKeepAlive = true;
  /** The body bytes handed to the stream (`$body_bytes_sent`). */
  bodyBytes = 0;
  /** Trailers to send with the end of the body (`addTrailers`), or null. */
  trailers: OutgoingHttpHeaders | null = null;
  readonly writable = true;
  /** A 'drain' listener on the stream is armed (a write filled it). */
  drainArmed = false;
  private ending = false;
  private over = false;
  private destroyedHere = false;
  /** What the header's fields weighed, once sent. */
  private sentHeaderBytes = -1;
  /** Whether the client said it takes trailers (`TE: trailers`: gRPC's clients do). */
  private readonly takesTrailers: boolean;

  /**
   * The response of `stream`, whose request is `req`; `takesTrailers` where the client said so.
   * Whoever listens to the stream's 'close' calls `closeNow` (src/server/http2-sessions.ts).
   */
  constructor(stream: http2.ServerHttp2Stream, req: { readonly socket: object }, takesTrailers: boolean) {
    super();
    this.stream = stream;
    this.answering = req;
    (this as unknown as Tabled)[TABLE] = null;
    this.takesTrailers = takesTrailers;
    (stream as StreamWithResponse)[RESPONSE] = this;
  }

  /** Ends the response's life once its stream has closed (answered, reset, or its session gone): 'finish', then 'close', once. */
  closeNow(): void {
    if (this.over) return;
    this.over = true;
    const stream = this.stream as StreamWithResponse;
    stream[RESPONSE] = undefined;
    this.emit('finish');
    this.emit('close');
  }

  /**
   * Whether the response is over unfinished or gone: destroyed here, or its stream destroyed or
   * closed. As HTTP/1.1's ServerResponse says it once its socket closed: a handler that comes
   * after the stream closed (a file opened meanwhile) sees it, instead of waiting for a 'close'
   * already emitted.
   */
  get destroyed(): boolean {
    return this.over || this.destroyedHere || this.stream.destroyed;
  }

  get headersSent(): boolean {
    return this.stream.headersSent;
  }

  /** Node's ServerResponse keeps its header text here; this class says only whether it went. */
  get _header(): boolean {
    return this.stream.headersSent;
  }

  get writableEnded(): boolean {
    return this.ending;
  }

  get finished(): boolean {
    return this.ending;
  }

  /** Finished only when the body went out whole (a stream the client reset is not). */
  get writableFinished(): boolean {
    return this.stream.writableFinished && !this.stream.aborted;
  }

  get writableLength(): number {
    return this.stream.writableLength;
  }

  get writableHighWaterMark(): number {
    return this.stream.writableHighWaterMark;
  }

  get writableCorked(): number {
    return this.stream.writableCorked;
  }

  /** HTTP/2 has no reason phrase: read as empty, set to nothing. */
  get statusMessage(): string {
    return '';
  }

  set statusMessage(_phrase: string) {
    /* no reason phrase on HTTP/2 */
  }

  /** The stream's stand-in for a connection (the request's), until the stream closes. */
  get socket(): unknown {
    if (this.over) return undefined;
    return this.answering.socket;
  }

  get connection(): unknown {
    return this.socket;
  }

  /** The header table, or null while no header is set. */
  private get fields(): Table | null {
    return (this as unknown as Tabled)[TABLE];
  }

  /** The header table, made when the first header is set. */
  private table(): Table {
    return ((this as unknown as Tabled)[TABLE] ??= Object.create(null) as Table);
  }

  private assertNotSent(): void {
    if (this.stream.headersSent) throw codedError('ERR_HTTP2_HEADERS_SENT', 'Response has already been initiated.');
  }

  setHeader(name: string, value: OutgoingHttpHeader | readonly string[]): this {
    this.assertNotSent();
    validateHeaderName(name);
    validateHeaderValue(name, value as string);
    const key = name.toLowerCase();
    if (!forbiddenField(key, value)) this.table()[key] = [name, value as OutgoingHttpHeader];
    return this;
  }

  appendHeader(name: string, value: string | readonly string[]): this {
    this.assertNotSent();
    validateHeaderName(name);
    validateHeaderValue(name, value as string);
    const key = name.toLowerCase();
    if (forbiddenField(key, value)) return this;
    const table = this.table();
    const earlier = table[key];
    if (earlier === undefined) table[key] = [name, (Array.isArray(value) ? [...value] : value) as OutgoingHttpHeader];
    else {
      const before = Array.isArray(earlier[1]) ? earlier[1] : [String(earlier[1])];
      table[key] = [earlier[0], before.concat(value as string | string[])];
    }
    return this;
  }

  getHeader(name: string): OutgoingHttpHeader | undefined {
    return this.fields?.[name.toLowerCase()]?.[1];
  }

  getHeaders(): OutgoingHttpHeaders {
    const out: OutgoingHttpHeaders = Object.create(null);
    const table = this.fields;
    if (table) for (const key in table) out[key] = table[key][1];
    return out;
  }

  getHeaderNames(): string[] {
    const table = this.fields;
    return table ? Object.keys(table) : [];
  }

  hasHeader(name: string): boolean {
    const table = this.fields;
    return table !== null && table[name.toLowerCase()] !== undefined;
  }

  removeHeader(name: string): void {
    this.assertNotSent();
    const table = this.fields;
    if (table) delete table[name.toLowerCase()];
  }

  /** Trailers sent after the body (gRPC's status), where the client takes them. */
  addTrailers(headers: OutgoingHttpHeaders | readonly [string, string][]): void {
    const trailers = (this.trailers ??= Object.create(null) as OutgoingHttpHeaders);
    const entries = Array.isArray(headers) ? headers : Object.entries(headers);
    for (const [name, value] of entries) {
      if (value === undefined) continue;
      validateHeaderName(name);
      trailers[name.trim().toLowerCase()] = value;
    }
  }

  setTrailer(name: string, value: OutgoingHttpHeader): void {
    this.addTrailers({ [name]: value });
  }

  writeHead(statusCode: number, ...rest: unknown[]): this {
    if (this.over || this.stream.destroyed || this.stream.closed) return this;
    this.assertNotSent();
    if (typeof rest[0] === 'string') rest.shift();
    const headers = rest[0] as OutgoingHttpHeaders | readonly unknown[] | undefined;
    if (headers !== undefined && headers !== null) this.mergeHeaders(headers);
    this.statusCode = statusCode;
    this.send(this.ending);
    return this;
  }

  /** `writeHead`'s own headers: an object replaces fields of its names, a list adds its lines. */
  private mergeHeaders(headers: OutgoingHttpHeaders | readonly unknown[]): void {
    if (!Array.isArray(headers)) {
      for (const name of Object.keys(headers)) {
        const value = (headers as OutgoingHttpHeaders)[name];
        if (value !== undefined) this.setHeader(name, value);
      }
      return;
    }
    const flat = Array.isArray(headers[0]) ? (headers as [string, string][]).flat() : (headers as string[]);
    for (let i = 0; i + 1 < flat.length; i += 2) this.removeHeader(String(flat[i]));
    for (let i = 0; i + 1 < flat.length; i += 2) this.appendHeader(String(flat[i]), String(flat[i + 1]));
  }

  /** The header goes out: its fields as `stream.respond` takes them, trailers waited for where the client takes them. */
  private send(endStream: boolean): void {
    const fields: OutgoingHttpHeaders = { ':status': this.statusCode };
    let bytes = ':status: 200'.length;
    const table = this.fields;
    if (table) {
      for (const key in table) {
        const value = table[key][1];
        fields[key] = value;
        bytes += key.length + 2 + String(value).length;
      }
    }
    this.sentHeaderBytes = bytes;
    const waitForTrailers = !endStream && (this.takesTrailers || this.trailers !== null);
    if (waitForTrailers) this.stream.once('wantTrailers', onWantTrailers);
    this.stream.respond(fields, { endStream, waitForTrailers, sendDate: this.sendDate } as http2.ServerStreamResponseOptions);
  }

  /** What the header's fields weigh before compression (`$bytes_sent` less the body, as near as HTTP/2 tells). */
  headerBytes(): number {
    if (this.sentHeaderBytes >= 0) return this.sentHeaderBytes;
    let bytes = ':status: 200'.length;
    for (const [name, value] of Object.entries(this.getHeaders())) bytes += name.length + 2 + String(value).length;
    return bytes;
  }

  flushHeaders(): void {
    if (!this.over && !this.stream.headersSent) this.writeHead(this.statusCode);
  }

  write(chunk: string | Uint8Array, encoding?: BufferEncoding | ((err?: Error | null) => void), cb?: (err?: Error | null) => void): boolean {
    if (typeof encoding === 'function') {
      cb = encoding;
      encoding = undefined;
    }
    let err: Error | null = null;
    if (this.ending) err = codedError('ERR_STREAM_WRITE_AFTER_END', 'write after end');
    else if (this.over) err = codedError('ERR_HTTP2_INVALID_STREAM', 'The stream has been destroyed');
    else if (this.destroyedHere) return false;
    if (err !== null) {
      if (typeof cb === 'function') process.nextTick(cb, err);
      this.destroy(err);
      return false;
    }
    const stream = this.stream;
    // The instance's writeHead: the filters' hook, when they installed one.
    if (!stream.headersSent) this.writeHead(this.statusCode);
    if (typeof chunk === 'string') this.bodyBytes += Buffer.byteLength(chunk, encoding ?? 'utf8');
    else if (chunk instanceof Uint8Array) this.bodyBytes += chunk.length;
    const more = encoding === undefined ? stream.write(chunk, cb) : stream.write(chunk, encoding, cb);
    if (!more && !this.drainArmed) {
      this.drainArmed = true;
      stream.once('drain', onStreamDrain);
    }
    return more;
  }

  /**
   * The last chunk and the end of the stream. The chunk is written by this class's `write`,
   * not the instance's (a filter's by now: a body written through the filter chain twice).
   */
  end(chunk?: unknown, encoding?: unknown, cb?: unknown): this {
    if (typeof chunk === 'function') [cb, chunk] = [chunk, undefined];
    if (typeof encoding === 'function') [cb, encoding] = [encoding, undefined];
    const stream = this.stream;
    if (this.over || this.ending) {
      if (typeof cb === 'function') process.nextTick(cb as () => void);
      return this;
    }
    const open = !stream.destroyed && !stream.closed;
    if (open && chunk !== undefined && chunk !== null) Http2Response.prototype.write.call(this, chunk as string | Uint8Array, encoding as BufferEncoding | undefined);
    this.ending = true;
    if (typeof cb === 'function') (stream.writableEnded ? this : stream).once('finish', cb as () => void);
    if (!stream.headersSent) this.writeHead(this.statusCode);
    if (this.over || stream.destroyed) this.closeNow();
    else stream.end();
    return this;
  }

  destroy(err?: Error): this {
    if (this.destroyedHere) return this;
    this.destroyedHere = true;
    this.stream.destroy(err);
    return this;
  }

  /** The stream given up (a timeout): RST_STREAM with INTERNAL_ERROR, as nginx resets a stream it closes unfinished. */
  reset(): void {
    if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    this.destroy();
  }

  cork(): void {
    this.stream.cork();
  }

  uncork(): void {
    this.stream.uncork();
  }

  setTimeout(ms: number, callback?: () => void): this {
    if (!this.over) this.stream.setTimeout(ms, callback);
    return this;
  }

  /** `100 Continue` before the response, where the header has not gone yet. */
  writeContinue(): boolean {
    if (this.stream.headersSent || this.over) return false;
    this.stream.additionalHeaders({ ':status': 100 });
    return true;
  }
}
