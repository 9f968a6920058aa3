/**
 * An HTTP/2 stream as the request and response every module already serves: Node's
 * compatibility classes, shaped the way nginx presents an HTTP/2 request to its modules. The
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
import type { OutgoingHttpHeader, OutgoingHttpHeaders } from 'node:http';

/** Response headers HTTP/2 forbids (RFC 9113 8.2.2); `te` is allowed only as `trailers`. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

function forbidden(name: string, value?: unknown): boolean {
  const lower = name.toLowerCase();
  return CONNECTION_SPECIFIC.has(lower) || (lower === 'te' && String(value).toLowerCase() !== 'trailers');
}

/** The request's pseudo-headers (RFC 9113 8.3.1). */
export interface PseudoHeaders {
  method: string;
  path: string;
  readonly scheme: string | undefined;
  readonly authority: string | undefined;
  /** `:protocol` of an extended CONNECT (RFC 8441), e.g. `websocket`. */
  readonly protocol: string | undefined;
}

const RAW = Symbol('gateway.rawHeaders');
const NODE_RAW_HEADERS = Object.getOwnPropertyDescriptor(http2.Http2ServerRequest.prototype, 'rawHeaders')!.get!;

/** An HTTP/2 request whose `headers` and `rawHeaders` hold regular fields only. */
export class Http2Request extends http2.Http2ServerRequest {
  readonly pseudo: PseudoHeaders;

  constructor(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, options: object, rawHeaders: string[]) {
    const fields: http2.IncomingHttpHeaders = Object.create(null);
    for (const name of Object.keys(headers)) if (name.charCodeAt(0) !== 0x3a) fields[name] = headers[name];
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
    if (protocol !== undefined) {
      fields.upgrade = protocol;
      raw.push('upgrade', protocol);
    } else if (!stream.endAfterHeaders && fields['content-length'] === undefined) {
      fields['transfer-encoding'] = 'chunked';
      raw.push('transfer-encoding', 'chunked');
    }
    super(stream, fields, options, raw);
    this.pseudo = {
      method: protocol !== undefined ? 'GET' : ((headers[':method'] as string | undefined) ?? ''),
      path: (headers[':path'] as string | undefined) ?? '',
      scheme: headers[':scheme'] as string | undefined,
      authority,
      protocol,
    };
  }

  /**
   * The response Node made beside an extended CONNECT (set where the 'connect' event hands
   * both over): what a location that takes no upgrade answers with.
   */
  upgradeResponse: Http2Response | null = null;
}

// The request line is the pseudo-headers' (Node's class reads them from the header list, which holds none now).
Object.defineProperties(Http2Request.prototype, {
  method: {
    get(this: Http2Request) {
      return this.pseudo.method;
    },
    set(this: Http2Request, method: string) {
      this.pseudo.method = method;
    },
  },
  url: {
    get(this: Http2Request) {
      return this.pseudo.path;
    },
    set(this: Http2Request, url: string) {
      this.pseudo.path = url;
    },
  },
  authority: {
    get(this: Http2Request) {
      return this.pseudo.authority ?? this.headers.host ?? '';
    },
  },
  scheme: {
    get(this: Http2Request) {
      return this.pseudo.scheme ?? '';
    },
  },
  // Node's class has a getter only: the head checks replace the list when they drop a field.
  rawHeaders: {
    get(this: Http2Request & { [RAW]?: string[] }) {
      return this[RAW] ?? (NODE_RAW_HEADERS.call(this) as string[]);
    },
    set(this: Http2Request & { [RAW]?: string[] }, raw: string[]) {
      this[RAW] = raw;
    },
  },
});

/** The listener methods a stream's stand-in socket takes to the stream itself. */
const LISTENER_METHODS = new Set(['on', 'once', 'off', 'addListener', 'removeListener', 'prependListener', 'prependOnceListener']);

/**
 * The stream's stand-in for a connection, as modules written for HTTP/1.1 use `req.socket`:
 * Node's (reads go to the TCP or TLS socket, `destroy` resets the stream, 'close' is the
 * stream's), except that a client's FIN that modules watch for (`'end'`) is the stream being
 * aborted, not its request body ending, and every listener goes to the stream. The gateway's
 * own marks on a connection (symbol keys: the status counters, the connection's facts) and its
 * `_parent` are the connection's, read and written there even once the stream has closed
 * (Node's stand-in then answers from the stream, which has none).
 */
function streamSocket(stream: http2.ServerHttp2Stream, nodeSocket: object): object {
  const connection = stream.session?.socket as object | undefined;
  const socket: object = new Proxy(nodeSocket, {
    set(target, prop, value) {
      if (connection && typeof prop === 'symbol') return Reflect.set(connection, prop, value);
      return Reflect.set(target, prop, value);
    },
    get(target, prop) {
      if (connection && (typeof prop === 'symbol' || prop === '_parent')) return Reflect.get(connection, prop);
      if (typeof prop === 'string' && LISTENER_METHODS.has(prop)) {
        const method = (stream as unknown as Record<string, (event: string | symbol, fn: (...args: unknown[]) => void) => unknown>)[prop];
        return (event: string | symbol, fn: (...args: unknown[]) => void) => {
          method.call(stream, event === 'end' ? 'aborted' : event, fn);
          return socket;
        };
      }
      return Reflect.get(target, prop);
    },
  });
  return socket;
}

