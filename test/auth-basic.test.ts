/**
 * auth_basic with the gateway as a process: two workers see a password file change within a
 * second and a half (each stats it at most once a second), a file deleted while running is
 * nginx's 403 with its `open() ... failed` line on every worker and never a way in, and back
 * when it comes back; nginx's log lines and `$remote_user` in the access log; a bcrypt check
 * does not hold other requests of the worker back; `gateway -t` refuses a missing or malformed
 * file in one line; and the handler's answers under the access-phase contract `satisfy` uses
 * ('ok' when it lets in, nothing when off, 401 when not).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { buildConfig } from '../src/config/build';
import { parseText } from '../src/config/load';
import { HttpError } from '../src/errors';
import { authBasicPhase } from '../src/modules/auth-basic/auth-phase';
import { REGISTRY } from '../src/modules/registry';
import type { CompileEnv, RequestContext } from '../src/types';
import { makePrefix, runCli, startGateway, type GatewayProcess } from './helpers/gateway-process';
import { request, type TestResponse } from './helpers/http-client';
import { hashOf } from './helpers/password-hashes';
import { fdTotal, workerPids } from './helpers/push-clients';

const basic = (credentials: string) => ({ Authorization: `Basic ${Buffer.from(credentials).toString('base64')}` });

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - start;
}

const SITE = (workers: string) => `
${workers}
error_log: stderr info
pid: "off"
http:
  access_log: logs/access.log
  servers:
    - listen: "127.0.0.1:0"
      root: www
      add_header: X-Pid $pid always
      auth_basic: Members
      auth_basic_user_file: users
      locations:
        - location: /
        - location: /open/
          auth_basic: "off"
        - location: /inject/
          auth_basic: $uri
        - location: /ws
          handler: websocket-script
          script: echo
`;

/** The head of the answer to a WebSocket upgrade sent on a raw socket. */
function upgradeHead(port: number, extra: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () =>
      socket.write(`GET /ws HTTP/1.1\r\nHost: x\r\n${extra}Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`),
    );
    let data = '';
    socket.on('data', (d) => {
      data += d.toString('latin1');
      if (data.includes('\r\n\r\n')) {
        socket.destroy();
        resolve(data.slice(0, data.indexOf('\r\n\r\n')));
      }
    });
    socket.on('error', reject);
  });
}

