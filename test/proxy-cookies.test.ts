/**
 * `proxy_cookie_domain`, `proxy_cookie_path` and `proxy_cookie_flags`: the pure rewrite of one
 * Set-Cookie (tables, each row checked by hand against nginx 1.22), the directives read from
 * nginx.conf with nginx's wording for bad values at file:line:column, inheritance, and the
 * gateway process in front of a real backend that sends many Set-Cookie lines.
 */
import http from 'node:http';
import { buildConfig, readOptionsOf } from '../src/config/build';
import { parseNginxText } from '../src/config/nginx/read';
import { ConfigError } from '../src/errors';
import {
  compileCookieFlags,
  compileCookieRewrite,
  rewriteCookieValue,
  rewriteSetCookie,
  type CookieRules,
  type CookieFlagsConf,
  type CookieRewriteConf,
} from '../src/modules/proxy/cookies';
import type { ProxyOptions } from '../src/modules/proxy/proxy';
import type { VariableSource } from '../src/http/variables';
import { REGISTRY } from '../src/modules/registry';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { closeServer, listen, portOf, request } from './helpers/proxy-peers';

/** Evaluates compiled values against a request with `?n=dyn` and Host `site.test`. */
const ctx = {
  evaluate: (t: (s: VariableSource) => string) => t({ args: 'n=dyn', host: 'site.test', captures: [], namedCaptures: {}, setValues: null } as unknown as VariableSource),
};
const NONE = new Set<string>();
const rules = (domains: CookieRewriteConf[], paths: CookieRewriteConf[], flags: CookieFlagsConf[]): CookieRules => ({
  domains: domains.map((r) => compileCookieRewrite(r, 'domain', NONE)),
  paths: paths.map((r) => compileCookieRewrite(r, 'path', NONE)),
  flags: flags.map((r) => compileCookieFlags(r, NONE)),
});
const rw = (pattern: string, replacement: string): CookieRewriteConf => ({ pattern, replacement });

describe('one Domain or Path value', () => {
  test.each([
    ['domain', [rw('.backend.test', '.site.test')], '.Backend.Test', '.site.test'],
    ['domain', [rw('backend.test', 'site.test')], 'backend.test', 'site.test'],
    ['domain', [rw('backend.test', 'site.test')], 'www.backend.test', null],
    ['domain', [rw('backend.test', '$host')], 'backend.test', 'site.test'],
    ['domain', [rw('~^\\.?(.+)\\.internal$', '$1.example.com')], '.shop.INTERNAL', 'shop.example.com'],
    ['domain', [rw('~(?P<sub>[a-z]+)\\.internal', 'x.$sub')], 'a.shop.internal', 'x.shop'],
    ['domain', [rw('other', 'x'), rw('backend.test', 'first'), rw('~.*', 'second')], 'backend.test', 'first'],
    ['path', [rw('/app/', '/')], '/app/x/y', '/x/y'],
    ['path', [rw('/app/', '/')], '/App/x', null],
    ['path', [rw('~^/app/(.*)', '/new/$1')], '/App/x', null],
    ['path', [rw('~*^/app/(.*)', '/new/$1$2')], '/App/x', '/new/x'],
    ['path', [rw('~/b', '/whole')], '/a/b/c', '/whole'],
  ] as const)('%s %j: %s -> %s', (which, conf, value, expected) => {
    const compiled = conf.map((r) => compileCookieRewrite(r, which, NONE));
    expect(rewriteCookieValue(value, compiled, ctx)).toBe(expected);
  });
});

