/**
 * A script's error outside any request (a throw in its own setTimeout, a promise it leaves
 * floating) is one error-log line and the worker keeps serving, as OpenResty logs an error in a
 * detached light thread: by default Node would end the worker and every connection it holds.
 */
import http from 'node:http';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';

const SCRIPTS: Record<string, string> = {
  'handlers/leaves-errors.js': `module.exports = { run(r) {
    setTimeout(() => { throw new Error('thrown later by a script'); }, 5);
    Promise.reject(new Error('left floating by a script'));
    r.say(String(process.pid));
  } };`,
};

const SITE = `
worker_processes: 1
error_log: stderr info
pid: off
http:
  access_log: "off"
  servers:
    - listen: "127.0.0.1:0"
      locations:
        - location: /
          content_by: leaves-errors
`;

function get(agent: http.Agent, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(body.trim()));
      })
      .on('error', reject);
  });
}

describe("a script's errors outside any request", () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await startGateway(SITE, { files: SCRIPTS });
  }, 30000);
  afterAll(async () => {
    await gw?.stop();
  });

  test('are logged, and the same worker keeps serving on the same connection', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await get(agent, gw.ports[0]);
      await new Promise((r) => setTimeout(r, 100));
      const second = await get(agent, gw.ports[0]);
      expect(second).toBe(first);
      const deadline = Date.now() + 5000;
      while (!/uncaught exception \(outside any request\): thrown later by a script/.test(gw.stderr()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      expect(gw.stderr()).toMatch(/\[error\].*uncaught exception \(outside any request\): thrown later by a script \(at /);
      expect(gw.stderr()).toMatch(/\[error\].*unhandled rejection \(outside any request\): left floating by a script \(at /);
    } finally {
      agent.destroy();
    }
  });
});
