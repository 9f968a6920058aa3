/**
 * `proxy_pass` with variables (Jellyfin's `proxy_pass http://$jellyfin:8096`, Gitea's
 * `proxy_pass http://127.0.0.1:3000$uri`) and `resolver`/`resolver_timeout`, as nginx: the URI
 * passed as the variables make it, a host that names an upstream, an address used as it is,
 * any other name resolved through the configured name servers (a DNS server on loopback),
 * nginx's 502s and log lines when it cannot be.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expectLogged, startGateway, type GatewayProcess } from './helpers/gateway-process';
import { startDnsServer, type DnsServer } from './helpers/dns-server';
import { request } from './helpers/proxy-peers';
import { fdTotal, workerPids } from './helpers/push-clients';
import { buildVirtual } from './helpers/virtual-config';
import { parseResolver } from '../src/modules/resolver/module';
import { NameResolver } from '../src/modules/resolver/resolver';
import { parseProxyPass, variableUpstreamUri } from '../src/modules/proxy/target';

describe('resolver and the URI of a proxy_pass with variables (pure)', () => {
  test.each([
    ['127.0.0.11', { servers: ['127.0.0.11:53'], valid: null, ipv6: true }],
    ['8.8.8.8 8.8.4.4 valid=300s ipv6=off', { servers: ['8.8.8.8:53', '8.8.4.4:53'], valid: 300_000, ipv6: false }],
    ['[2606:4700:4700::1111] 127.0.0.1:5353 valid=60s', { servers: ['[2606:4700:4700::1111]:53', '127.0.0.1:5353'], valid: 60_000, ipv6: true }],
  ])('resolver %s', (text, expected) => expect(parseResolver(text.split(' '))).toEqual(expected));

  test.each([
    ['valid=1s', 'no name servers defined'],
    ['127.0.0.1 valid=soon', 'invalid parameter: valid=soon'],
    ['127.0.0.1 ipv6=maybe', 'invalid parameter: ipv6=maybe'],
    ['127.0.0.1:99999', 'invalid port in resolver "127.0.0.1:99999"'],
    ['dns.example', 'host names in "resolver" are not supported yet ("dns.example")'],
  ])('resolver %s is refused: %s', (text, reason) => expect(() => parseResolver(text.split(' '))).toThrow(reason));

  const source = { url: '/app/a%20b?x=1', uri: '/app/a b', args: 'x=1' };
  test.each([
    ['http://127.0.0.1:3000/fixed', '/fixed'],
    ['http://127.0.0.1:3000?only=args', '/?only=args'],
    ['http://127.0.0.1:3000', '/app/a%20b?x=1'],
  ])('proxy_pass made %s sends %s', (url, uri) => expect(variableUpstreamUri(parseProxyPass(url), source)).toBe(uri));

  test('without a URI part, a $uri a script changed goes escaped with its $args', () => {
    expect(variableUpstreamUri(parseProxyPass('http://h:1'), { ...source, changed: true })).toBe('/app/a%20b?x=1');
  });

  // The proxy handler's refusals point at the directive they are about, as nginx's.
  test('at load: an unknown variable in proxy_pass is refused; a URL with variables is not checked further', () => {
    const conf = (proxyPass: string) => `http:\n  servers:\n    - listen: 8080\n      locations:\n        - location: /\n          proxy_pass: "${proxyPass}"\n`;
    expect(() => buildVirtual(conf('http://$nope:1'))).toThrow('unknown "nope" variable in /virtual/site.yaml:6:23');
    expect(() => buildVirtual(conf('$http_x'))).not.toThrow();
    expect(() => buildVirtual('http:\n  resolver: "x y=1"\n')).toThrow('host names in "resolver" are not supported yet ("x")');
  });
});

describe('NameResolver against a DNS server on loopback', () => {
  let dns: DnsServer;
  beforeAll(async () => {
    dns = await startDnsServer({ 'two.test': { a: ['127.0.0.2', '127.0.0.3'], ttl: 1 }, 'fail.test': { rcode: 'SERVFAIL' }, 'mute.test': { silent: true } });
  });
  afterAll(() => dns.close());

  test('addresses in turn, kept for their TTL, one query for requests that ask at once', async () => {
    const resolver = new NameResolver({ servers: [`127.0.0.1:${dns.port}`], valid: null, ipv6: false }, 1000);
    dns.queries.length = 0;
    const [a, b] = await Promise.all([resolver.address('two.test'), resolver.address('TWO.test')]);
    expect([a, b].sort()).toEqual(['127.0.0.2', '127.0.0.3']);
    expect(dns.queries).toEqual(['A two.test']);
    await resolver.address('two.test');
    expect(dns.queries).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 1100));
    await resolver.address('two.test');
    expect(dns.queries).toHaveLength(2);
    resolver.close();
  });

  test.each([
    ['none.test', 'none.test could not be resolved (3: Host not found)'],
    ['fail.test', 'fail.test could not be resolved (2: Server failure)'],
    ['mute.test', 'mute.test could not be resolved (110: Operation timed out)'],
  ])('%s: %s', async (name, reason) => {
    const resolver = new NameResolver({ servers: [`127.0.0.1:${dns.port}`], valid: null, ipv6: true }, 300);
    await expect(resolver.address(name)).rejects.toThrow(reason);
    resolver.close();
  });
});

describe('proxy_pass with variables (gateway process)', () => {
  let backend: http.Server;
  let backendPort: number;
  let dns: DnsServer;
  let gw: GatewayProcess;
  const seen: { url: string; host: string }[] = [];

  beforeAll(async () => {
    backend = http.createServer((req, res) => {
      seen.push({ url: req.url ?? '', host: req.headers.host ?? '' });
      res.end('ok\n');
    });
    await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
    backendPort = (backend.address() as AddressInfo).port;
    dns = await startDnsServer({ 'backend.test': { a: ['127.0.0.1'], ttl: 60 }, 'mute.test': { silent: true } });
    gw = await startGateway(`
error_log: stderr notice
http:
  access_log: off
  upstreams:
    app:
      servers: ["127.0.0.1:${backendPort}"]
  servers:
    - listen: "127.0.0.1:0"
      server_name: resolving
      resolver: "127.0.0.1:${dns.port} ipv6=off"
      resolver_timeout: 500ms
      locations:
        - location: /ip/
          proxy_pass: "http://$arg_h:${backendPort}"
        - location: /uri/
          proxy_pass: "http://127.0.0.1:${backendPort}/fixed$arg_p"
        - location: /named/
          proxy_pass: "http://$arg_u"
        - location: /dns/
          proxy_pass: "http://$arg_h:${backendPort}"
          proxy_set_header: "X-Proxy-Host $proxy_host"
        - location: /bad/
          proxy_pass: "$arg_url"
    - listen: "127.0.0.1:0"
      server_name: plain.test
      locations:
        - location: /
          proxy_pass: "http://$arg_h:${backendPort}"
`);
  });

  afterAll(async () => {
    await gw?.stop();
    await new Promise((resolve) => backend.close(resolve));
    await dns?.close();
  });

  /** A request to the `resolving` server, or to `plain.test` (the same socket, picked by Host). */
  const get = async (port: number, path: string, host?: string) => {
    seen.length = 0;
    const reply = await request(port, path, host ? { headers: { host } } : {});
    return { status: reply.status, seen: [...seen] };
  };

  test('an address made by the variables is used as it is, the request URI passed unchanged (no URI part)', async () => {
    expect(await get(gw.ports[0], '/ip/a%20b?h=127.0.0.1&x=1')).toEqual({ status: 200, seen: [{ url: '/ip/a%20b?h=127.0.0.1&x=1', host: `127.0.0.1:${backendPort}` }] });
  });

  test('a URI part made by the variables goes as they made it: no location prefix replaced, no $args added', async () => {
    expect(await get(gw.ports[0], '/uri/zz?p=/q/r')).toEqual({ status: 200, seen: [{ url: '/fixed/q/r', host: `127.0.0.1:${backendPort}` }] });
  });

  test('a host without a port that names an upstream goes to it, Host the upstream name', async () => {
    expect(await get(gw.ports[0], '/named/x?u=app')).toEqual({ status: 200, seen: [{ url: '/named/x?u=app', host: 'app' }] });
  });

  test('a name is resolved through the resolver, once for its TTL; $proxy_host is the name from the URL', async () => {
    dns.queries.length = 0;
    const first = await get(gw.ports[0], '/dns/x?h=backend.test');
    expect(first).toEqual({ status: 200, seen: [{ url: '/dns/x?h=backend.test', host: `backend.test:${backendPort}` }] });
    expect((await get(gw.ports[0], '/dns/y?h=backend.test')).status).toBe(200);
    expect(dns.queries).toEqual(['A backend.test']);
  });

  test('a name the server does not know is a 502 with nginx line', async () => {
    expect(await get(gw.ports[0], '/dns/x?h=none.test')).toEqual({ status: 502, seen: [] });
    await expectLogged(gw, /\[error\] \d+#0: none\.test could not be resolved \(3: Host not found\), client: 127\.0\.0\.1, server: resolving, request: "GET \/dns\/x\?h=none\.test HTTP\/1\.1", host: /);
  });

  test('a name server that does not answer is a 502 after resolver_timeout', async () => {
    const started = Date.now();
    expect(await get(gw.ports[0], '/dns/x?h=mute.test')).toEqual({ status: 502, seen: [] });
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    await expectLogged(gw, 'mute.test could not be resolved (110: Operation timed out)');
  });

  test('200 clients at once ask for a name whose server never answers: one query, each a 502 after resolver_timeout, descriptors back', async () => {
    const workers = workerPids(gw.child.pid!);
    const baseline = fdTotal(workers);
    dns.queries.length = 0;
    const started = Date.now();
    const statuses = await Promise.all(Array.from({ length: 200 }, () => request(gw.ports[0], '/dns/x?h=mute.test').then((r) => r.status)));
    expect(new Set(statuses)).toEqual(new Set([502]));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(dns.queries).toEqual(['A mute.test']);
    const deadline = Date.now() + 5000;
    while (fdTotal(workers) > baseline && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(fdTotal(workers)).toBeLessThanOrEqual(baseline);
  });

  test('without a resolver a name is a 502: "no resolver defined to resolve"', async () => {
    expect(await get(gw.ports[0], '/?h=backend.test', 'plain.test')).toEqual({ status: 502, seen: [] });
    await expectLogged(gw, 'no resolver defined to resolve backend.test, client: 127.0.0.1, server: plain.test');
    // An address needs none.
    expect((await get(gw.ports[0], '/?h=127.0.0.1', 'plain.test')).status).toBe(200);
  });

  test('a URL that is not one is a 500 with nginx line', async () => {
    expect(await get(gw.ports[0], '/bad/?url=ftp://x')).toEqual({ status: 500, seen: [] });
    await expectLogged(gw, 'invalid URL prefix in "ftp://x"');
    expect((await get(gw.ports[0], '/bad/?url=http://')).status).toBe(500);
    await expectLogged(gw, 'invalid URL prefix in "http://"');
  });
});
