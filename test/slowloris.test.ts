/**
 * Slowloris and slow bodies against the real `bin/gateway` process, with
 * `client_header_timeout 2s`, `client_body_timeout 2s` (and `lingering_timeout 2s`, the
 * timeout nginx gives a body nobody reads) and `worker_connections 1024` (the seed's; nginx's
 * and the gateway's default is 512): 1,500
 * hostile connections, more than the slots, holding partial heads, partial bodies that then
 * close, and partial bodies that stall, against locations where the gateway reads the body
 * itself (a push publisher), throws it away (`return`, static), or streams it (a proxy). A
 * well-behaved client is still served within 3 s, and every hostile connection is gone within
 * the timeout plus a second, counted in the gateway's descriptors.
 */
import http from 'node:http';
import net from 'node:net';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { closeServer, listen, portOf } from './helpers/proxy-peers';
import { eventually, fdCount } from './helpers/raw-socket';

const TIMEOUT_MS = 2000;

/** One kind of hostile connection: what it sends, and whether it then closes its side. */
interface Hostile {
  readonly bytes: string;
  readonly thenClose: boolean;
}

const partialHead: Hostile = { bytes: 'GET /ret HTTP/1.1\r\nHost: x\r\nX-Slow: aaaa', thenClose: false };
const partialBody = (path: string, thenClose: boolean): Hostile => ({ bytes: `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789`, thenClose });

/** Opens `count` hostile connections, kinds taken in turn, 250 at a time; resolves with them once all wrote. */
async function flood(port: number, kinds: readonly Hostile[], count: number): Promise<net.Socket[]> {
  const sockets: net.Socket[] = [];
  for (let at = 0; at < count; at += 250) {
    const batch = Array.from({ length: Math.min(250, count - at) }, (_, i) => {
      const kind = kinds[(at + i) % kinds.length];
      return new Promise<net.Socket>((resolve) => {
        const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
        socket.on('error', () => {});
        socket.on('data', () => {});
        socket.once('connect', () => {
          socket.write(kind.bytes);
          if (kind.thenClose) setTimeout(() => socket.end(), 100);
          resolve(socket);
        });
        socket.once('close', () => resolve(socket));
      });
    });
    sockets.push(...(await Promise.all(batch)));
  }
  return sockets;
}

/** Asks for /ret on a fresh connection every 50 ms until it is answered 200; resolves with when. */
async function servedWithin(port: number, since: number, ms: number): Promise<number> {
  for (;;) {
    const status = await new Promise<number>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/ret', agent: false, timeout: 1000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(0));
    });
    if (status === 200) return performance.now() - since;
    if (performance.now() - since > ms) throw new Error(`not served within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('1,500 hostile connections against worker_connections 1024', () => {
  const backend = http.createServer((req, res) => {
    res.on('error', () => {});
    req.on('error', () => {});
    req.resume();
    req.on('end', () => res.end('backend\n'));
  });
  let gw: GatewayProcess;
  let port: number;
  let baseline: number;

  beforeAll(async () => {
    await listen(backend);
    gw = await startGateway(
      `master_process: "off"\nerror_log: stderr notice\npid: "off"\nevents:\n  worker_connections: 1024\nhttp:\n  access_log: "off"\n` +
        `  client_header_timeout: 2s\n  client_body_timeout: 2s\n  lingering_timeout: 2s\n` +
        `  servers:\n    - listen: 127.0.0.1:0\n      root: www\n      locations:\n` +
        `        - { location: /ret, return: '200 "ret\\n"' }\n` +
        `        - { location: "~ ^/pub/(\\\\w+)$", handler: push-publisher, channel: $1 }\n` +
        `        - { location: /proxy/, proxy_pass: "http://127.0.0.1:${portOf(backend)}/" }\n`,
      { files: { 'www/index.html': 'hi\n' } },
    );
    port = gw.ports[0];
    // Whatever the first request of each kind opens for good is open before the count.
    for (const path of ['/ret', '/index.html', '/pub/warm', '/proxy/warm']) {
      await new Promise<void>((resolve) => {
        const req = http.request({ host: '127.0.0.1', port, path, method: path === '/ret' ? 'GET' : 'POST', agent: false }, (res) => res.resume().on('end', resolve));
        req.on('error', () => resolve());
        req.end('x');
      });
    }
    await eventually(() => false, 300);
    baseline = fdCount(gw.child.pid!);
  });
  afterAll(async () => {
    await gw.stop();
    await closeServer(backend);
  });

  /**
   * Floods with `stalling` (after `closing`, which send part of a body and close), then asks as
   * a good client; resolves with when it was served and whether every hostile connection was
   * gone within the timeout plus a second, counted from the end of the flood.
   */
  async function attack(stalling: readonly Hostile[], closing: readonly Hostile[] = []) {
    const closers = closing.length ? await flood(port, closing, 300) : [];
    await eventually(() => fdCount(gw.child.pid!) <= baseline, 1000);
    const stallers = await flood(port, stalling, 1500 - closers.length);
    const flooded = performance.now();
    // More than the slots: some were refused at the accept, as nginx does.
    const refused = await eventually(() => gw.stderr().includes('1024 worker_connections are not enough'), 1000);
    const servedAt = await servedWithin(port, flooded, 3000);
    const gone = await eventually(() => fdCount(gw.child.pid!) <= baseline, TIMEOUT_MS + 1000 - (performance.now() - flooded));
    const left = fdCount(gw.child.pid!) - baseline;
    for (const socket of [...closers, ...stallers]) socket.destroy();
    return { refused, servedAt, gone, left, goneAt: Math.round(performance.now() - flooded) };
  }

  test('1,500 partial heads: a good client is served within 3 s, and every one is gone within 3 s', async () => {
    const outcome = await attack([partialHead]);
    expect(outcome).toMatchObject({ refused: true, gone: true, left: 0 });
    expect(outcome.servedAt).toBeLessThan(3000);
    expect(gw.child.exitCode).toBeNull();
  });

  test('1,500 partial bodies that close or stall (return, static, push publisher): a good client is served within 3 s, every one is gone within 3 s', async () => {
    const outcome = await attack(
      [partialBody('/ret', false), partialBody('/pub/slow', false), partialBody('/index.html', false)],
      [partialBody('/ret', true), partialBody('/pub/slow', true), partialBody('/index.html', true)],
    );
    expect(outcome).toMatchObject({ refused: true, gone: true, left: 0 });
    expect(outcome.servedAt).toBeLessThan(3000);
    expect(gw.child.exitCode).toBeNull();
  });

  test("1,500 partial bodies that close or stall, streamed to a proxy (client_body_timeout on a streamed body is the proxy's): every one is gone within 3 s", async () => {
    const outcome = await attack([partialBody('/proxy/slow', false)], [partialBody('/proxy/slow', true)]);
    expect(outcome).toMatchObject({ refused: true, gone: true, left: 0 });
    expect(outcome.servedAt).toBeLessThan(3000);
  });
});
