/**
 * proxy_cache against the real `bin/gateway` with two workers and a real loopback backend:
 * `$upstream_cache_status` through MISS, HIT (a hit in one worker for what the other
 * stored), EXPIRED, REVALIDATED, BYPASS, STALE, UPDATING; one upstream request for a hot miss
 * (`proxy_cache_lock`); what nginx does not store (Set-Cookie, no-store); entries on disk in
 * nginx's layout that survive a restart; a corrupted entry is a miss, never a wrong body; a
 * cache directory that cannot be written is one error line and responses served uncached;
 * `proxy_ignore_client_abort` reads the response to its end (stored), logged as nginx logs it.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { startGateway, waitForWorkers, type GatewayProcess } from './helpers/gateway-process';
import { closeServer, listen, portOf, request, until } from './helpers/proxy-peers';

/** What the backend saw, by path. */
const seen = new Map<string, number>();
let down = false;

const backend = http.createServer((req, res) => {
  const url = req.url ?? '/';
  const n = (seen.get(url) ?? 0) + 1;
  seen.set(url, n);
  if (down) return void req.socket.destroy();
  const headers: Record<string, string> = { 'Content-Type': 'text/plain', 'X-Seen': String(n) };
  const send = (extra: Record<string, string> = {}, status = 200) => res.writeHead(status, { ...headers, ...extra }).end(status === 304 ? undefined : `${url} #${n}`);
  if (url.startsWith('/short')) return send({ 'Cache-Control': 'max-age=1', ETag: '"v1"' });
  if (url.startsWith('/reval')) return req.headers['if-none-match'] === '"v1"' ? send({ 'Cache-Control': 'max-age=1' }, 304) : send({ 'Cache-Control': 'max-age=1', ETag: '"v1"' });
  if (url.startsWith('/slow')) return void setTimeout(() => send({ 'Cache-Control': 'max-age=1' }), 600);
  if (url.startsWith('/cookie')) return send({ 'Set-Cookie': 'a=b' });
  if (url.startsWith('/nostore')) return send({ 'Cache-Control': 'no-store' });
  if (url.startsWith('/paced')) return void res.writeHead(200, { ...headers, 'X-Accel-Limit-Rate': '40000' }).end(Buffer.alloc(60_000, 'p'));
  send();
});

const conf = (backendPort: number, cacheDir = 'cache') => `
worker_processes 2;
error_log stderr info;
events {}
http {
  access_log logs/access.log;
  proxy_cache_path ${cacheDir} levels=1:2 keys_zone=one:1m inactive=1h max_size=10m;
  server {
    listen 127.0.0.1:0;
    add_header X-Cache $upstream_cache_status always;
    add_header X-Pid $pid always;
    location / {
      proxy_pass http://127.0.0.1:${backendPort};
      proxy_cache one;
      proxy_cache_valid 200 1m;
      proxy_cache_bypass $arg_nocache;
      proxy_cache_revalidate on;
      proxy_cache_use_stale error timeout updating;
      proxy_cache_lock on;
      proxy_ignore_client_abort on;
    }
  }
}
`;

/** The entry file of a URI under levels=1:2: md5 of nginx's built-in key, the upstream URL. */
function entryFile(gw: GatewayProcess, uri: string): string {
  const hash = createHash('md5').update(`http://127.0.0.1:${portOf(backend)}${uri}`).digest('hex');
  return path.join(gw.prefix, 'cache', hash.slice(-1), hash.slice(-3, -1), hash);
}

