/**
 * Parity: ngx_http_auth_request_module and `satisfy`. nginx and the gateway in front of the
 * same authentication service (auth-backend.ts) and the same recording backend: a 2xx lets the
 * request through with `auth_request_set` variables in a header sent to the backend and in a
 * response header, what the auth service received (`X-Auth-Seen`), a POST whose body reaches
 * the backend only, 401 with the service's challenge (the first of two), 403, 302/500 as 500,
 * a slow, resetting, hanging or absent service as 500, a service whose body is slow (its header
 * is enough), local `return` auth locations, a subrequest that skips its location's access
 * rules, an `internal` auth location (a client gets 404), inheritance and `auth_request off`; `satisfy all|any` across allow/deny and
 * auth_request; `auth_delay`; and nginx's error lines for each refusal.
 */
import net from 'node:net';
import { startAuthBackend, type AuthBackend } from './auth-backend';
import { DELIBERATE } from './differences';
import { startPair, type Pair } from './pair';
import { startRecordingBackend, type RecordingBackend } from './recording-backend';
import { exchange, requestBytes } from './client';
import { defineParityCases, type ParityRequest } from './run';
import { loc, type SiteModel } from './site';

let backend: RecordingBackend;
let auth: AuthBackend;
let downPort = 0;

beforeAll(async () => {
  backend = await startRecordingBackend();
  auth = await startAuthBackend();
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  downPort = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
});

afterAll(async () => {
  await backend?.close();
  await auth?.close();
});

/** The locations the auth subrequests go to. */
function authLocations() {
  const a = auth.url;
  return [
    loc('/auth/', { proxy_pass: a }),
    loc('= /auth/slow', { proxy_pass: a, proxy_read_timeout: '500ms' }),
    loc('= /auth/hang', { proxy_pass: a, proxy_read_timeout: '300ms' }),
    loc('= /auth-down', { proxy_pass: `http://127.0.0.1:${downPort}` }),
    loc('= /local-204', { return: '204' }),
    loc('= /local-401', { return: '401' }),
    loc('= /local-403', { return: '403' }),
    loc('= /auth-denied', { deny: 'all', return: '204' }),
    loc('= /auth-vars', {
      proxy_pass: `${a}/auth/ok`,
      proxy_set_header: ['X-Original-URI $request_uri', 'X-Original-Method $request_method', 'X-Request "$request"', 'X-Auth $http_authorization', 'X-Sub "$uri $args"'],
    }),
    loc('= /auth-internal', { internal: '', proxy_pass: `${a}/auth/ok` }),
    loc('= /internal-page', { internal: '', return: "200 'an internal page\n'" }),
  ];
}

/** A location that proxies to the recording backend after `auth_request uri`. */
const guarded = (path: string, uri: string, more: Record<string, string | string[]> = {}) =>
  loc(path, { auth_request: uri, auth_request_set: '$auth_user $upstream_http_x_user', add_header: 'X-Auth-User $auth_user always', proxy_pass: backend.url, ...more });

