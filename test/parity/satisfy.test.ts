/**
 * Parity: `satisfy all|any` across the three access modules together, allow/deny, auth_basic
 * and auth_request, against nginx 1.22. One table: every combination of a rule that allows,
 * denies or does not match, a password that is right, wrong or missing, and an auth service
 * that answers 2xx, 401 or 403, under both `satisfy` values (54 requests); then which status
 * and which `WWW-Authenticate` win when several modules refuse (two 401s, a 401 without a
 * challenge, a service with two challenges), `error_page 401` and `403` with them (a page,
 * `=200`, a named location), WebSocket upgrades behind `satisfy any` (let in, refused, with
 * `error_page`, `auth_delay`), `auth_delay` with auth_basic (which refusals wait), allow/deny on
 * the address realip takes from `X-Real-IP`, `$remote_user` in the access log behind `satisfy
 * any`, and the error and info lines of each refusal. `X-Auth-User` shows whether the auth service was asked
 * (`auth_request_set` from its `X-User`).
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hashOf } from '../helpers/password-hashes';
import { startAuthBackend, type AuthBackend } from './auth-backend';
import { exchange, requestBytes } from './client';
import { startPair, type Pair } from './pair';
import { startRecordingBackend, type RecordingBackend } from './recording-backend';
import { defineParityCases, type ParityRequest } from './run';
import { loc, type Directives, type LocationModel, type SiteModel } from './site';

const PASSWORD = 'Open Sesame 1';
const passwords = mkdtempSync(path.join(os.tmpdir(), 'satisfy-parity-'));
const USERS = path.join(passwords, 'users');
// carol's bcrypt is checked on libuv's pool: auth_basic's verdict comes as a promise.
writeFileSync(USERS, `alice:${hashOf('apr1-openssl', PASSWORD)}\nbob:${hashOf('sha', PASSWORD)}\ncarol:${hashOf('bcrypt-2y', PASSWORD)}\n`);
afterAll(() => rmSync(passwords, { recursive: true, force: true }));

let backend: RecordingBackend;
let auth: AuthBackend;

beforeAll(async () => {
  backend = await startRecordingBackend();
  auth = await startAuthBackend();
});

afterAll(async () => {
  await backend?.close();
  await auth?.close();
});

/** What allow/deny say of the client (127.0.0.1): lets it in, refuses it, or nothing (no rule matches). */
const RULES = { allow: { allow: '127.0.0.1' }, deny: { deny: 'all' }, nomatch: { allow: '10.0.0.0/8' } } as const;
type Rule = keyof typeof RULES;
/** What the auth service answers: `/auth/ok` (200, X-User: alice), `/auth/401` (with `Basic realm="auth"`, X-User: bob), `/auth/403`. */
const SERVICES = { ok: '/auth/ok', 401: '/auth/401', 403: '/auth/403' } as const;
type Service = keyof typeof SERVICES;
/** The Authorization header sent: alice's right password, a wrong one, none. */
const CREDENTIALS = { right: `alice:${PASSWORD}`, wrong: `alice:${PASSWORD}!`, missing: null } as const;
type Credentials = keyof typeof CREDENTIALS;

const basic = (credentials: string) => ({ Authorization: `Basic ${Buffer.from(credentials, 'latin1').toString('base64')}` });
const headersOf = (c: Credentials) => (CREDENTIALS[c] === null ? {} : basic(CREDENTIALS[c]!));

/** auth_basic with the users' file, and auth_request to `service` with the user it names shown. */
const guard = (service: string): Directives => ({
  auth_basic: '"Users"',
  auth_basic_user_file: USERS,
  auth_request: service,
  auth_request_set: '$auth_user $upstream_http_x_user',
  add_header: 'X-Auth-User "[$auth_user]" always',
});

const combos: [satisfy: 'all' | 'any', rule: Rule, service: Service][] = [];
for (const satisfy of ['all', 'any'] as const) for (const rule of Object.keys(RULES) as Rule[]) for (const service of ['ok', 401, 403] as Service[]) combos.push([satisfy, rule, service]);
const dirOf = (satisfy: string, rule: string, service: Service) => `${satisfy}-${rule}-${String(service)}`;

