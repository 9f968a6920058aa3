/**
 * Parity: the client timeouts, to the second, against nginx. Both servers run the same site
 * with 1 s timeouts (`client_header_timeout`, `send_timeout`, `lingering_timeout`) and
 * `lingering_time 3s`; the same bytes go to each at the same time, and the answer and the
 * moment each closes the connection are compared. A close is seen on the server's side of the
 * connection (/proc/net/tcp: it leaves ESTABLISHED), so a client that reads nothing still sees
 * when it happened. Each close must come at the expected time, with slack: nginx's timers are
 * exact (but `lingering_time`, counted in whole seconds), the gateway's header and send checks
 * run every 100 ms. The cases run at the same time (each on its own connections, watched by
 * their own client ports; they only wait on timers).
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { startPair, type Pair, type Side } from './pair';
import { loc } from './site';

/** The server's end of the connection from local port `client` to `port`: its TCP state, or null once gone. */
function serverSideState(port: number, client: number): string | null {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const [, local, remote, state] = line.trim().split(/\s+/);
    if (local?.endsWith(`:${hex(port)}`) && remote?.endsWith(`:${hex(client)}`)) return state;
  }
  return null;
}

/** What one connection saw: the status lines, and when (ms from the connect) the server closed it. */
interface Seen {
  readonly statuses: string[];
  readonly closedAt: number | null;
}

/**
 * Opens a connection to `side`, runs `script` on it (writes, pauses), and watches for the
 * server's close for up to `ms`; `read` false leaves what arrives unread (a stalled client).
 */
function watch(side: Side, script: (socket: net.Socket) => void, ms: number, read = true): Promise<Seen> {
  return new Promise((resolve) => {
    const socket = net.connect({ port: side.ports[0], host: side.hosts[0], allowHalfOpen: true });
    let text = '';
    let start = 0;
    let poll: NodeJS.Timeout;
    const done = (closedAt: number | null) => {
      clearInterval(poll);
      socket.destroy();
      resolve({ statuses: [...text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]), closedAt });
    };
    socket.on('error', () => {});
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    if (!read) socket.pause();
    socket.on('connect', () => {
      start = performance.now();
      const client = socket.localPort!;
      script(socket);
      poll = setInterval(() => {
        const elapsed = performance.now() - start;
        if (serverSideState(side.ports[0], client) !== '01') done(elapsed);
        else if (elapsed > ms) done(null);
      }, 20);
    });
  });
}

/** Runs `script` against both servers at once. */
async function both(pair: Pair, script: (socket: net.Socket) => void, ms: number, read = true): Promise<{ nginx: Seen; gateway: Seen }> {
  const [nginx, gateway] = await Promise.all([watch(pair.nginx, script, ms, read), watch(pair.gateway, script, ms, read)]);
  return { nginx, gateway };
}

/** Asserts both closed between `from` and `to` ms, with the same answers. */
function expectBothClosed({ nginx, gateway }: { nginx: Seen; gateway: Seen }, from: number, to: number): void {
  for (const seen of [nginx, gateway]) {
    expect(seen.closedAt).not.toBeNull();
    expect(seen.closedAt!).toBeGreaterThanOrEqual(from);
    expect(seen.closedAt!).toBeLessThanOrEqual(to);
  }
  expect(gateway.statuses).toEqual(nginx.statuses);
}

const later = (socket: net.Socket, ms: number, bytes: string) => setTimeout(() => !socket.destroyed && socket.write(bytes), ms);

describe('client timeouts, against nginx', () => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await startPair(
      {
        http: { client_header_timeout: '1s', send_timeout: '1s', lingering_timeout: '1s', lingering_time: '3s', keepalive_timeout: '30s' },
        servers: [{ directives: { root: 'www' }, locations: [loc('/'), loc('= /echo', { return: '200 "echo\\n"' })] }],
      },
      { 'www/index.html': 'index\n', 'www/big.bin': Buffer.alloc(32 * 1024 * 1024, 98) },
    );
  });
  afterAll(() => pair?.stop());

  // The longest first: at most five run at once (jest's maxConcurrency).
  test.concurrent('a body nobody reads that drags on is read at most lingering_time (3 s)', async () => {
    const seen = await both(pair, (s) => {
      s.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n');
      for (let i = 1; i < 40; i++) later(s, i * 200, 'x');
    }, 6000);
    // nginx counts lingering_time on its whole-second clock (ngx_time()): it closes 2 to 3 s in.
    expectBothClosed(seen, 1950, 3700);
    expect(seen.gateway.closedAt!).toBeGreaterThanOrEqual(2950);
  });

  test.concurrent('client_header_timeout: a connection that sends nothing is closed at 1 s, unanswered', async () => {
    expectBothClosed(await both(pair, () => {}, 4000), 950, 1500);
  });

  test.concurrent('client_header_timeout: a partial request line is closed at 1 s, unanswered', async () => {
    expectBothClosed(await both(pair, (s) => s.write('GET /index.ht'), 4000), 950, 1500);
  });

  test.concurrent('client_header_timeout: a head dribbled every 100 ms is closed at 1 s from the accept', async () => {
    const head = 'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
    const seen = await both(pair, (s) => head.split('').forEach((c, i) => later(s, i * 100, c)), 4000);
    expectBothClosed(seen, 950, 1500);
  });

  test.concurrent('client_header_timeout: the next head on a kept-alive connection gets 1 s from its first byte', async () => {
    const seen = await both(pair, (s) => {
      s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      later(s, 600, 'GET / HTTP/1.1\r\n');
    }, 4000);
    expectBothClosed(seen, 1550, 2200);
    expect(seen.gateway.statuses).toEqual(['200']);
  });

  test.concurrent('send_timeout: a client that reads nothing of a 32 MiB file is closed about 1 s after its buffers fill', async () => {
    const seen = await both(pair, (s) => s.write('GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n'), 4000, false);
    expectBothClosed(seen, 950, 1800);
  });

  test.concurrent('a body nobody reads: answered at once, closed lingering_timeout (1 s) after the client stops sending', async () => {
    const seen = await both(pair, (s) => s.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789'), 4000);
    expectBothClosed(seen, 950, 1500);
    expect(seen.gateway.statuses).toEqual(['200']);
  });

  test.concurrent('a body nobody reads that comes whole in time keeps the connection for the next request', async () => {
    const seen = await both(pair, (s) => {
      s.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n0123456789');
      later(s, 500, '0123456789GET /echo HTTP/1.1\r\nHost: x\r\n\r\n');
    }, 2000);
    expect(seen.nginx.closedAt).toBeNull();
    expect(seen.gateway.closedAt).toBeNull();
    expect(seen.gateway.statuses).toEqual(['200', '200']);
    expect(seen.gateway.statuses).toEqual(seen.nginx.statuses);
  });
});
