/**
 * realip's pure parts: nginx's `ngx_http_get_forwarded_addr` walk (trusted peers, the last
 * address of the last line, `real_ip_recursive` through several lines), `ngx_parse_addr_port`
 * (a port kept, 255.255.255.255 refused, addresses written back as nginx writes them), the
 * trust check (`unix:`, IPv4-mapped peers), and the directives: their values, inheritance, the
 * phases they give and the refusals at `file:line:column`.
 */
import { realipModule } from '../src/modules/realip/module';
import { realipPhase } from '../src/modules/realip/realip-phase';
import { compileTrusted, forwardedAddress, isTrusted, parseAddressPort } from '../src/modules/realip/real-address';
import { describePhases } from '../src/server/describe';
import type { CompileEnv } from '../src/types';
import { buildVirtual, configErrorOf } from './helpers/virtual-config';

const peer = (address: string) => ({ address, port: 51000 });

describe('the walk through X-Forwarded-For', () => {
  const trusted = compileTrusted(['127.0.0.1', '10.0.0.0/8', '::1']);
  test.each([
    // [peer, header lines, recursive, result (null: unchanged)]
    ['127.0.0.1', ['203.0.113.7'], false, '203.0.113.7'],
    ['127.0.0.2', ['203.0.113.7'], false, null], // a forged header from an untrusted peer changes nothing
    ['203.0.113.9', ['10.1.1.1'], true, null],
    ['127.0.0.1', ['198.51.100.1, 203.0.113.7'], false, '203.0.113.7'],
    ['127.0.0.1', ['198.51.100.1, 10.0.0.5'], false, '10.0.0.5'],
    ['127.0.0.1', ['198.51.100.1, 10.0.0.5'], true, '198.51.100.1'],
    ['127.0.0.1', ['198.51.100.1, 10.0.0.5, 10.0.0.6'], true, '198.51.100.1'],
    ['127.0.0.1', ['198.51.100.1, 203.0.113.8, 10.0.0.6'], true, '203.0.113.8'],
    // every address trusted: the leftmost
    ['127.0.0.1', ['10.0.0.1, 10.0.0.2'], true, '10.0.0.1'],
    // separators and spaces around
    ['127.0.0.1', ['  203.0.113.7 ,, '], false, '203.0.113.7'],
    // nginx never looks at the first character as a separator: `,a` is one token, not an address
    ['127.0.0.1', [',203.0.113.7'], false, null],
    ['127.0.0.1', [', 203.0.113.7'], false, '203.0.113.7'],
    // what is not an address ends the walk: nothing, or the last good one
    ['127.0.0.1', ['unknown'], false, null],
    ['127.0.0.1', ['198.51.100.1, unknown, 10.0.0.5'], true, '10.0.0.5'],
    ['127.0.0.1', [''], false, null],
    ['127.0.0.1', ['255.255.255.255'], false, null],
    // several lines: the last line first, recursive on through the earlier ones
    ['127.0.0.1', ['198.51.100.1', '10.0.0.5'], false, '10.0.0.5'],
    ['127.0.0.1', ['198.51.100.1', '10.0.0.5'], true, '198.51.100.1'],
    ['127.0.0.1', ['198.51.100.1', '203.0.113.8'], true, '203.0.113.8'],
    ['127.0.0.1', ['198.51.100.1', 'junk'], true, null],
    ['127.0.0.1', ['junk', '10.0.0.5'], true, '10.0.0.5'],
    // IPv6 and IPv4-mapped peers
    ['::1', ['2001:db8::7'], false, '2001:db8::7'],
    ['::ffff:127.0.0.1', ['203.0.113.7'], false, '203.0.113.7'],
    ['::ffff:127.0.0.2', ['203.0.113.7'], false, null],
  ] as const)('peer %s, %j, recursive %s: %s', (from, lines, recursive, expected) => {
    const found = forwardedAddress(trusted, peer(from), lines, recursive);
    expect(found?.address ?? null).toBe(expected);
  });

  test('a unix-domain peer is trusted by `unix:` only', () => {
    expect(forwardedAddress(compileTrusted(['unix:']), peer(''), ['203.0.113.7'], false)?.address).toBe('203.0.113.7');
    expect(forwardedAddress(compileTrusted(['127.0.0.1']), peer(''), ['203.0.113.7'], false)).toBeNull();
    expect(isTrusted(compileTrusted(['unix:']), '127.0.0.1')).toBe(false);
  });

  test('an IPv4-mapped peer meets only the IPv4 entries (ngx_cidr_match)', () => {
    expect(isTrusted(compileTrusted(['::ffff:0:0/96']), '::ffff:127.0.0.1')).toBe(false);
    expect(isTrusted(compileTrusted(['127.0.0.0/8']), '::ffff:127.0.0.1')).toBe(true);
  });
});

describe('an address and its port', () => {
  test.each([
    ['203.0.113.7', '203.0.113.7', 0],
    ['203.0.113.7:5678', '203.0.113.7', 5678],
    ['01.2.3.4', '1.2.3.4', 0],
    ['[2001:db8::1]:80', '2001:db8::1', 80],
    ['2001:0DB8:0:0::1', '2001:db8::1', 0],
    // an IPv6 address first (`::1:80`), written as nginx's ngx_inet6_ntop writes six zero groups
    ['::1:80', '::0.1.0.128', 0],
    ['::ffff:1.2.3.4', '::ffff:1.2.3.4', 0],
  ])('%s is %s port %d', (text, address, port) => expect(parseAddressPort(text)).toEqual({ address, port }));

  test.each(['1.2.3.4:0', '1.2.3.4:65536', '1.2.3.4:', '1.2.3.4:x', '[::1]', '[::1]80', '[::1', 'host.example', '1.2.3.256', '255.255.255.255', ''])('%j is none', (text) => {
    expect(parseAddressPort(text)).toBeNull();
  });
});

