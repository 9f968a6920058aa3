/**
 * The canary example as a user runs it: conf/examples/canary.yaml with handlers/canary.ts from
 * the project, two workers, two real backends (stable and canary) on loopback ports. The cookie
 * forces a side, client ids split by their hash and stay on their side, a canary that is down
 * falls back to stable.
 */
import http from 'node:http';
import path from 'node:path';
import { ROOT, runCli, startGateway, type GatewayProcess } from './helpers/gateway-process';
import { closeServer, listen, portOf, request } from './helpers/proxy-peers';
import { exampleConf } from './helpers/example-conf';

function namedBackend(name: string): http.Server {
  return http.createServer((req, res) => res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`${name} ${req.url}`));
}

/** The example moved to free ports: the gateway's listener, stable and canary. */
function example(stable: number, canary: number): string {
  return exampleConf('canary.yaml', [
    ['127.0.0.1:9001', `127.0.0.1:${stable}`],
    ['127.0.0.1:9002', `127.0.0.1:${canary}`],
  ]);
}

describe('canary: a split in the balancer by a cookie', () => {
  const stable = namedBackend('stable');
  const canary = namedBackend('canary');
  let gw: GatewayProcess;
  let port: number;

  beforeAll(async () => {
    await listen(stable);
    await listen(canary);
    gw = await startGateway(example(portOf(stable), portOf(canary)), { prefix: ROOT });
    port = gw.ports[0];
  });
  afterAll(async () => {
    await gw?.stop();
    await closeServer(stable);
    if (canary.listening) await closeServer(canary);
  });

  const side = async (cookie?: string) => (await request(port, '/app', cookie ? { headers: { Cookie: cookie } } : {})).body.split(' ')[0];

  test('gateway -t accepts the example as shipped', async () => {
    const r = await runCli(['-t', '-p', ROOT, '-c', path.join(ROOT, 'conf/examples/canary.yaml')]);
    expect(r.stderr).toMatch(/test is successful/);
    expect(r.code).toBe(0);
  });

  test('the cookie forces a side', async () => {
    for (let i = 0; i < 6; i++) {
      expect(await side('canary=1')).toBe('canary');
      expect(await side('canary=0; client_id=anything')).toBe('stable');
    }
  });

  test('client ids split about 10 % to the canary, each id always on its side', async () => {
    const ids = Array.from({ length: 400 }, (_, i) => `client-${i}`);
    const first = await Promise.all(ids.map((id) => side(`client_id=${id}`)));
    const again = await Promise.all(ids.map((id) => side(`client_id=${id}`)));
    expect(again).toEqual(first);
    const share = first.filter((s) => s === 'canary').length / ids.length;
    expect(share).toBeGreaterThan(0.04);
    expect(share).toBeLessThan(0.18);
    expect(new Set(first)).toEqual(new Set(['stable', 'canary']));
  });

  test('a canary that is down: its requests fall back to stable, with a warning', async () => {
    await closeServer(canary);
    for (let i = 0; i < 4; i++) expect(await side('canary=1')).toBe('stable');
    expect(gw.stderr()).toMatch(/\[warn\] .*canary 127\.0\.0\.1:\d+ failed \(502\), retrying on stable/);
  });
});