describe('two workers, the password file changed and deleted while running', () => {
  let gw: GatewayProcess;
  let usersFile: string;
  beforeAll(async () => {
    gw = await startGateway(SITE('worker_processes: 2'), {
      files: { 'conf/users': 'alice:{PLAIN}one\n', 'www/a.txt': 'a\n', 'www/open/a.txt': 'open\n', 'logs/.keep': '' },
    });
    usersFile = path.join(gw.prefix, 'conf/users');
  });
  afterAll(() => gw.stop());

  /** Sends `credentials` until both workers answered `status`; returns how long it took. */
  const bothWorkersAnswer = (credentials: string, status: number, ms = 5000) => {
    const seen = new Set<string>();
    return until(async () => {
      const res = await request(gw.ports[0], '/a.txt', { headers: basic(credentials) });
      if (res.status === status) seen.add(String(res.headers['x-pid']));
      else seen.clear();
      return seen.size === 2;
    }, `both workers to answer ${status} for ${credentials}`, ms);
  };

  let baseline = 0;
  test('a changed password is taken within about a second on every worker; the old one is refused', async () => {
    await bothWorkersAnswer('alice:one', 200);
    await new Promise((r) => setTimeout(r, 200));
    baseline = fdTotal(workerPids(gw.child.pid!));
    writeFileSync(usersFile, 'alice:{PLAIN}two\nbob:{PLAIN}b\n');
    const took = await bothWorkersAnswer('alice:two', 200, 3000);
    expect(took).toBeLessThan(3000);
    await bothWorkersAnswer('alice:one', 401, 1000);
    await bothWorkersAnswer('bob:b', 200, 1000);
  });

  test('a file replaced by rename (as editors and htpasswd do) is read again', async () => {
    const next = `${usersFile}.new`;
    writeFileSync(next, 'alice:{PLAIN}three\n');
    renameSync(next, usersFile);
    await bothWorkersAnswer('alice:three', 200, 3000);
    await bothWorkersAnswer('bob:b', 401, 1000);
  });

  test('a deleted file: 403 and nginx\'s line on every worker, never the old users; back when it is back', async () => {
    rmSync(usersFile);
    await bothWorkersAnswer('alice:three', 403, 3000);
    for (let i = 0; i < 10; i++) expect((await request(gw.ports[0], '/a.txt', { headers: basic('alice:three') })).status).toBe(403);
    expect((await request(gw.ports[0], '/open/a.txt')).status).toBe(200);
    await until(() => gw.stderr().includes(`[error]`) && gw.stderr().includes(`open() "${usersFile}" failed (2: No such file or directory), client: 127.0.0.1, server: , request: "GET /a.txt HTTP/1.1", host: "127.0.0.1:${gw.ports[0]}"`), 'the error line');
    writeFileSync(usersFile, 'alice:{PLAIN}four\n');
    await bothWorkersAnswer('alice:four', 200, 3000);
  });

  test('a WebSocket upgrade: 401 with WWW-Authenticate on the socket, no handshake; 101 with the password', async () => {
    writeFileSync(usersFile, 'alice:{PLAIN}ws\n');
    await bothWorkersAnswer('alice:ws', 200, 3000);
    const refused = await upgradeHead(gw.ports[0], '');
    expect(refused).toMatch(/^HTTP\/1\.1 401 Unauthorized\r\n/);
    expect(refused).toContain('\r\nWWW-Authenticate: Basic realm="Members"');
    expect(refused).not.toContain('Sec-WebSocket-Accept');
    expect(await upgradeHead(gw.ports[0], `Authorization: Basic ${Buffer.from('alice:ws').toString('base64')}\r\n`)).toMatch(/^HTTP\/1\.1 101 /);
  });

  test('a realm from the URI cannot inject a header (nginx 1.22 writes CR LF as they are)', async () => {
    const res = await request(gw.ports[0], '/inject/a%0D%0ASet-Cookie:%20pwned=1');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toBe('Basic realm="/inject/aSet-Cookie: pwned=1"');
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  test('nginx\'s log lines, and $remote_user in the access log for a 200 and a 401', async () => {
    writeFileSync(usersFile, 'alice:{PLAIN}five\n');
    await bothWorkersAnswer('alice:five', 200, 3000);
    await request(gw.ports[0], '/a.txt', { headers: basic('alice:wrong') });
    await request(gw.ports[0], '/a.txt', { headers: basic('mallory:x') });
    await request(gw.ports[0], '/a.txt');
    await request(gw.ports[0], '/a.txt', { headers: { Authorization: `Basic ${Buffer.from('ev\n2026/01/01 [error] forged "\xe9:x', 'latin1').toString('base64')}` } });
    const suffix = `, client: 127.0.0.1, server: , request: "GET /a.txt HTTP/1.1", host: "127.0.0.1:${gw.ports[0]}"`;
    // A user name cannot forge a log line: nginx writes it raw, the gateway escapes it.
    await until(() => gw.stderr().includes(`user "ev\\x0A2026/01/01 [error] forged \\x22\\xE9" was not found in "${usersFile}"${suffix}`), 'the escaped user');
    expect(gw.stderr()).not.toMatch(/^2026\/01\/01 \[error\] forged/m);
    await until(() => gw.stderr().includes(`[error] `) && gw.stderr().includes(`user "alice": password mismatch${suffix}`), 'the mismatch line');
    await until(() => gw.stderr().includes(`user "mallory" was not found in "${usersFile}"${suffix}`), 'the unknown user line');
    await until(() => /\[info\] [^\n]*no user\/password was provided for basic authentication, client: 127\.0\.0\.1/.test(gw.stderr()), 'the info line');
    const log = () => {
      try {
        return readFileSync(path.join(gw.prefix, 'logs/access.log'), 'utf8');
      } catch {
        return '';
      }
    };
    await until(() => /127\.0\.0\.1 - alice \[[^\]]+\] "GET \/a\.txt HTTP\/1\.1" 200 /.test(log()), 'alice on a 200');
    await until(() => /127\.0\.0\.1 - alice \[[^\]]+\] "GET \/a\.txt HTTP\/1\.1" 401 /.test(log()), 'alice on a 401');
    await until(() => /127\.0\.0\.1 - mallory \[[^\]]+\] "GET \/a\.txt HTTP\/1\.1" 401 /.test(log()), 'mallory on a 401');
    await until(() => /127\.0\.0\.1 - - \[[^\]]+\] "GET \/a\.txt HTTP\/1\.1" 401 /.test(log()), '"-" without credentials');
    await until(() => log().includes('127.0.0.1 - ev\\x0A2026/01/01 [error] forged \\x22'), 'the escaped user in the access log');
  });

  test('the workers\' descriptors are back to where they were (files read, changed, deleted, read again)', async () => {
    await until(() => fdTotal(workerPids(gw.child.pid!)) <= baseline, `descriptors back to ${baseline}`);
  });
});

