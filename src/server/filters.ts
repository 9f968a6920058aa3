/**
 * Response filters, nginx's header and body filter chain for any handler's output: the status
 * override of `error_page`, `expires`, `add_header`, and gzip (`gzip`, `gzip_types`, `gzip_min_length`,
 * `gzip_comp_level`, `gzip_vary`, `gzip_http_version`, `gzip_proxied`, `gzip_disable`). They hook the
 * response's `writeHead`, which Node calls for implicit headers too, so a handler writes to a
 * plain `ServerResponse`.
 */
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import zlib from 'node:zlib';
import type { CommonConf } from '../config/model';
import { applyExpires, compileExpires, type CompiledExpires } from '../modules/headers/expires';
import { compileGzipOk, gzipOk, type GzipOkConf } from '../modules/gzip/gzip-ok';
import { reasonPhrase } from '../http/status';
import { gzipOf } from '../shared/immutable-bodies';
import { compileValue, type CompiledValue, type VariableSource } from '../http/variables';

/** Statuses `add_header` applies to without `always`, and `expires` to at all. */
const ADD_HEADER_STATUSES = new Set([200, 201, 204, 206, 301, 302, 303, 304, 307, 308]);
/** Statuses nginx compresses. */
const GZIP_STATUSES = new Set([200, 403, 404]);

/** What the filters need of a location, compiled once at start. */
export interface FilterConf {
  readonly expires: CompiledExpires;
  readonly addHeaders: readonly { name: string; value: CompiledValue; always: boolean }[];
  readonly gzip: boolean;
  readonly gzipMinLength: number;
  readonly gzipTypes: ReadonlySet<string>;
  readonly gzipAnyType: boolean;
  readonly gzipCompLevel: number;
  readonly gzipVary: boolean;
  /** `gzip_http_version`, `gzip_proxied`, `gzip_disable`. */
  readonly gzipOk: GzipOkConf;
}

/** Compiles a location's filter directives. */
export function compileFilters(conf: CommonConf, captureNames: ReadonlySet<string>): FilterConf {
  return {
    expires: compileExpires(conf.expires, captureNames),
    addHeaders: conf.addHeaders.map((h) => ({ name: h.name, value: compileValue(h.value, captureNames), always: h.always })),
    gzip: conf.gzip,
    gzipMinLength: conf.gzipMinLength,
    gzipTypes: new Set(['text/html', ...conf.gzipTypes.map((t) => t.toLowerCase())]),
    gzipAnyType: conf.gzipTypes.includes('*'),
    gzipCompLevel: conf.gzipCompLevel,
    gzipVary: conf.gzipVary,
    gzipOk: compileGzipOk(conf),
  };
}

/** Responses that get `Vary: Accept-Encoding` under `gzip_vary on` (nginx's `r->gzip_vary`). */
const varyWanted = new WeakSet<ServerResponse>();

/**
 * Asks for `Vary: Accept-Encoding` on this response if the location says `gzip_vary on`, as
 * `gzip_static on` does whether or not it serves the `.gz` file.
 */
export function wantGzipVary(res: ServerResponse): void {
  varyWanted.add(res);
}

/** Per-response filter state the server may change until the header goes out. */
export interface FilterState extends VariableSource {
  /** The filters of the location now serving (an `error_page` redirect changes it). */
  filters: FilterConf;
  /** The status `error_page` imposes on the page it serves, or 0. */
  overrideStatus: number;
}

/**
 * Hooks `res.writeHead` so the filters run once, just before the header is sent, whatever
 * way the handler sends it (`writeHead`, implicit headers on `write`/`end`, `pipe`). With
 * gzip on and a client that may have it, `write` and `end` send the header first, so the body
 * goes where the header filter decided.
 */
