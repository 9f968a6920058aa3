/**
 * The metrics example as a user runs it: conf/examples/status-metrics.yaml with
 * handlers/status-metrics.ts, two workers, a real backend that answers the status it is asked
 * for. Requests on connections pinned to each worker are counted by status class in one shared
 * dictionary; /metrics prints the same totals from either worker, in Prometheus' text format.
 */
import http from 'node:http';
import path from 'node:path';
import { ROOT, runCli, startGateway, type GatewayProcess, waitForWorkers } from './helpers/gateway-process';
import { closeServer, listen, portOf } from './helpers/proxy-peers';
import { exampleConf } from './helpers/example-conf';

function example(backend: number): string {
  return exampleConf('status-metrics.yaml', [['127.0.0.1:9001', `127.0.0.1:${backend}`], ['      locations:\n', '      locations:\n        - { location: = /pid, return: "200 $pid" }\n']]);
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function get(port: number, agent: http.Agent, p: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, agent }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

/** The counts a /metrics page shows, by class. */
function counts(page: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of page.matchAll(/^gateway_http_requests_total\{status="(\w+)"\} (\d+)$/gm)) out[m[1]] = Number(m[2]);
  return out;
}

describe('example: a log-phase counter at a metrics location', () => {
  // The backend answers /status/NNN with NNN, and says which of its requests it saw.
  const backend = http.createServer((req, res) => {
    const m = /^\/status\/(\d{3})$/.exec(req.url!);
    res.writeHead(m ? Number(m[1]) : 200, { 'Content-Type': 'text/plain' }).end('ok\n');
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

  test('gateway -t accepts the example as shipped', async () => {
    const r = await runCli(['-t', '-p', ROOT, '-c', path.join(ROOT, 'conf/examples/status-metrics.yaml')]);
    expect(r.stderr).toMatch(/test is successful/);
    expect(r.code).toBe(0);
  });

  test('requests served by both workers are counted together; either worker prints the totals', async () => {
    // Keep-alive connections until two are on different workers (`/pid`, added by the test, answers `$pid`); every request is counted, /pid and /metrics too.
    const byPid = new Map<string, http.Agent>();
    let probes = 0;
    for (let i = 0; i < 40 && byPid.size < 2; i++) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      agents.push(agent);
      const r = await get(port, agent, '/status/204');
      probes++;
      expect(r.status).toBe(204);
      const pid = (await get(port, agent, '/pid')).body;
      if (!byPid.has(pid)) byPid.set(pid, agent);
    }
    expect(byPid.size).toBe(2);
    const [a, b] = [...byPid.values()];
    const mix: [http.Agent, string, number][] = [
      [a, '/status/200', 3],
      [b, '/status/200', 2],
      [a, '/status/301', 1],
      [b, '/status/404', 4],
      [a, '/status/503', 2],
      [b, '/status/500', 1],
    ];
    for (const [agent, p, times] of mix) for (let i = 0; i < times; i++) await get(port, agent, p);
    // The log phase runs after the response: wait until the last request is counted.
    const expected = { '1xx': 0, '2xx': probes + probes + 5, '3xx': 1, '4xx': 4, '5xx': 3 };
    const deadline = Date.now() + 5000;
    let fromA: Answer;
    for (;;) {
      fromA = await get(port, a, '/metrics');
      expected['2xx']++;
      if (counts(fromA.body)['5xx'] === 3 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(fromA.status).toBe(200);
    expect(fromA.headers['content-type']).toBe('text/plain; version=0.0.4');
    expect(fromA.body).toMatch(/^# HELP gateway_http_requests_total .*\n# TYPE gateway_http_requests_total counter\n/);
    await new Promise((r) => setTimeout(r, 50));
    const fromB = counts((await get(port, b, '/metrics')).body);
    // B's page counts every earlier request, A's /metrics calls included (each a 2xx), not itself.
    expect(fromB).toEqual(expected);
  });

});
