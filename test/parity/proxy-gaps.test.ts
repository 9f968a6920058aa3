/**
 * Parity of the proxy's last gaps (issue 17, item 4), beside nginx 1.22: auto_redirect (a
 * prefix or exact location ending in `/` whose handler proxies answers `/app` with a 301 to
 * `/app/`, before regexes, after an exact or equal prefix match); a backend's 204 with a
 * Content-Type; HEAD requests answered by error pages; `proxy_redirect` with `~` and `~*`
 * regexes and their captures, beside the plain forms.
 */
import net from 'node:net';
import { defineParityCases, type ParityRequest } from './run';
import { startScriptedBackend, type ScriptedBackend } from './scripted-backend';
import { loc, type LocationModel, type SiteModel } from './site';

let backend: ScriptedBackend;
let downPort = 0;

beforeAll(async () => {
  backend = await startScriptedBackend();
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  downPort = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
});

afterAll(() => backend?.close());

/** A location answering `200 '<label> uri=$uri'`. */
const says = (match: string, label: string) => loc(match, { return: `200 '${label} uri=$uri\n'` });

function autoRedirectSite(): SiteModel {
  const b = backend.url;
  const inRegex: LocationModel = { match: '~ /re-outer', directives: { return: "200 're-outer\n'" }, locations: [loc('/re-outer/in/', { proxy_pass: b })] };
  const nested: LocationModel = { match: '/outer/', directives: { return: "200 'outer\n'" }, locations: [loc('/outer/in/', { proxy_pass: b })] };
  return {
    servers: [
      {
        locations: [
          says('/', 'root'),
          loc('/app/', { proxy_pass: b }),
          says('= /exact-wins', 'exact'),
          loc('/exact-wins/', { proxy_pass: b }),
          says('/pre', 'prefix-pre'),
          loc('/pre/', { proxy_pass: b }),
          says('/sh', 'prefix-sh'),
          loc('/sh/longer/', { proxy_pass: b }),
          says('~ ^/rx$', 'regex-rx'),
          loc('/rx/', { proxy_pass: b }),
          loc('~ ^/onlyre/', { proxy_pass: b }),
          loc('^~ /noregex/', { proxy_pass: b }),
          loc('= /ex/', { proxy_pass: b }),
          says('/static/', 'static'),
          loc('/int/', { proxy_pass: b, internal: '' }),
          loc('/var/', { proxy_pass: `http://127.0.0.1:$arg_port` }),
          loc('/small/', { proxy_pass: b, client_max_body_size: '1' }),
          { match: '= /rw', script: [['rewrite', '^ /app last']] },
          nested,
          inRegex,
          loc('/g/', { grpc_pass: 'grpc://127.0.0.1:1' }),
        ],
      },
    ],
  };
}

function responsesSite(): SiteModel {
  const b = backend.url;
  return {
    servers: [
      {
        directives: { root: 'www' },
        locations: [
          loc('/s/', { proxy_pass: b }),
          loc('/down/', { proxy_pass: `http://127.0.0.1:${downPort}` }),
          loc('/files/', {}),
          loc('= /r404', { return: '404' }),
          loc('= /r500', { return: '500' }),
          loc('= /r503', { return: '503' }),
          loc('= /r302', { return: '302 /elsewhere' }),
          loc('= /deny', { deny: 'all' }),
          loc('/page/', { proxy_pass: `http://127.0.0.1:${downPort}`, error_page: '502 /files/oops.html' }),
        ],
      },
    ],
  };
}

function redirectSite(): SiteModel {
  const b = backend.url;
  return {
    servers: [
      {
        locations: [
          loc('/regex/', {
            proxy_pass: b,
            proxy_redirect: ['http://plain.test/ /plain/', '~^http://upstream\\.test/(\\w+)/(.*)$ /moved/$2/$1', '~*^HTTP://CI\\.TEST/(.*)$ http://$host/ci/$1', '~^http://named\\.test/(?<rest>.*)$ /n/$rest', 'default'],
          }),
          loc('/regex-first/', { proxy_pass: b, proxy_redirect: ['~/(a)/ /first/$1/', 'http://x.test/a/ /second/'] }),
        ],
      },
    ],
  };
}