export function installFilters(req: IncomingMessage, res: ServerResponse, state: FilterState): void {
  const originalWriteHead = res.writeHead;
  let gzip: zlib.ZlibOptions | null = null;
  res.writeHead = function writeHead(this: ServerResponse, status: number, ...rest: unknown[]) {
    res.writeHead = originalWriteHead;
    const reason = typeof rest[0] === 'string' ? (rest.shift() as string) : undefined;
    const headers = rest[0] as OutgoingHttpHeaders | unknown[] | undefined;
    const conf = state.filters;
    if (headers) setHeaders(res, headers);
    if (state.overrideStatus) status = state.overrideStatus;
    res.statusCode = status;
    if (ADD_HEADER_STATUSES.has(status)) applyExpires(res, conf.expires, state);
    for (const h of conf.addHeaders) {
      if (h.always || ADD_HEADER_STATUSES.has(status)) {
        const value = h.value(state);
        if (value !== '') res.appendHeader(h.name, value);
      }
    }
    if (conf.gzip) {
      const declared = res.getHeader('content-length');
      if (gzipWanted(req, res, conf, status) && req.method !== 'HEAD') gzip = deflateOptions(conf.gzipCompLevel, declared === undefined ? -1 : Number(declared));
    }
    if (conf.gzipVary && varyWanted.has(res)) res.appendHeader('Vary', 'Accept-Encoding');
    finalHeaders(res, status, state.overrideStatus !== 0);
    const phrase = state.overrideStatus ? reasonPhrase(status) : (reason ?? res.statusMessage ?? reasonPhrase(status));
    return (originalWriteHead as (s: number, r: string) => ServerResponse).call(this, status, phrase);
  } as ServerResponse['writeHead'];
  // A client that cannot have gzip keeps Node's own write and end (and its Content-Length).
  if (!state.filters.gzip || !gzipOk(req, state.filters.gzipOk)) return;
  const write = res.write;
  const end = res.end;
  res.write = function (this: ServerResponse, ...args: unknown[]) {
    if (!res.headersSent) res.writeHead(res.statusCode);
    if (!gzip) return (write as (...a: unknown[]) => boolean).apply(this, args);
    route(res, zlib.createGzip({ ...gzip, chunkSize: STREAM_CHUNK }), write, end);
    return res.write(...(args as [Buffer]));
  } as ServerResponse['write'];
  res.end = function (this: ServerResponse, ...args: unknown[]) {
    if (!res.headersSent) res.writeHead(res.statusCode);
    if (!gzip) return (end as (...a: unknown[]) => ServerResponse).apply(this, args);
    if (endWhole(res, gzip, end, args)) return res;
    route(res, zlib.createGzip({ ...gzip, chunkSize: STREAM_CHUNK }), write, end);
    return res.end(...(args as [Buffer]));
  } as ServerResponse['end'];
}

/**
 * The output chunk of a streamed gzip: each chunk is a thread-pool round trip, and large files
 * come in 256 KiB reads, so zlib's 16 KiB default would take several trips per read.
 */
const STREAM_CHUNK = 64 * 1024;

/** A whole body up to this size, given to `end` with nothing written before, is compressed in one call. */
const ONE_SHOT_MAX = 64 * 1024;

/**
 * nginx's gzip window for a body of `length` bytes (-1: unknown): windowBits and memLevel
 * shrink together while the body fits in half the window (less zlib's 262 bytes), so a small
 * body does not pay for 256 KiB of deflate state.
 */
export function deflateOptions(level: number, length: number): zlib.ZlibOptions {
  let windowBits = 15;
  let memLevel = 8;
  if (length > 0) {
    while (windowBits > 9 && length < (1 << (windowBits - 1)) - 262) {
      windowBits--;
      memLevel--;
    }
  }
  return { level, windowBits, memLevel: Math.max(1, memLevel) };
}

/**
 * `end(body)` as the response's first and only body write: compresses it in one synchronous
 * call (no stream, no thread pool) with the window sized to it, or takes the gzip made before
 * of a body that never changes (a file in the open file cache). False when the body is not a
 * small Buffer or string (the stream takes it).
 */
function endWhole(res: ServerResponse, options: zlib.ZlibOptions, end: ServerResponse['end'], args: unknown[]): boolean {
  let [chunk, encoding, cb] = args;
  if (typeof chunk === 'function') [cb, chunk] = [chunk, undefined];
  if (typeof encoding === 'function') [cb, encoding] = [encoding, undefined];
  let body: Buffer;
  if (chunk === undefined || chunk === null) body = Buffer.alloc(0);
  else if (typeof chunk === 'string') body = Buffer.from(chunk, (encoding as BufferEncoding) ?? 'utf8');
  else if (Buffer.isBuffer(chunk)) body = chunk;
  else return false;
  if (body.length > ONE_SHOT_MAX) return false;
  let compressed: Buffer;
  const level = options.level ?? -1;
  try {
    compressed = gzipOf(body, level, () => zlib.gzipSync(body, deflateOptions(level, body.length)));
  } catch {
    res.destroy();
    return true;
  }
  if (typeof cb === 'function') res.once('finish', cb as () => void);
  (end as (c: Buffer) => void).call(res, compressed);
  return true;
}

