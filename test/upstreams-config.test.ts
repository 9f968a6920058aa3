/** `http.upstreams` at load: the parsed blocks, nginx's defaults, `proxy_pass http://NAME`, and file:line:col errors. */
import type { LocationConf } from '../src/config/model';
import type { ProxyOptions } from '../src/modules/proxy/proxy';
import { flat } from './helpers/module-confs';
import { buildVirtual, configErrorOf } from './helpers/virtual-config';

const build = buildVirtual;
const errorOf = configErrorOf;
/** The upstream a proxy location's `proxy_pass` names, or null. */
const upstreamOf = (location: LocationConf) => (location.handlerOptions as ProxyOptions).upstream?.conf ?? null;

const site = (upstreams: string, proxyPass = 'http://app') => `http:
  upstreams:
${upstreams}
  servers:
    - locations:
        - { location: /, proxy_pass: "${proxyPass}" }
`;

describe('upstreams', () => {
  test('parsed with nginx\'s defaults; proxy_pass http://NAME resolves to it', () => {
    const conf = build(site(`    app:
      servers: ["127.0.0.1:8081 weight=5", "127.0.0.1:8082 max_fails=3 fail_timeout=30s", "127.0.0.1:8083 backup"]
      keepalive: 16`));
    const app = flat(conf.http).upstreams.get('app')!;
    expect(app.keepalive).toBe(16);
    expect([app.keepaliveRequests, app.keepaliveTimeout, app.keepaliveTime]).toEqual([1000, 60_000, 3_600_000]);
    expect(app.method).toEqual({ kind: 'round_robin' });
    expect(app.servers.map((s) => [s.name, s.weight, s.maxFails, s.failTimeout, s.backup])).toEqual([
      ['127.0.0.1:8081', 5, 1, 10_000, false],
      ['127.0.0.1:8082', 1, 3, 30_000, false],
      ['127.0.0.1:8083', 1, 1, 10_000, true],
    ]);
    expect(upstreamOf(conf.http.servers[0].locations[0])).toBe(app);
  });

  test('keepalive_requests, keepalive_timeout and keepalive_time as nginx reads them', () => {
    const conf = build(site(`    app:\n      servers: ["127.0.0.1:8081"]\n      keepalive: 8\n      keepalive_requests: 100\n      keepalive_timeout: 5s\n      keepalive_time: 10m`));
    const app = flat(conf.http).upstreams.get('app')!;
    expect([app.keepaliveRequests, app.keepaliveTimeout, app.keepaliveTime]).toEqual([100, 5000, 600_000]);
  });

  test('server lines written as repeated keys add up, in order (as an nginx.conf\'s server lines)', () => {
    const conf = build(site(`    app:\n      server: "127.0.0.1:8081"\n      keepalive: 4\n      server: "127.0.0.1:8082 backup"`));
    expect(flat(conf.http).upstreams.get('app')!.servers.map((s) => [s.name, s.backup])).toEqual([
      ['127.0.0.1:8081', false],
      ['127.0.0.1:8082', true],
    ]);
  });

  test('a URL host that names no upstream stays a host:port; so does NAME:port', () => {
    const up = `    app:\n      servers: "127.0.0.1:8081"`;
    expect(upstreamOf(build(site(up, 'http://other')).http.servers[0].locations[0])).toBeNull();
    expect(upstreamOf(build(site(up, 'http://app:8080/')).http.servers[0].locations[0])).toBeNull();
    expect(upstreamOf(build(site(up, 'http://app/x/')).http.servers[0].locations[0])?.name).toBe('app');
  });

  test.each([
    ['    app:\n      servers: ["a:1"]\n      least_conn:', { kind: 'least_conn' }],
    ['    app:\n      servers: ["a:1"]\n      ip_hash: on', { kind: 'ip_hash' }],
    ['    app:\n      servers: ["a:1"]\n      hash: $arg_x consistent', { kind: 'hash', key: '$arg_x', consistent: true }],
    ['    app:\n      servers: ["a:1"]\n      hash: $request_uri', { kind: 'hash', key: '$request_uri', consistent: false }],
    ['    app:\n      servers: ["a:1"]\n      random:', { kind: 'random', two: false }],
    ['    app:\n      servers: ["a:1"]\n      random: two', { kind: 'random', two: true }],
    ['    app:\n      servers: ["a:1"]\n      random: two least_conn', { kind: 'random', two: true }],
  ])('method %#', (yaml, method) => {
    expect(flat(build(site(yaml)).http).upstreams.get('app')!.method).toEqual(method);
  });

  test.each([
    ['    app:\n      servers: ["a:1 weight=0"]', 'invalid parameter "weight=0" in /virtual/site.yaml:4:17'],
    ['    app:\n      servers: ["a:1", "b:99999"]', 'invalid port in upstream "b:99999" in /virtual/site.yaml:4:24'],
    ['    app:\n      keepalive: 4', 'no servers are inside upstream "app" in /virtual/site.yaml:4:7'],
    ['    app:\n      servers: ["a:1"]\n      keepalive: none', 'invalid value "none" in "keepalive" directive in /virtual/site.yaml:5:18'],
    ['    app:\n      servers: ["a:1"]\n      least_conn:\n      ip_hash:', 'load balancing method redefined in /virtual/site.yaml:6:15'],
    ['    app:\n      servers: ["a:1"]\n      keepalive: 8\n      keepalive: 16', '"keepalive" directive is duplicate in /virtual/site.yaml:6:7'],
    ['    app:\n      servers: ["a:1"]\n      keepalive_requests: abc', '"keepalive_requests" directive invalid number in /virtual/site.yaml:5:27'],
    ['    app:\n      servers: ["a:1"]\n      keepalive_timeout: 5x', '"keepalive_timeout" directive invalid value in /virtual/site.yaml:5:26'],
    ['    app:\n      servers: ["a:1"]\n      keepalive_time: 1h\n      keepalive_time: 2h', '"keepalive_time" directive is duplicate in /virtual/site.yaml:6:7'],
    ['    app:\n      servers: ["a:1"]\n      hash: $nope', 'unknown "nope" variable in /virtual/site.yaml:5:13'],
    ['    app:\n      servers: ["a:1"]\n      zone: z 64k', '"zone" directive is not supported yet in upstream "app" in /virtual/site.yaml:5:7'],
    ['    app:\n      servers: ["a:1 slow_start=30s"]', 'invalid parameter "slow_start=30s" in /virtual/site.yaml:4:17'],
    ['    app:\n      servers: ["a:1 max_conns=x"]', 'invalid parameter "max_conns=x" in /virtual/site.yaml:4:17'],
    ['    app:\n      servers: ["a:1"]\n      random: one', 'invalid parameter "one" in /virtual/site.yaml:5:15'],
    ['    app:\n      servers: ["a:1"]\n      random: two foo', 'invalid parameter "foo" in /virtual/site.yaml:5:15'],
    ['    app:\n      servers: ["a:1", "b:1 backup"]\n      random: two', 'balancing method does not support parameter "backup" in /virtual/site.yaml:4:7'],
    ['    app:\n      servers: ["a:1", "b:1 backup"]\n      ip_hash:', '"backup" parameter is incompatible with "ip_hash" in upstream "app" in /virtual/site.yaml:4:7'],
  ])('error %#', (yaml, message) => {
    expect(errorOf(site(yaml))).toBe(message);
  });

  test('proxy_next_upstream and its tries and timeout are checked', () => {
    expect(errorOf('http:\n  proxy_next_upstream: error bogus\n')).toBe('invalid value "bogus" in "proxy_next_upstream" directive in /virtual/site.yaml:2:24');
    expect(errorOf('http:\n  proxy_next_upstream: error off\n')).toBe('invalid value "off" in "proxy_next_upstream" directive in /virtual/site.yaml:2:24');
    const conf = build('http:\n  proxy_next_upstream: error http_503 non_idempotent\n  proxy_next_upstream_tries: 2\n  proxy_next_upstream_timeout: 5s\n');
    expect(conf.http.servers).toEqual([]);
    const loc = flat(build(`http:\n  proxy_next_upstream: "off"\n  servers:\n    - locations:\n        - { location: /, proxy_pass: "http://a:1", proxy_next_upstream_tries: 3 }\n`).http.servers[0].locations[0]);
    expect([loc.proxyNextUpstream, loc.proxyNextUpstreamTries, loc.proxyNextUpstreamTimeout]).toEqual([[], 3, 0]);
  });
});
