/**
 * nginx.conf read as nginx 1.22 reads it, the very same text given to both:
 * - arguments: one file with a location per tricky argument (quotes, escapes, `#`, `;`, `{`
 *   inside quotes, `${var}`, a comment between arguments, a quoted newline), each answered by
 *   `return 200 ARG`; both servers must send the same bytes;
 * - bad text: `nginx -t` and the gateway's reader must give the same reason, on the same line
 *   (the gateway also gives the column; for an end of file inside a word or block, nginx names
 *   the last line, the gateway where the unclosed thing began: only the reason is compared).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readOptionsOf } from '../../src/config/build';
import { parseNginxText } from '../../src/config/nginx/read';
import { ConfigError } from '../../src/errors';
import { REGISTRY } from '../../src/modules/registry';
import { startGateway, type GatewayProcess } from '../helpers/gateway-process';
import { exchange, requestBytes } from './client';
import { findNginx } from './pair';
import { freePort, waitForPort } from '../helpers/ports';

/** Arguments as written in nginx.conf, each the text of a `return 200` in its own location. */
const ARGUMENTS: readonly string[] = [
  '"a \\"b\\" c"',
  "'it\\'s'",
  "'say \"hi\"'",
  'a\\ b',
  '"tab\\there"',
  '"new\\nline\\r"',
  'x#y',
  '"x;y{z}#"',
  'a\\;b',
  '"back\\\\slash"',
  '"\\d+\\.x"',
  '${uri}x',
  '"$uri-${uri}"',
  '# a comment between the arguments\n      "after the comment"',
  '""',
  '"multi\nline"',
  '\'a"b\'',
  'pa(ren)',
  '"é ü 日本"',
];

const site = (port: number) =>
  [
    'worker_processes 1;',
    'error_log stderr error;',
    'pid nginx.pid;',
    'events { worker_connections 64; }',
    'http {',
    '  access_log off;',
    '  default_type text/plain;',
    '  server {',
    `    listen 127.0.0.1:${port};`,
    ...ARGUMENTS.map((arg, i) => `    location = /t${i} { return 200 ${arg}; }`),
    '  }',
    '}',
    '',
  ].join('\n');

/** The status and body of `GET uri`. */
const answer = async (port: number, uri: string) => {
  const reply = await exchange('127.0.0.1', port, requestBytes({ target: uri }), false);
  return `${reply.status} ${reply.body.toString('utf8')}`;
};

describe('arguments as nginx 1.22 reads them: the same nginx.conf, the same bytes', () => {
  const nginxBinary = findNginx();
  let prefix: string;
  let nginx: ChildProcess;
  let nginxPort: number;
  let gw: GatewayProcess;
  beforeAll(async () => {
    prefix = mkdtempSync(path.join(os.tmpdir(), 'gateway-parity-conf-'));
    mkdirSync(path.join(prefix, 'logs'));
    nginxPort = await freePort();
    writeFileSync(path.join(prefix, 'nginx.conf'), site(nginxPort));
    nginx = spawn(nginxBinary, ['-p', `${prefix}/`, '-c', path.join(prefix, 'nginx.conf'), '-e', 'stderr', '-g', 'daemon off; master_process off;'], { stdio: 'ignore' });
    await waitForPort(nginxPort, nginx);
    gw = await startGateway(site(0).replace('error_log stderr error;', 'error_log stderr notice;').replace('pid nginx.pid;', 'pid off;'), { confName: 'site.conf' });
  });
  afterAll(async () => {
    await gw?.stop();
    if (nginx && nginx.exitCode === null) {
      const gone = new Promise((resolve) => nginx.once('exit', resolve));
      process.kill(nginx.pid!, 'SIGTERM');
      await gone;
    }
    rmSync(prefix, { recursive: true, force: true });
  });

  test.each(ARGUMENTS.map((arg, i) => [i, arg] as const))('/t%i: return 200 %s', async (i) => {
    const fromNginx = await answer(nginxPort, `/t${i}`);
    expect(fromNginx).toMatch(/^200 /);
    expect(await answer(gw.ports[0], `/t${i}`)).toBe(fromNginx);
  });
});

describe('bad text: the reason and the line nginx 1.22 gives', () => {
  const nginxBinary = findNginx();
  let prefix: string;
  beforeAll(() => {
    prefix = mkdtempSync(path.join(os.tmpdir(), 'gateway-parity-conf-'));
    mkdirSync(path.join(prefix, 'logs'));
  });
  afterAll(() => rmSync(prefix, { recursive: true, force: true }));

  /** nginx's `[emerg]` reason and line for `text`. */
  function nginxSays(text: string): { reason: string; line: number } {
    const file = path.join(prefix, 'nginx.conf');
    writeFileSync(file, text);
    const run = spawnSync(nginxBinary, ['-t', '-p', `${prefix}/`, '-c', file, '-e', 'stderr'], { encoding: 'utf8' });
    const m = /\[emerg\] \d+#\d+: (.*) in \S+:(\d+)\n/.exec(run.stderr);
    if (!m) throw new Error(`nginx accepts it:\n${run.stderr}`);
    return { reason: m[1], line: Number(m[2]) };
  }

  function gatewaySays(text: string): { reason: string; line: number } {
    try {
      parseNginxText(text, path.join(prefix, 'nginx.conf'), undefined, readOptionsOf(REGISTRY));
    } catch (err) {
      if (err instanceof ConfigError) {
        const m = /^(.*) in \S+:(\d+):\d+$/.exec(err.message)!;
        return { reason: m[1], line: Number(m[2]) };
      }
      throw err;
    }
    throw new Error('the gateway reads it');
  }

  const E = 'events {}\n';
  test.each([
    [`${E}http {\n}\n}\n`, true],
    [`${E}http {\n  add_header X "a"b;\n}\n`, true],
    [`${E}http {\n  ;\n}\n`, true],
    [`${E}{\n}\n`, true],
    [`${E}http {\n  gzip on }\n`, true],
    [`${E}http {\n  server;\n}\n`, true],
    [`${E}http {\n  server {\n    location /a;\n  }\n}\n`, true],
    [`${E}http {\n  server {\n    location /a {\n      if ($a) {\n        location /b { }\n      }\n    }\n  }\n}\n`, true],
    [`${E}server {\n}\n`, true],
    [`${E}http {\n  server {\n    if $a { }\n  }\n}\n`, true],
    [`${E}http {\n  upstream a { server 127.0.0.1; }\n  upstream a { server 127.0.0.1; }\n}\n`, true],
    [`${E}http {\n  map $a $b {\n    default 1;\n    x { }\n  }\n}\n`, true],
    [`${E}http {\n  gzip on {\n  }\n}\n`, true],
    [`${E}http {\n  server {\n    ssl_certificate /live/{domain}/a.pem;\n  }\n}\n`, true],
    [`${E}http {\n  include ${'/nonexistent'}/a.conf;\n}\n`, false],
    [`${E}http {\n  server {\n`, false],
    [`${E}http {\n  add_header X "a\n`, false],
    [`${E}http {\n  gzip on`, false],
  ])('%j', (text, sameLine) => {
    const nginx = nginxSays(text);
    const gateway = gatewaySays(text);
    // nginx says "(2: No such file or directory)" where the gateway says "(ENOENT)".
    expect(gateway.reason).toBe(nginx.reason.replace('(2: No such file or directory)', '(ENOENT)'));
    if (sameLine) expect(gateway.line).toBe(nginx.line);
  });
});
