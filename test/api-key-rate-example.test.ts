/**
 * The API key example as a user runs it: conf/examples/api-key-rate.yaml with
 * handlers/api-key-rate.ts, two workers, a real backend on loopback. Unknown or missing keys get
 * 401 and never reach the backend; each key has its own budget of 5 per window counted by both
 * workers together (keep-alive connections pinned to each worker); past it, 429 with
 * Retry-After; a new window lets the key in again.
 */
import http from 'node:http';
import path from 'node:path';
import { ROOT, runCli, startGateway, type GatewayProcess, waitForWorkers } from './helpers/gateway-process';
import { closeServer, listen, portOf } from './helpers/proxy-peers';
import { exampleConf } from './helpers/example-conf';

/** The example moved to free ports, with a window short enough to wait for. */
function example(backend: number): string {
  return exampleConf('api-key-rate.yaml', [['127.0.0.1:9001', `127.0.0.1:${backend}`], ['window: 10', 'window: 1.5'], ['      locations:\n', '      locations:\n        - { location: = /pid, return: "200 $pid" }\n']]);
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function get(port: number, agent: http.Agent, key?: string, p = '/api/items'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, agent, headers: key ? { 'X-Api-Key': key } : {} }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

describe('example: API key with a rate per key in a shared dictionary', () => {
  const seen: http.IncomingHttpHeaders[] = [];
  const backend = http.createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Worker-Pid': String(process.pid) }).end(`backend ${req.url}`);
  });
  let gw: GatewayProcess;
  let port: number;
  const agents: http.Agent[] = [];

  beforeAll(async () => {
    await listen(backend);
    gw = await startGateway(example(portOf(backend)), { prefix: ROOT });
    port = gw.ports[0];
    // Both workers listening before connections are spread over them.
    await waitForWorkers(gw, 2);
  }, 30000);
  afterAll(async () => {
    for (const a of agents) a.destroy();
    await gw?.stop();
    await closeServer(backend);
  });

  /** Two keep-alive agents whose connections are served by different workers (`/pid`, added by the test, answers `$pid`). */
  async function agentsOnEachWorker(): Promise<http.Agent[]> {
    const byPid = new Map<string, http.Agent>();
    for (let i = 0; i < 40 && byPid.size < 2; i++) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      agents.push(agent);
      const pid = (await get(port, agent, undefined, '/pid')).body;
      if (!byPid.has(pid)) byPid.set(pid, agent);
    }
    return [...byPid.values()];
  }

  test('gateway -t accepts the example as shipped', async () => {
    const r = await runCli(['-t', '-p', ROOT, '-c', path.join(ROOT, 'conf/examples/api-key-rate.yaml')]);
    expect(r.stderr).toMatch(/test is successful/);
    expect(r.code).toBe(0);
  });

  test('no key or an unknown key: 401, and the backend sees nothing', async () => {
    const agent = new http.Agent({ keepAlive: true });
    agents.push(agent);
    expect((await get(port, agent)).status).toBe(401);
    expect((await get(port, agent, 'key-mallory')).status).toBe(401);
    expect(seen).toHaveLength(0);
  });

  test('5 per key per window, counted by both workers together; 429 past it; a new window lets it in', async () => {
    const [a, b] = await agentsOnEachWorker();
    expect(b).toBeDefined();
    // Alternating workers: 5 pass, the rest are refused, whichever worker serves them.
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await get(port, i % 2 ? b : a, 'key-alice');
      statuses.push(r.status);
      if (r.status === 429) expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    // The key is not passed on; the remaining budget is.
    const passed = seen.slice(-5);
    expect(passed.map((h) => h['x-api-key'])).toEqual([undefined, undefined, undefined, undefined, undefined]);
    expect(passed.map((h) => h['x-ratelimit-remaining'])).toEqual(['4', '3', '2', '1', '0']);
    // Another key has its own budget.
    expect((await get(port, b, 'key-bob')).status).toBe(200);
    // The window (1.5 s in the test) ends: the counter expired for both workers.
    await new Promise((r) => setTimeout(r, 1700));
    expect((await get(port, b, 'key-alice')).status).toBe(200);
    expect((await get(port, a, 'key-alice')).status).toBe(200);
  });
});
