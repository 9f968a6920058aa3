/** `bin/gateway` as a user runs it: -t, -v, -h, -s, and refusing to start on a bad file. */
import { spawn, spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { makePrefix, ROOT, runCli } from './helpers/gateway-process';

test('-t on the seed configuration succeeds as nginx -t does', async () => {
  const { code, stderr } = await runCli(['-t', '-c', 'conf/site.yaml']);
  const file = path.join(ROOT, 'conf/site.yaml');
  expect(stderr).toBe(`gateway: the configuration file ${file} syntax is ok\ngateway: configuration file ${file} test is successful\n`);
  expect(code).toBe(0);
});

test.each(['conf/examples/hello.yaml', 'conf/examples/clock.yaml', 'conf/examples/chat.yaml'])('-t on %s succeeds', async (file) => {
  expect((await runCli(['-t', '-c', file])).code).toBe(0);
});

test('-T prints the configuration', async () => {
  const { code, stdout } = await runCli(['-T', '-c', 'conf/site.yaml']);
  expect(code).toBe(0);
  expect(stdout).toContain('so_keepalive=2s:2s:8');
});

test('-v and -h', async () => {
  const version = require('../package.json').version;
  expect((await runCli(['-v'])).stdout).toBe(`gateway version: gateway/${version}\n`);
  const help = await runCli(['-h']);
  expect(help.code).toBe(0);
  for (const flag of ['-c, --conf', '-p, --prefix', '-t, --test', '-s, --signal']) expect(help.stdout).toContain(flag);
});

describe('a configuration that does not check: one line, exit 1, nothing started', () => {
  let prefix: string;
  beforeAll(() => (prefix = makePrefix()));
  afterAll(() => rmSync(prefix, { recursive: true, force: true }));
  test.each([
    ['malformed YAML', 'http:\n  servers: [\n', /^gateway: \[emerg\] invalid YAML: .* in .*bad\.yaml:\d+:\d+$/],
    ['an unknown directive', 'http:\n  gzipp: on\n', /^gateway: \[emerg\] unknown directive "gzipp" in .*bad\.yaml:2:3$/],
    ['a wrong type', 'http:\n  gzip_min_length: { a: 1 }\n', /^gateway: \[emerg\] a map is not allowed here in .*bad\.yaml:2:20$/],
    ['a bad listen', 'http:\n  servers:\n    - listen: "80 so_keepalive=x"\n', /^gateway: \[emerg\] invalid so_keepalive value "x" in .*bad\.yaml:3:15$/],
    ['a bad regex', 'http:\n  servers:\n    - locations:\n        - location: "~ [a-"\n', /^gateway: \[emerg\] invalid regex "\[a-": .* in .*bad\.yaml:4:21$/],
    ['a missing handler module', 'http:\n  servers:\n    - locations:\n        - { location: /, handler: ./nowhere.ts }\n', /^gateway: \[emerg\] handler "\.\/nowhere\.ts" not found .* in .*bad\.yaml:4:35$/],
    ['a missing script', 'http:\n  servers:\n    - locations:\n        - { location: /, handler: websocket-script, script: ghost }\n', /^gateway: \[emerg\] .*"ghost".* in .*bad\.yaml:4:\d+$/],
  ])('%s', async (_name, yaml, line) => {
    const file = path.join(prefix, 'bad.yaml');
    writeFileSync(file, yaml);
    for (const args of [['-t'], []]) {
      const { code, stderr } = await runCli([...args, '-p', prefix, '-c', file]);
      expect(code).toBe(1);
      const lines = stderr.trimEnd().split('\n');
      expect(lines[0]).toMatch(line);
      expect(lines.length).toBe(args.length ? 2 : 1);
      if (args.length) expect(lines[1]).toBe(`gateway: configuration file ${file} test failed`);
    }
  });
});

test('-s with no running master says so and exits 1', async () => {
  const prefix = makePrefix({ 'conf/site.yaml': 'pid: logs/gw.pid\n' });
  const result = await runCli(['-p', prefix, '-c', 'conf/site.yaml', '-s', 'reload']);
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(/^gateway: \[error\] open\(\) ".*logs\/gw\.pid" failed \(ENOENT\)\n$/);
  rmSync(prefix, { recursive: true, force: true });
});

test('-s with a stale pid file, or one naming a process that is not a gateway: a clear message, exit 1, no signal sent', async () => {
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