function accelSite(): SiteModel {
  const b = backend.url;
  return {
    servers: [
      {
        directives: { root: 'www' },
        locations: [
          loc('/xa/', { proxy_pass: b }),
          loc('/protected/', { internal: '' }),
          loc('/echo/', { return: "200 'echo $request_method uri=$uri args=$args\n'" }),
          loc('/echo-internal/', { internal: '', return: "200 'internal $request_method uri=$uri args=$args\n'" }),
          loc('@named', { return: "200 'named $request_method uri=$uri args=$args\n'" }),
          loc('/xa-ignore/', { proxy_pass: b, proxy_ignore_headers: 'X-Accel-Redirect' }),
          loc('/xa-ignore-pass/', { proxy_pass: b, proxy_ignore_headers: 'X-Accel-Redirect', proxy_pass_header: 'X-Accel-Redirect' }),
          loc('/xa-pass/', { proxy_pass: b, proxy_pass_header: 'X-Accel-Redirect' }),
          loc('/xa-pass-all/', { proxy_pass: b, proxy_pass_header: ['X-Accel-Limit-Rate', 'X-Accel-Buffering', 'X-Accel-Charset', 'X-Accel-Expires'] }),
        ],
      },
    ],
  };
}

/** A request the backend answers with what the query asks. */
const scripted = (name: string, path: string, query: Record<string, string | string[]>, more: Partial<ParityRequest> = {}): ParityRequest => {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) for (const one of [v].flat()) params.append(k, one);
  return { name, target: `${path}?${params}`, ...more };
};