describe('configuration', () => {
  const site = (server: string, location = '') =>
    buildVirtual(`http:\n  servers:\n    - listen: 8080\n${server}      locations:\n        - location: /a\n${location}        - location: /b\n`).http.servers[0];

  const env = (server: ReturnType<typeof site>) => ({ server }) as unknown as CompileEnv;

  test('defaults: X-Real-IP, not recursive, off without set_real_ip_from', () => {
    const server = site('');
    expect(server.serverLocation.confs.get(realipModule)).toEqual({ realipFrom: null, realIpHeader: { kind: 'x-real-ip' }, realIpRecursive: false });
    expect(realipPhase.phases!(server.serverLocation, env(server))).toEqual([]);
  });

  test('the server runs it in post-read; a location that inherits all needs nothing more; one that differs runs it in preaccess', () => {
    const server = site('      set_real_ip_from: [10.0.0.0/8, "unix:"]\n      real_ip_header: X-Forwarded-For\n', '          real_ip_recursive: "on"\n');
    const [a, b] = server.locations;
    expect(realipPhase.phases!(server.serverLocation, env(server)).map((h) => [h.phase, h.name])).toEqual([['post-read', 'realip (x-forwarded-for)']]);
    expect(realipPhase.phases!(a, env(server)).map((h) => [h.phase, h.name])).toEqual([['preaccess', 'realip (x-forwarded-for, recursive)']]);
    expect(realipPhase.phases!(b, env(server))).toEqual([]);
    expect(isTrusted(a.confs.get(realipModule).realipFrom!, '10.2.3.4')).toBe(true);
    expect(isTrusted(a.confs.get(realipModule).realipFrom!, '')).toBe(true);
  });

  test('any other header name, kept in lower case; the three names nginx knows are case-sensitive', () => {
    expect(site('      real_ip_header: CF-Connecting-IP\n').serverLocation.confs.get(realipModule).realIpHeader).toEqual({ kind: 'header', name: 'cf-connecting-ip' });
    expect(site('      real_ip_header: x-forwarded-for\n').serverLocation.confs.get(realipModule).realIpHeader).toEqual({ kind: 'header', name: 'x-forwarded-for' });
    expect(site('      real_ip_header: proxy_protocol\n').serverLocation.confs.get(realipModule).realIpHeader).toEqual({ kind: 'proxy_protocol' });
  });

  test('gateway -T shows the server\'s post-read handler and a location\'s own preaccess one', () => {
    const conf = buildVirtual(
      'http:\n  servers:\n    - listen: 8080\n      set_real_ip_from: 10.0.0.0/8\n      real_ip_header: X-Forwarded-For\n      locations:\n        - location: /a\n          real_ip_header: X-Client\n        - location: /b\n',
    );
    const lines = describePhases(conf).split('\n');
    expect(lines.filter((l) => l.includes('realip'))).toEqual(['#   post-read: realip (x-forwarded-for)', '#     preaccess: realip (x-client)']);
    expect(lines.indexOf('#   post-read: realip (x-forwarded-for)')).toBe(1);
  });

  test('listen proxy_protocol', () => {
    expect(buildVirtual('http:\n  servers:\n    - listen: "8080 default_server proxy_protocol"\n').http.servers[0].listens[0]).toMatchObject({ defaultServer: true, proxyProtocol: true });
    expect(buildVirtual('http:\n  servers:\n    - listen: "8080"\n').http.servers[0].listens[0].proxyProtocol).toBe(false);
  });

  test.each([
    ['http:\n  set_real_ip_from: 1.2.3.256\n', 'host not found in set_real_ip_from "1.2.3.256" in /virtual/site.yaml:2:21'],
    ['http:\n  set_real_ip_from: 10.0.0.0/33\n', 'host not found in set_real_ip_from "10.0.0.0/33" in /virtual/site.yaml:2:21'],
    ['http:\n  servers:\n    - set_real_ip_from: [127.0.0.1, "::1/129"]\n', 'host not found in set_real_ip_from "::1/129" in /virtual/site.yaml:3:37'],
    ['http:\n  set_real_ip_from: all\n', 'host not found in set_real_ip_from "all" in /virtual/site.yaml:2:21'],
    ['http:\n  set_real_ip_from: lb.example.com\n', 'host names are not resolved in set_real_ip_from "lb.example.com": write its addresses (nginx resolves it at load) in /virtual/site.yaml:2:21'],
    ['http:\n  set_real_ip_from: "1.2.3.4 5.6.7.8"\n', 'invalid number of arguments in "set_real_ip_from" directive in /virtual/site.yaml:2:21'],
    ['http:\n  set_real_ip_from: []\n', 'invalid number of arguments in "set_real_ip_from" directive in /virtual/site.yaml:2:21'],
    ['http:\n  real_ip_header: "X-Real-IP X-Forwarded-For"\n', 'invalid number of arguments in "real_ip_header" directive in /virtual/site.yaml:2:19'],
    ['http:\n  real_ip_recursive: maybe\n', 'invalid value "maybe", it must be "on" or "off" in /virtual/site.yaml:2:22'],
    ['set_real_ip_from: 127.0.0.1\n', '"set_real_ip_from" directive is not allowed here in /virtual/site.yaml:1:1'],
    ['http:\n  servers:\n    - listen: "8080 proxy_protocol=on"\n', expect.stringMatching(/^invalid parameter "proxy_protocol=on" in \/virtual\/site\.yaml:3:15$/)],
  ])('%j', (yaml, message) => expect(configErrorOf(yaml)).toEqual(message));
});
