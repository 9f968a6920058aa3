/**
 * auth_request with the gateway as a process, a real authentication service and a real
 * backend: `auth_request_set` in the access log and in a header the backend receives, a POST
 * whose body reaches the backend while the auth service gets a bodiless GET, `satisfy any`
 * not asking the service when an allow rule lets the client in; faults: a service that resets
 * or hangs (every request a 500, with nginx's line), a client that leaves while the
 * subrequest waits (the service's connection closed, a 499 logged) — each time the gateway's
 * descriptors back to their count before. And the subrequest itself with its body kept, as a
 * handler calls it (`ctx.subrequest`, for OpenResty's `ngx.location.capture` to come).
 */
import http from 'node:http';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { fdTotal } from './helpers/push-clients';
import { startAuthBackend, type AuthBackend } from './parity/auth-backend';
import { startRecordingBackend, type RecordingBackend } from './parity/recording-backend';

let auth: AuthBackend;
let backend: RecordingBackend;
let gateway: GatewayProcess;

beforeAll(async () => {
  auth = await startAuthBackend();
  backend = await startRecordingBackend();
  gateway = await startGateway(
    `master_process: "off"
error_log: stderr info
pid: "off"
http:
  log_format: { auth: '$request_method $uri $status user=$auth_user' }
  access_log: logs/access.log auth
  servers:
    - listen: ["127.0.0.1:0"]
      locations:
        - location: /auth/
          proxy_pass: ${auth.url}
        - location: = /auth/hang
          proxy_pass: ${auth.url}
          proxy_read_timeout: 300ms
        - location: = /auth-wait
          proxy_pass: ${auth.url}/auth/hang
        - location: /app/
          auth_request: /auth/ok
          auth_request_set: "$auth_user $upstream_http_x_user"
          proxy_set_header: "X-User $auth_user"
          proxy_pass: ${backend.url}
        - location: /any/
          satisfy: any
          allow: 127.0.0.1
          auth_request: /auth/403
          return: "200 in\\n"
        - location: /any-static/
          satisfy: any
          allow: 127.0.0.1
          auth_request: /auth/403
          proxy_pass: ${backend.url}
        - location: /reset/
          auth_request: /auth/reset
          proxy_pass: ${backend.url}
        - location: /hang/
          auth_request: /auth/hang
          proxy_pass: ${backend.url}
        - location: /wait/
          auth_request: /auth-wait
          proxy_pass: ${backend.url}
`,
    { files: { 'logs/.keep': '' } },
  );
});

afterAll(async () => {
  await gateway?.stop();
  await auth?.close();
  await backend?.close();
});

const port = () => gateway.ports[0];

