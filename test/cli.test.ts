/** `bin/gateway` as a user runs it: -t, -v, -h, -s, and refusing to start on a bad file. */
import { spawn, spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GATEWAY_BIN, makePrefix, ROOT, runCli, startGateway } from './helpers/gateway-process';
import { request } from './helpers/http-client';

test.concurrent('-t on the seed configuration succeeds as nginx -t does', async () => {
  const { code, stderr } = await runCli(['-t', '-c', 'conf/site.yaml']);
  const file = path.join(ROOT, 'conf/site.yaml');
  expect(stderr).toBe(`gateway: the configuration file ${file} syntax is ok\ngateway: configuration file ${file} test is successful\n`);
  expect(code).toBe(0);
});

test.concurrent.each(['conf/examples/hello.yaml', 'conf/examples/clock.yaml', 'conf/examples/chat.yaml'])('-t on %s succeeds', async (file) => {
  expect((await runCli(['-t', '-c', file])).code).toBe(0);
});

test.concurrent('-T prints the configuration, every file read, as nginx -T', async () => {
  const { code, stdout } = await runCli(['-T', '-c', 'conf/site.yaml']);
  expect(code).toBe(0);
  expect(stdout).toContain('so_keepalive=2s:2s:8');
  const prefix = makePrefix({ 'conf/site.yaml': 'http:\n  include: gzip.yaml\n', 'conf/gzip.yaml': 'gzip: on\n' });
  try {
    const both = await runCli(['-T', '-p', prefix, '-c', 'conf/site.yaml']);
    expect(both.stdout).toBe(`# configuration file ${prefix}/conf/site.yaml:\nhttp:\n  include: gzip.yaml\n\n# configuration file ${prefix}/conf/gzip.yaml:\ngzip: on\n\n`);
  } finally {
    rmSync(prefix, { recursive: true, force: true });
  }
});

test("-T then prints each location's phase handlers in the order they run, its content handler, filters and logs", async () => {
  const site = `http:
  access_log: logs/access.log
  gzip: on
  add_header: X-A a
  servers:
    - server_name: example.org
      try_files: $uri =404
      locations:
        - { location: /closed, deny: all, try_files: $uri @app, expires: 1h }
        - { location: /gone, return: "410", allow: 127.0.0.1, satisfy: any, auth_request: /auth, auth_basic: Members, auth_basic_user_file: htpasswd }
        - { location: /app, proxy_pass: "http://127.0.0.1:9", access_log: "off" }
`;
  const prefix = makePrefix({ 'conf/site.yaml': site, 'conf/htpasswd': 'alice:{PLAIN}secret\n' });
  try {
    const { code, stdout } = await runCli(['-T', '-p', prefix, '-c', 'conf/site.yaml']);
    expect(code).toBe(0);
    const file = `${prefix}/conf/site.yaml`;
    expect(stdout.slice(stdout.indexOf('# server '))).toBe(
      [
        `# server example.org (${file}:6)`,
        `#   location /closed (${file}:9)`,
        '#     satisfy: all',
        '#     access: allow/deny',
        '#     precontent: try_files $uri @app',
        '#     content: static',
        '#     filter: charset (an upstream\'s X-Accel-Charset)',
        '#     filter: expires, add_header',
        '#     filter: gzip',
        '#     filter: limit_rate (an upstream\'s X-Accel-Limit-Rate)',
        `#     log: access_log ${prefix}/logs/access.log`,
        `#   location /gone (${file}:10)`,
        '#     satisfy: any',
        '#     rewrite: return 410',
        '#     access: satisfy any: allow/deny, auth_basic "Members", auth_request /auth',
        '#     content: static',
        '#     filter: charset (an upstream\'s X-Accel-Charset)',
        '#     filter: expires, add_header',
        '#     filter: gzip',
        '#     filter: limit_rate (an upstream\'s X-Accel-Limit-Rate)',
        `#     log: access_log ${prefix}/logs/access.log`,
        `#   location /app (${file}:11)`,
        '#     content: proxy',
        '#     filter: charset (an upstream\'s X-Accel-Charset)',
        '#     filter: expires, add_header',
        '#     filter: gzip',
        '#     filter: limit_rate (an upstream\'s X-Accel-Limit-Rate)',
        `#   location (the server's own) (${file}:6)`,
        '#     precontent: try_files $uri =404',
        '#     content: static',
        '#     filter: charset (an upstream\'s X-Accel-Charset)',
        '#     filter: expires, add_header',
        '#     filter: gzip',
        '#     filter: limit_rate (an upstream\'s X-Accel-Limit-Rate)',
        `#     log: access_log ${prefix}/logs/access.log`,
        '',
      ].join('\n'),
    );
  } finally {
    rmSync(prefix, { recursive: true, force: true });
  }
});

