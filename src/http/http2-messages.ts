/**
 * An HTTP/2 stream as the request and response every module already serves, made on Node's
 * core stream API (the 'stream' event's stream and headers; the response is
 * src/http/http2-response.ts), shaped the way nginx presents an HTTP/2 request to its modules. The
 * pseudo-headers are taken out of the header list (`:authority` becomes `Host` when the client
 * sent none, as nginx's `$host`); a request whose HEADERS did not end the stream and that says
 * no Content-Length has a body of unknown length, which nginx marks chunked
 * (`r->headers_in.chunked`), so the proxy forwards it as it forwards an HTTP/1.1 chunked body;
 * connection-specific response headers (`Connection`, `Keep-Alive`, `Transfer-Encoding`,
 * `Upgrade`, `Proxy-Connection`) are dropped, as nginx's HTTP/2 header filter drops them,
 * instead of throwing in the middle of a response; HTTP/2 has no reason phrase. An extended
 * CONNECT (RFC 8441, `:protocol websocket`) is presented as the HTTP/1.1 upgrade it stands
 * for (`GET`, `Upgrade: websocket`: `$http_upgrade`), so that phases, variables and
 * upgrade handlers see one kind of WebSocket handshake whatever the protocol under it.
 */
import http2 from 'node:http2';
import { Readable } from 'node:stream';
import { forbiddenField, type Http2Response } from './http2-response';

export { Http2Response } from './http2-response';

/** The request's pseudo-headers (RFC 9113 8.3.1). */
export interface PseudoHeaders {
  method: string;
  path: string;
  readonly scheme: string | undefined;
  readonly authority: string | undefined;
  /** `:protocol` of an extended CONNECT (RFC 8441), e.g. `websocket`. */
  readonly protocol: string | undefined;
}

/** The request of a stream, for the stream's shared listeners. */
const REQUEST = Symbol('gateway.http2Request');

type StreamWithRequest = http2.ServerHttp2Stream & { [REQUEST]?: Http2Request };

function onStreamData(this: StreamWithRequest, chunk: Buffer): void {
  const req = this[REQUEST];
  if (req !== undefined && !req.push(chunk)) this.pause();
}

function onStreamEnd(this: StreamWithRequest): void {
  this[REQUEST]?.push(null);
}

function onStreamTrailers(this: StreamWithRequest, trailers: http2.IncomingHttpHeaders, _flags: number, raw: string[]): void {
  const req = this[REQUEST];
  if (req === undefined) return;
  Object.assign(req.trailers, trailers);
  req.rawTrailers.push(...raw);
}

function onStreamAborted(this: StreamWithRequest): void {
  const req = this[REQUEST];
  if (req === undefined || req.streamGone) return;
  req.aborted = true;
  req.emit('aborted');
}

/**
 * An HTTP/2 request whose `headers` and `rawHeaders` hold regular fields only, its body the
 * stream's DATA (read from the stream when read, the stream paused when it is not).
 */
export class Http2Request extends Readable {
  readonly stream: http2.ServerHttp2Stream;
  readonly headers: http2.IncomingHttpHeaders;
  /** The head checks replace the list when they drop a field. */
  rawHeaders: string[];
  readonly trailers: http2.IncomingHttpHeaders = {};
  readonly rawTrailers: string[] = [];
  readonly pseudo: PseudoHeaders;
  declare readonly httpVersion: string;
  declare readonly httpVersionMajor: number;
  declare readonly httpVersionMinor: number;
  declare readonly connection: object;
  /** The client reset the stream before it was over. */
  aborted = false;
  /** The stream has closed. */
  streamGone = false;
  /** The connection under the stream (TCP or TLS). */
  private readonly underlying: object | null;
  private reading = false;
  private standIn: object | null = null;

  /**
   * The response made beside an extended CONNECT (set where the stream is handed over): what a
   * location that takes no upgrade answers with.
   */
  upgradeResponse: Http2Response | null = null;