function request(target: string, method = 'GET', body?: string): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: port(), path: target, method, agent: false, headers: body === undefined ? {} : { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const accessLog = () => readFileSync(path.join(gateway.prefix, 'logs/access.log'), 'utf8');

async function waitFor(check: () => boolean, ms = 3000): Promise<void> {
  for (const end = Date.now() + ms; !check() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
}

/** The gateway's descriptors once it has settled (its log written, its upstream sockets closed). */
async function settledFds(baseline: number): Promise<number> {
  await waitFor(() => fdTotal([gateway.child.pid!]) <= baseline);
  return fdTotal([gateway.child.pid!]);
}

test('auth_request_set: the service\'s X-User in the access log and in a header to the backend; a POST body to the backend only', async () => {
  const seenBefore = auth.seen.length;
  const res = await request('/app/form', 'POST', 'name=value');
  expect(res.status).toBe(200);
  // The recording backend answers with what it received.
  expect(res.body).toMatch(/^POST \/app\/form\n/);
  expect(res.body).toContain('\nX-User: alice\n');
  expect(res.body.endsWith('\n\nname=value')).toBe(true);
  // The auth service got a GET for its URI (nginx's subrequest), no body.
  expect(auth.seen.slice(seenBefore)).toEqual(['GET /auth/ok']);
  await waitFor(() => accessLog().includes('POST /app/form'));
  expect(accessLog()).toContain('POST /app/form 200 user=alice\n');
});

test('satisfy any: an allow rule lets the client in without asking the auth service', async () => {
  const seenBefore = auth.seen.length;
  expect((await request('/any/x')).status).toBe(200);
  expect((await request('/any-static/x')).status).toBe(200);
  expect(auth.seen.length).toBe(seenBefore);
});

test('an auth service that resets or hangs: each request a 500 with nginx\'s line, the descriptors back to before', async () => {
  await request('/app/warm');
  const baseline = await settledFds(fdTotal([gateway.child.pid!]));
  const logBefore = gateway.stderr().length;
  const results = await Promise.all([...Array.from({ length: 10 }, () => request('/reset/x')), ...Array.from({ length: 10 }, () => request('/hang/x'))]);
  expect(results.map((r) => r.status)).toEqual(Array(20).fill(500));
  await waitFor(() => (gateway.stderr().slice(logBefore).match(/auth request unexpected status/g) ?? []).length >= 20);
  const log = gateway.stderr().slice(logBefore);
  expect(log.match(/auth request unexpected status: 502 while sending to client, client: 127\.0\.0\.1, server: , request: "GET \/reset\/x HTTP\/1\.1"/g)).toHaveLength(10);
  expect(log.match(/auth request unexpected status: 504 while sending to client, client: 127\.0\.0\.1, server: , request: "GET \/hang\/x HTTP\/1\.1"/g)).toHaveLength(10);
  expect(log.match(/upstream timed out \(110: Connection timed out\) while reading response header from upstream/g)).toHaveLength(10);
  expect(await settledFds(baseline)).toBeLessThanOrEqual(baseline);
  await waitFor(() => auth.open() === 0);
  expect(auth.open()).toBe(0);
});

test('a client that leaves while the auth subrequest waits: the service\'s connection closed, 499 logged, no 500 line', async () => {
  await request('/app/warm');
  const baseline = await settledFds(fdTotal([gateway.child.pid!]));
  const logBefore = gateway.stderr().length;
  const client = net.connect(port(), '127.0.0.1');
  await new Promise((resolve) => client.once('connect', resolve));
  client.write('GET /wait/x HTTP/1.1\r\nHost: localhost\r\n\r\n');
  await waitFor(() => auth.open() > 0);
  expect(auth.open()).toBe(1);
  client.destroy();
  await waitFor(() => auth.open() === 0);
  expect(auth.open()).toBe(0);
  await waitFor(() => accessLog().includes('GET /wait/x 499'));
  expect(accessLog()).toContain('GET /wait/x 499 user=-\n');
  expect(gateway.stderr().slice(logBefore)).not.toMatch(/unexpected status|\[error\]/);
  expect(await settledFds(baseline)).toBeLessThanOrEqual(baseline);
});

describe('RequestContext.subrequest, its body kept (for OpenResty\'s ngx.location.capture)', () => {
  let gw: GatewayProcess;
  const capture = `module.exports = {
  configure: () => ({}),
  create: () => ({
    async http(req, res, ctx) {
      const uri = ctx.args.replace(/^u=/, '');
      const out = await ctx.subrequest({ uri, args: 'q=1', body: true, method: req.method === 'HEAD' ? 'HEAD' : 'GET' });
      const text = JSON.stringify({ status: out.status, type: out.headers['content-type'] ?? null, body: out.body === null ? null : out.body.toString('latin1'), sent: out.context.variable('sent_http_content_type') });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(text);
    },
  }),
};
`;

  beforeAll(async () => {
    gw = await startGateway(
      `master_process: "off"
error_log: stderr info
pid: "off"
http:
  servers:
    - listen: ["127.0.0.1:0"]
      root: www
      locations:
        - location: /capture
          handler: ./capture.js
        - location: /proxied/
          proxy_pass: ${backend.url}
        - location: = /returned
          return: "201 'made $arg_q'"
        - location: = /denied.txt
          deny: all
`,
      { files: { 'capture.js': capture, 'www/file.txt': 'a static file\n', 'www/denied.txt': 'denied to clients\n' } },
    );
  });
  afterAll(() => gw?.stop());

  const capture1 = async (uri: string) => {
    const res = await new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: gw.ports[0], path: `/capture?u=${uri}`, agent: false }, (r) => {
        let text = '';
        r.on('data', (c: Buffer) => (text += c));
        r.on('end', () => resolve(text));
      }).on('error', reject);
    });
    return JSON.parse(res) as { status: number; type: string | null; body: string | null; sent: string };
  };

  test('a static file, a proxied response, a return with the subrequest\'s args, a 404 page', async () => {
    expect(await capture1('/file.txt')).toEqual({ status: 200, type: 'text/plain', body: 'a static file\n', sent: 'text/plain' });
    const proxied = await capture1('/proxied/path');
    expect(proxied.status).toBe(200);
    expect(proxied.body).toMatch(/^GET \/proxied\/path\?q=1\n/);
    expect(await capture1('/returned')).toEqual({ status: 201, type: 'text/plain', body: 'made 1', sent: 'text/plain' });
    const missing = await capture1('/nothing');
    expect(missing.status).toBe(404);
    expect(missing.body).toContain('<title>404 Not Found</title>');
  });

  test('a subrequest skips the access phase of the location it reaches (a client does not)', async () => {
    expect(await capture1('/denied.txt')).toEqual({ status: 200, type: 'text/plain', body: 'denied to clients\n', sent: 'text/plain' });
    const direct = await new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: gw.ports[0], path: '/denied.txt', agent: false }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      }).on('error', reject);
    });
    expect(direct).toBe(403);
  });
});
