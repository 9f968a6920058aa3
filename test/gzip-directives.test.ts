/**
 * `gzip_disable` and `gzip_static`, with the gateway as a process; the expected headers are
 * what nginx 1.22 sends for the same configuration and requests.
 */
import { utimesSync } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { isMsie6 } from '../src/modules/gzip/gzip-ok';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { request } from './helpers/http-client';

describe('msie6, nginx detection', () => {
  test.each([
    ['Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)', true],
    ['Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)', true],
    ['Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)', false],
    ['Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)', false],
    ['Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1) Opera 8.50', false],
    ['MSIE 6.', false],
    ['Firefox', false],
  ])('%s', (ua, expected) => expect(isMsie6(ua)).toBe(expected));
});

const BODY = 'hello world hello world\n';
const SITE = `
error_log: stderr notice
pid: off
http:
  access_log: "off"
  types: { text/plain: txt, text/html: html }
  default_type: application/octet-stream
  servers:
    - listen: "127.0.0.1:0"
      root: site
      locations:
        - location: /gsd/
          gzip: on
          gzip_types: text/plain
          gzip_min_length: 1
          gzip_vary: on
          gzip_disable: ["curl/7\\\\.", msie6]
        - { location: /gs/, gzip_static: on }
        - { location: /gsa/, gzip_static: always, gzip_vary: on }
        - { location: /gsv/, gzip_static: on, gzip_vary: on, gzip: on, gzip_types: text/plain, gzip_min_length: 1 }
        - { location: /gsoff/, gzip_static: on, gzip_disable: Firefox }
`;

