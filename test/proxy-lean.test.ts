/**
 * The lean upstream path (undici, lean-pool.ts) driven by the exchange in this process: which
 * requests take it, the bytes it puts on the wire (the same as Node's path, byte for byte),
 * nginx's keep-alive limits on its pool, and its failures (nginx's statuses and error lines).
 * The backend is a raw TCP server that records every connection and request head it reads.
 */
import http from 'node:http';
import net from 'node:net';
import type { HttpError } from '../src/errors';
import { HttpExchange, upstreamPaths, type ExchangeTarget } from '../src/modules/proxy/exchange';
import type { HeaderLine } from '../src/modules/proxy/headers';
import { LeanPool } from '../src/modules/proxy/lean-pool';
import type { KeepaliveLimits } from '../src/modules/proxy/upstream-agent';
import { storedInMemory, type StoredBody } from '../src/shared/request-body-store';
import { keptLogger } from './helpers/proxy-conf';
import { closeServer, listen, portOf, request, responseOutcome, until } from './helpers/proxy-peers';

/** A backend that answers each request head by its path, and records connections and heads. */
interface RawBackend {
  readonly port: number;
  readonly heads: string[];
  /** Connections accepted, and how many of them closed. */
  readonly counts: { accepted: number; closed: number };
  close(): Promise<void>;
}