function site(): SiteModel {
  return {
    servers: [
      {
        directives: { root: 'www' },
        locations: [
          ...authLocations(),
          loc('/ok/', {
            auth_request: '/auth/ok',
            auth_request_set: ['$auth_user $upstream_http_x_user', '$auth_seen $upstream_http_x_seen', '$auth_sent "sent $sent_http_x_user, $sent_http_content_type"'],
            proxy_set_header: 'X-User $auth_user',
            add_header: ['X-Auth-Seen $auth_seen', 'X-Auth-User $auth_user', 'X-Auth-Sent $auth_sent'],
            proxy_pass: backend.url,
          }),
          guarded('/ok204/', '/auth/204'),
          loc('/vars/', { auth_request: '/auth-vars', auth_request_set: '$auth_seen $upstream_http_x_seen', add_header: 'X-Auth-Seen $auth_seen', proxy_pass: backend.url }),
          guarded('/deny401/', '/auth/401'),
          guarded('/deny401-two/', '/auth/401-two'),
          guarded('/deny403/', '/auth/403'),
          guarded('/r302/', '/auth/302'),
          guarded('/r500/', '/auth/500'),
          guarded('/slow/', '/auth/slow'),
          guarded('/reset/', '/auth/reset'),
          guarded('/hang/', '/auth/hang'),
          guarded('/down/', '/auth-down'),
          guarded('/slow-body/', '/auth/slow-body'),
          guarded('/local-204/', '/local-204'),
          guarded('/local-401/', '/local-401'),
          guarded('/local-403/', '/local-403'),
          guarded('/missing/', '/auth/nothing-here'),
          guarded('/sub-skips-access/', '/auth-denied'),
          guarded('/page401/', '/auth/401', { error_page: '401 /open.txt' }),
          guarded('/via-internal/', '/auth-internal'),
          guarded('/login401/', '/auth/401', { error_page: '401 = @login' }),
          loc('@login', { return: '302 /login?from=$request_uri' }),
          loc('/to-internal/', { return: '404', error_page: '404 /internal-page' }),
          loc('/ws-internal/', { internal: '', proxy_pass: backend.url, proxy_http_version: '1.1', proxy_set_header: ['Upgrade $http_upgrade', 'Connection "upgrade"'] }),
          // No add_header: the gateway's upgrade answers (a 101 tunnelled, a refusal written raw) do not run the response filters yet.
          loc('/ws-ok/', { auth_request: '/auth/ok', proxy_pass: backend.url, proxy_http_version: '1.1', proxy_set_header: ['Upgrade $http_upgrade', 'Connection "upgrade"'] }),
          loc('/ws-401/', { auth_request: '/auth/401', proxy_pass: backend.url, proxy_http_version: '1.1', proxy_set_header: ['Upgrade $http_upgrade', 'Connection "upgrade"'] }),
          loc('/any-allow/', { satisfy: 'any', allow: '127.0.0.1', deny: 'all', auth_request: '/auth/403' }),
          loc('/any-deny-ok/', { satisfy: 'any', deny: 'all', auth_request: '/auth/ok' }),
          loc('/any-deny-403/', { satisfy: 'any', deny: 'all', auth_request: '/auth/403' }),
          loc('/any-deny-401/', { satisfy: 'any', deny: 'all', auth_request: '/auth/401' }),
          loc('/any-nomatch-403/', { satisfy: 'any', allow: '10.0.0.0/8', auth_request: '/auth/403' }),
          loc('/any-nomatch/', { satisfy: 'any', allow: '10.0.0.0/8' }),
          loc('/any-deny/', { satisfy: 'any', deny: 'all' }),
          loc('/any-302/', { satisfy: 'any', deny: 'all', auth_request: '/auth/302' }),
          loc('/any-down/', { satisfy: 'any', allow: '10.0.0.1', auth_request: '/auth-down' }),
          loc('/all-allow-403/', { satisfy: 'all', allow: '127.0.0.1', auth_request: '/auth/403' }),
          loc('/all-allow-ok/', { allow: '127.0.0.1', auth_request: '/auth/ok' }),
          loc('/all-deny-ok/', { deny: 'all', auth_request: '/auth/ok' }),
          loc('/delayed/', { auth_delay: '400ms', auth_request: '/auth/401' }),
          loc('/delayed-any/', { auth_delay: '400ms', satisfy: 'any', deny: 'all', auth_request: '/auth/401' }),
          loc('/delayed-403/', { auth_delay: '400ms', auth_request: '/auth/403' }),
        ],
      },
      {
        listen: ['1'],
        directives: { root: 'www', auth_request: '/auth/403', satisfy: 'any' },
        locations: [...authLocations(), loc('/inherits/'), loc('/off/', { auth_request: 'off' }), loc('/allowed/', { allow: '127.0.0.1' })],
      },
    ],
  };
}

