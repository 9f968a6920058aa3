/**
 * limit_req, limit_conn and their zones as configuration: what checks, what is refused with
 * nginx 1.22's message (each checked with `nginx -t`) on one line with file:line:column, and
 * inheritance.
 */
import { limitConnModule } from '../src/modules/limit-conn/module';
import { limitReqModule, NO_DELAY } from '../src/modules/limit-req/module';
import { zonesModule } from '../src/modules/zones/module';
import { buildVirtual, configErrorOf } from './helpers/virtual-config';

/** A site with `http` directives and one location's. */
function site(http: string, location = '', server = ''): string {
  return `http:\n${http}\n  servers:\n    - listen: 8080\n${server}      locations:\n        - location: /\n${location}\n`;
}

const REQ = '  limit_req_zone: "$binary_remote_addr zone=one:1m rate=10r/s"';
const CONN = '  limit_conn_zone: "$binary_remote_addr zone=addr:1m"';

describe('limit_req_zone and limit_req', () => {
  test('a zone, a limit with burst and nodelay, the defaults', () => {
    const conf = buildVirtual(site(REQ, '          limit_req: zone=one burst=5 nodelay'));
    const own = conf.http.servers[0].locations[0].confs.get(limitReqModule);
    expect(own.limitReq?.map(({ zone, burst, delay }) => ({ zone, burst, delay }))).toEqual([{ zone: 'one', burst: 5000, delay: NO_DELAY }]);
    expect(own.limitReqZones.get('one')?.spec).toEqual({ name: 'one', kind: 'limit_req', size: 1024 * 1024, rate: 10_000, key: '$binary_remote_addr' });
    expect([own.limitReqStatus, own.limitReqLogLevel, own.limitReqDryRun]).toEqual([503, 'error', false]);
  });

  test('r/m, a bare number (per second, as nginx), sync (accepted), several limits, inheritance', () => {
    const http = '  limit_req_zone: ["$uri zone=a:64k rate=30r/m", "$uri zone=b:64k rate=5 sync"]\n  limit_req: [zone=a, zone=b delay=2]\n  limit_req_status: 429';
    const conf = buildVirtual(site(http, '          limit_req_dry_run: on'));
    const loc = conf.http.servers[0].locations[0].confs.get(limitReqModule);
    expect(loc.limitReq?.map((l) => [l.zone, l.delay])).toEqual([
      ['a', 0],
      ['b', 2000],
    ]);
    expect([...loc.limitReqZones.values()].map((z) => z.spec.rate)).toEqual([500, 5000]);
    expect([loc.limitReqStatus, loc.limitReqDryRun]).toEqual([429, true]);
  });

  test.each([
    [site(`${REQ}\n  limit_req_zone_x: 1`), 'unknown directive "limit_req_zone_x"'],
    [site('  limit_req_zone: ["$binary_remote_addr zone=one:1m rate=1r/s", "$uri zone=one:1m rate=1r/s"]'), 'limit_req_zone "one" is already bound to key "$binary_remote_addr" in /virtual/site.yaml:2:65'],
    [site('  limit_req_zone: "$binary_remote_addr zone=one:10k rate=1r/s"'), 'zone "zone=one:10k" is too small in /virtual/site.yaml:2:19'],
    [site('  limit_req_zone: "$binary_remote_addr zone=one:31k rate=1r/s"'), 'zone "zone=one:31k" is too small'],
    [site('  limit_req_zone: "$binary_remote_addr zone=one rate=1r/s"'), 'invalid zone size "zone=one"'],
    [site('  limit_req_zone: "$binary_remote_addr zone=one:10x rate=1r/s"'), 'invalid zone size "zone=one:10x"'],
    [site('  limit_req_zone: "$binary_remote_addr zone=one:1m rate=1r/h"'), 'invalid rate "rate=1r/h"'],
    [site('  limit_req_zone: "$binary_remote_addr zone=one:1m rate=0r/s"'), 'invalid rate "rate=0r/s"'],
    [site('  limit_req_zone: "$binary_remote_addr zone=one:1m rate=1.5r/s"'), 'invalid rate "rate=1.5r/s"'],
    [site('  limit_req_zone: "$binary_remote_addr zone=one:1m rate=r/s"'), 'invalid rate "rate=r/s"'],
    [site('  limit_req_zone: "$binary_remote_addr rate=5r/s"'), 'invalid number of arguments in "limit_req_zone" directive'],
    [site('  limit_req_zone: "$binary_remote_addr zone=one:1m rate=5r/s other"'), 'invalid number of arguments in "limit_req_zone" directive'],
    [site('  limit_req_zone: "$nope zone=one:1m rate=5r/s"'), 'unknown "nope" variable'],
    [site('  limit_req_zone: "$uri zone=:1m rate=5r/s"'), '"limit_req_zone" must have "zone" parameter'],
    [site('  limit_req_zone: "$uri zone=one:1m speed=5r/s"'), 'invalid parameter "speed=5r/s"'],
    [site('', '          limit_req: zone=two'), 'zero size shared memory zone "two" in /virtual/site.yaml:7:22'],
    [site(REQ, '          limit_req: zone=one burst=0'), 'invalid burst value "burst=0"'],
    [site(REQ, '          limit_req: zone=one burst=x'), 'invalid burst value "burst=x"'],
    [site(REQ, '          limit_req: zone=one delay=0'), 'invalid delay value "delay=0"'],
    [site(REQ, '          limit_req: zone=one foo'), 'invalid parameter "foo"'],
    [site(REQ, '          limit_req: burst=5'), '"limit_req" must have "zone" parameter'],
    [site(REQ, '          limit_req: [zone=one, zone=one burst=2]'), '"limit_req" directive is duplicate in /virtual/site.yaml:7:33'],
    [site(REQ, '          limit_req: zone=one burst=1 nodelay delay=3'), 'invalid number of arguments in "limit_req" directive'],
    [site(REQ, '          limit_req_status: 399'), 'value must be between 400 and 599'],
    [site(REQ, '          limit_req_status: 600'), 'value must be between 400 and 599'],
    [site(REQ, '          limit_req_log_level: crit'), 'invalid value "crit" in "limit_req_log_level" directive'],
    [site(REQ, '', '      limit_req_zone: "$uri zone=x:1m rate=1r/s"\n'), '"limit_req_zone" directive is not allowed here'],
    [site(`${REQ}\n  limit_conn_zone: "$binary_remote_addr zone=one:1m"`), 'the shared memory zone "one" is already declared for a different use in /virtual/site.yaml:3:20'],
    [site(`${CONN}\n  limit_req_zone: "$binary_remote_addr zone=addr:1m rate=1r/s"`), 'the shared memory zone "addr" is already declared for a different use in /virtual/site.yaml:3:19'],
  ])('refused: %#', (yaml, message) => {
    expect(configErrorOf(yaml)).toContain(message);
  });
});

