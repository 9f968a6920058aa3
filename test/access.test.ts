/**
 * `allow`/`deny` with the gateway as a process, over loopback: 200 or 403 with nginx's page
 * and error log line, before `try_files` and any handler, WebSocket upgrades refused on the
 * raw socket before any handshake, the rules of the location an internal redirect lands in,
 * inheritance, IPv6 and IPv4-mapped clients.
 */
import http from 'node:http';
import net from 'node:net';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { request } from './helpers/http-client';

const SITE = `
error_log: stderr info
pid: off
http:
  access_log: "off"
  default_type: text/plain
  servers:
    - listen: "127.0.0.1:0"
      server_name: site.test
      root: site
      locations:
        - { location: /open/ }
        - location: /allowed/
          allow: 127.0.0.1
          deny: all
        - { location: /denied/, deny: 127.0.0.1 }
        - location: /ordered/
          access: ["deny 127.0.0.1", "allow all"]
        - location: /ipv6-only/
          allow: ::1
          deny: all
        - location: /ws-denied
          handler: websocket-script
          script: echo
          deny: all
        - location: /ws-allowed
          handler: websocket-script
          script: echo
          allow: 127.0.0.1
          deny: all
        - location: /page/
          return: 404
          error_page: 404 /denied/a.txt
        - location: /tf/
          try_files: $uri /denied/a.txt
        - location: /before-try-files/
          deny: all
          try_files: $uri =404
        - location: /custom/
          deny: all
          error_page: 403 /open/forbidden.txt
        - location: /named/
          try_files: $uri @closed
        - location: "@closed"
          deny: all
        - location: /returns/
          deny: all
          return: "200 'returned'"
    - listen: "127.0.0.1:0"
      server_name: other.test
      deny: all
      locations:
        - { location: /inherits/ }
        - { location: /own/, allow: all }
    - listen: "[::]:0 ipv6only=off"
      locations:
        - location: /v4-rule/
          allow: 127.0.0.1
          deny: all
        - location: /v6-rule/
          allow: ::1
          deny: all
`;

const FILES = {
  'site/open/a.txt': 'open\n',
  'site/open/forbidden.txt': 'custom forbidden page\n',
  'site/allowed/a.txt': 'allowed\n',
  'site/denied/a.txt': 'denied\n',
  'site/ordered/a.txt': 'ordered\n',
  'site/ipv6-only/a.txt': 'v6\n',
  'site/tf/real.txt': 'real\n',
  'site/before-try-files/a.txt': 'x\n',
  'html/inherits/a.txt': 'inherits\n',
  'html/own/a.txt': 'own\n',
  'html/v4-rule/a.txt': 'v4\n',
  'html/v6-rule/a.txt': 'v6\n',
};

/** One GET to `host`:`port` (no keep-alive): status and body. */
function get(host: string, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host, port, path, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      })
      .on('error', reject);
  });
}

/** A WebSocket upgrade written by hand; resolves with everything the server sent before closing. */
function upgrade(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (d) => {
      received += d.toString('latin1');
      // A handshake answered: enough (the echo script would keep the socket open).
      if (received.startsWith('HTTP/1.1 101')) socket.destroy();
    });
    socket.on('close', () => resolve(received));
    socket.on('error', reject);
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: site.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
  });
}

describe('allow and deny', () => {
  let gw: GatewayProcess;
  let port: number;
  beforeAll(async () => {
    gw = await startGateway(SITE, { files: FILES, listeners: 2 });
    port = gw.ports[0];
  });
  afterAll(() => gw?.stop());

  test('allowed: 200; denied: 403 with nginx\'s page', async () => {
    expect(await request(port, '/allowed/a.txt')).toMatchObject({ status: 200, body: Buffer.from('allowed\n') });
    const denied = await request(port, '/denied/a.txt');
    expect(denied.status).toBe(403);
    expect(denied.headers['content-type']).toBe('text/html');
    expect(denied.body.toString()).toContain('<head><title>403 Forbidden</title></head>');
    expect((await request(port, '/open/a.txt')).status).toBe(200);
  });

  test('nginx\'s error log line, at error level', async () => {
    await request(port, '/denied/a.txt?x=1');
    // The line may reach the test's pipe just after the response.
    for (let i = 0; i < 100 && !gw.stderr().includes('a.txt?x=1'); i++) await new Promise((r) => setTimeout(r, 20));
    expect(gw.stderr()).toMatch(
      new RegExp(`\\[error\\] \\d+#0: access forbidden by rule, client: 127\\.0\\.0\\.1, server: site\\.test, request: "GET /denied/a\\.txt\\?x=1 HTTP/1\\.1", host: "127\\.0\\.0\\.1:${port}"\n`),
    );
  });

  test('the first matching rule wins, in the order written', async () => {
    expect((await request(port, '/ordered/a.txt')).status).toBe(403);
  });

  test('an IPv4 client meets no IPv6 rule: `deny all` decides', async () => {
    expect((await request(port, '/ipv6-only/a.txt')).status).toBe(403);
  });

  test('checked before try_files and the handler: 403, not 404', async () => {
    expect((await request(port, '/before-try-files/missing')).status).toBe(403);
    expect((await request(port, '/before-try-files/a.txt')).status).toBe(403);
  });

  test('a WebSocket upgrade denied: a 403 on the raw socket, no handshake', async () => {
    const response = await upgrade(port, '/ws-denied');
    expect(response).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
    expect(response).not.toMatch(/Sec-WebSocket-Accept/i);
    expect(response).toContain('<head><title>403 Forbidden</title></head>');
    expect(await upgrade(port, '/ws-allowed')).toMatch(/^HTTP\/1\.1 101 /);
  });

  test('internal redirects are checked again in the location they land in (nginx re-runs its phases)', async () => {
    // error_page into a denied location: that 403 gets the built-in page
    expect((await request(port, '/page/x')).status).toBe(403);
    // try_files' fallback URI and named location
    expect((await request(port, '/tf/real.txt')).status).toBe(200);
    expect((await request(port, '/tf/missing')).status).toBe(403);
    expect((await request(port, '/named/missing')).status).toBe(403);
  });

  test("a location's return runs before access, as nginx's rewrite phase: never denied", async () => {
    expect(await request(port, '/returns/x')).toMatchObject({ status: 200, body: Buffer.from('returned') });
  });

  test('error_page 403 serves its page from an open location, with status 403', async () => {
    const res = await request(port, '/custom/x');
    expect(res.status).toBe(403);
    expect(res.body.toString()).toBe('custom forbidden page\n');
  });

  test('inheritance: a location without rules takes the server\'s; one with its own replaces them', async () => {
    const other = { headers: { Host: 'other.test' } };
    expect((await request(port, '/inherits/a.txt', other)).status).toBe(403);
    expect((await request(port, '/own/a.txt', other)).status).toBe(200);
    expect((await request(port, '/elsewhere', other)).status).toBe(403);
  });

  test('an IPv4-mapped client (::ffff:127.0.0.1 on a dual-stack socket) meets the IPv4 rules; ::1 the IPv6 ones', async () => {
    const dual = gw.ports[1];
    expect((await get('127.0.0.1', dual, '/v4-rule/a.txt')).status).toBe(200);
    expect((await get('127.0.0.1', dual, '/v6-rule/a.txt')).status).toBe(403);
    expect((await get('::1', dual, '/v6-rule/a.txt')).status).toBe(200);
    expect((await get('::1', dual, '/v4-rule/a.txt')).status).toBe(403);
  });
});
