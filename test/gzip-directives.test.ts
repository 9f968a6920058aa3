/**
 * `gzip_disable` and `gzip_static`, with the gateway as a process; the expected headers are
 * what nginx 1.22 sends for the same configuration and requests.
 */
import { utimesSync } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { isMsie6 } from '../src/gzip-ok';
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
});