describe('one Set-Cookie line', () => {
  const domain = [rw('backend.test', 'site.test')];
  const path = [rw('/app/', '/')];
  test.each([
    // Written again with "; " once a rule touched it; left as it came otherwise.
    [rules(domain, [], []), 'a=1;Domain=backend.test ;  Path=/app/', 'a=1; Domain=site.test; Path=/app/'],
    [rules(domain, [], []), 'a=1;Domain=other.test', null],
    [rules([], path, []), 'a = 1 ; path = /app/x ;', 'a=1; path=/x; '],
    // No "=" in the first part: nginx leaves the header alone.
    [rules(domain, [], []), 'a; Domain=backend.test', null],
    // A valueless Domain is not rewritten.
    [rules(domain, [], []), 'a=1; Domain', null],
    [rules([], [], [{ cookie: 'a', flags: ['secure', 'httponly', 'samesite=lax'] }]), 'A=1', 'A=1; Secure; HttpOnly; SameSite=Lax'],
    [rules([], [], [{ cookie: 'a', flags: ['secure', 'httponly', 'samesite=lax'] }]), 'a=1; secure; SAMESITE=lax; httponly', 'a=1; secure; SAMESITE=lax; httponly'],
    [rules([], [], [{ cookie: 'a', flags: ['samesite=strict'] }]), 'a=1; SameSite=None; SameSite=Lax', 'a=1; SameSite=Strict; SameSite=Lax'],
    [rules([], [], [{ cookie: 'a', flags: ['samesite=strict'] }]), 'a=1; SameSite', 'a=1; SameSite=Strict'],
    [rules([], [], [{ cookie: 'a', flags: ['nosecure', 'nohttponly', 'nosamesite'] }]), 'a=1; Secure; HttpOnly; secure; SameSite=Lax; Path=/', 'a=1; Path=/'],
    [rules([], [], [{ cookie: 'a', flags: ['secure', 'nosecure'] }]), 'a=1', 'a=1; Secure'],
    [rules([], [], [{ cookie: 'a', flags: ['samesite=none', 'samesite=strict'] }]), 'a=1', 'a=1; SameSite=Strict'],
    [rules([], [], [{ cookie: 'a', flags: ['bogus'] }]), 'a=1;Path=/', null],
    [rules([], [], [{ cookie: '$arg_n', flags: ['secure'] }]), 'dyn=1', 'dyn=1; Secure'],
    [rules([], [], [{ cookie: '~^s', flags: ['httponly'] }, { cookie: 'sid', flags: ['secure'] }]), 'SID=1', 'SID=1; HttpOnly'],
    [rules([], [], [{ cookie: 'x', flags: ['secure'] }]), 'sid=1', null],
    [rules(domain, path, [{ cookie: 'a', flags: ['secure'] }]), 'a=1; Path=/app/b; Domain=backend.test', 'a=1; Path=/b; Domain=site.test; Secure'],
  ])('%#: %s', (compiled, header, expected) => {
    expect(rewriteSetCookie(header, compiled, ctx)).toBe(expected);
  });
});

const FILE = '/virtual/nginx.conf';
const site = (http: string, server: string, location: string) =>
  `events {}\nhttp {\n${http}\n  server {\n    listen 8080;\n${server}\n    location / {\n      proxy_pass http://127.0.0.1:9;\n${location}\n    }\n  }\n}\n`;
