/**
 * nginx's header and body filter chains, run for any handler's output: a location's response
 * filters (compiled by the modules, in order) see the header once, just before it goes out,
 * and a filter may route the body through a transform (gzip). The status `error_page` imposes
 * and nginx's last header rules (range, not-modified, 204) are the chain's own. It hooks the
 * response's `writeHead`, which Node calls for implicit headers too, so a handler writes to a
 * plain `ServerResponse`.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import * as streams from 'node:stream';
import type { Transform } from 'node:stream';

/** Node's `stream.compose` (in Node 20, not in its type definitions): streams in a row as one duplex. */
const compose = (streams as unknown as { compose: (...parts: Transform[]) => Transform }).compose;
import { reasonPhrase } from '../http/status';
import { KeptBodies } from '../shared/kept-bodies';
import type { BodyTransform, RequestContext, ResponseFilter } from '../types';

/**
 * What the transforms made of whole files, per worker (`reuseTransformedFile`): 16 MiB in all,
 * files whose output is up to 4 MiB. A hit is a copy where nginx compresses the file again.
 */
const keptFiles = new KeptBodies(16 * 1024 * 1024, 4 * 1024 * 1024);
/** The keys some response is making now: one keeps it, the others only send theirs. */
const making = new Set<string>();

/** Per-response filter state the server may change until the header goes out. */
export interface FilterState extends RequestContext {
  /** The filters of the location now serving (an `error_page` redirect changes it). */
  readonly filters: readonly ResponseFilter[];
  /** The status `error_page` imposes on the page it serves, or 0. */
  overrideStatus: number;
  /** The body transform the header filters chose for the response (null: none). */
  bodyTransform: BodyTransform | null;
  /** Whether the response's `write` and `end` are hooked (`hookWrites`). */
  bodyHooked: boolean;
  /** Under which key the transformed body is to be kept (`reuseTransformedFile`), or null. */
  keepTransformedAs: string | null;
}

/**
 * Hooks `res.writeHead` so the filters run once, just before the header is sent, whatever
 * way the handler sends it (`writeHead`, implicit headers on `write`/`end`, `pipe`). When a
 * filter may transform this request's body, `write` and `end` send the header first, so the
 * body goes where the header filters decided (`hookWrites`, also for what asks later).
 */
export function installFilters(req: IncomingMessage, res: ServerResponse, state: FilterState): void {
  const originalWriteHead = res.writeHead;
  res.writeHead = function writeHead(this: ServerResponse, status: number, ...rest: unknown[]) {
    res.writeHead = originalWriteHead;
    const reason = typeof rest[0] === 'string' ? (rest.shift() as string) : undefined;
    const headers = rest[0] as OutgoingHttpHeaders | unknown[] | undefined;
    if (headers) setHeaders(res, headers);
    if (state.overrideStatus) status = state.overrideStatus;
    res.statusCode = status;
    const handlerStatus = status;
    let transform: BodyTransform | null = null;
    for (const filter of state.filters) {
      const own = filter.header(res, status, req, state);
      // Each transform feeds the next filter's (a body filter script's output is what gzip compresses).
      if (own) transform = transform ? chainTransforms(transform, own) : own;
      // A header filter may change the status (a script's `r.status`): the next filters see it.
      status = res.statusCode;
    }
    state.bodyTransform = transform;
    // The handler's own status line (an upstream's: nginx's headers_out.status_line) stays unless the status changed.
    const ownLine = !state.overrideStatus && status === handlerStatus && reason !== undefined;
    finalHeaders(res, status, state.overrideStatus !== 0, ownLine);
    // A status a filter changed gets its own phrase (nginx's status line comes from the final status).
    const phrase = ownLine ? reason! : state.overrideStatus || status !== handlerStatus ? reasonPhrase(status) : (res.statusMessage ?? reasonPhrase(status));
    return (originalWriteHead as (s: number, r: string) => ServerResponse).call(this, status, phrase);
  } as ServerResponse['writeHead'];
  if (mayTransform(state.filters, req)) hookWrites(res, state);
}

/**
 * Routes the response's body through the transform its header filters choose: `write` and
 * `end` send the header first. Done at once where a filter of the request's server may
 * transform it; else by what learns before the body that one will (the proxy told a rate by
 * its upstream, whose target may be another location): nothing is written yet then. Once only.
 */
export function hookWrites(res: ServerResponse, state: FilterState): void {
  if (state.bodyHooked || res.headersSent) return;
  state.bodyHooked = true;
  const write = res.write;
  const end = res.end;
  res.write = function (this: ServerResponse, ...args: unknown[]) {
    if (!res.headersSent) res.writeHead(res.statusCode);
    const transform = state.bodyTransform;
    if (!transform) return (write as (...a: unknown[]) => boolean).apply(this, args);
    if (transform.inline) routeInline(res, transform.inline, write, end);
    else route(res, transform.stream(), write, end, state.keepTransformedAs);
    return res.write(...(args as [Buffer]));
  } as ServerResponse['write'];
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    if (!res.headersSent) res.writeHead(res.statusCode);
    const transform = state.bodyTransform;
    if (!transform) return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
    if (endWhole(res, transform, end, args)) return res;
    if (transform.inline) routeInline(res, transform.inline, write, end);
    else route(res, transform.stream(), write, end, state.keepTransformedAs);
    return res.end(...(args as [Buffer]));
  } as ServerResponse['end'];
}

