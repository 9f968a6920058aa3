/**
 * `proxy_pass http://NAME` over real sockets on 127.0.0.1: backends that say who they are, a
 * closed port, a backend answering 503 and one that never answers; round robin by weight,
 * failed peers skipped for fail_timeout, backup, ip_hash, hash, proxy_next_upstream and its
 * limits. fail_timeout and read timeouts are short config values, not timing assertions.
 */
import http from 'node:http';
import net from 'node:net';
import type { NextUpstreamCondition } from '../src/modules/proxy/module';
import type { BalanceMethod, UpstreamConf } from '../src/modules/proxy/upstreams';
import { KEEPALIVE_DEFAULTS, parseServerLine } from '../src/modules/proxy/upstreams';
import { proxyLocation, startProxyBench, type ProxyBench } from './helpers/proxy-conf';
import { closeServer, listen, portOf, request } from './helpers/proxy-peers';

/** A backend answering `name` (and the method and body it got); `status` changes its status. */
function named(name: string, status = 200) {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hits.push(`${req.method} ${req.url} ${Buffer.concat(chunks)}`);
      res.writeHead(status, { 'Content-Type': 'text/plain' }).end(name);
    });
  });
  return { server, hits };
}

describe('proxy_pass to an upstream', () => {
  const a = named('a');
  const b = named('b');
  const c = named('c');
  const busy = named('busy', 503);
  let silent: net.Server;
  let reset: net.Server;
  let down: number;
  const benches: ProxyBench[] = [];
  const sockets = new Set<net.Socket>();
  const peer = (s: net.Server) => `127.0.0.1:${portOf(s)}`;

  beforeAll(async () => {
    for (const s of [a, b, c, busy]) await listen(s.server);
    silent = await listen(net.createServer((s) => void sockets.add(s.on('error', () => {}))));
    reset = await listen(net.createServer((s) => s.on('error', () => {}).once('data', () => s.destroy())));
    const closed = await listen(net.createServer());
    down = portOf(closed);
    await closeServer(closed);
  });

  afterAll(async () => {
    for (const bench of benches) await bench.close();
    for (const socket of sockets) socket.destroy();
    for (const s of [a.server, b.server, c.server, busy.server, silent, reset]) {
      (s as http.Server).closeAllConnections?.();
      await closeServer(s);
    }
  });

  beforeEach(() => [a, b, c, busy].forEach((s) => s.hits.splice(0)));

  async function bench(
    servers: string[],
    options: {
      method?: BalanceMethod;
      next?: NextUpstreamCondition[];
      tries?: number;
      read?: number;
      timeout?: number;
      bufferSize?: number;
      requestBuffering?: boolean;
      kept?: Partial<Pick<UpstreamConf, 'keepaliveRequests' | 'keepaliveTimeout' | 'keepaliveTime'>>;
    } = {},
  ) {
    const conf: UpstreamConf = {
      name: 'app',
      servers: servers.map(parseServerLine),
      keepalive: 4,
      ...KEEPALIVE_DEFAULTS,
      ...options.kept,
      method: options.method ?? { kind: 'round_robin' },
      balancerBy: null,
      position: { file: 't', line: 1, col: 1 },
    };
    const location = proxyLocation('/', 'http://app', {
      // nginx's keep-alive recipe: HTTP/1.1 without `Connection: close`.
      ...(options.kept ? { proxyHttpVersion: '1.1' as const, proxySetHeaders: [['Connection', '']] as const } : {}),
      upstreams: new Map([['app', conf]]),
      proxyNextUpstream: options.next ?? ['error', 'timeout'],
      proxyNextUpstreamTries: options.tries ?? 0,
      proxyNextUpstreamTimeout: options.timeout ?? 0,
      proxyReadTimeout: options.read ?? 60_000,
      clientBodyBufferSize: options.bufferSize ?? 16 * 1024,
      proxyRequestBuffering: options.requestBuffering ?? true,
    });
    const started = await startProxyBench(location);
    benches.push(started);
    return started;
  }

  const bodies = async (port: number, n: number, path = '/', headers: http.OutgoingHttpHeaders = {}) => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push((await request(port, path, { headers })).body);
    return out;
  };

  describe('the keep-alive pool: keepalive_requests, keepalive_timeout, keepalive_time', () => {
    /** A backend that says which connection (its client port) each request came on. */
    const byConnection = named('kept');
    const ports: number[] = [];
    const closed = new Set<number>();
    beforeAll(async () => {
      byConnection.server.on('request', (req: http.IncomingMessage) => ports.push(req.socket.remotePort!));
      byConnection.server.on('connection', (socket: net.Socket) => {
        const port = socket.remotePort!;
        socket.on('close', () => closed.add(port));
      });
      await listen(byConnection.server);
    });
    afterAll(async () => {
      byConnection.server.closeAllConnections();
      await closeServer(byConnection.server);
    });
    beforeEach(() => {
      ports.splice(0);
      closed.clear();
    });
    /** Requests per connection, in the order the connections came. */
    const perConnection = () => [...new Set(ports)].map((port) => ports.filter((p) => p === port).length);
    const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

    test('keepalive_requests 3: seven requests in a row go up on connections of 3, 3 and 1, each closed after its third', async () => {
      const g = await bench([peer(byConnection.server)], { kept: { keepaliveRequests: 3 } });
      await bodies(g.port, 7);
      expect(perConnection()).toEqual([3, 3, 1]);
      const [first, second] = new Set(ports);
      await pause(100);
      expect([closed.has(first), closed.has(second)]).toEqual([true, true]);
    });

    test('keepalive_timeout 300ms: a connection idle past it is closed, the next request opens another', async () => {
      const g = await bench([peer(byConnection.server)], { kept: { keepaliveTimeout: 300 } });
      await bodies(g.port, 2);
      await pause(900);
      expect(closed.has(ports[0])).toBe(true);
      await bodies(g.port, 1);
      expect(perConnection()).toEqual([2, 1]);
    });

    test('keepalive_time 300ms: a connection in steady use is still closed once older than it', async () => {
      const g = await bench([peer(byConnection.server)], { kept: { keepaliveTime: 300 } });
      for (let i = 0; i < 8; i++) {
        await bodies(g.port, 1);
        await pause(100);
      }
      // Each connection serves what comes within its 300 ms (two to four requests here), never all eight.
      expect(perConnection().length).toBeGreaterThan(1);
      expect(closed.has(ports[0])).toBe(true);
    });
  });

  test('round robin across three backends by weight: a a b a c a a', async () => {
    const g = await bench([`${peer(a.server)} weight=5`, peer(b.server), peer(c.server)]);
    expect(await bodies(g.port, 7)).toEqual(['a', 'a', 'b', 'a', 'c', 'a', 'a']);
  });

  test('a closed port is skipped and marked failed: the request still succeeds, later ones avoid it', async () => {
    const g = await bench([`127.0.0.1:${down} fail_timeout=300ms`, peer(a.server), peer(b.server)]);
    const replies = await bodies(g.port, 6);
    expect(replies.every((r) => r === 'a' || r === 'b')).toBe(true);
    expect(g.log.lines.filter((l) => l.includes('Connection refused'))).toHaveLength(1);
    expect(g.log.lines.some((l) => l.startsWith('warn: upstream server temporarily disabled'))).toBe(true);
  });

  test('max_fails=2: a peer stays in after one failure, then is out for fail_timeout, then back', async () => {
    const g = await bench([`127.0.0.1:${down} max_fails=2 fail_timeout=300ms`, peer(a.server)]);
    await bodies(g.port, 8);
    expect(g.log.lines.filter((l) => l.includes('Connection refused'))).toHaveLength(2);
    await new Promise((r) => setTimeout(r, 350));
    await bodies(g.port, 2);
    expect(g.log.lines.filter((l) => l.includes('Connection refused'))).toHaveLength(3);
  });

  test('backup serves only when the primaries fail', async () => {
    const g = await bench([peer(a.server), `${peer(c.server)} backup`]);
    expect(await bodies(g.port, 3)).toEqual(['a', 'a', 'a']);
    const h = await bench([`127.0.0.1:${down}`, `${peer(c.server)} backup`]);
    expect(await bodies(h.port, 2)).toEqual(['c', 'c']);
  });

  test('ip_hash keeps one client on one peer', async () => {
    const g = await bench([peer(a.server), peer(b.server), peer(c.server)], { method: { kind: 'ip_hash' } });
    expect(new Set(await bodies(g.port, 6)).size).toBe(1);
  });

  test('hash $arg_x consistent: one key, one peer; keys spread', async () => {
    const g = await bench([peer(a.server), peer(b.server), peer(c.server)], { method: { kind: 'hash', key: '$arg_x', consistent: true } });
    expect(new Set(await bodies(g.port, 5, '/?x=alice')).size).toBe(1);
    const spread = new Set<string>();
    for (let i = 0; i < 30; i++) spread.add((await request(g.port, `/?x=user${i}`)).body);
    expect(spread.size).toBe(3);
  });

  test('next upstream on an error (502), a timeout and http_503 reaches the next peer', async () => {
    const e = await bench([peer(reset), peer(a.server)], { tries: 2 });
    expect((await bodies(e.port, 2)).every((r) => r === 'a')).toBe(true);
    const t = await bench([peer(silent), peer(b.server)], { read: 300 });
    expect(await bodies(t.port, 1)).toEqual(['b']);
    expect(t.log.lines.some((l) => l.includes('upstream timed out'))).toBe(true);
    const s = await bench([peer(busy.server), peer(c.server)], { next: ['error', 'timeout', 'http_503'] });
    expect(await bodies(s.port, 4)).toEqual(['c', 'c', 'c', 'c']);
    expect(busy.hits).toHaveLength(1);
  });

  test('without http_503 in proxy_next_upstream the 503 reaches the client; all failing is 502, all timing out 504', async () => {
    const s = await bench([peer(busy.server), `${peer(busy.server).replace('127.0.0.1', 'localhost')}`]);
    expect((await request(s.port, '/')).status).toBe(503);
    const r = await bench([peer(reset), `127.0.0.1:${down}`]);
    expect((await request(r.port, '/')).status).toBe(502);
    const t = await bench([peer(silent), `${peer(silent).replace('127.0.0.1', 'localhost')}`], { read: 200 });
    expect((await request(t.port, '/')).status).toBe(504);
  });

  test('a POST that reached a peer is not retried by default; with non_idempotent it is, body and all', async () => {
    const p = await bench([peer(reset), peer(a.server)]);
    const first = await request(p.port, '/', { method: 'POST', headers: { 'Content-Length': 5 } }, ['hello']);
    expect(first.status).toBe(502);
    const q = await bench([peer(reset), peer(a.server)], { next: ['error', 'non_idempotent'] });
    const second = await request(q.port, '/post', { method: 'POST', headers: { 'Content-Length': 5 } }, ['hello']);
    expect([second.status, second.body]).toEqual([200, 'a']);
    expect(a.hits).toEqual(['POST /post hello']);
  });

  test('a body past client_body_buffer_size is sent again, from its temporary file, to the next peer', async () => {
    const p = await bench([peer(reset), peer(a.server)], { next: ['error', 'non_idempotent'], bufferSize: 1024 });
    const body = 'x'.repeat(100 * 1024);
    const reply = await request(p.port, '/big', { method: 'PUT', headers: { 'Content-Length': body.length } }, [body]);
    expect([reply.status, reply.body]).toEqual([200, 'a']);
    expect(a.hits).toEqual([`PUT /big ${body}`]);
  });

  test('proxy_request_buffering off: a streamed body is not sent again once it reached a peer; a refused connection still goes to the next', async () => {
    const p = await bench([peer(reset), peer(a.server)], { next: ['error', 'non_idempotent'], requestBuffering: false });
    expect((await request(p.port, '/', { method: 'PUT', headers: { 'Content-Length': 5 } }, ['hello'])).status).toBe(502);
    const q = await bench([`127.0.0.1:${down}`, peer(a.server)], { requestBuffering: false });
    const reply = await request(q.port, '/streamed', { method: 'PUT', headers: { 'Content-Length': 5 } }, ['hello']);
    expect([reply.status, reply.body]).toEqual([200, 'a']);
    expect(a.hits).toEqual(['PUT /streamed hello']);
  });

  test('proxy_next_upstream_tries limits the peers tried', async () => {
    const g = await bench([peer(reset), `127.0.0.1:${down}`, peer(a.server)], { tries: 2 });
    const replies: number[] = [];
    for (let i = 0; i < 3; i++) replies.push((await request(g.port, '/')).status);
    expect(replies).toContain(502);
    const h = await bench([`127.0.0.1:${down}`, peer(a.server)], { next: [] });
    expect((await request(h.port, '/')).status).toBe(502);
  });

  test('proxy_next_upstream_timeout stops passing on once it has run out', async () => {
    const silent2 = peer(silent).replace('127.0.0.1', 'localhost');
    const g = await bench([peer(silent), silent2, peer(a.server)], { read: 200, timeout: 100 });
    expect((await request(g.port, '/')).status).toBe(504);
    expect(g.log.lines.filter((l) => l.includes('upstream timed out'))).toHaveLength(1);
  });
});
