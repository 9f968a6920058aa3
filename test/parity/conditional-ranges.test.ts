/**
 * Parity: validators and partial content on a static file. ETag and Last-Modified,
 * If-None-Match, If-Modified-Since, If-Match, If-Unmodified-Since, If-Range, and byte ranges:
 * single, suffix, open-ended, unsatisfiable, malformed, several (multipart, compared with the
 * boundary normalized), with HEAD.
 */
import { defineParityCases, FIXED_DATE, type ParityCase, type ParityRequest } from './run';
import { loc } from './site';

/** 100 bytes: `0123456789` ten times. */
const DATA = '0123456789'.repeat(10);
/** nginx's ETag of a 100-byte file with the fixed mtime. */
const ETAG = '"6553f100-64"';
const EARLIER = 'Tue, 14 Nov 2023 22:13:19 GMT';
const LATER = 'Tue, 14 Nov 2023 22:13:21 GMT';

/** A GET of /data.txt with `headers`. */
const get = (name: string, headers: Record<string, string>, extra: Partial<ParityRequest> = {}): ParityRequest => ({
  name,
  target: '/data.txt',
  headers,
  ...extra,
});

const site: ParityCase = {
  title: 'conditional requests and ranges',
  site: { servers: [{ directives: { root: 'www' }, locations: [loc('/'), loc('/before/', { if_modified_since: 'before' }), loc('/off/', { if_modified_since: 'off' })] }] },
  files: { 'www/data.txt': DATA, 'www/empty.txt': '', 'www/before/data.txt': DATA, 'www/off/data.txt': DATA },
  requests: [
    get('validators', {}),
    get('If-None-Match: the ETag', { 'If-None-Match': ETAG }),
    get('If-None-Match: the weak ETag', { 'If-None-Match': `W/${ETAG}` }),
    get('If-None-Match: a list holding it', { 'If-None-Match': `"x", ${ETAG}` }),
    get('If-None-Match: *', { 'If-None-Match': '*' }),
    get('If-None-Match: another tag', { 'If-None-Match': '"other"' }),
    get('If-None-Match, HEAD', { 'If-None-Match': ETAG }, { method: 'HEAD' }),
    get('If-None-Match on POST', { 'If-None-Match': ETAG, 'Content-Length': '0' }, { method: 'POST' }),
    get('If-Modified-Since: the mtime', { 'If-Modified-Since': FIXED_DATE }),
    get('If-Modified-Since: earlier', { 'If-Modified-Since': EARLIER }),
    get('If-Modified-Since: later (exact mode)', { 'If-Modified-Since': LATER }),
    get('If-Modified-Since: RFC 850 date', { 'If-Modified-Since': 'Tuesday, 14-Nov-23 22:13:20 GMT' }),
    get('If-Modified-Since: asctime date', { 'If-Modified-Since': 'Tue Nov 14 22:13:20 2023' }),
    get('If-Modified-Since: garbage', { 'If-Modified-Since': 'yesterday' }),
    get('If-Modified-Since later, if_modified_since before', { 'If-Modified-Since': LATER }, { target: '/before/data.txt' }),
    get('If-Modified-Since earlier, if_modified_since before', { 'If-Modified-Since': EARLIER }, { target: '/before/data.txt' }),
    get('If-Modified-Since, if_modified_since off', { 'If-Modified-Since': FIXED_DATE }, { target: '/off/data.txt' }),
    get('If-Modified-Since matches, If-None-Match does not', { 'If-Modified-Since': FIXED_DATE, 'If-None-Match': '"other"' }),
    get('If-None-Match matches, If-Modified-Since is stale', { 'If-Modified-Since': EARLIER, 'If-None-Match': ETAG }),
    get('If-Match: the ETag', { 'If-Match': ETAG }),
    get('If-Match: *', { 'If-Match': '*' }),
    get('If-Match: another tag', { 'If-Match': '"other"' }),
    get('If-Match: the weak ETag (strong comparison)', { 'If-Match': `W/${ETAG}` }),
    get('If-Unmodified-Since: the mtime', { 'If-Unmodified-Since': FIXED_DATE }),
    get('If-Unmodified-Since: earlier', { 'If-Unmodified-Since': EARLIER }),
    get('If-Unmodified-Since: later', { 'If-Unmodified-Since': LATER }),
    get('If-Unmodified-Since: garbage', { 'If-Unmodified-Since': 'never' }),
    get('If-Match fails before If-None-Match', { 'If-Match': '"other"', 'If-None-Match': ETAG }),
    get('range: first ten bytes', { Range: 'bytes=0-9' }),
    get('range: one byte', { Range: 'bytes=0-0' }),
    get('range: the last byte', { Range: 'bytes=99-99' }),
    get('range: suffix', { Range: 'bytes=-10' }),
    get('range: suffix longer than the file', { Range: 'bytes=-500' }),
    get('range: open-ended', { Range: 'bytes=90-' }),
    get('range: end past the file', { Range: 'bytes=95-200' }),
    get('range: the whole file', { Range: 'bytes=0-' }),
    get('range: unsatisfiable', { Range: 'bytes=100-200' }),
    get('range: unsatisfiable suffix', { Range: 'bytes=-0' }),
    get('range: reversed', { Range: 'bytes=9-0' }),
    get('range: not a number', { Range: 'bytes=a-b' }),
    get('range: empty set', { Range: 'bytes=' }),
    get('range: another unit', { Range: 'items=0-9' }),
    get('range: upper-case unit', { Range: 'Bytes=0-9' }),
    get('range: space after =', { Range: 'bytes= 0-9' }),
    get('range: spaces around the comma', { Range: 'bytes=0-1 , 5-6' }),
    get('range: trailing comma', { Range: 'bytes=0-9,' }),
    get('ranges: two, multipart', { Range: 'bytes=0-9,20-29' }),
    get('ranges: overlapping, multipart', { Range: 'bytes=0-9,5-14' }),
    get('ranges: out of order', { Range: 'bytes=50-59,0-9' }),
    get('ranges: one satisfiable of two', { Range: 'bytes=0-9,200-300' }),
    get('ranges: more than the file in all', { Range: 'bytes=0-99,0-99' }),
    get('ranges: multipart, HEAD', { Range: 'bytes=0-9,20-29' }, { method: 'HEAD' }),
    get('range, HEAD', { Range: 'bytes=0-9' }, { method: 'HEAD' }),
    get('range on an empty file', { Range: 'bytes=0-9' }, { target: '/empty.txt' }),
    get('If-Range: the ETag', { Range: 'bytes=0-9', 'If-Range': ETAG }),
    get('If-Range: another ETag', { Range: 'bytes=0-9', 'If-Range': '"other"' }),
    get('If-Range: the weak ETag', { Range: 'bytes=0-9', 'If-Range': `W/${ETAG}` }),
    get('If-Range: the date', { Range: 'bytes=0-9', 'If-Range': FIXED_DATE }),
    get('If-Range: another date', { Range: 'bytes=0-9', 'If-Range': LATER }),
    get('range and If-None-Match matching', { Range: 'bytes=0-9', 'If-None-Match': ETAG }),
    get('range and If-Match failing', { Range: 'bytes=0-9', 'If-Match': '"other"' }),
    get('range on HTTP/1.0', { Range: 'bytes=0-9' }, { version: 'HTTP/1.0' }),
  ],
};

defineParityCases([site]);
