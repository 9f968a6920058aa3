/**
 * Parity of `map`: exact keys (nginx lower-cases them, and the source when it looks them up),
 * `hostnames` (exact, `*.x`, `.x`, `x.*`, a trailing dot, upper case), `~`/`~*` regexes in
 * file order with captures and named captures in the value, `default`, `include` (a file in each
 * side's syntax), a value made of another map's variable, a map reading itself (nginx's cycle:
 * empty), the WebSocket idiom in `proxy_set_header`, and a map read before the upstream answered:
 * kept for the request, or read again when `volatile`. Used in `return`, `add_header` and
 * `proxy_set_header`.
 */
import { MAP } from './differences';
import { startRecordingBackend, type RecordingBackend } from './recording-backend';
import { defineParityCases, type ParityRequest } from './run';
import { loc, type SiteModel } from './site';

let backend: RecordingBackend;

beforeAll(async () => {
  backend = await startRecordingBackend();
});

afterAll(() => backend?.close());

const SHOW = "200 'a=$a h=$h nested=$nested inc=$inc cyc=$cyc\\n'";

function site(): SiteModel {
  const b = backend.url;
  return {
    maps: [
      {
        source: '$arg_k',
        variable: '$a',
        lines: [
          ['Foo', '1'],
          ['bar', '2'],
          ['default', '0'],
          ['\\default', 'literal-default'],
          ['~^Re(.)x$', 'r$1'],
          ['~*^ci(?<nm>.)$', 'ci$nm'],
          ['~^(a)(b)?', 'first-$1-$2'],
          ['~^ab', 'second'],
          ["''", 'empty'],
        ],
      },
      {
        source: '$http_host',
        variable: '$h',
        lines: [
          ['hostnames', ''],
          ['default', 'd'],
          ['www.example.com', 'exact'],
          ['*.example.com', 'star'],
          ['*.deep.example.com', 'deep'],
          ['.foo.com', 'dotfoo'],
          ['www.example.*', 'tail'],
          ['~^(?<s>[a-z]+)\\.re\\.com$', 're-$s'],
        ],
      },
      { source: '$arg_k', variable: '$nested', lines: [['default', '"<$a>"']] },
      { source: '$arg_k', variable: '$cyc', lines: [['default', '$cyc']] },
      {
        source: '$uri',
        variable: '$inc',
        lines: [['default', 'none']],
        nginx: [['include', '@prefix@/map.conf']],
        gateway: [['include', '@prefix@/map.yaml']],
      },
      { source: '$http_upgrade', variable: '$connection_upgrade', lines: [['default', 'upgrade'], ["''", 'close']] },
      { source: '$upstream_http_x_upstream_version', variable: '$kept', lines: [['default', 'none'], ['~(.+)', 'got-$1']] },
      { source: '$upstream_http_x_upstream_version', variable: '$fresh', lines: [['volatile', ''], ['default', 'none'], ['~(.+)', 'got-$1']] },
      { source: '"$arg_x:$arg_y"', variable: '$pair', lines: [['1:2', 'one-two'], ['default', 'other']] },
    ],
    servers: [
      {
        locations: [
          loc('/', { return: SHOW }),
          loc('/inc/', { return: SHOW }),
          loc('= /pair', { return: "200 '$pair'" }),
          loc('~ ^/cap/(.*)$', { return: "200 'a=$a one=$1'" }),
          loc('= /header', { return: "200 'ok'", add_header: 'X-Map $a' }),
          loc('= /redirect', { return: '302 /to/$a' }),
          loc('/ws/', { proxy_pass: b, proxy_http_version: '1.1', proxy_set_header: ['Upgrade $http_upgrade', 'Connection $connection_upgrade'] }),
          loc('/kept/', { proxy_pass: b, proxy_http_version: '1.1', proxy_set_header: 'X-Map $kept', add_header: 'X-Map $kept' }),
          loc('/fresh/', { proxy_pass: b, proxy_http_version: '1.1', proxy_set_header: 'X-Map $fresh', add_header: 'X-Map $fresh' }),
        ],
      },
    ],
  };
}

const key = (k: string, name: string): ParityRequest => ({ name, target: `/?k=${k}` });
const host = (h: string, name: string): ParityRequest => ({ name, target: '/', host: h });

defineParityCases([
  {
    title: 'map',
    site,
    files: {
      'map.conf': '# included by the map block\nexact-inc  yes;  # a comment\n~^/inc/(.*)$  "inc-$1";\n',
      'map.yaml': '# included by the map block\nexact-inc: yes\n"~^/inc/(.*)$": \'"inc-$1"\'\n',
    },
    requests: [
      key('Foo', 'an exact key as written'),
      key('foo', 'an exact key in lower case: nginx lower-cases the keys'),
      key('FOO', 'an exact key in upper case: and the source when it looks up'),
      key('Bar', 'another exact key'),
      key('zzz', 'no key: default'),
      key('default', 'the word default as a key written \\default'),
      key('Rexx', 'a regex with a capture in the value'),
      key('Rex', 'a regex that does not match'),
      key('CIq', 'a caseless regex with a named capture'),
      key('abz', 'the first regex in file order wins, an unmatched group empty'),
      { name: "an empty source: the '' key", target: '/' },
      key('Foo&x=1', 'a value of another map: evaluated when read'),
      host('www.example.com', 'hostnames: exact'),
      host('WWW.Example.COM', 'hostnames: upper case'),
      host('www.example.com.', 'hostnames: a trailing dot'),
      host('a.example.com', 'hostnames: *.example.com'),
      host('x.deep.example.com', 'hostnames: the longest wildcard'),
      host('example.com', 'hostnames: *.example.com does not match example.com'),
      host('foo.com', 'hostnames: .foo.com matches foo.com'),
      host('x.y.foo.com', 'hostnames: .foo.com matches names under it'),
      host('www.example.org', 'hostnames: www.example.*'),
      host('ab.re.com', 'hostnames: a regex with a named capture'),
      host('AB.re.com', 'hostnames: a regex sees the value as sent'),
      { name: 'include: an exact key from the file', target: '/exact-inc' },
      { name: 'include: a regex from the file', target: '/inc/thing' },
      { name: 'a source of two variables', target: '/pair?x=1&y=2' },
      { name: 'a source of two variables, no key', target: '/pair?x=2&y=1' },
      { name: "a location's capture read after a map without regex match", target: '/cap/zz?k=Foo' },
      { name: "a location's capture read after a map regex matched", target: '/cap/zz?k=Rexx', differs: MAP.regexCapturesStayInTheMap },
      { name: 'in add_header', target: '/header?k=bar' },
      { name: 'in a redirect', target: '/redirect?k=Foo' },
      { name: 'the WebSocket idiom, an upgrade', raw: 'GET /ws/x HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n' },
      { name: 'the WebSocket idiom, a plain request: Connection close', target: '/ws/plain' },
      { name: 'read before the upstream answered: kept for the request', target: '/kept/x' },
      { name: 'volatile: read again after the upstream answered', target: '/fresh/x' },
    ],
  },
]);