const dirs = ['delayed', 'delayed-any', 'delayed-403', 'any-allow', 'any-deny-ok', 'any-deny-403', 'any-deny-401', 'any-nomatch-403', 'any-nomatch', 'any-deny', 'any-302', 'any-down', 'all-allow-403', 'all-allow-ok', 'all-deny-ok', 'inherits', 'off', 'allowed'];
const files = { 'www/open.txt': 'a page for 401\n', ...Object.fromEntries(dirs.map((d) => [`www/${d}/a.txt`, `${d}\n`])) };

/** A request the main backend answers (what it received, the request line's version included, is compared). */
const upstream = (r: ParityRequest): ParityRequest => r;

defineParityCases([
  {
    title: 'auth_request',
    site,
    files,
    requests: [
      upstream({ name: '2xx: through, auth_request_set into proxy_set_header and add_header; what the auth service saw', target: '/ok/a?x=1', headers: { 'X-Custom': 'yes', Cookie: 'session=s1', Authorization: 'Bearer t0k3n' } }),
      upstream({
        name: 'a POST: the body goes to the backend only',
        raw: 'POST /ok/post HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello',
        differs: DELIBERATE.subrequestBodyFraming,
      }),
      upstream({ name: 'HEAD', target: '/ok/h', method: 'HEAD' }),
      { name: 'a 100-continue POST the auth service refuses: no interim response', raw: 'POST /deny401/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n', halfClose: true },
      upstream({ name: 'the auth location\'s proxy_set_header: $request_uri, $request_method, $request are the client\'s, $http_* its headers, $uri the subrequest\'s', target: '/vars/a%20b?x=1', method: 'DELETE', headers: { Authorization: 'Basic YTpi' } }),
      upstream({ name: '204 is a 2xx', target: '/ok204/x' }),
      { name: '401 with the service\'s WWW-Authenticate, auth_request_set still set', target: '/deny401/x' },
      { name: '401 with two challenges: the first one', target: '/deny401-two/x' },
      { name: '403', target: '/deny403/x' },
      { name: '302 is a 500', target: '/r302/x' },
      { name: '500 is a 500', target: '/r500/x' },
      { name: 'a service slower than proxy_read_timeout: 504 in the subrequest, 500', target: '/slow/x' },
      { name: 'a service that resets: 500', target: '/reset/x' },
      { name: 'a service that never answers: 500', target: '/hang/x' },
      { name: 'a service that is down: 500', target: '/down/x' },
      upstream({ name: 'a service whose body is slow: its header decides', target: '/slow-body/x' }),
      upstream({ name: 'return 204 in the auth location', target: '/local-204/x' }),
      { name: 'return 401 in the auth location: 401 without a challenge', target: '/local-401/x' },
      { name: 'return 403 in the auth location', target: '/local-403/x' },
      { name: 'an auth location that 404s: 500', target: '/missing/x' },
      upstream({ name: 'the subrequest skips its location\'s deny all', target: '/sub-skips-access/x' }),
      { name: 'error_page 401 to a page', target: '/page401/x' },
      { name: 'error_page 401 = @login: a redirect to the login page', target: '/login401/x?y=1' },
      { name: 'a WebSocket upgrade the auth service lets in: the backend\'s 101', raw: 'GET /ws-ok/x HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n' },
      { name: 'a WebSocket upgrade the auth service refuses: 401 with its challenge', raw: 'GET /ws-401/x HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n' },
      upstream({ name: 'an internal auth location serves the subrequest', target: '/via-internal/x' }),
      { name: 'an internal location asked by a client: 404', target: '/auth-internal' },
      { name: 'an internal location asked by a client with an upgrade: 404', raw: 'GET /ws-internal/x HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n' },
      { name: 'error_page into an internal location', target: '/to-internal/x' },
      { name: 'server-level auth_request inherited', target: '/inherits/a.txt', slot: 1 },
      { name: 'auth_request off', target: '/off/a.txt', slot: 1 },
      { name: 'inherited satisfy any: an allow lets in', target: '/allowed/a.txt', slot: 1 },
    ],
  },
  {
    title: 'satisfy with allow/deny and auth_request',
    site,
    files,
    requests: [
      { name: 'any: allow matches, the auth service is not asked', target: '/any-allow/a.txt' },
      { name: 'any: deny all, auth 2xx lets in', target: '/any-deny-ok/a.txt' },
      { name: 'any: deny all, auth 403: 403', target: '/any-deny-403/a.txt' },
      { name: 'any: deny all (403), auth 401: the 401 with its challenge', target: '/any-deny-401/a.txt' },
      { name: 'any: no rule matches, auth 403: 403', target: '/any-nomatch-403/a.txt' },
      { name: 'any: no rule matches, nothing else: through', target: '/any-nomatch/a.txt' },
      { name: 'any: deny all alone: 403', target: '/any-deny/a.txt' },
      { name: 'any: an auth 302 is a 500 at once', target: '/any-302/a.txt' },
      { name: 'any: an auth service down is a 500', target: '/any-down/a.txt' },
      { name: 'all: allow matches, auth 403: 403', target: '/all-allow-403/a.txt' },
      { name: 'all: allow matches, auth 2xx: through', target: '/all-allow-ok/a.txt' },
      { name: 'all: deny all: 403 before the auth service', target: '/all-deny-ok/a.txt' },
    ],
  },
]);

