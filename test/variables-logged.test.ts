/**
 * The variables nginx documents for the modules the gateway has, as the access log writes them
 * (the gateway as a process, real sockets): the connection's (`$connection`,
 * `$connection_requests`, `$pipe`), the request's and response's (`$request_length`,
 * `$bytes_sent`, `$request_completion`, `$request_filename`, `$realpath_root`...) and the
 * upstream's (`$upstream_addr`, `$upstream_status`, its times and lengths, one value per try).
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { makePrefix, startGateway, type GatewayProcess } from './helpers/gateway-process';
import { request } from './helpers/proxy-peers';

/** The variables logged, in this order, `|` between them. */
const NAMES = [
  'connection', 'connection_requests', 'pipe', 'request_length', 'bytes_sent', 'body_bytes_sent', 'request_completion',
  'request_filename', 'document_root', 'realpath_root', 'document_uri', 'is_args', 'query_string', 'content_length', 'content_type',
  'cookie_a', 'sent_http_content_type', 'server_protocol', 'https', 'nginx_version', 'pid', 'msec', 'time_iso8601', 'status',
  'upstream_addr', 'upstream_status', 'upstream_connect_time', 'upstream_header_time', 'upstream_response_time',
  'upstream_response_length', 'upstream_bytes_received',
] as const;
type Logged = Record<(typeof NAMES)[number], string>;

