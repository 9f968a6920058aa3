/**
 * The upstream request line under `proxy_http_version 1.0` (nginx's default) with the gateway as
 * a process over loopback, where the parity cases (test/parity/proxy-accel.test.ts) cannot go:
 * an `https://` upstream and a unix socket get `HTTP/1.0` too, `1.1` still says `HTTP/1.1`, an
 * HTTP/1.0 upstream's answer without a length is read to its close, and no upstream socket is
 * left behind (the worker's descriptors back to their baseline).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { request } from './helpers/http-client';
import { fdTotal, workerPids } from './helpers/push-clients';

/** Answers every request with the version of its request line. */
const versionOf: http.RequestListener = (req, res) => {
  const body = `HTTP/${req.httpVersion}\n`;
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
};

function listening<T extends net.Server>(server: T, where: number | string = 0): Promise<T> {
  return new Promise((resolve) => (typeof where === 'string' ? server.listen(where, () => resolve(server)) : server.listen(where, '127.0.0.1', () => resolve(server))));
}

const portOf = (server: net.Server) => (server.address() as AddressInfo).port;

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const start = Date.now();
  while (!check()) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('the upstream request line', () => {
  let dir: string;
  let gw: GatewayProcess;
  let plain: http.Server;
  let tls: https.Server;
  let unix: http.Server;
  let old: net.Server;
  const BODY = 'a body of the old kind\n'.repeat(100);

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'gw-http10-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=a.test', '-keyout', 'key.pem', '-out', 'cert.pem'], { cwd: dir, stdio: 'ignore' });
    plain = await listening(http.createServer(versionOf));
    tls = await listening(https.createServer({ key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) }, versionOf));
    unix = await listening(http.createServer(versionOf), path.join(dir, 'up.sock'));
    // An HTTP/1.0 server of the old kind: no length, the body ends when the connection does.
    old = await listening(
      net.createServer((socket) => {
        socket.on('error', () => {});
        socket.once('data', () => socket.end(`HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n${BODY}`));
      }),
    );
    gw = await startGateway(`
error_log: stderr info
pid: off
worker_processes: 1
http:
  access_log: "off"
  servers:
    - listen: "127.0.0.1:0"
      locations:
        - location: /plain/
          proxy_pass: http://127.0.0.1:${portOf(plain)}
        - location: /tls/
          proxy_pass: https://127.0.0.1:${portOf(tls)}
        - location: /unix/
          proxy_pass: http://unix:${path.join(dir, 'up.sock')}:/
        - location: /old/
          proxy_pass: http://127.0.0.1:${portOf(old)}
        - location: /v11/
          proxy_pass: http://127.0.0.1:${portOf(plain)}
          proxy_http_version: "1.1"
`);
  });

  afterAll(async () => {
    await gw?.stop();
    for (const server of [plain, tls, unix, old]) await new Promise((resolve) => server?.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  test('HTTP/1.0 to an http, https and unix upstream; HTTP/1.1 where proxy_http_version says so', async () => {
    const port = gw.ports[0];
    for (const [target, version] of [['/plain/x', '1.0'], ['/tls/x', '1.0'], ['/unix/x', '1.0'], ['/v11/x', '1.1']]) {
      const res = await request(port, target);
      expect([target, res.status, res.body.toString()]).toEqual([target, 200, `HTTP/${version}\n`]);
    }
  });

  test("an HTTP/1.0 upstream's answer without a length: read to its close, whole; no descriptor left behind", async () => {
    const port = gw.ports[0];
    await request(port, '/old/warm');
    await new Promise((r) => setTimeout(r, 200));
    const pids = workerPids(gw.child.pid!);
    const baseline = fdTotal(pids);
    for (let i = 0; i < 5; i++) {
      const res = await request(port, `/old/${i}`);
      expect(res.status).toBe(200);
      expect(res.body.toString()).toBe(BODY);
      const versioned = await request(port, `/plain/${i}`);
      expect(versioned.body.toString()).toBe('HTTP/1.0\n');
    }
    await until(() => fdTotal(pids) <= baseline, `descriptors back to ${baseline}`);
  });
});