/**
 * What nginx's range and header filters do last, whoever made the response: Last-Modified
 * only on 200, 206 and 304, a 204 without Content-Type and Content-Length, and no
 * Accept-Ranges on a page whose status `error_page` set to another than 200 (a handler's own
 * Accept-Ranges on another status, a proxied 206, is kept as nginx keeps an upstream's).
 */
function finalHeaders(res: ServerResponse, status: number, overridden: boolean): void {
  if (overridden && status !== 200) res.removeHeader('accept-ranges');
  if (status !== 200 && status !== 206 && status !== 304) res.removeHeader('last-modified');
  if (status === 204) {
    res.removeHeader('content-type');
    res.removeHeader('content-length');
  }
}

function setHeaders(res: ServerResponse, headers: OutgoingHttpHeaders | unknown[]): void {
  if (Array.isArray(headers)) {
    const flat = Array.isArray(headers[0]) ? (headers as [string, string][]).flat() : (headers as string[]);
    for (let i = 0; i + 1 < flat.length; i += 2) res.appendHeader(String(flat[i]), String(flat[i + 1]));
    return;
  }
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) res.setHeader(name, value);
}

/**
 * nginx's gzip header filter: decides, and rewrites the headers when the body is compressed
 * (a HEAD gets the headers a GET would).
 */
function gzipWanted(req: IncomingMessage, res: ServerResponse, conf: FilterConf, status: number): boolean {
  if (!GZIP_STATUSES.has(status) || res.hasHeader('content-encoding')) return false;
  const length = res.getHeader('content-length');
  if (!gzipApplies(conf, String(res.getHeader('content-type') ?? ''), length === undefined ? null : Number(length))) return false;
  if (conf.gzipVary) varyWanted.add(res);
  if (!gzipOk(req, conf.gzipOk)) return false;
  res.removeHeader('content-length');
  res.removeHeader('accept-ranges');
  res.setHeader('Content-Encoding', 'gzip');
  const etag = res.getHeader('etag');
  if (typeof etag === 'string' && !etag.startsWith('W/')) res.setHeader('ETag', `W/${etag}`);
  return true;
}

/** The gzip filter's type and length checks (the status being one it compresses). */
function gzipApplies(conf: FilterConf, contentType: string, length: number | null): boolean {
  if (length !== null && length < conf.gzipMinLength) return false;
  const type = contentType.split(';')[0].trim().toLowerCase();
  return conf.gzipAnyType || conf.gzipTypes.has(type);
}

/**
 * Whether the gzip filter will compress a 200 of this type and length for this request: a
 * handler that serves ranges asks first, since nginx's gzip filter turns ranges off (the
 * range filter comes after it), so a Range is ignored for a response that gets compressed.
 */
export function willCompress(req: IncomingMessage, conf: FilterConf, contentType: string, length: number): boolean {
  return conf.gzip && gzipApplies(conf, contentType, length) && gzipOk(req, conf.gzipOk);
}

/**
 * From now on the body goes through `gzip` into the response's own `write`/`end`, keeping the
 * writer's backpressure (`write` returns false while gzip's buffer is full; `drain` follows).
 */
function route(res: ServerResponse, gzip: zlib.Gzip, write: ServerResponse['write'], end: ServerResponse['end']): void {
  const rawWrite = (chunk: Buffer) => (write as (c: Buffer) => boolean).call(res, chunk);
  gzip.on('data', (chunk: Buffer) => {
    if (!rawWrite(chunk)) gzip.pause();
  });
  res.on('drain', () => gzip.resume());
  gzip.on('drain', () => res.emit('drain'));
  gzip.on('end', () => (end as () => void).call(res));
  gzip.on('error', () => res.destroy());
  res.on('close', () => gzip.destroy());
  res.write = function (chunk: unknown, encoding?: unknown, cb?: unknown) {
    if (typeof encoding === 'function') [cb, encoding] = [encoding, undefined];
    return gzip.write(chunk as Buffer, (encoding as BufferEncoding) ?? 'utf8', cb as () => void);
  } as ServerResponse['write'];
  res.end = function (chunk?: unknown, encoding?: unknown, cb?: unknown) {
    if (typeof chunk === 'function') [cb, chunk] = [chunk, undefined];
    if (typeof encoding === 'function') [cb, encoding] = [encoding, undefined];
    if (typeof cb === 'function') res.once('finish', cb as () => void);
    if (chunk !== undefined && chunk !== null) gzip.end(chunk as Buffer, (encoding as BufferEncoding) ?? 'utf8');
    else gzip.end();
    return res;
  } as ServerResponse['end'];
}
