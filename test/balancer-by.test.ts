/**
 * `balancer_by` (OpenResty's balancer_by_lua with ngx.balancer) with the gateway as a process
 * and two workers: the script's peer, the upstream's own choice when it sets none, retries with
 * `setMoreTries` and `getLastFailure` after a backend refuses or answers a status passed on,
 * `setTimeouts`, async scripts, a script that throws or never settles (500 and one error line),
 * an upstream without servers whose script sets no peer (500), keep-alive pools per peer, and
 * the workers' descriptors back to their count after the faults. Bad input at `gateway -t`.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import net from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { makePrefix, runCli, startGateway, type GatewayProcess } from './helpers/gateway-process';
import { closeServer, listen, portOf, request, until } from './helpers/proxy-peers';
import { fdTotal, workerPids } from './helpers/push-clients';

/** A backend that names itself: `NAME URI`; on A, `/503`, `/404` and `/slow` (never answers) misbehave. */
function backend(name: string) {
  const remotePorts: number[] = [];
  const server = http.createServer((req, res) => {
    remotePorts.push(req.socket.remotePort!);
    const path = name === 'A' ? (req.url ?? '').split('?')[0] : '';
    if (path === '/slow') return;
    const status = path === '/503' ? 503 : path === '/404' ? 404 : 200;
    res.writeHead(status, { 'Content-Type': 'text/plain' }).end(`${name} ${req.url}`);
  });
  // WebSocket: echoes each message with the backend's name.
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (req, socket, head) =>
    wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data) => ws.send(`${name}:${String(data)}`))),
  );
  return { server, remotePorts };
}

const SCRIPTS = {
  // Sends `?to=b` (or `X-To: b`) to the port in its options; otherwise sets no peer (the upstream's server).
  'handlers/pick.js': `module.exports = {
  configure(o, cx) {
    if (typeof o.port !== 'number') cx.error('"port" must be a number');
    return { port: o.port };
  },
  run(b, o) {
    if (b.variable('arg_to') === 'b' || b.headers['x-to'] === 'b' || b.cookie('to') === 'b') b.setCurrentPeer('127.0.0.1', o.port);
  },
};`,
  // Try 1: a refused port; try 2: the peer answering 503 or 404; try 3: the good one. Logs what it saw.
  'handlers/retry.js': `module.exports = {
  configure: (o) => o,
  run(b, o) {
    b.log.warn('retry try=' + b.try + ' last=' + JSON.stringify(b.getLastFailure()) + ' ctx=' + (b.ctx.seen = (b.ctx.seen || 0) + 1));
    if (b.try === 1) {
      const warning = b.setMoreTries(Number(b.variable('arg_more') || 2));
      if (warning) b.log.warn('retry warning=' + warning);
      return b.setCurrentPeer('127.0.0.1', o.down);
    }
    if (b.try === 2) return b.setCurrentPeer('127.0.0.1', o.bad);
    b.setCurrentPeer('127.0.0.1', o.good);
  },
};`,
  'handlers/slow.js': `module.exports = {
  configure: (o) => o,
  async run(b, o) {
    await new Promise((r) => setTimeout(r, 5));
    if (b.variable('arg_t')) b.setTimeouts(null, null, Number(b.variable('arg_t')));
    b.setCurrentPeer('127.0.0.1', o.port);
  },
};`,
  'handlers/thrower.js': `module.exports = function run(b) {
  if (b.variable('arg_how') === 'hang') return new Promise(() => {});
  if (b.variable('arg_how') === 'reject') return Promise.reject(new Error('async boom'));
  throw new Error('boom');
};`,
  'handlers/nopeer.js': 'module.exports = { run() {} };',
};