/**
 * The WebSocket locations proxy to the recording backend, which answers an upgrade with 101.
 * No add_header where a 101 is expected: the gateway's tunnelled 101 does not run the response
 * filters yet.
 */
const upgrading = (more: Directives): Directives => ({
  satisfy: 'any',
  auth_basic: '"Users"',
  auth_basic_user_file: USERS,
  auth_request: '/auth/401',
  ...more,
  proxy_pass: backend.url,
  proxy_http_version: '1.1',
  proxy_set_header: ['Upgrade $http_upgrade', 'Connection "upgrade"'],
});

/** Locations beyond the table: (name, directives); each serves `www/<name>/a.txt`. */
const extras = (): [string, Directives][] => [
  // Several refusals.
  ['any-deny-401-two', { satisfy: 'any', deny: 'all', ...guard('/auth/401-two') }],
  ['any-deny-401-bare', { satisfy: 'any', deny: 'all', ...guard('/local-401') }],
  ['all-nomatch-401-bare', { allow: '10.0.0.0/8', ...guard('/local-401') }],
  ['any-basic-401', { satisfy: 'any', auth_basic: '"Users"', auth_basic_user_file: USERS, auth_request: '/auth/401' }],
  ['any-basic-only', { satisfy: 'any', deny: 'all', auth_basic: '"Users"', auth_basic_user_file: USERS }],
  ['any-nofile', { satisfy: 'any', deny: 'all', auth_basic: '"Users"', auth_basic_user_file: `${passwords}/nothing$arg_none`, auth_request: '/auth/401' }],
  ['any-deny-500', { satisfy: 'any', deny: 'all', ...guard('/auth/500') }],
  ['all-sub-guarded', { allow: '127.0.0.1', ...guard('/auth-guarded') }],
  ['any-proxy', { satisfy: 'any', deny: 'all', ...guard('/auth/401'), proxy_pass: backend.url }],
  // error_page with them.
  ['page401-any', { satisfy: 'any', deny: 'all', ...guard('/auth/401'), error_page: '401 /open/401.html' }],
  ['page401-any-403', { satisfy: 'any', deny: 'all', ...guard('/auth/403'), error_page: '401 /open/401.html' }],
  ['page401-200', { satisfy: 'any', deny: 'all', ...guard('/auth/401'), error_page: '401 =200 /open/401.html' }],
  ['page401-named', { satisfy: 'any', deny: 'all', ...guard('/auth/401'), error_page: '401 @login' }],
  ['page403-any', { satisfy: 'any', deny: 'all', ...guard('/auth/403'), error_page: '403 /open/403.html' }],
  ['page403-all', { allow: '127.0.0.1', ...guard('/auth/403'), error_page: '403 /open/403.html' }],
  ['page403-200', { satisfy: 'any', deny: 'all', auth_request: '/auth/403', error_page: '403 =200 /open/403.html' }],
  ['page-both', { satisfy: 'any', deny: 'all', ...guard('/auth/403'), error_page: ['401 /open/401.html', '403 /open/403.html'] }],
  ['page401-guarded', { satisfy: 'any', deny: 'all', ...guard('/auth/401'), error_page: '401 /all-deny-ok/a.txt' }],
  ['page401-into-any', { satisfy: 'any', deny: 'all', ...guard('/auth/401'), error_page: '401 /any-deny-ok/a.txt' }],
  ['page401-who', { satisfy: 'any', deny: 'all', ...guard('/auth/401'), error_page: '401 = @who' }],
];

const WS = ['ws-allow', 'ws-deny', 'ws-deny-ok', 'ws-deny-403'];

