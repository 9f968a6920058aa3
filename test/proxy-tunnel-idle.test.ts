/**
 * An upgraded connection through the proxy closes after `proxy_read_timeout` of silence in
 * both directions, as nginx's (ngx_http_upstream_process_upgraded sets the upstream read timer
 * again after traffic either way); traffic in either direction keeps it open. Real `ws` peers
 * on loopback; the timeout is a short config value, nothing is timed.
 */
import http from 'node:http';
import type net from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { proxyLocation, startProxyBench, type ProxyBench } from './helpers/proxy-conf';
import { closeServer, listen, portOf } from './helpers/proxy-peers';

const TIMEOUT = 400;
const TICK = 80;

describe('an idle proxied WebSocket', () => {
  const wss = new WebSocketServer({ noServer: true });
  const server = http.createServer();
  const tickers = new Set<NodeJS.Timeout>();
  let bench: ProxyBench;

  beforeAll(async () => {
    server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
      socket.on('error', () => {});
      wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('error', () => {});
        // `/tick` talks every TICK ms; any other path never says a word.
        if (req.url === '/tick') {
          const ticker = setInterval(() => ws.send('tick'), TICK);
          tickers.add(ticker);
          ws.on('close', () => clearInterval(ticker));
        }
      });
    });
    await listen(server);
    bench = await startProxyBench(proxyLocation('/', `http://127.0.0.1:${portOf(server)}`, { proxyReadTimeout: TIMEOUT }));
  });

  afterAll(async () => {
    for (const ticker of tickers) clearInterval(ticker);
    await bench.close();
    wss.close();
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
});
