/**
 * proxy_cache beside nginx 1.22: one nginx.conf (a location per case, each with its cache
 * directives and `add_header X-Cache $upstream_cache_status always`), run by nginx and by the
 * gateway, each with its own cache directory and its own recording backend; the same request
 * sequence goes to both at the same time (the sleeps that let an entry expire are shared). Per
 * step the status, the response headers (Date and Server apart), the body and
 * `$upstream_cache_status` must be the same, and afterwards what each backend received per path
 * (method and validators, in order: the count of upstream requests). The backend answers per
 * case and per request number with chosen Cache-Control / Expires / X-Accel-Expires /
 * Set-Cookie / Vary / ETag / Last-Modified, or fails (500, a reset) or hangs. Times are only
 * ordered (1 s validities, sleeps past them), never asserted. nginx missing is an error, never a skip.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { makePrefix, startGateway, type GatewayProcess } from '../helpers/gateway-process';
import { freePort, waitForPort } from '../helpers/ports';
import { findNginx } from './pair';

/** What the backend answers: a status, header lines, a body, or a failure. */
interface Answer {
  readonly status?: number;
  readonly headers?: Readonly<Record<string, string | string[]>>;
  /** The body; `#N` (the request's number on this path) by default. */
  readonly body?: string;
  /** Close the connection without an answer. */
  readonly reset?: boolean;
  /** Never answer (the location's proxy_read_timeout decides). */
  readonly hang?: boolean;
  /** Answer this late, ms. */
  readonly delay?: number;
}

/** The backend's answer to the `n`th request (from 1) of a path. */
type Behaviour = (n: number, req: http.IncomingMessage) => Answer;

/** One request of a sequence; `together` sends that many at once (their results compared as a sorted set). */
interface Step {
  readonly path: string;
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Remove the path's entry file first, as an outside process would (a purge, another worker's manager). */
  readonly purge?: boolean;
  /** Wait this long first (after a purge), ms. */
  readonly sleep?: number;
  readonly together?: number;
}

interface Case {
  readonly name: string;
  /** The location's directives besides proxy_pass, proxy_cache and the X-Cache header. */
  readonly conf: string;
  readonly backend: Behaviour;
  readonly steps: readonly Step[];
}

const LAST_MODIFIED = 'Tue, 14 Nov 2023 22:13:20 GMT';
const fixed = (headers: Answer['headers'], extra: Partial<Answer> = {}): Behaviour => () => ({ headers, ...extra });
const get = (p: string, extra: Partial<Step> = {}): Step => ({ path: p, ...extra });
const repeat = (p: string, times: number, extra: Partial<Step> = {}): Step[] => Array.from({ length: times }, () => get(p, extra));
/** An expiry 1 hour ahead, the same string for both sides. */
const inAnHour = new Date(Math.floor(Date.now() / 1000) * 1000 + 3_600_000).toUTCString();
const anHourAgo = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000).toUTCString();
const atInAnHour = String(Math.floor(Date.now() / 1000) + 3600);
/** Fresh for a second, then a failure of `how` (the stale cases). */
const thenFails = (how: Partial<Answer>): Behaviour => (n) => (n === 1 ? { headers: { 'Cache-Control': 'max-age=1' } } : how);

