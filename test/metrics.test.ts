/**
 * stub_status and metrics, end to end: the gateway as a process with two workers (and with
 * `master_process off`), real connections, requests and WebSockets; the numbers are summed
 * across the workers and exact where the test controls them.
 */
import net from 'node:net';
import WebSocket from 'ws';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { request } from './helpers/http-client';

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const conf = (head: string, deadPort: number) => `
${head}
error_log: stderr notice
pid: off
http:
  access_log: "off"
  upstreams:
    pool: { servers: ["127.0.0.1:${deadPort} max_fails=1 fail_timeout=60s", "127.0.0.1:1 backup fail_timeout=60s"] }
  servers:
    - listen: "127.0.0.1:0"
      locations:
        - { location: = /status, stub_status: on }
        - { location: = /metrics, handler: metrics }
        - { location: /s, handler: websocket-script, script: echo }
        - { location: /dead, proxy_pass: "http://127.0.0.1:${deadPort}" }
        - { location: /pool, proxy_pass: "http://pool" }
        - { location: /, return: "200 $pid" }
`;

interface StubStatus {
  active: number;
  accepts: number;
  handled: number;
  requests: number;
  reading: number;
  writing: number;
  waiting: number;
}

const STUB_STATUS = /^Active connections: (\d+) \nserver accepts handled requests\n (\d+) (\d+) (\d+) \nReading: (\d+) Writing: (\d+) Waiting: (\d+) \n$/;

async function stubStatus(port: number): Promise<StubStatus> {
  const res = await request(port, '/status');
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toBe('text/plain');
  const m = STUB_STATUS.exec(res.body.toString());
  if (!m) throw new Error(`not nginx's stub_status text: ${JSON.stringify(res.body.toString())}`);
  const [active, accepts, handled, requests, reading, writing, waiting] = m.slice(1).map(Number);
  return { active, accepts, handled, requests, reading, writing, waiting };
}

/** Prometheus text, parsed: `name{labels}` -> value; throws on a line that is not the format. */
async function metrics(port: number): Promise<Map<string, number>> {
  const res = await request(port, '/metrics');
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of res.body.toString().split('\n')) {
    if (line === '' || line.startsWith('# HELP ')) continue;
    const type = /^# TYPE (\w+) (counter|gauge|histogram)$/.exec(line);
    if (type) {
      typed.add(type[1]);
      continue;
    }
    const m = /^(\w+)(\{(?:\w+="(?:[^"\\]|\\.)*",?)*\})? (-?[\d.e+-]+|\+Inf|NaN)$/.exec(line);
    if (!m) throw new Error(`not Prometheus text: ${line}`);
    expect(typed.has(m[1].replace(/_(bucket|sum|count)$/, '')) || typed.has(m[1])).toBe(true);
    samples.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return samples;
}

async function until<T>(get: () => Promise<T>, ok: (value: T) => boolean, what: string): Promise<T> {
  let value = await get();
  for (let i = 0; i < 250 && !ok(value); i++) {
    await new Promise((r) => setTimeout(r, 20));
    value = await get();
  }
  if (!ok(value)) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(value)}`);
  return value;
}

async function openEcho(port: number): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/s`);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  ws.send('hello');
  const echoed = await new Promise<string>((resolve) => ws.once('message', (data) => resolve(data.toString())));
  expect(echoed).toBe('hello');
  return ws;
}

function closeWith(ws: WebSocket, code: number): Promise<void> {
  return new Promise((resolve) => {
    ws.once('close', () => resolve());
    ws.close(code);
  });
}

/** Every other connection closed: only the status request's own is open. */
const quiet = (port: number) => until(() => stubStatus(port), (s) => s.active === 1, 'the other connections to close');

