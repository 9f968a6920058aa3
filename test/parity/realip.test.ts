/**
 * Parity: ngx_http_realip_module and `listen ... proxy_protocol`. The client is 127.0.0.1:
 * trusted where `set_real_ip_from` names it, untrusted where it names 127.0.0.2. X-Real-IP,
 * X-Forwarded-For (last address, recursive through trusted ones and through several lines,
 * with a port, IPv6, junk), any header, `$remote_addr`, `$remote_port` (empty without a
 * port), `$realip_remote_addr`, allow/deny after realip, a location's own settings (in
 * preaccess: after `return`, before access and the header filter); PROXY v1 and v2 headers
 * with `$proxy_protocol_*`, realip from them, and headers both servers refuse by closing.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { exchange, requestBytes } from './client';
import { startPair, type Pair, type Side } from './pair';
import { defineParityCases, type ParityCase } from './run';
import { loc } from './site';

/** What a location answers with: the address variables whose values do not depend on the client's port. */
const SHOW = "200 'ra=$remote_addr rp=[$remote_port] rra=$realip_remote_addr\\n'";
const ADDR = "200 'ra=$remote_addr rra=$realip_remote_addr\\n'";
const PP = "200 'ra=$remote_addr rp=[$remote_port] ppa=[$proxy_protocol_addr] ppp=[$proxy_protocol_port] ppsa=[$proxy_protocol_server_addr] ppsp=[$proxy_protocol_server_port]\\n'";
const PP_ADDR = "200 'ra=$remote_addr ppa=[$proxy_protocol_addr] ppp=[$proxy_protocol_port] ppsa=[$proxy_protocol_server_addr] ppsp=[$proxy_protocol_server_port]\\n'";

