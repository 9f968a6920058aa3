/**
 * The http-core directives that act (issue 14, item 4), seen from outside: `tcp_nodelay` on the
 * accepted socket (read back with getsockopt, in process), `log_not_found` in the error log of a
 * gateway process, and the syntax, contexts and checks of every tuning directive as nginx words
 * its refusals.
 */
import { once } from 'node:events';
import { readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { loadConfig } from '../src/config/build';
import { REGISTRY } from '../src/modules/registry';
import { Gateway } from '../src/server/gateway';
import { readNoDelay } from '../src/server/socket-options';
import { createErrorLog, LogFiles } from '../src/shared/log';
import { makePrefix, startGateway } from './helpers/gateway-process';
import { request } from './helpers/http-client';
import { buildVirtual, configErrorOf } from './helpers/virtual-config';

describe('tcp_nodelay on the accepted socket', () => {
  const yaml = [
    'error_log: stderr crit',
    'http:',
    '  servers:',
    '    - listen: "127.0.0.1:0"',
    '      locations:',
    '        - { location: /nagle, tcp_nodelay: "off", return: "200 nagle" }',
    '        - { location: /, return: "200 default" }',
  ].join('\n');
  let prefix: string;
  let gateway: Gateway;
  let files: LogFiles;

  beforeAll(async () => {
    prefix = makePrefix({ 'conf/site.yaml': yaml });
    files = new LogFiles();
    gateway = new Gateway(loadConfig({ file: path.join(prefix, 'conf/site.yaml'), prefix, registry: REGISTRY }), createErrorLog({ path: 'stderr', level: 'crit' }, files), files);
    await gateway.start();
  });
  afterAll(async () => {
    await gateway.close();
    await files.close();
    rmSync(prefix, { recursive: true, force: true });
  });

  /** Sends one keep-alive request on `client` and waits for its whole answer. */
  async function ask(client: net.Socket, target: string, body: string): Promise<void> {
    client.write(`GET ${target} HTTP/1.1\r\nHost: t\r\n\r\n`);
    let got = '';
    while (!got.endsWith(body)) got += (await once(client, 'data'))[0].toString();
  }

  test('follows the location of each request on a kept-alive connection', async () => {
    const client = net.connect(gateway.addresses()[0].port, '127.0.0.1');
    await once(client, 'connect');
    const serverSide = () => [...(gateway as unknown as { sockets: Set<net.Socket> }).sockets][0];
    try {
      await ask(client, '/', 'default');
      expect(readNoDelay(serverSide())).toBe(true);
      await ask(client, '/nagle', 'nagle');
      expect(readNoDelay(serverSide())).toBe(false);
      await ask(client, '/', 'default');
      expect(readNoDelay(serverSide())).toBe(true);
    } finally {
      client.destroy();
    }
  });
});

describe('log_not_found', () => {
  test('a file not found is logged unless log_not_found is off', async () => {
    const yaml = [
      'error_log: stderr notice',
      'pid: "off"',
      'master_process: "off"',
      'http:',
      '  servers:',
      '    - listen: "127.0.0.1:0"',
      '      root: www',
      '      locations:',
      '        - { location: /quiet/, log_not_found: "off" }',
      '        - { location: /, log_not_found: "on" }',
    ].join('\n');
    const gw = await startGateway(yaml, { files: { 'www/x': 'x' } });
    try {
      expect((await request(gw.ports[0], '/quiet/nothing.html')).status).toBe(404);
      expect((await request(gw.ports[0], '/loud-nothing.html')).status).toBe(404);
      const deadline = Date.now() + 5000;
      while (!gw.stderr().includes('loud-nothing.html') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(gw.stderr()).toMatch(/\[error\] .*open\(\) ".*\/www\/loud-nothing\.html" failed \(2: No such file or directory\)/);
      expect(gw.stderr()).not.toContain('quiet/nothing.html');
    } finally {
      await gw.stop();
    }
  });
});

describe('the tuning directives: nginx syntax, contexts and checks', () => {
  const main = (line: string) => `${line}\n`;
  const http = (line: string) => `http:\n  ${line}\n`;
  const server = (line: string) => `http:\n  servers:\n    - ${line}\n`;
  const location = (line: string) => `http:\n  servers:\n    - locations:\n        - { location: /, ${line} }\n`;

  test('the configurations real files carry are accepted', () => {
    const yaml = [
      'daemon: "off"',
      'timer_resolution: 100ms',
      'worker_cpu_affinity: auto',
      'worker_priority: -5',
      'pcre_jit: "on"',
      'thread_pool: "default threads=32 max_queue=65536"',
      'load_module: modules/ngx_http_lua_module.so',
      'worker_rlimit_core: 500m',
      'env: [TZ, "A=b"]',
      'events:',
      '  use: epoll',
      '  multi_accept: "on"',
      '  accept_mutex: "off"',
      '  accept_mutex_delay: 100ms',
      'http:',
      '  sendfile: "on"',
      '  tcp_nopush: "on"',
      '  tcp_nodelay: "on"',
      '  types_hash_max_size: 2048',
      '  server_names_hash_bucket_size: 64',
      '  variables_hash_max_size: 2048',
      '  client_header_buffer_size: 1k',
      '  large_client_header_buffers: "4 16k"',
      '  output_buffers: "1 32k"',
      '  postpone_output: 1460',
      '  aio: threads',
      '  directio: 4m',
      '  keepalive_disable: msie6',
      '  reset_timedout_connection: "on"',
      '  open_log_file_cache: "max=1000 inactive=20s valid=1m min_uses=2"',
      '  server_tokens: "off"',
      '  proxy_buffers: "16 32k"',
      '  proxy_buffer_size: 16k',
      '  proxy_temp_path: /tmp/proxy 1 2',
      '  fastcgi_temp_path: /tmp/fastcgi 1 2',
      '  uwsgi_temp_path: /tmp/uwsgi',
      '  scgi_temp_path: /tmp/scgi',
      '  gzip_buffers: "16 8k"',
      '  charset: utf-8',
      '  servers:',
      '    - merge_slashes: "off"',
      '      underscores_in_headers: "on"',
      '      locations:',
      '        - { location: /, absolute_redirect: "off", port_in_redirect: "off", server_name_in_redirect: "on", log_not_found: "off", msie_padding: "off", chunked_transfer_encoding: "off" }',
    ].join('\n');
    expect(() => buildVirtual(yaml)).not.toThrow();
  });

  test.each([
    [main('worker_priority: x'), '"worker_priority" directive invalid number in /virtual/site.yaml:1:18'],
    [main('worker_rlimit_nofile: many'), '"worker_rlimit_nofile" directive invalid number in /virtual/site.yaml:1:23'],
    [main('worker_cpu_affinity: "0102"'), 'invalid character "2" in "worker_cpu_affinity" in /virtual/site.yaml:1:22'],
    [main('thread_pool: p'), 'invalid number of arguments in "thread_pool" directive in /virtual/site.yaml:1:14'],
    [main('thread_pool: "p threads=x"'), 'invalid threads value "threads=x" in /virtual/site.yaml:1:14'],
    [main('load_module: modules/ngx_http_geoip_module.so'), 'module "ngx_http_geoip_module" of "load_module" is not supported yet (built in: ndk_http_module, ngx_http_lua_module, ngx_nchan_module) in /virtual/site.yaml:1:14'],
    [main('daemon: maybe'), 'invalid value "maybe", it must be "on" or "off" in /virtual/site.yaml:1:9'],
    [main('use: epoll'), '"use" directive is not allowed here in /virtual/site.yaml:1:1'],
    ['events:\n  use: kqueue\n', 'invalid event type "kqueue" in /virtual/site.yaml:2:8'],
    [http('types_hash_max_size: abc'), '"types_hash_max_size" directive invalid number in /virtual/site.yaml:2:24'],
    [http('output_buffers: 2'), 'invalid number of arguments in "output_buffers" directive in /virtual/site.yaml:2:19'],
    [http('output_buffers: "0 32k"'), '"output_buffers" directive invalid value in /virtual/site.yaml:2:19'],
    [http('sendfile_max_chunk: 1x'), '"sendfile_max_chunk" directive invalid value in /virtual/site.yaml:2:23'],
    [http('aio: foo'), '"aio" directive invalid value in /virtual/site.yaml:2:8'],
    [http('directio: foo'), '"directio" directive invalid value in /virtual/site.yaml:2:13'],
    [http('keepalive_disable: opera'), 'invalid value "opera" in /virtual/site.yaml:2:22'],
    [http('open_log_file_cache: max=0'), 'invalid "open_log_file_cache" parameter "max=0" in /virtual/site.yaml:2:24'],
    [http('open_log_file_cache: inactive=10s'), '"open_log_file_cache" must have "max" parameter in /virtual/site.yaml:2:24'],
    [http('lingering_close: sometimes'), 'invalid value "sometimes" in /virtual/site.yaml:2:20'],
    [http('postpone_output: 1p'), '"postpone_output" directive invalid value in /virtual/site.yaml:2:20'],
    [http('fastcgi_temp_path: "a 1 2 3 4"'), 'invalid number of arguments in "fastcgi_temp_path" directive in /virtual/site.yaml:2:22'],
    [http('sendfile: maybe'), 'invalid value "maybe", it must be "on" or "off" in /virtual/site.yaml:2:13'],
    [location('merge_slashes: "on"'), '"merge_slashes" directive is not allowed here in /virtual/site.yaml:4:26'],
    [location('large_client_header_buffers: "4 8k"'), '"large_client_header_buffers" directive is not allowed here in /virtual/site.yaml:4:26'],
    [server('server_names_hash_max_size: 512'), '"server_names_hash_max_size" directive is not allowed here in /virtual/site.yaml:3:7'],
    [http('charset: $c'), 'variables in "charset" are not supported yet in /virtual/site.yaml:2:12'],
    ['http:\n  charset: koi8-r\n  source_charset: windows-1251\n  servers:\n    - listen: 80\n', 'no "charset_map" between the charsets "windows-1251" and "koi8-r" in /virtual/site.yaml:5:7'],
  ])('%s', (yaml, message) => {
    expect(configErrorOf(yaml)).toBe(message);
  });

  (process.geteuid?.() === 0 ? test : test.skip)('user names are looked up at load as nginx does (as root)', () => {
    expect(configErrorOf(main('user: nosuchuser'))).toBe('getpwnam("nosuchuser") failed in /virtual/site.yaml:1:7');
    expect(configErrorOf(main('user: nobody'))).toBe('getgrnam("nobody") failed in /virtual/site.yaml:1:7');
    expect(() => buildVirtual(main('user: "nobody nogroup"'))).not.toThrow();
  });
});

describe('headers nginx ignores are not proxied', () => {
  test('X_Real_IP (underscores_in_headers off) and X.Forwarded (an invalid name) never reach the backend', async () => {
    const seen: http.IncomingHttpHeaders[] = [];
    const backend = http.createServer((req, res) => {
      seen.push(req.headers);
      res.end('ok');
    });
    backend.listen(0, '127.0.0.1');
    await once(backend, 'listening');
    const port = (backend.address() as net.AddressInfo).port;
    const yaml = [
      'error_log: stderr notice',
      'pid: "off"',
      'master_process: "off"',
      'http:',
      '  servers:',
      '    - listen: "127.0.0.1:0"',
      `      locations: [{ location: /, proxy_pass: "http://127.0.0.1:${port}" }]`,
    ].join('\n');
    try {
      const gw = await startGateway(yaml);
      try {
        const res = await request(gw.ports[0], '/', { headers: { X_Real_IP: '6.6.6.6', 'X.Forwarded': 'x', 'X-Kept': 'yes' } });
        expect(res.status).toBe(200);
        expect(seen[0]['x-kept']).toBe('yes');
        expect(seen[0]['x_real_ip']).toBeUndefined();
        expect(seen[0]['x.forwarded']).toBeUndefined();
      } finally {
        await gw.stop();
      }
    } finally {
      backend.closeAllConnections();
      backend.close();
    }
  });
});

describe('reset_timedout_connection', () => {
  /** Connects, sends `bytes`, and resolves with how the gateway ended the connection: a reset, or a close. */
  async function ending(port: number, bytes: string, host = '127.0.0.1'): Promise<'reset' | 'closed'> {
    const client = net.connect(port, host);
    await once(client, 'connect');
    client.write(bytes);
    return new Promise((resolve) => {
      client.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNRESET' ? 'reset' : 'closed'));
      client.on('close', () => resolve('closed'));
      client.resume();
    });
  }

  test('a head that times out is reset with it on, closed with it off; a connection still waiting is closed', async () => {
    // Two sockets (127.0.0.1 and 127.0.0.2): each default server's setting applies to its own.
    const server = (reset: string, host: string) => [`    - listen: "${host}:0"`, `      reset_timedout_connection: "${reset}"`, '      locations: [{ location: /, return: "200 ok" }]'];
    const yaml = ['error_log: stderr notice', 'pid: "off"', 'master_process: "off"', 'http:', '  client_header_timeout: 1s', '  servers:', ...server('on', '127.0.0.1'), ...server('off', '127.0.0.2')].join('\n');
    const gw = await startGateway(yaml, { listeners: 2 });
    try {
      const partial = 'GET / HTTP/1.1\r\nHost: x\r\n';
      const [resetOn, resetOff, waiting] = await Promise.all([ending(gw.ports[0], partial), ending(gw.ports[1], partial, '127.0.0.2'), ending(gw.ports[0], '')]);
      expect(resetOn).toBe('reset');
      expect(resetOff).toBe('closed');
      expect(waiting).toBe('closed');
    } finally {
      await gw.stop();
    }
  });
});

describe('log_subrequest', () => {
  test('an auth_request subrequest has its access log line only where log_subrequest is on', async () => {
    const yaml = [
      'error_log: stderr notice',
      'pid: "off"',
      'master_process: "off"',
      'http:',
      '  log_format: { short: "$uri $status" }',
      '  access_log: logs/access.log short',
      '  servers:',
      '    - listen: "127.0.0.1:0"',
      '      root: www',
      '      locations:',
      '        - { location: /logged, auth_request: /auth-logged }',
      '        - { location: /quiet, auth_request: /auth-quiet }',
      '        - { location: = /auth-logged, internal: "on", log_subrequest: "on", return: "204" }',
      '        - { location: = /auth-quiet, internal: "on", return: "204" }',
    ].join('\n');
    const gw = await startGateway(yaml, { files: { 'logs/.keep': '', 'www/logged': 'ok', 'www/quiet': 'ok' } });
    let log = '';
    try {
      expect((await request(gw.ports[0], '/logged')).status).toBe(200);
      expect((await request(gw.ports[0], '/quiet')).status).toBe(200);
    } finally {
      await gw.stop(true);
      log = readFileSync(path.join(gw.prefix, 'logs/access.log'), 'utf8');
      rmSync(gw.prefix, { recursive: true, force: true });
    }
    expect(log.trim().split('\n').sort()).toEqual(['/auth-logged 204', '/logged 200', '/quiet 200']);
  });
});
