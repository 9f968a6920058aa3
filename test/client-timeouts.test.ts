/**
 * The client timeouts of the HTTP front, against the real `bin/gateway` process, as nginx 1.22
 * keeps them (checked against it by hand and in test/parity/timeouts.test.ts):
 *
 * - `client_header_timeout` from the accept for a first request (a client that dribbles its
 *   head is not given more), from its first byte for a later one; the connection is closed
 *   without an answer, "client timed out" at info.
 * - `send_timeout` for every response, whatever its handler (static, proxy, a user's module):
 *   a client that reads nothing for that long is closed, with nginx's info line.
 * - A request body nobody read: the answer goes out at once, then the rest of the body is read
 *   and dropped; the connection closes `lingering_timeout` after the client stops sending, or
 *   at `lingering_time`, and stays for the next request if the body comes whole.
 *
 * Timings are asserted with slack, never as performance. Every test of the file runs at the same
 * time as the others (they only wait on timers), each on its own connection, against the gateway
 * of its block (a block, not a describe, so that all are one concurrent group; the blocks with
 * the longest waits come first); a test that reads the log finds its own line by what names it
 * (its client address, its path).
 */
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { makePrefix, startGateway, type GatewayProcess } from './helpers/gateway-process';
import { closeServer, listen, portOf } from './helpers/proxy-peers';
import { eventually, logged, rawConnect, statusLines, type RawConnection } from './helpers/raw-socket';

const MB = 1024 * 1024;

/** A user's handler that writes 40 MiB, minding backpressure. */
const BIG_HANDLER = `
const big = {
  configure() { return {}; },
  create() {
    return {
      http(req, res) {
        const chunk = Buffer.alloc(65536, 120);
        let left = 640;
        res.on('close', () => { left = 0; });
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': 640 * 65536 });
        const pump = () => {
          while (left > 0) { left--; if (!res.write(chunk)) return void res.once('drain', pump); }
          res.end();
        };
        pump();
      },
    };
  },
};
export default big;
`;

