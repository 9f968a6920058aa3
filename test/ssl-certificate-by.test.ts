/**
 * `ssl_certificate_by` (OpenResty's ssl_certificate_by_lua with ngx.ssl) with the gateway as a
 * process and two workers: a certificate per SNI name from the script (Node's TLS client and
 * `openssl s_client -servername`), the server's configured one when the script answers nothing
 * or the client sends no name, an async script, a script that throws or answers a pair that
 * does not load (the handshake aborted, one error line), the workers' descriptors back to
 * their count after the faults. Bad input at `gateway -t`. Certificates are made at test time.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { makePrefix, runCli, startGateway, type GatewayProcess } from './helpers/gateway-process';
import { until } from './helpers/proxy-peers';
import { fdTotal, workerPids } from './helpers/push-clients';

/** A self-signed certificate for `name`, written as certs/NAME.pem and certs/NAME.key under `dir`. */
function makeCertificate(dir: string, name: string): void {
  mkdirSync(path.join(dir, 'certs'), { recursive: true });
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', `/CN=${name}`,
    '-addext', `subjectAltName=DNS:${name}`,
    '-keyout', path.join(dir, `certs/${name}.key`), '-out', path.join(dir, `certs/${name}.pem`),
  ], { stdio: 'ignore' });
}

const CERTS_SCRIPT = `const { readFileSync } = require('node:fs');
const path = require('node:path');
module.exports = {
  configure(o, cx) {
    if (!Array.isArray(o.names)) cx.error('"names" must be a list');
    const pairs = new Map(o.names.map((n) => [n, { cert: readFileSync(path.join(cx.prefix, 'certs', n + '.pem'), 'utf8'), key: readFileSync(path.join(cx.prefix, 'certs', n + '.key')) }]));
    return { pairs };
  },
  run(c, o) {
    if (c.serverName === 'boom.test') throw new Error('boom');
    if (c.serverName === 'bad.test') return { cert: 'not a certificate', key: 'no key' };
    if (c.serverName === 'addr.test') return c.remoteAddress.endsWith('127.0.0.1') ? o.pairs.get('a.test') : undefined;
    if (c.serverName === 'hang.test') return new Promise(() => {});
    if (c.serverName === 'slow.b.test') return new Promise((r) => setTimeout(() => r(o.pairs.get('b.test')), 20));
    return o.pairs.get(c.serverName);
  },
};`;

/** The certificate's CN a TLS handshake with `servername` gets, or the handshake's error code. */
function handshake(port: number, servername?: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false }, () => {
      const cn = String(socket.getPeerCertificate().subject?.CN);
      socket.end();
      resolve(cn);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
  });
}

/** `openssl s_client -servername NAME`: the subject line it prints. */
function sClient(port: number, servername: string): Promise<string> {
  return new Promise((resolve) => {
    const child = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', servername], { timeout: 10_000 }, (_err, stdout, stderr) => {
      resolve(/subject=.*CN ?= ?([^\s,/]+)/.exec(stdout + stderr)?.[1] ?? `failed: ${/alert[^\n]*|unexpected eof[^\n]*/i.exec(stderr)?.[0] ?? stderr.split('\n')[0]}`);
    });
    child.stdin?.end();
  });
}

