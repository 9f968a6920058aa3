/**
 * Pure HTTP helpers of the static handler, each as nginx does it: entity tags, HTTP dates,
 * the conditional-request checks of ngx_http_not_modified_filter_module, the absolute
 * directory redirect, percent-encoding, and nginx's wording of system errors.
 */
import { parseHttpDate } from '../../http/dates';
import { absoluteUrl } from '../../http/redirect';
import type { IncomingHttpHeaders } from 'node:http';
import type { MimeTypes } from '../../config/mime';

/** What conditional requests compare against: the file's mtime (seconds) and its ETag. */
export interface Validators {
  readonly mtime: number;
  /** The ETag, or null when `etag off`. */
  readonly etag: string | null;
}

/** nginx's ETag: `"<mtime seconds in hex>-<size in hex>"`. */
export function makeEtag(mtime: number, size: number): string {
  return `"${mtime.toString(16)}-${size.toString(16)}"`;
}

/**
 * Whether an `If-Match`/`If-None-Match` list names `etag`: `*` matches any; with `weak`
 * (If-None-Match) a `W/` prefix is ignored. No ETag (`etag off`) never matches, as in nginx.
 */
export function etagListMatches(header: string, etag: string | null, weak: boolean): boolean {
  if (etag === null) return false;
  if (header.trim() === '*') return true;
  for (const item of header.split(',')) {
    let tag = item.trim();
    if (weak && tag.startsWith('W/')) tag = tag.slice(2);
    if (tag === etag) return true;
  }
  return false;
}

/** The outcome of the conditional headers: serve, answer 304, or answer 412. */
export type Precondition = 'serve' | 'not-modified' | 'failed';

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}

/**
 * nginx's conditional requests: a failing If-Unmodified-Since or If-Match is 412; then, when
 * If-Modified-Since or If-None-Match is present, 304 only if every one of them present says
 * "not modified" (nginx checks both; a stale If-Modified-Since beside a matching
 * If-None-Match serves the file). `ims` is the `if_modified_since` directive.
 */
export function checkPreconditions(
  headers: IncomingHttpHeaders,
  v: Validators,
  ims: 'off' | 'exact' | 'before',
): Precondition {
  const ius = header(headers, 'if-unmodified-since');
  if (ius !== undefined) {
    const date = parseHttpDate(ius);
    if (date === null || date < v.mtime) return 'failed';
  }
  const ifMatch = header(headers, 'if-match');
  if (ifMatch !== undefined && !etagListMatches(ifMatch, v.etag, false)) return 'failed';
  const ifModifiedSince = header(headers, 'if-modified-since');
  const ifNoneMatch = header(headers, 'if-none-match');
  if (ifModifiedSince === undefined && ifNoneMatch === undefined) return 'serve';
  if (ifModifiedSince !== undefined && modifiedSince(ifModifiedSince, v.mtime, ims)) return 'serve';
  if (ifNoneMatch !== undefined && !etagListMatches(ifNoneMatch, v.etag, true)) return 'serve';
  return 'not-modified';
}

function modifiedSince(value: string, mtime: number, mode: 'off' | 'exact' | 'before'): boolean {
  if (mode === 'off') return true;
  const date = parseHttpDate(value);
  if (date === mtime) return false;
  return mode === 'exact' || date === null || date < mtime;
}

/**
 * Whether `If-Range` lets the Range header apply: a date must equal the mtime exactly, an
 * entity tag must equal the ETag exactly (a strong comparison). Absent: ranges apply.
 */
export function ifRangeAllows(value: string | undefined, v: Validators): boolean {
  if (value === undefined) return true;
  const date = parseHttpDate(value);
  if (date !== null) return date === v.mtime;
  return v.etag !== null && value.trim() === v.etag;
}

/**
 * The Content-Type for a URI, as nginx picks it: the text after the last dot of the last
 * segment, lower-cased, looked up in `types`; else `defaultType`.
 */
export function contentTypeFor(uri: string, types: MimeTypes, defaultType: string): string {
  const name = uri.slice(uri.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  if (dot < 0) return defaultType;
  const ext = name.slice(dot + 1).toLowerCase();
  return (ext && types.get(ext)) || defaultType;
}

const HEX = '0123456789ABCDEF';

/** Percent-encodes the UTF-8 bytes of `text` that `keep` does not accept, as `%XX`. */
export function percentEncode(text: string, keep: (byte: number) => boolean): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += keep(byte) ? String.fromCharCode(byte) : `%${HEX[byte >> 4]}${HEX[byte & 15]}`;
  }
  return out;
}

const isUnreserved = (b: number) =>
  (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || '-._~'.includes(String.fromCharCode(b));

/** A URI component as nginx escapes one (autoindex links): all but `A-Za-z0-9-._~`. */
export const isComponentByte = isUnreserved;

/** A URI path: unreserved characters, sub-delimiters, `:`, `@` and `/` stay. */
export function isPathByte(b: number): boolean {
  return isUnreserved(b) || "!$&'()*+,;=:@/".includes(String.fromCharCode(b));
}

/**
 * The absolute redirect for a directory asked for without its slash, nginx's
 * `absolute_redirect on` with `port_in_redirect on` (see src/redirect.ts). The (decoded) URI is percent-encoded again; the query string is kept.
 */
export function directoryRedirect(scheme: string, host: string, port: string, uri: string, args: string): string {
  return absoluteUrl(scheme, host, port, directoryPath(uri, args));
}

/** The path a directory asked for without its slash is redirected to: the URI percent-encoded again, a slash, the query string. */
export function directoryPath(uri: string, args: string): string {
  return `${percentEncode(uri, isPathByte)}/${args ? `?${args}` : ''}`;
}