defineParityCases([
  {
    title: 'auto_redirect',
    site: autoRedirectSite,
    requests: [
      { name: 'a proxied prefix location ending in / asked without it: 301 to it', target: '/app' },
      { name: 'the query string kept', target: '/app?x=1&y=%20' },
      { name: 'HEAD', target: '/app', method: 'HEAD' },
      { name: 'a POST is redirected too', method: 'POST', target: '/app', headers: { 'Content-Length': '0' } },
      { name: 'the location itself still proxies', target: '/app/x' },
      { name: 'an exact location of the same name wins', target: '/exact-wins' },
      { name: 'a prefix location of the same name wins', target: '/pre' },
      { name: 'a shorter prefix does not stop it', target: '/sh/longer' },
      { name: 'a regex location that matches does not stop it (regexes are not tried)', target: '/rx' },
      { name: 'a regex location does not get it', target: '/onlyre' },
      { name: 'a ^~ location gets it', target: '/noregex' },
      { name: 'an exact location ending in / gets it', target: '/ex' },
      { name: 'a location that does not proxy does not get it', target: '/static' },
      { name: 'an internal location: 404, not a redirect', target: '/int' },
      { name: 'proxy_pass with variables gets it', target: '/var' },
      { name: 'client_max_body_size of the location is checked first', raw: 'POST /small HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello' },
      { name: 'a URI rewritten to it (rewrite last): 301 to it', target: '/rw?a=b' },
      { name: 'a nested location', target: '/outer/in' },
      { name: 'a longer URI is not redirected', target: '/apps' },
      { name: 'a prefix location nested in a regex location: never found (nginx builds no tree for it), no redirect', target: '/re-outer/in' },
      { name: 'a prefix location nested in a regex location: never found, the regex location serves', target: '/re-outer/in/x' },
      { name: 'grpc_pass gets it', target: '/g' },
      { name: 'a WebSocket upgrade is redirected too', target: '/app', headers: { Upgrade: 'websocket', Connection: 'Upgrade', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version': '13' } },
    ],
  },
  {
    title: 'proxied responses',
    site: responsesSite,
    files: { 'www/files/oops.html': '<p>oops</p>\n' },
    requests: [
      scripted("a backend's 204 with a Content-Type", '/s/204', { status: '204', h: ['Content-Type: text/plain', 'X-Mark: 1'] }),
      scripted("a backend's 204 with Content-Type and Content-Length: 0", '/s/204l', { status: '204', h: ['Content-Type: application/json', 'Content-Length: 0'] }),
      scripted("a backend's 304 with a Content-Type", '/s/304', { status: '304', h: ['Content-Type: text/html', 'ETag: "x"'] }),
      scripted("a backend's 200 to HEAD", '/s/head', { h: ['Content-Type: text/plain', 'Content-Length: 12'] }, { method: 'HEAD' }),
      scripted("a backend's 404 to HEAD", '/s/head404', { status: '404', h: ['Content-Type: text/plain', 'Content-Length: 9'] }, { method: 'HEAD' }),
      { name: 'HEAD of a static 404', target: '/files/missing', method: 'HEAD' },
      { name: 'HEAD of a 502 (backend down)', target: '/down/x', method: 'HEAD' },
      { name: 'HEAD of return 404', target: '/r404', method: 'HEAD' },
      { name: 'HEAD of return 500', target: '/r500', method: 'HEAD' },
      { name: 'HEAD of return 503', target: '/r503', method: 'HEAD' },
      { name: 'HEAD of return 302', target: '/r302', method: 'HEAD' },
      { name: 'HEAD of a 403 (deny all)', target: '/deny', method: 'HEAD' },
      { name: 'HEAD of a 404 from an MSIE client (padded page)', target: '/files/missing', method: 'HEAD', headers: { 'User-Agent': 'Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)' } },
      { name: 'HEAD of a 400 (bad request)', target: '/%zz', method: 'HEAD' },
      { name: 'HEAD of a 502 with error_page to a file', target: '/page/x', method: 'HEAD' },
      { name: 'GET of a 502 with error_page to a file', target: '/page/x' },
      { name: 'HEAD of a 301 (directory without slash)', target: '/files', method: 'HEAD' },
    ],
  },
  {
    title: 'X-Accel-Redirect',
    site: accelSite,
    files: { 'www/protected/file.txt': 'a protected file\n', 'www/protected/page.html': '<p>page</p>\n' },
    requests: [
      scripted('to an internal location: the file', '/xa/a', { h: 'X-Accel-Redirect: /protected/file.txt' }),
      scripted("the backend's Content-Type, Set-Cookie, Cache-Control, Expires, Content-Disposition, Accept-Ranges go along; others do not", '/xa/b', {
        h: ['X-Accel-Redirect: /protected/page.html', 'Content-Type: application/x-mine', 'Set-Cookie: a=1', 'Cache-Control: max-age=5', 'Content-Disposition: attachment', 'X-Other: 1', 'Location: /nowhere', 'Accept-Ranges: none'],
      }),
      scripted('with its own args', '/xa/c', { h: 'X-Accel-Redirect: /echo/y?z=2&w' }),
      scripted('without args of its own: none', '/xa/d', { h: 'X-Accel-Redirect: /echo/y', x: '1' }),
      scripted('an escaped URI is decoded', '/xa/e', { h: 'X-Accel-Redirect: /echo/a%20b' }),
      scripted('a POST becomes a GET', '/xa/f', { h: 'X-Accel-Redirect: /echo/post' }, { method: 'POST', headers: { 'Content-Length': '0' } }),
      scripted('a HEAD stays a HEAD', '/xa/g', { h: 'X-Accel-Redirect: /protected/file.txt' }, { method: 'HEAD' }),
      scripted('to a named location: the args stay', '/xa/h', { h: 'X-Accel-Redirect: @named' }),
      scripted('to an internal return', '/xa/i', { h: 'X-Accel-Redirect: /echo-internal/x' }),
      scripted("the backend's status does not matter", '/xa/j', { status: '404', h: 'X-Accel-Redirect: /protected/file.txt' }),
      scripted('an unsafe URI: 404', '/xa/k', { h: 'X-Accel-Redirect: /protected/../../x' }),
      scripted('a missing file: 404', '/xa/l', { h: 'X-Accel-Redirect: /protected/none.txt' }),
      scripted('proxy_ignore_headers X-Accel-Redirect: the response as it is, the header hidden', '/xa-ignore/m', { h: 'X-Accel-Redirect: /protected/file.txt' }),
      scripted('proxy_ignore_headers and proxy_pass_header: the header passed', '/xa-ignore-pass/n', { h: 'X-Accel-Redirect: /protected/file.txt' }),
      scripted('proxy_pass_header alone: still redirected', '/xa-pass/o', { h: 'X-Accel-Redirect: /protected/file.txt' }),
      { name: 'the internal location asked for directly: 404', target: '/protected/file.txt' },
      scripted('a redirect that comes back to the same upstream forever: 500 after 10', '/xa/loop', { loop: '1' }),
      scripted('proxy_pass_header of the other X-Accel-* headers', '/xa-pass-all/p', { h: ['X-Accel-Limit-Rate: 100000', 'X-Accel-Buffering: yes', 'X-Accel-Charset: utf-8', 'X-Accel-Expires: 0', 'Content-Type: text/plain'] }),
    ],
  },
  {
    title: 'proxy_redirect',
    site: redirectSite,
    requests: [
      scripted('proxy_redirect: a plain rule', '/regex/p', { status: '302', h: ['Location: http://plain.test/x/y'] }),
      scripted('proxy_redirect: a ~ rule with captures', '/regex/r', { status: '302', h: ['Location: http://upstream.test/first/rest/of?q=1'] }),
      scripted('proxy_redirect: a ~ rule is case-sensitive', '/regex/r2', { status: '302', h: ['Location: http://UPSTREAM.test/first/rest'] }),
      scripted('proxy_redirect: a ~* rule, case-insensitive, with $host', '/regex/ci', { status: '301', h: ['Location: http://ci.test/Some/Thing'] }, { host: 'site.test' }),
      scripted('proxy_redirect: a ~ rule with a named capture', '/regex/named', { status: '302', h: ['Location: http://named.test/x/y'] }),
      scripted('proxy_redirect: no rule matches', '/regex/none', { status: '302', h: ['Location: http://other.test/z'] }),
      scripted('proxy_redirect: the first matching rule wins (regex, then plain)', '/regex-first/x', { status: '302', h: ['Location: http://x.test/a/b'] }),
    ],
  },
]);

