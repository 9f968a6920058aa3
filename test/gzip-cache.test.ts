/**
 * The gzip of a file the open file cache holds is made once and kept with the file's bytes:
 * in process, the memo itself; with the gateway as a process, that a cached file's gzip is
 * the file's and follows it when the file changes on disk.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { gzipOf, markImmutable } from '../src/shared/immutable-bodies';
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