const ANSWERS: Record<string, (socket: net.Socket) => void> = {
  '/ok': (s) => s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Twice: a\r\nx-twice: b\r\nContent-Length: 3\r\n\r\nok\n'),
  '/close': (s) => s.end('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nok\n'),
  '/garbage': (s) => s.end('SSH-2.0-OpenSSH\r\n\r\n'),
  '/early-close': (s) => s.end(),
  '/reset-mid-body': (s) => {
    s.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nstart');
    setTimeout(() => s.resetAndDestroy(), 30);
  },
  '/short-body': (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort'),
  '/hang': () => {},
  '/slow-body': (s) => {
    s.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nfir');
    setTimeout(() => s.writable && s.write('st!'), 20);
  },
  '/continue': (s) => s.end('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n'),
  '/unasked-101': (s) => s.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n'),
};

async function rawBackend(): Promise<RawBackend> {
  const heads: string[] = [];
  const counts = { accepted: 0, closed: 0 };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    counts.accepted++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => {
      counts.closed++;
      sockets.delete(socket);
    });
    let pending = '';
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1');
      for (let end; (end = pending.indexOf('\r\n\r\n')) >= 0; ) {
        const head = pending.slice(0, end + 4);
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (pending.length < end + 4 + length) return;
        heads.push(head + pending.slice(end + 4, end + 4 + length));
        pending = pending.slice(end + 4 + length);
        const [method, path] = head.split(' ');
        if (method === 'HEAD') socket.write('HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n');
        else (ANSWERS[path] ?? ANSWERS['/ok'])(socket);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    heads,
    counts,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** An agent that must not be used: a request that reached it did not take the lean path. */
class UnusedAgent extends http.Agent {
  used = 0;
  override createConnection(...args: Parameters<http.Agent['createConnection']>): ReturnType<http.Agent['createConnection']> {
    this.used++;
    return super.createConnection(...args);
  }
}

const LIMITS: KeepaliveLimits = { idle: 8, requests: 1000, timeout: 60_000, time: 3_600_000 };

/** A front server whose every request is one exchange to `target`, with `headers` sent up. */
async function front(target: () => ExchangeTarget, headers: readonly HeaderLine[], extra: { read?: number; httpVersion?: '1.0' | '1.1'; body?: () => StoredBody } = {}) {
  const log = keptLogger();
  const server = await listen(
    http.createServer((req, res) => {
      const exchange = new HttpExchange({
        req,
        res,
        path: req.url ?? '/',
        headers,
        timeouts: { connect: 1000, send: 1000, read: extra.read ?? 1000 },
        connectEvent: 'connect',
        log,
        context: ', client: test',
        httpVersion: extra.httpVersion ?? '1.1',
        body: extra.body?.() ?? null,
      });
      exchange.start(target(), req.method ?? 'GET');
      exchange.promise.catch((err: HttpError) => res.writeHead(err.status, { 'X-Error-Code': err.code }).end());
    }),
  );
  return { server, port: portOf(server), log };
}

const KEEP: HeaderLine[] = [
  ['Host', 'upstream'],
  ['X-Repeat', 'one'],
  ['Accept', '*/*'],
  ['x-repeat', 'two'],
];
const CLOSE: HeaderLine[] = [['Host', 'upstream'], ['Connection', 'close'], ['X-Case', 'Kept']];

describe('the lean upstream path', () => {
  let backend: RawBackend;
  beforeEach(async () => {
    backend = await rawBackend();
  });
  afterEach(() => backend.close());

  test('a plain GET takes it and reuses one connection under keepalive; Node agent untouched', async () => {
    const agent = new UnusedAgent({ keepAlive: true });
    const pool = new LeanPool({ host: '127.0.0.1', port: backend.port }, LIMITS);
    const { server, port } = await front(() => ({ url: { protocol: 'http:', host: '127.0.0.1', port: backend.port }, agent, lean: pool }), KEEP);
    const before = { ...upstreamPaths };
    for (let i = 0; i < 3; i++) {
      const reply = await request(port, '/ok');
      expect(reply.status).toBe(200);
      expect(reply.body).toBe('ok\n');
    }
    expect(upstreamPaths.lean - before.lean).toBe(3);
    expect(upstreamPaths.node - before.node).toBe(0);
    expect(agent.used).toBe(0);
    expect(backend.counts.accepted).toBe(1);
    expect(pool.idleCount).toBe(1);
    pool.close();
    await closeServer(server);
  });

  test('the head on the wire is byte for byte what Node path sends (case, order, repeats grouped, no Connection of its own)', async () => {
    const agent = new http.Agent({ keepAlive: true });
    const pool = new LeanPool({ host: '127.0.0.1', port: backend.port }, LIMITS);
    for (const headers of [KEEP, CLOSE]) {
      const lean = await front(() => ({ url: { protocol: 'http:', host: '127.0.0.1', port: backend.port }, agent, lean: pool }), headers);
      const node = await front(() => ({ url: { protocol: 'http:', host: '127.0.0.1', port: backend.port }, agent, lean: null }), headers);
      await request(lean.port, '/ok?a=1');
      await request(node.port, '/ok?a=1');
      const [viaLean, viaNode] = backend.heads.splice(0);
      expect(viaLean).toBe(viaNode);
      await closeServer(lean.server);
      await closeServer(node.server);
    }
    expect(backend.heads).toEqual([]);
    pool.close();
    agent.destroy();
  });

  test('a body read whole into memory goes with the head on the lean path, the same bytes as on Node path', async () => {
    const agent = new http.Agent({ keepAlive: true });
    const pool = new LeanPool({ host: '127.0.0.1', port: backend.port }, LIMITS);
    const headers: HeaderLine[] = [...KEEP, ['Content-Length', '11']];
    const body = () => storedInMemory(Buffer.from('hello world'));
    const lean = await front(() => ({ url: { protocol: 'http:', host: '127.0.0.1', port: backend.port }, agent, lean: pool }), headers, { body });
    const node = await front(() => ({ url: { protocol: 'http:', host: '127.0.0.1', port: backend.port }, agent, lean: null }), headers, { body });
    const before = { ...upstreamPaths };
    expect((await request(lean.port, '/ok', { method: 'POST' })).status).toBe(200);
    expect(upstreamPaths.lean - before.lean).toBe(1);
    expect((await request(node.port, '/ok', { method: 'POST' })).status).toBe(200);
    const [viaLean, viaNode] = backend.heads.splice(0);
    expect(viaLean).toBe(viaNode);
    expect(viaLean.endsWith('\r\n\r\nhello world')).toBe(true);
    await closeServer(lean.server);
    await closeServer(node.server);
    pool.close();
    agent.destroy();
  });

  test('what stays on Node path: HEAD, proxy_http_version 1.0, a body, an Upgrade or Expect line', async () => {
    const agent = new UnusedAgent({ keepAlive: true });
    const pool = new LeanPool({ host: '127.0.0.1', port: backend.port }, LIMITS);
    const target = () => ({ url: { protocol: 'http:', host: '127.0.0.1', port: backend.port }, agent, lean: pool });
    const plain = await front(target, KEEP);
    const http10 = await front(target, KEEP, { httpVersion: '1.0' });
    const upgrade = await front(target, [...KEEP, ['Upgrade', 'h2c']]);
    const expecting = await front(target, [...KEEP, ['Expect', '100-continue']]);
    const before = { ...upstreamPaths };
    expect((await request(plain.port, '/ok', { method: 'HEAD' })).status).toBe(200);
    expect((await request(plain.port, '/ok', { method: 'POST', headers: { 'Content-Length': '2' } }, ['hi'])).status).toBe(200);
    expect((await request(http10.port, '/ok')).status).toBe(200);
    expect((await request(upgrade.port, '/ok')).status).toBe(200);
    expect((await request(expecting.port, '/ok')).status).toBe(200);
    expect(upstreamPaths.node - before.node).toBe(5);
    expect(upstreamPaths.lean - before.lean).toBe(0);
    expect(backend.heads.some((head) => head.startsWith('GET /ok HTTP/1.0\r\n'))).toBe(true);
    for (const f of [plain, http10, upgrade, expecting]) await closeServer(f.server);
    pool.close();
    agent.destroy();
  });

  test('Connection: close (nginx default) and a response that says close: the connection is not kept', async () => {
    const pool = new LeanPool({ host: '127.0.0.1', port: backend.port }, LIMITS);
    const agent = new UnusedAgent({ keepAlive: true });
    const target = () => ({ url: { protocol: 'http:', host: '127.0.0.1', port: backend.port }, agent, lean: pool });
    const closing = await front(target, CLOSE);
    const keeping = await front(target, KEEP);
    await request(closing.port, '/ok');
    await request(closing.port, '/ok');
    await request(keeping.port, '/close');
    await until(() => backend.counts.closed === 3);
    expect(backend.counts.accepted).toBe(3);
    expect(pool.idleCount).toBe(0);
    expect(agent.used).toBe(0);
    await closeServer(closing.server);
    await closeServer(keeping.server);
  });

  test.each([
    ['keepalive 1: of two connections used at once, one is kept idle', { idle: 1 }, 'parallel', 2, 1],
    ['keepalive_requests 2: three requests take two connections', { requests: 2 }, 'serial', 2, 1],
    ['keepalive_timeout 100ms: an idle connection is closed', { timeout: 100 }, 'wait', 1, 1],
    ['keepalive_time 50ms: a connection older is closed when its request ends', { time: 50 }, 'aged', 2, 1],
  ] as const)('%s', async (_name, limits, shape, accepted, closed) => {
    const pool = new LeanPool({ host: '127.0.0.1', port: backend.port }, { ...LIMITS, ...limits });
    const { server, port } = await front(() => ({ url: { protocol: 'http:', host: '127.0.0.1', port: backend.port }, agent: new UnusedAgent(), lean: pool }), KEEP);
    if (shape === 'parallel') await Promise.all([request(port, '/slow-body'), request(port, '/slow-body')]);
    if (shape === 'serial') for (let i = 0; i < 3; i++) await request(port, '/ok');
    if (shape === 'wait') {
      await request(port, '/ok');
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
    if (shape === 'aged') {
      await request(port, '/ok');
      await new Promise((resolve) => setTimeout(resolve, 80));
      await request(port, '/ok');
      await request(port, '/ok');
    }
    await until(() => backend.counts.closed >= closed);
    expect(backend.counts.accepted).toBe(accepted);
    expect(backend.counts.closed).toBe(closed);
    pool.close();
    await closeServer(server);
  });

  test.each([
    ['/garbage', 502, 'error: upstream sent no valid HTTP/1.0 header while reading response header from upstream, client: test'],
    ['/early-close', 502, 'error: upstream prematurely closed connection while reading response header from upstream, client: test'],
    ['/hang', 504, 'error: upstream timed out (110: Connection timed out) while reading response header from upstream, client: test'],
    // nginx 1.22 passes the 100 on as the final status; Node's path skips it; undici refuses it.
    ['/continue', 502, 'error: upstream sent invalid header while reading response header from upstream, client: test'],
    ['/unasked-101', 502, 'error: upstream sent "101 Switching Protocols" to a request that asked for no upgrade while reading response header from upstream, client: test'],
  ])('a backend answering %s: %d and nginx line, the connection dropped', async (path, status, line) => {
    const pool = new LeanPool({ host: '127.0.0.1', port: backend.port }, LIMITS);
    const { server, port, log } = await front(() => ({ url: { protocol: 'http:', host: '127.0.0.1', port: backend.port }, agent: new UnusedAgent(), lean: pool }), KEEP, { read: 200 });
    expect((await request(port, path)).status).toBe(status);
    expect(log.lines).toEqual([line]);
    await until(() => backend.counts.closed === 1);
    expect(pool.idleCount).toBe(0);
    await closeServer(server);
  });

  test('a backend that is down: 502, connect() failed', async () => {
    const closedPort = backend.port;
    await backend.close();
    const pool = new LeanPool({ host: '127.0.0.1', port: closedPort }, LIMITS);
    const { server, port, log } = await front(() => ({ url: { protocol: 'http:', host: '127.0.0.1', port: closedPort }, agent: new UnusedAgent(), lean: pool }), KEEP);
    expect((await request(port, '/ok')).status).toBe(502);
    expect(log.lines).toEqual(['error: connect() failed (111: Connection refused) while connecting to upstream, client: test']);
    backend = await rawBackend();
    await closeServer(server);
  });

  test.each([
    ['/reset-mid-body', 'error: recv() failed (104: Connection reset by peer) while reading upstream, client: test'],
    ['/short-body', 'error: upstream prematurely closed connection while reading upstream, client: test'],
  ])('a backend breaking off its body (%s): the client is cut, nginx line', async (path, line) => {
    const pool = new LeanPool({ host: '127.0.0.1', port: backend.port }, LIMITS);
    const { server, port, log } = await front(() => ({ url: { protocol: 'http:', host: '127.0.0.1', port: backend.port }, agent: new UnusedAgent(), lean: pool }), KEEP);
    expect(await responseOutcome(port, path)).toBe('cut');
    expect(log.lines).toEqual([line]);
    expect(pool.idleCount).toBe(0);
    await closeServer(server);
  });

  test('a pool let go (reload) while a request is in flight: that connection is closed when it ends, not kept', async () => {
    const pool = new LeanPool({ host: '127.0.0.1', port: backend.port }, LIMITS);
    const { server, port } = await front(() => ({ url: { protocol: 'http:', host: '127.0.0.1', port: backend.port }, agent: new UnusedAgent(), lean: pool }), KEEP);
    const reply = request(port, '/slow-body');
    await until(() => backend.heads.length === 1);
    pool.close();
    expect((await reply).body).toBe('first!');
    await until(() => backend.counts.closed === 1);
    expect(pool.idleCount).toBe(0);
    await closeServer(server);
  });

  test('a client that leaves mid-response takes the upstream connection down', async () => {
    const pool = new LeanPool({ host: '127.0.0.1', port: backend.port }, LIMITS);
    const { server, port, log } = await front(() => ({ url: { protocol: 'http:', host: '127.0.0.1', port: backend.port }, agent: new UnusedAgent(), lean: pool }), KEEP);
    await new Promise<void>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/reset-mid-body', agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
    });
    await until(() => backend.counts.closed === 1);
    expect(log.lines[0]).toMatch(/^info: client prematurely closed connection, so upstream connection is closed too while reading upstream/);
    expect(pool.idleCount).toBe(0);
    expect(pool.busy).toBe(false);
    await closeServer(server);
  });
});
