/**
 * What comes behind a request on one connection, and what may reach a backend, against the real
 * `bin/gateway` process and a backend that records every request it gets:
 *
 * - Pipelined requests are served one after the other, in order, as nginx does; nothing
 *   pipelined behind a response that closes the connection (a 400, a 413) is served, and no
 *   backend hears of it. An upgrade pipelined behind a request waits for its answer; a head
 *   the parser refuses behind a good request gets its 400 after that request's answer.
 * - Heads nginx refuses never reach a backend: a header line past nginx's 1000 (where Node
 *   would drop the rest, Content-Length included), `Transfer-Encoding` with a tab around
 *   `chunked` (nginx: 501), `Content-Length` with a tab before it (nginx: 400).
 */
import http from 'node:http';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { closeServer, listen, portOf } from './helpers/proxy-peers';
import { eventually, rawConnect, statusLines } from './helpers/raw-socket';

describe('pipelining and heads nginx refuses', () => {
  const seen: string[] = [];
  const backend = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url} content-length=${req.headers['content-length'] ?? '-'}`);
    req.resume();
    // With its length: asked in HTTP/1.0 (proxy_http_version's default), Node would end the body by closing instead (and the gateway chunk it, as nginx).
    req.on('end', () => {
      const body = `backend ${req.url}\n`;
      res.writeHead(200, { 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  let gw: GatewayProcess;
  let port: number;

  beforeAll(async () => {
    await listen(backend);
    gw = await startGateway(
      `master_process: "off"\nerror_log: stderr info\npid: "off"\nhttp:\n  access_log: "off"\n  servers:\n    - listen: 127.0.0.1:0\n      locations:\n` +
        `        - { location: /ret, return: '200 "ret $args\\n"' }\n` +
        `        - { location: /small, client_max_body_size: 10, return: '200 "small\\n"' }\n` +
        `        - { location: /proxy/, proxy_pass: "http://127.0.0.1:${portOf(backend)}/", proxy_read_timeout: 1s }\n` +
        `        - { location: /ws, handler: websocket-script, script: echo }\n`,
    );
    port = gw.ports[0];
  });
  afterAll(async () => {
    await gw.stop();
    await closeServer(backend);
  });
  beforeEach(() => (seen.length = 0));

  /** Sends `bytes` on a fresh connection; resolves with all it received once the gateway closed. */
  async function exchange(bytes: string): Promise<string> {
    const conn = await rawConnect(port, bytes);
    await conn.closed;
    conn.socket.destroy();
    return conn.received();
  }

  // These four run at the same time (each waits out the proxy's read timeout): none may reach
  // the backend or the upstream log, so what one leaks fails them all; its path says whose it is.
  test.concurrent.each([
    ['a 400 for a bad URI', 'GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n', '400'],
    ['a 400 for a bad URI on a POST with its body', 'POST /%zz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello', '400'],
    ['a 400 for a second Host', 'GET /ret HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n', '400'],
    ['a 413 (a body over client_max_body_size)', `POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n${'x'.repeat(20)}`, '413'],
  ])('nothing pipelined behind %s is served, and no backend hears of it', async (_what, first, status) => {
    const before = gw.stderr().length;
    const behind = `/proxy/pipelined-behind-${_what.replace(/\W+/g, '-')}`;
    const received = await exchange(`${first}GET ${behind} HTTP/1.1\r\nHost: x\r\n\r\nGET /ret?third HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(statusLines(received)).toEqual([status]);
    expect(received).toMatch(/Connection: close\r\n/);
    // The proxy's read timeout is 1 s: a request dispatched and left behind would be logged by then.
    await new Promise((r) => setTimeout(r, 1200));
    expect(seen).toEqual([]);
    expect(gw.stderr().slice(before)).not.toMatch(/upstream/);
  });

  test('a well-formed pipeline is served in order, proxied requests included', async () => {
    const conn = await rawConnect(
      port,
      'GET /ret?1 HTTP/1.1\r\nHost: x\r\n\r\nGET /proxy/two HTTP/1.1\r\nHost: x\r\n\r\nGET /ret?3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    await conn.closed;
    conn.socket.destroy();
    const bodies = conn.received().split(/HTTP\/1\.1 200 OK\r\n[\s\S]*?\r\n\r\n/).filter(Boolean);
    expect(bodies).toEqual(['ret 1\n', 'backend /two\n', 'ret 3\n']);
  });

  test('an upgrade pipelined behind a request waits for its answer', async () => {
    const conn = await rawConnect(
      port,
      'GET /proxy/first HTTP/1.1\r\nHost: x\r\n\r\n' +
        'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    expect(await eventually(() => statusLines(conn.received()).length === 2)).toBe(true);
    expect(statusLines(conn.received())).toEqual(['200', '101']);
    expect(conn.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\nbackend \/first\nHTTP\/1\.1 101 /);
    conn.socket.destroy();
  });

  test.each([
    ['a 400', 'GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a 400 with its body', 'POST /%zz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello'],
    ['a 413', `POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n${'x'.repeat(20)}`],
  ])('an upgrade pipelined behind %s is not served', async (_what, first) => {
    const received = await exchange(
      `${first}GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    );
    expect(statusLines(received)).toHaveLength(1);
    expect(received).not.toContain('101 Switching Protocols');
  });

  test('a head the parser refuses behind a good request gets its 400 after that answer, then the close', async () => {
    const received = await exchange('GET /ret?ok HTTP/1.1\r\nHost: x\r\n\r\nNOT HTTP AT ALL\r\n\r\n');
    expect(statusLines(received)).toEqual(['200', '400']);
    expect(received).toMatch(/\r\n\r\nret ok\nHTTP\/1\.1 400 Bad Request\r\n/);
  });

  test('a Content-Length after header line 2000 never reaches the backend as a POST without a body: 400, as nginx', async () => {
    const filler = Array.from({ length: 2001 }, (_, i) => `X-Filler-${i}: v\r\n`).join('');
    const received = await exchange(`POST /proxy/late-length HTTP/1.1\r\nHost: x\r\n${filler}Content-Length: 5\r\nConnection: close\r\n\r\nhello`);
    expect(statusLines(received)).toEqual(['400']);
    expect(received).toContain('Request Header Or Cookie Too Large');
    expect(seen).toEqual([]);
  });

  test('1000 header lines are forwarded whole; the 1001st is refused (nginx\'s max_headers)', async () => {
    const lines = (n: number) => Array.from({ length: n }, (_, i) => `X-Filler-${i}: v\r\n`).join('');
    // Host and Connection are two of the lines.
    const ok = await exchange(`GET /proxy/thousand HTTP/1.1\r\nHost: x\r\n${lines(998)}Connection: close\r\n\r\n`);
    expect(statusLines(ok)).toEqual(['200']);
    const refused = await exchange(`GET /proxy/thousand-and-one HTTP/1.1\r\nHost: x\r\n${lines(999)}Connection: close\r\n\r\n`);
    expect(statusLines(refused)).toEqual(['400']);
    expect(seen).toEqual(['GET /thousand content-length=-']);
  });

  test.each([
    ['Transfer-Encoding:\\tchunked', '501', 'Transfer-Encoding:\tchunked'],
    ['Transfer-Encoding: chunked\\t', '501', 'Transfer-Encoding: chunked\t'],
    ['Transfer-Encoding: \\vchunked', '501', 'Transfer-Encoding: \x0bchunked'],
    ['Content-Length:\\t5', '400', 'Content-Length:\t5'],
  ])('%s never reaches the backend: %s, as nginx', async (_name, status, line) => {
    const body = line.startsWith('Content-Length') ? 'hello' : '5\r\nhello\r\n0\r\n\r\n';
    const received = await exchange(`POST /proxy/padded HTTP/1.1\r\nHost: x\r\n${line}\r\nConnection: close\r\n\r\n${body}`);
    expect(statusLines(received)).toEqual([status]);
    expect(seen).toEqual([]);
  });
});