function site(): SiteModel {
  const table: LocationModel[] = combos.map(([satisfy, rule, service]) => loc(`/${dirOf(satisfy, rule, service)}/`, { satisfy, ...RULES[rule], ...guard(SERVICES[service]) }));
  return {
    // Info lines too: auth_basic's "no user/password was provided", auth_delay's "delaying unauthorized request".
    http: { error_log: 'stderr info' },
    servers: [
      {
        directives: { root: 'www' },
        locations: [
          loc('/auth/', { proxy_pass: auth.url }),
          // An auth location with its own auth_basic: the subrequest skips its access phase.
          loc('= /auth-guarded', { auth_basic: '"Auth"', auth_basic_user_file: USERS, deny: 'all', proxy_pass: `${auth.url}/auth/ok` }),
          loc('= /local-401', { return: '401' }),
          ...table,
          ...extras().map(([name, d]) => loc(`/${name}/`, d)),
          loc('@login', { return: '302 /login?from=$request_uri' }),
          loc('@who', { return: '200 "user=$auth_user remote=$remote_user\n"' }),
          loc('/open/'),
          loc('/ws-allow/', upgrading({ allow: '127.0.0.1', deny: 'all' })),
          loc('/ws-deny/', upgrading({ deny: 'all' })),
          loc('/ws-deny-ok/', upgrading({ deny: 'all', auth_request: '/auth/ok' })),
          // A refusal is an HTTP response (add_header ... always runs); the gateway's 101 does not run the response filters yet.
          loc('/ws-deny-403/', upgrading({ deny: 'all', auth_request: '/auth/403', auth_request_set: '$auth_user $upstream_http_x_user', add_header: 'X-Auth-User "[$auth_user]" always' })),
          loc('/ws-page/', upgrading({ deny: 'all', error_page: ['401 /open/401.html', '403 /open/403.html'] })),
          loc('/ws-page-403/', upgrading({ deny: 'all', auth_request: '/auth/403', auth_basic: 'off', error_page: '403 /open/403.html' })),
          loc('/ws-delay/', upgrading({ deny: 'all', auth_delay: '400ms' })),
          loc('/ws-logged/', upgrading({ deny: 'all', access_log: 'remote-user.log' })),
          // Behind a balancer: allow/deny see the address realip takes from X-Real-IP.
          // The auth subrequest sees the address realip took for the main request.
          loc('= /auth-client', { proxy_pass: `${auth.url}/auth/ok`, proxy_set_header: 'X-Client "$remote_addr $realip_remote_addr"' }),
          loc('/real-sub/', { set_real_ip_from: '127.0.0.1', real_ip_header: 'X-Real-IP', auth_request: '/auth-client', auth_request_set: '$auth_seen $upstream_http_x_seen', add_header: 'X-Auth-Seen $auth_seen' }),
          loc('/real-any/', { set_real_ip_from: '127.0.0.1', real_ip_header: 'X-Real-IP', satisfy: 'any', allow: '10.1.2.0/24', deny: 'all', ...guard('/auth/401'), access_log: 'remote-user.log' }),
          // auth_delay with auth_basic.
          loc('/delay-all/', { auth_delay: '400ms', auth_basic: '"Users"', auth_basic_user_file: USERS }),
          loc('/delay-any/', { auth_delay: '400ms', satisfy: 'any', deny: 'all', ...guard('/auth/403') }),
          loc('/delay-any-ok/', { auth_delay: '400ms', satisfy: 'any', deny: 'all', ...guard('/auth/ok') }),
          loc('/delay-all-403/', { auth_delay: '400ms', allow: '127.0.0.1', ...guard('/auth/403') }),
          // $remote_user in the access log (combined) behind satisfy any: one file under the shared prefix, each side asked in turn.
          loc('/logged-allow/', { satisfy: 'any', allow: '127.0.0.1', ...guard('/auth/401'), access_log: 'remote-user.log' }),
          loc('/logged-deny/', { satisfy: 'any', deny: 'all', ...guard('/auth/401'), access_log: 'remote-user.log' }),
          loc('/logged-deny-ok/', { satisfy: 'any', deny: 'all', ...guard('/auth/ok'), access_log: 'remote-user.log' }),
        ],
      },
    ],
  };
}

