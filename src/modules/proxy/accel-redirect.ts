/**
 * The upstream's `X-Accel-Redirect` (ngx_http_upstream_process_headers): the response is not
 * passed on; the request is redirected internally to the URI it names (its own args or none;
 * `@name`: a named location, the args kept), as a GET unless it is a HEAD. The upstream's
 * Content-Type, Set-Cookie, Content-Disposition, Cache-Control, Expires and Accept-Ranges go
 * along to what answers there (nginx's headers with `redirect` set). An unsafe URI (`..`
 * segments, NUL, empty) is nginx's 404 with its error line.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, InternalRedirect } from '../../errors';
import type { Logger } from '../../types';
import { contextOf } from './upstream-errors';

/** The headers nginx copies to the redirected request's response (lower case). */
const CARRIED = new Set(['content-type', 'set-cookie', 'content-disposition', 'cache-control', 'expires', 'accept-ranges']);

/**
 * What the upstream's first `X-Accel-Redirect` asks for: the internal redirect, a 404 for an
 * unsafe URI, or null when there is none. The carried headers are set on `res`, and the
 * method made GET, as nginx does before redirecting.
 */
export function accelRedirectOf(raw: readonly string[], req: IncomingMessage, res: ServerResponse, log: Logger, context: string | (() => string)): InternalRedirect | HttpError | null {
  let target: string | null = null;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i].length === 16 && raw[i].toLowerCase() === 'x-accel-redirect') {
      target = raw[i + 1];
      break;
    }
  }
  if (target === null) return null;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (!CARRIED.has(name)) continue;
    if (name === 'content-type') res.setHeader(raw[i], raw[i + 1]);
    else res.appendHeader(raw[i], raw[i + 1]);
  }
  if (target.startsWith('@')) return new InternalRedirect(target, '');
  const query = target.indexOf('?');
  const path = query < 0 ? target : target.slice(0, query);
  const decoded = path.includes('%') ? unescape(path) : path;
  if (query === 0 || target === '' || unsafe(path) || (decoded !== path && unsafe(decoded))) {
    log.error(`unsafe URI "${path}" was detected${contextOf(context)}`);
    return new HttpError(404, 'GW_UNSAFE_ACCEL_REDIRECT');
  }
  if (req.method !== 'HEAD') req.method = 'GET';
  return new InternalRedirect(decoded, query < 0 ? '' : target.slice(query + 1));
}

/** ngx_http_parse_unsafe_uri's test: a leading `..` segment, a `/..` segment, or a NUL. */
function unsafe(path: string): boolean {
  return path.includes('\0') || /^\.\.(\/|$)/.test(path) || /\/\.\.(\/|$)/.test(path);
}

/** `%XX` escapes decoded as bytes (ngx_unescape_uri), the rest kept; read as UTF-8. */
function unescape(path: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < path.length; i++) {
    const hex = path.charCodeAt(i) === 0x25 ? path.slice(i + 1, i + 3) : '';
    if (/^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(path.charCodeAt(i) & 0xff);
    }
  }
  return Buffer.from(bytes).toString('utf8');
}
