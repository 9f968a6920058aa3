/**
 * The static handler's pure parts, as tables: HTTP helpers (static-http), response planning
 * (static-response), URI -> path mapping (static-path), and its `configure`.
 */
import { parseLocation, splitArgs } from '../src/config/values';
import { ConfigError } from '../src/errors';
import staticModule from '../src/modules/static/static';
import { httpDate, parseHttpDate } from '../src/http/dates';
import type { Template, VariableSource } from '../src/http/variables';
import { checkPreconditions, contentTypeFor, directoryRedirect, etagListMatches, ifRangeAllows, makeEtag } from '../src/modules/static/http';
import { compilePathTemplate, compileStaticPaths, mapUriToPath, staysUnder } from '../src/shared/document-path';
import { describeSystemError, statusForOpenError } from '../src/shared/system-errors';
import { multipartLayout, planResponse, selectRanges, type FileFacts } from '../src/modules/static/response';
import { configContext, staticLocation } from './helpers/static-conf';

const MTIME = Date.UTC(1994, 10, 6, 8, 49, 37) / 1000;
const LM = 'Sun, 06 Nov 1994 08:49:37 GMT';
const ETAG = makeEtag(MTIME, 20);

describe('validators', () => {
  test('ETag and Last-Modified as nginx writes them', () => {
    expect(makeEtag(0x6b04a46f, 21)).toBe('"6b04a46f-15"');
    expect(httpDate(MTIME)).toBe(LM);
  });

  test.each([
    [LM, MTIME],
    ['Sunday, 06-Nov-94 08:49:37 GMT', MTIME],
    ['Sun Nov  6 08:49:37 1994', MTIME],
    ['Thu, 01 Jan 1970 00:00:00 GMT', 0],
    ['Sun, 06 Nov 1994 25:49:37 GMT', null],
    ['yesterday', null],
    ['', null],
  ])('parseHttpDate(%j) = %j', (text, expected) => {
    expect(parseHttpDate(text)).toBe(expected);
  });

  test.each([
    ['"a"', '"a"', false, true],
    ['"b", "a"', '"a"', false, true],
    ['W/"a"', '"a"', false, false],
    ['W/"a"', '"a"', true, true],
    ['*', '"a"', false, true],
    ['*', null, false, false],
    ['"a"', null, true, false],
    ['"ab"', '"a"', true, false],
  ])('etagListMatches(%j, %j, weak %j) = %j', (header, etag, weak, expected) => {
    expect(etagListMatches(header, etag, weak)).toBe(expected);
  });
});

describe('checkPreconditions (nginx not_modified filter)', () => {
  const v = { mtime: MTIME, etag: ETAG };
  const later = httpDate(MTIME + 60);
  const earlier = httpDate(MTIME - 60);
  test.each([
    [{}, 'exact', 'serve'],
    [{ 'if-none-match': ETAG }, 'exact', 'not-modified'],
    [{ 'if-none-match': '"x"' }, 'exact', 'serve'],
    [{ 'if-modified-since': LM }, 'exact', 'not-modified'],
    [{ 'if-modified-since': later }, 'exact', 'serve'],
    [{ 'if-modified-since': later }, 'before', 'not-modified'],
    [{ 'if-modified-since': earlier }, 'before', 'serve'],
    [{ 'if-modified-since': LM }, 'off', 'serve'],
    [{ 'if-modified-since': 'garbage' }, 'before', 'serve'],
    [{ 'if-none-match': ETAG, 'if-modified-since': earlier }, 'exact', 'serve'],
    [{ 'if-none-match': ETAG, 'if-modified-since': LM }, 'exact', 'not-modified'],
    [{ 'if-match': '"x"' }, 'exact', 'failed'],
    [{ 'if-match': ETAG }, 'exact', 'serve'],
    [{ 'if-unmodified-since': earlier }, 'exact', 'failed'],
    [{ 'if-unmodified-since': LM }, 'exact', 'serve'],
    [{ 'if-unmodified-since': 'garbage' }, 'exact', 'failed'],
    [{ 'if-match': '"x"', 'if-none-match': ETAG }, 'exact', 'failed'],
  ] as const)('%j with if_modified_since %s -> %s', (headers, ims, expected) => {
    expect(checkPreconditions(headers, v, ims)).toBe(expected);
  });

  test('If-Range: a date must be exact, an entity tag strongly equal', () => {
    expect(ifRangeAllows(undefined, v)).toBe(true);
    expect(ifRangeAllows(LM, v)).toBe(true);
    expect(ifRangeAllows(later, v)).toBe(false);
    expect(ifRangeAllows(ETAG, v)).toBe(true);
    expect(ifRangeAllows(`W/${ETAG}`, v)).toBe(false);
    expect(ifRangeAllows(ETAG, { mtime: MTIME, etag: null })).toBe(false);
  });
});