const dirs = [
  ...combos.map(([s, r, a]) => dirOf(s, r, a)),
  ...['any-deny-401-two', 'any-deny-401-bare', 'all-nomatch-401-bare', 'any-basic-401', 'any-basic-only', 'any-nofile', 'any-deny-500', 'all-sub-guarded', 'any-proxy'],
  ...['page401-any', 'page401-any-403', 'page401-200', 'page401-named', 'page403-any', 'page403-all', 'page403-200', 'page-both', 'page401-guarded', 'page401-who', 'page401-into-any'],
  ...['delay-all', 'delay-any', 'delay-any-ok', 'delay-all-403', 'logged-allow', 'logged-deny', 'logged-deny-ok', 'real-any', 'real-sub'],
];
const files = {
  ...Object.fromEntries(dirs.map((d) => [`www/${d}/a.txt`, `${d}\n`])),
  'www/open/401.html': '<p>who are you?</p>\n',
  'www/open/403.html': '<p>not you</p>\n',
  'remote-user.log': '',
};

const upgrade = (dir: string, credentials: Credentials): string =>
  `GET /${dir}/x HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${CREDENTIALS[credentials] === null ? '' : `Authorization: ${basic(CREDENTIALS[credentials]!).Authorization}\r\n`}\r\n`;

const table: ParityRequest[] = combos.flatMap(([satisfy, rule, service]) =>
  (Object.keys(CREDENTIALS) as Credentials[]).map((c) => ({
    name: `${satisfy}: rule ${rule}, password ${c}, auth service ${service}`,
    target: `/${dirOf(satisfy, rule, service)}/a.txt`,
    headers: headersOf(c),
  })),
);

