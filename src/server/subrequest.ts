/**
 * The objects of a subrequest (nginx's `ngx_http_subrequest`; OpenResty's
 * `ngx.location.capture`): a request message over the parent's connection that has the
 * parent's headers (less its body's framing: a subrequest has no body but the one its spec
 * gives, `ngx.location.capture`'s `body`) and nothing else to read, and
 * a response that goes to no socket: it records the status and headers a content handler
 * writes (any handler, the proxy included, writes to it as to a client) and keeps the body only
 * when asked. The dispatcher runs the subrequest through the locations (`Dispatcher.subrequest`).
 */
import { IncomingMessage, ServerResponse, type OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import type { RequestContext, SubrequestSink, SubrequestSpec } from '../types';
import { setHeaders } from './filters';

/** Headers a subrequest without a body does not take from its parent: the body's framing. */
const BODY_FRAMING = new Set(['content-length', 'transfer-encoding']);

/** The subrequest's request: `spec`'s method, target and headers, over `parent`'s connection, with no body. */
export function subrequestMessage(parent: IncomingMessage, spec: SubrequestSpec): IncomingMessage {
  const req = new IncomingMessage(parent.socket as Socket);
  // Nothing to read: reading must not resume the parent's connection.
  req._read = () => {};
  req.method = spec.method ?? 'GET';
  req.url = spec.args ? `${spec.uri}?${spec.args}` : spec.uri;
  req.httpVersionMajor = parent.httpVersionMajor;
  req.httpVersionMinor = parent.httpVersionMinor;
  req.httpVersion = parent.httpVersion;
  const raw: string[] = [];
  if (spec.headers) {
    for (const [name, value] of Object.entries(spec.headers)) {
      for (const v of typeof value === 'string' ? [value] : value) raw.push(name, v);
    }
  } else {
    const from = parent.rawHeaders;
    for (let i = 0; i + 1 < from.length; i += 2) if (!BODY_FRAMING.has(from[i].toLowerCase())) raw.push(from[i], from[i + 1]);
  }
  const body = spec.requestBody;
  if (body) {
    for (let i = raw.length - 2; i >= 0; i -= 2) if (BODY_FRAMING.has(raw[i].toLowerCase())) raw.splice(i, 2);
    raw.push('Content-Length', String(body.length));
  }
  req.rawHeaders = raw;
  // Node makes `headers` from the parser's count of raw lines, which a message made here has not.
  const headers: Record<string, string | string[]> = {};
  const add = (req as unknown as { _addHeaderLine?: (name: string, value: string, into: object) => void })._addHeaderLine;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (add) add.call(req, raw[i], raw[i + 1], headers);
    else headers[raw[i].toLowerCase()] ??= raw[i + 1];
  }
  req.headers = headers;
  req.complete = true;
  if (body?.length) req.push(body);
  req.push(null);
  return req;
}

const destroySocket = (socket: Duplex) => socket.destroy();

/** A socket that takes what the response writes and drops it. */
function discardingSocket(): Duplex {
  return new Duplex({
    read() {},
    write(_chunk, _encoding, callback) {
      callback();
    },
  });
}

/**
 * A socket that drops its bytes, but holds each write's callback while `sink` is full: the
 * response over it then fills and says so (`write` returns false, 'drain' later) as over a
 * slow client, so a handler's own backpressure follows the sink's.
 */
function sinkSocket(sink: SubrequestSink): Duplex {
  const body = sink.body;
  let held: (() => void)[] = [];
  const release = () => {
    const callbacks = held;
    held = [];
    for (const callback of callbacks) callback();
  };
  body.on('drain', release);
  return new Duplex({
    read() {},
    write(_chunk, _encoding, callback) {
      if (body.writableNeedDrain && !body.destroyed) held.push(() => callback());
      else callback();
    },
    destroy(err, callback) {
      body.off('drain', release);
      held = [];
      callback(err);
    },
  });
}

/**
 * The subrequest's response: a real `ServerResponse` (so every handler writes to it as to a
 * client) over a socket that drops its bytes. `over` resolves once the status and headers are
 * known and, when the body is kept or streamed to a sink, once it has all come (or the response
 * was cut).
 */
export class SubrequestCapture {
  readonly res: ServerResponse;
  readonly over: Promise<void>;
  private readonly chunks: Buffer[] | null;
  private end!: () => void;

