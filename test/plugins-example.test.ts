/**
 * The plugin example as a user runs it: conf/examples/plugins.yaml with handlers/correlation-id.ts
 * from the project (Kong's correlation-id plugin ported), two workers, a real backend that
 * answers with the id it received. uuid#counter ids per worker, uuid ids at /api/, the client's
 * own id kept, the plugin off at /health/, and a bad option refused by `gateway -t`.
 */
import http from 'node:http';
import path from 'node:path';
import { ROOT, makePrefix, runCli, startGateway, type GatewayProcess } from './helpers/gateway-process';
import { closeServer, listen, portOf, request } from './helpers/proxy-peers';
import { exampleConf } from './helpers/example-conf';

function example(backend: number): string {
  return exampleConf('plugins.yaml', [['127.0.0.1:9001', `127.0.0.1:${backend}`]]);
}

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';

describe('plugins example: correlation-id in front of the proxy', () => {
  const backend = http.createServer((req, res) =>
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`kong=${req.headers['kong-request-id'] ?? '-'} x=${req.headers['x-request-id'] ?? '-'}`),
  );
  let gw: GatewayProcess;
  let port: number;

  beforeAll(async () => {
    await listen(backend);
    gw = await startGateway(example(portOf(backend)), { prefix: ROOT });
    port = gw.ports[0];
  });
  afterAll(async () => {
    await gw?.stop();
    await closeServer(backend);
  });

  test('gateway -t accepts the example as shipped', async () => {
    const r = await runCli(['-t', '-p', ROOT, '-c', path.join(ROOT, 'conf/examples/plugins.yaml')]);
    expect(r.stderr).toMatch(/test is successful/);
    expect(r.code).toBe(0);
  });

  test('uuid#counter: the backend gets an id, the client gets it back; a worker counts up', async () => {
    const byWorker = new Map<string, number[]>();
    for (let i = 0; i < 8; i++) {
      const r = await request(port, '/x', { headers: { connection: 'close' } });
      const id = String(r.headers['kong-request-id']);
      expect(id).toMatch(new RegExp(`^${UUID}#\\d+$`));
      expect(r.body).toBe(`kong=${id} x=-`);
      const [worker, n] = id.split('#');
      byWorker.set(worker, [...(byWorker.get(worker) ?? []), Number(n)]);
    }
    expect(byWorker.size).toBeLessThanOrEqual(2);
    for (const counts of byWorker.values()) expect(counts).toEqual([...counts].sort((a, b) => a - b));
  });

  test('an id the client sent is kept', async () => {
    const r = await request(port, '/x', { headers: { 'Kong-Request-ID': 'mine-1' } });
    expect(r.body).toBe('kong=mine-1 x=-');
    expect(r.headers['kong-request-id']).toBe('mine-1');
  });

  test('/api/ configures it anew: a UUID in X-Request-ID, not Kong-Request-ID', async () => {
    const r = await request(port, '/api/y');
    expect(String(r.headers['x-request-id'])).toMatch(new RegExp(`^${UUID}$`));
    expect(r.body).toBe(`kong=- x=${r.headers['x-request-id']}`);
    expect(r.headers['kong-request-id']).toBeUndefined();
  });

  test('/health/ switches it off', async () => {
    const r = await request(port, '/health/');
    expect(r.body).toBe('kong=- x=-');
    expect(r.headers['kong-request-id']).toBeUndefined();
  });

  test('a generator the schema does not know: gateway -t at its line and column', async () => {
    // The plugin by its path in the project (the temporary prefix has no handlers).
    const withPath = makePrefix({
      'conf/t.yaml': `http:\n  plugins:\n    ${path.join(ROOT, 'handlers/correlation-id.ts')}: { generator: tracker }\n  servers:\n    - listen: 127.0.0.1:0\n`,
    });
    const bad = await runCli(['-t', '-p', withPath, '-c', path.join(withPath, 'conf/t.yaml')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/plugin "correlation-id": option "generator" must be equal to one of the allowed values \("uuid", "uuid#counter"\) in \S*t\.yaml:3:\d+$/m);
  });
});
