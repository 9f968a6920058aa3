/**
 * nginx's checks of a request's head that Node's parser does not make, in nginx's order:
 * the request line (its length, its HTTP version), the header lines (their length, a second
 * copy of a header nginx keeps one of), then the head as a whole (`Transfer-Encoding`,
 * `TRACE`). Each throws the HttpError nginx answers with.
 */
import type { IncomingMessage } from 'node:http';
import { HttpError } from './errors';

/**
 * nginx's `large_client_header_buffers 4 8k`: a request line or a header line, with its CRLF,
 * must fit one 8 KiB buffer. The longest line, without its CRLF.
 */
export const MAX_LINE = 8190;

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
 * The request line: longer than a buffer is 414; an HTTP major version of 0 is 400 (nginx
 * wants a first digit from 1 to 9), above 1 is 505.
 */
export function checkRequestLine(req: IncomingMessage): void {
  const length = (req.method ?? '').length + 1 + (req.url ?? '').length + ' HTTP/x.y'.length;
  if (length > MAX_LINE) throw new HttpError(414, 'GW_URI_TOO_LONG', 'client sent too long URI');
  if (req.httpVersionMajor === 0) throw new HttpError(400, 'GW_BAD_VERSION', 'client sent invalid request');
  if (req.httpVersionMajor > 1) throw new HttpError(505, 'GW_BAD_VERSION', 'client sent invalid version');
}

/**
 * The header lines, in order: one longer than a buffer is nginx's 494 (a 400 page saying
 * "Request Header Or Cookie Too Large"); a unique header sent twice is 400.
 */
export function checkHeaderLines(req: IncomingMessage): void {
  const seen = new Set<string>();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (raw[i].length + 2 + raw[i + 1].length > MAX_LINE) {
      throw new HttpError(494, 'GW_HEADER_TOO_LARGE', 'client sent too long header line');
    }
    if (!UNIQUE_HEADERS.has(name)) continue;
    if (seen.has(name)) throw new HttpError(400, 'GW_DUPLICATE_HEADER', `client sent duplicate header line: "${raw[i]}"`);
    seen.add(name);
  }
}

/**
 * The head as a whole (nginx's ngx_http_process_request_header, after Host): a
 * `Transfer-Encoding` on HTTP/1.0 is 400, one other than `chunked` 501; `TRACE` is 405.
 */
export function checkRequestHead(req: IncomingMessage): void {
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) {
    if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0) {
      throw new HttpError(400, 'GW_BAD_TRANSFER_ENCODING', 'client sent HTTP/1.0 request with "Transfer-Encoding" header');
    }
    if (!/^chunked$/i.test(te)) throw new HttpError(501, 'GW_BAD_TRANSFER_ENCODING', `client sent unknown "Transfer-Encoding": "${te}"`);
  }
  if (req.method === 'TRACE') throw new HttpError(405, 'GW_TRACE', 'client sent TRACE method');
}
