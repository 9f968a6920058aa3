/**
 * Phase scripts (issue 16, items 1 and 2) with the gateway as a process and two workers: an
 * access script in front of the built-in proxy to a real backend, a rewrite script that routes
 * by a header (setUri jump), header and body filters on a large proxied response streamed chunk
 * by chunk, a log script, capture of another location, exec, exit(403) under satisfy any beside
 * allow/deny, `ctx` across phases, and the bad scripts: a throw, a rejection, one that never
 * settles, a body filter that throws once the header went out; descriptors back to baseline.
 */
import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import WebSocket from 'ws';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ROOT, makePrefix, runCli, startGateway, type GatewayProcess } from './helpers/gateway-process';
import { request } from './helpers/http-client';
import { fdTotal, workerPids } from './helpers/push-clients';

const SCRIPTS: Record<string, string> = {
  'scripts/route.js': `module.exports = { run(r) { if (r.header('x-version') === '2') { r.ctx.routed = 'v2'; r.setUri('/v2' + r.uri, true); } r.ctx.routed = 'v1'; } };`,
  'scripts/v2.js': `module.exports = { run(r) { r.say('v2 routed=' + r.ctx.routed + ' uri=' + r.uri); } };`,
  'scripts/ctx-content.js': `module.exports = { run(r) { r.say('routed=' + r.ctx.routed + ' uri=' + r.uri + ' method=' + r.method); } };`,
  'scripts/headers.ts': `export default { run(r: any, o: any) { r.setResponseHeader('X-Filtered', o.mark); r.setResponseHeader('X-Backend-Secret', null); if (r.status === 404) r.status = 410; } };`,
  'scripts/capture.js': `module.exports = { async run(r) { r.var.my_tag = 'tagged'; const a = await r.capture('/inner', { args: { x: 'cap' } }); const b = await r.capture('/missing'); const c = await r.capture('/api/posted', { method: 'POST', body: 'sub body', headers: { 'X-Api-Key': 'k1' } }); r.say(a.status, ' ', a.body.toString().trim(), ' ', b.status, ' ', c.body.toString()); } };`,
  'scripts/exec.js': `module.exports = { run(r) { r.exec('/inner', { x: 'exec' }); } };`,
  'scripts/deny.js': `module.exports = { run(r) { if (!r.header('x-let-in')) r.exit(403); } };`,
  'scripts/count.js': `let n = 0; module.exports = { run(r) { n++; r.log.notice('log_by count=' + n + ' status=' + r.entry.status + ' bytes=' + r.entry.bodyBytesSent + ' uri=' + r.var.uri + ' tag=' + r.var.my_tag + ' type=' + r.responseHeader('content-type') + ' st=' + r.status); } };`,
  'scripts/throw.js': `module.exports = {\n  run(r) {\n    throw new Error('boom in access');\n  },\n};\n`,
  'scripts/reject.js': `module.exports = { async run(r) { await new Promise((res) => setTimeout(res, 5)); throw new Error('late boom'); } };`,
  'scripts/never.js': `module.exports = { run(r) { return new Promise(() => {}); } };`,
  'scripts/filter-throw.js': `let seen = 0; module.exports = { bodyFilter(chunk) { seen += chunk.length; if (seen > 200000) throw new Error('filter boom'); return chunk; } };`,
  'scripts/body-echo.js': `module.exports = { async run(r) { const body = await r.readBody(); r.setResponseHeader('X-Length', body.length); r.exit(201, 'got ' + body.toString()); } };`,
  'scripts/eof.js': `module.exports = { async run(r) { r.say('first'); await r.flush(); await r.sleep(0.05); r.print('second'); r.eof(); await r.sleep(0.05); r.log.notice('after eof ' + r.uri); } };`,
  'scripts/keep.js': `module.exports = { keepsLength: true, bodyFilter(chunk) { return chunk.toString().toUpperCase(); } };`,
  'scripts/keep-lies.js': `module.exports = { keepsLength: true, bodyFilter(chunk) { return chunk.subarray(1); } };`,
  'scripts/set-header.js': `module.exports = { run(r) { r.setHeader('X-From-Script', 'yes'); r.setUriArgs({ a: 1, b: 'x y' }); } };`,
};