const CASES: readonly Case[] = [
  { name: 'miss-hit', conf: 'proxy_cache_valid 200 10m;', backend: fixed({ 'X-Extra': 'kept' }), steps: repeat('/miss-hit/a', 3) },
  {
    name: 'valid-per-status',
    conf: 'proxy_cache_valid 200 10m; proxy_cache_valid 404 1m;',
    backend: (_n, req) => ({ status: req.url!.endsWith('404') ? 404 : req.url!.endsWith('500') ? 500 : req.url!.endsWith('302') ? 302 : 200, headers: req.url!.endsWith('302') ? { Location: '/x' } : {} }),
    steps: ['/valid-per-status/200', '/valid-per-status/404', '/valid-per-status/500', '/valid-per-status/302'].flatMap((p) => repeat(p, 2)),
  },
  {
    name: 'valid-any',
    conf: 'proxy_cache_valid 200 10m; proxy_cache_valid any 1m;',
    backend: (_n, req) => ({ status: req.url!.endsWith('500') ? 500 : 404 }),
    steps: ['/valid-any/404', '/valid-any/500'].flatMap((p) => repeat(p, 2)),
  },
  {
    name: 'valid-default-codes',
    conf: 'proxy_cache_valid 5m;',
    backend: (_n, req) => ({ status: Number(req.url!.slice(-3)), headers: { Location: '/x' } }),
    steps: ['/valid-default-codes/200', '/valid-default-codes/301', '/valid-default-codes/302', '/valid-default-codes/404'].flatMap((p) => repeat(p, 2)),
  },
  {
    name: 'cache-control',
    conf: '',
    backend: (_n, req) => ({ headers: { 'Cache-Control': decodeURIComponent(req.url!.split('?')[1]) } }),
    steps: ['max-age=60', 'no-cache', 'no-store', 'private', 's-maxage=60', 'max-age=0', 'public, max-age=60', 's-maxage=0, max-age=60', 'no-cache="x", max-age=60', 'must-revalidate'].flatMap((cc) =>
      repeat(`/cache-control/?${encodeURIComponent(cc)}`, 2),
    ),
  },
  {
    name: 'cache-control-over-valid',
    conf: 'proxy_cache_valid 200 10m;',
    backend: (_n, req) => ({ headers: { 'Cache-Control': decodeURIComponent(req.url!.split('?')[1]) } }),
    steps: ['no-cache', 'private', 'max-age=0', 'max-age=60'].flatMap((cc) => repeat(`/cache-control-over-valid/?${encodeURIComponent(cc)}`, 2)),
  },
  {
    name: 'expires',
    conf: '',
    backend: (_n, req) => ({ headers: { Expires: req.url!.endsWith('future') ? inAnHour : req.url!.endsWith('past') ? anHourAgo : 'garbage' } }),
    steps: ['/expires/future', '/expires/past', '/expires/garbage'].flatMap((p) => repeat(p, 2)),
  },
  {
    name: 'x-accel-expires',
    conf: 'proxy_cache_valid 200 10m;',
    backend: (_n, req) => {
      const v = decodeURIComponent(req.url!.split('?')[1]);
      return { headers: { 'X-Accel-Expires': v, 'Cache-Control': 'no-cache' } };
    },
    steps: ['60', '0', `@${atInAnHour}`, '@1000'].flatMap((v) => repeat(`/x-accel-expires/?${encodeURIComponent(v)}`, 2)),
  },
  {
    name: 'x-accel-over-expires',
    conf: '',
    backend: fixed({ 'X-Accel-Expires': '60', Expires: anHourAgo, 'Cache-Control': 'no-store' }),
    steps: repeat('/x-accel-over-expires/a', 2),
  },
  { name: 'set-cookie', conf: 'proxy_cache_valid 200 10m;', backend: fixed({ 'Set-Cookie': 'a=b; Path=/' }), steps: repeat('/set-cookie/a', 2) },
  {
    name: 'ignore-headers',
    conf: 'proxy_cache_valid 200 10m; proxy_ignore_headers Set-Cookie Cache-Control Expires X-Accel-Expires;',
    backend: fixed({ 'Set-Cookie': 'a=b', 'Cache-Control': 'no-store', Expires: anHourAgo, 'X-Accel-Expires': '0' }),
    steps: repeat('/ignore-headers/a', 2),
  },
  {
    name: 'ignore-cache-control-only',
    conf: 'proxy_ignore_headers Cache-Control;',
    backend: fixed({ 'Cache-Control': 'max-age=60', Expires: inAnHour }),
    steps: repeat('/ignore-cache-control-only/a', 2),
  },
  {
    name: 'expired',
    conf: 'proxy_cache_valid 200 1s;',
    backend: fixed({}),
    steps: [get('/expired/a'), get('/expired/a'), get('/expired/a', { sleep: 2100 }), get('/expired/a')],
  },
  {
    name: 'revalidate',
    conf: 'proxy_cache_revalidate on;',
    backend: (n, req) =>
      req.headers['if-none-match'] === '"v1"' || req.headers['if-modified-since'] === LAST_MODIFIED
        ? { status: 304, headers: { 'Cache-Control': 'max-age=1', ETag: '"v1"' } }
        : { headers: { 'Cache-Control': 'max-age=1', ETag: '"v1"', 'Last-Modified': LAST_MODIFIED } },
    steps: [get('/revalidate/a'), get('/revalidate/a'), get('/revalidate/a', { sleep: 2100 }), get('/revalidate/a'), get('/revalidate/a', { sleep: 2100 }), get('/revalidate/a', { headers: { 'If-None-Match': '"v1"' } })],
  },
  {
    name: 'revalidate-changed',
    conf: 'proxy_cache_revalidate on;',
    backend: (n) => ({ headers: { 'Cache-Control': 'max-age=1', 'Last-Modified': LAST_MODIFIED, 'X-N': String(n) } }),
    steps: [get('/revalidate-changed/a'), get('/revalidate-changed/a', { sleep: 2100 }), get('/revalidate-changed/a')],
  },
  {
    name: 'bypass',
    conf: 'proxy_cache_valid 200 10m; proxy_cache_bypass $arg_nocache $http_x_bypass;',
    backend: fixed({}),
    steps: [get('/bypass/a'), get('/bypass/a?nocache=1'), get('/bypass/a'), get('/bypass/b', { headers: { 'X-Bypass': '1' } }), get('/bypass/b'), get('/bypass/c?nocache=0'), get('/bypass/c?nocache=0')],
  },
  {
    name: 'no-cache',
    conf: 'proxy_cache_valid 200 10m; proxy_no_cache $arg_nostore;',
    backend: fixed({}),
    steps: [get('/no-cache/a?nostore=1'), get('/no-cache/a?nostore=1'), get('/no-cache/b?nostore=0'), get('/no-cache/b?nostore=0')],
  },
  {
    name: 'bypass-and-no-cache',
    conf: 'proxy_cache_valid 200 10m; proxy_cache_bypass $arg_x; proxy_no_cache $arg_x;',
    backend: fixed({}),
    steps: [get('/bypass-and-no-cache/a'), get('/bypass-and-no-cache/a?x=1'), get('/bypass-and-no-cache/a')],
  },
  {
    name: 'stale-error',
    conf: 'proxy_cache_use_stale error;',
    backend: thenFails({ reset: true }),
    steps: [get('/stale-error/a'), get('/stale-error/a', { sleep: 2100 }), get('/stale-error/a')],
  },
  {
    name: 'stale-timeout',
    conf: 'proxy_cache_use_stale timeout; proxy_read_timeout 1s;',
    backend: thenFails({ hang: true }),
    steps: [get('/stale-timeout/a'), get('/stale-timeout/a', { sleep: 2100 })],
  },
  {
    name: 'stale-http-500',
    conf: 'proxy_cache_use_stale http_500;',
    backend: thenFails({ status: 500, headers: { 'Cache-Control': 'max-age=60' } }),
    steps: [get('/stale-http-500/a'), get('/stale-http-500/a', { sleep: 2100 }), get('/stale-http-500/a')],
  },
  {
    name: 'no-stale',
    conf: 'proxy_cache_use_stale off;',
    backend: thenFails({ status: 500 }),
    steps: [get('/no-stale/a'), get('/no-stale/a', { sleep: 2100 })],
  },
  {
    name: 'updating',
    conf: 'proxy_cache_use_stale updating;',
    backend: (n) => ({ headers: { 'Cache-Control': 'max-age=1' }, delay: n === 1 ? 0 : 600 }),
    steps: [get('/updating/a'), get('/updating/a', { sleep: 2100, together: 3 }), get('/updating/a')],
  },
  {
    name: 'background-update',
    conf: 'proxy_cache_use_stale updating; proxy_cache_background_update on;',
    backend: (n) => ({ headers: { 'Cache-Control': n === 1 ? 'max-age=1' : 'max-age=60' }, delay: n === 1 ? 0 : 200 }),
    steps: [get('/background-update/a'), get('/background-update/a', { sleep: 2100 }), get('/background-update/a', { sleep: 800 })],
  },
  {
    name: 'lock',
    conf: 'proxy_cache_valid 200 10m; proxy_cache_lock on;',
    backend: fixed({}, { delay: 500 }),
    steps: [get('/lock/a', { together: 4 }), get('/lock/a')],
  },
  {
    name: 'methods',
    conf: 'proxy_cache_valid 200 10m; proxy_cache_methods POST;',
    backend: fixed({}),
    steps: [get('/methods/a', { method: 'POST' }), get('/methods/a', { method: 'POST' }), get('/methods/a'), get('/methods/b', { method: 'PUT' }), get('/methods/b', { method: 'PUT' })],
  },
  {
    name: 'head',
    conf: 'proxy_cache_valid 200 10m;',
    backend: fixed({}),
    steps: [get('/head/a', { method: 'HEAD' }), get('/head/a'), get('/head/a', { method: 'HEAD' }), get('/head/b'), get('/head/b', { method: 'HEAD' })],
  },
  {
    name: 'head-unconverted',
    conf: 'proxy_cache_valid 200 10m; proxy_cache_convert_head off; proxy_cache_key $request_method$request_uri;',
    backend: fixed({}),
    steps: [get('/head-unconverted/a', { method: 'HEAD' }), get('/head-unconverted/a', { method: 'HEAD' }), get('/head-unconverted/a')],
  },
  {
    name: 'min-uses',
    conf: 'proxy_cache_valid 200 10m; proxy_cache_min_uses 2;',
    backend: fixed({}),
    steps: repeat('/min-uses/a', 4),
  },
  {
    name: 'vary',
    conf: 'proxy_cache_valid 200 10m;',
    backend: fixed({ Vary: 'Accept-Encoding' }),
    steps: [
      get('/vary/a', { headers: { 'Accept-Encoding': 'gzip' } }),
      get('/vary/a', { headers: { 'Accept-Encoding': 'gzip' } }),
      get('/vary/a', { headers: { 'Accept-Encoding': 'br' } }),
      get('/vary/a', { headers: { 'Accept-Encoding': 'br' } }),
      get('/vary/a', { headers: { 'Accept-Encoding': 'gzip' } }),
      get('/vary/a'),
    ],
  },
  { name: 'vary-star', conf: 'proxy_cache_valid 200 10m;', backend: fixed({ Vary: '*' }), steps: repeat('/vary-star/a', 2) },
  {
    name: 'headers-kept',
    conf: 'proxy_cache_valid 200 10m;',
    backend: fixed({ ETag: '"e1"', 'Last-Modified': LAST_MODIFIED, 'Cache-Control': 'public, max-age=600', Expires: inAnHour, 'X-Accel-Expires': '600', 'Content-Type': 'text/x-test', 'X-Many': ['1', '2'] }),
    steps: [get('/headers-kept/a'), get('/headers-kept/a'), get('/headers-kept/a', { headers: { 'If-None-Match': '"e1"' } }), get('/headers-kept/a', { headers: { 'If-Modified-Since': LAST_MODIFIED } })],
  },
  {
    name: 'conditional-weak',
    conf: 'proxy_cache_valid 200 10m;',
    backend: fixed({ ETag: 'W/"w1"', 'Last-Modified': LAST_MODIFIED }),
    steps: [
      get('/conditional-weak/a'),
      get('/conditional-weak/a', { headers: { 'If-None-Match': '"w1"' } }),
      get('/conditional-weak/a', { headers: { 'If-None-Match': '"x", W/"w1"' } }),
      get('/conditional-weak/a', { headers: { 'If-None-Match': '*' } }),
      get('/conditional-weak/a', { headers: { 'If-None-Match': '"other"' } }),
      get('/conditional-weak/a', { headers: { 'If-Modified-Since': 'Wed, 15 Nov 2023 22:13:20 GMT' } }),
      get('/conditional-weak/a', { headers: { 'If-Modified-Since': LAST_MODIFIED, 'If-None-Match': '"other"' } }),
    ],
  },
  {
    name: 'preconditions',
    conf: 'proxy_cache_valid 200 10m;',
    backend: fixed({ ETag: '"p1"', 'Last-Modified': LAST_MODIFIED }),
    steps: [
      get('/preconditions/a'),
      get('/preconditions/a', { headers: { 'If-Match': '"p1"' } }),
      get('/preconditions/a', { headers: { 'If-Match': '"other"' } }),
      get('/preconditions/a', { headers: { 'If-Unmodified-Since': 'Mon, 13 Nov 2023 22:13:20 GMT' } }),
      get('/preconditions/a', { headers: { 'If-Unmodified-Since': LAST_MODIFIED, 'If-Match': '*' } }),
    ],
  },
  {
    // nginx's not-modified filter runs on a response being stored (u->cacheable): a MISS answers the client's condition.
    name: 'conditional-miss',
    conf: 'proxy_cache_valid 200 10m;',
    backend: fixed({ ETag: '"m1"', 'Last-Modified': LAST_MODIFIED }),
    steps: [
      get('/conditional-miss/a', { headers: { 'If-None-Match': '"m1"' } }),
      get('/conditional-miss/a'),
      get('/conditional-miss/b', { headers: { 'If-Modified-Since': LAST_MODIFIED } }),
      get('/conditional-miss/b', { headers: { 'If-None-Match': '"m1"' } }),
      get('/conditional-miss/c', { headers: { 'If-Match': '"other"' } }),
      get('/conditional-miss/c'),
      get('/conditional-miss/d', { headers: { 'If-None-Match': '"other"' } }),
      get('/conditional-miss/d', { headers: { 'If-None-Match': '"m1"' } }),
    ],
  },
  {
    // An entry removed from the disk by another process is a MISS, then stored again; the
    // gateway's hits from memory see it within their 100 ms recheck (the sleep).
    name: 'purged',
    conf: 'proxy_cache_valid 200 10m;',
    backend: fixed({ 'X-Extra': 'kept' }),
    steps: [...repeat('/purged/a', 4), get('/purged/a', { purge: true, sleep: 150 }), ...repeat('/purged/a', 2)],
  },
];

