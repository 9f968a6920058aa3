/**
 * The timeouts of an upgraded connection through the proxy, as nginx's
 * ngx_http_upstream_process_upgraded: `proxy_read_timeout` of silence in both directions
 * closes it (the upstream read timer is set again after traffic either way), and a write that
 * stays blocked closes it after `proxy_send_timeout` (towards the upstream) or `send_timeout`
 * (towards the client). Real `ws` peers and raw sockets on loopback; the timeouts are short
 * config values, nothing is timed.
 */
import http from 'node:http';
import net from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { proxyLocation, startProxyBench, UPGRADE_RECIPE, type ProxyBench } from './helpers/proxy-conf';
import { closeServer, listen, portOf } from './helpers/proxy-peers';

const TIMEOUT = 400;
const TICK = 80;

describe('an idle proxied WebSocket', () => {
  const wss = new WebSocketServer({ noServer: true });
  const server = http.createServer();
  const tickers = new Set<NodeJS.Timeout>();
  const backendClosed: (() => void)[] = [];
  /** The backend's upgraded sockets: a paused one never notices the gateway hung up. */
  const upgraded = new Set<net.Socket>();
  let bench: ProxyBench;
  /** Long read timeout, short send timeouts: only a blocked write can end a tunnel. */
  let blocked: ProxyBench;

  beforeAll(async () => {
    server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      socket.on('error', () => {});
      upgraded.add(socket);
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('error', () => {});
        ws.on('close', () => backendClosed.shift()?.());
        // `/deaf` stops reading; `/flood` writes 256 KiB frames while its socket takes them.
        if (req.url === '/deaf') return void socket.pause();
        if (req.url === '/flood') {
          const frame = Buffer.alloc(256 * 1024, 7);
          const flood = setInterval(() => {
            while (ws.readyState === WebSocket.OPEN && ws.bufferedAmount < 4 * 1024 * 1024) ws.send(frame);
          }, 10);
          tickers.add(flood);
          return void ws.on('close', () => clearInterval(flood));
        }
        // `/tick` talks every TICK ms; any other path never says a word.
        if (req.url === '/tick') {
          const ticker = setInterval(() => ws.send('tick'), TICK);
          tickers.add(ticker);
          ws.on('close', () => clearInterval(ticker));
        }
      });
    });
    await listen(server);
    bench = await startProxyBench(proxyLocation('/', `http://127.0.0.1:${portOf(server)}`, { ...UPGRADE_RECIPE, proxyReadTimeout: TIMEOUT }));
    blocked = await startProxyBench(proxyLocation('/', `http://127.0.0.1:${portOf(server)}`, { ...UPGRADE_RECIPE, proxyReadTimeout: 60_000, proxySendTimeout: TIMEOUT, sendTimeout: TIMEOUT }));
  });

  afterAll(async () => {
    for (const ticker of tickers) clearInterval(ticker);
    await bench.close();
    await blocked.close();
    wss.close();
    for (const socket of upgraded) socket.destroy();
    await closeServer(server);
  });

  const open = async (path: string) => {
    const client = new WebSocket(`ws://127.0.0.1:${bench.port}${path}`);
    client.on('error', () => {});
    await new Promise((resolve) => client.once('open', resolve));
    return { client, closed: new Promise<void>((resolve) => client.once('close', () => resolve())) };
  };
  const rounds = (n: number, each: () => void) =>
    new Promise<void>((resolve) => {
      let left = n;
      const timer = setInterval(() => {
        each();
        if (--left === 0) {
          clearInterval(timer);
          resolve();
        }
      }, TICK);
    });

  test('silence both ways: closed after proxy_read_timeout, with nginx\'s log line', async () => {
    const { closed } = await open('/silent');
    await closed;
    expect((await bench.nextOutcome()).status).toBe(101);
    expect(bench.log.lines.some((l) => l.startsWith('error: upstream timed out (110: Connection timed out) while proxying upgraded connection'))).toBe(true);
  });

  test('the client talking to a silent backend keeps the tunnel open past the timeout, then silence closes it', async () => {
    const { client, closed } = await open('/silent');
    let closedEarly = false;
    void closed.then(() => (closedEarly = true));
    // 12 x 80 ms: well past the 400 ms timeout.
    await rounds(12, () => client.send('hello'));
    expect(closedEarly).toBe(false);
    expect(client.readyState).toBe(WebSocket.OPEN);
    await closed;
    await bench.nextOutcome();
  });

  test('the backend talking to a silent client keeps the tunnel open past the timeout', async () => {
    const { client, closed } = await open('/tick');
    let ticks = 0;
    client.on('message', () => ticks++);
    let closedEarly = false;
    void closed.then(() => (closedEarly = true));
    await rounds(12, () => {});
    expect(closedEarly).toBe(false);
    expect(ticks).toBeGreaterThan(5);
    client.close();
    await closed;
    await bench.nextOutcome();
  });

  test('a backend that stops reading: closed after proxy_send_timeout, "upstream timed out"', async () => {
    const client = new WebSocket(`ws://127.0.0.1:${blocked.port}/deaf`);
    client.on('error', () => {});
    await new Promise((resolve) => client.once('open', resolve));
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    const frame = Buffer.alloc(256 * 1024, 1);
    const flood = setInterval(() => {
      while (client.readyState === WebSocket.OPEN && client.bufferedAmount < 4 * 1024 * 1024) client.send(frame);
    }, 10);
    await closed;
    clearInterval(flood);
    expect((await blocked.nextOutcome()).status).toBe(101);
    expect(blocked.log.lines.some((l) => l.startsWith('error: upstream timed out (110: Connection timed out) while proxying upgraded connection'))).toBe(true);
  });

  test('a client that stops reading: closed after send_timeout, "client timed out"', async () => {
    const gone = new Promise<void>((resolve) => backendClosed.push(resolve));
    const socket = net.connect(blocked.port, '127.0.0.1');
    socket.on('error', () => {});
    socket.write(
      `GET /flood HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    // Never reads: the gateway's writes to it block once the socket buffers are full.
    socket.pause();
    await gone;
    socket.destroy();
    expect((await blocked.nextOutcome()).status).toBe(101);
    expect(blocked.log.lines.some((l) => l.startsWith('error: client timed out (110: Connection timed out) while proxying upgraded connection'))).toBe(true);
  });
});