const status = (r: { headers: http.IncomingHttpHeaders }) => r.headers['x-cache'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('proxy_cache in the gateway process', () => {
  let gw: GatewayProcess;
  let port: number;

  beforeAll(async () => {
    await listen(backend);
    gw = await startGateway(conf(portOf(backend)), { confName: 'test.conf', listeners: 2, files: { 'logs/.keep': '' } });
    await waitForWorkers(gw, 2);
    port = gw.ports[0];
  });
  afterAll(async () => {
    await gw?.stop();
    await closeServer(backend);
  });
  beforeEach(() => {
    down = false;
  });

  test('MISS, then HIT in both workers; the entry lies at md5(key) under levels=1:2', async () => {
    const first = await request(port, '/a');
    expect([first.status, status(first), first.body]).toEqual([200, 'MISS', '/a #1']);
    const pids = new Set<string>();
    for (let i = 0; i < 40 && pids.size < 2; i++) {
      const r = await request(port, '/a');
      expect([status(r), r.body]).toEqual(['HIT', '/a #1']);
      pids.add(String(r.headers['x-pid']));
    }
    expect(pids.size).toBe(2);
    expect(seen.get('/a')).toBe(1);
    expect(existsSync(entryFile(gw, '/a'))).toBe(true);
  });

  test('HEAD is fetched as GET and stored; a HEAD hit has no body', async () => {
    const head = await request(port, '/h', { method: 'HEAD' });
    expect([status(head), head.body]).toEqual(['MISS', '']);
    // The entry is renamed into place just after the response went out.
    expect(await until(() => existsSync(entryFile(gw, '/h')))).toBe(true);
    const get = await request(port, '/h');
    expect([status(get), get.body]).toEqual(['HIT', '/h #1']);
  });

  test('EXPIRED once max-age passed; REVALIDATED when the upstream answers 304 to If-None-Match', async () => {
    expect(status(await request(port, '/short'))).toBe('MISS');
    await sleep(1100);
    const expired = await request(port, '/short');
    expect([status(expired), expired.body]).toEqual(['EXPIRED', '/short #2']);
    expect(status(await request(port, '/reval'))).toBe('MISS');
    await sleep(1100);
    const revalidated = await request(port, '/reval');
    expect([revalidated.status, status(revalidated), revalidated.body]).toEqual([200, 'REVALIDATED', '/reval #1']);
    expect(seen.get('/reval')).toBe(2);
    expect(status(await request(port, '/reval'))).toBe('HIT');
  });

  test('BYPASS goes to the upstream and stores what comes back; Set-Cookie and no-store are never stored', async () => {
    expect(status(await request(port, '/b'))).toBe('MISS');
    const bypassed = await request(port, '/b?nocache=1');
    expect(status(bypassed)).toBe('BYPASS');
    for (const url of ['/cookie', '/cookie', '/nostore', '/nostore']) expect(status(await request(port, url))).toBe('MISS');
    expect([seen.get('/cookie'), seen.get('/nostore')]).toEqual([2, 2]);
  });

  test('STALE when the upstream fails (proxy_cache_use_stale error)', async () => {
    expect(status(await request(port, '/short-stale'))).toBe('MISS');
    await sleep(1100);
    down = true;
    const stale = await request(port, '/short-stale');
    expect([stale.status, status(stale), stale.body]).toEqual([200, 'STALE', '/short-stale #1']);
  });

  test('one upstream request for a hot miss (proxy_cache_lock), and UPDATING while an expired entry is fetched again', async () => {
    const replies = await Promise.all(Array.from({ length: 6 }, () => request(port, '/slow')));
    expect(seen.get('/slow')).toBe(1);
    expect(replies.map((r) => r.body)).toEqual(Array(6).fill('/slow #1'));
    expect(replies.filter((r) => status(r) === 'MISS')).toHaveLength(1);
    await sleep(1100);
    const updating = request(port, '/slow');
    await sleep(200);
    const during = await request(port, '/slow');
    expect([status(during), during.body]).toEqual(['UPDATING', '/slow #1']);
    expect(status(await updating)).toBe('EXPIRED');
  });

  test("a hit is paced at the stored header's X-Accel-Limit-Rate, as the miss was (nginx reads a cached header again)", async () => {
    const timed = async () => {
      const start = performance.now();
      const r = await request(port, '/paced');
      return { cache: status(r), length: r.body.length, ms: performance.now() - start };
    };
    const miss = await timed();
    const hit = await timed();
    expect([miss.cache, hit.cache, miss.length, hit.length]).toEqual(['MISS', 'HIT', 60_000, 60_000]);
    // 60,000 bytes at 40,000 a second: about 1.5 s; unpaced, a few milliseconds.
    expect(miss.ms).toBeGreaterThan(900);
    expect(hit.ms).toBeGreaterThan(900);
  });

  test('a corrupted entry is a miss, never a wrong body', async () => {
    expect(status(await request(port, '/c'))).toBe('MISS');
    const file = entryFile(gw, '/c');
    expect(await until(() => existsSync(file))).toBe(true);
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length - 2));
    const truncated = await request(port, '/c');
    expect([status(truncated), truncated.body]).toEqual(['MISS', '/c #2']);
    expect(await until(() => readFileSync(file, 'latin1').endsWith('/c #2'))).toBe(true);
    writeFileSync(file, Buffer.from(readFileSync(file).toString('latin1').replace('/c', '/x'), 'latin1'));
    const foreign = await request(port, '/c');
    expect([status(foreign), foreign.body]).toEqual(['MISS', '/c #3']);
    expect(await until(() => readFileSync(file, 'latin1').endsWith('/c #3'))).toBe(true);
    writeFileSync(file, 'garbage');
    expect((await request(port, '/c')).body).toBe('/c #4');
  });

  test('proxy_ignore_client_abort: a client gone before the header does not abort the upstream: the response is read, stored, and logged 200 as nginx 1.22 logs it', async () => {
    await new Promise<void>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/slow-abort', agent: false });
      req.on('error', () => {});
      setTimeout(() => {
        req.destroy();
        resolve();
      }, 150);
    });
    const log = path.join(gw.prefix, 'logs/access.log');
    expect(await until(() => existsSync(log) && readFileSync(log, 'utf8').includes('"GET /slow-abort HTTP/1.1" 200'), 100)).toBe(true);
    const after = await request(port, '/slow-abort');
    expect([status(after), after.body]).toEqual(['HIT', '/slow-abort #1']);
  });

  test('entries survive a restart', async () => {
    expect(status(await request(port, '/r'))).toBe('MISS');
    await sleep(100);
    await gw.stop(true);
    gw = await startGateway(conf(portOf(backend)), { confName: 'test.conf', listeners: 2, prefix: gw.prefix });
    await waitForWorkers(gw, 2);
    port = gw.ports[0];
    const again = await request(port, '/r');
    expect([status(again), again.body]).toEqual(['HIT', '/r #1']);
  });
});