  constructor(req: IncomingMessage, keepBody: boolean, sink: SubrequestSink | null = null, ctx: RequestContext | null = null) {
    const res = new ServerResponse(req);
    this.res = res;
    this.chunks = keepBody && req.method !== 'HEAD' && !sink ? [] : null;
    this.over = new Promise<void>((resolve) => (this.end = resolve));
    const socket = sink ? sinkSocket(sink) : discardingSocket();
    res.assignSocket(socket as unknown as Socket);
    // What Node's server does for its own sockets (assignSocket does not): the socket's 'drain' is the response's.
    if (sink) socket.on('drain', () => !res.writableFinished && res.emit('drain'));
    res.once('finish', () => {
      this.end();
      // As a server does once a response is over: its 'close', which handlers wait for. On the
      // next tick, once the last write's callback ran (destroyed before, the socket would make
      // an ERR_STREAM_DESTROYED for it: 3% of the CPU of a request with a subrequest).
      process.nextTick(destroySocket, socket);
    });
    res.once('close', () => this.end());
    if (sink) {
      this.stream(res, sink, ctx!);
      return;
    }
    this.hook(res, keepBody);
  }

  /**
   * The status and headers to `sink.header` as `writeHead` gets them (false: the response is
   * cut), the body to `sink.body` as written, its end once the body is whole. A sink that goes
   * away (the client left) cuts the response.
   */
  private stream(res: ServerResponse, sink: SubrequestSink, ctx: RequestContext): void {
    const writeHead = res.writeHead;
    const body = sink.body;
    res.writeHead = function (this: ServerResponse, status: number, ...rest: unknown[]) {
      const reason = typeof rest[0] === 'string' ? (rest.shift() as string) : undefined;
      const headers = rest[0] as OutgoingHttpHeaders | readonly string[] | undefined;
      if (headers) setHeaders(res, headers);
      const out = reason === undefined ? writeHead.call(this, status) : (writeHead as (s: number, r: string) => ServerResponse).call(this, status, reason);
      if (!sink.header(res.statusCode, res.getHeaders(), ctx)) res.destroy();
      return out;
    } as ServerResponse['writeHead'];
    const pass = (chunk: unknown, encoding: unknown) => {
      if (chunk === undefined || chunk === null || typeof chunk === 'function' || res.destroyed || body.destroyed) return;
      body.write(typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8') : Buffer.from(chunk as Uint8Array));
    };
    const write = res.write;
    const end = res.end;
    res.write = function (this: ServerResponse, ...args: unknown[]) {
      pass(args[0], args[1]);
      return (write as (...a: unknown[]) => boolean).apply(this, args);
    } as ServerResponse['write'];
    res.end = function (this: ServerResponse, ...args: unknown[]) {
      if (!res.headersSent && !res.destroyed) res.writeHead(res.statusCode);
      pass(args[0], args[1]);
      return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
    } as ServerResponse['end'];
    res.once('finish', () => {
      if (!body.destroyed) body.end();
    });
    body.once('close', () => {
      if (!res.writableFinished) res.destroy();
    });
  }

  /** The body kept (`keepBody`), else null. */
  body(): Buffer | null {
    return this.chunks && Buffer.concat(this.chunks);
  }

  /**
   * Records the status and headers as `writeHead` gets them (also for implicit headers), and
   * the body as written when kept. Without the body, the subrequest is over at its header.
   */
  private hook(res: ServerResponse, keepBody: boolean): void {
    const writeHead = res.writeHead;
    const headerOnly = !keepBody;
    const over = () => this.end();
    res.writeHead = function (this: ServerResponse, status: number, ...rest: unknown[]) {
      const reason = typeof rest[0] === 'string' ? (rest.shift() as string) : undefined;
      const headers = rest[0] as OutgoingHttpHeaders | readonly string[] | undefined;
      if (headers) setHeaders(res, headers);
      const out = reason === undefined ? writeHead.call(this, status) : (writeHead as (s: number, r: string) => ServerResponse).call(this, status, reason);
      if (headerOnly) over();
      return out;
    } as ServerResponse['writeHead'];
    const chunks = this.chunks;
    if (!chunks) return;
    const keep = (chunk: unknown, encoding: unknown) => {
      if (chunk === undefined || chunk === null || typeof chunk === 'function') return;
      chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8') : Buffer.from(chunk as Uint8Array));
    };
    const write = res.write;
    const end = res.end;
    res.write = function (this: ServerResponse, ...args: unknown[]) {
      keep(args[0], args[1]);
      return (write as (...a: unknown[]) => boolean).apply(this, args);
    } as ServerResponse['write'];
    res.end = function (this: ServerResponse, ...args: unknown[]) {
      keep(args[0], args[1]);
      return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
    } as ServerResponse['end'];
  }
}