describe('worker_processes 2', () => {
  let gw: GatewayProcess;
  let port: number;

  beforeAll(async () => {
    gw = await startGateway(conf('worker_processes: 2', await closedPort()));
    port = gw.ports[0];
  });
  afterAll(() => gw?.stop());

  test('stub_status sums both workers: requests and accepts grow by exactly what was sent', async () => {
    // Requests on fresh connections land on both workers.
    const pids = new Set<string>();
    for (let i = 0; i < 200 && pids.size < 2; i++) pids.add((await request(port, '/')).body.toString());
    expect(pids.size).toBe(2);
    const before = await quiet(port);
    expect(before).toMatchObject({ active: 1, reading: 0, writing: 1, waiting: 0 });
    const sent = 12;
    const seen = new Set<string>();
    for (let i = 0; i < sent; i++) seen.add((await request(port, '/')).body.toString());
    const after = await stubStatus(port);
    expect(after.requests - before.requests).toBe(sent + 1);
    expect(after.accepts - before.accepts).toBe(sent + 1);
    expect(after.handled).toBe(after.accepts);
    expect(after.writing).toBeGreaterThanOrEqual(1);
    expect(after.reading + after.writing + after.waiting).toBe(after.active);
  });

  test('open WebSockets are active, writing connections; an idle keep-alive one is waiting', async () => {
    await quiet(port);
    const sockets = await Promise.all([1, 2, 3, 4].map(() => openEcho(port)));
    try {
      expect(await stubStatus(port)).toMatchObject({ active: 5, reading: 0, writing: 5, waiting: 0 });
      // A keep-alive connection after its response: waiting.
      const idle = net.connect(port, '127.0.0.1');
      idle.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await new Promise((resolve) => idle.once('data', resolve));
      // A connection that has sent nothing yet: reading (Node's parser cannot tell when a head starts).
      const silent = net.connect(port, '127.0.0.1');
      await new Promise((resolve) => silent.once('connect', resolve));
      const s = await until(() => stubStatus(port), (v) => v.active === 7, 'the silent connection');
      expect(s).toMatchObject({ active: 7, reading: 1, writing: 5, waiting: 1 });
      idle.destroy();
      silent.destroy();
    } finally {
      await Promise.all(sockets.map((ws) => closeWith(ws, 1000)));
    }
    expect(await quiet(port)).toMatchObject({ active: 1, writing: 1, reading: 0, waiting: 0 });
  });

  test('metrics: Prometheus text summed over both workers, per location, WebSockets and upstream errors', async () => {
    await quiet(port);
    const start = await metrics(port);
    const get = (m: Map<string, number>, key: string) => m.get(key) ?? 0;
    const root = 'server="_",location="/"';
    const ws = 'server="_",location="/s"';
    const dead = 'server="_",location="/dead"';
    expect(start.get('gateway_worker_processes')).toBe(2);

    for (let i = 0; i < 7; i++) expect((await request(port, '/')).status).toBe(200);
    expect((await request(port, '/dead')).status).toBe(502);
    const sockets = await Promise.all([1, 2, 3].map(() => openEcho(port)));
    await closeWith(sockets[0], 1000);
    await closeWith(sockets[1], 4001);

    const m = await until(() => metrics(port), (v) => get(v, `gateway_websocket_connections_open{${ws}}`) === 1, 'the closes to be counted');
    const grew = (key: string) => get(m, key) - get(start, key);
    expect(grew(`gateway_http_requests_total{${root},status="2xx"}`)).toBe(7);
    expect(grew(`gateway_http_requests_total{${dead},status="5xx"}`)).toBe(1);
    expect(grew(`gateway_upstream_errors_total{${dead},kind="connect"}`)).toBe(1);
    expect(grew(`gateway_http_request_duration_seconds_count{${root}}`)).toBe(7);
    expect(get(m, `gateway_http_request_duration_seconds_bucket{${root},le="+Inf"}`)).toBe(get(m, `gateway_http_request_duration_seconds_count{${root}}`));
    expect(grew(`gateway_http_requests_total{${ws},status="1xx"}`)).toBe(2);
    // Three "hello"s in, three echoes out; two close frames in.
    expect(grew(`gateway_websocket_frames_total{${ws},direction="in"}`)).toBe(5);
    expect(grew(`gateway_websocket_frames_total{${ws},direction="out"}`)).toBe(3);
    expect(grew(`gateway_websocket_payload_bytes_total{${ws},direction="out"}`)).toBe(15);
    expect(grew(`gateway_websocket_closes_total{${ws},code="4001"}`)).toBe(1);
    expect(grew(`gateway_websocket_closes_total{${ws},code="1000"}`)).toBe(1);
    expect(get(m, 'gateway_connections_active')).toBe(2);
    expect(get(m, 'gateway_connections{state="writing"}')).toBe(2);
    expect(get(m, 'gateway_connections_handled_total')).toBe(get(m, 'gateway_connections_accepted_total'));
    await closeWith(sockets[2], 1000);
  });

  test('counts outlive their workers: a reload (the old workers hand over) and a killed worker (as of the last scrape)', async () => {
    const before = await quiet(port);
    gw.child.kill('SIGHUP');
    // Until the old generation is gone: each look is one more request.
    let looks = 0;
    let ready = false;
    for (let i = 0; i < 250; i++) {
      ready ||= gw.stderr().includes('reload: new worker processes ready');
      if (ready && (looks++, (await metrics(port)).get('gateway_worker_processes') === 2)) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const afterReload = await stubStatus(port);
    expect(afterReload.requests - before.requests).toBe(looks + 1);
    expect(afterReload.accepts - before.accepts).toBe(looks + 1);

    const victim = Number((await request(port, '/')).body.toString());
    const scraped = await stubStatus(port);
    const started = (gw.stderr().match(/worker process \d+ started/g) ?? []).length;
    process.kill(victim, 'SIGKILL');
    await until(async () => (gw.stderr().match(/worker process \d+ started/g) ?? []).length, (n) => n > started, 'the new worker');
    const afterKill = await stubStatus(port);
    expect(afterKill.requests - scraped.requests).toBe(1);
    expect(afterKill.active).toBe(1);
  });
});

test('master_process off: the one process answers alone', async () => {
  const deadPort = await closedPort();
  const gw = await startGateway(conf('master_process: off', deadPort));
  const port = gw.ports[0];
  try {
    const before = await quiet(port);
    for (let i = 0; i < 5; i++) await request(port, '/');
    const ws = await openEcho(port);
    const after = await stubStatus(port);
    expect(after.requests - before.requests).toBe(7);
    expect(after).toMatchObject({ active: 2, writing: 2, reading: 0, waiting: 0 });
    const m = await metrics(port);
    expect(m.get('gateway_worker_processes')).toBe(1);
    expect(m.get('gateway_websocket_connections_open{server="_",location="/s"}')).toBe(1);
    expect(m.get('gateway_http_requests_total{server="_",location="/",status="2xx"}')).toBe(5);
    expect((await request(port, '/status', { method: 'POST' })).status).toBe(405);
    await closeWith(ws, 1000);
    // Upstream health: both peers usable, then one request fails on each (max_fails=1): both out.
    const fresh = await metrics(port);
    expect(fresh.get(`gateway_upstream_peer_usable{upstream="pool",peer="127.0.0.1:${deadPort}"}`)).toBe(1);
    expect(fresh.get('gateway_upstream_peer_usable{upstream="pool",peer="127.0.0.1:1"}')).toBe(1);
    expect((await request(port, '/pool')).status).toBe(502);
    const health = await metrics(port);
    expect(health.get(`gateway_upstream_peer_usable{upstream="pool",peer="127.0.0.1:${deadPort}"}`)).toBe(0);
    expect(health.get('gateway_upstream_peer_usable{upstream="pool",peer="127.0.0.1:1"}')).toBe(0);
    expect(health.get(`gateway_upstream_peer_active_requests{upstream="pool",peer="127.0.0.1:${deadPort}"}`)).toBe(0);
  } finally {
    await gw.stop();
  }
});