describe('a cache directory that cannot be written', () => {
  test('one error line, and responses served uncached', async () => {
    await listen(backend);
    // A file where the cache's directory should be: no directory can be made there, even by root.
    const gw = await startGateway(conf(portOf(backend), 'ro/cache'), { confName: 'test.conf', listeners: 2, files: { ro: 'a file' } });
    try {
      const port = gw.ports[0];
      const bodies: string[] = [];
      for (let i = 0; i < 3; i++) bodies.push((await request(port, '/ro')).body);
      expect(bodies).toEqual(['/ro #1', '/ro #2', '/ro #3']);
      await until(() => /not stored/.test(gw.stderr()));
      const lines = gw.stderr().split('\n').filter((l) => l.includes('are not stored'));
      expect(lines.length).toBeGreaterThanOrEqual(1);
      expect(lines.length).toBeLessThanOrEqual(2); // one per worker at most
      expect(lines[0]).toMatch(/\[error\] .*mkdir\(\) ".*ro\/cache.*" failed \(20: not a directory\)/i);
    } finally {
      await gw.stop();
      await closeServer(backend);
    }
  });
});

describe("nginx's built-in key (no proxy_cache_key): the upstream URL", () => {
  test('an upstream by name, the location prefix replaced, the arguments kept', async () => {
    await listen(backend);
    const named = `
error_log stderr info;
events {}
http {
  proxy_cache_path cache levels=1:2 keys_zone=one:1m;
  upstream be { server 127.0.0.1:${portOf(backend)}; }
  server {
    listen 127.0.0.1:0;
    location /pre/ { proxy_pass http://be/x/; proxy_cache one; proxy_cache_valid 200 1m; }
  }
}
`;
    const gw = await startGateway(named, { confName: 'test.conf' });
    try {
      await request(gw.ports[0], '/pre/a?q=1');
      const hash = createHash('md5').update('http://be/x/a?q=1').digest('hex');
      const file = path.join(gw.prefix, 'cache', hash.slice(-1), hash.slice(-3, -1), hash);
      expect(await until(() => existsSync(file))).toBe(true);
      expect(readFileSync(file, 'latin1')).toContain('"key":"http://be/x/a?q=1"');
    } finally {
      await gw.stop();
      await closeServer(backend);
    }
  });
});
