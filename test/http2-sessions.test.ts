/**
 * HTTP/2 sessions against the real `bin/gateway` (master and one worker, h2c), with Node's
 * client: keepalive_requests (GOAWAY after that many streams), keepalive_timeout (a session
 * without streams for that long gets GOAWAY and is closed), and a reload (`kill -HUP`) while a
 * slow stream is open: the stream finishes, the old session says GOAWAY, a new one is served.
 */
import http from 'node:http';
import http2 from 'node:http2';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { closeServer, listen, portOf } from './helpers/proxy-peers';
import { eventually } from './helpers/raw-socket';

function get(client: http2.ClientHttp2Session, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = client.request({ ':path': path });
    let body = '';
    let status = 0;
    req.on('response', (h) => (status = Number(h[':status'])));
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => resolve({ status, body }));
    req.on('error', reject);
    req.end();
  });
}

describe('HTTP/2 sessions (h2c, master and one worker)', () => {
  /** Answers /slow after 1.5 s. */
  const backend = http.createServer((req, res) => {
    setTimeout(() => res.end('slow\n'), req.url === '/slow' ? 1500 : 0);
  });
  let gw: GatewayProcess;
  let port: number;

  beforeAll(async () => {
    await listen(backend);
    gw = await startGateway(
      `worker_processes: 1\nerror_log: stderr info\npid: "off"\nhttp:\n  access_log: "off"\n  keepalive_requests: 3\n  keepalive_timeout: 1s\n` +
        `  servers:\n    - listen: 127.0.0.1:0 http2\n      locations:\n` +
        `        - { location: /ret, return: '200 "ret\\n"' }\n` +
        `        - { location: /slow, proxy_pass: "http://127.0.0.1:${portOf(backend)}" }\n`,
    );
    port = gw.ports[0];
  });
  afterAll(async () => {
    await gw.stop();
    await closeServer(backend);
  });

  test('keepalive_requests 3: the third stream is answered, then GOAWAY', async () => {
    const client = http2.connect(`http://127.0.0.1:${port}`);
    let goaway = -1;
    client.on('goaway', (code) => (goaway = code));
    client.on('error', () => undefined);
    for (let i = 0; i < 3; i++) expect((await get(client, '/ret')).status).toBe(200);
    expect(await eventually(() => goaway === 0, 2000)).toBe(true);
    client.destroy();
  });

  test('keepalive_timeout 1s: an idle session gets GOAWAY and is closed', async () => {
    const client = http2.connect(`http://127.0.0.1:${port}`);
    client.on('error', () => undefined);
    const start = performance.now();
    expect((await get(client, '/ret')).status).toBe(200);
    const closed = await eventually(() => client.closed || client.destroyed, 3000);
    expect(closed).toBe(true);
    expect(performance.now() - start).toBeGreaterThan(900);
    client.destroy();
  });

  test('reload with a slow stream open: the stream finishes, the session gets GOAWAY, new sessions are served', async () => {
    const client = http2.connect(`http://127.0.0.1:${port}`);
    let goaway = -1;
    client.on('goaway', (code) => (goaway = code));
    client.on('error', () => undefined);
    const slow = get(client, '/slow');
    await new Promise((r) => setTimeout(r, 300));
    process.kill(gw.child.pid!, 'SIGHUP');
    expect(await slow).toEqual({ status: 200, body: 'slow\n' });
    expect(await eventually(() => goaway === 0, 3000)).toBe(true);
    client.destroy();
    const fresh = http2.connect(`http://127.0.0.1:${port}`);
    fresh.on('error', () => undefined);
    expect((await get(fresh, '/ret')).status).toBe(200);
    fresh.destroy();
  });
});