describe('selectRanges', () => {
  test.each([
    [undefined, { kind: 'whole' }],
    ['bytes=0-4', { kind: 'ranges', ranges: [{ start: 0, end: 4 }] }],
    ['BYTES=0-4', { kind: 'ranges', ranges: [{ start: 0, end: 4 }] }],
    ['bytes=-5', { kind: 'ranges', ranges: [{ start: 15, end: 19 }] }],
    ['bytes=18-', { kind: 'ranges', ranges: [{ start: 18, end: 19 }] }],
    ['bytes=5-6,0-1', { kind: 'ranges', ranges: [{ start: 5, end: 6 }, { start: 0, end: 1 }] }],
    ['bytes=0-1,30-40', { kind: 'ranges', ranges: [{ start: 0, end: 1 }] }],
    ['bytes=20-', { kind: 'unsatisfiable' }],
    ['bytes=5-2', { kind: 'unsatisfiable' }],
    ['bytes=-0', { kind: 'unsatisfiable' }],
    ['bytes=-500', { kind: 'ranges', ranges: [{ start: 0, end: 19 }] }],
    ['bytes=', { kind: 'whole' }],
    ['bytes=0-1, bytes=2-3', { kind: 'ranges', ranges: [{ start: 0, end: 1 }] }],
    ['bytes=x-1', { kind: 'unsatisfiable' }],
    ['lines=0-1', { kind: 'whole' }],
    ['bytes=0-15,5-19', { kind: 'whole' }],
  ])('%j of 20 bytes', (header, expected) => {
    expect(selectRanges(header, 20)).toEqual(expected);
  });

  test('an empty file ignores ranges', () => {
    expect(selectRanges('bytes=0-', 0)).toEqual({ kind: 'whole' });
  });
});

