import path from 'node:path';
import { firstReturn } from '../src/modules/rewrite/script';
import { buildConfig } from '../src/config/build';
import { parseText } from '../src/config/load';
import { HttpError } from '../src/errors';
import { LocationTable, normalizeHost, normalizeUri, ServerTable } from '../src/server/router';
import { parseLocation, type LocationMatch } from '../src/config/values';
import { REGISTRY } from '../src/modules/registry';
import { flat } from './helpers/module-confs';

describe('normalizeUri', () => {
  test.each([
    ['/', '/', ''],
    ['/a//b///c', '/a/b/c', ''],
    ['/a/./b/../c', '/a/c', ''],
    ['/a/b/..', '/a/', ''],
    ['/a/.', '/a/', ''],
    ['/%61%62c?x=%20', '/abc', 'x=%20'],
    ['/a%2Fb', '/a/b', ''],
    ['/a%2f..%2fb', '/b', ''],
    ['/%2e%2e/x/../y', null, ''],
    ['/caf%C3%A9', '/café', ''],
    ['/x?', '/x', ''],
    ['http://Example.com/p?q', '/p', 'q'],
    ['ftp://x/p?q', '/p', 'q'],
    ['/a#frag', '/a', ''],
    ['/a?x=1#frag', '/a', 'x=1'],
    ['/a#frag?x=1', '/a', ''],
    ['/a%23b', '/a#b', ''],
    // Plain paths (the parser's shortcut): the query is kept as sent, even with `//` or `/.`.
    ['/a/b.html', '/a/b.html', ''],
    ['/a/b?c//d/./e', '/a/b', 'c//d/./e'],
    ['/a?x=1&y=2', '/a', 'x=1&y=2'],
    ['/.well-known/x', '/.well-known/x', ''],
    ['/a/..?q', '/', 'q'],
  ])('%p', (target, uri, args) => {
    if (uri === null) {
      expect(() => normalizeUri(target)).toThrow(HttpError);
      return;
    }
    expect(normalizeUri(target)).toMatchObject({ uri, args });
  });
  test.each(['/..', '/a/../..', '/%zz', '/%4', '/a%00b', 'relative', '/%2e%2e%2fetc/passwd'])('%p is 400', (target) => {
    expect(() => normalizeUri(target)).toThrow(expect.objectContaining({ status: 400 }));
  });
  test('absolute-form target gives its host', () => expect(normalizeUri('http://h.example:8080/x').host).toBe('h.example:8080'));
});

describe('normalizeHost', () => {
  test.each([
    ['Example.COM', 'example.com'],
    ['example.com:8080', 'example.com'],
    ['example.com.', 'example.com'],
    ['[::1]:80', '[::1]'],
    // As nginx's ngx_http_validate_host: only `..`, `/`, controls and an empty name are refused.
    ['.example.com', '.example.com'],
    ['a\\b', 'a\\b'],
    ['[::1', '[::1'],
    ['[::1]', '[::1]'],
    ['example.com:', 'example.com'],
  ])('%p', (value, host) => expect(normalizeHost(value)).toBe(host));
  test.each(['a..b', 'a/b', 'a b', 'a\x7f', '', '.', ':80', 'a:1..2'])('%p is 400', (value) => expect(() => normalizeHost(value)).toThrow(HttpError));
});

function conf(yaml: string) {
  return buildConfig(parseText(yaml, '/virtual/test.yaml'), '/virtual/test.yaml', '/virtual', REGISTRY);
}

describe('LocationTable: nginx matching order', () => {
  // The example from nginx's documentation of "location".
  const server = conf(`
http:
  servers:
    - listen: 8080
      locations:
        - { location: "= /", return: "200 A" }
        - { location: "/", return: "200 B" }
        - { location: "/documents/", return: "200 C" }
        - { location: "^~ /images/", return: "200 D" }
        - { location: "~* \\\\.(gif|jpg|jpeg)$", return: "200 E" }
        - { location: "~ ^/doc(?<rest>.*)$", return: "200 F" }
        - { location: "@named", return: "200 G" }
`).http.servers[0];
  const table = new LocationTable(server.locations);
  const text = (uri: string) => { const found = table.match(uri)?.location; return found && firstReturn(flat(found).script)?.text; };
  test.each([
    ['/', 'A'],
    ['/index.html', 'B'],
    ['/documents/document.html', 'F'],
    ['/documents/x.jpg', 'E'],
    ['/images/1.gif', 'D'],
    ['/img/1.GIF', 'E'],
    ['/docs', 'F'],
    ['/@named', 'B'],
  ])('%p -> %s', (uri, expected) => expect(text(uri)).toBe(expected));
  test('captures', () => {
    const m = table.match('/documents/a.txt')!;
    expect(m.captures).toEqual(['/documents/a.txt', 'uments/a.txt']);
    expect(m.namedCaptures).toEqual({ rest: 'uments/a.txt' });
    expect(firstReturn(flat(table.namedLocation('@named')!).script)?.text).toBe('G');
  });
  test('no location matches', () => {
    const only = new LocationTable(conf(`http: { servers: [ { listen: 80, locations: [ { location: /a, return: 204 } ] } ] }`).http.servers[0].locations);
    expect(only.match('/b')).toBeNull();
    expect(only.match('/ab')?.location.name).toBe('/a');
  });
});