const headers: ParityCase = {
  title: 'realip from request headers',
  site: {
    servers: [
      {
        listen: ['0'],
        directives: { root: 'www', set_real_ip_from: '127.0.0.1', real_ip_header: 'X-Forwarded-For' },
        locations: [
          loc('/show', { return: SHOW }),
          loc('/addr', { return: ADDR }),
          loc('/guarded/', { allow: '203.0.113.0/24', deny: 'all' }),
          loc('/own/', { real_ip_header: 'X-Client', add_header: 'X-Remote $remote_addr' }),
          loc('/own-return', { real_ip_header: 'X-Client', return: ADDR }),
          loc('/own-guarded/', { real_ip_header: 'X-Client', allow: '198.51.100.0/24', deny: 'all' }),
        ],
      },
      { listen: ['1'], directives: { set_real_ip_from: ['127.0.0.1', '10.0.0.0/8'], real_ip_header: 'X-Forwarded-For', real_ip_recursive: 'on' }, locations: [loc('/', { return: SHOW })] },
      { listen: ['2'], directives: { set_real_ip_from: '127.0.0.2', real_ip_header: 'X-Forwarded-For' }, locations: [loc('/', { return: ADDR })] },
      { listen: ['3'], directives: { set_real_ip_from: '127.0.0.0/8' }, locations: [loc('/show', { return: SHOW }), loc('/addr', { return: ADDR })] },
      { listen: ['4'], directives: { set_real_ip_from: '127.0.0.1', real_ip_header: 'CF-Connecting-IP' }, locations: [loc('/show', { return: SHOW }), loc('/addr', { return: ADDR })] },
    ],
  },
  files: { 'www/guarded/a.txt': 'guarded\n', 'www/own/a.txt': 'own\n', 'www/own-guarded/a.txt': 'own guarded\n' },
  requests: [
    { name: 'X-Forwarded-For from a trusted peer', target: '/show', headers: { 'X-Forwarded-For': '203.0.113.7' } },
    { name: 'the last address, not recursive', target: '/show', headers: { 'X-Forwarded-For': '198.51.100.1, 203.0.113.7' } },
    { name: 'the last address even when trusted, not recursive', target: '/show', headers: { 'X-Forwarded-For': '198.51.100.1, 127.0.0.1' } },
    { name: 'an address with a port', target: '/show', headers: { 'X-Forwarded-For': '203.0.113.7:5678' } },
    { name: 'IPv6 with a port', target: '/show', headers: { 'X-Forwarded-For': '[2001:DB8:0::7]:443' } },
    { name: 'IPv6 read as an address before a port', target: '/show', headers: { 'X-Forwarded-For': '::1:80' } },
    { name: 'an IPv4-mapped address', target: '/show', headers: { 'X-Forwarded-For': '::ffff:203.0.113.7' } },
    { name: 'leading zeros', target: '/show', headers: { 'X-Forwarded-For': '203.000.113.07' } },
    { name: 'separators and spaces around', target: '/show', headers: { 'X-Forwarded-For': '  203.0.113.7 ,, ' } },
    { name: 'a leading comma is part of the token', target: '/addr', headers: { 'X-Forwarded-For': ',203.0.113.7' } },
    { name: 'junk: nothing changes', target: '/addr', headers: { 'X-Forwarded-For': 'unknown' } },
    { name: '255.255.255.255 is not an address to nginx', target: '/addr', headers: { 'X-Forwarded-For': '255.255.255.255' } },
    { name: 'a port out of range', target: '/addr', headers: { 'X-Forwarded-For': '203.0.113.7:0' } },
    { name: 'no header: nothing changes', target: '/addr' },
    { name: 'X-Real-IP is not read when the header is X-Forwarded-For', target: '/addr', headers: { 'X-Real-IP': '203.0.113.7' } },
    { name: 'several X-Forwarded-For lines, not recursive: the last line', target: '/show', raw: 'GET /show HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 198.51.100.1\r\nX-Forwarded-For: 203.0.113.7\r\nConnection: close\r\n\r\n' },
    { name: 'allow after realip: the forwarded address is let in', target: '/guarded/a.txt', headers: { 'X-Forwarded-For': '203.0.113.7' } },
    { name: 'deny after realip: the forwarded address is refused', target: '/guarded/a.txt', headers: { 'X-Forwarded-For': '198.51.100.1' } },
    { name: 'a location reading another header: preaccess, seen by add_header', target: '/own/a.txt', headers: { 'X-Client': '198.51.100.9' } },
    { name: "the server's post-read found one first", target: '/own/a.txt', headers: { 'X-Client': '198.51.100.9', 'X-Forwarded-For': '203.0.113.7' } },
    { name: 'return runs before preaccess: the peer', target: '/own-return', headers: { 'X-Client': '198.51.100.9' } },
    { name: "access after the location's realip: let in", target: '/own-guarded/a.txt', headers: { 'X-Client': '198.51.100.9' } },
    { name: "access after the location's realip: refused", target: '/own-guarded/a.txt', headers: { 'X-Client': '203.0.113.9' } },
    { name: 'recursive: past the trusted addresses', target: '/', slot: 1, headers: { 'X-Forwarded-For': '198.51.100.1, 203.0.113.8, 10.0.0.5, 10.0.0.6' } },
    { name: 'recursive: all trusted, the leftmost', target: '/', slot: 1, headers: { 'X-Forwarded-For': '10.0.0.1, 10.0.0.2' } },
    { name: 'recursive: junk stops the walk at the last good address', target: '/', slot: 1, headers: { 'X-Forwarded-For': '198.51.100.1, unknown, 10.0.0.5' } },
    { name: 'recursive through several lines', slot: 1, raw: 'GET / HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 198.51.100.1\r\nX-Forwarded-For: 10.0.0.5, 10.0.0.6\r\nConnection: close\r\n\r\n' },
    { name: 'recursive: an untrusted address in the last line ends it', slot: 1, raw: 'GET / HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 198.51.100.1\r\nX-Forwarded-For: 203.0.113.8, 10.0.0.6\r\nConnection: close\r\n\r\n' },
    { name: 'a forged X-Forwarded-For from an untrusted peer changes nothing', target: '/', slot: 2, headers: { 'X-Forwarded-For': '203.0.113.7' } },
    { name: 'X-Real-IP, the default', target: '/show', slot: 3, headers: { 'X-Real-IP': '203.0.113.7' } },
    { name: 'X-Real-IP: the first line', slot: 3, raw: 'GET /show HTTP/1.1\r\nHost: localhost\r\nX-Real-IP: 203.0.113.7\r\nX-Real-IP: 198.51.100.1\r\nConnection: close\r\n\r\n' },
    { name: 'X-Real-IP with a list: not an address', target: '/addr', slot: 3, headers: { 'X-Real-IP': '203.0.113.7, 198.51.100.1' } },
    { name: 'any header, by a name of any case', target: '/show', slot: 4, headers: { 'cf-connecting-ip': '203.0.113.7' } },
    { name: 'any header: the first line', slot: 4, raw: 'GET /show HTTP/1.1\r\nHost: localhost\r\nCF-Connecting-IP: 203.0.113.7\r\nCF-Connecting-IP: 198.51.100.1\r\nConnection: close\r\n\r\n' },
    { name: 'any header, absent', target: '/addr', slot: 4, headers: { 'X-Forwarded-For': '203.0.113.7' } },
  ],
};

