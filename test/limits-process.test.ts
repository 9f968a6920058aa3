/**
 * limit_req and limit_conn with the gateway as a process: a rate held across two workers
 * (requests forced onto each worker through keep-alive connections whose worker is known by
 * `$pid`), a reload that keeps the counts, a killed worker whose limit_conn slots are given
 * back, a WebSocket holding its slot until it closes.
 */
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { request } from './helpers/http-client';
import { encodeFrame, Opcode, seedRequest } from './helpers/ws-raw-client';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(probe: () => T | Promise<T>, ok: (v: T) => boolean, what: string, ms = 5000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** One keep-alive connection (an agent with one socket): its requests go to one worker. */
class Connection {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  constructor(private readonly port: number) {}
  get(path: string): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
    return new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: this.port, path, agent: this.agent }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
        })
        .on('error', reject);
    });
  }
  close(): void {
    this.agent.destroy();
  }
}

/**
 * Keep-alive connections until both workers have one: [worker A's, worker B's]. They are opened
 * ten at a time (connections opened one after the other tend to land on the same worker).
 */
async function connectionsOnEachWorker(port: number): Promise<{ conns: Connection[]; pids: number[]; spare: Connection[] }> {
  const byPid = new Map<number, Connection>();
  const spare: Connection[] = [];
  for (let round = 0; round < 20 && byPid.size < 2; round++) {
    const batch = Array.from({ length: 10 }, () => new Connection(port));
    const pids = await Promise.all(batch.map(async (c) => Number((await c.get('/pid')).body)));
    batch.forEach((c, i) => {
      if (byPid.has(pids[i])) spare.push(c);
      else byPid.set(pids[i], c);
    });
  }
  if (byPid.size < 2) throw new Error('the connections all went to one worker');
  return { conns: [...byPid.values()], pids: [...byPid.keys()], spare };
}

/** The gateway answers as soon as one worker listens: the master says when both are ready. */
const bothWorkersReady = (gw: GatewayProcess) => until(() => gw.stderr(), (s) => /master process \d+ started with 2 worker processes/.test(s), 'both workers');

const SITE = (extra: string, workers = 2) => `
worker_processes: ${workers}
error_log: stderr info
pid: off
http:
  access_log: "off"
  default_type: text/plain
  limit_req_zone: ["$binary_remote_addr zone=ten:1m rate=10r/s", "$binary_remote_addr zone=minute:1m rate=1r/m", "$binary_remote_addr zone=slow:1m rate=2r/s", "$binary_remote_addr zone=wsminute:1m rate=1r/m", "$binary_remote_addr zone=httpminute:1m rate=1r/m", "$binary_remote_addr zone=wshalf:1m rate=2r/s"]
  log_format: { brief: "logged $uri $status $limit_req_status" }
  limit_conn_zone: "$binary_remote_addr zone=addr:1m"
  add_header: ["X-Req $limit_req_status always", "X-Conn $limit_conn_status always"]
${extra}
  servers:
    - listen: "127.0.0.1:0"
      root: site
      locations:
        - { location: = /pid, return: "200 $pid" }
        - { location: /ten/, limit_req: zone=ten }
        - { location: /minute/, limit_req: zone=minute }
        - { location: /slow/, limit_req: zone=slow burst=5 }
        - location: /ws
          handler: websocket-script
          script: echo
          limit_conn: addr 1
        - location: /wsslow
          handler: websocket-script
          script: echo
          limit_req: zone=wsminute burst=5
          access_log: stderr brief
        - location: /wshalf
          handler: websocket-script
          script: echo
          limit_req: zone=wshalf burst=5
        - { location: /httpslow/, limit_req: zone=httpminute burst=5, access_log: stderr brief }
`;

const FILES = { 'site/ten/a': 'ten\n', 'site/minute/a': 'minute\n', 'site/slow/a': 'slow\n', 'site/httpslow/a': 'http slow\n' };