  constructor(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, rawHeaders: readonly string[], connection: object | null) {
    super({ autoDestroy: false });
    const fields: http2.IncomingHttpHeaders = Object.create(null);
    for (const name in headers) if (name.charCodeAt(0) !== 0x3a) fields[name] = headers[name];
    const raw: string[] = [];
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (rawHeaders[i].charCodeAt(0) !== 0x3a) raw.push(rawHeaders[i], rawHeaders[i + 1]);
    // nginx takes :authority as a Host header line where it stands, first: a Host field
    // besides it is a second Host line, which the head checks answer 400 as nginx does.
    const authority = headers[':authority'] as string | undefined;
    if (authority !== undefined) {
      raw.unshift('host', authority);
      fields.host ??= authority;
    }
    const protocol = headers[':protocol'] as string | undefined;
    const bodyless = stream.endAfterHeaders;
    if (protocol !== undefined) {
      fields.upgrade = protocol;
      raw.push('upgrade', protocol);
    } else if (!bodyless && fields['content-length'] === undefined) {
      fields['transfer-encoding'] = 'chunked';
      raw.push('transfer-encoding', 'chunked');
    }
    this.stream = stream;
    this.headers = fields;
    this.rawHeaders = raw;
    this.underlying = connection;
    this.pseudo = {
      method: protocol !== undefined ? 'GET' : ((headers[':method'] as string | undefined) ?? ''),
      path: (headers[':path'] as string | undefined) ?? '',
      scheme: headers[':scheme'] as string | undefined,
      authority,
      protocol,
    };
    const own = stream as StreamWithRequest;
    own[REQUEST] = this;
    stream.on('aborted', onStreamAborted);
    // A request whose HEADERS ended the stream has no body: it is over now, as HTTP/1.1's parser ends a GET.
    if (bodyless) this.push(null);
  }

  get method(): string {
    return this.pseudo.method;
  }

  set method(method: string) {
    this.pseudo.method = method;
  }

  get url(): string {
    return this.pseudo.path;
  }

  set url(url: string) {
    this.pseudo.path = url;
  }

  get authority(): string {
    return this.pseudo.authority ?? this.headers.host ?? '';
  }

  get scheme(): string {
    return this.pseudo.scheme ?? '';
  }

  /** The body has been received whole (or the stream is over). */
  get complete(): boolean {
    return this.aborted || this.readableEnded || this.streamGone || this.stream.destroyed || this.stream.endAfterHeaders;
  }

  /** The stream's stand-in for a connection (see `streamSocket`). */
  get socket(): object {
    return (this.standIn ??= streamSocket(this.stream, this.underlying, this));
  }

  override _read(): void {
    if (this.streamGone) return;
    if (!this.reading) {
      this.reading = true;
      this.stream.on('data', onStreamData);
      this.stream.on('end', onStreamEnd);
      this.stream.on('trailers', onStreamTrailers);
    } else process.nextTick(resumeStream, this.stream);
  }

  setTimeout(ms: number, callback?: () => void): this {
    if (!this.streamGone) this.stream.setTimeout(ms, callback);
    return this;
  }

  /**
   * The stream closed: the body is over (what was not read is dropped), then 'close'. Called by
   * whoever listens to the stream's 'close' (src/server/http2-sessions.ts).
   */
  streamClosed(): void {
    this.streamGone = true;
    this.push(null);
    // A body nobody read is let go, as HTTP/1.1's server dumps one.
    if (!this.reading && !(this as unknown as { _readableState: { resumeScheduled: boolean } })._readableState.resumeScheduled) this.resume();
    (this.stream as StreamWithRequest)[REQUEST] = undefined;
    this.emit('close');
  }
}

function resumeStream(stream: http2.ServerHttp2Stream): void {
  stream.resume();
}

Object.defineProperties(Http2Request.prototype, {
  httpVersion: { value: '2.0' },
  httpVersionMajor: { value: 2 },
  httpVersionMinor: { value: 0 },
});

/** HTTP/1.1's `connection`, the same stand-in as `socket`. */
Object.defineProperty(Http2Request.prototype, 'connection', {
  get(this: Http2Request) {
    return this.socket;
  },
});

/** What the stand-in refuses, as Node's: the stream's bytes are not the connection's. */
const NO_MANIPULATION = new Set(['write', 'read', 'pause', 'resume']);

/**
 * The stream's stand-in for a connection, as modules written for HTTP/1.1 use `req.socket`:
 * reads go to the TCP or TLS socket under the session (its addresses, its TLS facts, its
 * methods bound to it; `instanceof` sees its class), `destroy` resets the stream, `writable`
 * and `destroyed` are the stream's, `setTimeout` the session's, and every listener goes to the
 * stream, except that a client's FIN that modules watch for (`'end'`) is the stream being
 * aborted, not its request body ending. The gateway's own marks on a connection (symbol keys:
 * the status counters, the connection's facts) and its `_parent` are the connection's, read
 * and written there even once the stream has closed.
 */
function streamSocket(stream: http2.ServerHttp2Stream, connection: object | null, req: Http2Request): object {
  const holder: StandIn = { connection: (connection ?? stream) as Record<string | symbol, unknown>, stream, session: stream.session, req, proxy: null };
  return (holder.proxy = new Proxy(holder, STAND_IN));
}