const build = (text: string) => buildConfig(parseNginxText(text, FILE, undefined, readOptionsOf(REGISTRY)), FILE, '/virtual', REGISTRY);
function buildError(text: string): string {
  try {
    build(text);
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return 'no error';
}

describe('the directives in nginx.conf', () => {
  const optionsOf = (text: string) => build(text).http.servers[0].locations[0].handlerOptions as ProxyOptions;

  test('off by default; each inherited whole from the nearest level that sets it, off included', () => {
    expect(optionsOf(site('', '', '')).cookies).toBeNull();
    const options = optionsOf(
      site(
        '  proxy_cookie_domain a b;\n  proxy_cookie_flags one secure;',
        '    proxy_cookie_path /a/ /;\n    proxy_cookie_path /b/ /;\n    proxy_cookie_flags off;',
        '      proxy_cookie_path ~^/c/ /;',
      ),
    );
    expect(options.cookies?.domains).toHaveLength(1);
    expect(options.cookies?.paths).toHaveLength(1);
    expect(options.cookies?.flags).toHaveLength(0);
    expect(optionsOf(site('  proxy_cookie_flags one secure;', '', '')).cookies?.flags).toHaveLength(1);
  });

  // nginx -t's wording, checked by hand; a regex's error is the gateway's own (JavaScript's, not PCRE2's).
  test.each([
    ['proxy_cookie_domain a;', 'invalid parameter "a" in /virtual/nginx.conf:9:27'],
    ['proxy_cookie_domain a b c;', 'invalid number of arguments in "proxy_cookie_domain" directive in /virtual/nginx.conf:9:27'],
    ['proxy_cookie_domain off; proxy_cookie_domain a b;', '"proxy_cookie_domain" directive is duplicate in /virtual/nginx.conf:9:52'],
    ['proxy_cookie_path a b; proxy_cookie_path off;', '"proxy_cookie_path" directive is duplicate in /virtual/nginx.conf:9:48'],
    ['proxy_cookie_path a $nope;', 'unknown "nope" variable in /virtual/nginx.conf:9:25'],
    ['proxy_cookie_domain ~*a b;', 'invalid regex "*a": /*a/i: Nothing to repeat in /virtual/nginx.conf:9:27'],
    ['proxy_cookie_path ~*(a b;', 'invalid regex "(a": /(a/i: Unterminated group in /virtual/nginx.conf:9:25'],
    ['proxy_cookie_flags one;', 'invalid parameter "one" in /virtual/nginx.conf:9:26'],
    ['proxy_cookie_flags a b c d e;', 'invalid number of arguments in "proxy_cookie_flags" directive in /virtual/nginx.conf:9:26'],
    ['proxy_cookie_flags $nope secure;', 'unknown "nope" variable in /virtual/nginx.conf:9:26'],
    ['proxy_cookie_flags off; proxy_cookie_flags off;', '"proxy_cookie_flags" directive is duplicate in /virtual/nginx.conf:9:50'],
  ])('%s', (directive, message) => {
    expect(buildError(site('', '', `      ${directive}`))).toBe(message);
  });

  test('an unknown flag is accepted, as nginx -t does (it is ignored per request)', () => {
    expect(buildError(site('', '', '      proxy_cookie_flags one bogus $arg_f;'))).toBe('no error');
  });
});

describe('the gateway process in front of a real backend', () => {
  let gateway: GatewayProcess;
  let port = 0;
  const backend = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const cookies = url.searchParams.getAll('c');
    res.writeHead(200, [...cookies.flatMap((c) => ['Set-Cookie', c]), 'Content-Length', '2']);
    res.end('ok');
  });

  beforeAll(async () => {
    await listen(backend);
    gateway = await startGateway(
      'master_process off;\nerror_log stderr notice;\npid off;\nevents {}\nhttp {\n  access_log off;\n  proxy_cookie_flags ~ secure samesite=lax;\n' +
        '  server {\n    listen 127.0.0.1:0;\n    proxy_cookie_domain ~^\\.?(?<sub>[a-z]+)\\.internal$ $sub.$host;\n' +
        `    location / {\n      proxy_pass http://127.0.0.1:${portOf(backend)};\n      proxy_cookie_path /app/ /;\n    }\n` +
        `    location /raw/ {\n      proxy_pass http://127.0.0.1:${portOf(backend)};\n      proxy_cookie_flags off;\n      proxy_cookie_domain off;\n    }\n  }\n}\n`,
      { confName: 'test.conf' },
    );
    port = gateway.ports[0];
  });

  afterAll(async () => {
    await gateway?.stop();
    await closeServer(backend);
  });

  const get = (path: string, cookies: string[]) => request(port, `${path}?${cookies.map((c) => `c=${encodeURIComponent(c)}`).join('&')}`, { headers: { Host: 'site.test' } });

  test('every Set-Cookie line rewritten in order; a location with off passes them as they came', async () => {
    const reply = await get('/', ['a=1; Domain=.shop.internal; Path=/app/x', 'b=2; HttpOnly', 'c=3; SameSite=Strict; Secure']);
    expect(reply.status).toBe(200);
    expect(reply.headers['set-cookie']).toEqual([
      'a=1; Domain=shop.site.test; Path=/x; Secure; SameSite=Lax',
      'b=2; HttpOnly; Secure; SameSite=Lax',
      'c=3; SameSite=Lax; Secure',
    ]);
    const raw = await get('/raw/', ['a=1; Domain=.shop.internal;Path=/app/x']);
    expect(raw.headers['set-cookie']).toEqual(['a=1; Domain=.shop.internal;Path=/app/x']);
  });

  test('many and odd Set-Cookie lines: answered whole, the process stays up', async () => {
    const odd = ['', ';;;', '=', 'x=', ' ; Domain=', `big=${'v'.repeat(2000)}; Path=/app/${'p'.repeat(2000)}`, ...Array.from({ length: 200 }, (_, i) => `n${i}=${i}`)];
    const reply = await get('/', odd);
    expect(reply.status).toBe(200);
    // The client trims the leading space of " ; Domain=", which the gateway passes as it came (no = in its first part).
    const lines = reply.headers['set-cookie'] ?? [];
    expect(lines).toHaveLength(odd.length);
    expect(lines.slice(0, 5)).toEqual(['', ';;;', '=; Secure; SameSite=Lax', 'x=; Secure; SameSite=Lax', '; Domain=']);
    expect(lines[5]).toBe(`big=${'v'.repeat(2000)}; Path=/${'p'.repeat(2000)}; Secure; SameSite=Lax`);
    expect(lines[205]).toBe('n199=199; Secure; SameSite=Lax');
    expect((await get('/', ['z=1'])).headers['set-cookie']).toEqual(['z=1; Secure; SameSite=Lax']);
  });
});
