/**
 * Parity: limit_req and limit_conn (ngx_http_limit_req_module, ngx_http_limit_conn_module)
 * against nginx 1.22. Rates are per minute where a sequence must not leak between requests,
 * so each request's fate depends on the count alone: PASSED then REJECTED (503, or
 * `limit_req_status`), burst with nodelay, `delay=`, dry run, a real delay, several limits, an
 * empty key, `error_page 503`, "could not allocate node" (a key larger than the zone's pages),
 * `$limit_req_status` and `$limit_conn_status` through `add_header ... always`. Then the error
 * log lines, and limit_conn with a request held by a slow backend.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { exchange, requestBytes } from './client';
import { startPair, type Pair } from './pair';
import { defineParityCases, type ParityRequest } from './run';
import { loc } from './site';

const STATUS_HEADERS = { add_header: ['X-Req $limit_req_status always', 'X-Conn $limit_conn_status always'] };
const BIG = 'b'.repeat(7000);

const hasIpv6 = Object.values(os.networkInterfaces()).some((list) => list?.some((i) => i.family === 'IPv6' && i.address === '::1'));

const get = (name: string, target: string, extra: Partial<ParityRequest> = {}): ParityRequest => ({ name, target, ...extra });

defineParityCases([
  {
    title: 'limit_req: statuses, headers and bodies',
    site: {
      http: {
        limit_req_zone: [
          '$binary_remote_addr zone=plain:1m rate=1r/m',
          '$binary_remote_addr zone=status:1m rate=1r/m',
          '$binary_remote_addr zone=burst:1m rate=1r/m',
          '$binary_remote_addr zone=dry:1m rate=1r/m',
          '$binary_remote_addr zone=delaydry:1m rate=1r/m',
          '$binary_remote_addr zone=delay1:1m rate=1r/m',
          '$binary_remote_addr zone=slow:1m rate=1r/m',
          '$binary_remote_addr zone=fast:1m rate=30r/m',
          '$arg_k zone=bykey:1m rate=1r/m',
          '$binary_remote_addr zone=page:1m rate=1r/m',
          '$http_a$http_b$http_c zone=tiny:32k rate=1r/m',
          '$binary_remote_addr zone=halfsec:1m rate=2r/s',
          '$binary_remote_addr zone=inherited:1m rate=1r/m',
          '$binary_remote_addr zone=denied:1m rate=1r/m',
        ],
      },
      servers: [
        {
          directives: { root: 'www', ...STATUS_HEADERS },
          locations: [
            loc('/plain/', { limit_req: 'zone=plain' }),
            loc('/status/', { limit_req: 'zone=status', limit_req_status: '429' }),
            loc('/burst/', { limit_req: 'zone=burst burst=2 nodelay' }),
            loc('/dry/', { limit_req: 'zone=dry', limit_req_dry_run: 'on' }),
            loc('/delaydry/', { limit_req: 'zone=delaydry burst=3', limit_req_dry_run: 'on' }),
            loc('/delay1/', { limit_req: 'zone=delay1 burst=3 delay=1' }),
            loc('/multi/', { limit_req: ['zone=slow burst=1 nodelay', 'zone=fast burst=5 nodelay'] }),
            loc('/bykey/', { limit_req: 'zone=bykey' }),
            loc('/page/', { limit_req: 'zone=page', error_page: '503 /open/busy.html' }),
            loc('/open/'),
            loc('/tiny/', { limit_req: 'zone=tiny' }),
            loc('/halfsec/', { limit_req: 'zone=halfsec burst=5' }),
            loc('= /return', { limit_req: 'zone=plain', return: "200 'return runs first'" }),
            loc('/denied/', { limit_req: 'zone=denied', deny: 'all' }),
          ],
        },
        {
          listen: ['1'],
          directives: { root: 'www', limit_req: 'zone=inherited', ...STATUS_HEADERS },
          locations: [loc('/inherits/'), loc('/own/', { limit_req_status: '444' })],
        },
      ],
    },
    files: {
      'www/plain/a.txt': 'plain\n',
      'www/status/a.txt': 'status\n',
      'www/burst/a.txt': 'burst\n',
      'www/dry/a.txt': 'dry\n',
      'www/delaydry/a.txt': 'delay dry\n',
      'www/delay1/a.txt': 'delay1\n',
      'www/multi/a.txt': 'multi\n',
      'www/bykey/a.txt': 'bykey\n',
      'www/page/a.txt': 'page\n',
      'www/open/busy.html': '<p>busy, come back later</p>\n',
      'www/tiny/a.txt': 'tiny\n',
      'www/halfsec/a.txt': 'half a second\n',
      'www/inherits/a.txt': 'inherits\n',
      'www/own/a.txt': 'own\n',
    },
    requests: [
      get('1r/m: the first request passes', '/plain/a.txt'),
      get('1r/m: the second is refused with 503 and REJECTED', '/plain/a.txt'),
      get('1r/m: a HEAD refused too', '/plain/a.txt', { method: 'HEAD' }),
      get('return runs in the rewrite phase, before limit_req', '/return'),
      get('limit_req_status 429: first', '/status/a.txt'),
      get('limit_req_status 429: then 429', '/status/a.txt'),
      get('burst=2 nodelay: 1', '/burst/a.txt'),
      get('burst=2 nodelay: 2 passes at once', '/burst/a.txt'),
      get('burst=2 nodelay: 3 passes at once', '/burst/a.txt'),
      get('burst=2 nodelay: 4 is over the burst', '/burst/a.txt'),
      get('dry run: first', '/dry/a.txt'),
      get('dry run: over the rate, served, REJECTED_DRY_RUN', '/dry/a.txt'),
      get('dry run with burst: first', '/delaydry/a.txt'),
      get('dry run with burst: would wait, served at once, DELAYED_DRY_RUN', '/delaydry/a.txt'),
      get('delay=1: first', '/delay1/a.txt'),
      get('delay=1: the first excess request goes without delay', '/delay1/a.txt'),
      get('two limits, 1r/m burst=1 and 30r/m burst=5: 1', '/multi/a.txt'),
      get('two limits: 2', '/multi/a.txt'),
      get('two limits: 3 is over the slow one', '/multi/a.txt'),
      get('an empty key is not accounted: 1', '/bykey/a.txt'),
      get('an empty key is not accounted: 2, no status', '/bykey/a.txt'),
      get('a key: 1', '/bykey/a.txt?k=one'),
      get('the same key: refused', '/bykey/a.txt?k=one'),
      get('another key: passes', '/bykey/a.txt?k=two'),
      get('error_page 503: first', '/page/a.txt'),
      get('error_page 503: the custom page', '/page/a.txt'),
      get('a key larger than the zone can hold: could not allocate node, 503', '/tiny/a.txt', { headers: { A: BIG, B: BIG, C: BIG } }),
      get('a small key in that zone passes', '/tiny/a.txt', { headers: { A: 'x' } }),
      get('preaccess before access: a denied client is counted, 403', '/denied/a.txt'),
      get('preaccess before access: then 503 before the 403', '/denied/a.txt'),
      get('2r/s burst=5: first', '/halfsec/a.txt'),
      get('2r/s burst=5: the second really waits (DELAYED)', '/halfsec/a.txt'),
      get('2r/s burst=5: a client that half-closes during its delay gets no answer (499)', '/halfsec/a.txt', { halfClose: true }),
      get('limit_req at server level, inherited: 1', '/inherits/a.txt', { slot: 1 }),
      get('inherited: 2 refused', '/inherits/a.txt', { slot: 1 }),
      get('the same zone in another location of the server: 444 closes', '/own/a.txt', { slot: 1 }),
    ],
  },
  {
    title: 'limit_req keyed by $binary_remote_addr: an IPv6 client and an IPv4 one are two keys',
    unavailable: hasIpv6 ? undefined : 'no IPv6 loopback on this machine',
    site: {
      http: { limit_req_zone: '$binary_remote_addr zone=addr:1m rate=1r/m' },
      servers: [
        { listen: ['[::1]:0'], directives: { root: 'www', limit_req: 'zone=addr', ...STATUS_HEADERS }, locations: [loc('/a/')] },
        { listen: ['1'], directives: { root: 'www', limit_req: 'zone=addr', ...STATUS_HEADERS }, locations: [loc('/a/')] },
      ],
    },
    files: { 'www/a/a.txt': 'a\n' },
    requests: [
      get('::1: first', '/a/a.txt'),
      get('::1: second refused', '/a/a.txt'),
      get('127.0.0.1, the same zone: its own bucket', '/a/a.txt', { slot: 1 }),
      get('127.0.0.1: second refused', '/a/a.txt', { slot: 1 }),
    ],
  },
  {
    title: 'limit_req after realip: the key is the real client',
    site: {
      http: { limit_req_zone: '$binary_remote_addr zone=real:1m rate=1r/m', set_real_ip_from: '127.0.0.1', real_ip_header: 'X-Forwarded-For' },
      servers: [{ directives: { root: 'www', limit_req: 'zone=real', ...STATUS_HEADERS }, locations: [loc('/a/')] }],
    },
    files: { 'www/a/a.txt': 'a\n' },
    requests: [
      get('client 10.0.0.1 through the balancer: first', '/a/a.txt', { headers: { 'X-Forwarded-For': '10.0.0.1' } }),
      get('client 10.0.0.1: refused', '/a/a.txt', { headers: { 'X-Forwarded-For': '10.0.0.1' } }),
      get('client 10.0.0.2 through the same balancer: its own bucket', '/a/a.txt', { headers: { 'X-Forwarded-For': '10.0.0.2' } }),
      get('IPv6 client 2001:db8::1: its own bucket', '/a/a.txt', { headers: { 'X-Forwarded-For': '2001:db8::1' } }),
      get('IPv6 client 2001:db8::1: refused', '/a/a.txt', { headers: { 'X-Forwarded-For': '2001:db8::1' } }),
    ],
  },
  {
    title: 'limit_conn: sequential requests each release their slot',
    site: {
      http: { limit_conn_zone: ['$binary_remote_addr zone=addr:1m', '$arg_k zone=bykey:1m', '$http_x_key zone=byheader:1m'] },
      servers: [
        {
          directives: { root: 'www', ...STATUS_HEADERS },
          locations: [loc('/one/', { limit_conn: 'addr 1' }), loc('/bykey/', { limit_conn: 'bykey 1' }), loc('/byheader/', { limit_conn: 'byheader 1' })],
        },
      ],
    },
    files: { 'www/one/a.txt': 'one\n', 'www/bykey/a.txt': 'bykey\n', 'www/byheader/a.txt': 'byheader\n' },
    requests: [
      get('limit_conn 1: a request passes', '/one/a.txt'),
      get('limit_conn 1: the next one too (the slot was released)', '/one/a.txt'),
      get('an empty key is not counted: no status', '/bykey/a.txt'),
      get('a key: PASSED', '/bykey/a.txt?k=x'),
      get('a key of 255 bytes: counted', '/byheader/a.txt', { headers: { 'X-Key': 'k'.repeat(255) } }),
      get('a key over 255 bytes: not counted, no status', '/byheader/a.txt', { headers: { 'X-Key': 'k'.repeat(256) } }),
    ],
  },
]);

/** A backend that answers after `ms`: a request held that long. */
function slowBackend(ms: number): Promise<http.Server> {
  return new Promise((resolve) => {
    const server = http.createServer((_req, res) => setTimeout(() => res.end('slow\n'), ms));
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** nginx's and the gateway's error lines, their time and pid cut off and excesses kept. */
function linesOf(log: string, pattern: RegExp): string[] {
  return log
    .split('\n')
    .filter((l) => pattern.test(l))
    .map((l) => l.replace(/^.*?\[(\w+)\] \d+#\d+: (\*\d+ )?/, '[$1] ').replace(/host: "[^"]*"/, 'host'));
}

describe('limit_req and limit_conn: error log lines and held connections', () => {
  let pair: Pair;
  let backend: http.Server;
  beforeAll(async () => {
    backend = await slowBackend(400);
    const upstream = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
    pair = await startPair(
      {
        http: {
          limit_req_zone: [
            '$binary_remote_addr zone=one:1m rate=1r/m',
            '$binary_remote_addr zone=dry:1m rate=1r/m',
            '$binary_remote_addr zone=info:1m rate=1r/m',
            '$http_x_key zone=lru:32k rate=1r/m',
          ],
          limit_conn_zone: ['$binary_remote_addr zone=addr:1m', '$http_x_key zone=small:32k'],
          error_log: 'stderr info',
        },
        servers: [
          {
            directives: { root: 'www', ...STATUS_HEADERS },
            locations: [
              loc('/one/', { limit_req: 'zone=one burst=1' }),
              loc('/dry/', { limit_req: 'zone=dry', limit_req_dry_run: 'on' }),
              loc('/info/', { limit_req: 'zone=info', limit_req_log_level: 'info' }),
              loc('/held/', { limit_conn: 'addr 1', proxy_pass: upstream }),
              loc('/held-dry/', { limit_conn: 'addr 1', limit_conn_dry_run: 'on', proxy_pass: upstream }),
              loc('/full/', { limit_conn: 'small 1', proxy_pass: upstream }),
              loc('/lru/', { limit_req: 'zone=lru' }),
              loc('/held-status/', { limit_conn: 'addr 1', limit_conn_status: '429', limit_conn_log_level: 'warn', proxy_pass: upstream }),
            ],
          },
        ],
      },
      { 'www/one/a.txt': 'one\n', 'www/dry/a.txt': 'dry\n', 'www/info/a.txt': 'info\n', 'www/lru/a.txt': 'lru\n' },
    );
  });
  afterAll(async () => {
    await pair?.stop();
    backend?.close();
  });

  const both = async (target: string) => {
    const bytes = requestBytes({ target });
    return Promise.all([exchange(pair.nginx.hosts[0], pair.nginx.ports[0], bytes, false), exchange(pair.gateway.hosts[0], pair.gateway.ports[0], bytes, false)]);
  };
  const header = (reply: Awaited<ReturnType<typeof exchange>>, name: string) => reply.headers.find(([n]) => n === name)?.[1] ?? '(absent)';
  const settle = () => new Promise((r) => setTimeout(r, 300));

  test('limiting and delaying lines, dry run, limit_req_log_level info', async () => {
    // A delay at 1r/m is a minute: the second request is cut short by the client, both sides.
    await both('/one/a.txt');
    const bytes = requestBytes({ target: '/one/a.txt' });
    await Promise.all([exchange(pair.nginx.hosts[0], pair.nginx.ports[0], bytes, false, false, 300).catch(() => null), exchange(pair.gateway.hosts[0], pair.gateway.ports[0], bytes, false, false, 300).catch(() => null)]);
    const [n3, g3] = await both('/one/a.txt');
    expect([n3.status, g3.status]).toEqual([503, 503]);
    await both('/dry/a.txt');
    const [nd, gd] = await both('/dry/a.txt');
    expect([nd.status, header(nd, 'x-req')]).toEqual([200, 'REJECTED_DRY_RUN']);
    expect([gd.status, header(gd, 'x-req')]).toEqual([200, 'REJECTED_DRY_RUN']);
    await both('/info/a.txt');
    await both('/info/a.txt');
    await settle();
    const pattern = /limiting requests|delaying request/;
    const nginx = linesOf(pair.nginxLog(), pattern);
    const gateway = linesOf(pair.gatewayLog(), pattern);
    expect(nginx).toEqual([
      '[warn] delaying request, excess: 1.000, by zone "one", client: 127.0.0.1, server: , request: "GET /one/a.txt HTTP/1.1", host',
      expect.stringMatching(/^\[error\] limiting requests, excess: 1\.9\d\d by zone "one", client: 127\.0\.0\.1, server: , request: "GET \/one\/a\.txt HTTP\/1\.1", host$/),
      '[error] limiting requests, dry run, excess: 1.000 by zone "dry", client: 127.0.0.1, server: , request: "GET /dry/a.txt HTTP/1.1", host',
      '[info] limiting requests, excess: 1.000 by zone "info", client: 127.0.0.1, server: , request: "GET /info/a.txt HTTP/1.1", host',
    ]);
    expect(gateway.map((l) => l.replace(/excess: 1\.9\d\d/, 'excess: 1.9xx'))).toEqual(nginx.map((l) => l.replace(/excess: 1\.9\d\d/, 'excess: 1.9xx')));
  });

  /** A request held by the backend on each side, then `target` while it is held. */
  async function whileHeld(held: string, target: string) {
    const first = both(held);
    await new Promise((r) => setTimeout(r, 150));
    const second = await both(target);
    return { first: await first, second };
  }

  test('limit_conn 1: a second request while the first is held is refused with 503, REJECTED; the slot comes back', async () => {
    const { first, second } = await whileHeld('/held/', '/held/');
    expect(first.map((r) => [r.status, header(r, 'x-conn')])).toEqual([
      [200, 'PASSED'],
      [200, 'PASSED'],
    ]);
    const page = (r: (typeof second)[number]) => r.body.toString().replace(/(nginx|gateway)\/[\d.]+/, 'SERVER');
    expect(second.map((r) => [r.status, header(r, 'x-conn'), page(r)])).toEqual([0, 1].map(() => [503, 'REJECTED', page(second[0])]));
    const after = await both('/held/');
    expect(after.map((r) => r.status)).toEqual([200, 200]);
  });

  test('limit_conn_dry_run: served, REJECTED_DRY_RUN; limit_conn_status 429 and its warn line', async () => {
    const dry = await whileHeld('/held-dry/', '/held-dry/');
    expect(dry.second.map((r) => [r.status, header(r, 'x-conn')])).toEqual([
      [200, 'REJECTED_DRY_RUN'],
      [200, 'REJECTED_DRY_RUN'],
    ]);
    const status = await whileHeld('/held-status/', '/held-status/');
    expect(status.second.map((r) => [r.status, header(r, 'x-conn')])).toEqual([
      [429, 'REJECTED'],
      [429, 'REJECTED'],
    ]);
    await settle();
    const pattern = /limiting connections/;
    const nginx = linesOf(pair.nginxLog(), pattern);
    expect(nginx).toEqual([
      '[error] limiting connections by zone "addr", client: 127.0.0.1, server: , request: "GET /held/ HTTP/1.1", host',
      '[error] limiting connections, dry run, by zone "addr", client: 127.0.0.1, server: , request: "GET /held-dry/ HTTP/1.1", host',
      '[warn] limiting connections by zone "addr", client: 127.0.0.1, server: , request: "GET /held-status/ HTTP/1.1", host',
    ]);
    expect(linesOf(pair.gatewayLog(), pattern)).toEqual(nginx);
  });

  test('a full limit_conn zone: 32k holds 40 keys of 255 bytes, the others get 503 and the slab line of nginx', async () => {
    /** 60 requests at once, each with its own 255-byte key; the status line of each. */
    const flood = (side: Pair['nginx']) =>
      Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          exchange(side.hosts[0], side.ports[0], requestBytes({ target: '/full/', headers: { 'X-Key': String(i).padStart(255, 'k') } }), false).then((r) => r.status),
        ),
      );
    const count = (statuses: (number | null)[]) => statuses.reduce<Record<string, number>>((c, s) => ({ ...c, [String(s)]: (c[String(s)] ?? 0) + 1 }), {});
    const [nginx, gateway] = await Promise.all([flood(pair.nginx), flood(pair.gateway)]);
    expect(count(nginx)).toEqual({ 200: 40, 503: 20 });
    expect(count(gateway)).toEqual(count(nginx));
    await settle();
    const pattern = /ngx_slab_alloc\(\) failed/;
    expect(linesOf(pair.gatewayLog(), pattern)).toEqual(linesOf(pair.nginxLog(), pattern));
    expect(linesOf(pair.nginxLog(), pattern)[0]).toBe('[crit] ngx_slab_alloc() failed: no memory in limit_conn_zone "small"');
  });

  test('a full limit_req zone forgets its least recently used key: 32k holds the last 191 keys (six pages of 128-byte slots, one slot taken by the tree of the zone)', async () => {
    const ask = async (key: string) => {
      const bytes = requestBytes({ target: '/lru/a.txt', headers: { 'X-Key': key } });
      const [n, g] = await Promise.all([exchange(pair.nginx.hosts[0], pair.nginx.ports[0], bytes, false), exchange(pair.gateway.hosts[0], pair.gateway.ports[0], bytes, false)]);
      return [n.status, g.status];
    };
    expect(await ask('first')).toEqual([200, 200]);
    for (let i = 0; i < 190; i++) expect(await ask(`key${i}`)).toEqual([200, 200]);
    // 191 keys: "first" is still there (refused), and being looked up makes it recent again.
    expect(await ask('first')).toEqual([503, 503]);
    expect(await ask('one-more')).toEqual([200, 200]);
    // The new key took the place of the least recently used one, key0: a new bucket for it.
    expect(await ask('key1')).toEqual([503, 503]);
    expect(await ask('key0')).toEqual([200, 200]);
    expect(await ask('first')).toEqual([503, 503]);
  });
});
