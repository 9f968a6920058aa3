/**
 * nginx's checks of a request's head that Node's parser does not make, in nginx's order:
 * the request line (its length, its HTTP version), the header lines (each must fit nginx's
 * header buffers, at most `MAX_HEADERS` of them, a second copy of a header nginx keeps one of),
 * then the head as a whole (`Content-Length`, `Transfer-Encoding`, `TRACE`). Each throws the
 * HttpError nginx answers with.
 */
import { isHttp2 } from './http2-messages';
import type { IncomingMessage } from 'node:http';
import { HttpError } from '../errors';

/**
 * nginx's `large_client_header_buffers 4 8k`: a request line or a header line, with its CRLF,
 * must fit one 8 KiB buffer. The longest line, without its CRLF (with the default buffers).
 */
export const MAX_LINE = 8190;

/** nginx's header buffers: `client_header_buffer_size` (`first`) and `large_client_header_buffers` (`count` of `large` bytes). */
export interface HeaderBufferSizes {
  readonly first: number;
  readonly large: number;
  readonly count: number;
}

/** nginx's defaults: `client_header_buffer_size 1k`, `large_client_header_buffers 4 8k`. */
export const DEFAULT_HEADER_BUFFERS: HeaderBufferSizes = { first: 1024, large: 8192, count: 4 };

/**
 * The most bytes a request head can take in nginx's buffers. Node's parser is given this as its
 * limit (it counts fewer bytes than the head has: the target, names and values), so that what
 * it lets through is decided here, line by line, as nginx decides.
 */
export const headBytes = (sizes: HeaderBufferSizes): number => Math.max(sizes.first, 0) + sizes.count * sizes.large;

/** The longest request or header line, without its CRLF: one large buffer. */
export const maxLine = (sizes: HeaderBufferSizes): number => sizes.large - 2;

/** `headBytes` of nginx's defaults. */
export const MAX_HEAD_BYTES = headBytes(DEFAULT_HEADER_BUFFERS);

/**
 * The header lines a request may have: nginx 1.22 as Debian ships it (and nginx since 1.27.0)
 * answers the 1001st with 494, "client sent too many header lines" (`max_headers 1000`).
 */
export const MAX_HEADERS = 1000;

/** How a server reads a request's head: nginx's `merge_slashes`, and the header names it keeps. */
export interface HeadRules {
  readonly mergeSlashes: boolean;
  /** The names of headers that count (`ignore_invalid_headers on`); null keeps every header (`off`). */
  readonly validName: RegExp | null;
  /** `client_header_buffer_size` and `large_client_header_buffers`. */
  readonly buffers: HeaderBufferSizes;
}

/** A header name nginx finds valid: letters, digits and `-` (ngx_http_parse_header_line). */
export const VALID_NAME = /^[A-Za-z0-9-]+$/;
/** The same with `underscores_in_headers on`. */
export const VALID_WITH_UNDERSCORE = /^[A-Za-z0-9_-]+$/;

/**
 * Drops the header lines whose name `validName` refuses, as nginx ignores them (`ignore_invalid_headers
 * on`): no `$http_` variable, not passed to a backend. Leaves the request as it is when all are valid.
 */
export function dropInvalidHeaders(req: IncomingMessage, validName: RegExp): void {
  const raw = req.rawHeaders;
  let kept: string[] | null = null;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (validName.test(raw[i])) {
      kept?.push(raw[i], raw[i + 1]);
      continue;
    }
    kept ??= raw.slice(0, i);
    delete req.headers[raw[i].toLowerCase()];
  }
  if (kept) req.rawHeaders = kept;
}

/** The headers nginx refuses to see twice (ngx_http_process_unique_header_line, Host). */
const UNIQUE_HEADERS = new Set([
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'if-match',
  'if-none-match',
  'content-length',
  'content-range',
  'if-range',
  'transfer-encoding',
  'expect',
  'authorization',
]);

