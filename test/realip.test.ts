/**
 * realip and `listen ... proxy_protocol` with the gateway as a process (`master_process off`,
 * so its descriptors can be counted): the address a trusted balancer forwards is what `allow`/
 * `deny`, the error log, the access log and the variables see, a forged `X-Forwarded-For` from
 * anyone else changes nothing, `unix:` peers, WebSocket upgrades, PROXY v1 and v2 on plain and
 * TLS listeners (keep-alive requests keep the header's address), and the connections a
 * `proxy_protocol` listener refuses: garbage, a header cut in two, a v2 header whose length
 * runs past what came, silence (closed at `client_header_timeout`), each with nginx's line, the
 * descriptors back to their baseline.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import WebSocket from 'ws';
import { makePrefix, startGateway, type GatewayProcess } from './helpers/gateway-process';
import { eventually, fdCount, logged, rawConnect as rawConnectTo, type RawConnection } from './helpers/raw-socket';

const HEADER_TIMEOUT_MS = 1000;
const SHOW = `"200 'ra=$remote_addr rp=[$remote_port] rra=$realip_remote_addr ppa=[$proxy_protocol_addr] ppp=[$proxy_protocol_port] ppsa=[$proxy_protocol_server_addr] ppsp=[$proxy_protocol_server_port]\\n'"`;

function site(unixPath: string): string {
  return `
master_process: "off"
error_log: stderr info
pid: "off"
http:
  access_log: logs/access.log
  client_header_timeout: ${HEADER_TIMEOUT_MS}ms
  servers:
    - listen: "127.0.0.1:0"
      root: www
      set_real_ip_from: [127.0.0.1, "::1"]
      real_ip_header: X-Forwarded-For
      locations:
        - location: /show
          return: ${SHOW}
        - location: /recursive/
          set_real_ip_from: [127.0.0.1, 10.0.0.0/8]
          real_ip_recursive: "on"
          add_header: X-Remote $remote_addr
        - location: /own/
          real_ip_header: X-Client
          add_header: X-Remote $remote_addr
        - location: /own-return/
          real_ip_header: X-Client
          return: "200 '$remote_addr'"
        - location: /guarded/
          allow: 203.0.113.0/24
          deny: all
        - location: /upstream-down/
          proxy_pass: http://127.0.0.1:1
        - location: /ws
          handler: websocket-script
          script: echo
          allow: 203.0.113.0/24
          deny: all
    - listen: "unix:${unixPath}"
      set_real_ip_from: '"unix:"'
      locations:
        - location: /
          return: ${SHOW}
    - listen: "127.0.0.11:0 proxy_protocol"
      set_real_ip_from: 127.0.0.0/8
      real_ip_header: proxy_protocol
      locations:
        - location: /
          return: ${SHOW}
    - listen: "127.0.0.12:0 ssl proxy_protocol"
      ssl_certificate: cert.pem
      ssl_certificate_key: key.pem
      locations:
        - location: /
          return: ${SHOW}
`;
}

/** One request over a fresh connection from `localAddress`, the whole response. */
function get(port: number, target: string, headers: Record<string, string> = {}, localAddress = '127.0.0.1'): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: target, headers, localAddress, agent: false }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', reject);
  });
}

/** Where the proxy_protocol listeners are: each socket its own address (port 0 on one address is one socket). */
const PROXIED_HOST = '127.0.0.11';
const PROXIED_TLS_HOST = '127.0.0.12';

/** A raw connection to `host:port` (a proxied listener's address) writing `bytes`. */
function rawConnect(port: number, bytes: Buffer | string, host = PROXIED_HOST): Promise<RawConnection> {
  return rawConnectTo(port, bytes, undefined, host);
}

/** Raw bytes on a connection, everything the server sends until it closes. */
async function exchange(port: number, bytes: Buffer | string, host = PROXIED_HOST): Promise<{ text: string; ms: number }> {
  const conn = await rawConnect(port, bytes, host);
  const ms = await conn.closed;
  return { text: conn.received(), ms };
}

