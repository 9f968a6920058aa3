/**
 * HTTP/2 beside nginx 1.22: one nginx.conf (a TLS `listen ... ssl http2` and a cleartext
 * `listen ... http2`), run by nginx and by the gateway, the same HTTP/2 requests to both with
 * Node's client; the status, the header fields (names and values, Date and Server apart), the
 * body, and what the backend behind `proxy_pass` received must be the same. Static files
 * (ranges, conditionals, gzip, HEAD, the 404 page), return, redirects, the proxy with request
 * bodies of known and unknown length. nginx missing is an error, never a skip.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { rmSync, utimesSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type http2 from 'node:http2';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { h2Connect, h2Request, type H2Response } from '../helpers/h2-client';
import { makePrefix, startGateway, type GatewayProcess } from '../helpers/gateway-process';
import { freePort, waitForPort } from '../helpers/ports';
import { findNginx } from './pair';

/** What the backend saw of the last request, by the `x-case` header the client sent. */
const seen = new Map<string, { method: string; url: string; length: number; framing: string; headers: http.IncomingHttpHeaders }>();

function site(prefix: string, tls: number, plain: number, backend: number): string {
  return `daemon off;
master_process off;
pid ${prefix}/run.pid;
error_log stderr info;
events {}
http {
  access_log off;
  default_type application/octet-stream;
  types { text/html html; text/plain txt; }
  gzip on;
  gzip_min_length 10;
  gzip_types text/plain;
  server {
    listen 127.0.0.1:${tls} ssl http2;
    listen 127.0.0.1:${plain} http2;
    ssl_certificate ${prefix}/cert.pem;
    ssl_certificate_key ${prefix}/key.pem;
    root ${prefix}/www;
    location / { }
    location = /show { return 200 "$server_protocol|$scheme|$host|$http2|$request_method|$request_uri"; }
    location = /moved { return 302 /elsewhere?x=1; }
    # 1.1 on both: the gateway writes an HTTP/1.1 request line under 1.0 too (the proxy issue).
    location /up/ { proxy_pass http://127.0.0.1:${backend}/; proxy_http_version 1.1; }
  }
}
`;
}

/**
 * A response as compared: status, header fields without Date and Server, body; a built-in
 * page's signature (`nginx/1.22.1`, `gateway/0.1.0`) left out, and its Content-Length with it.
 */
function comparable(r: H2Response): string {
  const body = r.body.toString('latin1');
  const page = body.replace(/<hr><center>[^<]*<\/center>/, '<hr>');
  const fields = Object.entries(r.headers)
    .filter(([name]) => !['date', 'server', ':status'].includes(name))
    .map(([name, value]) => (name === 'content-length' && page !== body && Number(value) === r.body.length ? `${name}: ${page.length} (signature apart)` : `${name}: ${String(value)}`))
    .sort();
  return `${r.status}\n${fields.join('\n')}\n\n${page}`;
}

/** The requests, each with a name; `body` goes as DATA frames. */
const REQUESTS: readonly { name: string; headers: http2.OutgoingHttpHeaders; body?: string }[] = [
  { name: 'a file', headers: { ':path': '/index.html' } },
  { name: 'the index', headers: { ':path': '/' } },
  { name: 'HEAD of a file', headers: { ':path': '/index.html', ':method': 'HEAD' } },
  { name: 'a range', headers: { ':path': '/ten.txt', range: 'bytes=2-5' } },
  { name: 'two ranges', headers: { ':path': '/ten.txt', range: 'bytes=0-1,4-5' } },
  { name: 'an unsatisfiable range', headers: { ':path': '/ten.txt', range: 'bytes=50-60' } },
  { name: 'If-Modified-Since', headers: { ':path': '/ten.txt', 'if-modified-since': 'Tue, 14 Nov 2023 22:13:20 GMT' } },
  { name: 'gzip', headers: { ':path': '/long.txt', 'accept-encoding': 'gzip' } },
  { name: 'not found', headers: { ':path': '/missing' } },
  { name: 'a directory without slash', headers: { ':path': '/dir', ':authority': 'site.test' } },
  { name: 'return with variables', headers: { ':path': '/show?a=1', ':authority': 'site.test' } },
  { name: 'a redirect', headers: { ':path': '/moved', ':authority': 'site.test' } },
  { name: 'POST to a file', headers: { ':path': '/index.html', ':method': 'POST' }, body: 'x' },
  { name: 'proxy GET', headers: { ':path': '/up/a?b=c', 'x-case': 'get' } },
  { name: 'proxy POST with Content-Length', headers: { ':path': '/up/post', ':method': 'POST', 'content-length': '11', 'x-case': 'known' }, body: 'hello world' },
  { name: 'proxy POST without Content-Length', headers: { ':path': '/up/post', ':method': 'POST', 'x-case': 'unknown' }, body: 'a body of unknown length' },
];

