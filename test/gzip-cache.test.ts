/**
 * The gzip of a file the open file cache holds is made once and kept with the file's bytes:
 * in process, the memo itself; with the gateway as a process, that a cached file's gzip is
 * the file's and follows it when the file changes on disk. A file too large to be held (over
 * 64 KiB) has its gzip kept by its identity (src/shared/kept-bodies.ts, src/server/filters.ts):
 * the next response sends it without reading the file, which the worker's read counter shows.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { gzipOf, markImmutable } from '../src/shared/immutable-bodies';
import { KeptBodies } from '../src/shared/kept-bodies';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { request } from './helpers/http-client';

describe('gzipOf', () => {
  test('an immutable body is compressed once per level; any other body every time', () => {
    let calls = 0;
    const compress = (body: Buffer) => () => {
      calls++;
      return zlib.gzipSync(body);
    };
    const kept = markImmutable(Buffer.from('kept '.repeat(50)));
    const first = gzipOf(kept, 1, compress(kept));
    expect(gzipOf(kept, 1, compress(kept))).toBe(first);
    expect(calls).toBe(1);
    gzipOf(kept, 6, compress(kept));
    expect(calls).toBe(2);
    const plain = Buffer.from('plain '.repeat(50));
    gzipOf(plain, 1, compress(plain));
    gzipOf(plain, 1, compress(plain));
    expect(calls).toBe(4);
  });
});

const SITE = `
error_log: stderr notice
pid: off
http:
  access_log: "off"
  types: { text/html: html }
  gzip: on
  gzip_min_length: 1
  open_file_cache: max=10 inactive=20s
  open_file_cache_valid: 100ms
  servers:
    - listen: "127.0.0.1:0"
      root: site
      locations:
        - location: /
`;

describe('gzip of a cached file, end to end', () => {
  let gw: GatewayProcess;
  const before = 'before '.repeat(200);
  const after = 'after, and longer '.repeat(200);
  beforeAll(async () => {
    gw = await startGateway(SITE, { files: { 'site/page.html': before } });
  });
  afterAll(() => gw.stop());

  const get = (headers: Record<string, string> = { 'Accept-Encoding': 'gzip' }) => request(gw.ports[0], '/page.html', { headers });

  test('served gzipped, the same bytes each time, the file inside; plain to a client without gzip', async () => {
    const one = await get();
    const two = await get();
    expect(one.headers['content-encoding']).toBe('gzip');
    expect(zlib.gunzipSync(two.body).toString()).toBe(before);
    expect(two.body.equals(one.body)).toBe(true);
    const plain = await get({});
    expect([plain.headers['content-encoding'], plain.body.toString()]).toEqual([undefined, before]);
  });

  test('a file changed on disk: past open_file_cache_valid its new bytes are what is compressed', async () => {
    await get();
    writeFileSync(path.join(gw.prefix, 'site/page.html'), after);
    await new Promise((resolve) => setTimeout(resolve, 250));
    const changed = await get();
    expect(zlib.gunzipSync(changed.body).toString()).toBe(after);
  });
});

describe('KeptBodies', () => {
  const body = (n: number, fill = 'x') => Buffer.alloc(n, fill);

  test('keeps under the budget, the least recently used going first', () => {
    const kept = new KeptBodies(300, 200);
    kept.keep('a', body(100));
    kept.keep('b', body(100));
    kept.keep('c', body(100));
    expect(kept.get('a')).toBeDefined(); // a is now the most recent: b goes next
    kept.keep('d', body(100));
    expect([kept.get('a'), kept.get('b'), kept.get('c'), kept.get('d')].map((b) => b !== undefined)).toEqual([true, false, true, true]);
    expect(kept.size).toBe(300);
  });

  test('a body over the entry limit is not kept; a key kept again is replaced, counted once', () => {
    const kept = new KeptBodies(1000, 200);
    kept.keep('big', body(201));
    expect(kept.get('big')).toBeUndefined();
    kept.keep('a', body(100, 'a'));
    kept.keep('a', body(150, 'b'));
    expect(kept.get('a')!.toString()).toBe('b'.repeat(150));
    expect(kept.size).toBe(150);
  });
});

describe('gzip of a file too large to be held, end to end', () => {
  const BIG = 1024 * 1024;
  /** Text that compresses, different in each line, so a wrong slice would show. */
  const text = (tag: string) => Array.from({ length: BIG / 32 }, (_, i) => `${tag} line ${String(i).padStart(8, '0')}\n`.padEnd(32, '.')).join('');
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await startGateway(SITE.replace('      locations:\n        - location: /\n', '      locations:\n        - location: /\n        - location: /cold/\n          open_file_cache: "off"\n'), {
      files: { 'site/big.html': text('one'), 'site/cold/big.html': text('cold') },
    });
  });
  afterAll(() => gw.stop());

  /** Bytes the gateway's processes read through read(2) and its kin so far (files and sockets). */
  const readBytes = () => [gw.child.pid!, ...childrenOf(gw.child.pid!)].reduce((sum, pid) => sum + Number(/^rchar: (\d+)/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1]), 0);
  const get = (uri: string, headers: Record<string, string> = { 'Accept-Encoding': 'gzip' }) => request(gw.ports[0], uri, { headers });
  /** The request's response, and the bytes read while it was served. */
  const measured = async (uri: string, headers?: Record<string, string>) => {
    const before = readBytes();
    const res = await get(uri, headers);
    return { res, read: readBytes() - before };
  };

  test('the first response reads and compresses the file; the next send the same gzip without reading it', async () => {
    const first = await measured('/big.html');
    expect(first.res.headers['content-encoding']).toBe('gzip');
    expect(zlib.gunzipSync(first.res.body).toString()).toBe(text('one'));
    expect(first.read).toBeGreaterThanOrEqual(BIG);
    for (let i = 0; i < 3; i++) {
      const next = await measured('/big.html');
      expect(next.res.headers['content-encoding']).toBe('gzip');
      expect(next.res.headers.etag).toBe(first.res.headers.etag);
      expect(next.res.body.equals(first.res.body)).toBe(true);
      expect(next.read).toBeLessThan(64 * 1024);
    }
  });

  test('a client without gzip, a HEAD and a range still get the file itself', async () => {
    await get('/big.html');
    const plain = await get('/big.html', {});
    expect([plain.headers['content-encoding'], plain.body.length]).toEqual([undefined, BIG]);
    expect(plain.body.toString()).toBe(text('one'));
    const head = await request(gw.ports[0], '/big.html', { method: 'HEAD', headers: { 'Accept-Encoding': 'gzip' } });
    expect([head.headers['content-encoding'], head.body.length]).toEqual(['gzip', 0]);
    const range = await get('/big.html', { Range: 'bytes=32-63' });
    expect([range.status, range.body.toString()]).toEqual([206, text('one').slice(32, 64)]);
  });

  test('a file changed on disk: its new bytes are compressed and kept', async () => {
    await get('/big.html');
    writeFileSync(path.join(gw.prefix, 'site/big.html'), text('two'));
    await new Promise((resolve) => setTimeout(resolve, 250));
    const changed = await measured('/big.html');
    expect(zlib.gunzipSync(changed.res.body).toString()).toBe(text('two'));
    expect(changed.read).toBeGreaterThanOrEqual(BIG);
    const again = await measured('/big.html');
    expect(again.res.body.equals(changed.res.body)).toBe(true);
    expect(again.read).toBeLessThan(64 * 1024);
  });

  test('many first responses at once: each whole, one kept, the next reads nothing', async () => {
    writeFileSync(path.join(gw.prefix, 'site/many.html'), text('many'));
    const all = await Promise.all(Array.from({ length: 20 }, () => get('/many.html')));
    for (const res of all) expect(zlib.gunzipSync(res.body).toString()).toBe(text('many'));
    const next = await measured('/many.html');
    expect(next.res.body.equals(all[0].body)).toBe(true);
    expect(next.read).toBeLessThan(64 * 1024);
  });

  test('without open_file_cache, every response reads the file', async () => {
    for (let i = 0; i < 2; i++) {
      const { res, read } = await measured('/cold/big.html');
      expect(zlib.gunzipSync(res.body).toString()).toBe(text('cold'));
      expect(read).toBeGreaterThanOrEqual(BIG);
    }
  });
});

/** The pids of `pid`'s children. */
function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}