describe('balancer_by with two workers', () => {
  const a = backend('A');
  const b = backend('B');
  let down: number;
  let gateway: GatewayProcess;
  let port: number;

  beforeAll(async () => {
    await listen(a.server);
    await listen(b.server);
    const closed = await listen(net.createServer());
    down = portOf(closed);
    await closeServer(closed);
    const A = portOf(a.server);
    const B = portOf(b.server);
    gateway = await startGateway(
      `worker_processes: 2
error_log: stderr info
pid: off
http:
  access_log: "off"
  upstreams:
    pick:
      balancer_by: { script: pick, options: { port: ${B} } }
      servers: ["127.0.0.1:${A}"]
      keepalive: 4
    retry:
      balancer_by: { script: retry, options: { down: ${down}, bad: ${A}, good: ${B} } }
      servers: ["127.0.0.1:${down}"]
    slow:
      balancer_by: { script: handlers/slow.js, options: { port: ${A} } }
      servers: ["127.0.0.1:${A}"]
    thrower:
      balancer_by: thrower
      servers: ["127.0.0.1:${A}"]
    empty:
      balancer_by: nopeer
  servers:
    - listen: 127.0.0.1:0
      locations:
        - location: /pick/
          proxy_pass: http://pick
          proxy_http_version: "1.1"
          proxy_set_header: { Connection: '""' }
        - location: /retry503/
          proxy_pass: http://retry/503
          proxy_next_upstream: error timeout http_503
        - location: /retry404/
          proxy_pass: http://retry/404
          proxy_next_upstream: error http_404
        - location: /limited/
          proxy_pass: http://retry/503
          proxy_next_upstream: error http_503
          proxy_next_upstream_tries: 2
        - location: /slow/
          proxy_pass: http://slow/slow
          proxy_read_timeout: 20s
          proxy_next_upstream: "off"
        - location: /async/
          proxy_pass: http://slow
        - location: /throw/
          proxy_pass: http://thrower
          proxy_connect_timeout: 300ms
        - location: /empty/
          proxy_pass: http://empty
        - location: /ws/
          proxy_pass: http://pick
          proxy_http_version: "1.1"
          proxy_set_header: ["Upgrade $http_upgrade", "Connection $connection_upgrade"]
        - location: /wsthrow/
          proxy_pass: http://thrower
          proxy_http_version: "1.1"
          proxy_set_header: ["Upgrade $http_upgrade", "Connection $connection_upgrade"]
`,
      { files: SCRIPTS },
    );
    port = gateway.ports[0];
  });

  afterAll(async () => {
    await gateway?.stop();
    await closeServer(a.server);
    await closeServer(b.server);
  });

  const logged = (text: string | RegExp) => until(() => (typeof text === 'string' ? gateway.stderr().includes(text) : text.test(gateway.stderr())));

  test("the script's peer, by argument, header or cookie; none set: the upstream's server", async () => {
    expect((await request(port, '/pick/x?to=b')).body).toBe('B /pick/x?to=b');
    expect((await request(port, '/pick/y', { headers: { 'X-To': 'b' } })).body).toBe('B /pick/y');
    expect((await request(port, '/pick/z', { headers: { Cookie: 'a=1; to=b' } })).body).toBe('B /pick/z');
    expect((await request(port, '/pick/w')).body).toBe('A /pick/w');
  });

  test('a peer the script sets keeps its keep-alive pool (one client connection: one worker)', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = (path: string) =>
      new Promise<string>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve(body));
        }).on('error', reject);
      });
    const before = b.remotePorts.length;
    for (let i = 0; i < 3; i++) expect(await get(`/pick/k${i}?to=b`)).toBe(`B /pick/k${i}?to=b`);
    agent.destroy();
    const ports = b.remotePorts.slice(before);
    expect(ports).toHaveLength(3);
    // The second and third requests came over a pooled upstream connection.
    expect(ports[2]).toBe(ports[1]);
  });

  test('retries: setMoreTries past the upstream servers, getLastFailure after a refusal and a 503 (state failed)', async () => {
    const r = await request(port, '/retry503/?id=1');
    expect([r.status, r.body]).toEqual([200, 'B /503?id=1']);
    expect(await logged(/retry try=3 last=\{"state":"failed","status":503\} ctx=3/)).toBe(true);
    const lines = gateway.stderr().split('\n').filter((l) => l.includes('retry try='));
    expect(lines.slice(-3).map((l) => /retry (try=.*?ctx=\d)/.exec(l)?.[1])).toEqual([
      'try=1 last=null ctx=1',
      'try=2 last={"state":"failed","status":502} ctx=2',
      'try=3 last={"state":"failed","status":503} ctx=3',
    ]);
    expect(gateway.stderr()).toMatch(/connect\(\) failed \(111: Connection refused\) while connecting to upstream/);
  });

  test('a 404 passed on is state "next"', async () => {
    const r = await request(port, '/retry404/');
    expect([r.status, r.body]).toEqual([200, 'B /404']);
    expect(await logged('retry try=3 last={"state":"next","status":404}')).toBe(true);
  });

  test('setMoreTries within proxy_next_upstream_tries: "reduced tries due to limit", the last status given up on', async () => {
    const r = await request(port, '/limited/?more=5');
    // Two tries: the refusal, then the 503, which is the last try's answer and goes to the client (as nginx's).
    expect([r.status, r.body]).toEqual([503, 'A /503?more=5']);
    expect(await logged('retry warning=reduced tries due to limit')).toBe(true);
  });

  test('setTimeouts: the read timeout the script set (ms), 504', async () => {
    const started = Date.now();
    const r = await request(port, '/slow/?t=300');
    expect(r.status).toBe(504);
    // proxy_read_timeout is 20s: only the script's 300 ms can have ended it.
    expect(Date.now() - started).toBeLessThan(5000);
    expect(await logged('upstream timed out (110: Connection timed out) while reading response header from upstream')).toBe(true);
  });

  test('a WebSocket upgrade goes to the peer the script sets; a script that throws refuses it with 500', async () => {
    for (const [query, name] of [['?to=b', 'B'], ['', 'A']]) {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws/${query}`);
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      const answer = new Promise<string>((resolve) => ws.once('message', (d) => resolve(String(d))));
      ws.send('hi');
      expect(await answer).toBe(`${name}:hi`);
      ws.close();
    }
    const refused = new WebSocket(`ws://127.0.0.1:${port}/wsthrow/`);
    const status = await new Promise<number>((resolve) => refused.once('unexpected-response', (_req, res) => resolve(res.statusCode!)).once('error', () => resolve(0)));
    expect(status).toBe(500);
  });

  test('an async script', async () => {
    expect((await request(port, '/async/hi')).body).toBe('A /async/hi');
  });

  test('a script that throws: 500 and one error line with its name and first frame', async () => {
    const r = await request(port, '/throw/');
    expect(r.status).toBe(500);
    expect(await logged(/\[error\] .*balancer_by script "thrower" failed: Error: boom at .*handlers\/thrower\.js:4:\d+\)? while connecting to upstream, client: 127\.0\.0\.1, upstream: "thrower"/)).toBe(true);
  });

  test('a script that rejects: 500; one that never settles: 500 after proxy_connect_timeout', async () => {
    expect((await request(port, '/throw/?how=reject')).status).toBe(500);
    expect(await logged('balancer_by script "thrower" failed: Error: async boom')).toBe(true);
    expect((await request(port, '/throw/?how=hang')).status).toBe(500);
    expect(await logged('balancer_by script "thrower" did not settle within 300ms')).toBe(true);
  });

  test('an upstream without servers whose script sets no peer: 500', async () => {
    expect((await request(port, '/empty/')).status).toBe(500);
    expect(await logged('balancer_by script "nopeer" set no peer while connecting to upstream')).toBe(true);
  });

  test("faults leave the workers' descriptors as they were, and both still serve", async () => {
    const pids = workerPids(gateway.child.pid!);
    expect(pids).toHaveLength(2);
    const round = () =>
      Promise.all([
        request(port, '/throw/'),
        request(port, '/throw/?how=hang'),
        request(port, '/retry503/'),
        request(port, '/slow/?t=100'),
        request(port, '/empty/'),
        request(port, '/pick/x?to=b'),
      ]);
    // Both workers' keep-alive pools to /pick/'s peer filled before the baseline: a worker that
    // first takes a /pick/ request in a measured round keeps that connection open, as it should.
    for (let i = 0; i < 4; i++) await round();
    await until(() => false, 10);
    const before = fdTotal(pids);
    for (let i = 0; i < 3; i++) await round();
    expect(await until(() => fdTotal(pids) <= before, 150)).toBe(true);
    expect(gateway.child.exitCode).toBeNull();
    expect(workerPids(gateway.child.pid!)).toEqual(pids);
  });
});

