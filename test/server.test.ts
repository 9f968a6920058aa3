/** The listening side, in process: socket options on accepted sockets, worker_connections, bad requests. */
import net from 'node:net';
import { loadConfig } from '../src/config/build';
import { createErrorLog, LogFiles } from '../src/shared/log';
import { readKeepalive } from '../src/server/socket-options';
import { Gateway } from '../src/server/gateway';
import { makePrefix } from './helpers/gateway-process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { REGISTRY } from '../src/modules/registry';

async function startInProcess(yaml: string) {
  const prefix = makePrefix({ 'conf/site.yaml': yaml, 'html/index.html': '<p>hi</p>' });
  const conf = loadConfig({ file: path.join(prefix, 'conf/site.yaml'), prefix, registry: REGISTRY });
  const files = new LogFiles();
  const lines: string[] = [];
  const log = createErrorLog({ path: 'stderr', level: 'info' }, files);
  const spy = { ...log, warn: (m: string) => lines.push(m), info: (m: string) => lines.push(m) };
  const gateway = new Gateway(conf, spy, files);
  await gateway.start();
  const port = gateway.addresses()[0].port;
  return {
    gateway,
    port,
    lines,
    async stop() {
      await gateway.close();
      await files.close();
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!check()) throw new Error('condition not reached');
}

const SITE = (listen: string, connections = 3) => `
events: { worker_connections: ${connections} }
http:
  access_log: "off"
  servers:
    - listen: "${listen}"
      locations:
        - { location: /, root: html }
`;

test('so_keepalive=2s:2s:8 is set on every accepted socket', async () => {
  const gw = await startInProcess(SITE('127.0.0.1:0 so_keepalive=2s:2s:8'));
  const clients = [await connect(gw.port), await connect(gw.port)];
  await until(() => gw.gateway.connections.size === 2);
  for (const accepted of gw.gateway.connections) {
    expect(readKeepalive(accepted)).toEqual({ enabled: true, idle: 2, interval: 2, count: 8 });
  }
  clients.forEach((c) => c.destroy());
  await gw.stop();
});

test('so_keepalive stays as set on a client WebSocket tunnelled to a backend (http-proxy calls setKeepAlive(true, 0))', async () => {
  const backend = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  backend.on('connection', (ws) => ws.on('message', (data) => ws.send(data)));
  await new Promise((resolve) => backend.once('listening', resolve));
  const backendPort = (backend.address() as net.AddressInfo).port;
  const gw = await startInProcess(`
http:
  access_log: "off"
  servers:
    - listen: "127.0.0.1:0 so_keepalive=2s:2s:8"
      locations:
        - { location: /ws, proxy_pass: "http://127.0.0.1:${backendPort}", proxy_http_version: "1.1", proxy_set_header: ["Upgrade $http_upgrade", "Connection upgrade"] }
`);
  const client = new WebSocket(`ws://127.0.0.1:${gw.port}/ws`);
  await new Promise((resolve, reject) => client.once('open', resolve).once('error', reject));
  client.send('through');
  expect(String(await new Promise((resolve) => client.once('message', resolve)))).toBe('through');
  const [accepted] = gw.gateway.connections;
  expect(readKeepalive(accepted)).toEqual({ enabled: true, idle: 2, interval: 2, count: 8 });
  client.close();
  await until(() => gw.gateway.connections.size === 0);
  await gw.stop();
  await new Promise((resolve) => backend.close(resolve));
});

test('an IPv6 listener ([::1]) serves, with so_keepalive applied', async () => {
  const gw = await startInProcess(SITE('[::1]:0 so_keepalive=3s:4s:5'));
  expect(gw.gateway.addresses()[0]).toMatchObject({ key: '[::1]:0', address: '::1' });
  const client = await new Promise<net.Socket>((resolve, reject) => {
    const socket = net.connect(gw.port, '::1', () => resolve(socket)).on('error', reject);
  });
  await until(() => gw.gateway.connections.size === 1);
  expect(readKeepalive([...gw.gateway.connections][0])).toEqual({ enabled: true, idle: 3, interval: 4, count: 5 });
  client.destroy();
  await gw.stop();
});

test('without so_keepalive, accepted sockets keep the system default (off)', async () => {
  const gw = await startInProcess(SITE('127.0.0.1:0'));
  const client = await connect(gw.port);
  await until(() => gw.gateway.connections.size === 1);
  expect(readKeepalive([...gw.gateway.connections][0]).enabled).toBe(false);
  client.destroy();
  await gw.stop();
});

test('worker_connections caps open connections and logs it, as nginx', async () => {
  const gw = await startInProcess(SITE('127.0.0.1:0'));
  const clients = [await connect(gw.port), await connect(gw.port), await connect(gw.port)];
  await until(() => gw.gateway.connections.size === 3);
  const extra = await connect(gw.port);
  await new Promise((resolve) => extra.on('close', resolve));
  expect(gw.lines).toContain('3 worker_connections are not enough');
  clients[0].destroy();
  await until(() => gw.gateway.connections.size === 2);
  const again = await connect(gw.port);
  await until(() => gw.gateway.connections.size === 3);
  [...clients, again].forEach((c) => c.destroy());
  await until(() => gw.gateway.connections.size === 0);
  await gw.stop();
});

function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(text));
    let data = '';
    socket.on('data', (d) => (data += d));
    socket.on('close', () => resolve(data));
    socket.on('error', reject);
  });
}

