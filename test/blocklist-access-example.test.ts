/**
 * The port of lua-nginx-module's access_by_lua example as a user runs it:
 * conf/examples/blocklist-access.yaml with handlers/blocklist-access.ts, two workers, a real
 * backend that answers with the body it received. A clean body reaches the backend (the body the
 * script read goes up), the bad word is sent to the terms, a body over client_max_body_size is a
 * 413, the blocked address (set as an option here: the test's client is 127.0.0.1) a 403.
 */
import http from 'node:http';
import path from 'node:path';
import { ROOT, runCli, startGateway, type GatewayProcess } from './helpers/gateway-process';
import { closeServer, listen, portOf, request } from './helpers/proxy-peers';
import { exampleConf } from './helpers/example-conf';

/** The example moved to free ports; `blocked` puts the client's address on the list of a second location. */
function example(backend: number): string {
  return exampleConf('blocklist-access.yaml', [
    ['127.0.0.1:9001', `127.0.0.1:${backend}`],
    ['        - location: /\n', `        - location: /blocked/\n          access_by: { script: blocklist-access, options: { addresses: [127.0.0.1] } }\n          proxy_pass: http://127.0.0.1:${backend}\n        - location: /\n`],
  ]);
}

describe('blocklist-access: the port of lua-nginx-module\'s access_by_lua example', () => {
  const backend = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`${req.method} ${req.url} ${req.headers['content-length'] ?? '-'} ${Buffer.concat(chunks)}`));
  });
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

  const post = (target: string, body: string) => request(port, target, { method: 'POST', headers: { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) } }, [body]);

  test('gateway -t accepts the example as shipped', async () => {
    const r = await runCli(['-t', '-p', ROOT, '-c', path.join(ROOT, 'conf/examples/blocklist-access.yaml')]);
    expect(r.stderr).toMatch(/test is successful/);
    expect(r.code).toBe(0);
  });

  test('a clean body reaches the backend, on both workers', async () => {
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => post(`/form/${i}`, `hello ${i}`)));
    answers.forEach((a, i) => {
      expect(a.status).toBe(200);
      expect(a.body).toBe(`POST /form/${i} ${`hello ${i}`.length} hello ${i}`);
    });
    const get = await request(port, '/page?x=1');
    expect(get.body).toBe('GET /page?x=1 - ');
  });

  test('the bad word: 302 to /terms_of_use.html, which answers', async () => {
    const a = await post('/form', 'what the fsck is this');
    expect(a.status).toBe(302);
    expect(a.headers.location).toMatch(/\/terms_of_use\.html$/);
    expect((await request(port, '/terms_of_use.html')).body).toBe('Be nice.');
  });

  test('a body over client_max_body_size: 413', async () => {
    const a = await post('/form', 'x'.repeat(100 * 1024 + 1));
    expect(a.status).toBe(413);
  });

  test('an address on the list: 403, before the body is looked at', async () => {
    expect((await request(port, '/blocked/x')).status).toBe(403);
    expect((await post('/blocked/x', 'clean')).status).toBe(403);
  });
});
