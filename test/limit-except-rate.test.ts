/**
 * `limit_except`, `limit_rate`, `limit_rate_after`, `$limit_rate` and `proxy_limit_rate` with the
 * gateway as a process over loopback: an unlisted method served with the block's access rules
 * or auth_basic (403, 401), listed ones (HEAD with GET) with the location's; nginx's checks at
 * load; bodies paced (lower bounds only, generous slack), a rate of 0 unpaced, a variable rate;
 * a fast backend read at proxy_limit_rate.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { makePrefix, runCli, startGateway, type GatewayProcess } from './helpers/gateway-process';
import { request } from './helpers/http-client';

const KB = 1024;
const BIG = Buffer.alloc(200 * KB, 'x');

/** A backend answering every request with `BIG` at once. */
function fastBackend(): Promise<http.Server> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': BIG.length });
    res.end(BIG);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** The rate the access log gave `uri` (`$limit_rate` once the response is over). */
async function loggedRate(gw: GatewayProcess, uri: string): Promise<string | undefined> {
  for (let i = 0; i < 50; i++) {
    const line = readFileSync(path.join(gw.prefix, 'logs/rates.log'), 'utf8').split('\n').find((l) => l.startsWith(`${uri} `));
    if (line) return line.slice(uri.length + 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return undefined;
}

/** The time a GET of `path` takes to be read whole, in ms, and the body. */
async function timed(port: number, path: string): Promise<{ ms: number; body: Buffer; status: number }> {
  const start = performance.now();
  const res = await request(port, path);
  return { ms: performance.now() - start, body: res.body, status: res.status };
}

describe('limit_except', () => {
  let gw: GatewayProcess;
  let port: number;
  beforeAll(async () => {
    gw = await startGateway(
      `
error_log: stderr info
pid: off
http:
  access_log: "off"
  default_type: text/plain
  servers:
    - listen: "127.0.0.1:0"
      root: site
      locations:
        - location: /get-only/
          limit_except: { methods: GET, deny: all }
        - location: /post-local/
          limit_except: { methods: POST, allow: 127.0.0.1, deny: all }
        - location: /auth/
          limit_except: { methods: GET, auth_basic: closed, auth_basic_user_file: users }
        - location: /returns
          return: "200 'location\\n'"
          limit_except: { methods: POST, allow: all }
`,
      { files: { 'site/get-only/a.txt': 'a\n', 'site/post-local/a.txt': 'b\n', 'site/auth/a.txt': 'c\n', 'conf/users': 'u:{PLAIN}pw\n' } },
    );
    port = gw.ports[0];
  });
  afterAll(() => gw?.stop());

  test('an unlisted method gets the block\'s deny (403); GET and HEAD pass', async () => {
    expect(await request(port, '/get-only/a.txt')).toMatchObject({ status: 200, body: Buffer.from('a\n') });
    expect((await request(port, '/get-only/a.txt', { method: 'HEAD' })).status).toBe(200);
    const post = await request(port, '/get-only/a.txt', { method: 'POST', body: 'x' });
    expect(post.status).toBe(403);
    expect(post.body.toString()).toContain('<title>403 Forbidden</title>');
    expect((await request(port, '/get-only/a.txt', { method: 'DELETE' })).status).toBe(403);
  });

  test('the block\'s allow lets the client in: served with the location\'s handler', async () => {
    // GET is not listed: the block's rules (127.0.0.1 allowed) apply, then the static handler.
    expect(await request(port, '/post-local/a.txt')).toMatchObject({ status: 200, body: Buffer.from('b\n') });
  });

  test('auth_basic in the block: 401 for an unlisted method, credentials pass, GET needs none', async () => {
    const refused = await request(port, '/auth/a.txt', { method: 'PUT', body: 'x' });
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toBe('Basic realm="closed"');
    const authorization = `Basic ${Buffer.from('u:pw').toString('base64')}`;
    // PUT passes the access phase; the static handler then refuses the method, as nginx's (405).
    expect((await request(port, '/auth/a.txt', { method: 'PUT', body: 'x', headers: { authorization } })).status).toBe(405);
    expect((await request(port, '/auth/a.txt')).status).toBe(200);
    expect((await request(port, '/auth/a.txt', { method: 'HEAD' })).status).toBe(200);
  });

  test('the block keeps none of the location\'s rewrite directives, as nginx\'s merge (a limited GET is not answered by `return`)', async () => {
    expect(await request(port, '/returns', { method: 'POST', body: 'x' })).toMatchObject({ status: 200, body: Buffer.from('location\n') });
    expect((await request(port, '/returns')).status).toBe(404);
  });
});

describe('limit_except at load', () => {
  const check = async (location: string): Promise<string> => {
    const prefix = makePrefix({ 'conf/site.conf': `events {}\nhttp { server { listen 127.0.0.1:1; ${location} } }\n` });
    const out = await runCli(['-t', '-p', prefix, '-c', `${prefix}/conf/site.conf`]);
    expect(out.code).toBe(1);
    return out.stderr;
  };
  test('nginx\'s refusals, with the line', async () => {
    expect(await check('location / { limit_except FOO { deny all; } }')).toMatch(/invalid method "FOO" in .*site\.conf:2/);
    expect(await check('location / { limit_except GET { deny all; } limit_except POST { deny all; } }')).toMatch(/"limit_except" directive is duplicate in .*site\.conf:2/);
    expect(await check('location / { limit_except GET { root /x; } }')).toMatch(/"root" directive is not allowed here in .*site\.conf:2/);
    expect(await check('location / { limit_except GET { limit_rate 1k; } }')).toMatch(/"limit_rate" directive is not allowed here/);
    expect(await check('location / { limit_except GET { bogus 1; } }')).toMatch(/unknown directive "bogus"/);
    expect(await check('location / { limit_except { deny all; } }')).toMatch(/invalid number of arguments in "limit_except" directive/);
    expect(await check('limit_except GET { deny all; }')).toMatch(/"limit_except" directive is not allowed here/);
  });
});

describe('limit_rate and proxy_limit_rate', () => {
  let gw: GatewayProcess;
  let port: number;
  let backend: http.Server;
  beforeAll(async () => {
    backend = await fastBackend();
    const upstream = `127.0.0.1:${(backend.address() as AddressInfo).port}`;
    gw = await startGateway(
      `
error_log: stderr info
pid: off
http:
  log_format: { rates: '$uri $limit_rate' }
  access_log: logs/rates.log rates
  servers:
    - listen: "127.0.0.1:0"
      root: site
      locations:
        - location: /after/
          limit_rate: 100k
          limit_rate_after: 50k
        - location: /zero/
          limit_rate: 0
        - location: /variable/
          set: $rate 100k
          limit_rate: $rate
        - location: /set/
          set: $limit_rate 100k
        - location: /bad-variable/
          set: $rate fast
          limit_rate: $rate
        - location: /proxied/
          proxy_pass: http://${upstream}/
          proxy_limit_rate: 100k
        - location: /unbuffered/
          proxy_pass: http://${upstream}/
          proxy_buffering: "off"
          limit_rate: 100k
        - location: /shown
          limit_rate: 10k
          return: "200 $limit_rate"
`,
      { files: { 'site/after/big.bin': BIG, 'site/zero/big.bin': BIG, 'site/variable/big.bin': BIG, 'site/set/big.bin': BIG, 'site/bad-variable/big.bin': BIG } },
    );
    port = gw.ports[0];
  });
  afterAll(async () => {
    await gw?.stop();
    await new Promise((resolve) => backend?.close(resolve));
  });

  test('200 KB at 100k after 50k: the whole body, in no less than ~1.2 s (nginx 1.22: 1.42 s)', async () => {
    const { ms, body, status } = await timed(port, '/after/big.bin');
    expect(status).toBe(200);
    expect(body.equals(BIG)).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(1200);
    expect(await loggedRate(gw, '/after/big.bin')).toBe(String(100 * KB));
  });

  test('limit_rate 0 is no limit', async () => {
    const { body } = await timed(port, '/zero/big.bin');
    expect(body.equals(BIG)).toBe(true);
    expect(await loggedRate(gw, '/zero/big.bin')).toBe('0');
  });

  test('a rate from a variable, and $limit_rate set with `set`: 200 KB at 100k take ~2 s (at least 1.5 s)', async () => {
    const [variable, set] = await Promise.all([timed(port, '/variable/big.bin'), timed(port, '/set/big.bin')]);
    for (const one of [variable, set]) {
      expect(one.body.equals(BIG)).toBe(true);
      expect(one.ms).toBeGreaterThanOrEqual(1500);
    }
    expect(await loggedRate(gw, '/variable/big.bin')).toBe(String(100 * KB));
    expect(await loggedRate(gw, '/set/big.bin')).toBe(String(100 * KB));
  });

  test('a variable that is no size: no limit, and nginx\'s error line', async () => {
    const { body } = await timed(port, '/bad-variable/big.bin');
    expect(body.equals(BIG)).toBe(true);
    expect(gw.stderr()).toContain('invalid size "fast"');
    expect(await loggedRate(gw, '/bad-variable/big.bin')).toBe('0');
  });

  test('$limit_rate reads 0 before the response is paced (nginx computes the rate at the first write)', async () => {
    expect((await request(port, '/shown')).body.toString()).toBe('0');
  });

  test('proxy_limit_rate: a fast backend\'s 200 KB read at 100k (at least 1.5 s), the body whole', async () => {
    const { ms, body, status } = await timed(port, '/proxied/big.bin');
    expect(status).toBe(200);
    expect(body.equals(BIG)).toBe(true);
    expect(ms).toBeGreaterThanOrEqual(1500);
  });

  test('an unbuffered proxied response is not paced by limit_rate (nginx sets it to 0)', async () => {
    const { body } = await timed(port, '/unbuffered/big.bin');
    expect(body.equals(BIG)).toBe(true);
    expect(await loggedRate(gw, '/unbuffered/big.bin')).toBe('0');
  });
});