describe('variables, as the access log writes them', () => {
  let prefix: string;
  let backend: http.Server;
  let backendPort: number;
  let deadPort: number;
  let gw: GatewayProcess;
  const logFile = () => path.join(prefix, 'logs/vars.log');

  /** The logged lines so far, parsed, once at least `count` are there. */
  async function logged(count: number): Promise<Logged[]> {
    const deadline = Date.now() + 5000;
    for (;;) {
      const lines = existsSync(logFile()) ? readFileSync(logFile(), 'utf8').split('\n').filter(Boolean) : [];
      if (lines.length >= count) return lines.map((line) => Object.fromEntries(line.split('|').map((v, i) => [NAMES[i], v])) as Logged);
      if (Date.now() > deadline) throw new Error(`${lines.length} log lines, wanted ${count}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  beforeAll(async () => {
    prefix = makePrefix({ 'real/files/a.txt': 'hello\n', 'logs/.keep': '' });
    symlinkSync(path.join(prefix, 'real'), path.join(prefix, 'link'));
    backend = http.createServer((req, res) => res.end('from the backend\n'));
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    backendPort = (backend.address() as AddressInfo).port;
    // A port nobody listens on: the first peer of `pair` refuses.
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    deadPort = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    gw = await startGateway(
      `
error_log: stderr notice
http:
  log_format:
    vars: "${NAMES.map((n) => `$${n}`).join('|')}"
  access_log: ${prefix}/logs/vars.log vars
  upstreams:
    pair:
      servers: ["127.0.0.1:${deadPort}", "127.0.0.1:${backendPort}"]
  servers:
    - listen: "127.0.0.1:0"
      locations:
        - location: /files/
          root: link
        - location: /proxy/
          proxy_pass: http://127.0.0.1:${backendPort}
        - location: /pair/
          proxy_pass: http://pair
`,
      { prefix },
    );
  });

  afterAll(async () => {
    await gw?.stop();
    await new Promise((resolve) => backend.close(resolve));
    rmSync(prefix, { recursive: true, force: true });
  });

  beforeEach(() => writeFileSync(logFile(), ''));

  /** Writes `raw` on a new connection and reads the answer until the server closes. */
  function exchange(raw: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(gw.ports[0], '127.0.0.1', () => socket.end(raw));
      let answer = '';
      socket.on('data', (d) => (answer += d));
      socket.on('close', () => resolve(answer));
      socket.on('error', reject);
    });
  }

  test('a static file: lengths, completion, paths (symbolic links resolved in $realpath_root), request and response fields', async () => {
    const head = 'POST /files/a.txt?x=1 HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\nCookie: b=2; a=one\r\nContent-Length: 3\r\nConnection: close\r\n\r\n';
    const answer = await exchange(`${head}abc`);
    const [line] = await logged(1);
    expect(answer).toMatch(/^HTTP\/1\.1 405 /);
    expect(line).toMatchObject({
      pipe: '.',
      request_completion: 'OK',
      request_filename: path.join(prefix, 'link/files/a.txt'),
      document_root: path.join(prefix, 'link'),
      realpath_root: path.join(prefix, 'real'),
      document_uri: '/files/a.txt',
      is_args: '?',
      query_string: 'x=1',
      content_length: '3',
      content_type: 'text/plain',
      cookie_a: 'one',
      sent_http_content_type: 'text/html',
      server_protocol: 'HTTP/1.1',
      https: '-',
      status: '405',
      upstream_addr: '-',
      upstream_status: '-',
    });
    expect(line.pid).toMatch(/^\d+$/);
    expect(line.nginx_version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(line.msec).toMatch(/^\d{10}\.\d{3}$/);
    expect(line.time_iso8601).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/);
    // The request line, header and 3-byte body as the client wrote them.
    expect(Number(line.request_length)).toBe(Buffer.byteLength(head) + 3);
    // $bytes_sent: all that went out; $body_bytes_sent: less the status line and header.
    const [answerHead, answerBody] = answer.split('\r\n\r\n');
    expect(Number(line.bytes_sent)).toBe(Buffer.byteLength(answer));
    expect(Number(line.body_bytes_sent)).toBe(Buffer.byteLength(answerBody));
    expect(Number(line.bytes_sent) - Number(line.body_bytes_sent)).toBe(Buffer.byteLength(answerHead) + 4);
  });

  test('$connection and $connection_requests on a kept-alive connection; $pipe is "p" for a pipelined request', async () => {
    const socket = net.connect(gw.ports[0], '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const get = (p: string) => `GET ${p} HTTP/1.1\r\nHost: h\r\n\r\n`;
    socket.write(get('/files/a.txt'));
    await logged(1);
    // The next two in one write: the third comes while the second is answered.
    socket.write(get('/files/a.txt?2') + get('/files/a.txt?3'));
    const lines = await logged(3);
    socket.destroy();
    expect(lines.map((l) => l.connection_requests)).toEqual(['1', '2', '3']);
    expect(new Set(lines.map((l) => l.connection)).size).toBe(1);
    expect(lines.map((l) => l.pipe)).toEqual(['.', '.', 'p']);
    // Each request's own length, not the connection's bytes so far (nginx 1.22: 38, 40, 40).
    expect(lines.map((l) => l.request_length)).toEqual([38, 40, 40].map(String));
    // A new connection has another number.
    await request(gw.ports[0], '/files/a.txt');
    const [, , , fourth] = await logged(4);
    expect(fourth.connection).not.toBe(lines[0].connection);
    expect(fourth.connection_requests).toBe('1');
  });

  test('$upstream_*: the peer, its status, times in seconds with ms, the body length and the bytes received', async () => {
    const reply = await request(gw.ports[0], '/proxy/x');
    const [line] = await logged(1);
    expect(reply.body).toBe('from the backend\n');
    // nginx 1.22 logs the same for this exchange: `127.0.0.1:PORT|200|0.000|0.001|0.001|17|129`; a root that is not there has no $realpath_root.
    expect(line).toMatchObject({ upstream_addr: `127.0.0.1:${backendPort}`, upstream_status: '200', upstream_response_length: '17', realpath_root: '-' });
    for (const time of [line.upstream_connect_time, line.upstream_header_time, line.upstream_response_time]) expect(time).toMatch(/^\d+\.\d{3}$/);
    expect(Number(line.upstream_bytes_received)).toBeGreaterThan(17 + 'HTTP/1.1 200 OK\r\n\r\n'.length);
  });

  test('one value per try, ", " between them: a peer that refuses, then the one that answers', async () => {
    expect((await request(gw.ports[0], '/pair/y')).status).toBe(200);
    const [line] = await logged(1);
    expect(line.upstream_addr).toBe(`127.0.0.1:${deadPort}, 127.0.0.1:${backendPort}`);
    expect(line.upstream_status).toBe('502, 200');
    expect(line.upstream_connect_time).toMatch(/^-, \d+\.\d{3}$/);
    expect(line.upstream_header_time).toMatch(/^-, \d+\.\d{3}$/);
    expect(line.upstream_response_length).toBe('0, 17');
  });
});