defineParityCases([
  { title: 'satisfy all|any: allow/deny x auth_basic x auth_request', site, files, requests: table },
  {
    title: 'satisfy: several refusals, error_page, upgrades',
    site,
    files,
    requests: [
      { name: 'any: deny, wrong password, a service with two challenges: auth_basic\'s, then the service\'s first', target: '/any-deny-401-two/a.txt', headers: headersOf('wrong') },
      { name: 'any: deny, no password, a service with two challenges', target: '/any-deny-401-two/a.txt' },
      { name: 'any: deny, wrong password, a local 401 without a challenge: auth_basic\'s', target: '/any-deny-401-bare/a.txt', headers: headersOf('wrong') },
      { name: 'any: deny, right password, a local 401: in', target: '/any-deny-401-bare/a.txt', headers: headersOf('right') },
      { name: 'all: no rule matches, right password, a local 401 without a challenge', target: '/all-nomatch-401-bare/a.txt', headers: headersOf('right') },
      { name: 'any: no allow/deny, no password, service 401: two 401s', target: '/any-basic-401/a.txt' },
      { name: 'any: no allow/deny, bob\'s right password ({SHA}), service 401: in', target: '/any-basic-401/a.txt', headers: basic(`bob:${PASSWORD}`) },
      { name: 'any: deny and auth_basic alone, no password: 401', target: '/any-basic-only/a.txt' },
      { name: 'any: deny and auth_basic alone, right password: in', target: '/any-basic-only/a.txt', headers: headersOf('right') },
      { name: 'any: deny, a password file that does not exist (403), service 401: 401', target: '/any-nofile/a.txt', headers: headersOf('right') },
      { name: 'any: deny, no password (401), service 500: 500 at once, auth_basic\'s challenge left on it', target: '/any-deny-500/a.txt' },
      { name: 'any: deny, right password, service 500: in before the service', target: '/any-deny-500/a.txt', headers: headersOf('right') },
      { name: 'any: deny, a bcrypt user\'s wrong password (checked off the loop), service 401: both challenges', target: '/any-deny-401/a.txt', headers: basic(`carol:${PASSWORD}x`) },
      { name: 'any: deny, a bcrypt user\'s right password, service 401: in', target: '/any-deny-401/a.txt', headers: basic(`carol:${PASSWORD}`) },
      { name: 'all: allow, a bcrypt user\'s right password, service 2xx: in', target: '/all-allow-ok/a.txt', headers: basic(`carol:${PASSWORD}`) },
      { name: 'any: deny, an unknown user, service 403: 401', target: '/any-deny-403/a.txt', headers: basic(`mallory:${PASSWORD}`) },
      { name: 'any: HEAD, deny, no password, service 401', target: '/any-deny-401/a.txt', method: 'HEAD' },
      { name: 'all: the auth location\'s own auth_basic and deny are skipped by the subrequest', target: '/all-sub-guarded/a.txt', headers: headersOf('right') },
      { name: 'all: the same without a password: auth_basic of the main request answers', target: '/all-sub-guarded/a.txt' },
      { name: 'error_page 401 to a page, two 401s', target: '/page401-any/a.txt' },
      { name: 'error_page 401 to a page, wrong password, service 403: the 401 page', target: '/page401-any-403/a.txt', headers: headersOf('wrong') },
      { name: 'error_page 401 to a page, right password: in', target: '/page401-any/a.txt', headers: headersOf('right') },
      { name: 'error_page 401 =200, two 401s', target: '/page401-200/a.txt' },
      { name: 'error_page 401 to a named location, two 401s', target: '/page401-named/a.txt?q=1' },
      { name: 'error_page 401 into a satisfy any location whose service lets in: its access phase runs again', target: '/page401-into-any/a.txt', headers: headersOf('wrong') },
      { name: 'error_page 401 = @named: auth_request_set\'s variable and $remote_user survive the redirect', target: '/page401-who/a.txt', headers: headersOf('wrong') },
      { name: 'error_page 403 to a page, no password (401), service 403: 401 wins, no page', target: '/page403-any/a.txt' },
      { name: 'error_page 403 to a page under all: allow, right password, service 403', target: '/page403-all/a.txt', headers: headersOf('right') },
      { name: 'error_page 403 to a page under all: allow, wrong password: 401', target: '/page403-all/a.txt', headers: headersOf('wrong') },
      { name: 'error_page 403 =200 under any: deny, service 403', target: '/page403-200/a.txt' },
      { name: 'error_page 401 and 403, missing password, service 403: the 401 page', target: '/page-both/a.txt' },
      { name: 'error_page 401 into a location that refuses under all (deny): 403 there, both challenges kept', target: '/page401-guarded/a.txt' },
      {
        name: 'a 100-continue POST let in by its password, proxied: 100, then the backend\'s answer with the body',
        raw: `POST /any-proxy/x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nExpect: 100-continue\r\nAuthorization: ${basic(CREDENTIALS.right).Authorization}\r\nConnection: close\r\n\r\nhello`,
      },
      {
        name: 'a 100-continue POST that every module refuses: 401, no interim response',
        raw: 'POST /any-deny-401/a.txt HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
        halfClose: true,
      },
      { name: 'realip: the auth subrequest\'s $remote_addr is the real address', target: '/real-sub/a.txt', headers: { 'X-Real-IP': '10.1.2.3' } },
      { name: 'realip, any: the real address is allowed: in without a password', target: '/real-any/a.txt', headers: { 'X-Real-IP': '10.1.2.3' } },
      { name: 'realip, any: the real address is denied, no password, service 401: both challenges', target: '/real-any/a.txt', headers: { 'X-Real-IP': '192.0.2.1' } },
      { name: 'realip, any: the real address is denied, the right password: in', target: '/real-any/a.txt', headers: { 'X-Real-IP': '192.0.2.1', ...headersOf('right') } },
      { name: 'upgrade, any: allow matches: the backend\'s 101', raw: upgrade('ws-allow', 'missing') },
      { name: 'upgrade, any: deny, no password, service 401: 401 with both challenges', raw: upgrade('ws-deny', 'missing') },
      { name: 'upgrade, any: deny, right password: 101', raw: upgrade('ws-deny', 'right') },
      { name: 'upgrade, any: deny, wrong password, service 2xx: 101', raw: upgrade('ws-deny-ok', 'wrong') },
      { name: 'upgrade, any: deny, wrong password, service 403: 401', raw: upgrade('ws-deny-403', 'wrong') },
      { name: 'upgrade, any: refused, error_page 401 to a page', raw: upgrade('ws-page', 'missing') },
      { name: 'upgrade, any: refused with 403, error_page 403 to a page', raw: upgrade('ws-page-403', 'missing') },
      { name: 'upgrade, any: refused, auth_delay', raw: upgrade('ws-delay', 'wrong') },
    ],
  },
]);