/**
 * nginx's header buffers as it fills them (ngx_http_alloc_large_header_buffer): the head is
 * read into a 1 KiB buffer; a line that does not fit the buffer it started in moves whole to a
 * new 8 KiB one, and there are 4 of those. A line never spans two buffers, so what a head may
 * hold depends on where its lines fall, not only on its size: 4 lines of 4100 bytes fit,
 * 5 do not, though 32 lines of 1000 bytes do.
 */
export class HeaderBuffers {
  /** Where the current buffer starts in the head, and its size. */
  private start = 0;
  private size: number;
  private large = 0;
  /** The head's bytes taken so far: where the next line starts. */
  private at = 0;

  constructor(private readonly sizes: HeaderBufferSizes = DEFAULT_HEADER_BUFFERS) {
    this.size = sizes.first;
  }

  /** Takes the next line, `length` bytes with its CRLF; false when nginx has no buffer left for it. */
  take(length: number): boolean {
    const end = this.at + length;
    while (end > this.start + this.size) {
      // Full while reading this line: nginx moves what it has of the line to a new buffer,
      // unless that part alone fills one, or all 4 are taken.
      if (this.start + this.size - this.at >= this.sizes.large || this.large === this.sizes.count) return false;
      this.large++;
      this.start = this.at;
      this.size = this.sizes.large;
    }
    this.at = end;
    return true;
  }
}

/**
 * The request line: longer than a buffer is 414; an HTTP major version of 0 is 400 (nginx
 * wants a first digit from 1 to 9), above 1 is 505.
 */
export function checkRequestLine(req: IncomingMessage, sizes: HeaderBufferSizes = DEFAULT_HEADER_BUFFERS): void {
  if (isHttp2(req)) return checkPseudoHeaders(req);
  const length = (req.method ?? '').length + 1 + (req.url ?? '').length + ' HTTP/x.y'.length;
  if (length > maxLine(sizes)) throw new HttpError(414, 'GW_URI_TOO_LONG', 'client sent too long URI');
  if (req.httpVersionMajor === 0) throw new HttpError(400, 'GW_BAD_VERSION', 'client sent invalid request');
  if (req.httpVersionMajor > 1 && !isHttp2(req)) throw new HttpError(505, 'GW_BAD_VERSION', 'client sent invalid version');
}

/** The methods nginx knows by name; any other must be capital letters, `_` and `-` (ngx_http_v2_parse_method). */
const KNOWN_METHODS = new Set(['GET', 'POST', 'HEAD', 'OPTIONS', 'PROPFIND', 'PUT', 'MKCOL', 'DELETE', 'COPY', 'MOVE', 'PROPPATCH', 'LOCK', 'UNLOCK', 'PATCH', 'TRACE', 'CONNECT']);
const OTHER_METHOD = /^[A-Z_-]+$/;

/**
 * An HTTP/2 request's pseudo-headers, as nginx 1.22 checks what nghttp2 lets through (it
 * refuses a missing, empty, repeated or unknown one itself, resetting the stream): a CONNECT
 * without `:protocol` carries neither `:scheme` nor `:path`, and nginx, which builds a request
 * line from both, answers 400; a method in lower case is 400 too. The `:path`'s length is no
 * 414 here: nginx limits it as any header field (large_client_header_buffers, the session's check).
 */
function checkPseudoHeaders(req: IncomingMessage & { pseudo: { method: string; path: string; scheme: string | undefined } }): void {
  const { method, path, scheme } = req.pseudo;
  if (!KNOWN_METHODS.has(method) && !OTHER_METHOD.test(method)) throw new HttpError(400, 'GW_BAD_PSEUDO_HEADER', `client sent invalid method: "${method}"`);
  if (scheme === undefined) throw new HttpError(400, 'GW_BAD_PSEUDO_HEADER', 'client sent no :scheme header');
  if (path === '') throw new HttpError(400, 'GW_BAD_PSEUDO_HEADER', 'client sent no :path header');
}

