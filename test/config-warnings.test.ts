/**
 * nginx's configuration warnings: the directives nginx 1.22 reads as obsolete
 * (`http2_recv_timeout`, `http2_idle_timeout`, `http2_max_requests`, `http2_max_field_size`,
 * `http2_max_header_size`: any value, no effect) and deprecated (`ssl on`) are accepted with
 * nginx's warning, one line each with file:line:column, by `gateway -t`, at the start, and in
 * the error log of a reload; nginx 1.22's `-t` says the same words of the same lines.
 */
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { makePrefix, runCli, startGateway } from './helpers/gateway-process';
import { request } from './helpers/http-client';
import { makeCertificates } from './helpers/realworld';
import { findNginx } from './parity/pair';

/** The file both read; `{prefix}` is the prefix, `{port}` 0 for the gateway, a port nginx -t only reads (it refuses 0). */
const CONF = `events {}
http {
    server {
        listen 127.0.0.1:{port};
        http2_recv_timeout 5s;
        http2_idle_timeout anything;
        http2_max_requests 10;
        http2_max_field_size 4k;
        http2_max_header_size 8k;
        location / { return 200 ok; }
    }
    server {
        listen 127.0.0.1:{port};
        ssl on;
        ssl_certificate {prefix}/certs/cert.pem;
        ssl_certificate_key {prefix}/certs/key.pem;
    }
}
`;

/** What both say, line by line: the reason and the line it names. */
const EXPECTED = [
  ['the "http2_recv_timeout" directive is obsolete, use the "client_header_timeout" directive instead', 5],
  ['the "http2_idle_timeout" directive is obsolete, use the "keepalive_timeout" directive instead', 6],
  ['the "http2_max_requests" directive is obsolete, use the "keepalive_requests" directive instead', 7],
  ['the "http2_max_field_size" directive is obsolete, use the "large_client_header_buffers" directive instead', 8],
  ['the "http2_max_header_size" directive is obsolete, use the "large_client_header_buffers" directive instead', 9],
  ['the "ssl" directive is deprecated, use the "listen ... ssl" directive instead', 14],
];

let prefix: string;
let file: string;
let nginxFile: string;

beforeAll(() => {
  prefix = makePrefix();
  makeCertificates(prefix);
  file = path.join(prefix, 'site.conf');
  nginxFile = path.join(prefix, 'nginx.conf');
  writeFileSync(file, CONF.replaceAll('{prefix}', prefix).replaceAll('{port}', '0'));
  writeFileSync(nginxFile, CONF.replaceAll('{prefix}', prefix).replaceAll('{port}', '8080'));
});

afterAll(() => rmSync(prefix, { recursive: true, force: true }));

test('gateway -t: each warning in nginx words with file:line:column, and the test is successful', async () => {
  const { code, stderr } = await runCli(['-t', '-p', prefix, '-c', file]);
  expect(code).toBe(0);
  const warned = stderr
    .split('\n')
    .filter((line) => line.includes('[warn]'))
    .map((line) => /^gateway: \[warn\] (.*) in (.*):(\d+):(\d+)$/.exec(line));
  expect(warned.map((m) => m && [m[1], Number(m[3])])).toEqual(EXPECTED);
  expect(warned.every((m) => m![2] === file)).toBe(true);
  expect(stderr).toContain('test is successful');
});

test('nginx 1.22 -t says the same of the same lines', async () => {
  const stderr = await new Promise<string>((resolve) => {
    execFile(findNginx(), ['-t', '-p', prefix, '-c', nginxFile, '-g', `pid ${prefix}/nginx.pid; error_log stderr;`], (_err, _out, err) => resolve(err));
  });
  const warned = stderr
    .split('\n')
    .map((line) => /\[warn\] \d+#\d+: (.*) in (.*):(\d+)$/.exec(line))
    .filter((m) => m !== null)
    .map((m) => [m[1], Number(m[3])]);
  expect(warned).toEqual(EXPECTED);
});

test('a reload to a file with an obsolete directive logs the warning, and the new file serves', async () => {
  const conf = (body: string, extra = '') => `error_log stderr notice;\nevents {}\nhttp {\n    server {\n        listen 127.0.0.1:0;${extra}\n        location / { return 200 ${body}; }\n    }\n}\n`;
  const gw = await startGateway(conf('before'), { confName: 'test.conf' });
  try {
    const port = gw.ports[0];
    writeFileSync(path.join(gw.prefix, 'conf/test.conf'), conf('after', '\n        http2_idle_timeout 3m;'));
    gw.child.kill('SIGHUP');
    await until(async () => (await request(port, '/')).body.toString() === 'after', () => `the reloaded file serving in:\n${gw.stderr()}`);
    expect(gw.stderr()).toMatch(/\[warn\] .*the "http2_idle_timeout" directive is obsolete, use the "keepalive_timeout" directive instead in .*test\.conf:6:\d+/);
  } finally {
    await gw.stop();
  }
});

/** Waits (10 s at most) until `check` holds. */
async function until(check: () => Promise<boolean>, what: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
