/**
 * The proxy's failures against the real `bin/gateway` process (one process:
 * `master_process off`), each case on its own: the gateway's open file descriptors
 * (/proc/<pid>/fd) come back to their count before the case, the process stays up and serves,
 * and a backend's bad answer is a 502 with an error log line. Request smuggling is refused with
 * 400 before any backend hears of it. Real loopback backends, port 0.
 */
import { readdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { closeServer, listen, portOf, rawUpgrade, request, responseOutcome, until } from './helpers/proxy-peers';

/** Raw answers the backend writes on its socket for `/bad/NAME`. */
const BAD_ANSWERS: Record<string, string> = {
  'status-line': 'HTTP/1.1 abc OK\r\nContent-Length: 0\r\n\r\n',
  'header-line': 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nNo colon here\r\n\r\nok',
  'early-close': 'HTTP/1.1 200 OK\r\nContent-Le',
  'huge-headers': `HTTP/1.1 200 OK\r\nX-Big: ${'b'.repeat(20 * 1024)}\r\nContent-Length: 2\r\n\r\nok`,
  'length-and-chunked': 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n',
};

describe('proxy faults against the gateway process', () => {
  const wss = new WebSocketServer({ noServer: true });
  const sseClosed: (() => void)[] = [];
  let connections = 0;
  const backend = http.createServer((req, res) => {
    res.on('error', () => {});
    const bad = /^\/bad\/(.+)$/.exec(req.url ?? '')?.[1];
    if (bad) return void req.socket.end(BAD_ANSWERS[bad]);
    switch (req.url) {
      case '/hang':
        return void req.socket.once('end', () => req.socket.destroy());
      case '/body-reset':
        res.writeHead(200, { 'Content-Length': 100_000 });
        res.write('x'.repeat(1000));
        return void setTimeout(() => req.socket.resetAndDestroy(), 50);
      case '/sse': {
        res.writeHead(200, { 'Content-Type': 'text/event-stream' });
        const timer = setInterval(() => res.write('data: tick\n\n'), 20);
        res.write('data: first\n\n');
        return void res.on('close', () => {
          clearInterval(timer);
          sseClosed.shift()?.();
        });
      }
    }
    req.resume();
    req.on('end', () => res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`${req.method} ${req.url}`));
  });
  backend.on('connection', () => connections++);
  backend.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => {});
    if (req.url === '/ws/handshake-reset') return void socket.resetAndDestroy();
    if (req.url === '/ws/refuse') return void socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nno\n');
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => {});
      ws.on('message', (data) => (req.url === '/ws/reset' ? socket.resetAndDestroy() : ws.send(data)));
    });
  });
  let down: number;
  let gateway: GatewayProcess;
  let port: number;
  const fds = () => readdirSync(`/proc/${gateway.child.pid}/fd`).length;

  beforeAll(async () => {
    await listen(backend);
    const closed = await listen(net.createServer());
    down = portOf(closed);
    await closeServer(closed);
    gateway = await startGateway(
      `master_process: "off"\nerror_log: stderr info\npid: "off"\nhttp:\n  access_log: "off"\n  servers:\n    - listen: 127.0.0.1:0\n      locations:\n` +
        `        - location: /\n          proxy_pass: http://127.0.0.1:${portOf(backend)}\n          proxy_read_timeout: 300ms\n          client_max_body_size: 10\n          client_body_timeout: 300ms\n` +
        // nginx's WebSocket recipe: without it an upgrade request is proxied as plain HTTP.
        `          proxy_http_version: "1.1"\n          proxy_set_header: ["Upgrade $http_upgrade", "Connection $connection_upgrade"]\n` +
        `        - location: /down/\n          proxy_pass: http://127.0.0.1:${down}\n`,
    );
    port = gateway.ports[0];
    // Warm up: whatever the first proxied request and upgrade open for good (modules, timers) is open before any count.
    await request(port, '/warm');
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/echo`);
    await new Promise((resolve) => ws.once('open', resolve));
    ws.close();
    await new Promise((resolve) => ws.once('close', resolve));
  });

  afterAll(async () => {
    await gateway?.stop();
    wss.close();
    await closeServer(backend);
  });

  /** Runs one fault; the descriptors come back to the count before it, and the gateway still serves. */
  async function noLeak(fault: () => Promise<void>): Promise<void> {
    await until(() => false, 5);
    const before = fds();
    await fault();
    expect(await until(() => fds() <= before, 150)).toBe(true);
    expect(gateway.child.exitCode).toBeNull();
    expect((await request(port, '/alive')).body).toBe('GET /alive');
  }

  const errorLogged = (text: string) => until(() => gateway.stderr().includes(text));

  test('reset during the WebSocket handshake: 502, no descriptor left', () =>
    noLeak(async () => {
      expect(await rawUpgrade(port, '/ws/handshake-reset')).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    }));

  test('reset in the middle of an HTTP response body: the client is cut, no descriptor left', () =>
    noLeak(async () => {
      expect(await responseOutcome(port, '/body-reset')).toBe('cut');
    }));

  test('reset in the middle of a WebSocket: the client is closed, no descriptor left', () =>
    noLeak(async () => {
      const client = new WebSocket(`ws://127.0.0.1:${port}/ws/reset`);
      client.on('error', () => {});
      await new Promise((resolve) => client.once('open', resolve));
      const closed = new Promise((resolve) => client.once('close', resolve));
      client.send('bye');
      await closed;
    }));

  test('backend down: 502, no descriptor left', () =>
    noLeak(async () => {
      expect((await request(port, '/down/x')).status).toBe(502);
      expect(await errorLogged('connect() failed (111: Connection refused) while connecting to upstream')).toBe(true);
    }));

  test('backend that hangs: 504 after proxy_read_timeout, no descriptor left', () =>
    noLeak(async () => {
      expect((await request(port, '/hang')).status).toBe(504);
      expect(await errorLogged('upstream timed out (110: Connection timed out) while reading response header from upstream')).toBe(true);
    }));

  test('client abort during a Server-Sent Events stream: the backend stream closes, no descriptor left', () =>
    noLeak(async () => {
      const backendClosed = new Promise<void>((resolve) => sseClosed.push(resolve));
      await new Promise<void>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/sse', agent: false }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => {});
      });
      await backendClosed;
    }));

  test('a non-101 answer to an upgrade: passed on, then closed, no descriptor left', () =>
    noLeak(async () => {
      const text = await rawUpgrade(port, '/ws/refuse');
      expect(text).toMatch(/^HTTP\/1\.1 403 Forbidden\r\n/);
      expect(text.endsWith('\r\n\r\nno\n')).toBe(true);
    }));

  test.each([
    ['status-line', 'upstream sent no valid HTTP/1.0 header while reading response header from upstream'],
    ['header-line', 'upstream sent invalid header while reading response header from upstream'],
    ['early-close', 'upstream prematurely closed connection while reading response header from upstream'],
    ['huge-headers', 'upstream sent too big header while reading response header from upstream'],
    ['length-and-chunked', 'upstream sent invalid header while reading response header from upstream'],
  ])('a backend answering with a bad %s: 502 and an error line, no descriptor left', (name, line) =>
    noLeak(async () => {
      expect((await request(port, `/bad/${name}`)).status).toBe(502);
      expect(await errorLogged(`${line}, client: 127.0.0.1, server: , request: "GET /bad/${name} HTTP/1.1"`)).toBe(true);
    }),
  );

  /** Sends raw bytes to the gateway; the status it answers (0: none). */
  const raw = (bytes: string) =>
    new Promise<number>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
      socket.on('error', () => {});
      socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)));
      socket.setTimeout(3000, () => socket.destroy());
    });

  test.each([
    ['Content-Length with Transfer-Encoding', 400, 'POST /smuggle HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n'],
    ['two different Content-Lengths', 400, 'POST /smuggle HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\nConnection: close\r\n\r\nabcde'],
    // nginx's answer to a transfer coding it does not know.
    ['a Transfer-Encoding other than chunked', 501, 'POST /smuggle HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\nabcd'],
  ])('request smuggling (%s): %d, the backend hears nothing', async (_name, status, bytes) => {
    const before = connections;
    expect(await raw(bytes)).toBe(status);
    expect(connections).toBe(before);
    expect(gateway.child.exitCode).toBeNull();
  });

  test.each([
    ['a Content-Length', 'POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nConnection: close\r\n\r\n0123456789a'],
    ['a chunked body', 'POST /big HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n6\r\n012345\r\n5\r\n6789a\r\n0\r\n\r\n'],
  ])('a body over client_max_body_size with %s: 413, the backend hears nothing', async (_name, bytes) => {
    const before = connections;
    expect(await raw(bytes)).toBe(413);
    expect(connections).toBe(before);
  });

  test('a chunked body that stalls past client_body_timeout: closed without an answer (408), the backend hears nothing, no descriptor left', () =>
    noLeak(async () => {
      const before = connections;
      expect(await raw('POST /stall HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n')).toBe(0);
      expect(connections).toBe(before);
      expect(await errorLogged('client timed out (110: Connection timed out) while reading client request body')).toBe(true);
    }));
});
