/**
 * Parity of the proxy: nginx and the gateway in front of the same recording backend, which
 * answers with what it received, so each response shows both what the client got and what
 * the proxy sent upstream (request line, header lines in order, body). `proxy_pass` with and
 * without a URI part, a regex location, `proxy_set_header` defaults and variables, hop-by-hop
 * headers, `proxy_hide_header`/`proxy_pass_header`, `proxy_buffering off`, `proxy_redirect`,
 * `proxy_http_version 1.1`, a backend that is down, a body over `client_max_body_size`, a
 * malformed chunk, a client that half-closes before the answer, upgrades: proxied as plain
 * HTTP where the location forwards no Upgrade (h2c smuggling), passed with nginx's recipe; and
 * `proxy_pass` with variables (an address, a URI part, a name without a resolver, no URL).
 */
import net from 'node:net';
import { DELIBERATE } from './differences';
import { startRecordingBackend, type RecordingBackend } from './recording-backend';
import { defineParityCases, type ParityRequest } from './run';
import { loc, type SiteModel } from './site';

let backend: RecordingBackend;
let downPort = 0;

beforeAll(async () => {
  backend = await startRecordingBackend();
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  downPort = (probe.address() as net.AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
});

afterAll(() => backend?.close());

function site(): SiteModel {
  const b = backend.url;
  return {
    servers: [
      {
        locations: [
          loc('/plain/', { proxy_pass: b }),
          loc('/uri/', { proxy_pass: `${b}/backend/` }),
          loc('~ ^/re/(.*)$', { proxy_pass: b }),
          loc('/set/', {
            proxy_pass: b,
            proxy_set_header: ['X-Host $host', 'X-Real-IP $remote_addr', 'X-Forwarded-For $proxy_add_x_forwarded_for', 'X-Scheme $scheme', 'User-Agent ""'],
          }),
          loc('/host/', { proxy_pass: b, proxy_set_header: ['Host $host', 'Connection ""'] }),
          loc('/hide/', { proxy_pass: b, proxy_hide_header: 'X-Secret', proxy_pass_header: ['Server', 'X-Accel-Expires'] }),
          loc('/unbuffered/', { proxy_pass: b, proxy_buffering: 'off' }),
          loc('/redir/', { proxy_pass: `${b}/r/` }),
          loc('/redir-root/', { proxy_pass: b }),
          loc('/redir-off/', { proxy_pass: `${b}/r/`, proxy_redirect: 'off' }),
          loc('/redir-literal/', { proxy_pass: b, proxy_redirect: 'http://upstream.test/ /moved/' }),
          loc('/v11/', { proxy_pass: b, proxy_http_version: '1.1' }),
          loc('/v11-keepalive/', { proxy_pass: b, proxy_http_version: '1.1', proxy_set_header: 'Connection ""' }),
          loc('/down/', { proxy_pass: `http://127.0.0.1:${downPort}` }),
          loc('/small/', { proxy_pass: b, client_max_body_size: '10' }),
          loc('/h2c/', { proxy_pass: b }),
          loc('/ws/', { proxy_pass: b, proxy_http_version: '1.1', proxy_set_header: ['Upgrade $http_upgrade', 'Connection "upgrade"'] }),
          loc('/off11/', { proxy_pass: b, proxy_request_buffering: 'off', proxy_http_version: '1.1', client_max_body_size: '0' }),
          // proxy_pass with variables (no resolver in this server: a name is a 502).
          loc('/var/', { proxy_pass: `http://$arg_h:${new URL(b).port}` }),
          loc('/var-uri/', { proxy_pass: `${b}/fixed$arg_p` }),
          loc('/var-bad/', { proxy_pass: '$arg_url' }),
        ],
      },
    ],
  };
}

/** A request the backend answers (what it received, the request line's version included, is compared). */
const upstream = (r: ParityRequest): ParityRequest => r;
const redirect = (path: string, to: string) => `${path}redirect?to=${encodeURIComponent(to)}`;

defineParityCases([
  {
    title: 'proxy',
    site,
    requests: [
      upstream({ name: 'proxy_pass without a URI part: the request URI as sent', target: '/plain/a/../b//c?x=1&y=%20' }),
      upstream({ name: 'proxy_pass with a URI part: the prefix replaced', target: '/uri/users/42?full=1' }),
      upstream({ name: 'proxy_pass with a URI part: an encoded character', target: '/uri/a%20b' }),
      upstream({ name: 'a regex location without a URI part', target: '/re/thing?q=1' }),
      upstream({ name: 'default headers, client headers passed', target: '/plain/h', headers: { 'X-Custom': 'yes', Accept: '*/*', 'User-Agent': 'parity/1' } }),
      upstream({ name: 'proxy_set_header with $host $remote_addr $proxy_add_x_forwarded_for $scheme, an empty one', target: '/set/v', headers: { 'X-Forwarded-For': '10.1.2.3', 'User-Agent': 'parity/1' } }),
      upstream({ name: 'proxy_set_header Host $host and Connection ""', target: '/host/v', host: 'site.test' }),
      { name: 'proxy_http_version 1.1: Connection close all the same', target: '/v11/x' },
      { name: 'proxy_http_version 1.1 with Connection "": no Connection header', target: '/v11-keepalive/x' },
      upstream({ name: 'hop-by-hop request headers stay behind', target: '/plain/hop-req', headers: { 'Keep-Alive': '300', TE: 'trailers', Upgrade: 'h2c', Expect: '' } }),
      upstream({
        name: 'a POST body with Content-Length',
        raw: 'POST /plain/post HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nhello',
      }),
      upstream({ name: 'a request header named in Connection', target: '/plain/named', headers: { Connection: 'close, X-Drop', 'X-Drop': '1' }, differs: DELIBERATE.requestHeaderNamedInConnection }),
      upstream({ name: 'hop-by-hop response headers dropped', target: '/plain/hop', differs: DELIBERATE.responseHeaderNamedInConnection }),
      upstream({ name: 'nginx hidden response headers', target: '/plain/headers' }),
      upstream({ name: 'proxy_hide_header and proxy_pass_header', target: '/hide/headers' }),
      upstream({ name: 'proxy_buffering off: the same response', target: '/unbuffered/x?y=1' }),
      upstream({ name: 'proxy_buffering off: the same hidden headers', target: '/unbuffered/headers' }),
      upstream({ name: 'proxy_redirect default with a URI part', target: redirect('/redir/', 'BACKEND/r/x/y?z=1') }),
      upstream({ name: 'proxy_redirect default: another host untouched', target: redirect('/redir/', 'http://elsewhere.test/r/x') }),
      upstream({ name: 'proxy_redirect default without a URI part', target: redirect('/redir-root/', 'BACKEND/a/b') }),
      upstream({ name: 'proxy_redirect off', target: redirect('/redir-off/', 'BACKEND/r/x') }),
      upstream({ name: 'proxy_redirect redirect replacement', target: redirect('/redir-literal/', 'http://upstream.test/p/q') }),
      { name: 'a backend that is down: 502', target: '/down/x' },
      { name: 'a body over client_max_body_size: 413', method: 'POST', target: '/small/x', headers: { 'Content-Length': '11' } },
      {
        name: 'a chunked body over client_max_body_size: 413',
        raw: 'POST /small/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n6\r\n012345\r\n5\r\n6789a\r\n0\r\n\r\n',
      },
      upstream({
        name: 'an upgrade request where the location forwards no Upgrade: proxied as plain HTTP, no Upgrade goes up, no 101 (h2c smuggling)',
        raw: 'GET /h2c/x HTTP/1.1\r\nHost: localhost\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n',
      }),
      { name: "an upgrade where the location forwards Upgrade (nginx's recipe): the backend's 101", raw: 'GET /ws/x HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n' },
      { name: "nginx's recipe on a plain request: its Connection goes up, no Upgrade", target: '/ws/plain' },
      {
        name: 'a backend that answers 101 to a request that forwarded no Upgrade',
        raw: 'GET /h2c/switch HTTP/1.1\r\nHost: localhost\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n',
        differs: DELIBERATE.unaskedSwitch,
      },
      { name: 'a malformed chunk size: 400 at once', raw: 'POST /h2c/chunk HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n' },
      {
        name: 'a malformed chunk after part of a streamed body went up (proxy_request_buffering off): 400 at once',
        raw: 'POST /off11/chunk HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n',
      },
      { name: 'a client that half-closes before the upstream answers: closed without an answer (499)', target: '/h2c/slow', halfClose: true },
      upstream({ name: 'proxy_pass with variables making an address: the request URI as sent, Host as made', target: '/var/a%20b?h=127.0.0.1&x=1' }),
      upstream({ name: 'proxy_pass with variables and a URI part: sent as the variables made it, no args added', target: '/var-uri/zz?p=/q/r' }),
      { name: 'proxy_pass with variables naming a host, no resolver: 502', target: '/var/x?h=localhost' },
      { name: 'proxy_pass with variables making no URL: 500', target: '/var-bad/?url=ftp://x' },
      upstream({
        name: 'a chunked body within client_max_body_size goes up with its length',
        raw: 'POST /small/x HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n',
      }),
    ],
  },
]);
