/**
 * conf/site.conf, the seed's site in nginx's own syntax, run as a process as test/site.test.ts
 * runs conf/site.yaml: the page (gzipped), the echo WebSocket, nginx's 404; and it builds to
 * the very configuration conf/site.yaml builds to.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import WebSocket from 'ws';
import { buildConfig } from '../src/config/build';
import { readConfigFile } from '../src/config/read';
import { REGISTRY } from '../src/modules/registry';
import { comparableConf } from './helpers/comparable-conf';
import { ROOT, startGateway, type GatewayProcess } from './helpers/gateway-process';

function get(port: number, urlPath: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** conf/site.conf with its listener on a free loopback port, its error log on stderr, no pid file. */
function siteConfForTest(): string {
  const text = readFileSync(path.join(ROOT, 'conf/site.conf'), 'utf8');
  const moved = text
    .replace('listen  8080 so_keepalive=2s:2s:8;', 'listen  127.0.0.1:0 so_keepalive=2s:2s:8;')
    .replace('error_log  logs/error.log  info;', 'error_log  stderr  info;\npid off;')
    .replace('http {\n', 'http {\n    access_log off;\n');
  if (!moved.includes('127.0.0.1:0') || !moved.includes('pid off;') || !moved.includes('access_log off;')) throw new Error('conf/site.conf changed: update this test');
  return moved;
}

describe('conf/site.conf: the seed site written as nginx.conf', () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await startGateway(siteConfForTest(), { prefix: ROOT, confName: 'site.conf' });
  });
  afterAll(() => gw.stop());

  test('the demo page, gzipped for a client that accepts it; a missing file is 404', async () => {
    const page = readFileSync(path.join(ROOT, 'public/websocket.html'));
    const plain = await get(gw.ports[0], '/websocket.html');
    expect([plain.status, plain.headers['content-type'], plain.body.equals(page)]).toEqual([200, 'text/html', true]);
    const gz = await get(gw.ports[0], '/websocket.html', { 'Accept-Encoding': 'gzip' });
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(zlib.gunzipSync(gz.body).equals(page)).toBe(true);
    expect((await get(gw.ports[0], '/missing')).status).toBe(404);
  });

  test('the echo at /s', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${gw.ports[0]}/s`);
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const next = () => new Promise<[Buffer, boolean]>((resolve) => ws.once('message', (d: Buffer, binary) => resolve([d, binary])));
    ws.send('hello');
    expect(await next()).toEqual([Buffer.from('hello'), false]);
    const closed = new Promise<number>((resolve) => ws.once('close', resolve));
    ws.close(4001);
    expect(await closed).toBe(4001);
  });

  test('it builds to what conf/site.yaml builds to', () => {
    const built = (name: string) => {
      const file = path.join(ROOT, 'conf', name);
      return comparableConf(buildConfig(readConfigFile(file), file, ROOT, REGISTRY));
    };
    expect(built('site.conf')).toEqual(built('site.yaml'));
  });
});