const NODE_SOCKET = Object.getOwnPropertyDescriptor(http2.Http2ServerRequest.prototype, 'socket')!.get!;
const STAND_IN = Symbol('gateway.streamSocket');

Object.defineProperty(Http2Request.prototype, 'socket', {
  get(this: Http2Request & { [STAND_IN]?: object }) {
    return (this[STAND_IN] ??= streamSocket(this.stream, NODE_SOCKET.call(this)));
  },
});

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
    if (forbidden(name, value)) continue;
    const lower = name.toLowerCase();
    const earlier = out[lower];
    out[lower] = earlier === undefined ? value : Array.isArray(earlier) ? [...earlier, value] : [String(earlier), value];
  }
  return out;
}

/** An HTTP/2 response that drops what HTTP/2 cannot carry instead of throwing, and counts what it sends. */
export class Http2Response extends http2.Http2ServerResponse {
  /** HTTP/1.1's connection reuse flag, set by modules that would close the connection: a stream has none. */
  shouldKeepAlive = true;
  /** The body bytes handed to the stream (`$body_bytes_sent`). */
  bodyBytes = 0;

  override write(chunk: string | Uint8Array, encoding?: unknown, cb?: unknown): boolean {
    this.count(chunk, encoding);
    return (super.write as (...args: unknown[]) => boolean)(chunk, encoding, cb);
  }

  /**
   * Node's class ends by calling `write` on the instance, which may be a filter's by now (a
   * body written through the filter chain twice): the last chunk goes to the stream here.
   */
  override end(chunk?: unknown, encoding?: unknown, cb?: unknown): this {
    if (typeof chunk === 'function') [cb, chunk] = [chunk, undefined];
    if (typeof encoding === 'function') [cb, encoding] = [encoding, undefined];
    const open = !this.writableEnded && !this.stream.destroyed && !this.stream.closed;
    if (open && chunk !== undefined && chunk !== null) Http2Response.prototype.write.call(this, chunk as string | Uint8Array, encoding);
    return (super.end as (cb?: unknown) => this)(cb);
  }

  private count(chunk: unknown, encoding: unknown): void {
    if (typeof chunk === 'string') this.bodyBytes += Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
    else if (chunk instanceof Uint8Array) this.bodyBytes += chunk.length;
  }

  /** The stream given up (a timeout): RST_STREAM with INTERNAL_ERROR, as nginx resets a stream it closes unfinished. */
  reset(): void {
    if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    this.destroy();
  }

  /** What the header's fields weigh before compression (`$bytes_sent` less the body, as near as HTTP/2 tells). */
  headerBytes(): number {
    let bytes = ':status: 200'.length;
    for (const [name, value] of Object.entries(this.getHeaders())) bytes += name.length + 2 + String(value).length;
    return bytes;
  }

  override setHeader(name: string, value: number | string | readonly string[]): this {
    if (!forbidden(name, value)) super.setHeader(name, value);
    return this;
  }

  override appendHeader(name: string, value: string | string[]): this {
    if (!forbidden(name, value)) super.appendHeader(name, value);
    return this;
  }

  override writeHead(statusCode: number, ...rest: unknown[]): this {
    if (typeof rest[0] === 'string') rest.shift();
    const headers = rest[0] as OutgoingHttpHeaders | readonly (string | OutgoingHttpHeader)[] | undefined;
    if (headers === undefined) return super.writeHead(statusCode);
    return super.writeHead(statusCode, allowedHeaders(headers));
  }
}

Object.defineProperties(Http2Response.prototype, {
  // HTTP/2 has no reason phrase: read as empty, set to nothing (Node's class warns on both).
  statusMessage: { get: () => '', set: () => undefined },
  // Node's class says a stream the client reset is finished (its writable side is destroyed, and
  // 'finish' is emitted): a response is finished only when it went out whole.
  writableFinished: {
    get(this: Http2Response) {
      return this.stream.writableFinished && !this.stream.aborted;
    },
  },
});

/** `writeHead`'s headers without the connection-specific ones. */
function allowedHeaders(headers: OutgoingHttpHeaders | readonly unknown[]): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  if (Array.isArray(headers)) {
    const flat = Array.isArray(headers[0]) ? (headers as [string, string][]).flat() : (headers as string[]);
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const name = String(flat[i]);
      if (forbidden(name, flat[i + 1])) continue;
      const earlier = out[name.toLowerCase()];
      const value = String(flat[i + 1]);
      out[name.toLowerCase()] = earlier === undefined ? value : Array.isArray(earlier) ? [...earlier, value] : [String(earlier), value];
    }
    return out;
  }
  for (const [name, value] of Object.entries(headers as OutgoingHttpHeaders)) if (value !== undefined && !forbidden(name, value)) out[name] = value;
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