describe('two workers share one zone', () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await startGateway(SITE(''), { files: FILES });
    await bothWorkersReady(gw);
  });
  afterAll(() => gw?.stop());

  test('10 r/s held across both workers: requests alternating between them for a second pass about 10 times, not 20 or more', async () => {
    const { conns, pids, spare } = await connectionsOnEachWorker(gw.ports[0]);
    const passed = new Map<number, number>(pids.map((p) => [p, 0]));
    const refused = new Map<number, number>(pids.map((p) => [p, 0]));
    const start = Date.now();
    let i = 0;
    // Every 25 ms for one second, two to worker A then one to worker B (strict turns would put
    // every 100 ms token on the same worker): some 40 requests.
    while (Date.now() - start < 1000) {
      const which = i++ % 3 === 2 ? 1 : 0;
      const res = await conns[which].get('/ten/a');
      const tally = res.status === 200 ? passed : refused;
      tally.set(pids[which], tally.get(pids[which])! + 1);
      expect(res.headers['x-req']).toBe(res.status === 200 ? 'PASSED' : 'REJECTED');
      await sleep(25);
    }
    const total = [...passed.values()].reduce((a, b) => a + b, 0);
    // One shared bucket: ~1 per 100 ms over the second (nginx's own count: 10 or 11). A bucket per worker would pass ~20.
    expect(total).toBeGreaterThanOrEqual(9);
    expect(total).toBeLessThanOrEqual(12);
    // Each worker both passed and refused requests: the limit is not one worker's.
    for (const pid of pids) {
      expect(passed.get(pid)).toBeGreaterThan(0);
      expect(refused.get(pid)).toBeGreaterThan(0);
    }
    [...conns, ...spare].forEach((c) => c.close());
  });

  test('a request passed on one worker counts on the other (1 r/m)', async () => {
    const { conns, spare } = await connectionsOnEachWorker(gw.ports[0]);
    expect((await conns[0].get('/minute/a')).status).toBe(200);
    const other = await conns[1].get('/minute/a');
    expect([other.status, other.headers['x-req']]).toEqual([503, 'REJECTED']);
    [...conns, ...spare].forEach((c) => c.close());
  });
});

describe('reloads and dying workers', () => {
  let gw: GatewayProcess;
  let backend: http.Server;
  let held: http.ServerResponse[] = [];
  beforeAll(async () => {
    backend = http.createServer((req, res) => (req.url?.includes('fast') ? res.end('fast\n') : held.push(res)));
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    const port = (backend.address() as AddressInfo).port;
    gw = await startGateway(SITE('', 2).replace('      locations:\n', `      locations:\n        - { location: /held, limit_conn: addr 1, proxy_pass: "http://127.0.0.1:${port}" }\n`), { files: FILES });
    await bothWorkersReady(gw);
  });
  afterAll(async () => {
    held.forEach((r) => r.destroy());
    await gw?.stop();
    backend?.close();
  });

  test('a reload (HUP) keeps the counts: the new workers refuse what the old ones counted', async () => {
    expect((await request(gw.ports[0], '/minute/a')).status).toBe(200);
    const started = (gw.stderr().match(/reload: new worker processes ready/g) ?? []).length;
    process.kill(gw.child.pid!, 'SIGHUP');
    await until(() => (gw.stderr().match(/reload: new worker processes ready/g) ?? []).length, (n) => n > started, 'the reload');
    const after = await request(gw.ports[0], '/minute/a');
    expect([after.status, after.headers['x-req']]).toEqual([503, 'REJECTED']);
  });

  test('a worker killed while it holds a limit_conn slot: the master gives the slot back', async () => {
    const { conns, pids, spare } = await connectionsOnEachWorker(gw.ports[0]);
    // Worker A holds the slot: a request the backend never answers.
    const hanging = conns[0].get('/held').catch(() => null);
    await until(() => held.length, (n) => n === 1, 'the held request at the backend');
    const refused = await conns[1].get('/held?fast');
    expect([refused.status, refused.headers['x-conn']]).toEqual([503, 'REJECTED']);
    process.kill(pids[0], 'SIGKILL');
    await hanging;
    await until(() => gw.stderr(), (s) => s.includes(`zones: worker process ${pids[0]} exited holding 1 limit_conn slot; released`), 'the release');
    const freed = await conns[1].get('/held?fast');
    expect([freed.status, freed.headers['x-conn'], freed.body]).toEqual([200, 'PASSED', 'fast\n']);
    [...conns, ...spare].forEach((c) => c.close());
    held.forEach((r) => r.destroy());
    held = [];
  });
});

