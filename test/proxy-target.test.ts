/**
 * `proxy_pass` parsing, nginx's URI rule and escaping (tables), and the proxy's `configure`.
 */
import { parseLocation, splitArgs } from '../src/config/values';
import { ConfigError } from '../src/errors';
import proxy from '../src/modules/proxy/proxy';
import { escapeUri, parseProxyPass, upstreamUri, URI_PART_NOT_ALLOWED } from '../src/modules/proxy/target';
import { proxyConfigContext, proxyLocation } from './helpers/proxy-conf';
import { configErrorOf } from './helpers/virtual-config';

describe('proxy_pass and the URI rule (pure)', () => {
  const location = (text: string) => parseLocation(splitArgs(text));

  test.each([
    ['http://127.0.0.1:8081', '127.0.0.1:8081', null],
    ['http://Example.com:80/x/', 'example.com', '/x/'],
    ['https://example.com:443', 'example.com', null],
    ['http://[::1]:8081/', '[::1]:8081', '/'],
  ])('%s: $proxy_host %s, URI part %s', (url, proxyHost, uriPart) => {
    expect(parseProxyPass(url)).toMatchObject({ proxyHost, uriPart });
  });

  test.each([
    ['ftp://x', 'invalid URL prefix in "ftp://x"'],
    ['127.0.0.1:8081', 'invalid URL prefix in "127.0.0.1:8081"'],
    ['http://:80', 'no host in upstream ":80"'],
    ['http://host:99999', 'invalid port in upstream "host:99999"'],
  ])('%s is refused: %s', (url, reason) => {
    expect(() => parseProxyPass(url)).toThrow(reason);
  });

  test.each([
    ['/api/', 'http://b/v1/', '/api/users', 'x=1', '/api/users?x=1', '/v1/users?x=1'],
    ['/app/', 'http://b/', '/app/a b', '', '/app/a%20b', '/a%20b'],
    ['= /exact', 'http://b/other', '/exact', '', '/exact', '/other'],
    ['/api/', 'http://b', '/api/x/y', 'q', '/api//x/../x/y?q', '/api//x/../x/y?q'],
    ['~ ^/re/', 'http://b', '/re/x', '', '/re/x', '/re/x'],
    ['/', 'http://b/', '/caf\u00e9?#%', '', '/caf%C3%A9%3F%23%25', '/caf%C3%A9%3F%23%25'],
  ])('location %s, proxy_pass %s: %s -> %s', (loc, url, uri, args, raw, expected) => {
    expect(upstreamUri(parseProxyPass(url), location(loc), { url: raw, uri, args })).toBe(expected);
  });

  test('an absolute-form request target passes as its path', () => {
    expect(upstreamUri(parseProxyPass('http://b'), location('/'), { url: 'http://h:1/p?q', uri: '/p', args: 'q' })).toBe('/p?q');
    expect(escapeUri('/plain/path')).toBe('/plain/path');
  });

  test('configure: a URI part in a regex location is refused with nginx words; without one it is fine', () => {
    const bad = proxyLocation('~ ^/re/', 'http://127.0.0.1:1/x');
    expect(() => proxy.configure({}, proxyConfigContext(bad))).toThrow(ConfigError);
    expect(() => proxy.configure({}, proxyConfigContext(bad))).toThrow(URI_PART_NOT_ALLOWED);
    expect(() => proxy.configure({}, proxyConfigContext(proxyLocation('~ ^/re/', 'http://127.0.0.1:1')))).not.toThrow();
    expect(() => proxy.configure({}, proxyConfigContext(proxyLocation('/', 'ftp://x')))).toThrow('invalid URL prefix');
  });

  test('configure: an unknown variable in proxy_set_header is a config error', () => {
    const loc = proxyLocation('/', 'http://127.0.0.1:1', { proxySetHeaders: [['X-A', '$nope']] });
    expect(() => proxy.configure({}, proxyConfigContext(loc))).toThrow('unknown "nope" variable in "proxy_set_header"');
  });
});

describe('a proxy_pass the handler refuses: the error points at proxy_pass, not at the location', () => {
  test.each([
    ['/', 'proxy_pass: ftp://x', 'invalid URL prefix in "ftp://x" in /virtual/site.yaml:6:23'],
    ['~ ^/a', 'proxy_pass: http://127.0.0.1:1/x', `${URI_PART_NOT_ALLOWED} in /virtual/site.yaml:6:23`],
  ])('%s %s', (match, lines, expected) => {
    const yaml = `http:\n  servers:\n    - listen: 80\n      locations:\n        - location: ${match}\n          ${lines}\n`;
    expect(configErrorOf(yaml)).toBe(expected);
  });
});
