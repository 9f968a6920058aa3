/**
 * `balancer_by` and `ssl_certificate_by` beside OpenResty: Debian's nginx-extras with
 * lua-nginx-module 0.10.23 and lua-resty-core (ngx.balancer, ngx.ssl) runs the Lua of each case,
 * the gateway the same logic in a script, against the same backends; the answers, the tries the
 * balancer saw (`get_last_failure`), the `set_more_tries` warning and the certificates served
 * must be the same. nginx or its Lua module missing is an error, never a skip.
 */
import { spawn, spawnSync, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import tls from 'node:tls';
import { makePrefix, startGateway, type GatewayProcess } from '../helpers/gateway-process';
import { closeServer, listen, portOf, request, until } from '../helpers/proxy-peers';
import { findNginx } from './pair';
import { freePort } from '../helpers/ports';

const LUA_MODULES = ['/usr/lib/nginx/modules/ndk_http_module.so', '/usr/lib/nginx/modules/ngx_http_lua_module.so'];

/** Backend A answers 503 on /503, 404 on /404; B answers 200 to everything. */
function backend(name: string): http.Server {
  return http.createServer((req, res) => {
    const p = name === 'A' ? (req.url ?? '').split('?')[0] : '';
    res.writeHead(p === '/503' ? 503 : p === '/404' ? 404 : 200, { 'Content-Type': 'text/plain' }).end(`${name} ${req.url}`);
  });
}

function makeCertificate(dir: string, name: string): void {
  mkdirSync(path.join(dir, 'certs'), { recursive: true });
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`, '-keyout', path.join(dir, `certs/${name}.key`), '-out', path.join(dir, `certs/${name}.pem`)], { stdio: 'ignore' });
}

function handshake(port: number, servername?: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const cn = String(socket.getPeerCertificate().subject?.CN);
      socket.end();
      resolve(cn);
    });
    socket.on('error', () => resolve('aborted'));
  });
}

describe('balancer_by and ssl_certificate_by beside OpenResty', () => {
  const a = backend('A');
  const b = backend('B');
  let nginx: ChildProcess;
  let nginxLog = '';
  let gateway: GatewayProcess;
  let ports: { nginx: number; nginxTls: number; gateway: number; gatewayTls: number };
  let prefix: string;

  beforeAll(async () => {
    const binary = findNginx();
    for (const m of LUA_MODULES) if (!existsSync(m)) throw new Error(`OpenResty's Lua module is needed (${m}): install nginx-extras and lua-resty-core`);
    await listen(a);
    await listen(b);
    const A = portOf(a);
    const B = portOf(b);
    const down = await freePort();
    const nPort = await freePort();
    const nTls = await freePort();
    // Two listens on port 0 would be one socket: the gateway's TLS server gets a port of its own.
    const gTls = await freePort();
    prefix = makePrefix({
      'handlers/pick.js': `module.exports = (b) => { if (b.cookie('to') === 'b') b.setCurrentPeer('127.0.0.1', ${B}); };`,
      'handlers/retry.js': `module.exports = (b) => {
  const last = b.getLastFailure();
  b.log.warn('seen try=' + b.try + ' state=' + (last ? last.state : 'nil') + ' code=' + (last ? last.status : 'nil'));
  if (!last) { const w = b.setMoreTries(Number(b.variable('arg_more') || 2)); if (w) b.log.warn('warning=' + w); return b.setCurrentPeer('127.0.0.1', ${down}); }
  if (b.try === 2) return b.setCurrentPeer('127.0.0.1', ${A});
  b.setCurrentPeer('127.0.0.1', ${B});
};`,
      'handlers/thrower.js': `module.exports = () => { throw new Error('boom'); };`,
      'handlers/certs.js': `const fs = require('node:fs');
module.exports = {
  configure: (o, cx) => ({ a: { cert: fs.readFileSync(cx.prefix + '/certs/a.test.pem'), key: fs.readFileSync(cx.prefix + '/certs/a.test.key') } }),
  run(c, o) { if (c.serverName === 'boom.test') throw new Error('boom'); if (c.serverName === 'a.test') return o.a; },
};`,
    });
    for (const n of ['default.test', 'a.test']) makeCertificate(prefix, n);
    const lua = {
      pick: `local bal = require "ngx.balancer"; if ngx.var.cookie_to == "b" then assert(bal.set_current_peer("127.0.0.1", ${B})) end`,
      retry: `local bal = require "ngx.balancer"
        local state, code = bal.get_last_failure()
        ngx.ctx.try = (ngx.ctx.try or 0) + 1
        ngx.log(ngx.WARN, "seen try=", ngx.ctx.try, " state=", tostring(state), " code=", tostring(code))
        if not state then
          local ok, w = bal.set_more_tries(tonumber(ngx.var.arg_more or 2))
          if w then ngx.log(ngx.WARN, "warning=", w) end
          assert(bal.set_current_peer("127.0.0.1", ${down}))
        elseif ngx.ctx.try == 2 then assert(bal.set_current_peer("127.0.0.1", ${A}))
        else assert(bal.set_current_peer("127.0.0.1", ${B})) end`,
      thrower: `error("boom")`,
      certs: `local ssl = require "ngx.ssl"
        local name = ssl.server_name()
        if name == "boom.test" then error("boom") end
        if name == "a.test" then
          local f = io.open("${prefix}/certs/a.test.pem"); local cert = f:read("*a"); f:close()
          f = io.open("${prefix}/certs/a.test.key"); local key = f:read("*a"); f:close()
          assert(ssl.clear_certs()); assert(ssl.set_cert(assert(ssl.parse_pem_cert(cert)))); assert(ssl.set_priv_key(assert(ssl.parse_pem_priv_key(key))))
        end`,
    };
    const locations = `
        location /pick/ { proxy_pass http://pick; }
        location /retry503/ { proxy_pass http://retry/503; proxy_next_upstream error timeout http_503; }
        location /retry404/ { proxy_pass http://retry/404; proxy_next_upstream error http_404; }
        location /limited/ { proxy_pass http://retry/503; proxy_next_upstream error http_503; proxy_next_upstream_tries 2; }
        location /throw/ { proxy_pass http://thrower; }`;
    writeFileSync(
      `${prefix}/nginx.conf`,
      `${LUA_MODULES.map((m) => `load_module ${m};`).join('\n')}
daemon off; master_process off; pid ${prefix}/nginx.pid; error_log stderr info;
events {}
http {
  access_log off;
  ${['pick', 'retry', 'thrower'].map((u) => `upstream ${u} { server 127.0.0.1:${A}; balancer_by_lua_block { ${lua[u as keyof typeof lua]} } }`).join('\n  ')}
  server { listen 127.0.0.1:${nPort}; ${locations} }
  server { listen 127.0.0.1:${nTls} ssl; ssl_certificate ${prefix}/certs/default.test.pem; ssl_certificate_key ${prefix}/certs/default.test.key;
    ssl_certificate_by_lua_block { ${lua.certs} }
    location / { return 200; } }
}
`,
    );
    const check = spawnSync(binary, ['-t', '-p', `${prefix}/`, '-c', `${prefix}/nginx.conf`, '-e', 'stderr'], { encoding: 'utf8' });
    if (check.status !== 0) throw new Error(`nginx rejects the configuration:\n${check.stderr}`);
    nginx = spawn(binary, ['-p', `${prefix}/`, '-c', `${prefix}/nginx.conf`, '-e', 'stderr'], { stdio: ['ignore', 'ignore', 'pipe'] });
    nginx.stderr!.on('data', (d: Buffer) => (nginxLog += d));
    const upstream = (u: string) => `    ${u}:\n      balancer_by: ${u}\n      servers: ["127.0.0.1:${A}"]\n`;
    const loc = (l: string, pass: string, extra = '') => `        - location: ${l}\n          proxy_pass: ${pass}\n${extra}`;
    gateway = await startGateway(
      `worker_processes: 2
error_log: stderr info
pid: off
http:
  access_log: "off"
  upstreams:
${['pick', 'retry', 'thrower'].map(upstream).join('')}  servers:
    - listen: 127.0.0.1:0
      locations:
${loc('/pick/', 'http://pick')}${loc('/retry503/', 'http://retry/503', '          proxy_next_upstream: error timeout http_503\n')}${loc('/retry404/', 'http://retry/404', '          proxy_next_upstream: error http_404\n')}${loc('/limited/', 'http://retry/503', '          proxy_next_upstream: error http_503\n          proxy_next_upstream_tries: 2\n')}${loc('/throw/', 'http://thrower')}    - listen: "127.0.0.1:${gTls} ssl"
      ssl_certificate: certs/default.test.pem
      ssl_certificate_key: certs/default.test.key
      ssl_certificate_by: certs
      locations:
        - { location: /, return: 200 }
`,
      { prefix, listeners: 2 },
    );
    ports = { nginx: nPort, nginxTls: nTls, gateway: gateway.ports[0], gatewayTls: gTls };
    expect(await until(() => /listen|start worker|using the/.test(nginxLog) || nginx.exitCode !== null)).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    if (nginx.exitCode !== null) throw new Error(`nginx exited:\n${nginxLog}`);
  });

  afterAll(async () => {
    nginx?.kill('SIGTERM');
    await gateway?.stop();
    await closeServer(a);
    await closeServer(b);
  });

  /** The same request to both: status and body (the body names the backend). */
  async function both(path: string, options: http.RequestOptions = {}): Promise<[string, string]> {
    const n = await request(ports.nginx, path, options);
    const g = await request(ports.gateway, path, options);
    return [`${n.status} ${n.status < 500 ? n.body : ''}`, `${g.status} ${g.status < 500 ? g.body : ''}`];
  }

  /** The `seen try=...` lines (and a warning) a request made, from one side's log. */
  const seen = (log: string, from: number) => [...log.slice(from).matchAll(/(seen try=\d+ state=\w+ code=\w+|warning=reduced tries due to limit)/g)].map((m) => m[1]);

  test('the peer by cookie, and no peer set: the upstream server', async () => {
    const [n1, g1] = await both('/pick/x', { headers: { Cookie: 'to=b' } });
    expect(g1).toBe(n1);
    expect(n1).toMatch(/^200 B /);
    const [n2, g2] = await both('/pick/y');
    expect(g2).toBe(n2);
    expect(n2).toMatch(/^200 A /);
  });

  for (const [name, path] of [
    ['a refusal then a 503 (failed, failed)', '/retry503/'],
    ['a refusal then a 404 passed on (failed, next)', '/retry404/'],
    ['set_more_tries cut by proxy_next_upstream_tries', '/limited/?more=5'],
  ] as const) {
    test(`retries: ${name}`, async () => {
      const nFrom = nginxLog.length;
      const gFrom = gateway.stderr().length;
      const [n, g] = await both(path);
      expect(g).toBe(n);
      await until(() => seen(gateway.stderr(), gFrom).length >= seen(nginxLog, nFrom).length);
      expect(seen(gateway.stderr(), gFrom)).toEqual(seen(nginxLog, nFrom));
      expect(seen(nginxLog, nFrom).length).toBeGreaterThanOrEqual(2);
    });
  }

  test('a balancer that throws: 500 on both', async () => {
    const [n, g] = await both('/throw/');
    expect([n, g]).toEqual(['500 ', '500 ']);
  });

  test('certificates: per name from the script, the configured one otherwise, an error aborts', async () => {
    for (const name of ['a.test', 'other.test', undefined, 'boom.test']) {
      expect([name, await handshake(ports.gatewayTls, name)]).toEqual([name, await handshake(ports.nginxTls, name)]);
    }
  });
});
