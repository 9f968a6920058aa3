/**
 * Upstream `server ... max_conns=N` in a gateway process (one worker, as nginx counts per
 * worker without a `zone`): backends that hold every request until the test lets them go, so
 * N requests keep a peer full; the next is skipped to another peer, or, all full, answered 502
 * with nginx's "no live upstreams" line. `random two least_conn` spreads held requests over the
 * peers the same way. No descriptor is left behind.
 */
import http from 'node:http';
import { readdirSync } from 'node:fs';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { closeServer, listen, portOf, rawUpgrade, request, until, type Reply } from './helpers/proxy-peers';

/** A backend that answers its name only when released. */
function holding(name: string) {
  const held: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    held.push(res);
  });
  const release = () => {
    for (const res of held.splice(0)) res.writeHead(200, { 'Content-Type': 'text/plain' }).end(name);
  };
  return { server, held, release };
}

describe('max_conns', () => {
  const a = holding('a');
  const b = holding('b');
  let gateway: GatewayProcess;
  let port: number;
  const fds = () => readdirSync(`/proc/${gateway.child.pid}/fd`).length;

  beforeAll(async () => {
    await listen(a.server);
    await listen(b.server);
    const peer = (s: http.Server) => `127.0.0.1:${portOf(s)}`;
    gateway = await startGateway(
      `master_process: "off"\nerror_log: stderr info\npid: "off"\nhttp:\n  access_log: "off"\n` +
        `  upstreams:\n` +
        `    one:\n      servers: ["${peer(a.server)} max_conns=2"]\n` +
        `    two:\n      servers: ["${peer(a.server)} max_conns=1", "${peer(b.server)} max_conns=1"]\n      random: two least_conn\n` +
        `  servers:\n    - listen: 127.0.0.1:0\n      locations:\n` +
        `        - location: /one/\n          proxy_pass: http://one\n          proxy_http_version: "1.1"\n          proxy_set_header: ["Upgrade $http_upgrade", "Connection $connection_upgrade"]\n` +
        `        - location: /two/\n          proxy_pass: http://two\n`,
    );
    port = gateway.ports[0];
  });

  afterAll(async () => {
    a.release();
    b.release();
    await gateway?.stop();
    for (const s of [a.server, b.server]) {
      s.closeAllConnections();
      await closeServer(s);
    }
  });

  test('a single peer: N requests held, the next is 502 "no live upstreams"; a released one frees its place', async () => {
    const before = fds();
    const held = [request(port, '/one/1'), request(port, '/one/2')];
    expect(await until(() => a.held.length === 2)).toBe(true);
    const third = await request(port, '/one/3');
    expect(third.status).toBe(502);
    expect(await until(() => /\[error\] .*no live upstreams while connecting to upstream, client: 127\.0\.0\.1, server: , request: "GET \/one\/3 HTTP\/1\.1", upstream: "http:\/\/one\/one\/3", host: "127\.0\.0\.1:\d+"/.test(gateway.stderr()))).toBe(true);
    expect(a.held).toHaveLength(2);
    // A WebSocket upgrade finds the peer full too: nginx's 502 and line.
    expect(await rawUpgrade(port, '/one/ws')).toMatch(/^HTTP\/1\.1 502 Bad Gateway\r\n/);
    expect(await until(() => /no live upstreams while connecting to upstream, client: 127\.0\.0\.1, server: , request: "GET \/one\/ws HTTP\/1\.1", upstream: "http:\/\/one\/one\/ws"/.test(gateway.stderr()))).toBe(true);
    a.release();
    expect((await Promise.all(held)).map((r: Reply) => [r.status, r.body])).toEqual([
      [200, 'a'],
      [200, 'a'],
    ]);
    const fourth = request(port, '/one/4');
    expect(await until(() => a.held.length === 1)).toBe(true);
    a.release();
    expect((await fourth).status).toBe(200);
    expect(await until(() => fds() <= before, 150)).toBe(true);
  });

  test('random two least_conn over two peers of max_conns=1: one request each, the third 502', async () => {
    const held = [request(port, '/two/1'), request(port, '/two/2')];
    expect(await until(() => a.held.length === 1 && b.held.length === 1)).toBe(true);
    expect((await request(port, '/two/3')).status).toBe(502);
    a.release();
    b.release();
    expect((await Promise.all(held)).map((r) => r.body).sort()).toEqual(['a', 'b']);
  });
});