describe('ssl_certificate_by with two workers', () => {
  let gateway: GatewayProcess;
  let port: number;

  beforeAll(async () => {
    const prefix = makePrefix({ 'handlers/certs.js': CERTS_SCRIPT });
    for (const name of ['default.test', 'a.test', 'b.test']) makeCertificate(prefix, name);
    gateway = await startGateway(
      `worker_processes: 2
error_log: stderr info
pid: off
http:
  access_log: "off"
  servers:
    - listen: "127.0.0.1:0 ssl"
      client_header_timeout: 500ms
      ssl_certificate: certs/default.test.pem
      ssl_certificate_key: certs/default.test.key
      ssl_certificate_by: { script: certs, options: { names: [a.test, b.test] } }
      locations:
        - { location: /, return: "200 'ok $host'" }
`,
      { prefix },
    );
    port = gateway.ports[0];
  });

  afterAll(() => gateway?.stop());

  test("two names, two certificates from the script (Node's client)", async () => {
    expect(await handshake(port, 'a.test')).toBe('a.test');
    expect(await handshake(port, 'b.test')).toBe('b.test');
    expect(await handshake(port, 'A.TEST')).toBe('a.test');
  });

  test("the script reads the client's address", async () => {
    expect(await handshake(port, 'addr.test')).toBe('a.test');
  });

  test('the same with openssl s_client -servername', async () => {
    expect(await sClient(port, 'a.test')).toBe('a.test');
    expect(await sClient(port, 'b.test')).toBe('b.test');
  });

  test("a name the script answers nothing for, or no SNI: the server's ssl_certificate", async () => {
    expect(await handshake(port, 'other.test')).toBe('default.test');
    expect(await handshake(port)).toBe('default.test');
  });

  test('an async script', async () => {
    expect(await handshake(port, 'slow.b.test')).toBe('b.test');
  });

  test('a script that throws aborts the handshake: one error line with its name and first frame', async () => {
    expect(await handshake(port, 'boom.test')).toMatch(/^error /);
    expect(await sClient(port, 'boom.test')).toMatch(/^failed/);
    expect(await until(() => /\[error\] .*ssl_certificate_by script "certs" failed: Error: boom at .*handlers\/certs\.js:10:\d+\)? while SSL handshaking, client: 127\.0\.0\.1/.test(gateway.stderr()))).toBe(true);
  });

  test('a script that never settles: the handshake ends at client_header_timeout', async () => {
    const started = Date.now();
    expect(await handshake(port, 'hang.test')).toMatch(/^error /);
    // Bounded: 500 ms, with slack; never the 60 s default.
    expect(Date.now() - started).toBeLessThan(5000);
  });

  test('a pair that does not load aborts the handshake', async () => {
    expect(await handshake(port, 'bad.test')).toMatch(/^error /);
    expect(await until(() => gateway.stderr().includes('ssl_certificate_by script "certs" answered a key pair that does not load'))).toBe(true);
  });

  test("failed handshakes leave the workers' descriptors as they were; they still serve", async () => {
    const pids = workerPids(gateway.child.pid!);
    expect(pids).toHaveLength(2);
    const round = () => Promise.all(['boom.test', 'bad.test', 'a.test', 'other.test', 'slow.b.test', 'hang.test'].flatMap((n) => [handshake(port, n), handshake(port, n)]));
    await round();
    await until(() => false, 10);
    const before = fdTotal(pids);
    for (let i = 0; i < 3; i++) await round();
    expect(await until(() => fdTotal(pids) <= before, 150)).toBe(true);
    expect(workerPids(gateway.child.pid!)).toEqual(pids);
    expect(await handshake(port, 'a.test')).toBe('a.test');
  });
});

describe('ssl_certificate_by: bad input at gateway -t', () => {
  async function check(yaml: string, files: Record<string, string> = {}): Promise<string> {
    const prefix = makePrefix({ 'conf/t.yaml': yaml, ...files });
    makeCertificate(prefix, 'default.test');
    const r = await runCli(['-t', '-p', prefix, '-c', `${prefix}/conf/t.yaml`]);
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n').filter((l) => l.includes('t.yaml:'));
    expect(lines).toHaveLength(1);
    return lines[0].replaceAll(prefix, '');
  }
  const server = (value: string, where = '      ') =>
    `http:\n  servers:\n    - listen: "127.0.0.1:0 ssl"\n      ssl_certificate: certs/default.test.pem\n      ssl_certificate_key: certs/default.test.key\n${where}ssl_certificate_by: ${value}\n      locations:\n        - { location: /, return: 200 }\n`;

  test('an unknown script', async () => {
    expect(await check(server('nope'))).toMatch(/script "nope" not found .* in \/conf\/t\.yaml:6:27/);
  });
  test('options its configure refuses', async () => {
    expect(await check(server('{ script: certs, options: { names: 1 } }'), { 'handlers/certs.js': CERTS_SCRIPT })).toMatch(/"names" must be a list in \/conf\/t\.yaml:6:53/);
  });
  test('in a location', async () => {
    const yaml = `http:\n  servers:\n    - listen: 127.0.0.1:0\n      locations:\n        - location: /\n          ssl_certificate_by: certs\n          return: 200\n`;
    expect(await check(yaml)).toMatch(/"ssl_certificate_by" directive is not allowed here in \/conf\/t\.yaml:6:11/);
  });
});
