/**
 * Plugins with the gateway as a process and two workers, in front of the built-in proxy to a
 * real backend: two plugins at several phases (rewrite, access, header_filter, body_filter,
 * log) run by priority with the location's `access_by` script (at 0), Kong's inheritance (a
 * location switches one off, another configures it anew), a plugin that throws (500, one
 * error line naming it), `gateway -t` on bad options at file:line:column, and a reload that
 * changes a plugin's file while a request is in flight: the in-flight request finishes with the
 * old code in its old worker, a WebSocket opened before goes on through it, new requests and
 * WebSockets get the new code.
 */
import http from 'node:http';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import WebSocket, { WebSocketServer } from 'ws';
import { makePrefix, runCli, startGateway, type GatewayProcess } from './helpers/gateway-process';
import { closeServer, listen, portOf, request, until } from './helpers/proxy-peers';
import { fdTotal, workerPids } from './helpers/push-clients';

const KEY_AUTH = `import type { Plugin, ScriptRequest } from 'gateway';
interface Options { header: string; keys: string[] }
const order = (r: ScriptRequest, step: string) => { ((r.ctx.order as string[] | undefined) ?? (r.ctx.order = [])).push(step); };
const plugin: Plugin<Options> = {
  name: 'key-auth',
  priority: 1250,
  schema: {
    type: 'object',
    properties: { header: { type: 'string', default: 'x-api-key' }, keys: { type: 'array', items: { type: 'string' }, minItems: 1 } },
    required: ['keys'],
    additionalProperties: false,
  },
  configure: (o) => o as unknown as Options,
  phases: {
    access(r, o) {
      order(r, 'key-auth');
      const key = r.header(o.header);
      if (typeof key !== 'string' || !o.keys.includes(key)) r.exit(401, 'no valid key\\n');
      r.ctx.consumer = key;
    },
    header_filter(r) {
      r.setResponseHeader('X-Consumer', String(r.ctx.consumer ?? '-'));
    },
    log(r) {
      r.log.notice('key-auth log consumer=' + String(r.ctx.consumer ?? '-') + ' status=' + r.entry!.status);
    },
  },
};
export default plugin;
`;

const SHOUT = `module.exports = {
  name: 'shout',
  priority: 800,
  schema: { type: 'object', properties: { tag: { type: 'string' } }, required: ['tag'] },
  phases: {
    rewrite(r, o) { ((r.ctx.order ??= [])).push('shout-rewrite'); r.setHeader('X-Tag', o.tag); },
    access(r) { r.ctx.order.push('shout'); },
    header_filter(r) { r.setResponseHeader('X-Order', r.ctx.order.join(',')); r.setResponseHeader('X-Worker', String(process.pid)); },
    body_filter(chunk) { return chunk.toString().toUpperCase(); },
    log(r) { r.log.notice('shout log ' + r.var.uri + ' ' + r.entry.status); },
  },
};
`;

const THROWER = `module.exports = {
  name: 'thrower',
  priority: 2000,
  phases: {
    access(r) {
      if (r.header('x-boom')) throw new Error('plugin boom');
    },
  },
};
`;

const VERSION = (v: string) =>
  `module.exports = { name: 'version', priority: 1, phases: { access(r) { r.setHeader('X-Plugin-Version', '${v}'); }, header_filter(r) { r.setResponseHeader('X-Plugin-Version', '${v}'); } } };\n`;

/** Opens a WebSocket and resolves once open. */
const openWs = (port: number) =>
  new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    ws.on('open', () => resolve(ws));
    ws.on('error', reject);
  });
/** Sends `text` and resolves with the answer. */
const echo = (ws: WebSocket, text: string) =>
  new Promise<string>((resolve) => {
    ws.once('message', (data) => resolve(String(data)));
    ws.send(text);
  });