const SIG = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');
const REQUEST = Buffer.from('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
/** A v2 header: version/command, family/transport, the address block (its length unless told). */
function v2(versionCommand: number, familyTransport: number, body: Buffer, length = body.length): Buffer {
  return Buffer.concat([SIG, Buffer.from([versionCommand, familyTransport, length >> 8, length & 0xff]), body]);
}
const INET4 = Buffer.from([192, 0, 2, 10, 198, 51, 100, 1, 0x10, 0xe1, 0x01, 0xbb]);
const INET6 = Buffer.concat([Buffer.from('20010db8000000000000000000000010', 'hex'), Buffer.from('20010db8000000000000000000000001', 'hex'), Buffer.from([0x10, 0xe1, 0x20, 0xfb])]);
const v1 = (header: string) => Buffer.concat([Buffer.from(header, 'latin1'), REQUEST]);

const proxyProtocol: ParityCase = {
  title: 'listen proxy_protocol',
  site: {
    servers: [
      { listen: ['0 proxy_protocol'], locations: [loc('/', { return: PP_ADDR })] },
      { listen: ['1 proxy_protocol'], directives: { set_real_ip_from: '127.0.0.1', real_ip_header: 'proxy_protocol' }, locations: [loc('/', { return: PP })] },
      { listen: ['2 proxy_protocol'], directives: { set_real_ip_from: '127.0.0.2', real_ip_header: 'proxy_protocol' }, locations: [loc('/', { return: PP_ADDR })] },
      { listen: ['3 proxy_protocol'], directives: { set_real_ip_from: '127.0.0.1', real_ip_header: 'proxy_protocol' }, locations: [loc('/', { return: PP_ADDR })] },
    ],
  },
  requests: [
    { name: 'v1 TCP4', raw: v1('PROXY TCP4 192.0.2.10 198.51.100.1 4321 443\r\n') },
    { name: 'v1 TCP6', raw: v1('PROXY TCP6 2001:db8::10 2001:db8::1 4321 8443\r\n') },
    { name: 'v1 keeps the address text as sent', raw: v1('PROXY TCP4 192.000.2.10 198.51.100.1 4321 443\r\n') },
    { name: 'v1 port 0 is no port', raw: v1('PROXY TCP4 192.0.2.10 198.51.100.1 0 443\r\n') },
    { name: 'v1 UNKNOWN: no addresses', raw: v1('PROXY UNKNOWN whatever\r\n') },
    { name: 'v2 TCP over IPv4', raw: Buffer.concat([v2(0x21, 0x11, INET4), REQUEST]) },
    { name: 'v2 TCP over IPv6', raw: Buffer.concat([v2(0x21, 0x21, INET6), REQUEST]) },
    { name: 'v2 with TLVs', raw: Buffer.concat([v2(0x21, 0x11, Buffer.concat([INET4, Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63])])), REQUEST]) },
    { name: 'v2 LOCAL: no addresses', raw: Buffer.concat([v2(0x20, 0x00, Buffer.alloc(0)), REQUEST]) },
    { name: 'v2 UDP: no addresses', raw: Buffer.concat([v2(0x21, 0x12, INET4), REQUEST]) },
    { name: 'realip proxy_protocol: the source address and port', slot: 1, raw: v1('PROXY TCP4 192.0.2.10 198.51.100.1 4321 443\r\n') },
    { name: 'realip proxy_protocol from v2 IPv6', slot: 1, raw: Buffer.concat([v2(0x21, 0x21, INET6), REQUEST]) },
    { name: 'realip proxy_protocol: an address text nginx reads again', slot: 1, raw: v1('PROXY TCP4 192.000.2.10 198.51.100.1 4321 443\r\n') },
    { name: 'realip proxy_protocol: a source that is no address changes nothing', slot: 3, raw: v1('PROXY TCP4 1.2.3 198.51.100.1 4321 443\r\n') },
    { name: 'realip proxy_protocol, LOCAL: nothing changes', slot: 3, raw: Buffer.concat([v2(0x20, 0x00, Buffer.alloc(0)), REQUEST]) },
    { name: 'realip proxy_protocol from an untrusted balancer changes nothing', slot: 2, raw: v1('PROXY TCP4 192.0.2.10 198.51.100.1 4321 443\r\n') },
    { name: 'a request line too long after the header: 414', raw: Buffer.from(`PROXY TCP4 192.0.2.10 198.51.100.1 4321 443\r\nGET /${'a'.repeat(40000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`) },
    { name: 'no header: closed', raw: REQUEST, refused: true },
    { name: 'a header cut in two: closed', raw: 'PROXY TCP4 192.0.2.10 ', refused: true },
    { name: 'a bad port: closed', raw: v1('PROXY TCP4 192.0.2.10 198.51.100.1 65536 443\r\n'), refused: true },
    { name: 'LF without CR: closed', raw: v1('PROXY TCP4 192.0.2.10 198.51.100.1 1 443\n'), refused: true },
    { name: 'a host name: closed', raw: v1('PROXY TCP4 client.example 198.51.100.1 1 443\r\n'), refused: true },
    { name: 'v2 length past the read: closed', raw: Buffer.concat([v2(0x21, 0x11, INET4, 4000), REQUEST]), refused: true },
    { name: 'v2 version 3: closed', raw: Buffer.concat([v2(0x31, 0x11, INET4), REQUEST]), refused: true },
    { name: 'v2 addresses cut short: closed', raw: Buffer.concat([v2(0x21, 0x21, INET4), REQUEST]), refused: true },
  ],
};

