/**
 * nginx's not_modified filter on a response served from the cache: a 200 whose ETag the
 * client's If-None-Match names (weakly), or whose Last-Modified is exactly its
 * If-Modified-Since (`if_modified_since exact`, the default), becomes a 304 without
 * Content-Type, Content-Length, Accept-Ranges or Content-Encoding; both validators, when both
 * are sent, must say so. An If-Match that does not name its ETag (strongly) or an
 * If-Unmodified-Since before its Last-Modified (or without one) fails the precondition: 412. Pure.
 */

type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>;

/** The response headers a 304 leaves out (lower case). */
export const NOT_MODIFIED_DROPPED = new Set(['content-type', 'content-length', 'accept-ranges', 'content-encoding']);

const single = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v.join(', ') : v);

/** Whether `etag` is in the If-Match / If-None-Match `list` (`*` names anything), weakly or strongly compared. */
function listNames(list: string, etag: string | null, weak: boolean): boolean {
  if (list.trim() === '*') return true;
  if (etag === null) return false;
  const strip = (t: string) => (weak && t.startsWith('W/') ? t.slice(2) : t);
  const own = strip(etag.trim());
  return list.split(',').some((item) => strip(item.trim()) === own);
}

/** Whether a cached 200 with these validators fails the request's If-Match or If-Unmodified-Since (nginx answers 412). */
export function failsPrecondition(status: number, headers: RequestHeaders, etag: string | null, lastModified: string | null): boolean {
  if (status !== 200) return false;
  const ius = single(headers['if-unmodified-since']);
  if (ius !== undefined) {
    const modified = lastModified === null ? NaN : Date.parse(lastModified);
    if (Number.isNaN(modified) || !(Date.parse(ius) >= modified)) return true;
  }
  const im = single(headers['if-match']);
  return im !== undefined && !listNames(im, etag, false);
}

/** Whether a cached response of `status` with these validators is answered 304 to a request with `headers`. */
export function isNotModified(status: number, headers: RequestHeaders, etag: string | null, lastModified: string | null): boolean {
  if (status !== 200) return false;
  const ims = single(headers['if-modified-since']);
  const inm = single(headers['if-none-match']);
  if (ims === undefined && inm === undefined) return false;
  if (ims !== undefined) {
    const modified = lastModified === null ? NaN : Date.parse(lastModified);
    // nginx: an unknown Last-Modified, or one not exactly the date asked about, is modified.
    if (Number.isNaN(modified) || Date.parse(ims) !== modified) return false;
  }
  if (inm !== undefined && !listNames(inm, etag, true)) return false;
  return true;
}