/** The body of the last response in `text`. */
const lastBody = (text: string) => text.slice(text.lastIndexOf('\r\n\r\n') + 4);

const SIG = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');
/** A v2 PROXY header over TCP/IPv4: 192.0.2.10:4321 -> 198.51.100.1:443, `length` as said. */
function v2Inet4(length = 12): Buffer {
  const body = Buffer.from([192, 0, 2, 10, 198, 51, 100, 1, 0x10, 0xe1, 0x01, 0xbb]);
  const fixed = Buffer.from([0x21, 0x11, length >> 8, length & 0xff]);
  return Buffer.concat([SIG, fixed, body]);
}

describe('realip and proxy_protocol', () => {
  let gw: GatewayProcess;
  let plain: number;
  let proxied: number;
  let proxiedTls: number;
  let unixPath: string;
  let baseline: number;
  const accessLog = () => readFileSync(path.join(gw.prefix, 'logs/access.log'), 'utf8');

  beforeAll(async () => {
    const prefix = makePrefix({ 'www/guarded/a.txt': 'guarded\n', 'www/recursive/a.txt': 'recursive\n', 'www/own/a.txt': 'own\n', 'logs/.keep': '' });
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-keyout', path.join(prefix, 'key.pem'), '-out', path.join(prefix, 'cert.pem')], { stdio: 'ignore' });
    unixPath = path.join(os.tmpdir(), `gateway-realip-${process.pid}.sock`);
    gw = await startGateway(site(unixPath), { prefix, listeners: 4 });
    [plain, , proxied, proxiedTls] = gw.ports;
    // The access log is opened at its first line: the baseline counts it.
    await get(plain, '/show');
    await eventually(() => existsSync(path.join(prefix, 'logs/access.log')) && accessLog().length > 0);
    baseline = fdCount(gw.child.pid!);
  });
  afterAll(() => gw?.stop());

  test('a trusted peer: the forwarded address is $remote_addr, without a port; $realip_remote_addr is the peer', async () => {
    expect((await get(plain, '/show', { 'X-Forwarded-For': '203.0.113.7' })).body).toBe('ra=203.0.113.7 rp=[] rra=127.0.0.1 ppa=[] ppp=[] ppsa=[] ppsp=[]\n');
    expect((await get(plain, '/show', { 'X-Forwarded-For': '198.51.100.1, 203.0.113.7:5678' })).body).toMatch(/^ra=203\.0\.113\.7 rp=\[5678\] rra=127\.0\.0\.1 /);
  });

  test('a forged X-Forwarded-For from an untrusted peer changes nothing: allow/deny, the logs and the variables see the peer', async () => {
    const forged = await get(plain, '/guarded/a.txt', { 'X-Forwarded-For': '203.0.113.7' }, '127.0.0.2');
    expect(forged.status).toBe(403);
    await logged(gw.stderr, /access forbidden by rule, client: 127\.0\.0\.2, server: [^,]*, request: "GET \/guarded\/a\.txt HTTP\/1\.1"/, performance.now());
    const shown = await get(plain, '/show', { 'X-Forwarded-For': '203.0.113.7' }, '127.0.0.2');
    expect(shown.body).toMatch(/^ra=127\.0\.0\.2 rp=\[\d+\] rra=127\.0\.0\.2 /);
  });

  test('allow/deny after realip: the real address is let in or refused, with its error line, and logged in the access log', async () => {
    const allowed = await get(plain, '/guarded/a.txt', { 'X-Forwarded-For': '203.0.113.7', 'User-Agent': 'realip-allowed' });
    expect([allowed.status, allowed.body]).toEqual([200, 'guarded\n']);
    const refused = await get(plain, '/guarded/a.txt', { 'X-Forwarded-For': '198.51.100.1', 'User-Agent': 'realip-refused' });
    expect(refused.status).toBe(403);
    await logged(gw.stderr, 'access forbidden by rule, client: 198.51.100.1,', performance.now());
    await eventually(() => accessLog().includes('realip-refused'));
    expect(accessLog()).toMatch(/^203\.0\.113\.7 - - \[[^\]]+\] "GET \/guarded\/a\.txt HTTP\/1\.1" 200 8 "-" "realip-allowed"$/m);
    expect(accessLog()).toMatch(/^198\.51\.100\.1 - - \[[^\]]+\] "GET \/guarded\/a\.txt HTTP\/1\.1" 403 \d+ "-" "realip-refused"$/m);
  });

  test("the proxy's error line names the forwarded client", async () => {
    const since = performance.now();
    expect((await get(plain, '/upstream-down/x', { 'X-Forwarded-For': '203.0.113.44' })).status).toBe(502);
    await logged(gw.stderr, /connect\(\) failed \(111: Connection refused\) while connecting to upstream, client: 203\.0\.113\.44, server: /, since);
  });

  test("a location with its own settings runs realip in preaccess, when the server's found nothing", async () => {
    // The server's post-read reads the last address (10.0.0.5: the peer is trusted, not recursive);
    // it found one, so the location's recursive settings are not tried again.
    const once = await get(plain, '/recursive/a.txt', { 'X-Forwarded-For': '198.51.100.1, 10.0.0.5' });
    expect(once.headers['x-remote']).toBe('10.0.0.5');
    // No X-Forwarded-For: the server's post-read finds nothing; X-Real-IP is read by no one.
    const none = await get(plain, '/recursive/a.txt', { 'X-Real-IP': '198.51.100.1' });
    expect(none.headers['x-remote']).toBe('127.0.0.1');
    // A location reading another header: its preaccess handler finds what post-read did not...
    const own = await get(plain, '/own/a.txt', { 'X-Client': '198.51.100.9' });
    expect(own.headers['x-remote']).toBe('198.51.100.9');
    // ... unless post-read found an address first (nginx sets it once per request).
    const first = await get(plain, '/own/a.txt', { 'X-Client': '198.51.100.9', 'X-Forwarded-For': '203.0.113.7' });
    expect(first.headers['x-remote']).toBe('203.0.113.7');
    // `return` runs in the rewrite phase, before preaccess: it sees the peer, as in nginx.
    expect((await get(plain, '/own-return/', { 'X-Client': '198.51.100.9' })).body).toBe('127.0.0.1');
  });

  test('a WebSocket upgrade: the access phase sees the forwarded address', async () => {
    const open = (xff: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${plain}/ws`, { headers: { 'X-Forwarded-For': xff } });
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!));
        ws.on('error', () => undefined);
      });
    expect(await open('203.0.113.7')).toBe(101);
    expect(await open('198.51.100.1')).toBe(403);
  });

  test('set_real_ip_from "unix:": a client on a unix socket', async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.get({ socketPath: unixPath, path: '/', headers: { 'X-Real-IP': '2001:DB8::7' }, agent: false }, (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
    });
    expect(body).toBe('ra=2001:db8::7 rp=[] rra=unix: ppa=[] ppp=[] ppsa=[] ppsp=[]\n');
  });

  test('PROXY v1: the header\'s addresses, realip proxy_protocol takes the source and its port, for every request of the connection', async () => {
    const request = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
    const { text } = await exchange(proxied, `PROXY TCP4 192.0.2.10 198.51.100.1 4321 443\r\n${request}GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    const bodies = text.split('HTTP/1.1 200 OK').slice(1).map(lastBody);
    expect(bodies).toEqual(Array(2).fill('ra=192.0.2.10 rp=[4321] rra=127.0.0.1 ppa=[192.0.2.10] ppp=[4321] ppsa=[198.51.100.1] ppsp=[443]\n'));
    // The header alone first, the request later: nginx waits for it.
    const conn = await rawConnect(proxied, 'PROXY TCP6 2001:db8::10 2001:db8::1 4321 443\r\n');
    await new Promise((r) => setTimeout(r, 100));
    conn.socket.write('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await conn.closed;
    expect(lastBody(conn.received())).toBe('ra=2001:db8::10 rp=[4321] rra=127.0.0.1 ppa=[2001:db8::10] ppp=[4321] ppsa=[2001:db8::1] ppsp=[443]\n');
    const unknown = await exchange(proxied, 'PROXY UNKNOWN\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(lastBody(unknown.text)).toMatch(/^ra=127\.0\.0\.1 rp=\[\d+\] rra=127\.0\.0\.1 ppa=\[\] ppp=\[\] /);
  });

  test('PROXY v2, and v2 LOCAL (a health check): no addresses', async () => {
    const { text } = await exchange(proxied, Buffer.concat([v2Inet4(), Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]));
    expect(lastBody(text)).toBe('ra=192.0.2.10 rp=[4321] rra=127.0.0.1 ppa=[192.0.2.10] ppp=[4321] ppsa=[198.51.100.1] ppsp=[443]\n');
    const local = Buffer.concat([SIG, Buffer.from([0x20, 0x00, 0, 0]), Buffer.from('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]);
    expect(lastBody((await exchange(proxied, local)).text)).toMatch(/^ra=127\.0\.0\.1 rp=\[\d+\] rra=127\.0\.0\.1 ppa=\[\] /);
  });

  test('PROXY before TLS: v1 and v2 on an ssl listener', async () => {
    const overTls = (header: Buffer | string) =>
      new Promise<string>((resolve, reject) => {
        const raw = net.connect(proxiedTls, PROXIED_TLS_HOST, () => {
          raw.write(header);
          const secure = tls.connect({ socket: raw, rejectUnauthorized: false }, () => secure.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
          let text = '';
          secure.on('data', (d) => (text += d));
          secure.on('end', () => resolve(text));
          secure.on('error', reject);
        });
      });
    expect(lastBody(await overTls('PROXY TCP4 192.0.2.10 198.51.100.1 4321 443\r\n'))).toMatch(/^ra=127\.0\.0\.1 rp=\[\d+\] rra=127\.0\.0\.1 ppa=\[192\.0\.2\.10\] ppp=\[4321\] ppsa=\[198\.51\.100\.1\] ppsp=\[443\]\n$/);
    expect(lastBody(await overTls(v2Inet4()))).toMatch(/ppa=\[192\.0\.2\.10\] ppp=\[4321\]/);
  });

  test('refused connections: closed at once with nginx\'s line, or at client_header_timeout; descriptors back to the baseline', async () => {
    const since = performance.now();
    const garbage = await exchange(proxied, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(garbage.text).toBe('');
    await logged(gw.stderr, 'broken header: "GET / HTTP/1.1\\x0d\\x0aHost: x\\x0d\\x0a\\x0d\\x0a" while reading PROXY protocol, client: 127.0.0.1, server: 127.0.0.11:0', since);
    // Cut in two, then silence: nginx judges the first read and closes at once.
    const half = await exchange(proxied, 'PROXY TCP4 192.0.2.10 ');
    expect(half.text).toBe('');
    expect(half.ms).toBeLessThan(HEADER_TIMEOUT_MS / 2);
    await logged(gw.stderr, 'broken header: "PROXY TCP4 192.0.2.10 " while reading PROXY protocol', since);
    const badLength = await exchange(proxied, Buffer.concat([v2Inet4(4000), Buffer.from('GET / HTTP/1.1\r\n\r\n')]));
    expect(badLength.text).toBe('');
    await logged(gw.stderr, 'header is too large while reading PROXY protocol', since);
    const overTls = await exchange(proxiedTls, 'garbage\r\n', PROXIED_TLS_HOST);
    expect(overTls.text).toBe('');
    // Silence, and a header followed by silence: client_header_timeout from the accept.
    const [silent, headerOnly] = await Promise.all([exchange(proxied, Buffer.alloc(0)), exchange(proxied, 'PROXY TCP4 192.0.2.10 198.51.100.1 1 2\r\n')]);
    for (const { text, ms } of [silent, headerOnly]) {
      expect(text).toBe('');
      expect(ms).toBeGreaterThan(HEADER_TIMEOUT_MS - 100);
      expect(ms).toBeLessThan(HEADER_TIMEOUT_MS + 1500);
    }
    await logged(gw.stderr, 'client timed out (110: Connection timed out) while reading PROXY protocol, client: 127.0.0.1', since);
    await logged(gw.stderr, 'client timed out (110: Connection timed out) while waiting for request, client: 127.0.0.1', since);
    // A flood of each kind at once, then the descriptors.
    const flood = await Promise.all(
      Array.from({ length: 150 }, (_, i) =>
        rawConnect(proxied, [Buffer.from('\x16\x03\x01garbage'), Buffer.from('PROXY TCP4 1.2.3.4 '), v2Inet4(300), Buffer.from('PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nGET /')][i % 4]),
      ),
    );
    const ends = await Promise.all(flood.map((c) => c.closed));
    expect(Math.max(...ends)).toBeLessThan(HEADER_TIMEOUT_MS + 1500);
    expect(await eventually(() => fdCount(gw.child.pid!) <= baseline, 2000)).toBe(true);
    expect((await get(plain, '/show', { 'X-Forwarded-For': '203.0.113.7' })).status).toBe(200);
  });
});

describe('a unix-domain client, without realip', () => {
  test('$remote_addr, $realip_remote_addr and $proxy_add_x_forwarded_for are "unix:", the ports empty, as nginx', async () => {
    const socketPath = path.join(os.tmpdir(), `gateway-unix-vars-${process.pid}.sock`);
    const gw = await startGateway(
      `master_process: "off"\nerror_log: stderr notice\npid: "off"\nhttp:\n  access_log: "off"\n  servers:\n    - listen: "unix:${socketPath}"\n      locations:\n` +
        `        - location: /\n          return: "200 'ra=[$remote_addr] rp=[$remote_port] rra=[$realip_remote_addr] rrp=[$realip_remote_port] xff=[$proxy_add_x_forwarded_for]\\\\n'"\n`,
    );
    try {
      const ask = (headers: Record<string, string>) =>
        new Promise<string>((resolve, reject) => {
          const req = http.get({ socketPath, path: '/', headers, agent: false }, (res) => {
            let text = '';
            res.on('data', (d) => (text += d));
            res.on('end', () => resolve(text));
          });
          req.on('error', reject);
        });
      expect(await ask({})).toBe('ra=[unix:] rp=[] rra=[unix:] rrp=[] xff=[unix:]\n');
      expect(await ask({ 'X-Forwarded-For': '1.2.3.4' })).toBe('ra=[unix:] rp=[] rra=[unix:] rrp=[] xff=[1.2.3.4, unix:]\n');
    } finally {
      await gw.stop();
    }
  });
});

describe('proxy_protocol with two workers', () => {
  test("each worker reads the PROXY header of the connections it takes, and refuses garbage with nginx's line", async () => {
    const gw = await startGateway(
      `worker_processes: 2\nerror_log: stderr notice\npid: "off"\nhttp:\n  access_log: "off"\n  servers:\n    - listen: "${PROXIED_HOST}:0 proxy_protocol"\n      set_real_ip_from: 127.0.0.1\n      real_ip_header: proxy_protocol\n      locations:\n` +
        `        - location: /\n          return: "200 '$remote_addr $remote_port'"\n`,
    );
    try {
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, i) => exchange(gw.ports[0], `PROXY TCP4 192.0.2.${i + 1} 198.51.100.1 ${1000 + i} 443\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)),
      );
      answers.forEach(({ text }, i) => {
        const [address, port] = lastBody(text).split(' ');
        expect([address, port]).toEqual([`192.0.2.${i + 1}`, String(1000 + i)]);
      });
      expect((await exchange(gw.ports[0], 'junk\r\n')).text).toBe('');
      await logged(gw.stderr, 'broken header: "junk\\x0d\\x0a" while reading PROXY protocol', 0);
    } finally {
      await gw.stop();
    }
  });
});