/** A backend with a 60 MiB answer at /big (minding backpressure), a short one elsewhere. */
function bigBackend(): http.Server {
  return http.createServer((req, res) => {
    res.on('error', () => {});
    if (req.url !== '/big') return void res.end('small\n');
    const chunk = Buffer.alloc(65536, 97);
    let left = 960;
    res.on('close', () => (left = 0));
    res.writeHead(200, { 'Content-Length': 960 * 65536 });
    const pump = () => {
      while (left > 0) {
        left--;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
}

// A request body nobody reads (nginx defaults: lingering_timeout 5s, lingering_time 30s).
{
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await startGateway(
      `master_process: "off"\nerror_log: stderr info\npid: "off"\nhttp:\n  access_log: "off"\n  keepalive_timeout: 60s\n` +
        `  servers:\n    - listen: 127.0.0.1:0\n      root: www\n      locations:\n        - { location: /ret, return: '200 "ret\\n"' }\n`,
      { files: { 'www/index.html': 'hi\n' } },
    );
  });
  afterAll(() => gw.stop());

  test.concurrent('the answer goes out at once; a body that stalls closes the connection 5 s later, one that comes whole keeps it', async () => {
    const port = gw.ports[0];
    const partial = (path: string) => `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789`;
    // Three clients at once: a stalled body to a return, and to a static file (405), and a body
    // that comes whole a second later, followed by a second request on the same connection.
    const [toReturn, toStatic, whole] = await Promise.all([rawConnect(port, partial('/ret')), rawConnect(port, partial('/index.html')), rawConnect(port, partial('/ret'))]);
    expect(await eventually(() => statusLines(toReturn.received()).length === 1 && statusLines(toStatic.received()).length === 1, 2000)).toBe(true);
    expect(toReturn.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*Connection: keep-alive\r\n[\s\S]*\r\nret\n$/);
    expect(statusLines(toStatic.received())).toEqual(['405']);
    await new Promise((r) => setTimeout(r, 1000));
    whole.socket.write(`${'x'.repeat(990)}GET /ret HTTP/1.1\r\nHost: x\r\n\r\n`);
    const [returnClosed, staticClosed] = await Promise.all([toReturn.closed, toStatic.closed]);
    for (const closedAt of [returnClosed, staticClosed]) {
      expect(closedAt).toBeGreaterThan(4900);
      expect(closedAt).toBeLessThan(7000);
    }
    expect(statusLines(whole.received())).toEqual(['200', '200']);
    // The gateway has not closed it (a socket that allows half-open stays undestroyed when it does; it ends).
    expect(whole.socket.readableEnded).toBe(false);
    expect(whole.socket.destroyed).toBe(false);
    whole.socket.destroy();
  });

  test.concurrent('30 requests with bodies on one kept-alive connection leave nothing behind on it (no listener piles up)', async () => {
    const post = 'POST /ret HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello';
    const conn = await rawConnect(gw.ports[0]);
    for (let i = 0; i < 30; i++) {
      conn.socket.write(post);
      expect(await eventually(() => statusLines(conn.received()).length === i + 1, 2000)).toBe(true);
    }
    conn.socket.destroy();
    expect(gw.stderr()).not.toMatch(/MaxListenersExceededWarning|Warning/);
  });

  test.concurrent('after a response that closes (413), the close waits for the body too, then comes', async () => {
    const conn = await rawConnect(gw.ports[0], 'POST /ret HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n0123456789');
    expect(await eventually(() => statusLines(conn.received()).length === 1, 2000)).toBe(true);
    expect(conn.received()).toMatch(/^HTTP\/1\.1 413 [\s\S]*Connection: close\r\n/);
    const closedAt = await conn.closed;
    expect(closedAt).toBeGreaterThan(4900);
    expect(closedAt).toBeLessThan(7000);
  });
}

// client_header_timeout and send_timeout (1 s).
{
  const backend = bigBackend();
  let gw: GatewayProcess;

  beforeAll(async () => {
    await listen(backend);
    gw = await startGateway(
      `master_process: "off"\nerror_log: stderr info\npid: "off"\nhttp:\n  access_log: "off"\n  client_header_timeout: 1s\n  send_timeout: 1s\n` +
        `  servers:\n    - listen: 127.0.0.1:0\n      root: www\n      locations:\n` +
        `        - { location: /ret, return: '200 "ret\\n"' }\n` +
        `        - { location: /proxy/, proxy_pass: "http://127.0.0.1:${portOf(backend)}/" }\n` +
        `        - { location: /handler, handler: big }\n`,
      { files: { 'www/index.html': 'hi\n', 'www/big.bin': Buffer.alloc(40 * MB, 98), 'handlers/big.ts': BIG_HANDLER } },
    );
  });
  afterAll(async () => {
    await gw.stop();
    await closeServer(backend);
  });

  test.concurrent('a connection that sends nothing is closed at the timeout, unanswered, "while waiting for request"', async () => {
    // From an address of its own: the log line that names it is this connection's.
    const conn = await rawConnect(gw.ports[0], undefined, '127.0.0.2');
    const closedAt = await conn.closed;
    expect(closedAt).toBeGreaterThan(950);
    expect(closedAt).toBeLessThan(2000);
    expect(conn.received()).toBe('');
    expect(gw.stderr()).toMatch(/\[info\] .*client timed out \(110: Connection timed out\) while waiting for request, client: 127\.0\.0\.2,/);
  });

  test.concurrent('a head dribbled a byte at a time is not given more: closed at the timeout from the accept', async () => {
    const conn = await rawConnect(gw.ports[0]);
    const head = `GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(200)}`;
    let at = 0;
    const timer = setInterval(() => !conn.socket.destroyed && conn.socket.write(head[at++ % head.length]), 100);
    const closedAt = await conn.closed;
    clearInterval(timer);
    expect(closedAt).toBeGreaterThan(950);
    expect(closedAt).toBeLessThan(2000);
    expect(conn.received()).toBe('');
  });

  test.concurrent('on a kept-alive connection the next head gets the timeout from its first byte', async () => {
    const conn = await rawConnect(gw.ports[0], 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await eventually(() => conn.received().includes('hi\n'));
    await new Promise((r) => setTimeout(r, 700));
    const started = conn.elapsed();
    conn.socket.write('GET / HTTP/1.1\r\n');
    const closedAt = await conn.closed;
    expect(closedAt - started).toBeGreaterThan(950);
    expect(closedAt - started).toBeLessThan(2000);
    expect(statusLines(conn.received())).toEqual(['200']);
  });

  /** Asks for `path` and reads nothing: resolves with when the gateway logged the send timeout, and the socket. */
  async function stalledDownload(path: string, line: string): Promise<{ loggedAt: number; conn: RawConnection }> {
    const before = gw.stderr().length;
    const conn = await rawConnect(gw.ports[0]);
    conn.socket.pause();
    conn.socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const sent = performance.now();
    const loggedAt = await logged(() => gw.stderr().slice(before), line, sent);
    return { loggedAt, conn };
  }

  test.concurrent.each([
    ['a static file', '/big.bin', 'while sending response to client'],
    ['a proxied response', '/proxy/big', 'while sending to client'],
    ["a user's handler", '/handler', 'while sending response to client'],
  ])('send_timeout closes a client that reads nothing of %s, with nginx\'s info line', async (_what, path, action) => {
    const line = `client timed out (110: Connection timed out) ${action}, client: 127.0.0.1, server: , request: "GET ${path} HTTP/1.1", host: "x"`;
    const { loggedAt, conn } = await stalledDownload(path, line);
    // The client's buffers fill within a few ms of the request; the timeout runs from then.
    expect(loggedAt).toBeGreaterThan(950);
    expect(loggedAt).toBeLessThan(2500);
    expect(gw.stderr()).toContain(`[info]`);
    // What was queued for it still comes, then the end: far less than the whole answer.
    conn.socket.resume();
    await conn.closed;
    expect(conn.received().length).toBeLessThan(40 * MB);
    conn.socket.destroy();
  });

  test.concurrent('a client that reads slowly but steadily is not cut: the timeout runs between two writes', async () => {
    const conn = await rawConnect(gw.ports[0]);
    conn.socket.pause();
    // A query of its own, so that a send timeout here is never taken for the static file's above.
    conn.socket.write('GET /big.bin?slow-reader HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    let got = 0;
    let quota = 0;
    conn.socket.on('data', (d: Buffer) => {
      got += d.length;
      if (got >= quota) conn.socket.pause();
    });
    // 3 s at a read of 1 MiB every 200 ms: far less than the file, far more than the timeout. (A
    // read of 64 KiB a time frees too little of the socket's buffers for a write to be possible
    // within 1 s: nginx 1.22 cuts that reader too.)
    const started = performance.now();
    while (performance.now() - started < 3000) {
      quota = got + MB;
      conn.socket.resume();
      await new Promise((r) => setTimeout(r, 200));
    }
    // A paused socket sees no close: the gateway's log tells whether it cut this one.
    expect(gw.stderr()).not.toContain('GET /big.bin?slow-reader');
    expect(conn.socket.readableEnded).toBe(false);
    expect(got).toBeGreaterThan(5 * MB);
    expect(got).toBeLessThan(40 * MB);
    conn.socket.destroy();
  });
}

// lingering_time (2 s) and lingering_timeout (500 ms).
{
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await startGateway(
      `master_process: "off"\nerror_log: stderr info\npid: "off"\nhttp:\n  access_log: "off"\n  lingering_time: 2s\n  lingering_timeout: 500ms\n` +
        `  servers:\n    - listen: 127.0.0.1:0\n      locations:\n        - { location: /ret, return: '200 "ret\\n"' }\n`,
    );
  });
  afterAll(() => gw.stop());

  test.concurrent('a body dribbled forever is read at most lingering_time, then the connection closes', async () => {
    const conn = await rawConnect(gw.ports[0], 'POST /ret HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n');
    const timer = setInterval(() => !conn.socket.destroyed && conn.socket.write('x'), 200);
    const closedAt = await conn.closed;
    clearInterval(timer);
    expect(statusLines(conn.received())).toEqual(['200']);
    expect(closedAt).toBeGreaterThan(1900);
    expect(closedAt).toBeLessThan(3500);
  });

  test.concurrent('a body that stops closes the connection lingering_timeout after its last byte', async () => {
    const conn = await rawConnect(gw.ports[0], 'POST /ret HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc');
    await new Promise((r) => setTimeout(r, 300));
    conn.socket.write('def');
    const lastByte = conn.elapsed();
    const closedAt = await conn.closed;
    expect(closedAt - lastByte).toBeGreaterThan(450);
    expect(closedAt - lastByte).toBeLessThan(1500);
  });
}

// client_header_timeout on a TLS listener (1 s): the handshake and the first head share it, as in nginx.
{
  let gw: GatewayProcess;
  beforeAll(async () => {
    const prefix = makePrefix({ 'certs/.keep': '' });
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=t.test', '-keyout', `${prefix}/certs/t.key`, '-out', `${prefix}/certs/t.pem`], { stdio: 'ignore' });
    gw = await startGateway(
      `master_process: "off"\nerror_log: stderr info\npid: "off"\nhttp:\n  access_log: "off"\n  client_header_timeout: 1s\n` +
        `  servers:\n    - listen: "127.0.0.1:0 ssl"\n      ssl_certificate: certs/t.pem\n      ssl_certificate_key: certs/t.key\n      locations:\n        - { location: /, return: '200 "tls\\n"' }\n`,
      { prefix },
    );
  });
  afterAll(() => gw.stop());

  /** Resolves with the ms from `since` to the close of `socket`. */
  const closedAfter = (socket: net.Socket, since: number) => new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now() - since)));

  test.concurrent('a connection that never starts the handshake is closed at 1 s', async () => {
    const socket = net.connect(gw.ports[0], '127.0.0.1');
    socket.on('error', () => {});
    const since = performance.now();
    const closedAt = await closedAfter(socket, since);
    expect(closedAt).toBeGreaterThan(900);
    expect(closedAt).toBeLessThan(2000);
  });

  test.concurrent('a handshake done, then no request: closed at 1 s from the accept', async () => {
    const since = performance.now();
    const socket = tls.connect({ port: gw.ports[0], host: '127.0.0.1', rejectUnauthorized: false });
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    const closedAt = await closedAfter(socket, since);
    expect(closedAt).toBeGreaterThan(900);
    expect(closedAt).toBeLessThan(2000);
  });

  test.concurrent('a request in time is served, and its connection kept', async () => {
    const socket = tls.connect({ port: gw.ports[0], host: '127.0.0.1', rejectUnauthorized: false });
    socket.on('error', () => {});
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    await new Promise((resolve) => socket.once('secureConnect', resolve));
    socket.write('GET / HTTP/1.1\r\nHost: t.test\r\n\r\n');
    expect(await eventually(() => text.includes('tls\n'), 2000)).toBe(true);
    await new Promise((r) => setTimeout(r, 1200));
    expect(socket.destroyed).toBe(false);
    socket.destroy();
  });
}
