/**
 * WebSockets over HTTP/2 (RFC 8441) with the gateway as a process: `http2_websocket on`
 * advertises SETTINGS_ENABLE_CONNECT_PROTOCOL, and an extended CONNECT stream is served by the
 * same phases and upgrade handlers as an HTTP/1.1 upgrade: the echo script (frames, close
 * codes, a bad frame's code), the proxy to a `ws` server behind it (its own key, the upstream's
 * refusal, a bad Sec-WebSocket-Accept, a backend that is down), access and limit_conn, the
 * access log and stub_status. Without the directive the stream is reset (nginx 1.22, which has
 * no RFC 8441, answers 400 "client sent unknown pseudo-header"); a plain CONNECT gets nginx's
 * 400. The client is Node's `http2` with frames made by hand; descriptors go back to baseline.
 */
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import { WebSocketServer } from 'ws';
import { expectLogged, makePrefix, startGateway, type GatewayProcess } from './helpers/gateway-process';
import { connectH2, H2WsClient } from './helpers/h2-websocket-client';
import { closeServer, listen, portOf } from './helpers/proxy-peers';
import { fdTotal, workerPids } from './helpers/push-clients';
import { freePort, waitForPort } from './helpers/ports';
import { findNginx } from './parity/pair';
import { closePayload, encodeFrame, Opcode } from './helpers/ws-raw-client';

/** The backend behind `/p/`: a `ws` echo that says `up:`, one that refuses, one whose 101 proves nothing. */
function startBackend(): { server: http.Server; seen: http.IncomingHttpHeaders[]; sockets: Set<net.Socket> } {
  const seen: http.IncomingHttpHeaders[] = [];
  /** Upgraded sockets leave the HTTP server: they are closed by hand at the end. */
  const sockets = new Set<net.Socket>();
  const wss = new WebSocketServer({ noServer: true });
  const server = http.createServer((_req, res) => res.end('plain\n'));
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => {});
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    seen.push(req.headers);
    if (req.url === '/p/refuse') return void socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nX-Why: backend\r\n\r\nnope\n');
    if (req.url === '/p/bad-accept') return void socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n');
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => {});
      ws.on('message', (data, isBinary) => ws.send(isBinary ? data : `up:${data.toString()}`));
    });
  });
  return { server, seen, sockets };
}

function siteYaml(certDir: string, backendPort: number, deadPort: number): string {
  return `
worker_processes: 1
error_log: stderr info
pid: off
events: { worker_connections: 256 }
http:
  log_format: { h2ws: '"$request" $status $body_bytes_sent $server_protocol' }
  limit_conn_zone: "$binary_remote_addr zone=ws:1m"
  servers:
    - listen: "127.0.0.1:0 ssl http2"
      http2_websocket: on
      ssl_certificate: ${certDir}/cert.pem
      ssl_certificate_key: ${certDir}/key.pem
      access_log: stderr h2ws
      locations:
        - location: /s
          handler: websocket-script
          script: echo
          max_payload_len: 1000
        - location: /one
          handler: websocket-script
          script: echo
          limit_conn: ws 1
        - location: /denied
          handler: websocket-script
          script: echo
          deny: all
        - location: /p/
          proxy_pass: http://127.0.0.1:${backendPort}
          proxy_http_version: "1.1"
          proxy_set_header: ["Upgrade $http_upgrade", "Connection upgrade"]
        - location: /down/
          proxy_pass: http://127.0.0.1:${deadPort}
          proxy_set_header: ["Upgrade $http_upgrade", "Connection upgrade"]
        - location: = /status
          stub_status: on
        - location: /
          return: 200 "page\\n"
    - listen: "127.0.0.2:0 ssl http2"
      ssl_certificate: ${certDir}/cert.pem
      ssl_certificate_key: ${certDir}/key.pem
      locations:
        - location: /s
          handler: websocket-script
          script: echo
        - location: /
          return: 200 "plain h2\\n"
    - listen: "127.0.0.3:0 http2"
      http2_websocket: on
      locations:
        - location: /s
          handler: websocket-script
          script: echo
`;
}

