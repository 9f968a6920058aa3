/**
 * What any handler's response goes through, with the gateway as a process: `return`,
 * `error_page`, `add_header`, gzip, `server_tokens`, `client_max_body_size`, virtual servers.
 */
import { chmodSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { request } from './helpers/http-client';
import { waitFor } from './helpers/ws-harness';

const SITE = `
error_log: stderr info
pid: off
http:
  access_log: "off"
  default_type: text/plain
  gzip: on
  gzip_types: text/plain application/json
  gzip_min_length: 100
  gzip_vary: on
  add_header: ["X-Everywhere yes always", "X-Success ok"]
  servers:
    - listen: "127.0.0.1:0"
      server_name: default.test
      error_page: ["404 /errors/404.html", "403 =200 /errors/fine.html", "500 @oops"]
      locations:
        - { location: = /text, return: "200 'hello $host from $uri'" }
        - { location: = /long, return: "200 '${'x'.repeat(300)}'" }
        - { location: = /redirect, return: "301 /elsewhere?a=1" }
        - { location: = /away, return: "https://example.org/" }
        - { location: = /close, return: 444 }
        - { location: = /gone, return: 410 }
        - { location: = /bare-redirect, return: 301 }
        - { location: = /bare-ok, return: 200 }
        - { location: = /forbidden, return: 403 }
        - { location: = /broken, return: 500 }
        - { location: "@oops", return: "503 'named location'" }
        - { location: /errors/, root: site }
        - location: /upload
          client_max_body_size: 10
          return: 204
        - location: /quiet
          server_tokens: off
          return: 410
        - location: /nomatch
          error_page: 404 /errors/missing.html
          root: site
        - { location: /, root: site }
    - listen: "127.0.0.1:0"
      server_name: "other.test *.other.test"
      locations:
        - { location: /, return: "200 other" }
`;

describe('responses', () => {
  let gw: GatewayProcess;
  let port: number;
  beforeAll(async () => {
    gw = await startGateway(SITE, {
      files: { 'site/errors/404.html': '<h1>custom 404</h1>\n', 'site/errors/fine.html': 'fine\n', 'site/index.html': 'index\n' },
    });
    port = gw.ports[0];
  });
  afterAll(() => gw.stop());

  test('return with text uses default_type and variables', async () => {
    const r = await request(port, '/text', { headers: { Host: 'A.Test' } });
    expect([r.status, r.headers['content-type'], r.body.toString()]).toEqual([200, 'text/plain', 'hello a.test from /text']);
  });
  test('return with a redirect makes the Location absolute, with the port', async () => {
    const r = await request(port, '/redirect', { headers: { Host: 'a.test' } });
    expect([r.status, r.statusMessage, r.headers.location]).toEqual([301, 'Moved Permanently', `http://a.test:${port}/elsewhere?a=1`]);
    expect(r.body.toString()).toContain('<center><h1>301 Moved Permanently</h1></center>');
    const away = await request(port, '/away');
    expect([away.status, away.statusMessage, away.headers.location]).toEqual([302, 'Moved Temporarily', 'https://example.org/']);
  });
  test('return without text: a redirect has an empty Location, a 2xx an empty typed body (nginx)', async () => {
    const redirect = await request(port, '/bare-redirect');
    expect([redirect.status, redirect.headers.location]).toEqual([301, '']);
    const ok = await request(port, '/bare-ok');
    expect([ok.status, ok.headers['content-type'], ok.headers['content-length'], ok.body.length]).toEqual([200, 'text/plain', '0', 0]);
  });
  test('a redirect without a Host (HTTP/1.0) names the local address, as nginx', async () => {
    const answer = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.write('GET /redirect HTTP/1.0\r\n\r\n'));
      let data = '';
      s.on('data', (d) => (data += d));
      s.on('close', () => resolve(data));
    });
    expect(answer).toContain(`\r\nLocation: http://127.0.0.1:${port}/elsewhere?a=1\r\n`);
  });
  test('return 444 closes the connection without a response', async () => {
    const answer = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => s.write('GET /close HTTP/1.1\r\nHost: x\r\n\r\n'));
      let data = '';
      s.on('data', (d) => (data += d));
      s.on('close', () => resolve(data));
    });
    expect(answer).toBe('');
  });
  test('return CODE alone gives nginx page', async () => {
    const r = await request(port, '/gone');
    expect([r.status, r.headers['content-type']]).toEqual([410, 'text/html']);
    expect(r.body.toString()).toBe('<html>\r\n<head><title>410 Gone</title></head>\r\n<body>\r\n<center><h1>410 Gone</h1></center>\r\n<hr><center>gateway/0.1.0</center>\r\n</body>\r\n</html>\r\n');
  });
  test('error_page: a URI keeps the status, =code changes it, @named serves a named location (with the original status)', async () => {
    const missing = await request(port, '/nothing-here');
    expect([missing.status, missing.body.toString(), missing.headers['content-type']]).toEqual([404, '<h1>custom 404</h1>\n', 'text/html']);
    // nginx's header filter: no Last-Modified or Accept-Ranges on a 404, even from a file.
    expect([missing.headers['last-modified'], missing.headers['accept-ranges']]).toEqual([undefined, undefined]);
    const forbidden = await request(port, '/forbidden');
    expect([forbidden.status, forbidden.body.toString()]).toEqual([200, 'fine\n']);
    const broken = await request(port, '/broken');
    expect([broken.status, broken.body.toString()]).toEqual([500, 'named location']);
  });
  test('error_page whose page is missing falls back to the built-in page', async () => {
    const r = await request(port, '/nomatch/x');
    expect(r.status).toBe(404);
    expect(r.body.toString()).toContain('<title>404 Not Found</title>');
  });
  test('add_header: without always only on success statuses', async () => {
    const ok = await request(port, '/text');
    expect([ok.headers['x-everywhere'], ok.headers['x-success']]).toEqual(['yes', 'ok']);
    const gone = await request(port, '/gone');
    expect([gone.headers['x-everywhere'], gone.headers['x-success']]).toEqual(['yes', undefined]);
  });
  test('gzip: by type and length, with Vary, HEAD as GET (nginx); not for q=0 or short bodies', async () => {
    const long = await request(port, '/long', { headers: { 'Accept-Encoding': 'gzip' } });
    expect([long.headers['content-encoding'], long.headers.vary]).toEqual(['gzip', 'Accept-Encoding']);
    expect(zlib.gunzipSync(long.body).toString()).toBe('x'.repeat(300));
    const refused = await request(port, '/long', { headers: { 'Accept-Encoding': 'gzip;q=0' } });
    expect([refused.headers['content-encoding'], refused.headers.vary, refused.body.length]).toEqual([undefined, 'Accept-Encoding', 300]);
    const head = await request(port, '/long', { method: 'HEAD', headers: { 'Accept-Encoding': 'gzip' } });
    expect([head.headers['content-encoding'], head.headers['content-length'], head.body.length]).toEqual(['gzip', undefined, 0]);
    const short = await request(port, '/text', { headers: { 'Accept-Encoding': 'gzip' } });
    expect(short.headers['content-encoding']).toBeUndefined();
    const proxied = await request(port, '/long', { headers: { 'Accept-Encoding': 'gzip', Via: '1.1 cache' } });
    expect(proxied.headers['content-encoding']).toBeUndefined();
  });
  test('server_tokens off', async () => {
    const r = await request(port, '/quiet');
    expect(r.headers.server).toBe('gateway');
    expect(r.body.toString()).toContain('<hr><center>gateway</center>');
  });
  test('client_max_body_size: 413 by Content-Length, and the connection closes', async () => {
    const r = await request(port, '/upload', { method: 'POST', body: 'x'.repeat(11) });
    expect([r.status, r.statusMessage, r.headers.connection]).toEqual([413, 'Request Entity Too Large', 'close']);
    expect((await request(port, '/upload', { method: 'POST', body: 'x'.repeat(10) })).status).toBe(204);
  });
  test('a request asking for an upgrade a location cannot give is served as plain HTTP', async () => {
    const answer = await new Promise<string>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () =>
        s.write('GET /text HTTP/1.1\r\nHost: up.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'),
      );
      let data = '';
      s.on('data', (d) => (data += d));
      s.on('close', () => resolve(data));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(answer).toMatch(/\r\nConnection: close\r\n/);
    expect(answer.endsWith('\r\n\r\nhello up.test from /text')).toBe(true);
  });

  test('virtual servers on one socket: by Host, else the first server', async () => {
    expect((await request(port, '/', { headers: { Host: 'www.other.test' } })).body.toString()).toBe('other');
    expect((await request(port, '/', { headers: { Host: 'OTHER.test.' } })).body.toString()).toBe('other');
    expect((await request(port, '/', { headers: { Host: 'default.test' } })).body.toString()).toBe('index\n');
    expect((await request(port, '/', { headers: { Host: 'unknown.test' } })).body.toString()).toBe('index\n');
  });
});

describe('a file the worker cannot read is 403, as nginx (run as nobody)', () => {
  test('403 with the error logged', async () => {
    const gw = await startGateway('error_log: stderr info\npid: off\nhttp:\n  access_log: "off"\n  servers:\n    - listen: "127.0.0.1:0"\n      locations: [ { location: /, root: site } ]\n', {
      files: { 'site/secret.txt': 'secret\n', 'site/open.txt': 'open\n' },
      uid: 65534,
    });
    try {
      chmodSync(path.join(gw.prefix, 'site/secret.txt'), 0o000);
      expect((await request(gw.ports[0], '/open.txt')).status).toBe(200);
      const r = await request(gw.ports[0], '/secret.txt');
      expect(r.status).toBe(403);
      // The log line is written at the end of the worker's turn: it may arrive just after the answer.
      const line = /\[error\] .*open\(\) ".*secret\.txt" failed \(13: Permission denied\)/;
      await waitFor(() => line.test(gw.stderr()), 2000).catch(() => undefined);
      expect(gw.stderr()).toMatch(line);
    } finally {
      await gw.stop();
    }
  });
});
