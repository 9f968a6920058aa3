/**
 * Parity: virtual server selection. Exact names, `*.` and `.*` wildcards, regex names with
 * captures, `default_server`, a missing or unknown Host, HTTP/1.0 without Host, the same name
 * on two ports, absolute-form targets, bad Host values, and an IPv6 loopback listener.
 */
import os from 'node:os';
import { defineParityCases, type ParityCase } from './run';
import { loc } from './site';

/** A server answering `200 '<label> host=$host name=$server_name'` for every URI. */
const answering = (label: string, serverName: string, listen?: string[]) => ({
  listen,
  serverName,
  locations: [loc('/', { return: `200 '${label} host=$host name=$server_name'` })],
});

const names: ParityCase = {
  title: 'virtual servers by name',
  site: {
    servers: [
      answering('A', 'example.com'),
      answering('B', '*.example.com'),
      answering('C', 'www.example.*'),
      { ...answering('D', '~^(?<sub>[a-z]+)\\.regex\\.test$'), locations: [loc('/', { return: "200 'D sub=$sub'" })] },
      {
        ...answering('E', '~^api-(\\d+)\\.test$'),
        locations: [
          loc('/', { return: "200 'E id=$1'" }),
          loc('~ \\.txt$', { return: "200 'E txt id=$1'" }),
          loc('~ ^/g/(\\w+)$', { return: "200 'E g=$1'" }),
        ],
      },
      answering('F', 'default.test', ['0 default_server']),
      answering('G', '.dot.test'),
      answering('H', 'example.com', ['1']),
      answering('I', 'other.test', ['1']),
      { listen: ['2'], locations: [loc('/', { return: "200 'line one\\nline two\\tend'" })] },
    ],
  },
  requests: [
    { name: 'exact name', host: 'example.com' },
    { name: 'exact name, upper case, with port', host: 'EXAMPLE.COM:8080' },
    { name: 'exact name with a trailing dot', host: 'example.com.' },
    { name: 'leading wildcard', host: 'foo.example.com' },
    { name: 'leading wildcard, two labels deep', host: 'a.b.example.com' },
    { name: 'leading wildcard beats trailing wildcard', host: 'www.example.com' },
    { name: 'trailing wildcard', host: 'www.example.org' },
    { name: 'regex name with a named capture', host: 'abc.regex.test' },
    { name: 'regex name with a numbered capture', host: 'api-42.test' },
    { name: 'regex name not matching', host: 'api-x.test' },
    { name: 'a location regex without groups clears them', host: 'api-7.test', target: '/a.txt' },
    { name: 'a prefix location keeps them', host: 'api-7.test', target: '/b' },
    { name: 'a location regex with groups replaces them', host: 'api-7.test', target: '/g/abc' },
    { name: 'dot name, the bare domain', host: 'dot.test' },
    { name: 'dot name, a subdomain', host: 'x.dot.test' },
    { name: 'Host with a leading dot', host: '.example.com' },
    { name: 'unknown Host goes to default_server, not the first', host: 'unknown.test' },
    { name: 'IP literal Host', host: '127.0.0.1' },
    { name: 'HTTP/1.1 without Host', host: null },
    { name: 'HTTP/1.0 without Host', host: null, version: 'HTTP/1.0' },
    { name: 'HTTP/1.0 with Host', host: 'example.com', version: 'HTTP/1.0' },
    { name: 'empty Host', host: '' },
    { name: 'absolute-form target wins over Host', target: 'http://example.com/x', host: 'other.test' },
    { name: 'absolute-form target with a port', target: 'http://foo.example.com:99/x', host: 'other.test' },
    { name: 'Host with a slash', host: 'example.com/evil' },
    { name: 'Host with a space', host: 'exa mple.com' },
    { name: 'Host of dots', host: '..' },
    { name: 'Host with a backslash', host: 'example.com\\x' },
    { name: 'IPv6 literal Host', host: '[::1]:80' },
    { name: 'unterminated IPv6 Host', host: '[::1' },
    { name: 'two Host headers', raw: 'GET / HTTP/1.1\r\nHost: example.com\r\nHost: other.test\r\nConnection: close\r\n\r\n' },
    { name: 'same name on a second port', host: 'example.com', slot: 1 },
    { name: 'second port, unknown Host: its first server', host: 'unknown.test', slot: 1 },
    { name: 'second port, its other name', host: 'other.test', slot: 1 },
    { name: 'first port does not know the second port names', host: 'other.test' },
    { name: 'escapes in a quoted directive argument', slot: 2 },
  ],
};

const ipv6: ParityCase = {
  title: 'virtual servers on IPv6 loopback',
  site: {
    servers: [answering('V6', 'v6.test', ['[::1]:0']), answering('V4', 'v6.test', ['1'])],
  },
  requests: [
    { name: 'IPv6 listener, its name', host: 'v6.test' },
    { name: 'IPv6 listener, address Host', host: '[::1]' },
    { name: 'IPv6 listener, no Host', host: null, version: 'HTTP/1.0' },
    { name: 'IPv4 listener beside it', host: 'v6.test', slot: 1 },
  ],
};

/** IPv6 is decided at load (jest defines tests synchronously): `::1` among the interfaces. */
const hasIpv6 = Object.values(os.networkInterfaces()).some((list) => list?.some((i) => i.family === 'IPv6' && i.address === '::1'));

defineParityCases([names, { ...ipv6, unavailable: hasIpv6 ? undefined : 'no IPv6 loopback on this machine' }]);