/** nginx's error lines of a log, without time, pid and connection number, each side's ports as PORT. */
function errorLines(log: string, ports: readonly number[]): string[] {
  return log
    .split('\n')
    .filter((line) => / \[(error|info)\] /.test(line) && !/ (client \S+ closed keepalive connection|client closed connection while waiting for request)/.test(line))
    .map((line) => line.replace(/^.*? \[(error|info)\] \d+#\d+: (\*\d+ )?/, '[$1] '))
    .map((line) => ports.reduce((text, port) => text.split(`:${port}`).join(':PORT'), line));
}

/**
 * The access log lines (combined) of a log, without the time; the body size of an error page
 * less its signature (`server`, the side's Server header: nginx/1.22.1, gateway/0.1.0).
 */
function accessLines(log: string, server: string): string[] {
  return log
    .split('\n')
    .filter((line) => /^(127\.0\.0\.1|10\.1\.2\.3|192\.0\.2\.1) - /.test(line))
    .map((line) => line.replace(/\[[^\]]+\]/, '[TIME]').replace(/" (\d{3}) (\d+) "/, (all, status: string, bytes: string) => (Number(status) >= 400 ? `" ${status} ${Number(bytes) - server.length}+SIGNATURE "` : all)));
}

describe('satisfy with auth_basic and auth_request: logs and auth_delay', () => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await startPair(site(), files);
  });
  afterAll(() => pair?.stop());

  /** Sends the request to both; resolves with what each wrote to its stderr meanwhile. */
  async function both(target: string, credentials: Credentials, more: Record<string, string> = {}) {
    const before = { nginx: pair.nginxLog().length, gateway: pair.gatewayLog().length };
    const bytes = requestBytes({ target, headers: { ...headersOf(credentials), ...more } });
    const replies = await Promise.all([exchange('127.0.0.1', pair.nginx.ports[0], bytes, false), exchange('127.0.0.1', pair.gateway.ports[0], bytes, false)]);
    // The gateway writes its logs at the end of a turn of the loop: give both a moment.
    await new Promise((resolve) => setTimeout(resolve, 200));
    return { statuses: replies.map((r) => r.status), nginx: pair.nginxLog().slice(before.nginx), gateway: pair.gatewayLog().slice(before.gateway) };
  }

  test('realip, any: the lines name the real client', async () => {
    const seen = await both('/real-any/a.txt', 'wrong', { 'X-Real-IP': '192.0.2.1' });
    const nginx = errorLines(seen.nginx, pair.nginx.ports);
    expect(nginx.join('\n')).toContain('client: 192.0.2.1');
    expect(errorLines(seen.gateway, pair.gateway.ports)).toEqual(nginx);
  });

  test.each<[string, string, Credentials, number]>([
    ['any: deny, wrong password, service 403: the password line and no "forbidden"', '/any-deny-403/a.txt', 'wrong', 1],
    ['any: deny, missing password, service 403', '/any-deny-403/a.txt', 'missing', 0],
    ['any: nothing matches, right password, service 403', '/any-nomatch-403/a.txt', 'right', 0],
    ['any: deny, right password', '/any-deny-403/a.txt', 'right', 0],
    ['all: deny, wrong password: "access forbidden by rule" only', '/all-deny-ok/a.txt', 'wrong', 1],
    ['all: allow, wrong password', '/all-allow-ok/a.txt', 'wrong', 1],
    ['all: allow, right password, service 403: no line', '/all-allow-403/a.txt', 'right', 0],
    ['any: deny, wrong password, service 401', '/any-deny-401/a.txt', 'wrong', 1],
    ['auth_delay, any: deny, wrong password, service 403: the password line, then "delaying unauthorized request"', '/delay-any/a.txt', 'wrong', 1],
    ['auth_delay, all: no password', '/delay-all/a.txt', 'missing', 0],
    ['any: deny, a password file that does not exist, service 401: the open() line, no "forbidden"', '/any-nofile/a.txt', 'right', 1],
  ])('%s: the same error and info lines', async (_name, target, credentials, errors) => {
    const seen = await both(target, credentials);
    expect(seen.statuses[1]).toBe(seen.statuses[0]);
    const nginx = errorLines(seen.nginx, pair.nginx.ports);
    expect(errorLines(seen.gateway, pair.gateway.ports)).toEqual(nginx);
    expect(nginx.filter((l) => l.startsWith('[error]'))).toHaveLength(errors);
    expect(nginx.some((l) => l.startsWith('[info]'))).toBe(credentials === 'missing' || target.startsWith('/delay'));
  });

  test.each<[string, string, Credentials]>([
    ['allow matches, no password asked: the header\'s user', '/logged-allow/a.txt', 'wrong'],
    ['allow matches, no header: "-"', '/logged-allow/a.txt', 'missing'],
    ['deny, the right password', '/logged-deny/a.txt', 'right'],
    ['deny, a wrong password, service 401: the user who failed', '/logged-deny/a.txt', 'wrong'],
    ['deny, a wrong password, service 2xx: the user who failed, let in', '/logged-deny-ok/a.txt', 'wrong'],
    ['a refused WebSocket upgrade, no password', '/ws-logged/x', 'missing'],
    ['a refused WebSocket upgrade, a wrong password', '/ws-logged/x', 'wrong'],
    ['realip: a real address allowed', '/real-any/a.txt?real=10.1.2.3', 'wrong'],
    ['realip: a real address denied, service 401', '/real-any/a.txt?real=192.0.2.1', 'wrong'],
  ])('$remote_user in the access log, any: %s', async (_name, target, credentials) => {
    // Both write the same file (the prefix is shared): nginx is asked first, then the gateway.
    const file = path.join(pair.prefix, 'remote-user.log');
    const upgrading: Record<string, string> = target.startsWith('/ws-') ? { Upgrade: 'websocket', Connection: 'Upgrade' } : {};
    const real = /[?&]real=([^&]+)/.exec(target)?.[1];
    const bytes = requestBytes({ target, headers: { ...headersOf(credentials), ...upgrading, ...(real ? { 'X-Real-IP': real } : {}) } });
    const linesOf = async (port: number) => {
      const before = readFileSync(file, 'latin1').length;
      const reply = await exchange('127.0.0.1', port, bytes, false);
      await new Promise((resolve) => setTimeout(resolve, 200));
      return accessLines(readFileSync(file, 'latin1').slice(before), reply.headers.find(([name]) => name === 'server')?.[1] ?? '');
    };
    const nginx = await linesOf(pair.nginx.ports[0]);
    const gateway = await linesOf(pair.gateway.ports[0]);
    expect(nginx).toHaveLength(1);
    expect(gateway).toEqual(nginx);
  });

  test.each<[string, string, Credentials, number, boolean]>([
    ['all: a wrong password', '/delay-all/a.txt', 'wrong', 401, true],
    ['all: no password', '/delay-all/a.txt', 'missing', 401, true],
    ['all: the right password', '/delay-all/a.txt', 'right', 200, false],
    ['any: deny, wrong password, service 403: the 401 waits', '/delay-any/a.txt', 'wrong', 401, true],
    ['any: deny, wrong password, service 2xx: in at once', '/delay-any-ok/a.txt', 'wrong', 200, false],
    ['all: allow, right password, service 403: a 403 does not wait', '/delay-all-403/a.txt', 'right', 403, false],
  ])('auth_delay 400ms with auth_basic, %s: both answer %s, delayed: %s', async (_name, target, credentials, status, delayed) => {
    const timed = async (port: number) => {
      const start = performance.now();
      const reply = await exchange('127.0.0.1', port, requestBytes({ target, headers: headersOf(credentials) }), false);
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