describe('balancer_by: bad input at gateway -t', () => {
  async function check(yaml: string, files: Record<string, string> = {}): Promise<string> {
    const prefix = makePrefix({ 'conf/t.yaml': yaml, ...files });
    const r = await runCli(['-t', '-p', prefix, '-c', `${prefix}/conf/t.yaml`]);
    expect(r.code).toBe(1);
    const line = r.stderr.trim().split('\n').filter((l) => l.includes('t.yaml:'));
    expect(line).toHaveLength(1);
    return line[0].replaceAll(prefix, '');
  }
  const upstream = (value: string) => `http:\n  upstreams:\n    u:\n      balancer_by: ${value}\n      servers: ["127.0.0.1:1"]\n  servers:\n    - listen: 127.0.0.1:0\n      locations:\n        - { location: /, proxy_pass: http://u }\n`;

  test('outside an upstream', async () => {
    expect(await check('http:\n  servers:\n    - listen: 127.0.0.1:0\n      locations:\n        - location: /\n          balancer_by: pick\n          proxy_pass: http://127.0.0.1:1\n')).toMatch(
      /"balancer_by" directive is not allowed here in \/conf\/t\.yaml:6:11/,
    );
  });
  test('an unknown script', async () => {
    expect(await check(upstream('nope'))).toMatch(/script "nope" not found .* in \/conf\/t\.yaml:4:20/);
  });
  test('a module without run, one that does not load', async () => {
    expect(await check(upstream('bad'), { 'handlers/bad.js': 'module.exports = { nothing: 1 };' })).toMatch(/script "bad" has no run for "balancer_by" .*t\.yaml:4:20/);
    expect(await check(upstream('broken'), { 'handlers/broken.js': 'module.exports = ;' })).toMatch(/script "broken" does not load: .*t\.yaml:4:20/);
  });
  test('options its configure refuses, at the options', async () => {
    expect(await check(upstream('{ script: pick, options: { port: "x" } }'), { 'handlers/pick.js': SCRIPTS['handlers/pick.js'] })).toMatch(/"port" must be a number in \/conf\/t\.yaml:4:45/);
  });
});

