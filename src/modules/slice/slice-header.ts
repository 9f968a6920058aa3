/**
 * nginx's checks of a slice's response header (ngx_http_slice_header_filter): a 206, the ETag
 * of the first slice, a Content-Range that reads, with a complete length, for exactly the slice
 * asked for. A slice that passes moves the state to the next one; the error log line nginx
 * writes for one that does not.
 */
import type { IncomingMessage } from 'node:http';
import type { RequestContext } from '../../types';
import { parseContentRange, type ContentRange } from './ranges';
import type { SliceContext } from './slice-context';

/** A response's headers as `getHeaders()` gives them. */
export type Headers = Readonly<Record<string, string | string[] | number | undefined>>;

/** The slice read from a passing header, or nginx's error text. */
export type SliceCheck = { readonly ok: true; readonly range: ContentRange } | { readonly ok: false; readonly error: string };

/** One header value as a string (the first of several), or undefined. */
export function headerString(headers: Headers, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value[0] : String(value);
}

/** Checks a slice's header (`status` a 206 already) against the state, and moves the state on when it passes. */
export function checkSlice(slice: SliceContext, headers: Headers): SliceCheck {
  const etag = headerString(headers, 'etag');
  if (slice.etag !== undefined && etag !== slice.etag) return { ok: false, error: 'etag mismatch in slice response' };
  if (etag !== undefined) slice.etag = etag;
  const range = parseContentRange(headerString(headers, 'content-range'));
  if (!range) return { ok: false, error: 'invalid range in slice response' };
  if (range.complete === -1) return { ok: false, error: 'no complete length in slice response' };
  const end = Math.min(range.start + slice.size, range.complete);
  // nginx 1.22's line names the range received (its end exclusive), not the one expected.
  if (range.start !== slice.start || range.end !== end) return { ok: false, error: `unexpected range in slice response: ${range.start}-${range.end}` };
  slice.start = end;
  slice.active = true;
  return { ok: true, range };
}

/** A slice subrequest's status other than 206: nginx's line. */
export function unexpectedStatus(status: number): string {
  return `unexpected status code ${status} in slice response`;
}

/**
 * nginx's error line for a slice: `MESSAGE while ACTION, client: ..., server: ..., request:
 * "...", subrequest: "/uri", host: "..."` (no subrequest for the main request's own slice).
 */
export function logSliceError(ctx: RequestContext, message: string, action: string, subrequestUri: string | null): void {
  const main: IncomingMessage = ctx.mainRequest;
  const host = main.headers.host;
  ctx.log.error(
    `${message} while ${action}, client: ${ctx.remoteAddress || 'unix:'}, server: ${ctx.server.primaryName}, ` +
      `request: "${main.method} ${main.url} HTTP/${main.httpVersion}"${subrequestUri === null ? '' : `, subrequest: "${subrequestUri}"`}${host ? `, host: "${host}"` : ''}`,
  );
}