/**
 * `RequestContext.reuseTransformedFile`: after the header, with the body not begun. A kept
 * output ends the response at once (through the response's own `end`: the transform is
 * dropped); otherwise the stream the body goes through will keep its output under the key.
 */
export function reuseTransformedFile(res: ServerResponse, state: FilterState, identity: string): boolean {
  const transform = state.bodyTransform;
  if (!transform?.key || !state.bodyHooked || !res.headersSent || res.writableEnded) return false;
  const key = `${identity} ${transform.key}`;
  const kept = keptFiles.get(key);
  if (!kept) {
    state.keepTransformedAs = key;
    return false;
  }
  state.bodyTransform = null;
  res.end(kept);
  return true;
}

/** `first`, then `second`: a whole body through both when both take it whole, else a stream through both. */
function chainTransforms(first: BodyTransform, second: BodyTransform): BodyTransform {
  return {
    whole:
      first.whole && second.whole
        ? (body) => {
            const mid = first.whole!(body);
            return mid === null ? null : second.whole!(mid);
          }
        : undefined,
    key: first.key && second.key ? `${first.key}|${second.key}` : undefined,
    stream: () => compose(first.stream(), second.stream()),
    inline: first.inline && second.inline ? (chunk, eof) => second.inline!(first.inline!(chunk, eof), eof) : undefined,
  };
}

/** Whether a filter may transform this request's body. */
function mayTransform(filters: readonly ResponseFilter[], req: IncomingMessage): boolean {
  for (const filter of filters) if (filter.mayTransform?.(req)) return true;
  return false;
}

/** Whether a filter would transform a body of this type and length (`RequestContext.transforms`). */
export function filtersTransform(filters: readonly ResponseFilter[], req: IncomingMessage, contentType: string, length: number): boolean {
  for (const filter of filters) if (filter.transforms?.(req, contentType, length)) return true;
  return false;
}

/**
 * `end(body)` as the response's first and only body write: transformed in one call when the
 * transform takes it whole (a small body: no stream, no thread pool). False when the body is
 * not a Buffer or string, or the transform would rather stream it.
 */
function endWhole(res: ServerResponse, transform: BodyTransform, end: ServerResponse['end'], args: unknown[]): boolean {
  if (!transform.whole) return false;
  let [chunk, encoding, cb] = args;
  if (typeof chunk === 'function') [cb, chunk] = [chunk, undefined];
  if (typeof encoding === 'function') [cb, encoding] = [encoding, undefined];
  let body: Buffer;
  if (chunk === undefined || chunk === null) body = Buffer.alloc(0);
  else if (typeof chunk === 'string') body = Buffer.from(chunk, (encoding as BufferEncoding) ?? 'utf8');
  else if (Buffer.isBuffer(chunk)) body = chunk;
  else return false;
  let out: Buffer | null;
  try {
    out = transform.whole(body);
  } catch {
    res.destroy();
    return true;
  }
  if (out === null) return false;
  if (typeof cb === 'function') res.once('finish', cb as () => void);
  (end as (c: Buffer) => void).call(res, out);
  return true;
}

/**
 * What nginx's range and header filters do last, whoever made the response: Last-Modified
 * only on 200, 206 and 304, a 204 without Content-Type and Content-Length, and no
 * Accept-Ranges on a page whose status `error_page` set to another than 200 (a handler's own
 * Accept-Ranges on another status, a proxied 206, is kept as nginx keeps an upstream's). A
 * response with its own status line (`ownLine`: a proxied one) keeps a 204's Content-Type and
 * Content-Length: ngx_http_header_filter applies its 204 rule only where no status line was set.
 */
function finalHeaders(res: ServerResponse, status: number, overridden: boolean, ownLine: boolean): void {
  if (overridden && status !== 200) res.removeHeader('accept-ranges');
  if (status !== 200 && status !== 206 && status !== 304) res.removeHeader('last-modified');
  if (status === 204 && !ownLine) {
    res.removeHeader('content-type');
    res.removeHeader('content-length');
  }
}

/** The headers `writeHead` was handed (an object, a flat list or a list of pairs) set on the response. */
export function setHeaders(res: ServerResponse, headers: OutgoingHttpHeaders | readonly unknown[]): void {
  if (Array.isArray(headers)) {
    const flat = Array.isArray(headers[0]) ? (headers as [string, string][]).flat() : (headers as string[]);
    for (let i = 0; i + 1 < flat.length; i += 2) res.appendHeader(String(flat[i]), String(flat[i + 1]));
    return;
  }
  for (const [name, value] of Object.entries(headers as OutgoingHttpHeaders)) if (value !== undefined) res.setHeader(name, value);
}

