/**
 * The static handler over real sockets: a server on 127.0.0.1:0 builds a RequestState per
 * request (clean paths, percent-decoded, no other normalization), calls the handler, and
 * renders a thrown HttpError as its status, its headers and a short body.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { memoryLogger, staticLocation } from './helpers/static-conf';
import { request as send, startStaticServer, type StaticHarness } from './helpers/static-harness';

let dir: string;
let harness: StaticHarness;
let port: number;
const log = memoryLogger();
const unhandled: unknown[] = [];
const onUnhandled = (err: unknown) => unhandled.push(err);
const TEXT = 'Hello, world!\n';
const BIG = randomBytes(2 * 1024 * 1024);
const FIXED = Date.UTC(2024, 0, 2, 3, 4, 5) / 1000;

function file(rel: string, content: string | Buffer = ''): void {
  fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  fs.writeFileSync(path.join(dir, rel), content);
}

beforeAll(async () => {
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gw-static-'));
  file('hello.txt', TEXT);
  file('UPPER.TXT', 'upper');
  file('noext', 'bytes');
  file('digits.txt', '0123456789abcdefghij');
  file('big.bin', BIG);
  file('huge.bin', Buffer.alloc(64 * 1024 * 1024, 7));
  file('secret.txt', 'secret');
  file('pub/hello.txt', 'public hello');
  file('pub/img/x.png', 'png');
  file('idx/index.htm', '<p>htm index</p>');
  file('site/index.html', '<p>site</p>');
  file('site/sub/index.html', '<p>sub</p>');
  file('plain/a.txt', 'a');
  file('auto/a.txt', 'hello');
  file('auto/<b>&.txt', '1');
  file(`auto/${'x'.repeat(60)}.txt`, '');
  file('auto/.hidden', 'h');
  fs.mkdirSync(path.join(dir, 'auto/sub'));
  for (const name of fs.readdirSync(path.join(dir, 'auto'))) fs.utimesSync(path.join(dir, 'auto', name), FIXED, FIXED);
  fs.symlinkSync('loop', path.join(dir, 'loop'));
  harness = await startStaticServer(
    [
      staticLocation('/files/', { alias: `${dir}/pub/` }),
      staticLocation('~ ^/re/(.+)\\.txt$', { alias: `${dir}/pub/$1.txt` }),
      staticLocation('~ ^/esc(.*)$', { alias: `${dir}/pub/$1` }),
      staticLocation('/idx/', { root: dir, index: ['missing.html', 'index.htm'] }),
      staticLocation('/auto/', { root: dir, autoindex: true }),
      staticLocation('/before/', { alias: `${dir}/`, ifModifiedSince: 'before' }),
      staticLocation('/noetag/', { alias: `${dir}/`, etag: false }),
      staticLocation('/', { root: dir }),
    ],
    log,
  );
  port = harness.port;
});

afterAll(async () => {
  await harness.close();
  fs.rmSync(dir, { recursive: true, force: true });
  process.off('unhandledRejection', onUnhandled);
  process.off('uncaughtException', onUnhandled);
  expect(unhandled).toEqual([]);
});

const request = (urlPath: string, options: { method?: string; headers?: http.OutgoingHttpHeaders } = {}) =>
  send(port, urlPath, options);
const statOf = (rel: string) => fs.statSync(path.join(dir, rel));
const etagOf = (rel: string) => {
  const st = statOf(rel);
  return `"${Math.floor(st.mtimeMs / 1000).toString(16)}-${st.size.toString(16)}"`;
};
const lastModifiedOf = (rel: string) => new Date(Math.floor(statOf(rel).mtimeMs / 1000) * 1000).toUTCString();
const fdCount = () => fs.readdirSync('/proc/self/fd').length;

async function settle(predicate: () => boolean, ms = 3000): Promise<void> {
  const until = Date.now() + ms;
  while (!predicate() && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
}

describe('files', () => {
  test('200 with Content-Type, Content-Length, Last-Modified, ETag, Accept-Ranges', async () => {
    const r = await request('/hello.txt');
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(TEXT);
    expect(r.headers['content-type']).toBe('text/plain');
    expect(r.headers['content-length']).toBe(String(TEXT.length));
    expect(r.headers['last-modified']).toBe(lastModifiedOf('hello.txt'));
    expect(r.headers.etag).toBe(etagOf('hello.txt'));
    expect(r.headers['accept-ranges']).toBe('bytes');
  });

  test('types by lower-case extension, else default_type; etag off', async () => {
    expect((await request('/UPPER.TXT')).headers['content-type']).toBe('text/plain');
    expect((await request('/noext')).headers['content-type']).toBe('application/octet-stream');
    const r = await request('/noetag/hello.txt');
    expect(r.status).toBe(200);
    expect(r.headers.etag).toBeUndefined();
  });

  test('HEAD: the same headers, no body', async () => {
    const r = await request('/hello.txt', { method: 'HEAD' });
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe(String(TEXT.length));
    expect(r.headers.etag).toBe(etagOf('hello.txt'));
    expect(r.body.length).toBe(0);
  });

  test('404 for a missing file, logged as nginx does', async () => {
    expect((await request('/missing.txt')).status).toBe(404);
    expect((await request('/hello.txt/x')).status).toBe(404);
    expect(log.lines).toContain(`error: open() "${dir}/missing.txt" failed (2: No such file or directory)`);
  });

  test('404 for a FIFO (opened without blocking, not a regular file)', async () => {
    execFileSync('mkfifo', [path.join(dir, 'fifo')]);
    expect((await request('/fifo')).status).toBe(404);
    expect(log.lines).toContain(`crit: "${dir}/fifo" is not a regular file`);
  });

  test('403 for a symlink loop (ELOOP), as nginx on Linux', async () => {
    expect((await request('/loop')).status).toBe(403);
    expect(log.lines).toContain(`error: open() "${dir}/loop" failed (40: Too many levels of symbolic links)`);
  });

  // 403 for a file the worker cannot read (EACCES) is in test/responses.test.ts, with the
  // gateway run as nobody: as root, open() never fails with EACCES.

  test('405 for other methods and POST on a file; 404 for POST on a missing file', async () => {
    expect((await request('/hello.txt', { method: 'PUT' })).status).toBe(405);
    expect((await request('/nowhere/', { method: 'DELETE' })).status).toBe(405);
    expect((await request('/hello.txt', { method: 'POST' })).status).toBe(405);
    expect((await request('/missing.txt', { method: 'POST' })).status).toBe(404);
    expect((await request('/site/', { method: 'POST' })).status).toBe(405);
    expect((await request('/plain/', { method: 'POST' })).status).toBe(403);
  });

  test('400 for a NUL byte in the path', async () => {
    expect((await request('/hello%00.txt')).status).toBe(400);
  });

  test('a 2 MiB file arrives whole and unchanged', async () => {
    const r = await request('/big.bin');
    expect(r.status).toBe(200);
    expect(r.headers['content-length']).toBe(String(BIG.length));
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    expect(sha(r.body)).toBe(sha(BIG));
  });
});

describe('directories', () => {
  test('index: a missing first candidate falls to the next; its type follows its name', async () => {
    const r = await request('/idx/');
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('<p>htm index</p>');
    expect(r.headers['content-type']).toBe('text/html');
    expect((await request('/site/sub/')).body.toString()).toBe('<p>sub</p>');
  });

  test('403 for a directory without index, 404 for a missing one', async () => {
    expect((await request('/plain/')).status).toBe(403);
    expect(log.lines).toContain(`error: directory index of "${dir}/plain/" is forbidden`);
    expect((await request('/nowhere/')).status).toBe(404);
    expect((await request('/hello.txt/')).status).toBe(404);
  });

  test('autoindex: nginx listing, directories first, hidden files skipped', async () => {
    const r = await request('/auto/');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/html');
    const when = ' 02-Jan-2024 03:04 ';
    const size = (s: string) => s.padStart(19);
    const expected =
      '<html>\r\n<head><title>Index of /auto/</title></head>\r\n<body>\r\n' +
      '<h1>Index of /auto/</h1><hr><pre><a href="../">../</a>\r\n' +
      `<a href="sub/">sub/</a>${' '.repeat(46)}${when}${size('-')}\r\n` +
      `<a href="%3Cb%3E%26.txt">&lt;b&gt;&amp;.txt</a>${' '.repeat(42)}${when}${size('1')}\r\n` +
      `<a href="a.txt">a.txt</a>${' '.repeat(45)}${when}${size('5')}\r\n` +
      `<a href="${'x'.repeat(60)}.txt">${'x'.repeat(47)}..&gt;</a>${when}${size('0')}\r\n` +
      '</pre><hr></body>\r\n</html>\r\n';
    expect(r.body.toString('latin1')).toBe(expected);
    // nginx streams the listing chunked, without Content-Length.
    expect([r.headers['content-length'], r.headers['transfer-encoding']]).toEqual([undefined, 'chunked']);
  });

  test('301 to the slash with scheme, host, port and args', async () => {
    const r = await request('/site?a=1&b', { headers: { Host: 'Example.COM:9999' } });
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe(`http://example.com:${port}/site/?a=1&b`);
    const plain = await request('/files/img');
    expect(plain.headers.location).toBe(`http://127.0.0.1:${port}/files/img/`);
  });
});

describe('alias', () => {
  test('a prefix location replaced by the alias', async () => {
    expect((await request('/files/hello.txt')).body.toString()).toBe('public hello');
    expect((await request('/files/img/x.png')).headers['content-type']).toBe('image/png');
  });

  test('a regex location: the alias with captures is the whole path', async () => {
    const r = await request('/re/hello.txt');
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('public hello');
  });

  test('a capture cannot lead out of the alias', async () => {
    expect((await request('/esc/hello.txt')).body.toString()).toBe('public hello');
    expect((await request('/esc../secret.txt')).status).toBe(404);
  });
});

describe('conditional requests', () => {
  test('If-None-Match: exact, weak, in a list, or * -> 304 with validators and no body', async () => {
    const etag = etagOf('hello.txt');
    for (const value of [etag, `W/${etag}`, `"x", ${etag}`, '*']) {
      const r = await request('/hello.txt', { headers: { 'If-None-Match': value } });
      expect(r.status).toBe(304);
      expect(r.headers.etag).toBe(etag);
      expect(r.headers['last-modified']).toBe(lastModifiedOf('hello.txt'));
      expect(r.headers['content-length']).toBeUndefined();
      expect(r.headers['content-type']).toBeUndefined();
      expect(r.body.length).toBe(0);
    }
    expect((await request('/hello.txt', { headers: { 'If-None-Match': '"other"' } })).status).toBe(200);
  });

  test('If-Modified-Since: exact by default, before when configured', async () => {
    const lm = lastModifiedOf('hello.txt');
    const later = new Date(Date.parse(lm) + 3_600_000).toUTCString();
    expect((await request('/hello.txt', { headers: { 'If-Modified-Since': lm } })).status).toBe(304);
    expect((await request('/hello.txt', { headers: { 'If-Modified-Since': later } })).status).toBe(200);
    expect((await request('/before/hello.txt', { headers: { 'If-Modified-Since': later } })).status).toBe(304);
  });

  test('nginx needs both to agree: a matching ETag with a stale date serves the file', async () => {
    const headers = { 'If-None-Match': etagOf('hello.txt'), 'If-Modified-Since': 'Mon, 01 Jan 2001 00:00:00 GMT' };
    expect((await request('/hello.txt', { headers })).status).toBe(200);
  });

  test('If-Match and If-Unmodified-Since -> 412 when they fail', async () => {
    expect((await request('/hello.txt', { headers: { 'If-Match': '"nope"' } })).status).toBe(412);
    expect((await request('/hello.txt', { headers: { 'If-Match': etagOf('hello.txt') } })).status).toBe(200);
    const early = 'Mon, 01 Jan 2001 00:00:00 GMT';
    expect((await request('/hello.txt', { headers: { 'If-Unmodified-Since': early } })).status).toBe(412);
  });
});

describe('ranges', () => {
  const ranged = (range: string, headers: http.OutgoingHttpHeaders = {}) =>
    request('/digits.txt', { headers: { Range: range, ...headers } });

  test('single, suffix and open-ended ranges -> 206', async () => {
    for (const [range, body, cr] of [
      ['bytes=0-4', '01234', 'bytes 0-4/20'],
      ['bytes=-5', 'fghij', 'bytes 15-19/20'],
      ['bytes=10-', 'abcdefghij', 'bytes 10-19/20'],
      ['bytes=15-99', 'fghij', 'bytes 15-19/20'],
    ]) {
      const r = await ranged(range);
      expect([r.status, r.body.toString(), r.headers['content-range']]).toEqual([206, body, cr]);
      expect(r.headers['content-length']).toBe(String(body.length));
      expect(r.headers['accept-ranges']).toBeUndefined();
    }
  });

  test('416 with Content-Range: bytes */size', async () => {
    const r = await ranged('bytes=20-');
    expect(r.status).toBe(416);
    expect(r.headers['content-range']).toBe('bytes */20');
  });

  test('a malformed bytes= set is 416, as nginx answers it', async () => {
    const r = await ranged('bytes=abc');
    expect([r.status, r.headers['content-range']]).toEqual([416, 'bytes */20']);
  });

  test('another unit, or ranges adding up to more than the file, are ignored', async () => {
    for (const range of ['items=0-1', 'bytes=0-5,2-8,0-19']) {
      const r = await ranged(range);
      expect([r.status, r.body.toString()]).toEqual([200, '0123456789abcdefghij']);
    }
  });

  test('several ranges -> multipart/byteranges, byte for byte', async () => {
    const r = await ranged('bytes=0-1,5-6');
    expect(r.status).toBe(206);
    const m = /^multipart\/byteranges; boundary=(\d{20})$/.exec(r.headers['content-type'] ?? '');
    expect(m).not.toBeNull();
    const b = m![1];
    const part = (cr: string, data: string) =>
      `\r\n--${b}\r\nContent-Type: text/plain\r\nContent-Range: bytes ${cr}/20\r\n\r\n${data}`;
    const expected = part('0-1', '01') + part('5-6', '56') + `\r\n--${b}--\r\n`;
    expect(r.body.toString()).toBe(expected);
    expect(r.headers['content-length']).toBe(String(r.body.length));
    const head = await request('/digits.txt', { method: 'HEAD', headers: { Range: 'bytes=0-1,5-6' } });
    expect([head.status, head.headers['content-length'], head.body.length]).toEqual([206, String(expected.length), 0]);
  });

  test('If-Range decides: a mismatch serves the whole file, a match the range', async () => {
    const miss = await ranged('bytes=0-1', { 'If-Range': '"stale"' });
    expect([miss.status, miss.body.length]).toEqual([200, 20]);
    const hit = await ranged('bytes=0-1', { 'If-Range': etagOf('digits.txt') });
    expect([hit.status, hit.body.toString()]).toEqual([206, '01']);
    const date = await ranged('bytes=0-1', { 'If-Range': lastModifiedOf('digits.txt') });
    expect(date.status).toBe(206);
  });
});