test('a bcrypt check runs off the event loop: a request that comes after it is answered first', async () => {
  // Cost 14: about a second of hashing, on libuv's pool (htpasswd takes as long to make it).
  const costly = spawnSync('htpasswd', ['-n', '-b', '-B', '-C', '14', 'u', 'pw']).stdout.toString().trim().slice(2);
  expect(costly).toMatch(/^\$2y\$14\$/);
  const gw = await startGateway(SITE('master_process: "off"'), {
    files: { 'conf/users': `slow:${costly}\n`, 'www/a.txt': 'a\n', 'www/open/a.txt': 'open\n', 'logs/.keep': '' },
  });
  try {
    const order: string[] = [];
    const authed = request(gw.ports[0], '/a.txt', { headers: basic('slow:pw') }).then((r: TestResponse) => (order.push('bcrypt'), r));
    await new Promise((r) => setTimeout(r, 100));
    const open = await request(gw.ports[0], '/open/a.txt');
    order.push('open');
    expect(open.status).toBe(200);
    expect((await authed).status).toBe(200);
    expect(order).toEqual(['open', 'bcrypt']);
  } finally {
    await gw.stop();
  }
});

describe('gateway -t', () => {
  const check = async (users: string | null) => {
    const files: Record<string, string> = { 'conf/site.yaml': SITE('worker_processes: 1') };
    if (users !== null) files['conf/users'] = users;
    const prefix = makePrefix(files);
    try {
      return await runCli(['-t', '-p', prefix, '-c', 'conf/site.yaml']);
    } finally {
      rmSync(prefix, { recursive: true, force: true });
    }
  };

  test('a sound file checks', async () => {
    expect((await check(`a:${hashOf('sha512', 'x')}\n`)).code).toBe(0);
  });

  test.each([
    [null, /^gateway: \[emerg\] open\(\) "[^"]+\/conf\/users" failed \(2: No such file or directory\) in [^\n]+\/conf\/site\.yaml:12:29\n/],
    ['alice:{PLAIN}a\nbob\n', /^gateway: \[emerg\] malformed password file "[^"]+\/conf\/users": line 2 is not "user:password" in [^\n]+\/conf\/site\.yaml:12:29\n/],
    ['alice:{X}a\n', /^gateway: \[emerg\] malformed password file "[^"]+\/conf\/users": line 1 has a password hash in no format nginx or crypt\(3\) reads in [^\n]+site\.yaml:12:29\n/],
  ])('%s: one line at file:line:column, exit 1', async (users, line) => {
    const out = await check(users);
    expect(out.code).toBe(1);
    expect(out.stderr).toMatch(line);
    expect(out.stderr.trim().split('\n')).toHaveLength(2);
  });
});

describe('the access-phase contract (satisfy)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'auth-basic-contract-'));
    writeFileSync(path.join(dir, 'users'), 'alice:{PLAIN}pw\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const handlerOf = (location: string) => {
    const file = path.join(dir, 'site.yaml');
    const yaml = `
http:
  servers:
    - listen: 127.0.0.1:0
      auth_basic: Realm
      auth_basic_user_file: users
      locations:
        - location: /on/
        - location: /off/
          auth_basic: "off"
        - location: /var-off/
          auth_basic: $arg_realm
`;
    const conf = buildConfig(parseText(yaml, file), file, dir, REGISTRY);
    const loc = conf.http.servers[0].locations.find((l) => l.name === location)!;
    return authBasicPhase.phases!(loc, {} as CompileEnv);
  };
  const lines: string[] = [];
  const ctx = (args = '') =>
    ({
      remoteAddress: '127.0.0.1',
      server: { primaryName: '' },
      log: { debug() {}, info: (m: string) => lines.push(m), notice() {}, warn() {}, error: (m: string) => lines.push(m), crit: (m: string) => lines.push(m) },
      evaluate: (t: (s: unknown) => string) => t({ args, req: { headers: {} } }),
    }) as unknown as RequestContext;
  const req = (headers: Record<string, string> = {}) =>
    ({ headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])), method: 'GET', url: '/on/x', httpVersion: '1.1' }) as unknown as IncomingMessage;

  test('"ok" for a user let in; a 401 with the realm otherwise', async () => {
    const [handler] = handlerOf('/on/');
    expect(handler.phase).toBe('access');
    expect(await handler.run!(req(basic('alice:pw')), null, ctx())).toBe('ok');
    let thrown: unknown;
    try {
      await handler.run!(req(basic('alice:no')), null, ctx());
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(HttpError);
    expect((thrown as HttpError).status).toBe(401);
    expect((thrown as HttpError).headers).toEqual({ 'WWW-Authenticate': 'Basic realm="Realm"' });
  });

  test('nothing to say where it is off: no handler at all for a constant off, undefined for a realm that evaluates to off', async () => {
    expect(handlerOf('/off/')).toEqual([]);
    const [handler] = handlerOf('/var-off/');
    expect(await handler.run!(req(), null, ctx('realm=off'))).toBeUndefined();
  });
});
