/**
 * `r.shared` (OpenResty's `ngx.shared`) and `r.timers` (`ngx.timer`) in phase scripts, with the
 * gateway as a process and two workers: an access script counts in a dict, a content script
 * reads the count, a header filter and a log script see the same dict, a timer set by a
 * content script writes to it after the request; every worker sees every other's writes.
 */
import http from 'node:http';
import { startGateway, type GatewayProcess, waitForWorkers } from './helpers/gateway-process';

const SCRIPTS: Record<string, string> = {
  'handlers/count-access.js': `module.exports = { run(r) { r.ctx.n = r.shared.get('counts').incr('access', 1, 0).value; } };`,
  'handlers/read-count.js': `module.exports = { run(r) { const d = r.shared.get('counts'); r.say(JSON.stringify({ pid: process.pid, n: r.ctx.n, access: d.get('access'), logged: d.get('logged'), timer: d.get('timer'), names: r.shared.names(), missing: r.shared.get('nope') })); } };`,
  'handlers/mark-header.js': `module.exports = { run(r) { r.setResponseHeader('X-Access-Count', String(r.shared.get('counts').get('access'))); } };`,
  'handlers/count-log.js': `module.exports = { run(r) { r.shared.get('counts').incr('logged', 1, 0); } };`,
  'handlers/later.js': `module.exports = { run(r) { const d = r.shared.get('counts'); const t = r.timers.at(0.05, (premature, v) => { d.set('timer', v + ':' + premature); }, 'fired'); r.say(JSON.stringify(t)); } };`,
};

const SITE = `
worker_processes: 2
error_log: stderr info
pid: off
http:
  access_log: "off"
  shared_dict: { counts: 1m }
  servers:
    - listen: "127.0.0.1:0"
      locations:
        - location: /count
          access_by: count-access
          header_filter_by: mark-header
          log_by: count-log
          content_by: read-count
        - location: /later
          content_by: later
`;

/** GET on one keep-alive connection (one worker per connection). */
function get(agent: http.Agent, port: number, p: string): Promise<{ body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: p, agent }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ body, headers: res.headers }));
      })
      .on('error', reject);
  });
}

describe('r.shared and r.timers in phase scripts, two workers', () => {
  let gw: GatewayProcess;
  const agents: http.Agent[] = [];
  beforeAll(async () => {
    gw = await startGateway(SITE, { files: SCRIPTS });
    // Both workers listening before connections are spread over them.
    await waitForWorkers(gw, 2);
  }, 30000);
  afterAll(async () => {
    for (const a of agents) a.destroy();
    await gw?.stop();
  });

  test('an access script counts, content, header filter and log see the same dict from both workers', async () => {
    const port = gw.ports[0];
    // Connections until two of them are served by different workers.
    const byPid = new Map<number, http.Agent>();
    let total = 0;
    for (let i = 0; i < 40 && byPid.size < 2; i++) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      agents.push(agent);
      const { body, headers } = await get(agent, port, '/count');
      total++;
      const seen = JSON.parse(body);
      expect(headers['x-access-count']).toBe(String(seen.access));
      if (!byPid.has(seen.pid)) byPid.set(seen.pid, agent);
    }
    expect(byPid.size).toBe(2);
    const [a, b] = [...byPid.values()];
    const first = JSON.parse((await get(a, port, '/count')).body);
    const second = JSON.parse((await get(b, port, '/count')).body);
    expect(first.pid).not.toBe(second.pid);
    expect(first.n).toBe(total + 1);
    expect(second.n).toBe(total + 2);
    expect(second.access).toBe(total + 2);
    expect(second.names).toEqual(['counts']);
    expect(second.missing).toBeNull();
    // The log phase runs after the response: every request before `first` is logged by now (`first`'s may lag).
    expect(second.logged).toBeGreaterThanOrEqual(total);
    expect(second.logged).toBeLessThanOrEqual(total + 1);
  });

  test('a timer set by a content script writes to the dict after the request, seen by the other worker', async () => {
    const port = gw.ports[0];
    const a = agents[agents.length - 1];
    expect(JSON.parse((await get(a, port, '/later')).body)).toEqual({ ok: true, err: null });
    const deadline = Date.now() + 5000;
    let timer: unknown = null;
    while (Date.now() < deadline && timer === null) {
      await new Promise((r) => setTimeout(r, 25));
      timer = JSON.parse((await get(agents[0], port, '/count')).body).timer;
    }
    expect(timer).toBe('fired:false');
  });
});
