/** `listen ... ssl`: certificates per server chosen by SNI, https and wss, checks at -t, keepalive on the TCP socket. */
import { execFileSync } from 'node:child_process';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import WebSocket, { WebSocketServer } from 'ws';
import { makePrefix, runCli, startGateway, type GatewayProcess } from './helpers/gateway-process';
import { rmSync } from 'node:fs';

/** A self-signed certificate for `name`, written as certs/NAME.pem and certs/NAME.key under `dir`. */
function makeCertificate(dir: string, name: string): void {
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`,
    '-addext', `subjectAltName=DNS:${name}`,
    '-keyout', path.join(dir, `certs/${name}.key`), '-out', path.join(dir, `certs/${name}.pem`),
  ], { stdio: 'ignore' });
}

const SITE = `
error_log: stderr info
pid: off
http:
  access_log: "off"
  ssl_protocols: TLSv1.3
  servers:
    - listen: "127.0.0.1:0 ssl so_keepalive=2s:2s:8"
      server_name: a.test
      ssl_certificate: certs/a.test.pem
      ssl_certificate_key: certs/a.test.key
      locations:
        - { location: /s, handler: websocket-script, script: echo }
        - { location: /, return: "200 'a $scheme $https'" }
    - listen: "127.0.0.1:0 ssl"
      server_name: b.test
      ssl_certificate: certs/b.test.pem
      ssl_certificate_key: certs/b.test.key
      locations:
        - { location: /, return: "200 'b $scheme'" }
`;

function get(port: number, servername: string | undefined, host: string): Promise<{ body: string; subject: string; protocol: string | null }> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port, path: '/', servername, headers: { Host: host }, rejectUnauthorized: false, agent: false }, (res) => {
      const socket = res.socket as tls.TLSSocket;
      const subject = String(socket.getPeerCertificate().subject?.CN);
      const protocol = socket.getProtocol();
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ body, subject, protocol }));
    });
    req.on('error', reject);
    req.end();
  });
}

function fingerprint(port: number, servername: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });
}

describe('TLS', () => {
  let gw: GatewayProcess;
  let prefix: string;
  let backend: WebSocketServer;
  beforeAll(async () => {
    backend = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    backend.on('connection', (ws) => ws.on('message', (m) => ws.send(`backend: ${m}`)));
    await new Promise((resolve) => backend.once('listening', resolve));
    prefix = makePrefix({ 'certs/.keep': '' });
    makeCertificate(prefix, 'a.test');
    makeCertificate(prefix, 'b.test');
    const port = (backend.address() as { port: number }).port;
    gw = await startGateway(SITE.replace('error_log: stderr info\npid: off', 'error_log: stderr info\npid: off\nworker_processes: 1').replace("        - { location: /s, handler", `        - { location: /up, proxy_pass: "http://127.0.0.1:${port}", proxy_http_version: "1.1", proxy_set_header: ["Upgrade $http_upgrade", "Connection upgrade"] }\n        - { location: /s, handler`), { prefix });
  }, 30000);
  afterAll(async () => {
    await gw.stop();
    rmSync(prefix, { recursive: true, force: true });
    await new Promise((resolve) => backend.close(resolve));
  });

  test('SNI picks the certificate; Host picks the server; $scheme is https', async () => {
    const port = gw.ports[0];
    expect(await get(port, 'a.test', 'a.test')).toMatchObject({ body: 'a https on', subject: 'a.test' });
    expect(await get(port, 'b.test', 'b.test')).toMatchObject({ body: 'b https', subject: 'b.test', protocol: 'TLSv1.3' });
    expect((await get(port, undefined, 'a.test')).subject).toBe('a.test');
  });

  test('ssl_protocols TLSv1.3 refuses a TLSv1.2 client', async () => {
    await expect(
      new Promise((resolve, reject) => {
        const socket = tls.connect({ host: '127.0.0.1', port: gw.ports[0], servername: 'b.test', maxVersion: 'TLSv1.2', rejectUnauthorized: false }, () => resolve(socket.getProtocol()));
        socket.on('error', reject);
      }),
    ).rejects.toThrow();
    expect((await get(gw.ports[0], 'a.test', 'a.test')).protocol).toBe('TLSv1.3');
  });

  test('wss:// through the proxy to a plain WebSocket backend', async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${gw.ports[0]}/up`, { servername: 'a.test', rejectUnauthorized: false, headers: { Host: 'a.test' } } as WebSocket.ClientOptions);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send('via proxy');
    expect(String(await new Promise((resolve) => ws.once('message', resolve)))).toBe('backend: via proxy');
    ws.close();
  });

  test('a reload reads the certificate files again', async () => {
    const before = await fingerprint(gw.ports[0], 'a.test');
    makeCertificate(prefix, 'a.test');
    gw.child.kill('SIGHUP');
    for (let i = 0; i < 250 && !gw.stderr().includes('shutting down gracefully'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(await fingerprint(gw.ports[0], 'a.test')).not.toBe(before);
  });

  test('wss:// to a websocket-script location', async () => {
    const ws = new WebSocket(`wss://127.0.0.1:${gw.ports[0]}/s`, { servername: 'a.test', rejectUnauthorized: false, headers: { Host: 'a.test' } } as WebSocket.ClientOptions);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.send('secure hello');
    expect(String(await new Promise((resolve) => ws.once('message', resolve)))).toBe('secure hello');
    ws.close();
  });
});

describe('TLS configuration errors, at -t', () => {
  let prefix: string;
  beforeAll(() => (prefix = makePrefix({ 'certs/bad.pem': 'not a certificate\n' })));
  afterAll(() => rmSync(prefix, { recursive: true, force: true }));
  test.each([
    ['no certificate', 'http:\n  servers:\n    - listen: "443 ssl"\n', /no "ssl_certificate" is defined for the "listen \.\.\. ssl" directive in .*test\.yaml:3:7$/],
    ['a missing file', 'http:\n  servers:\n    - listen: "443 ssl"\n      ssl_certificate: certs/none.pem\n      ssl_certificate_key: certs/none.key\n', /cannot load certificate ".*none\.pem": ENOENT in .*test\.yaml:3:7$/],
    ['a bad certificate', 'http:\n  servers:\n    - listen: "443 ssl"\n      ssl_certificate: certs/bad.pem\n      ssl_certificate_key: certs/bad.pem\n', /cannot load certificate ".*bad\.pem" with key .* in .*test\.yaml:3:7$/],
    ['a bad protocol', 'http:\n  ssl_protocols: SSLv3\n', /invalid value "SSLv3" in "ssl_protocols" directive in .*test\.yaml:2:18$/],
  ])('%s', async (_name, yaml, message) => {
    require('node:fs').writeFileSync(path.join(prefix, 'test.yaml'), yaml);
    const { code, stderr } = await runCli(['-t', '-p', prefix, '-c', 'test.yaml']);
    expect(code).toBe(1);
    expect(stderr.split('\n')[0]).toMatch(message);
  });
});