describe('white space nginx does not separate arguments by: -t answers at once, in one line', () => {
  let prefix: string;
  beforeAll(() => (prefix = makePrefix()));
  afterAll(() => rmSync(prefix, { recursive: true, force: true }));
  // Each of these made the argument splitter loop until V8 died (some 2 GB and 18 s later).
  test.each(['\u00a0', '\ufeff', '\u2028', '\u3000', '\v', '\f'])('%j', (c) => {
    const file = path.join(prefix, 'ws.yaml');
    writeFileSync(file, `http:\n  servers:\n    - listen: "127.0.0.1:8080${c}"\n`);
    const result = spawnSync(process.execPath, [GATEWAY_BIN, '-t', '-p', prefix, '-c', file], { timeout: 10_000, encoding: 'utf8' });
    expect(result.signal).toBeNull();
    expect(result.status).toBe(1);
    const shown = `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
    expect(result.stderr).toBe(`gateway: [emerg] invalid port in "127.0.0.1:8080${shown}" in ${file}:3:15\ngateway: configuration file ${file} test failed\n`);
  });
});

test.concurrent('-s reads the file under the check timeout: a check that never ends is one line, not a hang', async () => {
  const prefix = makePrefix({
    'conf/site.yaml': 'pid: logs/gw.pid\nhttp:\n  servers:\n    - locations:\n        - { location: /, handler: stuck }\n',
    'handlers/stuck.ts': 'export default { configure() { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 600000); return {}; }, create() { return {}; } };\n',
  });
  try {
    const started = Date.now();
    const result = await runCli(['-p', prefix, '-c', 'conf/site.yaml', '-s', 'reload'], ROOT, { GATEWAY_CHECK_TIMEOUT_MS: '1000' });
    expect(result).toMatchObject({ code: 1, stderr: 'gateway: [emerg] the configuration check did not finish within 1000 ms\n' });
    expect(Date.now() - started).toBeLessThan(15_000);
  } finally {
    rmSync(prefix, { recursive: true, force: true });
  }
});

test.concurrent('-v and -h', async () => {
  const version = require('../package.json').version;
  expect((await runCli(['-v'])).stdout).toBe(`gateway version: gateway/${version}\n`);
  const help = await runCli(['-h']);
  expect(help.code).toBe(0);
  for (const flag of ['-c, --conf', '-p, --prefix', '-t, --test', '-s, --signal']) expect(help.stdout).toContain(flag);
});

describe('a configuration that does not check: one line, exit 1, nothing started', () => {
  test.concurrent.each([
    ['malformed YAML', 'http:\n  servers: [\n', /^gateway: \[emerg\] invalid YAML: .* in .*bad\.yaml:\d+:\d+$/],
    ['an unknown directive', 'http:\n  gzipp: on\n', /^gateway: \[emerg\] unknown directive "gzipp" in .*bad\.yaml:2:3$/],
    ['a wrong type', 'http:\n  gzip_min_length: { a: 1 }\n', /^gateway: \[emerg\] a map is not allowed here in .*bad\.yaml:2:20$/],
    ['a bad listen', 'http:\n  servers:\n    - listen: "80 so_keepalive=x"\n', /^gateway: \[emerg\] invalid so_keepalive value "x" in .*bad\.yaml:3:15$/],
    ['a bad regex', 'http:\n  servers:\n    - locations:\n        - location: "~ [a-"\n', /^gateway: \[emerg\] invalid regex "\[a-": .* in .*bad\.yaml:4:21$/],
    ['a missing handler module', 'http:\n  servers:\n    - locations:\n        - { location: /, handler: ./nowhere.ts }\n', /^gateway: \[emerg\] handler "\.\/nowhere\.ts" not found .* in .*bad\.yaml:4:35$/],
    ['a missing script', 'http:\n  servers:\n    - locations:\n        - { location: /, handler: websocket-script, script: ghost }\n', /^gateway: \[emerg\] .*"ghost".* in .*bad\.yaml:4:\d+$/],
  ])('%s', async (_name, yaml, line) => {
    // A prefix of its own: the cases run at the same time.
    const prefix = makePrefix({ 'bad.yaml': yaml });
    const file = path.join(prefix, 'bad.yaml');
    try {
      for (const args of [['-t'], []]) {
        const { code, stderr } = await runCli([...args, '-p', prefix, '-c', file]);
        expect(code).toBe(1);
        const lines = stderr.trimEnd().split('\n');
        expect(lines[0]).toMatch(line);
        expect(lines.length).toBe(args.length ? 2 : 1);
        if (args.length) expect(lines[1]).toBe(`gateway: configuration file ${file} test failed`);
      }
    } finally {
      rmSync(prefix, { recursive: true, force: true });
    }
  });
});

test.concurrent('-s with no running master says so and exits 1', async () => {
  const prefix = makePrefix({ 'conf/site.yaml': 'pid: logs/gw.pid\n' });
  const result = await runCli(['-p', prefix, '-c', 'conf/site.yaml', '-s', 'reload']);
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(/^gateway: \[error\] open\(\) ".*logs\/gw\.pid" failed \(ENOENT\)\n$/);
  rmSync(prefix, { recursive: true, force: true });
});

test.concurrent('-s with a stale pid file, or one naming a process that is not a gateway: a clear message, exit 1, no signal sent', async () => {
  const prefix = makePrefix({ 'conf/site.yaml': 'pid: logs/gw.pid\n', 'logs/.keep': '' });
  const pidFile = path.join(prefix, 'logs/gw.pid');
  try {
    const gone = spawnSync('true').pid;
    writeFileSync(pidFile, `${gone}\n`);
    const stale = await runCli(['-p', prefix, '-c', 'conf/site.yaml', '-s', 'stop']);
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/^gateway: \[error\] no process \d+ \(from ".*gw\.pid"\): the gateway is not running, or the pid file is stale\n$/);
    const sleeper = spawn('sleep', ['30']);
    writeFileSync(pidFile, `${sleeper.pid}\n`);
    const other = await runCli(['-p', prefix, '-c', 'conf/site.yaml', '-s', 'stop']);
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(/is not a gateway master: "sleep 30"/);
    expect(sleeper.exitCode).toBeNull();
    sleeper.kill();
    writeFileSync(pidFile, 'garbage\n');
    expect((await runCli(['-p', prefix, '-c', 'conf/site.yaml', '-s', 'stop'])).stderr).toMatch(/invalid PID number/);
  } finally {
    rmSync(prefix, { recursive: true, force: true });
  }
});

test('a second gateway on a port in use: nginx\'s bind() line and exit 1 at once, the first one serving on', async () => {
  const first = await startGateway('error_log: stderr notice\nhttp:\n  servers:\n    - listen: 127.0.0.1:0\n      locations:\n        - { location: /, return: "200 first" }\n');
  const port = first.ports[0];
  const prefix = makePrefix({ 'conf/test.yaml': `http:\n  servers:\n    - listen: 127.0.0.1:${port}\n` });
  try {
    const started = Date.now();
    const second = await runCli(['-p', prefix, '-c', 'conf/test.yaml']);
    // Without the worker's own exit its master waited for it until the start timeout (60 s).
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`[emerg] bind() to 127.0.0.1:${port} failed (EADDRINUSE`);
    expect((await request(port, '/')).body.toString()).toBe('first');
  } finally {
    rmSync(prefix, { recursive: true, force: true });
    await first.stop();
  }
}, 30_000);