/**
 * The header lines, in the order nginx reads them, each taken as `Name: value` with its CRLF
 * (Node hands over names and trimmed values, not the bytes): one longer than a buffer, or one
 * for which nginx's buffers have no room left, is nginx's 494 (a 400 page saying "Request
 * Header Or Cookie Too Large"), and so is line 1001; a unique header sent twice is 400. A name
 * `validName` refuses is a line nginx reads and ignores (`ignore_invalid_headers on`; `_` with
 * `underscores_in_headers off`): it takes buffer room but is not counted. An HTTP/2 request's
 * fields fill no buffers (nginx limits them field by field, see src/server/http2-sessions.ts):
 * only the count and the unique headers apply.
 */
export function checkHeaderLines(req: IncomingMessage, validName: RegExp | null = VALID_NAME, sizes: HeaderBufferSizes = DEFAULT_HEADER_BUFFERS): void {
  // HTTP/2's fields fill no buffers: nginx limits each field and the list (the session's check).
  const http2 = isHttp2(req);
  const buffers = new HeaderBuffers(http2 ? { first: Infinity, large: Infinity, count: 0 } : sizes);
  const longest = http2 ? Infinity : maxLine(sizes);
  buffers.take((req.method ?? '').length + 1 + (req.url ?? '').length + ' HTTP/x.y\r\n'.length);
  const seen = new Set<string>();
  const raw = req.rawHeaders;
  let counted = 0;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const length = raw[i].length + 2 + raw[i + 1].length;
    if (length > longest || !buffers.take(length + 2)) {
      throw new HttpError(494, 'GW_HEADER_TOO_LARGE', 'client sent too long header line');
    }
    if (validName && !validName.test(raw[i])) continue;
    if (++counted > MAX_HEADERS) throw new HttpError(494, 'GW_TOO_MANY_HEADERS', 'client sent too many header lines');
    const name = raw[i].toLowerCase();
    if (!UNIQUE_HEADERS.has(name)) continue;
    if (seen.has(name)) throw new HttpError(400, 'GW_DUPLICATE_HEADER', `client sent duplicate header line: "${raw[i]}"`);
    seen.add(name);
  }
  // The empty line that ends the head needs its room too.
  if (!http2 && !buffers.take(2)) throw new HttpError(494, 'GW_HEADER_TOO_LARGE', 'client sent too large request');
}

/**
 * What nginx sees of a header value that Node's parser trimmed: nginx strips only spaces
 * around a value, so a tab there is part of it. Given the header's name, whether its line in
 * the request's bytes had a tab before or after the value (see raw-head.ts).
 */
export type TabPadding = (name: string) => boolean;

/**
 * The head as a whole (nginx's ngx_http_process_request_header, after Host): a
 * `Content-Length` that nginx cannot read as a number (a tab before it) is 400; a
 * `Transfer-Encoding` on HTTP/1.0 is 400, one other than `chunked` (a tab around it included)
 * 501; `TRACE` is 405.
 */
export function checkRequestHead(req: IncomingMessage, tabPadded: TabPadding | null = null): void {
  if (req.headers['content-length'] !== undefined && tabPadded?.('content-length')) {
    throw new HttpError(400, 'GW_BAD_CONTENT_LENGTH', 'client sent invalid "Content-Length" header');
  }
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) {
    if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0) {
      throw new HttpError(400, 'GW_BAD_TRANSFER_ENCODING', 'client sent HTTP/1.0 request with "Transfer-Encoding" header');
    }
    if (!/^chunked$/i.test(te) || tabPadded?.('transfer-encoding')) {
      throw new HttpError(501, 'GW_BAD_TRANSFER_ENCODING', `client sent unknown "Transfer-Encoding": "${te}"`);
    }
  }
  if (req.method === 'TRACE') throw new HttpError(405, 'GW_TRACE', 'client sent TRACE method');
}