describe('gzip_disable and gzip_static end to end', () => {
  let gw: GatewayProcess;
  let port: number;
  const gz = zlib.gzipSync(Buffer.from(BODY));
  const files: Record<string, string | Buffer> = { 'site/gsd/g.txt': BODY, 'site/gsd/big.txt': 'x'.repeat(100) };
  for (const dir of ['gs', 'gsa', 'gsv', 'gsoff']) Object.assign(files, { [`site/${dir}/g.txt`]: BODY, [`site/${dir}/g.txt.gz`]: gz });
  files['site/gs/only-plain.txt'] = BODY;
  files['site/gs/dir.txt.gz/x'] = 'a directory named like a .gz';
  files['site/gs/dir.txt'] = BODY;
  beforeAll(async () => {
    gw = await startGateway(SITE, { files });
    port = gw.ports[0];
    const old = new Date(Date.UTC(2020, 0, 1));
    utimesSync(path.join(gw.prefix, 'site/gs/g.txt.gz'), old, old);
  });
  afterAll(() => gw.stop());

  const get = (uri: string, headers: Record<string, string> = {}) => request(port, uri, { headers });

  describe('gzip_disable', () => {
    test('a regex on the User-Agent turns gzip off; Vary stays', async () => {
      const r = await get('/gsd/g.txt', { 'Accept-Encoding': 'gzip', 'User-Agent': 'curl/7.88.1' });
      expect([r.headers['content-encoding'], r.headers.vary, r.body.toString()]).toEqual([undefined, 'Accept-Encoding', BODY]);
    });
    test('case-insensitive, as nginx compiles it', async () => {
      const r = await get('/gsd/g.txt', { 'Accept-Encoding': 'gzip', 'User-Agent': 'CURL/7.1' });
      expect(r.headers['content-encoding']).toBeUndefined();
    });
    test('msie6: MSIE 6 without SV1 gets none, with SV1 and others get gzip', async () => {
      const ae = { 'Accept-Encoding': 'gzip' };
      const msie6 = await get('/gsd/big.txt', { ...ae, 'User-Agent': 'Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)' });
      expect([msie6.headers['content-encoding'], msie6.headers['content-length']]).toEqual([undefined, '100']);
      const sv1 = await get('/gsd/big.txt', { ...ae, 'User-Agent': 'Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)' });
      expect([sv1.headers['content-encoding'], zlib.gunzipSync(sv1.body).toString()]).toEqual(['gzip', 'x'.repeat(100)]);
      const firefox = await get('/gsd/big.txt', { ...ae, 'User-Agent': 'Firefox' });
      expect(firefox.headers['content-encoding']).toBe('gzip');
    });
  });

  describe('gzip_static', () => {
    const gzEtag = (r: { headers: Record<string, unknown> }) => r.headers.etag;
    test('on: the .gz beside the file, to a client that takes gzip, with its own validators', async () => {
      const r = await get('/gs/g.txt', { 'Accept-Encoding': 'gzip' });
      expect([r.status, r.headers['content-type'], r.headers['content-encoding'], r.headers['content-length']]).toEqual([200, 'text/plain', 'gzip', String(gz.length)]);
      expect([r.headers['last-modified'], gzEtag(r), r.headers['accept-ranges'], r.headers.vary]).toEqual([
        'Wed, 01 Jan 2020 00:00:00 GMT',
        `"5e0be100-${gz.length.toString(16)}"`,
        undefined,
        undefined,
      ]);
      expect(zlib.gunzipSync(r.body).toString()).toBe(BODY);
    });
    test('on: the file itself to a client that does not take gzip, or that gzip_disable names, or through a proxy', async () => {
      for (const headers of [{}, { 'Accept-Encoding': 'gzip;q=0' }, { 'Accept-Encoding': 'gzip', Via: '1.1 proxy' }] as Record<string, string>[]) {
        const r = await get('/gs/g.txt', headers);
        expect([r.headers['content-encoding'], r.body.toString(), r.headers['accept-ranges']]).toEqual([undefined, BODY, 'bytes']);
      }
      const firefox = await get('/gsoff/g.txt', { 'Accept-Encoding': 'gzip', 'User-Agent': 'Firefox' });
      expect(firefox.headers['content-encoding']).toBeUndefined();
      expect((await get('/gsoff/g.txt', { 'Accept-Encoding': 'gzip', 'User-Agent': 'curl' })).headers['content-encoding']).toBe('gzip');
    });
    test('no .gz, or a directory named so: the file, uncompressed (gzip is off here)', async () => {
      for (const uri of ['/gs/only-plain.txt', '/gs/dir.txt']) {
        const r = await get(uri, { 'Accept-Encoding': 'gzip' });
        expect([r.status, r.headers['content-encoding'], r.body.toString()]).toEqual([200, undefined, BODY]);
      }
    });
    test('always: the .gz to every client; no Vary even with gzip_vary on', async () => {
      const r = await get('/gsa/g.txt');
      expect([r.headers['content-encoding'], r.headers.vary, r.body.equals(gz)]).toEqual(['gzip', undefined, true]);
    });
    test('gzip_vary on: Vary once the .gz exists, whoever asks, and once only beside the gzip filter', async () => {
      const plain = await get('/gsv/g.txt');
      expect([plain.headers['content-encoding'], plain.headers.vary]).toEqual([undefined, 'Accept-Encoding']);
      const gzipped = await get('/gsv/g.txt', { 'Accept-Encoding': 'gzip' });
      expect([gzipped.headers['content-encoding'], gzipped.headers.vary, gzipped.body.equals(gz)]).toEqual(['gzip', 'Accept-Encoding', true]);
      expect(gzipped.rawHeaders.filter((h) => h.toLowerCase() === 'vary')).toHaveLength(1);
    });
    test('no ranges on the .gz (nginx 1.22 sends it whole), but conditional requests hold', async () => {
      const ranged = await get('/gs/g.txt', { 'Accept-Encoding': 'gzip', Range: 'bytes=0-3' });
      expect([ranged.status, ranged.body.length]).toEqual([200, gz.length]);
      const etag = String((await get('/gs/g.txt', { 'Accept-Encoding': 'gzip' })).headers.etag);
      const notModified = await get('/gs/g.txt', { 'Accept-Encoding': 'gzip', 'If-None-Match': etag });
      expect([notModified.status, notModified.headers.etag, notModified.headers['last-modified']]).toEqual([304, etag, 'Wed, 01 Jan 2020 00:00:00 GMT']);
    });
    test('HEAD has the .gz headers; POST is refused as for the file', async () => {
      const head = await request(port, '/gs/g.txt', { method: 'HEAD', headers: { 'Accept-Encoding': 'gzip' } });
      expect([head.status, head.headers['content-length'], head.headers['content-encoding'], head.body.length]).toEqual([200, String(gz.length), 'gzip', 0]);
      expect((await request(port, '/gs/g.txt', { method: 'POST', headers: { 'Accept-Encoding': 'gzip' } })).status).toBe(405);
    });
  });
});
