/**
 * Parity: `allow` and `deny` (ngx_http_access_module). The client is 127.0.0.1 (or ::1 on
 * the IPv6 listener): allowed, denied by its address, by `all`, by a CIDR, first match wins,
 * inheritance from the server, the 403 page and `error_page 403`, a `100-continue` that gets
 * no interim response, internal redirects (error_page, try_files, a named location)
 * checked again in the location they land in, and `return`, which nginx runs before access.
 */
import os from 'node:os';
import { defineParityCases, type ParityCase } from './run';
import { loc } from './site';

const site: ParityCase = {
  title: 'allow and deny',
  site: {
    servers: [
      {
        directives: { root: 'www' },
        locations: [
          loc('/open/'),
          loc('/allowed/', { allow: '127.0.0.1', deny: 'all' }),
          loc('/denied/', { deny: '127.0.0.1' }),
          loc('/denied-all/', { deny: 'all' }),
          loc('/cidr/', { deny: '127.0.0.0/8' }),
          loc('/cidr-host-bits/', { deny: '127.0.0.1/8' }),
          loc('/other-host/', { deny: '10.0.0.1', allow: '127.0.0.0/24' }),
          loc('/first-wins/', { allow: ['10.0.0.0/8', '127.0.0.1'], deny: ['127.0.0.0/8', 'all'] }),
          loc('/ipv6-rule/', { allow: '::1', deny: 'all' }),
          loc('/only-ipv6-rule/', { deny: '::1' }),
          loc('/custom/', { deny: 'all', error_page: '403 /open/forbidden.html' }),
          loc('/page/', { return: '404', error_page: '404 /denied/a.txt' }),
          loc('/tf/', { try_files: '$uri /denied/a.txt' }),
          loc('/named/', { try_files: '$uri @closed' }),
          loc('@closed', { deny: 'all' }),
          loc('= /return', { deny: 'all', return: "200 'returned'" }),
        ],
      },
      {
        listen: ['1'],
        directives: { root: 'www', deny: 'all' },
        locations: [loc('/inherits/'), loc('/own/', { allow: '127.0.0.1' })],
      },
    ],
  },
  files: {
    'www/open/a.txt': 'open\n',
    'www/open/forbidden.html': '<p>custom forbidden</p>\n',
    'www/allowed/a.txt': 'allowed\n',
    'www/denied/a.txt': 'denied\n',
    'www/denied-all/a.txt': 'denied\n',
    'www/cidr/a.txt': 'cidr\n',
    'www/cidr-host-bits/a.txt': 'cidr\n',
    'www/other-host/a.txt': 'other host\n',
    'www/first-wins/a.txt': 'first wins\n',
    'www/ipv6-rule/a.txt': 'v6\n',
    'www/only-ipv6-rule/a.txt': 'v6 only\n',
    'www/tf/real.txt': 'real\n',
    'www/inherits/a.txt': 'inherits\n',
    'www/own/a.txt': 'own\n',
  },
  requests: [
    { name: 'no rule', target: '/open/a.txt' },
    { name: 'allow 127.0.0.1; deny all', target: '/allowed/a.txt' },
    { name: 'deny 127.0.0.1: 403', target: '/denied/a.txt' },
    { name: 'deny 127.0.0.1, HEAD', target: '/denied/a.txt', method: 'HEAD' },
    { name: 'deny 127.0.0.1, a file that does not exist: still 403', target: '/denied/missing' },
    { name: 'deny 127.0.0.1, HTTP/1.0', target: '/denied/a.txt', version: 'HTTP/1.0', host: null },
    { name: 'deny all', target: '/denied-all/a.txt' },
    { name: 'deny 127.0.0.0/8', target: '/cidr/a.txt' },
    { name: 'deny 127.0.0.1/8 (host bits ignored)', target: '/cidr-host-bits/a.txt' },
    { name: 'deny another host, allow the client\'s /24', target: '/other-host/a.txt' },
    { name: 'the first matching rule wins', target: '/first-wins/a.txt' },
    { name: 'an IPv4 client meets no IPv6 rule; deny all decides', target: '/ipv6-rule/a.txt' },
    { name: 'only an IPv6 rule: an IPv4 client is allowed', target: '/only-ipv6-rule/a.txt' },
    { name: 'error_page 403 to an open location', target: '/custom/x' },
    { name: 'return runs before access (nginx\'s rewrite phase): 200', target: '/return' },
    { name: 'a 100-continue request denied: no interim response', target: '/denied/a.txt', method: 'POST', headers: { 'Content-Length': '5', Expect: '100-continue' } },
    { name: 'error_page into a denied location: 403', target: '/page/x' },
    { name: 'try_files finds the file', target: '/tf/real.txt' },
    { name: 'try_files falls back into a denied location: 403', target: '/tf/missing' },
    { name: 'try_files to a denied named location: 403', target: '/named/missing' },
    { name: 'server rules inherited by a location without any', target: '/inherits/a.txt', slot: 1 },
    { name: 'a location\'s own rules replace the server\'s', target: '/own/a.txt', slot: 1 },
    { name: 'server rules for a URI no location matches', target: '/nowhere', slot: 1 },
  ],
};

const ipv6: ParityCase = {
  title: 'allow and deny, an IPv6 client',
  site: {
    servers: [
      {
        listen: ['[::1]:0'],
        directives: { root: 'www' },
        locations: [
          loc('/v6-allowed/', { allow: '::1', deny: 'all' }),
          loc('/v6-denied/', { deny: '::1' }),
          loc('/v6-cidr/', { deny: '::/64' }),
          loc('/v4-rules/', { allow: '127.0.0.1', deny: '0.0.0.0/0' }),
        ],
      },
    ],
  },
  files: { 'www/v6-allowed/a.txt': 'a\n', 'www/v6-denied/a.txt': 'd\n', 'www/v6-cidr/a.txt': 'c\n', 'www/v4-rules/a.txt': 'v4\n' },
  requests: [
    { name: 'allow ::1; deny all', target: '/v6-allowed/a.txt' },
    { name: 'deny ::1', target: '/v6-denied/a.txt' },
    { name: 'deny ::/64', target: '/v6-cidr/a.txt' },
    { name: 'only IPv4 rules: an IPv6 client is allowed', target: '/v4-rules/a.txt' },
  ],
};

/** IPv6 is decided at load (jest defines tests synchronously): `::1` among the interfaces. */
const hasIpv6 = Object.values(os.networkInterfaces()).some((list) => list?.some((i) => i.family === 'IPv6' && i.address === '::1'));

defineParityCases([site, { ...ipv6, unavailable: hasIpv6 ? undefined : 'no IPv6 loopback on this machine' }]);
