/**
 * What a hostile or broken client does to the proxy, against the real `bin/gateway` process
 * (`master_process off`) and a real loopback backend: h2c smuggling through a location that
 * does not forward Upgrade, a backend that switches protocols unasked, request bodies that
 * stop, stall or break (a malformed chunk) with request buffering on and off, clients that
 * leave or half-close before the upstream answers, and bodies long enough to go to a
 * temporary file. After each fault the gateway's descriptors (/proc/<pid>/fd) and the
 * backend's open connections come back to their count before it, long before any timeout
 * that could have closed them (client_body_timeout 30s, proxy_read_timeout 60s).
 */
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { closeServer, listen, portOf, until } from './helpers/proxy-peers';

/** What the backend saw of one request. */
interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  /** Body bytes received so far, and whether the body ended. */
  bytes: number;
  complete: boolean;
}

/** A raw client connection: what it received, and when the gateway closed or ended it. */
interface RawClient {
  readonly socket: net.Socket;
  text(): string;
  /** Resolves when the gateway has ended or closed the connection. */
  readonly ended: Promise<void>;
}

function rawClient(port: number, bytes: string): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    let text = '';
    let endedResolve!: () => void;
    const ended = new Promise<void>((r) => (endedResolve = r));
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }, () => {
      socket.write(bytes);
      resolve({ socket, text: () => text, ended });
    });
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('end', endedResolve);
    socket.on('close', endedResolve);
    socket.on('error', () => endedResolve());
    socket.once('error', reject);
  });
}

/** The status of the first response in `text`, 0 when there is none. */
const statusOf = (text: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);