describe('plugins, gateway process with two workers, in front of the built-in proxy', () => {
  let backend: http.Server;
  let gw: GatewayProcess;
  let port = 0;
  const seen: http.IncomingHttpHeaders[] = [];

  beforeAll(async () => {
    backend = http.createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end(`backend ${req.url} tag=${req.headers['x-tag'] ?? '-'}`);
    });
    await listen(backend);
    gw = await startGateway(
      `worker_processes: 2
error_log: stderr notice
http:
  access_log: "off"
  plugins:
    key-auth: { keys: [k1, k2] }
    shout: { tag: from-http }
  servers:
    - listen: 127.0.0.1:0
      plugins:
        thrower:
      locations:
        - location: /api/
          access_by: scripts/order.js
          proxy_pass: http://127.0.0.1:${portOf(backend)}
        - location: /open/
          plugins:
            key-auth: off
          proxy_pass: http://127.0.0.1:${portOf(backend)}
        - location: /other/
          plugins:
            key-auth: { keys: [only-k3], header: x-other-key }
            shout: { tag: from-location }
          proxy_pass: http://127.0.0.1:${portOf(backend)}
`,
      {
        files: {
          'handlers/key-auth.ts': KEY_AUTH,
          'handlers/shout.js': SHOUT,
          'handlers/thrower.js': THROWER,
          'scripts/order.js': `module.exports = { run(r) { r.ctx.order.push('access_by'); } };`,
        },
      },
    );
    port = gw.ports[0];
  });

  afterAll(async () => {
    await gw?.stop();
    await closeServer(backend);
  });

  test('two workers', () => {
    expect(workerPids(gw.child.pid!)).toHaveLength(2);
  });

  test('every phase, by priority: rewrite, access (key-auth 1250, shout 800, the access_by script at 0), header and body filters, log', async () => {
    const r = await request(port, '/api/x', { headers: { 'x-api-key': 'k1' } });
    expect(r.status).toBe(200);
    expect(r.body).toBe('BACKEND /API/X TAG=FROM-HTTP');
    expect(r.headers['x-order']).toBe('shout-rewrite,key-auth,shout,access_by');
    expect(r.headers['x-consumer']).toBe('k1');
    expect(seen.at(-1)!['x-tag']).toBe('from-http');
    expect(await until(() => gw.stderr().includes('key-auth log consumer=k1 status=200'))).toBe(true);
    expect(await until(() => gw.stderr().includes('shout log /api/x 200'))).toBe(true);
  });

  test('a plugin that answers (exit 401) ends the access phase: the script after it does not run, the filters do', async () => {
    const r = await request(port, '/api/x', { headers: { 'x-api-key': 'wrong' } });
    expect(r.status).toBe(401);
    expect(r.body).toBe('NO VALID KEY\n');
    expect(r.headers['x-order']).toBe('shout-rewrite,key-auth');
    expect(r.headers['x-consumer']).toBe('-');
  });

  test("Kong's inheritance: a location switches key-auth off; another configures it anew, and shout", async () => {
    const open = await request(port, '/open/y');
    expect(open.status).toBe(200);
    expect(open.headers['x-order']).toBe('shout-rewrite,shout');
    const other = await request(port, '/other/z', { headers: { 'x-api-key': 'k1' } });
    expect(other.status).toBe(401);
    const ok = await request(port, '/other/z', { headers: { 'x-other-key': 'only-k3' } });
    expect(ok.status).toBe(200);
    expect(ok.body).toBe('BACKEND /OTHER/Z TAG=FROM-LOCATION');
  });

  test('a plugin that throws: 500, one error line with its name and first frame; both workers go on', async () => {
    const pids = workerPids(gw.child.pid!);
    const round = async () => {
      for (let i = 0; i < 6; i++) expect((await request(port, '/api/x', { headers: { 'x-api-key': 'k1', 'x-boom': '1' } })).status).toBe(500);
      for (let i = 0; i < 12; i++) {
        const r = await request(port, '/api/x', { headers: { 'x-api-key': 'k2', connection: 'close' } });
        expect(r.status).toBe(200);
        expect(pids).toContain(Number(r.headers['x-worker']));
      }
    };
    // A first round warms both workers (their idle connections to the backend), then the baseline.
    await round();
    await until(() => false, 10);
    const before = fdTotal(pids);
    await round();
    expect(await until(() => /\[error\] .*plugin "thrower" in access failed: plugin boom at .*thrower\.js:6:\d+/.test(gw.stderr()))).toBe(true);
    expect(workerPids(gw.child.pid!)).toEqual(pids);
    expect(await until(() => fdTotal(pids) <= before, 100)).toBe(true);
  });
});