/** What a stand-in's one shared handler needs of its stream (no closures made per request). */
interface StandIn {
  /** The TCP or TLS socket under the session (the stream itself when there is none). */
  readonly connection: Record<string | symbol, unknown>;
  readonly stream: http2.ServerHttp2Stream;
  readonly session: http2.Http2Session | undefined;
  readonly req: Http2Request;
  proxy: object | null;
}

type Listen = (event: string | symbol, fn: (...args: unknown[]) => void) => unknown;

function noManipulation(): never {
  throw codedError('ERR_HTTP2_NO_SOCKET_MANIPULATION', 'HTTP/2 sockets should not be directly manipulated (e.g. read and written)');
}

const STAND_IN: ProxyHandler<StandIn> = {
  getPrototypeOf: (t) => Reflect.getPrototypeOf(t.connection),
  has: (t, prop) => prop in t.connection,
  set(t, prop, value) {
    if (prop === 'writable' || prop === 'readable' || prop === 'destroyed' || prop === 'destroy') return Reflect.set(t.stream, prop, value);
    if (NO_MANIPULATION.has(prop as string)) noManipulation();
    return Reflect.set(t.connection, prop, value);
  },
  get(t, prop) {
    const connection = t.connection;
    if (typeof prop === 'symbol' || prop === '_parent') return connection[prop];
    const stream = t.stream;
    switch (prop) {
      case 'destroy':
      case 'end':
      case 'emit':
        return (stream[prop] as (...args: unknown[]) => unknown).bind(stream);
      case 'writable':
      case 'destroyed':
        return stream[prop];
      case 'readable':
        return stream.destroyed ? false : t.req.readable;
      case 'setTimeout':
        return t.session ? t.session.setTimeout.bind(t.session) : stream.setTimeout.bind(stream);
      case 'write':
      case 'read':
      case 'pause':
      case 'resume':
        return noManipulation();
      case 'on':
      case 'once':
      case 'off':
      case 'addListener':
      case 'removeListener':
      case 'prependListener':
      case 'prependOnceListener': {
        const method = (stream as unknown as Record<string, Listen>)[prop];
        return (event: string | symbol, fn: (...args: unknown[]) => void) => {
          method.call(stream, event === 'end' ? 'aborted' : event, fn);
          return t.proxy;
        };
      }
      default: {
        const value = connection[prop];
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(connection) : value;
      }
    }
  },
};

/** An error with Node's code, as its own classes throw them. */
function codedError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** Whether a request came on an HTTP/2 stream. */
export function isHttp2(req: object): req is Http2Request {
  return req instanceof Http2Request;
}

/** Whether a request is an extended CONNECT (RFC 8441): a WebSocket on an HTTP/2 stream. */
export function isExtendedConnect(req: object): req is Http2Request {
  return req instanceof Http2Request && req.pseudo.protocol !== undefined;
}

/**
 * The response fields of an HTTP/2 answer made of HTTP/1.1 header lines: names in lower case,
 * repeats as arrays, and what HTTP/2 cannot carry (connection-specific fields) left out.
 */
export function http2Fields(status: number, lines: readonly (readonly [string, string])[]): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = { ':status': status };
  for (const [name, value] of lines) {
    const lower = name.toLowerCase();
    if (forbiddenField(lower, value)) continue;
    const earlier = out[lower];
    out[lower] = earlier === undefined ? value : Array.isArray(earlier) ? [...earlier, value] : [String(earlier), value];
  }
  return out;
}

/**
 * Answers on a stream that a handler holds as its connection (an extended CONNECT refused or
 * failed): the status, the fields, the body, the stream's end. A client whose side is still
 * open then gets RST_STREAM NO_ERROR, as nginx closes a stream it answered without reading it
 * to its end. A stream already answered is reset.
 */
export function answerStream(stream: http2.ServerHttp2Stream, status: number, lines: readonly (readonly [string, string])[], body: string | Buffer = ''): void {
  if (stream.destroyed || stream.closed) return;
  if (stream.headersSent) {
    stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    return;
  }
  stream.respond(http2Fields(status, lines));
  stream.end(body);
  closeOnceAnswered(stream);
}

/** RST_STREAM NO_ERROR once what was written has gone, unless the stream closed by then. */
export function closeOnceAnswered(stream: http2.ServerHttp2Stream): void {
  stream.once('finish', () => {
    if (!stream.closed && !stream.destroyed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
  });
}