describe('hostile clients against the proxy (gateway process)', () => {
  const seen: Seen[] = [];
  let open = 0;
  let upgrades = 0;
  const backend = http.createServer((req, res) => {
    res.on('error', () => {});
    const entry: Seen = { method: req.method!, url: req.url!, headers: req.headers, bytes: 0, complete: false };
    seen.push(entry);
    if (req.url!.endsWith('/switch')) {
      // A backend that switches protocols though nobody asked it to.
      req.socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n');
      return;
    }
    const hash = createHash('sha256');
    req.on('data', (chunk: Buffer) => {
      entry.bytes += chunk.length;
      hash.update(chunk);
    });
    req.on('end', () => {
      entry.complete = true;
      // `/slow...` never answers: only the client's departure (or a timeout) can end it.
      if (req.url!.includes('/slow')) return;
      const json = JSON.stringify({ bytes: entry.bytes, sha256: hash.digest('hex'), headers: req.headers });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(json) }).end(json);
    });
  });
  backend.on('connection', (socket: net.Socket) => {
    open++;
    socket.on('close', () => open--);
  });
  // Like an h2c server: any upgrade request is answered 101, and what comes through the tunnel
  // is answered by the backend itself, unfiltered by the gateway's access rules.
  backend.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    upgrades++;
    socket.on('error', () => {});
    // The server's sockets allow half-open: once the gateway hangs up, let go.
    socket.on('end', () => socket.destroy());
    if (req.url!.includes('/slow')) return;
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${req.headers.upgrade}\r\nConnection: Upgrade\r\n\r\n`);
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let end; (end = pending.indexOf('\r\n\r\n')) >= 0; pending = pending.slice(end + 4)) {
        const body = `tunnelled: ${pending.slice(0, end).split('\r\n')[0]}\n`;
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      }
    });
  });

  let gateway: GatewayProcess;
  let port: number;
  const fds = () => readdirSync(`/proc/${gateway.child.pid}/fd`).length;
  const tempDir = () => path.join(gateway.prefix, 'tmp/body');
  const logged = (text: string) => until(() => gateway.stderr().includes(text));
  /** Waits until the backend has seen `n` more requests than `before`. */
  const backendSaw = (before: number, n = 1) => until(() => seen.length >= before + n);

  beforeAll(async () => {
    await listen(backend);
    const b = `http://127.0.0.1:${portOf(backend)}`;
    const location = (where: string, extra = '') => `        - location: ${where}\n          proxy_pass: ${b}\n${extra}`;
    gateway = await startGateway(
      `master_process: "off"\nerror_log: stderr info\npid: "off"\nevents:\n  worker_connections: 32\nhttp:\n  access_log: "off"\n` +
        `  client_body_timeout: 30s\n  client_body_buffer_size: 1k\n  client_body_temp_path: tmp/body\n  client_max_body_size: 10m\n` +
        `  servers:\n    - listen: 127.0.0.1:0\n      locations:\n` +
        location('/') +
        location('/admin', '          deny: all\n') +
        location('/off/', '          proxy_request_buffering: "off"\n') +
        location('/off11/', '          proxy_request_buffering: "off"\n          proxy_http_version: "1.1"\n          client_max_body_size: 0\n') +
        location('/stall/', '          client_body_timeout: 300ms\n') +
        location('/stall-off/', '          proxy_request_buffering: "off"\n          client_body_timeout: 300ms\n') +
        location('/ws/', '          proxy_http_version: "1.1"\n          proxy_set_header: ["Upgrade $http_upgrade", "Connection $connection_upgrade"]\n'),
    );
    port = gateway.ports[0];
    // Warm up: whatever the first proxied request, the first stored body and the first upgrade open for good.
    const warm = await rawClient(port, `POST /warm HTTP/1.1\r\nHost: x\r\nContent-Length: 4000\r\nConnection: close\r\n\r\n${'w'.repeat(4000)}`);
    await warm.ended;
    const ws = await rawClient(port, 'GET /ws/warm HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    await until(() => ws.text().includes('\r\n\r\n'));
    ws.socket.destroy();
  });

  afterAll(async () => {
    await gateway?.stop();
    await closeServer(backend);
  });

  /** Runs one fault; the gateway's descriptors and the backend's connections come back, and the gateway still serves. */
  async function noLeak(fault: () => Promise<void>): Promise<void> {
    await until(() => open === 0, 50);
    await until(() => false, 5);
    const before = fds();
    await fault();
    expect(await until(() => fds() <= before, 150)).toBe(true);
    expect(await until(() => open === 0, 150)).toBe(true);
    expect(gateway.child.exitCode).toBeNull();
    const alive = await rawClient(port, 'GET /alive HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await alive.ended;
    expect(statusOf(alive.text())).toBe(200);
  }

  test('h2c smuggling: an upgrade request where the location forwards no Upgrade is proxied as plain HTTP; nothing behind it reaches a denied location', () =>
    noLeak(async () => {
      const before = seen.length;
      const upgradesBefore = upgrades;
      const client = await rawClient(port, 'GET /app HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n');
      expect(await until(() => client.text().includes('\r\n\r\n'))).toBe(true);
      // Through a tunnel this would reach the backend's /admin, past `deny: all`.
      client.socket.write('GET /admin/secret HTTP/1.1\r\nHost: x\r\n\r\n');
      await Promise.race([client.ended, until(() => false, 25)]);
      client.socket.destroy();
      expect(statusOf(client.text())).toBe(200);
      expect(client.text()).not.toContain('tunnelled');
      expect(upgrades).toBe(upgradesBefore);
      const forwarded = seen.slice(before);
      expect(forwarded.map((s) => s.url)).toEqual(['/app']);
      expect(forwarded[0].headers.upgrade).toBeUndefined();
      expect(forwarded[0].headers.connection).toBe('close');
    }));

  test("the location with nginx's recipe passes the upgrade: 101 and the tunnel", () =>
    noLeak(async () => {
      const client = await rawClient(port, 'GET /ws/chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      expect(await until(() => client.text().includes('\r\n\r\n'))).toBe(true);
      expect(statusOf(client.text())).toBe(101);
      client.socket.write('GET /inside HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(await until(() => client.text().includes('tunnelled: GET /inside'))).toBe(true);
      client.socket.destroy();
    }));

  test('what the client sends before the 101 (read to see its end) goes through the tunnel after it, in order', () =>
    noLeak(async () => {
      const client = await rawClient(port, 'GET /ws/early HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nGET /first HTTP/1.1\r\n\r\n');
      client.socket.write('GET /second HTTP/1.1\r\n\r\n');
      expect(await until(() => client.text().includes('tunnelled: GET /second'))).toBe(true);
      expect(statusOf(client.text())).toBe(101);
      expect(client.text().indexOf('tunnelled: GET /first')).toBeLessThan(client.text().indexOf('tunnelled: GET /second'));
      client.socket.destroy();
    }));

  test('a backend that switches protocols unasked: 502 and an error line, nothing tunnelled', () =>
    noLeak(async () => {
      const client = await rawClient(port, 'GET /app/switch HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n');
      await client.ended;
      client.socket.destroy();
      expect(statusOf(client.text())).toBe(502);
      expect(await logged('upstream sent "101 Switching Protocols" to a request that asked for no upgrade while reading response header from upstream')).toBe(true);
    }));

  test.each([
    ['read first (proxy_request_buffering on)', '/'],
    ['streamed (proxy_request_buffering off)', '/off/'],
  ])('40 clients that send part of a body %s and leave: all closed at once, past worker_connections 32 the gateway still serves', (_name, where) =>
    noLeak(async () => {
      const clients = await Promise.all(
        Array.from({ length: 40 }, (_, i) => rawClient(port, `POST ${where}upload-${i} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789`)),
      );
      await until(() => false, 5);
      for (const client of clients) client.socket.end();
      await Promise.all(clients.map((c) => c.ended));
      for (const client of clients) client.socket.destroy();
      expect(await logged('client prematurely closed connection')).toBe(true);
    }),
  );

  test.each([
    ['read first', '/stall/'],
    ['streamed', '/stall-off/'],
  ])('a client that stalls in the middle of a body %s: closed at client_body_timeout without an answer, the upstream request too', (_name, where) =>
    noLeak(async () => {
      const client = await rawClient(port, `POST ${where}x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789`);
      await client.ended;
      expect(client.text()).toBe('');
      client.socket.destroy();
    }),
  );

  test('clients that leave before the upstream answers: noticed at once, not at proxy_read_timeout', () =>
    noLeak(async () => {
      const before = seen.length;
      const clients = await Promise.all(Array.from({ length: 20 }, (_, i) => rawClient(port, `GET /slow/${i} HTTP/1.1\r\nHost: x\r\n\r\n`)));
      expect(await backendSaw(before, 20)).toBe(true);
      for (const client of clients) client.socket.destroy();
      expect(await logged('client prematurely closed connection, so upstream connection is closed too while reading response header from upstream')).toBe(true);
    }));

  test('a client that half-closes after its request: as nginx, gone (no answer), the upstream request closed at once', () =>
    noLeak(async () => {
      const before = seen.length;
      const client = await rawClient(port, 'GET /slow/half HTTP/1.1\r\nHost: x\r\n\r\n');
      expect(await backendSaw(before)).toBe(true);
      client.socket.end();
      await client.ended;
      expect(client.text()).toBe('');
      client.socket.destroy();
    }));

  test('a malformed chunk size: 400 at once, the backend hears nothing', () =>
    noLeak(async () => {
      const before = seen.length;
      const client = await rawClient(port, 'POST /chunks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n');
      await client.ended;
      expect(statusOf(client.text())).toBe(400);
      expect(seen.length).toBe(before);
      expect(await logged('client sent invalid chunked body, client: 127.0.0.1, request: "POST /chunks HTTP/1.1"')).toBe(true);
      client.socket.destroy();
    }));

  test('a malformed chunk after part of a streamed chunked body went up: 400, the upstream request closed', () =>
    noLeak(async () => {
      const before = seen.length;
      const client = await rawClient(port, 'POST /off11/chunks HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n');
      expect(await until(() => seen.length > before && seen[before].bytes === 3)).toBe(true);
      client.socket.write('zz\r\n');
      await client.ended;
      expect(statusOf(client.text())).toBe(400);
      expect(seen[before].complete).toBe(false);
      expect(await logged('client sent invalid chunked body while sending request to upstream')).toBe(true);
      client.socket.destroy();
    }));

  test.each([
    ['Content-Length', (body: Buffer) => [`Content-Length: ${body.length}\r\n\r\n`, body]],
    ['chunked', (body: Buffer) => ['Transfer-Encoding: chunked\r\n\r\n', Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')])]],
  ] as const)('a %s body past client_body_buffer_size goes up whole from a temporary file, unlinked: nothing left on disk', (_name, frame) =>
    noLeak(async () => {
      const body = Buffer.alloc(300 * 1024, 'abcdefghij');
      const [head, payload] = frame(body);
      const reply = await new Promise<string>((resolve) => {
        const socket = net.connect(port, '127.0.0.1', () => {
          // Not half-closed after the body: nginx takes that for a client gone.
          socket.write(`POST /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${head}`);
          socket.write(payload);
        });
        let text = '';
        socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
        socket.on('close', () => resolve(text));
      });
      expect(statusOf(reply)).toBe(200);
      const echo = JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)) as { bytes: number; sha256: string; headers: http.IncomingHttpHeaders };
      expect(echo.bytes).toBe(body.length);
      expect(echo.sha256).toBe(createHash('sha256').update(body).digest('hex'));
      expect(echo.headers['content-length']).toBe(String(body.length));
      expect(echo.headers['transfer-encoding']).toBeUndefined();
      expect(readdirSync(tempDir())).toEqual([]);
    }),
  );

  test('a client that leaves while its body goes to the temporary file: the file is closed, nothing left on disk', () =>
    noLeak(async () => {
      const before = seen.length;
      const client = await rawClient(port, `POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n${'x'.repeat(200_000)}`);
      await until(() => false, 10);
      client.socket.destroy();
      await client.ended;
      expect(seen.length).toBe(before);
      expect(readdirSync(tempDir())).toEqual([]);
    }));

  test('a client that leaves before the upstream answers its upgrade: noticed at once', () =>
    noLeak(async () => {
      const upgradesBefore = upgrades;
      const client = await rawClient(port, 'GET /ws/slow HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      expect(await until(() => upgrades > upgradesBefore)).toBe(true);
      client.socket.end();
      await client.ended;
      client.socket.destroy();
      expect(await logged('client prematurely closed connection, so upstream connection is closed too while reading response header from upstream')).toBe(true);
    }));
});