function site(prefix: string, cacheDir: string, port: number, backend: number): string {
  const locations = CASES.map(
    (c) => `    location /${c.name}/ {
      proxy_pass http://127.0.0.1:${backend};
      proxy_cache zone;
      add_header X-Cache $upstream_cache_status always;
      ${c.conf}
    }`,
  );
  return `daemon off;
master_process off;
pid ${prefix}/${cacheDir}.pid;
error_log stderr info;
events {}
http {
  access_log off;
  proxy_cache_path ${prefix}/${cacheDir} levels=1:2 keys_zone=zone:1m;
  server {
    listen 127.0.0.1:${port};
${locations.join('\n')}
  }
}
`;
}

/** A backend for one side: it answers by case and counts what it received per path. */
function startBackend(): Promise<{ server: http.Server; port: number; seen: Map<string, string[]> }> {
  const seen = new Map<string, string[]>();
  const hanging = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    res.sendDate = false;
    const url = req.url ?? '/';
    const list = seen.get(url) ?? [];
    seen.set(url, list);
    list.push(`${req.method}${req.headers['if-none-match'] ? ` inm=${req.headers['if-none-match']}` : ''}${req.headers['if-modified-since'] ? ` ims=${req.headers['if-modified-since']}` : ''}`);
    const kase = CASES.find((c) => url.startsWith(`/${c.name}/`));
    const answer = kase ? kase.backend(list.length, req) : { status: 404 };
    req.resume();
    if (answer.reset) return void req.socket.destroy();
    if (answer.hang) {
      hanging.add(res);
      return;
    }
    const send = () => {
      const status = answer.status ?? 200;
      const headers = { 'Content-Type': 'text/plain', ...answer.headers };
      res.writeHead(status, headers);
      res.end(status === 304 || req.method === 'HEAD' ? undefined : (answer.body ?? `${url} #${list.length}\n`));
    };
    if (answer.delay) setTimeout(send, answer.delay);
    else send();
  });
  server.on('close', () => hanging.forEach((r) => r.destroy()));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port, seen })));
}

