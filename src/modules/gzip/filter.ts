/**
 * The gzip module's response filter (nginx's ngx_http_gzip_filter_module): whether a response
 * is compressed (its status, type, length, `gzip_*` and the request, `gzip-ok.ts`), the
 * headers that then change, and the deflate stream or one-shot compression its body goes
 * through; `Vary: Accept-Encoding` under `gzip_vary`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import zlib from 'node:zlib';
import { gzipOf } from '../../shared/immutable-bodies';
import type { BodyTransform, LocationModule, ResponseFilter } from '../../types';
import { compileGzipOk, gzipOk, type GzipOkConf } from './gzip-ok';
import { gzipModule } from './module';

/** Statuses nginx compresses. */
const GZIP_STATUSES = new Set([200, 403, 404]);

/** A whole body up to this size, given to `end` with nothing written before, is compressed in one call. */
const ONE_SHOT_MAX = 64 * 1024;

/**
 * The output chunk of a streamed gzip: each chunk is a thread-pool round trip, and large files
 * come in 256 KiB reads, so zlib's 16 KiB default would take several trips per read.
 */
const STREAM_CHUNK = 64 * 1024;

/** What the filter needs of a location, compiled once at start. */
interface GzipFilterConf {
  readonly gzip: boolean;
  readonly minLength: number;
  readonly types: ReadonlySet<string>;
  readonly anyType: boolean;
  readonly level: number;
  readonly vary: boolean;
  /** `gzip_http_version`, `gzip_proxied`, `gzip_disable`. */
  readonly ok: GzipOkConf;
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

/** The last Content-Type looked at, and its media type: a worker's responses carry a handful of types, mostly the same. */
let lastType = { contentType: '', mediaType: '' };

/** `text/html; charset=utf-8` -> `text/html`. */
function mediaTypeOf(contentType: string): string {
  if (contentType !== lastType.contentType) lastType = { contentType, mediaType: contentType.split(';')[0].trim().toLowerCase() };
  return lastType.mediaType;
}

/** The filter's type and length checks (the status being one it compresses). */
function applies(conf: GzipFilterConf, contentType: string, length: number | null): boolean {
  if (length !== null && length < conf.minLength) return false;
  return conf.anyType || conf.types.has(mediaTypeOf(contentType));
}

/**
 * nginx's gzip header filter: decides, and rewrites the headers when the body is compressed
 * (a HEAD gets the headers a GET would).
 */
function wanted(req: IncomingMessage, res: ServerResponse, conf: GzipFilterConf, status: number): boolean {
  if (!GZIP_STATUSES.has(status) || res.hasHeader('content-encoding')) return false;
  // Without gzip_vary nothing else comes of the type and length when the client cannot have gzip.
  if (!conf.vary && !gzipOk(req, conf.ok)) return false;
  const length = res.getHeader('content-length');
  if (!applies(conf, String(res.getHeader('content-type') ?? ''), length === undefined ? null : Number(length))) return false;
  if (conf.vary) varyWanted.add(res);
  if (!gzipOk(req, conf.ok)) return false;
  res.removeHeader('content-length');
  res.removeHeader('accept-ranges');
  res.setHeader('Content-Encoding', 'gzip');
  const etag = res.getHeader('etag');
  if (typeof etag === 'string' && !etag.startsWith('W/')) res.setHeader('ETag', `W/${etag}`);
  return true;
}

/** The compression of one response: a small whole body in one synchronous call (or its gzip made before), else a stream. */
function gzipTransform(level: number, declared: number): BodyTransform {
  const options = deflateOptions(level, declared);
  return {
    whole: (body) => (body.length > ONE_SHOT_MAX ? null : gzipOf(body, level, () => zlib.gzipSync(body, deflateOptions(level, body.length)))),
    stream: () => zlib.createGzip({ ...options, chunkSize: STREAM_CHUNK }),
    // The window follows the declared length, which is the file's own size when a file is kept.
    key: `gzip:${level}`,
  };
}

export const gzipFilter: LocationModule = {
  name: 'gzip',
  filter(location): ResponseFilter | null {
    const c = location.confs.get(gzipModule);
    if (!c.gzip && !c.gzipVary) return null;
    const conf: GzipFilterConf = {
      gzip: c.gzip,
      minLength: c.gzipMinLength,
      types: new Set(['text/html', ...c.gzipTypes.map((t) => t.toLowerCase())]),
      anyType: c.gzipTypes.includes('*'),
      level: c.gzipCompLevel,
      vary: c.gzipVary,
      ok: compileGzipOk(c),
    };
    return {
      name: c.gzip ? 'gzip' : 'gzip: vary',
      // A client that cannot have gzip keeps Node's own write and end (and its Content-Length).
      mayTransform: (req) => conf.gzip && gzipOk(req, conf.ok),
      header(res, status, req) {
        let transform: BodyTransform | null = null;
        if (conf.gzip) {
          const declared = res.getHeader('content-length');
          if (wanted(req, res, conf, status) && req.method !== 'HEAD') transform = gzipTransform(conf.level, declared === undefined ? -1 : Number(declared));
        }
        if (conf.vary && varyWanted.has(res)) res.appendHeader('Vary', 'Accept-Encoding');
        return transform;
      },
      transforms: (req, contentType, length) => conf.gzip && applies(conf, contentType, length) && gzipOk(req, conf.ok),
    };
  },
};
