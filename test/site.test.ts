/** The seed end to end: `gateway -c conf/site.yaml` as a process, the page, the echo, the logs. */
import { readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import WebSocket from 'ws';
import { ROOT, seedConfigForTest, startGateway, type GatewayProcess } from './helpers/gateway-process';

function get(port: number, urlPath: string, headers: Record<string, string> = {}, method = 'GET') {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, headers, method }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('the seed site', () => {
  let gw: GatewayProcess;
  const ACCESS_LOG = path.join(os.tmpdir(), `gateway-site-${process.pid}.log`);
  beforeAll(async () => {
    gw = await startGateway(seedConfigForTest().replace('http:\n', `http:\n  access_log: ${ACCESS_LOG}\n`), { prefix: ROOT });
  });
  afterAll(async () => {
    await gw.stop();
    rmSync(ACCESS_LOG, { force: true });
  });
  const accessLog = () => readFileSync(ACCESS_LOG, 'utf8');

  test('the demo page is served, gzipped for a client that accepts it', async () => {
    const page = readFileSync(path.join(ROOT, 'public/websocket.html'));
    const plain = await get(gw.ports[0], '/websocket.html');
    expect(plain.status).toBe(200);
    expect(plain.headers['content-type']).toBe('text/html');
    expect(plain.body.equals(page)).toBe(true);
    const gz = await get(gw.ports[0], '/websocket.html', { 'Accept-Encoding': 'gzip, deflate' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.headers['content-length']).toBeUndefined();
    expect(gz.headers.etag).toMatch(/^W\/"/);
    expect(zlib.gunzipSync(gz.body).equals(page)).toBe(true);
  });

  test('the echo at /s answers text and binary, and pings with their payload', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.ports[0]}/s`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const next = () => new Promise<[Buffer, boolean]>((resolve) => ws.once('message', (d: Buffer, binary) => resolve([d, binary])));
    ws.send('hello');
    expect(await next()).toEqual([Buffer.from('hello'), false]);
    ws.send(Buffer.from([0, 1, 2, 255]));
    expect(await next()).toEqual([Buffer.from([0, 1, 2, 255]), true]);
    const pong = new Promise<Buffer>((resolve) => ws.once('pong', resolve));
    ws.ping('are you there');
    expect((await pong).toString()).toBe('are you there');
    const closed = new Promise<number>((resolve) => ws.once('close', resolve));
    ws.close(4001);
    expect(await closed).toBe(4001);
  });

  test('a WebSocket is logged once, when it closes, with status 101', async () => {
    for (let i = 0; i < 50 && !/"GET \/s HTTP\/1\.1" 101 /.test(accessLog()); i++) await new Promise((r) => setTimeout(r, 20));
    const lines = accessLog().split('\n').filter((l) => l.includes('"GET /s HTTP/1.1"'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^127\.0\.0\.1 - - \[\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "GET \/s HTTP\/1\.1" 101 \d+ "-" "-"$/);
  });

  test('static answers as nginx: 404, HEAD, combined access log lines', async () => {
    expect((await get(gw.ports[0], '/missing')).status).toBe(404);
    const head = await get(gw.ports[0], '/websocket.html', {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(Number(head.headers['content-length'])).toBe(readFileSync(path.join(ROOT, 'public/websocket.html')).length);
    for (let i = 0; i < 50 && !/"HEAD \/websocket\.html HTTP\/1\.1" 200 0 /.test(accessLog()); i++) await new Promise((r) => setTimeout(r, 20));
    expect(accessLog()).toMatch(/"GET \/missing HTTP\/1\.1" 404 \d+ "-" "-"\n/);
    expect(accessLog()).toMatch(/"HEAD \/websocket\.html HTTP\/1\.1" 200 0 "-" "-"\n/);
  });

  test('nothing went wrong in the error log', () => {
    expect(gw.stderr()).not.toMatch(/\[(crit|alert|emerg)\]/);
  });
});