/** One request; its status, its headers (Date and Server apart, sorted) and its body as a text. */
function exchange(port: number, step: Step): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: step.path, method: step.method ?? 'GET', headers: step.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const lines: string[] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          const name = res.rawHeaders[i].toLowerCase();
          if (name !== 'date' && name !== 'server') lines.push(`${name}: ${res.rawHeaders[i + 1]}`);
        }
        // A built-in page's signature (nginx/1.22.1, gateway/x.y.z) left out, and its length with it.
        const body = Buffer.concat(chunks).toString('latin1');
        const page = body.replace(/<hr><center>[^<]*<\/center>/, '<hr>');
        const fields = lines.map((l) => (page !== body && l.startsWith('content-length: ') ? `content-length: ${page.length} (signature apart)` : l));
        resolve(`${res.statusCode}\n${fields.sort().join('\n')}\n\n${page}`);
      });
      res.on('error', reject);
    });
    req.on('error', (err) => resolve(`error ${(err as NodeJS.ErrnoException).code}`));
    req.setTimeout(10000, () => req.destroy());
    req.end(step.method === 'POST' || step.method === 'PUT' ? 'body' : undefined);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The entry file of a key in a side's cache directory (levels=1:2). Without proxy_cache_key
 * the key is the upstream URL on both sides (nginx's ngx_http_proxy_create_key:
 * `http://127.0.0.1:port/uri`), not the documented `$scheme$proxy_host$request_uri`.
 */