describe('planResponse', () => {
  const file: FileFacts = { size: 20, mtime: MTIME, contentType: 'text/plain', etag: true, ifModifiedSince: 'exact' };
  const boundary = () => '00000000000000000007';

  test('200: nginx headers', () => {
    expect(planResponse({}, file, boundary)).toEqual({
      kind: 'body',
      status: 200,
      headers: { 'Content-Type': 'text/plain', 'Content-Length': '20', 'Last-Modified': LM, ETag: ETAG, 'Accept-Ranges': 'bytes' },
      range: null,
    });
  });

  test('304 keeps only the validators; etag off drops ETag', () => {
    expect(planResponse({ 'if-modified-since': LM }, file, boundary)).toEqual({
      kind: 'not-modified',
      headers: { 'Last-Modified': LM, ETag: ETAG },
    });
    expect(planResponse({ 'if-modified-since': LM }, { ...file, etag: false }, boundary)).toEqual({
      kind: 'not-modified',
      headers: { 'Last-Modified': LM },
    });
  });

  test('conditions come before ranges; If-Range mismatch means 200', () => {
    expect(planResponse({ 'if-none-match': ETAG, range: 'bytes=0-1' }, file, boundary).kind).toBe('not-modified');
    expect(planResponse({ 'if-match': '"x"', range: 'bytes=0-1' }, file, boundary).kind).toBe('precondition-failed');
    const plan = planResponse({ 'if-range': '"old"', range: 'bytes=0-1' }, file, boundary);
    expect(plan.kind === 'body' && plan.status).toBe(200);
  });

  test('416 carries Content-Range: bytes */size', () => {
    expect(planResponse({ range: 'bytes=30-' }, file, boundary)).toEqual({
      kind: 'unsatisfiable',
      headers: { 'Content-Range': 'bytes */20' },
    });
  });

  test('multipart: boundary in the type, exact Content-Length', () => {
    const plan = planResponse({ range: 'bytes=0-1,5-6' }, file, boundary);
    if (plan.kind !== 'multipart') throw new Error(plan.kind);
    expect(plan.headers['Content-Type']).toBe('multipart/byteranges; boundary=00000000000000000007');
    const body = plan.layout.parts.map((p) => p.head + 'x'.repeat(p.end - p.start + 1)).join('') + plan.layout.tail;
    expect(plan.headers['Content-Length']).toBe(String(Buffer.byteLength(body)));
    expect(plan.headers['Accept-Ranges']).toBeUndefined();
  });

  test('multipartLayout: nginx part heads and tail', () => {
    const layout = multipartLayout([{ start: 0, end: 1 }], 21, 'text/plain', '00000000000000000001');
    expect(layout.parts[0].head).toBe(
      '\r\n--00000000000000000001\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-1/21\r\n\r\n',
    );
    expect(layout.tail).toBe('\r\n--00000000000000000001--\r\n');
  });
});

describe('small helpers', () => {
  test.each([
    ['/a/b.TXT', 'text/plain'],
    ['/a/b.tar.gz', 'application/octet-stream'],
    ['/a.b/c', 'application/octet-stream'],
    ['/a/b.', 'application/octet-stream'],
    ['/a/.txt', 'text/plain'],
  ])('contentTypeFor(%s) = %s', (uri, type) => {
    expect(contentTypeFor(uri, new Map([['txt', 'text/plain']]), 'application/octet-stream')).toBe(type);
  });

  test.each([
    ['http', 'example.com', '80', '/dir', '', 'http://example.com/dir/'],
    ['http', 'example.com', '8080', '/dir', 'a=1', 'http://example.com:8080/dir/?a=1'],
    ['https', 'example.com', '443', '/dir', '', 'https://example.com/dir/'],
    ['https', 'example.com', '80', '/dir', '', 'https://example.com:80/dir/'],
    ['http', '::1', '8080', '/d', '', 'http://[::1]:8080/d/'],
    ['http', 'h', '80', '/a b/ü?#%', '', 'http://h/a%20b/%C3%BC%3F%23%25/'],
  ])('directoryRedirect(%s, %s, %s, %s, %s)', (scheme, host, port, uri, args, expected) => {
    expect(directoryRedirect(scheme, host, port, uri, args)).toBe(expected);
  });

  test('system errors in nginx words, and their statuses', () => {
    const err = Object.assign(new Error('x'), { code: 'EACCES', errno: -13 });
    expect(describeSystemError(err)).toBe('13: Permission denied');
    expect(describeSystemError(Object.assign(new Error('x'), { code: 'EWHAT', errno: -99 }))).toBe('99: EWHAT');
    expect(['ENOENT', 'ENOTDIR', 'EACCES', 'ELOOP', 'EIO'].map(statusForOpenError)).toEqual([404, 404, 403, 403, 500]);
  });
});

const captures = ['/re/a/b.png', 'a/b'];
/** A request whose `$1` is `a/b` and `$host` is `example.com`. */
const lookup = { evaluate: (t: Template) => t({ captures, host: 'example.com', namedCaptures: {} } as unknown as VariableSource) };
const paths = (location: string, root: string, alias: string | null) =>
  compileStaticPaths(root, alias, parseLocation(splitArgs(location)), (p) => `/prefix/${p}`);