/** A chunk handed to `write`/`end` as bytes. */
function bytesOf(chunk: unknown, encoding: unknown): Buffer {
  if (chunk === undefined || chunk === null) return EMPTY;
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return Buffer.from(String(chunk), (encoding as BufferEncoding) ?? 'utf8');
}

const EMPTY = Buffer.alloc(0);

/**
 * From now on each chunk goes through `inline` and straight into the response's own
 * `write`/`end`, in the writer's turn: no stream per response, the writer's backpressure is the
 * socket's (`write` returns what the response's own returns). A throw destroys the response, as a
 * stream's error does.
 */
function routeInline(res: ServerResponse, inline: (chunk: Buffer, eof: boolean) => Buffer, write: ServerResponse['write'], end: ServerResponse['end']): void {
  const apply = (chunk: Buffer, eof: boolean): Buffer | null => {
    try {
      return inline(chunk, eof);
    } catch {
      res.destroy();
      return null;
    }
  };
  res.write = function (chunk: unknown, encoding?: unknown, cb?: unknown) {
    if (typeof encoding === 'function') [cb, encoding] = [encoding, undefined];
    const out = apply(bytesOf(chunk, encoding), false);
    if (out === null) return false;
    if (out.length) return (write as (c: Buffer, cb?: unknown) => boolean).call(res, out, cb);
    if (typeof cb === 'function') process.nextTick(cb as () => void);
    return true;
  } as ServerResponse['write'];
  res.end = function (chunk?: unknown, encoding?: unknown, cb?: unknown) {
    if (typeof chunk === 'function') [cb, chunk] = [chunk, undefined];
    if (typeof encoding === 'function') [cb, encoding] = [encoding, undefined];
    const out = apply(bytesOf(chunk, encoding), true);
    if (out === null) return res;
    // An empty last chunk is no chunk: Node would send it as a write of its own.
    if (out.length === 0) return (end as (cb?: unknown) => ServerResponse).call(res, cb);
    return (end as (c: Buffer, cb?: unknown) => ServerResponse).call(res, out, cb);
  } as ServerResponse['end'];
}

/**
 * From now on the body goes through `stream` into the response's own `write`/`end`, keeping
 * the writer's backpressure (`write` returns false while the stream's buffer is full; `drain`
 * follows). With `keepAs`, what the stream makes is also kept under that key once it ended
 * whole (a response cut short keeps nothing), unless another response is making it already.
 */
function route(res: ServerResponse, stream: Transform, write: ServerResponse['write'], end: ServerResponse['end'], keepAs: string | null = null): void {
  if (keepAs !== null && !making.has(keepAs)) keepOutput(stream, res, keepAs);
  const rawWrite = (chunk: Buffer) => (write as (c: Buffer) => boolean).call(res, chunk);
  // What the writer waits on is what the stream holds too (the proxy reads ahead by it), not the socket's share alone.
  const socketShare = getterOf(res, 'writableLength');
  if (socketShare) Object.defineProperty(res, 'writableLength', { configurable: true, get: () => (socketShare.call(res) as number) + stream.writableLength + stream.readableLength });
  stream.on('data', (chunk: Buffer) => {
    if (!rawWrite(chunk)) stream.pause();
  });
  res.on('drain', () => stream.resume());
  stream.on('drain', () => res.emit('drain'));
  stream.on('end', () => (end as () => void).call(res));
  stream.on('error', () => res.destroy());
  res.on('close', () => stream.destroy());
  res.write = function (chunk: unknown, encoding?: unknown, cb?: unknown) {
    if (typeof encoding === 'function') [cb, encoding] = [encoding, undefined];
    return stream.write(chunk as Buffer, (encoding as BufferEncoding) ?? 'utf8', cb as () => void);
  } as ServerResponse['write'];
  res.end = function (chunk?: unknown, encoding?: unknown, cb?: unknown) {
    if (typeof chunk === 'function') [cb, chunk] = [chunk, undefined];
    if (typeof encoding === 'function') [cb, encoding] = [encoding, undefined];
    if (typeof cb === 'function') res.once('finish', cb as () => void);
    if (chunk !== undefined && chunk !== null) stream.end(chunk as Buffer, (encoding as BufferEncoding) ?? 'utf8');
    else stream.end();
    return res;
  } as ServerResponse['end'];
}

/** Collects what `stream` makes, up to the entry limit, and keeps it under `key` once it ended. */
function keepOutput(stream: Transform, res: ServerResponse, key: string): void {
  making.add(key);
  const chunks: Buffer[] = [];
  let length = 0;
  stream.on('data', (chunk: Buffer) => {
    length += chunk.length;
    if (length <= keptFiles.entryMax) chunks.push(chunk);
  });
  stream.once('end', () => {
    if (length <= keptFiles.entryMax) keptFiles.keep(key, Buffer.concat(chunks, length));
  });
  stream.once('close', () => making.delete(key));
  res.once('close', () => making.delete(key));
}

/** The getter `object` inherits for `name`, if any. */
function getterOf(object: object, name: string): (() => unknown) | null {
  for (let proto = Object.getPrototypeOf(object); proto; proto = Object.getPrototypeOf(proto)) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, name);
    if (descriptor) return descriptor.get ?? null;
  }
  return null;
}