function entryFile(dir: string, key: string): string {
  const hash = createHash('md5').update(key).digest('hex');
  return path.join(dir, hash.slice(-1), hash.slice(-3, -1), hash);
}

/** A case's steps against one side (`entryOf` names its entry files), each step's text. */
async function run(port: number, steps: readonly Step[], entryOf: (uri: string) => string): Promise<string[]> {
  const out: string[] = [];
  for (const [i, step] of steps.entries()) {
    if (step.purge) rmSync(entryOf(step.path), { force: true });
    if (step.sleep) await sleep(step.sleep);
    const label = `#${i + 1} ${step.method ?? 'GET'} ${step.path} ${JSON.stringify(step.headers ?? {})}`;
    if (step.together) {
      const all = await Promise.all(Array.from({ length: step.together }, () => exchange(port, step)));
      out.push(`${label} x${step.together}\n${all.sort().join('\n---\n')}`);
    } else out.push(`${label}\n${await exchange(port, step)}`);
  }
  return out;
}

describe('proxy_cache beside nginx 1.22', () => {
  let prefix: string;
  let nginx: ChildProcess;
  let gateway: GatewayProcess;
  const backends: Awaited<ReturnType<typeof startBackend>>[] = [];
  const ports = { nginx: 0, gateway: 0 };

  beforeAll(async () => {
    prefix = makePrefix();
    backends.push(await startBackend(), await startBackend());
    ports.nginx = await freePort();
    writeFileSync(path.join(prefix, 'nginx.conf'), site(prefix, 'nginx-cache', ports.nginx, backends[0].port));
    const binary = findNginx();
    const check = spawnSync(binary, ['-t', '-p', `${prefix}/`, '-c', `${prefix}/nginx.conf`, '-e', 'stderr'], { encoding: 'utf8' });
    if (check.status !== 0) throw new Error(`nginx rejects the configuration:\n${check.stderr}`);
    nginx = spawn(binary, ['-p', `${prefix}/`, '-c', `${prefix}/nginx.conf`, '-e', 'stderr'], { stdio: ['ignore', 'ignore', 'ignore'] });
    await waitForPort(ports.nginx, nginx);
    ports.gateway = await freePort();
    gateway = await startGateway(site(prefix, 'gateway-cache', ports.gateway, backends[1].port), { prefix, confName: 'test.conf' });
  }, 60000);

  afterAll(async () => {
    nginx?.kill('SIGTERM');
    await gateway?.stop();
    for (const b of backends) b.server.close();
    if (prefix) rmSync(prefix, { recursive: true, force: true });
  });

  test.each(CASES.map((c) => [c.name, c] as const))('%s: every response and what the backend received as with nginx', async (_name, kase) => {
    const [expected, actual] = await Promise.all([
      run(ports.nginx, kase.steps, (uri) => entryFile(path.join(prefix, 'nginx-cache'), `http://127.0.0.1:${backends[0].port}${uri}`)),
      run(ports.gateway, kase.steps, (uri) => entryFile(path.join(prefix, 'gateway-cache'), `http://127.0.0.1:${backends[1].port}${uri}`)),
    ]);
    for (let i = 0; i < expected.length; i++) expect(actual[i]).toBe(expected[i]);
    const received = (seen: Map<string, string[]>) => [...seen].filter(([url]) => url.startsWith(`/${kase.name}/`)).sort(([a], [b]) => a.localeCompare(b));
    expect(received(backends[1].seen)).toEqual(received(backends[0].seen));
  }, 30000);
});