describe('compilePathTemplate', () => {
  test.each([
    ['/srv/www', '/srv/www', '/srv/'],
    ['/data/$1.png', null, '/data/'],
    ['/data/${1}x', null, '/data/'],
    ['/srv/$host/htdocs', null, '/srv/'],
    ['$1', null, ''],
    ['html', '/prefix/html', '/prefix/'],
    ['img/', '/prefix/img/', '/prefix/img/'],
  ])('%s', (value, literal, head) => {
    const t = compilePathTemplate(value, (p) => `/prefix/${p}`.replace(/\/$/, ''));
    expect(t.literal).toBe(literal);
    expect(t.head).toBe(head);
  });
});

describe('mapUriToPath', () => {
  test.each([
    // location, root, alias, uri -> path, base
    ['/', '/srv/www', null, '/a/b.txt', '/srv/www/a/b.txt', '/srv/www'],
    ['/', '/srv/$host', null, '/x', '/srv/example.com/x', '/srv/'],
    ['/img/', '/srv', '/data/images/', '/img/a.png', '/data/images/a.png', '/data/images/'],
    ['/img/', '/srv', '/data/images/', '/img/', '/data/images/', '/data/images/'],
    ['= /one', '/srv', '/data/file.txt', '/one', '/data/file.txt', '/data/file.txt'],
    ['/img', '/srv', '/data/images', '/img/a.png', '/data/images/a.png', '/data/images'],
    ['~ ^/re/(.+)\\.png$', '/srv', '/data/$1.png', '/re/a/b.png', '/data/a/b.png', '/data/'],
    ['~ ^/re/', '/srv', '/data/one.txt', '/re/anything', '/data/one.txt', '/data/one.txt'],
  ])('%s root %s alias %s: %s', (location, root, alias, uri, path, base) => {
    expect(mapUriToPath(uri, paths(location, root, alias), lookup)).toEqual({ path, base });
  });
});

describe('staysUnder', () => {
  test.each([
    ['/srv/www/a.txt', '/srv/www', true],
    ['/srv/www', '/srv/www', true],
    ['/srv/www/', '/srv/www', true],
    ['/srv/wwwx/a.txt', '/srv/www', false],
    ['/data/imagesa.png', '/data/images', false],
    ['/data/../etc/passwd', '/data/', false],
    ['/data/a/../../etc', '/data/', false],
    ['/data/a..b/c', '/data/', true],
    ['/up/../srv/www/a', '/up/../srv/www', true],
    ['/up/../srv/www/a', '/up/../srv/www/', true],
    ['../x', '', false],
    ['/anything', '', true],
  ])('%s under %s: %s', (file, base, expected) => {
    expect(staysUnder(file, base)).toBe(expected);
  });
});

describe('configure (at load)', () => {
  const configure = (location: string, overrides: Parameters<typeof staticLocation>[1], prefix = '/gw') =>
    staticModule.configure({}, configContext(staticLocation(location, overrides), prefix)).paths;

  test('compiles root and alias once; relative paths resolve against the prefix', () => {
    expect(configure('/', { root: 'html' }).root.literal).toBe('/gw/html');
    const paths = configure('~ ^/i/(.*)$', { alias: 'img/$1' });
    expect([paths.alias?.head, paths.aliasReplaces]).toEqual(['/gw/img/', 'whole']);
    expect(configure('/x/', { alias: '/data/' }).aliasReplaces).toBe(3);
  });

  test('an unknown variable is a configuration error', () => {
    expect(() => configure('/', { root: '/srv/$nope' })).toThrow(ConfigError);
    expect(() => configure('/', { root: '/srv/$nope' })).toThrow('unknown "nope" variable');
    expect(() => configure('/', { root: '/srv/$host/$1x' })).not.toThrow();
  });

  test('alias in a named location is refused, as nginx does', () => {
    expect(() => configure('@fallback', { alias: '/data/' })).toThrow('"alias" cannot be used inside the named location');
  });
});