describe('a WebSocket and a proxied upgrade hold their slot', () => {
  let gw: GatewayProcess;
  let backend: http.Server;
  const tunnels: net.Socket[] = [];
  beforeAll(async () => {
    // A backend that switches protocols and keeps the tunnel open.
    backend = http.createServer();
    backend.on('upgrade', (_req, socket: net.Socket) => {
      tunnels.push(socket);
      socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    const port = (backend.address() as AddressInfo).port;
    const tunnel =
      `        - location: /tunnel\n          limit_conn: addr 1\n          proxy_pass: "http://127.0.0.1:${port}"\n` +
      '          proxy_http_version: "1.1"\n          proxy_set_header: ["Upgrade $http_upgrade", "Connection $connection_upgrade"]\n';
    gw = await startGateway(SITE('', 1).replace('      locations:\n', `      locations:\n${tunnel}`), { files: FILES });
  });
  afterAll(async () => {
    tunnels.forEach((s) => s.destroy());
    await gw?.stop();
    backend?.close();
  });

  /** Opens a WebSocket on a raw socket: the status line and the socket. */
  function upgrade(path = '/ws'): Promise<{ status: string; socket: net.Socket }> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(gw.ports[0], '127.0.0.1', () => socket.write(seedRequest().replace('/s HTTP/1.1', `${path} HTTP/1.1`)));
      socket.once('data', (d) => resolve({ status: d.toString('latin1').split('\r\n')[0], socket }));
      socket.on('error', reject);
    });
  }

  test('limit_conn 1: a second WebSocket is refused with 503 while the first is open, and passes once it closed', async () => {
    const first = await upgrade();
    expect(first.status).toBe('HTTP/1.1 101 Switching Protocols');
    const second = await upgrade();
    expect(second.status).toBe('HTTP/1.1 503 Service Temporarily Unavailable');
    second.socket.destroy();
    first.socket.destroy();
    await until(upgrade, (r) => (r.socket.destroy(), r.status.includes('101')), 'the slot back', 3000);
    expect(gw.stderr()).toContain('limiting connections by zone "addr"');
  });

  test('limit_conn 1: a proxied upgrade (a tunnel) holds its slot until it closes', async () => {
    const first = await upgrade('/tunnel');
    expect(first.status).toBe('HTTP/1.1 101 Switching Protocols');
    const second = await upgrade('/tunnel');
    expect(second.status).toBe('HTTP/1.1 503 Service Temporarily Unavailable');
    second.socket.destroy();
    first.socket.destroy();
    await until(() => upgrade('/tunnel'), (r) => (r.socket.destroy(), r.status.includes('101')), 'the slot back', 3000);
  });

  test('a delayed request really waits: 2r/s burst=5, the second request is answered some 500 ms later', async () => {
    expect((await request(gw.ports[0], '/slow/a')).headers['x-req']).toBe('PASSED');
    const start = performance.now();
    const delayed = await request(gw.ports[0], '/slow/a');
    const waited = performance.now() - start;
    expect([delayed.status, delayed.headers['x-req']]).toEqual([200, 'DELAYED']);
    // nginx's delay for an excess of ~1 request at 2 r/s: (excess - 0) * 1000 / 2000 ms.
    expect(waited).toBeGreaterThanOrEqual(400);
    expect(waited).toBeLessThan(3000);
    expect(gw.stderr()).toMatch(/\[warn\] \d+#0: delaying request, excess: 0\.9\d\d, by zone "slow", client: 127\.0\.0\.1/);
  });

  test('a client gone during its delay ends the request there: 499, an upgrade never handed to its handler', async () => {
    const first = await upgrade('/wsslow');
    expect(first.status).toBe('HTTP/1.1 101 Switching Protocols');
    first.socket.destroy();
    // 1 r/m: the second upgrade would wait a minute.
    const socket = net.connect(gw.ports[0], '127.0.0.1', () => socket.write(seedRequest().replace('/s HTTP/1.1', '/wsslow HTTP/1.1')));
    socket.on('error', () => {});
    await until(() => gw.stderr(), (s) => /delaying request, excess: 1\.000, by zone "wsminute"/.test(s), 'the delay');
    socket.destroy();
    await until(() => gw.stderr(), (s) => s.includes('logged /wsslow 499 DELAYED'), 'the 499', 3000);
    expect(gw.stderr().match(/logged \/wsslow (\d+) (\w+)/g)).toEqual(['logged /wsslow 101 PASSED', 'logged /wsslow 499 DELAYED']);
  });

  test('a plain request whose client half-closes during its delay: 499 at once', async () => {
    expect((await request(gw.ports[0], '/httpslow/a')).status).toBe(200);
    const socket = net.connect(gw.ports[0], '127.0.0.1', () => socket.write('GET /httpslow/a HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.on('error', () => {});
    await until(() => gw.stderr(), (s) => /delaying request, excess: 1\.000, by zone "httpminute"/.test(s), 'the delay');
    socket.end();
    await until(() => gw.stderr(), (s) => s.includes('logged /httpslow/a 499 DELAYED'), 'the 499', 3000);
    socket.destroy();
  });

  test('what a delayed WebSocket client sends before its 101 reaches the handler after the delay, in order', async () => {
    const first = await upgrade('/wshalf');
    first.socket.destroy();
    const frame = (text: string) => encodeFrame(Opcode.TEXT, text, { mask: true });
    // One frame in the packet of the request head (Node hands it over as the upgrade's head),
    // one while the request waits (read during the delay and given back to the socket).
    const socket = net.connect(gw.ports[0], '127.0.0.1', () => socket.write(Buffer.concat([Buffer.from(seedRequest().replace('/s HTTP/1.1', '/wshalf HTTP/1.1')), frame('one with the head')])));
    let got = Buffer.alloc(0);
    socket.on('data', (d) => (got = Buffer.concat([got, d])));
    socket.on('error', () => {});
    await until(() => gw.stderr(), (s) => /delaying request, excess: 0\.9\d\d, by zone "wshalf"/.test(s), 'the delay');
    socket.write(frame('one during the delay'));
    await until(() => got.toString('latin1'), (s) => s.includes('one during the delay'), 'the echoes', 3000);
    const text = got.toString('latin1');
    expect(text).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(text.indexOf('one with the head')).toBeGreaterThan(0);
    expect(text.indexOf('one with the head')).toBeLessThan(text.indexOf('one during the delay'));
    socket.destroy();
  });
});