describe('plugins at gateway -t', () => {
  test('an option its schema refuses: one line at file:line:column', async () => {
    const gwConf = `http:\n  servers:\n    - listen: 127.0.0.1:0\n      plugins:\n        key-auth: { keys: [] }\n      locations:\n        - { location: /, return: 200 }\n`;
    const prefix = makePrefix({ 'handlers/key-auth.ts': KEY_AUTH, 'conf/t.yaml': gwConf });
    const out = await runCli(['-t', '-p', prefix, '-c', path.join(prefix, 'conf/t.yaml')]);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/^gateway: \[emerg\] plugin "key-auth": option "keys" must NOT have fewer than 1 items in \S*t\.yaml:5:27$/m);
    expect(out.stderr.trim().split('\n').filter((l) => l.includes('key-auth'))).toHaveLength(1);
  });
  test('a plugin module that does not load', async () => {
    const prefix = makePrefix({ 'handlers/bad.js': 'module.exports = {', 'conf/t.yaml': 'http:\n  plugins:\n    bad:\n  servers:\n    - listen: 127.0.0.1:0\n' });
    const out = await runCli(['-t', '-p', prefix, '-c', path.join(prefix, 'conf/t.yaml')]);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/plugin "bad" does not load: .* in \S*t\.yaml:3:5$/m);
  });
});

describe('plugins across a reload', () => {
  test('a request in flight finishes with the old code in its old worker, a WebSocket opened before goes on there; new requests and WebSockets get the new code', async () => {
    let releaseSlow: (() => void) | null = null;
    const backend = http.createServer((req, res) => {
      if (req.url === '/slow') {
        // The header goes out only once the test says: the header filter of the old code runs after the reload.
        releaseSlow = () => res.writeHead(200, { 'Content-Type': 'text/plain' }).end('slow');
        return;
      }
      res.end('quick');
    });
    // A WebSocket backend that answers with the version the plugin's access handler sent at the upgrade.
    const wss = new WebSocketServer({ noServer: true });
    backend.on('upgrade', (req, socket, head) =>
      wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data) => ws.send(`${String(req.headers['x-plugin-version'])} ${String(data)}`))),
    );
    await listen(backend);
    const gateway = await startGateway(
      `worker_processes: 2\nerror_log: stderr notice\nhttp:\n  access_log: "off"\n  plugins:\n    version:\n  servers:\n    - listen: 127.0.0.1:0\n      locations:\n        - { location: /, proxy_pass: "http://127.0.0.1:${portOf(backend)}" }\n        - location: /ws\n          proxy_pass: "http://127.0.0.1:${portOf(backend)}"\n          proxy_http_version: "1.1"\n          proxy_set_header: ["Upgrade $http_upgrade", "Connection $connection_upgrade"]\n`,
      { files: { 'handlers/version.js': VERSION('v1') } },
    );
    try {
      const port = gateway.ports[0];
      expect((await request(port, '/')).headers['x-plugin-version']).toBe('v1');
      const oldPids = workerPids(gateway.child.pid!);
      const oldWs = await openWs(port);
      expect(await echo(oldWs, 'a')).toBe('v1 a');
      const inFlight = request(port, '/slow');
      expect(await until(() => releaseSlow !== null)).toBe(true);
      writeFileSync(path.join(gateway.prefix, 'handlers/version.js'), VERSION('v2'));
      expect((await runCli(['-p', gateway.prefix, '-c', 'conf/test.yaml', '-s', 'reload'], gateway.prefix)).code).toBe(0);
      expect(await until(() => gateway.stderr().includes('new worker processes ready'), 250)).toBe(true);
      // New requests: the new workers, the new code.
      for (let i = 0; i < 4; i++) {
        const r = await request(port, '/', { headers: { connection: 'close' } });
        expect(r.headers['x-plugin-version']).toBe('v2');
      }
      const newPids = workerPids(gateway.child.pid!).filter((p) => !oldPids.includes(p));
      expect(newPids.length).toBeGreaterThanOrEqual(2);
      const newWs = await openWs(port);
      expect(await echo(newWs, 'b')).toBe('v2 b');
      // The WebSocket opened before the reload goes on, through its old worker.
      expect(await echo(oldWs, 'c')).toBe('v1 c');
      newWs.close();
      // The request in flight: answered by its old worker, its header filter the old code's.
      releaseSlow!();
      const slow = await inFlight;
      expect(slow.status).toBe(200);
      expect(slow.body).toBe('slow');
      expect(slow.headers['x-plugin-version']).toBe('v1');
      expect(await echo(oldWs, 'd')).toBe('v1 d');
      oldWs.close();
      // The old workers leave once done.
      expect(await until(() => oldPids.every((p) => !workerPids(gateway.child.pid!).includes(p)), 250)).toBe(true);
    } finally {
      await gateway.stop();
      for (const client of wss.clients) client.terminate();
      await closeServer(backend);
    }
  });
});