/** A GET on `session`: status and body. */
function get(session: http2.ClientHttp2Session, requestPath: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': requestPath });
    let body = '';
    let status = 0;
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('data', (d: Buffer) => (body += d));
    stream.on('end', () => resolve({ status, body }));
    stream.on('error', reject);
  });
}

/** The close frame the server sends after `frame`: its code. */
async function closeCodeAfter(session: http2.ClientHttp2Session, frame: Buffer): Promise<number> {
  const client = H2WsClient.open(session, '/s');
  expect((await client.response)[':status']).toBe(200);
  client.send(frame);
  const close = await client.nextFrame();
  expect(close.opcode).toBe(Opcode.CLOSE);
  await client.finish();
  return close.payload.readUInt16BE(0);
}

describe('WebSockets over HTTP/2 (http2_websocket on)', () => {
  let gw: GatewayProcess;
  let backend: ReturnType<typeof startBackend>;
  let certDir: string;
  let session: http2.ClientHttp2Session;

  beforeAll(async () => {
    certDir = makePrefix();
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-keyout', path.join(certDir, 'key.pem'), '-out', path.join(certDir, 'cert.pem')], { stdio: 'ignore' });
    backend = startBackend();
    await listen(backend.server);
    gw = await startGateway(siteYaml(certDir, portOf(backend.server), await freePort()), { listeners: 3 });
    ({ session } = await connectH2(gw.ports[0]));
  }, 30000);

  afterAll(async () => {
    session?.destroy();
    await gw?.stop();
    for (const socket of backend?.sockets ?? []) socket.destroy();
    if (backend) await closeServer(backend.server);
    execFileSync('rm', ['-rf', certDir]);
  });

  test('the socket with http2_websocket on advertises SETTINGS_ENABLE_CONNECT_PROTOCOL; the other does not', async () => {
    expect(session.remoteSettings.enableConnectProtocol).toBe(true);
    const other = await connectH2(gw.ports[1], '127.0.0.2');
    expect(other.settings.enableConnectProtocol).toBe(false);
    other.session.destroy();
  });

  test('the echo script over a stream: 200 without Sec-WebSocket-Accept, the first subprotocol, frames, a clean close; logged as HTTP/2.0 200', async () => {
    const client = H2WsClient.open(session, '/s?x=1', { 'sec-websocket-protocol': 'chat, superchat' });
    const response = await client.response;
    expect(response[':status']).toBe(200);
    expect(response.server).toMatch(/^gateway/);
    expect(response['sec-websocket-protocol']).toBe('chat');
    expect(response['sec-websocket-accept']).toBeUndefined();
    expect(response.upgrade).toBeUndefined();
    client.send(encodeFrame(Opcode.TEXT, 'hello h2'));
    expect(await client.nextFrame()).toEqual({ fin: true, opcode: Opcode.TEXT, payload: Buffer.from('hello h2') });
    client.send(encodeFrame(Opcode.BINARY, Buffer.alloc(1000, 9)));
    const binary = await client.nextFrame();
    expect([binary.opcode, binary.payload.length]).toEqual([Opcode.BINARY, 1000]);
    client.send(encodeFrame(Opcode.PING, 'are you there'));
    expect(await client.nextFrame()).toEqual({ fin: true, opcode: Opcode.PONG, payload: Buffer.from('are you there') });
    client.send(encodeFrame(Opcode.CLOSE, closePayload(1000, 'bye')));
    const close = await client.nextFrame();
    expect([close.opcode, close.payload.readUInt16BE(0)]).toEqual([Opcode.CLOSE, 1000]);
    // The server ends its side after the closing handshake (END_STREAM), then the stream closes cleanly.
    await client.ended;
    expect(await client.finish()).toBe(0);
    // 10 + 1004 + 15 + 7 bytes of frames went out after the 200.
    await expectLogged(gw, '"GET /s?x=1 HTTP/2.0" 200 1036 HTTP/2.0');
    // The session serves other streams beside and after it.
    expect(await get(session, '/')).toEqual({ status: 200, body: 'page\n' });
  });

  test('cleartext h2c with prior knowledge: the same echo on a stream', async () => {
    const h2c = await connectH2(gw.ports[2], '127.0.0.3', 'http');
    expect(h2c.settings.enableConnectProtocol).toBe(true);
    const client = H2WsClient.open(h2c.session, '/s', { ':scheme': 'http' });
    expect((await client.response)[':status']).toBe(200);
    client.send(encodeFrame(Opcode.TEXT, 'in the clear'));
    expect((await client.nextFrame()).payload.toString()).toBe('in the clear');
    client.send(encodeFrame(Opcode.CLOSE, closePayload(1001)));
    expect((await client.nextFrame()).payload.readUInt16BE(0)).toBe(1001);
    expect(await client.finish()).toBe(0);
    h2c.session.destroy();
  });

  test('a message over max_payload_len closes with 1009, an unmasked frame with 1002, bad UTF-8 with 1007', async () => {
    expect(await closeCodeAfter(session, encodeFrame(Opcode.BINARY, Buffer.alloc(1001)))).toBe(1009);
    expect(await closeCodeAfter(session, encodeFrame(Opcode.TEXT, 'hi', { mask: false }))).toBe(1002);
    expect(await closeCodeAfter(session, encodeFrame(Opcode.TEXT, Buffer.from([0x68, 0xff, 0xfe])))).toBe(1007);
  });

  test('ws\'s checks: a version other than 13 is refused 400 with the versions it speaks, on the stream', async () => {
    const client = H2WsClient.open(session, '/s', { 'sec-websocket-version': '12' });
    const response = await client.response;
    expect(response[':status']).toBe(400);
    expect(response['sec-websocket-version']).toBe('13, 8');
    expect(await client.text()).toBe('Missing or invalid Sec-WebSocket-Version header');
    // The client's side was left open: the gateway resets the stream with NO_ERROR once answered.
    expect(await client.closed).toBe(0);
  });

  test('the access phase refuses an extended CONNECT as any request: 403 with nginx\'s page', async () => {
    const client = H2WsClient.open(session, '/denied');
    expect((await client.response)[':status']).toBe(403);
    expect(await client.text()).toContain('<title>403 Forbidden</title>');
    await client.closed;
    await expectLogged(gw, '"GET /denied HTTP/2.0" 403');
  });

  test('limit_conn counts each WebSocket stream: a second one at once gets 503, the first goes on', async () => {
    const first = H2WsClient.open(session, '/one');
    expect((await first.response)[':status']).toBe(200);
    const second = H2WsClient.open(session, '/one');
    expect((await second.response)[':status']).toBe(503);
    await second.closed;
    first.send(encodeFrame(Opcode.TEXT, 'still here'));
    expect((await first.nextFrame()).payload.toString()).toBe('still here');
    first.send(encodeFrame(Opcode.CLOSE, closePayload(1000)));
    await first.nextFrame();
    await first.finish();
    const third = H2WsClient.open(session, '/one');
    expect((await third.response)[':status']).toBe(200);
    third.stream.close(http2.constants.NGHTTP2_CANCEL);
    await third.closed;
  });

  test('stub_status counts an open WebSocket stream as a request, its connection as writing until it ends (a GET\'s too)', async () => {
    // A request ended on the connection leaves it idle (its count was once left on the closed stream).
    expect((await get(session, '/')).status).toBe(200);
    const watcher = await connectH2(gw.ports[0]);
    const status = async () => {
      const body = (await get(watcher.session, '/status')).body;
      return { requests: Number(/\s(\d+)\s*\nReading/.exec(body)![1]), writing: Number(/Writing: (\d+)/.exec(body)![1]) };
    };
    const before = await status();
    const ws = H2WsClient.open(session, '/s');
    expect((await ws.response)[':status']).toBe(200);
    // The watcher's own request and the WebSocket's connection are both being written to.
    const during = await status();
    expect(during).toEqual({ requests: before.requests + 2, writing: 2 });
    ws.send(encodeFrame(Opcode.CLOSE, closePayload(1000)));
    await ws.nextFrame();
    await ws.finish();
    // The gateway logs and counts the end once its side of the stream has closed too.
    let after = await status();
    for (let i = 0; i < 50 && after.writing !== 1; i++) after = await status();
    expect(after.writing).toBe(1);
    watcher.session.destroy();
  });

  test('the proxy: the upstream side is an HTTP/1.1 Upgrade with a key of the gateway\'s own; the client gets 200 and the frames', async () => {
    backend.seen.length = 0;
    const client = H2WsClient.open(session, '/p/chat?room=1', { 'sec-websocket-protocol': 'chat' });
    const response = await client.response;
    expect(response[':status']).toBe(200);
    expect(response['sec-websocket-accept']).toBeUndefined();
    expect(response.upgrade).toBeUndefined();
    expect(response.connection).toBeUndefined();
    expect(response['sec-websocket-protocol']).toBe('chat');
    const up = backend.seen[0];
    expect(up.upgrade).toBe('websocket');
    expect(up.connection).toBe('upgrade');
    expect(up['sec-websocket-version']).toBe('13');
    expect(up['sec-websocket-key']).toMatch(/^[A-Za-z0-9+/]{22}==$/);
    client.send(encodeFrame(Opcode.TEXT, 'via proxy'));
    expect((await client.nextFrame()).payload.toString()).toBe('up:via proxy');
    client.send(encodeFrame(Opcode.CLOSE, closePayload(1000)));
    expect((await client.nextFrame()).opcode).toBe(Opcode.CLOSE);
    await client.finish();
    await expectLogged(gw, /"GET \/p\/chat\?room=1 HTTP\/2\.0" 200 \d+ HTTP\/2\.0/);
  });

  test('the proxy: the upstream\'s refusal is passed on the stream (status, fields, body)', async () => {
    const client = H2WsClient.open(session, '/p/refuse');
    const response = await client.response;
    expect(response[':status']).toBe(403);
    expect(response['x-why']).toBe('backend');
    expect(await client.text()).toBe('nope\n');
    await client.closed;
  });

  test('the proxy: a 101 whose Sec-WebSocket-Accept does not match the gateway\'s key is a 502', async () => {
    const client = H2WsClient.open(session, '/p/bad-accept');
    expect((await client.response)[':status']).toBe(502);
    expect(await client.text()).toContain('<title>502 Bad Gateway</title>');
    await expectLogged(gw, 'upstream sent invalid "Sec-WebSocket-Accept" header while reading response header from upstream');
  });

  test('the proxy: a backend that is down gives nginx\'s 502 page on the stream', async () => {
    const client = H2WsClient.open(session, '/down/x');
    expect((await client.response)[':status']).toBe(502);
    expect(await client.text()).toContain('<title>502 Bad Gateway</title>');
    await expectLogged(gw, /connect\(\) failed \(111: Connection refused\) while connecting to upstream/);
  });

  test('a location whose handler takes no upgrade serves it as HTTP, as an HTTP/1.1 upgrade is served', async () => {
    const client = H2WsClient.open(session, '/plain');
    expect((await client.response)[':status']).toBe(200);
    expect(await client.text()).toBe('page\n');
    await client.closed;
  });

  test('without http2_websocket, an extended CONNECT is reset (PROTOCOL_ERROR) and the session serves on', async () => {
    const other = await connectH2(gw.ports[1], '127.0.0.2');
    const client = H2WsClient.open(other.session, '/s');
    await expect(client.response).rejects.toThrow(/RST 1/);
    expect(await client.closed).toBe(http2.constants.NGHTTP2_PROTOCOL_ERROR);
    expect(await get(other.session, '/')).toEqual({ status: 200, body: 'plain h2\n' });
    other.session.destroy();
  });

  test('a plain CONNECT over HTTP/2 gets nginx\'s 400 (it has no :scheme)', async () => {
    const stream = session.request({ ':method': 'CONNECT', ':authority': 'example.org:443' }, { endStream: false });
    const client = new H2WsClient(stream);
    expect((await client.response)[':status']).toBe(400);
    expect(await client.text()).toContain('<title>400 Bad Request</title>');
    await expectLogged(gw, 'client sent no :scheme header');
  });

  test('streams opened and ended every way leave the worker\'s descriptors at their baseline', async () => {
    const pids = workerPids(gw.child.pid!);
    const warm = await connectH2(gw.ports[0]);
    await get(warm.session, '/');
    const baseline = fdTotal(pids);
    for (let round = 0; round < 3; round++) {
      const clients = [
        H2WsClient.open(warm.session, '/s'),
        H2WsClient.open(warm.session, '/s'),
        H2WsClient.open(warm.session, '/p/chat'),
        H2WsClient.open(warm.session, '/p/chat'),
        H2WsClient.open(warm.session, '/down/x'),
      ];
      await Promise.all(clients.map((c) => c.response));
      // A clean close, a reset, a bad frame, a proxied close, a reset of a proxied one.
      clients[0].send(encodeFrame(Opcode.CLOSE, closePayload(1000)));
      clients[1].stream.close(http2.constants.NGHTTP2_CANCEL);
      clients[2].send(encodeFrame(Opcode.TEXT, 'x', { mask: false }));
      clients[3].stream.close(http2.constants.NGHTTP2_CANCEL);
      clients[0].stream.end();
      clients[2].stream.end();
      await Promise.all(clients.map((c) => c.closed));
    }
    const deadline = Date.now() + 5000;
    while (fdTotal(pids) > baseline && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(fdTotal(pids)).toBe(baseline);
    warm.session.destroy();
  });
});

describe('nginx 1.22, which has no RFC 8441', () => {
  test('does not advertise SETTINGS_ENABLE_CONNECT_PROTOCOL, and answers an extended CONNECT 400 (unknown pseudo-header)', async () => {
    const prefix = makePrefix();
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-keyout', path.join(prefix, 'key.pem'), '-out', path.join(prefix, 'cert.pem')], { stdio: 'ignore' });
    const port = await freePort();
    writeFileSync(
      path.join(prefix, 'nginx.conf'),
      `daemon off; master_process off; pid nginx.pid; error_log error.log info;
events { worker_connections 64; }
http { access_log off; server { listen 127.0.0.1:${port} ssl http2; ssl_certificate cert.pem; ssl_certificate_key key.pem;
  location /s { return 200 "not a websocket\n"; } } }
`,
    );
    const nginx = spawn(findNginx(), ['-p', prefix, '-c', path.join(prefix, 'nginx.conf')], { stdio: 'ignore' });
    try {
      await waitForPort(port, nginx);
      const { session, settings } = await connectH2(port);
      expect(settings.enableConnectProtocol).toBe(false);
      const client = H2WsClient.open(session, '/s');
      expect((await client.response)[':status']).toBe(400);
      expect(await client.text()).toContain('<title>400 Bad Request</title>');
      session.destroy();
      expect(readFileSync(path.join(prefix, 'error.log'), 'utf8')).toContain('client sent unknown pseudo-header ":protocol"');
    } finally {
      nginx.kill('SIGTERM');
      await new Promise((resolve) => (nginx.exitCode !== null ? resolve(null) : nginx.once('exit', resolve)));
      execFileSync('rm', ['-rf', prefix]);
    }
  }, 20000);
});