/** nginx's error lines of a log, without time, pid and connection number, each side's ports as PORT. */
function errorLines(log: string, ports: readonly number[]): string[] {
  return log
    .split('\n')
    .filter((line) => / \[error\] /.test(line))
    .map((line) => line.replace(/^.*? \[error\] \d+#\d+: (\*\d+ )?/, ''))
    .map((line) => ports.reduce((text, port) => text.split(`:${port}`).join(':PORT'), line));
}

describe('auth_request and satisfy: error log lines, auth_delay', () => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await startPair(site(), files);
  });
  afterAll(() => pair?.stop());

  test.each([
    ['302 from the service', '/r302/x', 1],
    ['any: deny all and auth 403', '/any-deny-403/a.txt', 1],
    ['any: deny all and auth 401 (no line)', '/any-deny-401/a.txt', 0],
    ['all: deny all', '/all-deny-ok/a.txt', 1],
    ['all: allow, auth 403 (no line)', '/all-allow-403/a.txt', 0],
    ['any: deny all alone', '/any-deny/a.txt', 1],
    ['auth_delay: a 403 is not delayed', '/delayed-403/a.txt', 0],
    ['a hanging service', '/hang/x', 2],
    ['a service that is down', '/down/x', 2],
  ])('%s: the same error lines', async (_name, target, count) => {
    const before = { nginx: pair.nginxLog().length, gateway: pair.gatewayLog().length };
    const bytes = requestBytes({ target });
    await Promise.all([exchange('127.0.0.1', pair.nginx.ports[0], bytes, false), exchange('127.0.0.1', pair.gateway.ports[0], bytes, false)]);
    // The gateway writes its log at the end of a turn of the loop: give both a moment.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const nginx = errorLines(pair.nginxLog().slice(before.nginx), pair.nginx.ports);
    const gateway = errorLines(pair.gatewayLog().slice(before.gateway), pair.gateway.ports);
    expect(gateway).toEqual(nginx);
    expect(nginx).toHaveLength(count);
  });

  test.each([
    ['all', '/delayed/a.txt', 401, true],
    ['any', '/delayed-any/a.txt', 401, true],
    ['a 403', '/delayed-403/a.txt', 403, false],
  ])('auth_delay 400ms, %s: both answer %s, delayed: %s', async (_name, target, status, delayed) => {
    const timed = async (port: number) => {
      const start = performance.now();
      const reply = await exchange('127.0.0.1', port, requestBytes({ target }), false);
      return { status: reply.status, ms: performance.now() - start };
    };
    const [nginx, gateway] = await Promise.all([timed(pair.nginx.ports[0]), timed(pair.gateway.ports[0])]);
    expect([nginx.status, gateway.status]).toEqual([status, status]);
    for (const side of [nginx, gateway]) {
      if (delayed) expect(side.ms).toBeGreaterThanOrEqual(380);
      else expect(side.ms).toBeLessThan(380);
    }
  });
});