describe('streaming', () => {
  test.each([
    ['a whole file', {}],
    ['a multipart body', { Range: 'bytes=0-9,1000-60000000' }],
  ])('a client that aborts %s mid-stream leaves no open descriptor', async (_what, headers) => {
    await settle(() => harness.inFlight() === 0);
    const before = fdCount();
    await new Promise<void>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/huge.bin', agent: false, headers }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
    });
    await settle(() => harness.inFlight() === 0 && fdCount() <= before);
    expect(harness.inFlight()).toBe(0);
    expect(fdCount()).toBeLessThanOrEqual(before);
  });

  test('a file truncated while streaming drops the connection and closes the file', async () => {
    file('shrinks.bin', Buffer.alloc(32 * 1024 * 1024, 1));
    await settle(() => harness.inFlight() === 0);
    const before = fdCount();
    const received = await new Promise<number>((resolve) => {
      let got = 0;
      const req = http.get({ host: '127.0.0.1', port, path: '/shrinks.bin', agent: false }, (res) => {
        res.once('data', () => fs.truncateSync(path.join(dir, 'shrinks.bin'), 1024));
        res.on('data', (c: Buffer) => (got += c.length));
        res.on('close', () => resolve(got));
      });
      req.on('error', () => resolve(got));
    });
    expect(received).toBeLessThan(32 * 1024 * 1024);
    await settle(() => harness.inFlight() === 0 && fdCount() <= before);
    expect(fdCount()).toBeLessThanOrEqual(before);
    expect(log.lines.some((l) => l.includes('shrinks.bin') && l.includes('truncated'))).toBe(true);
  });
});
