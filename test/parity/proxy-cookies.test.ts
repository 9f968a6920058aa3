/**
 * Parity of `proxy_cookie_domain`, `proxy_cookie_path` and `proxy_cookie_flags`: nginx and the
 * gateway in front of the same recording backend, whose `/cookies?c=...` answers a Set-Cookie
 * line per `c`; each response shows the lines as the proxy rewrote them. Rules at the http,
 * server and location levels (inherited, replaced, `off`), text and regex patterns with
 * captures and variables, the first rule that matches, every flag and its `no` form, flags
 * with variables and a flag nginx does not know, headers nginx leaves alone, and a 101.
 */
import { startRecordingBackend, type RecordingBackend } from './recording-backend';
import { defineParityCases, type ParityRequest } from './run';
import { loc, type SiteModel } from './site';

let backend: RecordingBackend;

beforeAll(async () => {
  backend = await startRecordingBackend();
});

afterAll(() => backend?.close());

function site(): SiteModel {
  const b = backend.url;
  return {
    http: { proxy_cookie_flags: '~^sess secure httponly samesite=lax' },
    servers: [
      {
        directives: { proxy_cookie_domain: ['.backend.test gateway.test', '~^\\.?(?<sub>[a-z]+)\\.internal$ $sub.example.com'] },
        locations: [
          loc('/dom/', { proxy_pass: b }),
          loc('/path/', { proxy_pass: b, proxy_cookie_domain: 'off', proxy_cookie_path: ['/app/ /', '~*^/API/(.*)$ /api2/$1', '/$arg_from /$arg_to'] }),
          loc('/flags/', {
            proxy_pass: b,
            proxy_cookie_flags: ['one nosecure nohttponly nosamesite', '~^t samesite=strict', '$arg_n samesite=none secure', 'bogus wat', 'sec secure nosecure'],
          }),
          loc('/more/', {
            proxy_pass: b,
            proxy_cookie_path: ['~*^/app/(.*) /new/$1$2', '~/b /whole'],
            proxy_cookie_flags: ['a samesite=strict', 'b samesite=none samesite=strict', '~^$ secure', '~^x secure'],
          }),
          loc('/ws/', { proxy_pass: b, proxy_http_version: '1.1', proxy_set_header: ['Upgrade $http_upgrade', 'Connection "upgrade"'], proxy_cookie_path: '/app/ /' }),
          loc('/off/', { proxy_pass: b, proxy_cookie_flags: 'off', proxy_cookie_domain: 'off' }),
        ],
      },
    ],
  };
}

/** A request for the backend's Set-Cookie lines, one per value. */
function cookies(name: string, location: string, values: readonly string[], query = ''): ParityRequest {
  const target = `${location}cookies?${[...values.map((v) => `c=${encodeURIComponent(v)}`), query].filter(Boolean).join('&')}`;
  return { name, target };
}

defineParityCases([
  {
    title: 'proxy cookies',
    site,
    requests: [
      cookies('domain: a text rule inherited from the server, caseless, the leading dot kept', '/dom/', ['a=1; Domain=.Backend.TEST; Path=/', 'b=2; domain=backend.test', 'c=3; Domain=x.backend.test']),
      cookies('domain: a regex with a named capture replaces the whole value', '/dom/', ['a=1; Domain=.shop.internal', 'b=2; Domain=shop.internal.net']),
      cookies('flags from the http level: a caseless regex on the name; existing flags kept, others added', '/dom/', ['SESSION=x; secure', 'session2=y; SameSite=Strict; HttpOnly', 'other=z']),
      cookies('path: prefix, caseless regex with a capture, variables; domain off here', '/path/', ['a=1; Path=/app/x; Domain=backend.test', 'b=2; path=/api/v1', 'c=3; Path=/applet']),
      cookies('path: a rule with variables', '/path/', ['a=1; Path=/old/x'], 'from=old&to=new'),
      cookies('flags: the no forms remove every occurrence', '/flags/', ['one=1; Secure; HttpOnly; SameSite=Lax; secure', 'ONE=2;  HttpOnly ;Path=/']),
      cookies('flags: the first rule that matches; samesite replaced unless it already says so', '/flags/', ['t1=1; SameSite=None', 't2=2; samesite=strict', 'one=3; SameSite=strict']),
      cookies('flags: a name from a variable; an unknown flag ignored; secure with nosecure', '/flags/', ['dyn=1', 'bogus=2; Secure', 'sec=3', 'sec=4; Secure'], 'n=dyn'),
      cookies('a header nginx leaves alone: no = in its first part; odd spacing kept when nothing matches', '/flags/', ['one; Secure', 'x = 1 ;Path=/', 'one = 1 ;Path = / ; ;']),
      cookies('path: a missing capture is empty; a regex found anywhere replaces the whole value', '/more/', ['p=1; Path=/App/x', 'q=2; Path=/a/b/c; Domain=.backend.test']),
      cookies('flags: a valueless SameSite, several SameSite, two samesite flags', '/more/', ['a=1; SameSite', 'a=2; SameSite=None; SameSite=Lax', 'b=3']),
      cookies('flags: an empty name, an empty value, a valueless Domain', '/more/', ['=', 'x=', 'x=1; Domain', ' = 1']),
      {
        name: "a 101 (nginx's WebSocket recipe): its Set-Cookie lines rewritten too",
        raw: `GET /ws/x?c=${encodeURIComponent('a=1; Path=/app/x')}&c=session=2 HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`,
      },
      cookies('off at the location: flags and domain untouched', '/off/', ['session=1; Domain=backend.test']),
    ],
  },
]);