defineParityCases([headers, proxyProtocol]);

/**
 * The log lines: the access log line and the error line of a refused request name the
 * forwarded address, and a broken PROXY header's line, the same on both sides (both append
 * their access lines to one file, told apart by a mark in the target; both write their error
 * log to stderr; times and each side's ports normalized).
 */
describe('realip and proxy_protocol: the log lines', () => {
  let pair: Pair;
  beforeAll(async () => {
    pair = await startPair(
      {
        servers: [
          { listen: ['0'], directives: { root: 'www', set_real_ip_from: '127.0.0.1', real_ip_header: 'X-Forwarded-For', access_log: 'access.log' }, locations: [loc('/guarded/', { allow: '203.0.113.0/24', deny: 'all' })] },
          { listen: ['1 proxy_protocol'], directives: { set_real_ip_from: '127.0.0.1', real_ip_header: 'proxy_protocol', access_log: 'access.log' }, locations: [loc('/', { return: '204' })] },
        ],
      },
      { 'www/guarded/a.txt': 'guarded\n', 'www/guarded/b.txt': 'guarded\n' },
    );
  });
  afterAll(() => pair?.stop());

  /**
   * Both sides append to one access log (nginx's combined format): the lines of `side`, which
   * sent its requests with `?<side name>` in the target; that mark and the time normalized.
   */
  const accessLines = (side: Side) =>
    readFileSync(path.join(pair.prefix, 'access.log'), 'utf8')
      .split('\n')
      .filter((line) => line.includes(`?${side.name}`))
      .map((line) => line.replace(`?${side.name}`, '?SIDE').replace(/\[\d\d\/\w{3}\/\d{4}:[^\]]+\]/, '[TIME]'));

  /** The lines of an error log that mention `marker`, time and pid normalized, the side's ports written PORT. */
  const errorLines = (log: string, marker: string, side: Side) =>
    log
      .split('\n')
      .filter((line) => line.includes(marker))
      .map((line) => line.replace(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[(\w+)\] \d+#\d+: (\*\d+ )?/, '[$1] ').replace(/:(\d+)/g, (all, port) => (side.ports.includes(Number(port)) ? ':PORT' : all)));

  test('the access log line and the access error line carry the forwarded address', async () => {
    const send = (side: Side, xff: string, target: string) => exchange(side.hosts[0], side.ports[0], requestBytes({ target, headers: { 'X-Forwarded-For': xff } }), false);
    for (const side of [pair.nginx, pair.gateway]) {
      await send(side, '203.0.113.7', `/guarded/a.txt?${side.name}`);
      await send(side, '198.51.100.1', `/guarded/b.txt?${side.name}`);
    }
    await new Promise((r) => setTimeout(r, 300));
    const expected = [
      '203.0.113.7 - - [TIME] "GET /guarded/a.txt?SIDE HTTP/1.1" 200 8 "-" "-"',
      expect.stringMatching(/^198\.51\.100\.1 - - \[TIME\] "GET \/guarded\/b\.txt\?SIDE HTTP\/1\.1" 403 \d+ "-" "-"$/),
    ];
    expect(accessLines(pair.nginx).filter((l) => l.includes('guarded'))).toEqual(expected);
    expect(accessLines(pair.gateway).filter((l) => l.includes('guarded'))).toEqual(expected);
    const forbidden = (log: string, side: Side) => errorLines(log, 'access forbidden', side).map((line) => line.replace(`?${side.name}`, '?SIDE'));
    expect(forbidden(pair.gatewayLog(), pair.gateway)).toEqual(forbidden(pair.nginxLog(), pair.nginx));
    expect(forbidden(pair.nginxLog(), pair.nginx)).toEqual(['[error] access forbidden by rule, client: 198.51.100.1, server: , request: "GET /guarded/b.txt?SIDE HTTP/1.1", host: "localhost"']);
  });

  test("a PROXY header's address in the access log; a broken header's error line", async () => {
    for (const side of [pair.nginx, pair.gateway]) {
      const header = Buffer.from(`PROXY TCP4 192.0.2.10 198.51.100.1 4321 443\r\nGET /pp?${side.name} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
      await exchange(side.hosts[1], side.ports[1], header, false);
      await exchange(side.hosts[1], side.ports[1], Buffer.from('PROXY TCP4 192.0.2.10 '), false);
    }
    await new Promise((r) => setTimeout(r, 300));
    const expected = ['192.0.2.10 - - [TIME] "GET /pp?SIDE HTTP/1.1" 204 0 "-" "-"'];
    expect(accessLines(pair.nginx).filter((l) => l.includes('/pp'))).toEqual(expected);
    expect(accessLines(pair.gateway).filter((l) => l.includes('/pp'))).toEqual(expected);
    const broken = (log: string, side: Side) => errorLines(log, 'broken header', side);
    expect(broken(pair.gatewayLog(), pair.gateway)).toEqual(broken(pair.nginxLog(), pair.nginx));
    expect(broken(pair.nginxLog(), pair.nginx)).toEqual(['[error] broken header: "PROXY TCP4 192.0.2.10 " while reading PROXY protocol, client: 127.0.0.1, server: 127.0.0.1:PORT']);
  });
});