describe('balancer_by: a script that names ever new peers', () => {
  test('keeps at most 256 idle pools per upstream (the least recently used closed)', async () => {
    // Every 127.0.x.y reaches a backend bound to all addresses: each is a peer of its own.
    const server = http.createServer((req, res) => res.end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '0.0.0.0', resolve));
    const backendPort = portOf(server);
    const gateway = await startGateway(
      `master_process: "off"
error_log: stderr notice
pid: off
http:
  access_log: "off"
  upstreams:
    many:
      balancer_by: many
      keepalive: 1
  servers:
    - listen: 127.0.0.1:0
      locations:
        - location: /
          proxy_pass: http://many
          proxy_http_version: "1.1"
          proxy_set_header: { Connection: '""' }
`,
      { files: { 'handlers/many.js': `module.exports = (b) => { const n = Number(b.variable('arg_n')); b.setCurrentPeer('127.0.' + Math.floor(n / 250) + '.' + ((n % 250) + 1), ${backendPort}); };` } },
    );
    try {
      const port = gateway.ports[0];
      const fds = () => readdirSync(`/proc/${gateway.child.pid}/fd`).length;
      expect((await request(port, '/?n=0')).body).toBe('ok');
      const before = fds();
      for (let n = 1; n <= 400; n++) expect((await request(port, `/?n=${n}`)).status).toBe(200);
      // 400 peers, one idle connection each without the bound; at most 256 pools with it.
      expect(await until(() => fds() <= before + 256 + 8, 100)).toBe(true);
      expect(fds()).toBeGreaterThan(before + 200);
    } finally {
      await gateway.stop();
      await closeServer(server);
    }
  });
});

describe('balancer_by across a reload', () => {
  test('a changed script serves new requests after `gateway -s reload`; a broken one is refused and the old one keeps serving', async () => {
    const one = http.createServer((req, res) => res.end('one'));
    const two = http.createServer((req, res) => res.end('two'));
    await listen(one);
    await listen(two);
    const script = (p: number) => `module.exports = (b) => b.setCurrentPeer('127.0.0.1', ${p});`;
    const gateway = await startGateway(
      `worker_processes: 2\nerror_log: stderr notice\npid: logs/gateway.pid\nhttp:\n  access_log: "off"\n  upstreams:\n    u: { balancer_by: s }\n  servers:\n    - listen: 127.0.0.1:0\n      locations:\n        - { location: /, proxy_pass: http://u }\n`,
      { files: { 'handlers/s.js': script(portOf(one)), 'logs/.keep': '' } },
    );
    try {
      const port = gateway.ports[0];
      expect((await request(port, '/')).body).toBe('one');
      writeFileSync(path.join(gateway.prefix, 'handlers/s.js'), script(portOf(two)));
      expect((await runCli(['-p', gateway.prefix, '-c', 'conf/test.yaml', '-s', 'reload'], gateway.prefix)).code).toBe(0);
      expect(await until(() => gateway.stderr().includes('new worker processes ready'), 250)).toBe(true);
      expect(await until(() => false, 10)).toBe(false);
      for (let i = 0; i < 4; i++) expect((await request(port, '/')).body).toBe('two');
      writeFileSync(path.join(gateway.prefix, 'handlers/s.js'), 'module.exports = ;');
      const refused = await runCli(['-p', gateway.prefix, '-c', 'conf/test.yaml', '-s', 'reload'], gateway.prefix);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/script "s" does not load: .* in .*test\.yaml:7:\d+/);
      for (let i = 0; i < 4; i++) expect((await request(port, '/')).body).toBe('two');
    } finally {
      await gateway.stop();
      await closeServer(one);
      await closeServer(two);
    }
  });
});
