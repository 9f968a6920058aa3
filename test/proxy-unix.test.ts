/**
 * `unix:` upstreams as real configurations write them (GitLab's `server unix:/.../gitlab.socket`,
 * Gunicorn's, Puma's `unix:///...`), and `proxy_pass http://unix:/path:/uri`: a backend on a
 * unix-domain socket, the gateway as a process, nginx's Host (`localhost` for a socket),
 * URI rule and error log line.
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expectLogged, startGateway, type GatewayProcess } from './helpers/gateway-process';
import { request } from './helpers/proxy-peers';
import { parseServerLine } from '../src/modules/proxy/upstreams';
import { parseProxyPass } from '../src/modules/proxy/target';

describe('unix: sockets (pure)', () => {
  test.each([
    ['unix:/run/app.sock', { name: 'unix:/run/app.sock', socketPath: '/run/app.sock', port: 0 }],
    ['unix:///myapp/tmp/puma.sock', { name: 'unix:///myapp/tmp/puma.sock', socketPath: '///myapp/tmp/puma.sock' }],
    ['unix:/tmp/gunicorn.sock fail_timeout=0', { socketPath: '/tmp/gunicorn.sock', failTimeout: 0 }],
  ])('server %s', (line, expected) => expect(parseServerLine(line)).toMatchObject(expected));

  test.each([
    ['unix:', 'no path in the unix domain socket in upstream "unix:"'],
    [`unix:/${'a'.repeat(107)}`, `too long path in the unix domain socket in upstream "unix:/${'a'.repeat(107)}"`],
  ])('server %s is refused: %s', (line, reason) => expect(() => parseServerLine(line)).toThrow(reason));

  test.each([
    ['http://unix:/tmp/app.sock', '/tmp/app.sock', null],
    ['http://unix:/tmp/app.sock:/api/', '/tmp/app.sock', '/api/'],
    ['http://unix:/tmp/app.sock:', '/tmp/app.sock', null],
  ])('proxy_pass %s: socket %s, URI part %s, $proxy_host localhost', (url, socketPath, uriPart) => {
    expect(parseProxyPass(url)).toMatchObject({ socketPath, uriPart, proxyHost: 'localhost' });
  });

  test('proxy_pass http://unix: without a path is refused with nginx words', () => {
    expect(() => parseProxyPass('http://unix::/x')).toThrow('no path in the unix domain socket in upstream "unix::/x"');
  });
});

describe('unix: sockets (gateway process)', () => {
  let dir: string;
  let backend: http.Server;
  let gw: GatewayProcess;
  const seen: { url: string; host: string }[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'gateway-unix-'));
    const socket = path.join(dir, 'app.sock');
    backend = http.createServer((req, res) => {
      seen.push({ url: req.url ?? '', host: req.headers.host ?? '' });
      res.end(`backend saw ${req.url}\n`);
    });
    await new Promise<void>((resolve) => backend.listen(socket, resolve));
    gw = await startGateway(`
error_log: stderr notice
http:
  access_log: off
  upstreams:
    app:
      servers: ["unix:${socket} fail_timeout=0"]
    gone:
      servers: ["unix:${path.join(dir, 'none.sock')}"]
  servers:
    - listen: "127.0.0.1:0"
      locations:
        - location: /up/
          proxy_pass: http://app
        - location: /direct/
          proxy_pass: "http://unix:${socket}:/inner/"
        - location: /gone/
          proxy_pass: http://gone
`);
  });

  afterAll(async () => {
    await gw?.stop();
    await new Promise((resolve) => backend.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  test('an upstream of one unix: server gets the request, with Host the upstream name', async () => {
    seen.length = 0;
    const reply = await request(gw.ports[0], '/up/a?b=1');
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('backend saw /up/a?b=1\n');
    expect(seen).toEqual([{ url: '/up/a?b=1', host: 'app' }]);
  });

  test('proxy_pass http://unix:/path:/uri/ replaces the location prefix and sends Host: localhost, as nginx', async () => {
    seen.length = 0;
    const reply = await request(gw.ports[0], '/direct/x/y?z');
    expect(reply.status).toBe(200);
    expect(seen).toEqual([{ url: '/inner/x/y?z', host: 'localhost' }]);
  });

  test('a socket nobody listens on is a 502, logged with the socket as nginx names it', async () => {
    const reply = await request(gw.ports[0], '/gone/p');
    expect(reply.status).toBe(502);
    const none = path.join(dir, 'none.sock');
    // nginx 1.22 logs it at crit: `[crit] ... connect() to unix:/path failed (2: No such file or directory)`.
    await expectLogged(gw, /\[crit\] \d+#0: connect\(\) to unix:\S+ failed \(2: No such file or directory\) while connecting to upstream/);
    await expectLogged(gw, `connect() to unix:${none} failed`);
    await expectLogged(gw, `upstream: "http://unix:${none}:/gone/p"`);
  });
});