describe('ServerTable: nginx name order', () => {
  const servers = conf(`
http:
  servers:
    - { listen: 80, server_name: default.test, return: 204, locations: [] }
    - { listen: "80 default_server", server_name: "_", locations: [] }
    - { listen: 80, server_name: "example.com www.example.com", locations: [] }
    - { listen: 80, server_name: "*.example.com", locations: [] }
    - { listen: 80, server_name: "*.a.example.com", locations: [] }
    - { listen: 80, server_name: "www.example.*", locations: [] }
    - { listen: 80, server_name: "~^(?<user>[a-z]+)\\\\.users\\\\.test$", locations: [] }
`.replace('return: 204, ', '')).http.servers;
  const table = new ServerTable(servers, servers[1]);
  const pick = (host: string | null) => servers.indexOf(table.select(host).server);
  test.each([
    ['example.com', 2],
    ['www.example.com', 2],
    ['x.example.com', 3],
    ['b.a.example.com', 4],
    ['www.example.org', 5],
    ['bob.users.test', 6],
    ['unknown.test', 1],
    [null, 1],
  ])('%p -> server %d', (host, index) => expect(pick(host)).toBe(index));
  test('regex captures, named and numbered', () => {
    expect(table.select('bob.users.test')).toMatchObject({ namedCaptures: { user: 'bob' }, captures: ['bob.users.test', 'bob'] });
  });
});

test('relative root resolves against the prefix', () => {
  const s = conf('http: { root: site, servers: [ { listen: 80, locations: [ { location: /, root: other }, { location: /x } ] } ] }').http.servers[0];
  expect(flat(s.locations[0]).root).toBe(path.resolve('/virtual/other'));
  expect(flat(s.locations[1]).root).toBe(path.resolve('/virtual/site'));
});

describe('LocationTable: auto_redirect (ngx_http_core_find_static_location)', () => {
  interface Loc { readonly match: LocationMatch; readonly autoRedirect: boolean; readonly label: string; readonly inner: readonly Loc[] }
  const at = (text: string, label: string, autoRedirect = false, inner: readonly Loc[] = []): Loc => ({ match: parseLocation(text.split(' ')), autoRedirect, label, inner });
  const table = new LocationTable<Loc>(
    [
      at('/', 'root'),
      at('/app/', 'app', true),
      at('= /exact', 'exact'),
      at('/exact/', 'exact-proxied', true),
      at('/pre', 'pre'),
      at('/pre/', 'pre-proxied', true),
      at('~ ^/rx$', 'regex'),
      at('/rx/', 'rx-proxied', true),
      at('= /both/', 'both-exact', false),
      at('/both/', 'both-prefix', true),
      at('/static/', 'static'),
      at('/outer/', 'outer', false, [at('/outer/in/', 'inner-proxied', true)]),
      at('~ /re-outer', 're-outer', false, [at('/re-outer/in/', 're-inner-proxied', true)]),
    ],
    (l) => l.inner,
  );
  test.each([
    ['/app', 'app', true],
    ['/app/', 'app', false],
    ['/apps', 'root', false],
    ['/exact', 'exact', false],
    ['/pre', 'pre', false],
    ['/rx', 'rx-proxied', true],
    ['/both', 'both-exact', true],
    ['/static', 'root', false],
    ['/outer/in', 'inner-proxied', true],
    ['/re-outer/in', 're-outer', false],
    ['/re-outer/in/x', 're-outer', false],
  ])('%p -> %s, redirect %p', (uri, label, redirect) => {
    const found = table.match(uri)!;
    expect([found.location.label, found.autoRedirect]).toEqual([label, redirect]);
  });
});