describe('limit_conn_zone and limit_conn', () => {
  test('a zone and a limit, inherited from the server, with status and log level', () => {
    const conf = buildVirtual(site(CONN, '          limit_conn_log_level: info', '      limit_conn: addr 10\n      limit_conn_status: 429\n'));
    const loc = conf.http.servers[0].locations[0].confs.get(limitConnModule);
    expect(loc.limitConn?.map(({ zone, conn }) => [zone, conn])).toEqual([['addr', 10]]);
    expect([loc.limitConnStatus, loc.limitConnLogLevel, loc.limitConnDryRun]).toEqual([429, 'info', false]);
  });

  test.each([
    [site('  limit_conn_zone: ["$binary_remote_addr zone=addr:1m", "$uri zone=addr:1m"]'), 'limit_conn_zone "addr" is already bound to key "$binary_remote_addr"'],
    [site('  limit_conn_zone: "$binary_remote_addr zone=addr:1k"'), 'zone "zone=addr:1k" is too small'],
    [site('  limit_conn_zone: "$binary_remote_addr zone=addr:1m rate=1r/s"'), 'invalid number of arguments in "limit_conn_zone" directive'],
    [site(CONN, '          limit_conn: addr 0'), 'invalid number of connections "0"'],
    [site(CONN, '          limit_conn: addr 65536'), 'connection limit must be less 65536'],
    [site(CONN, '          limit_conn: two 1'), 'zero size shared memory zone "two" in /virtual/site.yaml:7:23'],
    [site(CONN, '          limit_conn: addr'), 'invalid number of arguments in "limit_conn" directive'],
    [site(CONN, '          limit_conn: [addr 1, addr 2]'), '"limit_conn" directive is duplicate'],
  ])('refused: %#', (yaml, message) => {
    expect(configErrorOf(yaml)).toContain(message);
  });
});

describe('zone_redis_url', () => {
  test('http only, a redis:// URL', () => {
    const conf = buildVirtual(site('  zone_redis_url: redis://127.0.0.1:6390/2'));
    expect(conf.http.confs.get(zonesModule).zoneRedisUrl).toBe('redis://127.0.0.1:6390/2');
    expect(configErrorOf(site('  zone_redis_url: http://x'))).toContain('invalid Redis URL "http://x" (only redis:// is supported)');
    expect(configErrorOf(site('', '', '      zone_redis_url: redis://x\n'))).toContain('"zone_redis_url" directive is not allowed here');
  });
});