const BIG_CHUNKS = 32;
const CHUNK = Buffer.alloc(64 * 1024, 'abcdefgh');

describe('phase scripts, gateway process with two workers', () => {
  let backend: http.Server;
  let backendPort = 0;
  let gw: GatewayProcess;
  let port = 0;
  const seen: http.IncomingHttpHeaders[] = [];
  /** Resolves the backend's pause in the middle of /big. */
  let releaseBig: (() => void) | null = null;
  let startBaseline = 0;

  beforeAll(async () => {
    backend = http.createServer((req, res) => {
      seen.push(req.headers);
      if (req.url!.startsWith('/shout/big')) {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Backend-Secret': 's3', 'Content-Length': CHUNK.length * BIG_CHUNKS });
        let sent = 0;
        const more = () => {
          while (sent < BIG_CHUNKS) {
            sent++;
            const ok = res.write(CHUNK);
            // Half way, wait for the test: the client must have had the first half by then.
            if (sent === BIG_CHUNKS / 2) return void new Promise<void>((r) => (releaseBig = r)).then(more);
            if (!ok) return void res.once('drain', more);
          }
          res.end();
        };
        more();
        return;
      }
      if (req.url!.startsWith('/shout/missing')) {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('not here');
        return;
      }
      const body: Buffer[] = [];
      req.on('data', (c: Buffer) => body.push(c));
      req.on('end', () => {
        const text = `backend ${req.method} ${req.url}${body.length ? ` ${Buffer.concat(body)}` : ''}`;
        res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Backend-Secret': 's3', 'Content-Length': Buffer.byteLength(text) });
        res.end(text);
      });
    });
    await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
    backendPort = (backend.address() as AddressInfo).port;
    const yaml = `
worker_processes: 2
error_log: stderr notice
handlers_dir: ${path.join(ROOT, 'handlers')}
http:
  access_log: off
  servers:
    - listen: 127.0.0.1:0
      locations:
        - location: /api/
          access_by: { script: api-key, options: { header: X-Api-Key, keys: [k1, k2] } }
          proxy_pass: http://127.0.0.1:${backendPort}
        - location: /route/
          rewrite_by: scripts/route.js
          content_by: scripts/ctx-content.js
        - location: /v2/
          content_by: scripts/v2.js
        - location: /shout/
          header_filter_by: { script: scripts/headers.ts, options: { mark: on } }
          body_filter_by: { script: uppercase-body, options: { trailer: "-- shouted" } }
          proxy_pass: http://127.0.0.1:${backendPort}
        - location: /cap
          content_by: scripts/capture.js
          log_by: scripts/count.js
        - location: /exec
          content_by: scripts/exec.js
        - location: /inner
          return: '200 "inner $arg_x\\n"'
        - location: /sat-deny
          satisfy: any
          deny: all
          access_by: scripts/deny.js
          return_unused_marker: null
        - location: /sat-allow
          satisfy: any
          allow: 127.0.0.1
          access_by: scripts/deny.js
          content_by: scripts/ctx-content.js
        - location: /throw
          access_by: scripts/throw.js
          content_by: scripts/ctx-content.js
        - location: /reject
          content_by: scripts/reject.js
        - location: /never
          script_timeout: 300ms
          access_by: scripts/never.js
          content_by: scripts/ctx-content.js
        - location: /cut/
          body_filter_by: scripts/filter-throw.js
          proxy_pass: http://127.0.0.1:${backendPort}/shout/
        - location: /body
          content_by: scripts/body-echo.js
          client_max_body_size: 100
        - location: /ws
          access_by: { script: api-key, options: { keys: [k1] } }
          handler: websocket-script
          script: echo
        - location: /hf-throw
          header_filter_by: scripts/throw.js
          return: '200 "fine\\n"'
        - location: /gz/
          gzip: on
          gzip_types: text/plain
          gzip_min_length: 1
          body_filter_by: uppercase-body
          proxy_pass: http://127.0.0.1:${backendPort}/shout/
        - location: /eof
          content_by: scripts/eof.js
        - location: /keep/
          body_filter_by: scripts/keep.js
          proxy_pass: http://127.0.0.1:${backendPort}/shout/
        - location: /keep-lies/
          body_filter_by: scripts/keep-lies.js
          proxy_pass: http://127.0.0.1:${backendPort}/shout/
        - location: /hdr/
          rewrite_by: scripts/set-header.js
          proxy_pass: http://127.0.0.1:${backendPort}
`.replace('          return_unused_marker: null\n', '          content_by: scripts/ctx-content.js\n');
    gw = await startGateway(yaml, { files: SCRIPTS });
    port = gw.ports[0];
    // Both workers answer (a script, the proxy) before the baseline is taken: each has opened what it keeps.
    for (let i = 0; i < 8; i++) await Promise.all([request(port, '/route/a'), request(port, '/api/x', { headers: { 'X-Api-Key': 'k1' } })]);
    await new Promise((r) => setTimeout(r, 200));
    startBaseline = fdTotal(workerPids(gw.child.pid!));
  }, 30000);

  afterAll(async () => {
    await gw?.stop();
    await new Promise((r) => backend.close(r));
  });

  test('access_by in front of the proxy: no key 401, a key passes, the key is not sent on', async () => {
    expect((await request(port, '/api/x')).status).toBe(401);
    expect((await request(port, '/api/x', { headers: { 'X-Api-Key': 'nope' } })).status).toBe(401);
    const ok = await request(port, '/api/x?q=1', { headers: { 'X-Api-Key': 'k2' } });
    expect(ok.status).toBe(200);
    expect(ok.body.toString()).toBe('backend GET /api/x?q=1');
    expect(seen.at(-1)!['x-api-key']).toBeUndefined();
  });

  test('rewrite_by routes by a header with setUri(uri, true) (ctx starts anew there, as in OpenResty); ctx is shared with content', async () => {
    expect((await request(port, '/route/a', { headers: { 'X-Version': '2' } })).body.toString()).toBe('v2 routed=undefined uri=/v2/route/a\n');
    expect((await request(port, '/route/a')).body.toString()).toBe('routed=v1 uri=/route/a method=GET\n');
  });

  test('rewrite_by changes request headers and args that the proxy sends on', async () => {
    const res = await request(port, '/hdr/p?old=1');
    expect(res.body.toString()).toBe('backend GET /hdr/p?a=1&b=x%20y');
    expect(seen.at(-1)!['x-from-script']).toBe('yes');
  });

  test('header and body filters on a large proxied response, streamed chunk by chunk', async () => {
    const got = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; beforeRelease: number }>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/shout/big', agent: false }, (res) => {
        const chunks: Buffer[] = [];
        let received = 0;
        let beforeRelease = -1;
        res.on('data', (c: Buffer) => {
          chunks.push(c);
          received += c.length;
          // The first half came through the filter while the backend still holds the second.
          if (beforeRelease === -1 && received >= (CHUNK.length * BIG_CHUNKS) / 2 && releaseBig) {
            beforeRelease = received;
            releaseBig();
          }
        });
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks), beforeRelease }));
      });
      req.on('error', reject);
    });
    expect(got.status).toBe(200);
    expect(got.headers['x-filtered']).toBe('on');
    expect(got.headers['x-backend-secret']).toBeUndefined();
    expect(got.headers['content-length']).toBeUndefined();
    expect(got.beforeRelease).toBeGreaterThanOrEqual((CHUNK.length * BIG_CHUNKS) / 2);
    const text = got.body.toString();
    expect(text.length).toBe(CHUNK.length * BIG_CHUNKS + '-- shouted\n'.length);
    expect(text.startsWith('ABCDEFGH')).toBe(true);
    expect(/[a-z]/.test(text.slice(0, -11))).toBe(false);
    expect(text.endsWith('-- shouted\n')).toBe(true);
  });

  test('a header filter sets the status', async () => {
    const res = await request(port, '/shout/missing');
    expect(res.status).toBe(410);
    expect(res.body.toString()).toBe('NOT HERE-- shouted\n');
  });

  test('capture answers in process; log_by sees the entry', async () => {
    const res = await request(port, '/cap');
    expect(res.body.toString()).toBe('200 inner cap 404 backend POST /api/posted sub body\n');
    await until(() => /log_by count=\d+ status=200 bytes=\d+ uri=\/cap tag=tagged type=text\/plain st=200/.test(gw.stderr()), 'the log_by line');
  });

  test('say, flush, sleep, print, eof; the script goes on after the answer', async () => {
    const res = await request(port, '/eof');
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('first\nsecond');
    await until(() => gw.stderr().includes('after eof /eof'), 'the line after eof');
  });

  test('exec is an internal redirect with its args', async () => {
    expect((await request(port, '/exec')).body.toString()).toBe('inner exec\n');
  });

  test('satisfy any: exit(403) beside deny all refuses, a script that returns lets in; allow first wins', async () => {
    expect((await request(port, '/sat-deny')).status).toBe(403);
    expect((await request(port, '/sat-deny', { headers: { 'X-Let-In': '1' } })).status).toBe(200);
    expect((await request(port, '/sat-allow')).status).toBe(200);
  });

  test('readBody within client_max_body_size; exit with a status and a body', async () => {
    const ok = await request(port, '/body', { method: 'POST', body: 'hello' });
    expect(ok.status).toBe(201);
    expect(ok.body.toString()).toBe('got hello');
    expect(ok.headers['x-length']).toBe('5');
    const big = await request(port, '/body', { method: 'POST', headers: { 'Transfer-Encoding': 'chunked' }, body: 'x'.repeat(500) });
    expect(big.status).toBe(413);
  });

  test('an access script in front of a WebSocket: refused as HTTP without a key, upgraded with one', async () => {
    const refused = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!));
      ws.on('open', () => reject(new Error('upgraded without a key')));
      ws.on('error', () => {});
    });
    expect(refused).toBe(401);
    const echoed = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { 'X-Api-Key': 'k1' } });
      ws.on('open', () => ws.send('ping me'));
      ws.on('message', (data) => {
        resolve(String(data));
        ws.close();
      });
      ws.on('error', reject);
    });
    expect(echoed).toBe('ping me');
  });

  test('a header filter that throws: the 500 page instead of the response, logged', async () => {
    const res = await request(port, '/hf-throw');
    expect(res.status).toBe(500);
    expect(res.body.toString()).toContain('500 Internal Server Error');
    await until(() => /header_filter_by script "scripts\/throw.js" failed: boom in access/.test(gw.stderr()), 'the header filter line');
  });

  test('a body filter feeds gzip: upper-cased, then compressed', async () => {
    const res = await request(port, '/gz/small', { headers: { 'Accept-Encoding': 'gzip' } });
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(res.body).toString()).toBe('BACKEND GET /SHOUT/SMALL');
  });

  test('a script that throws: 500 and one error-log line with its name and first frame', async () => {
    const res = await request(port, '/throw');
    expect(res.status).toBe(500);
    expect(res.body.toString()).toContain('500 Internal Server Error');
    await until(() => /access_by script "scripts\/throw.js" failed: boom in access at .*scripts\/throw.js:3:\d+/.test(gw.stderr()), 'the throw line');
    const lines = gw.stderr().split('\n').filter((l) => l.includes('boom in access') && l.includes('access_by'));
    expect(lines).toHaveLength(1);
    expect((await request(port, '/route/a')).status).toBe(200);
  });

  test('a script that rejects: 500, logged', async () => {
    expect((await request(port, '/reject')).status).toBe(500);
    await until(() => /content_by script "scripts\/reject.js" failed: late boom at /.test(gw.stderr()), 'the reject line');
  });

  test('a script that never settles is bounded by script_timeout', async () => {
    const started = Date.now();
    const res = await request(port, '/never');
    expect(res.status).toBe(500);
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(Date.now() - started).toBeLessThan(5000);
    await until(() => /access_by script "scripts\/never.js" failed: did not settle within script_timeout \(300 ms\)/.test(gw.stderr()), 'the timeout line');
  });

  test('a body filter that throws after the header went out cuts the connection, logged; descriptors back', async () => {
    const baseline = fdTotal(workerPids(gw.child.pid!));
    for (let i = 0; i < 3; i++) {
      const outcome = await new Promise<string>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port, path: '/cut/big', agent: false }, (res) => {
          let n = 0;
          res.on('data', (c: Buffer) => {
            n += c.length;
            if (n >= (CHUNK.length * BIG_CHUNKS) / 2 && releaseBig) releaseBig();
          });
          res.on('end', () => resolve(`ended ${res.statusCode} ${n}`));
          res.on('error', () => resolve(`cut ${res.statusCode} ${n}`));
          res.on('aborted', () => resolve(`cut ${res.statusCode} ${n}`));
        });
        req.on('error', () => resolve('cut'));
      });
      expect(outcome).toMatch(/^cut/);
    }
    await until(() => /body_filter_by script "scripts\/filter-throw.js" failed: filter boom/.test(gw.stderr()), 'the body filter line');
    await until(() => fdTotal(workerPids(gw.child.pid!)) <= baseline, `descriptors back to ${baseline}`);
  });

  test('a body filter that says keepsLength: the backend\'s Content-Length is kept (as nginx keeps it for an OpenResty body filter), the body filtered', async () => {
    const res = await request(port, '/keep/x');
    expect(res.status).toBe(200);
    expect(res.headers['content-length']).toBe(String('backend GET /shout/x'.length));
    expect(res.headers['transfer-encoding']).toBeUndefined();
    expect(res.body.toString()).toBe('BACKEND GET /SHOUT/X');
  });

  test('a body filter that says keepsLength and changes the length: the response is cut, never a wrong length, and logged', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/keep-lies/x' }, (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => (n += c.length));
        res.on('end', () => resolve(`ended ${res.headers['content-length']} ${n}`));
        res.on('aborted', () => resolve(`cut ${res.headers['content-length']} ${n}`));
        res.on('error', () => resolve(`cut ${res.headers['content-length']} ${n}`));
      });
      req.on('error', () => resolve('cut'));
    });
    expect(outcome).toMatch(/^cut/);
    await until(() => /body_filter_by scripts\/keep-lies.js sent \d+ bytes of a body whose Content-Length is 20/.test(gw.stderr()), 'the length line');
  });

  test('after every case above: the workers hold no more descriptors than after start', async () => {
    await until(() => fdTotal(workerPids(gw.child.pid!)) <= startBaseline, `descriptors back to ${startBaseline}`, 10000);
  });
});