describe('requests the parser refuses get nginx statuses and close', () => {
  let gw: Awaited<ReturnType<typeof startInProcess>>;
  beforeAll(async () => (gw = await startInProcess(SITE('127.0.0.1:0', 100))));
  afterAll(() => gw.stop());
  test.each([
    ['garbage request line', 400, 'HELLO\r\n\r\n'],
    ['HTTP/1.1 without Host', 400, 'GET / HTTP/1.1\r\n\r\n'],
    ['a climb above the root', 400, 'GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a bad escape', 400, 'GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a NUL byte', 400, 'GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a bad Host', 400, 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n'],
    ['Content-Length with Transfer-Encoding', 400, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
    ['two Content-Lengths', 400, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'],
    ['a huge request line', 414, `GET /${'a'.repeat(20000)} HTTP/1.1\r\nHost: x\r\n\r\n`],
    ['huge headers', 400, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20000)}\r\n\r\n`],
    ['an unknown Transfer-Encoding', 501, 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n'],
    ['HTTP/9.9', 505, 'GET / HTTP/9.9\r\nHost: x\r\n\r\n'],
    ['CONNECT to an authority', 400, 'CONNECT example.com:443 HTTP/1.1\r\nHost: x\r\n\r\n'],
  ])('%s -> %d', async (_name, status, text) => {
    const response = await rawRequest(gw.port, text);
    expect(response).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
    expect(response).toMatch(/Server: gateway\/\d/);
    expect(response).toMatch(/<center>gateway\/\d+\.\d+\.\d+<\/center>/);
  });
  test('Expect: 100-continue: 100 once the request passed its checks, none before a 413', async () => {
    const small = await rawRequest(gw.port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nx');
    expect(small).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 405 /);
    const large = await rawRequest(gw.port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n');
    expect(large).toMatch(/^HTTP\/1\.1 413 /);
  });
  test('an unknown Expect is ignored, as nginx does (Node would send 417)', async () => {
    expect(await rawRequest(gw.port, 'GET / HTTP/1.1\r\nHost: x\r\nExpect: teapot\r\nConnection: close\r\n\r\n')).toMatch(/^HTTP\/1\.1 200 OK/);
  });
  test('and the gateway still serves, with no connection left open', async () => {
    expect(await rawRequest(gw.port, 'GET / HTTP/1.0\r\n\r\n')).toMatch(/^HTTP\/1\.1 200 OK[\s\S]*<p>hi<\/p>$/);
    await until(() => gw.gateway.connections.size === 0);
  });
});