describe('HTTP/2 beside nginx 1.22', () => {
  let prefix: string;
  let nginx: ChildProcess;
  let gateway: GatewayProcess;
  let backend: http.Server;
  const ports = { nginx: [0, 0], gateway: [0, 0] };
  const sessions: http2.ClientHttp2Session[] = [];

  beforeAll(async () => {
    backend = http.createServer((req, res) => {
      let length = 0;
      req.on('data', (c: Buffer) => (length += c.length));
      req.on('end', () => {
        const framing = req.headers['content-length'] !== undefined ? 'content-length' : req.headers['transfer-encoding'] ?? 'none';
        seen.set(`${req.headers['x-side']}:${req.headers['x-case']}`, { method: req.method ?? '', url: req.url ?? '', length, framing, headers: req.headers });
        res.setHeader('Content-Type', 'text/plain');
        res.setHeader('Connection', 'keep-alive');
        res.end(`backend saw ${req.method} ${req.url} ${length}`);
      });
    });
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    const backendPort = (backend.address() as { port: number }).port;
    prefix = makePrefix({ 'www/index.html': '<p>home</p>\n', 'www/ten.txt': '0123456789', 'www/long.txt': 'gzip me, please. '.repeat(100), 'www/dir/index.html': 'in dir\n' });
    for (const file of ['www/index.html', 'www/ten.txt', 'www/long.txt', 'www/dir/index.html', 'www/dir', 'www']) utimesSync(path.join(prefix, file), 1_700_000_000, 1_700_000_000);
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-keyout', path.join(prefix, 'key.pem'), '-out', path.join(prefix, 'cert.pem')], { stdio: 'ignore' });
    for (const side of ['nginx', 'gateway'] as const) ports[side] = [await freePort(), await freePort()];
    writeFileSync(path.join(prefix, 'nginx.conf'), site(prefix, ports.nginx[0], ports.nginx[1], backendPort).replace('location /up/ {', 'location /up/ { proxy_set_header X-Side nginx;'));
    const binary = findNginx();
    const check = spawnSync(binary, ['-t', '-p', `${prefix}/`, '-c', `${prefix}/nginx.conf`, '-e', 'stderr'], { encoding: 'utf8' });
    if (check.status !== 0) throw new Error(`nginx rejects the configuration:\n${check.stderr}`);
    nginx = spawn(binary, ['-p', `${prefix}/`, '-c', `${prefix}/nginx.conf`, '-e', 'stderr'], { stdio: ['ignore', 'ignore', 'ignore'] });
    await waitForPort(ports.nginx[0], nginx);
    gateway = await startGateway(site(prefix, ports.gateway[0], ports.gateway[1], backendPort).replace('location /up/ {', 'location /up/ { proxy_set_header X-Side gateway;'), {
      prefix,
      listeners: 2,
      confName: 'test.conf',
    });
  }, 60000);

  afterAll(async () => {
    for (const s of sessions) s.destroy();
    nginx?.kill('SIGTERM');
    await gateway?.stop();
    backend?.close();
    if (prefix) rmSync(prefix, { recursive: true, force: true });
  });

  test.each([
    ['over TLS (h2)', 0, true],
    ['in cleartext with prior knowledge (h2c)', 1, false],
  ] as const)('%s: every request answered as nginx answers it, the backend sees the same', async (_name, slot, tls) => {
    const nginxSession = await h2Connect(ports.nginx[slot], tls);
    const gatewaySession = await h2Connect(ports.gateway[slot], tls);
    sessions.push(nginxSession, gatewaySession);
    for (const r of REQUESTS) {
      const expected = await h2Request(nginxSession, r.headers, r.body);
      const actual = await h2Request(gatewaySession, r.headers, r.body);
      // Each side's own port (in redirects, in $host's fallback) is PORT.
      const own = (text: string, port: number) => text.replaceAll(`:${port}`, ':PORT');
      expect(`${r.name}\n${own(comparable(actual), ports.gateway[slot])}`).toBe(`${r.name}\n${own(comparable(expected), ports.nginx[slot])}`);
    }
    for (const kase of ['get', 'known', 'unknown']) {
      const { headers: nginxHeaders, ...fromNginx } = seen.get(`nginx:${kase}`)!;
      const { headers: gatewayHeaders, ...fromGateway } = seen.get(`gateway:${kase}`)!;
      expect({ kase, ...fromGateway }).toEqual({ kase, ...fromNginx });
      const names = (h: http.IncomingHttpHeaders) => Object.keys(h).filter((n) => n !== 'x-side').sort();
      expect(names(gatewayHeaders)).toEqual(names(nginxHeaders));
    }
  }, 30000);
});