describe('phase scripts at gateway -t', () => {
  test('a module that does not load: one line with file:line:column', async () => {
    const prefix = makePrefix({
      'scripts/broken.js': 'module.exports = { run(r) { ',
      'conf/t.yaml': 'http:\n  servers:\n    - listen: 127.0.0.1:0\n      locations:\n        - location: /\n          access_by: scripts/broken.js\n',
    });
    const out = await runCli(['-t', '-p', prefix, '-c', path.join(prefix, 'conf/t.yaml')]);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/script "scripts\/broken\.js" does not load: .* \(module ".*broken\.js"\) in \S*t\.yaml:6:22$/m);
    expect(out.stderr.trim().split('\n').filter((l) => l.includes('broken'))).toHaveLength(1);
  });

  test("a script's configure that throws, and its cx.error at the option's line", async () => {
    const prefix = makePrefix({
      'conf/t.yaml': `handlers_dir: ${path.join(ROOT, 'handlers')}\nhttp:\n  servers:\n    - listen: 127.0.0.1:0\n      locations:\n        - location: /\n          access_by: { script: api-key, options: { keys: 7 } }\n`,
    });
    const out = await runCli(['-t', '-p', prefix, '-c', path.join(prefix, 'conf/t.yaml')]);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(/script "api-key": "keys" must be a list of keys in \S*t\.yaml:7:58$/m);
  });

  test('a script that is not there, and content_by beside another handler', async () => {
    const prefix = makePrefix({
      'conf/t.yaml': 'http:\n  servers:\n    - listen: 127.0.0.1:0\n      locations:\n        - location: /\n          log_by: nothing-here\n',
      'conf/u.yaml': 'http:\n  servers:\n    - listen: 127.0.0.1:0\n      locations:\n        - location: /\n          content_by: x.js\n          proxy_pass: http://127.0.0.1:1\n',
    });
    const t = await runCli(['-t', '-p', prefix, '-c', path.join(prefix, 'conf/t.yaml')]);
    expect(t.stderr).toMatch(/script "nothing-here" not found .* in \S*t\.yaml:6:19$/m);
    const u = await runCli(['-t', '-p', prefix, '-c', path.join(prefix, 'conf/u.yaml')]);
    expect(u.code).toBe(1);
  });
});

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
