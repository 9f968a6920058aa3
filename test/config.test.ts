/** Golden tests: a configuration in, the merged result or the exact one-line error out. */
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/build';
import { REGISTRY } from '../src/modules/registry';
import { flat, view } from './helpers/module-confs';
import { buildVirtual, configErrorOf } from './helpers/virtual-config';

const build = buildVirtual;
const errorOf = configErrorOf;

describe('errors name the directive and point at file:line:col', () => {
  test.each([
    ['http:\n  gzip: maybe\n', 'invalid value "maybe", it must be "on" or "off" in /virtual/site.yaml:2:9'],
    ['http:\n  bogus: 1\n', 'unknown directive "bogus" in /virtual/site.yaml:2:3'],
    ['http:\n  fastcgi_pass: 127.0.0.1:9000\n', '"fastcgi_pass" directive is not supported yet in /virtual/site.yaml:2:3'],
    ['listen: 80\n', '"listen" directive is not allowed here in /virtual/site.yaml:1:1'],
    ['http:\n  servers:\n    - listen: "80 bogus"\n', 'invalid parameter "bogus" in /virtual/site.yaml:3:15'],
    ['http:\n  servers:\n    - listen: "99999"\n', 'invalid port in "99999" in /virtual/site.yaml:3:15'],
    ['http:\n  servers:\n    - locations:\n        - location: "~ ("\n', expect.stringMatching(/^invalid regex "\(": .* in \/virtual\/site\.yaml:4:21$/)],
    ['http:\n  servers:\n    - locations:\n        - { location: /, handler: nope }\n', expect.stringMatching(/^handler "nope" not found .* in \/virtual\/site\.yaml:4:35$/)],
    ['http:\n  servers:\n    - locations:\n        - { location: /, colour: red }\n', 'unknown directive "colour" in /virtual/site.yaml:4:26'],
    ['http:\n  servers:\n    - locations:\n        - { location: /, return: "abc" }\n', 'invalid return code "abc" in /virtual/site.yaml:4:34'],
    ['http:\n  add_header: X-A $nope\n', 'unknown "nope" variable in /virtual/site.yaml:2:15'],
    ['http:\n  gzip: on\n  gzip: off\n', '"gzip" directive is duplicate in /virtual/site.yaml:3:3'],
    ['http: [1, 2\n', expect.stringMatching(/^invalid YAML: .* in \/virtual\/site\.yaml:\d+:\d+$/)],
    ['events:\n  worker_connections: lots\n', 'invalid value "lots" in "worker_connections" directive in /virtual/site.yaml:2:23'],
    ['error_log: logs/e.log loud\n', 'invalid log level "loud" in /virtual/site.yaml:1:12'],
    ['http:\n  servers:\n    - locations:\n        - { location: /, root: a, alias: b }\n', '"alias" directive is duplicate, "root" directive was specified earlier in /virtual/site.yaml:4:11'],
    ['http:\n  servers:\n    - locations:\n        - { root: a }\n', 'a location block needs "location" in /virtual/site.yaml:4:11'],
    ['http:\n  servers:\n    - locations:\n        - { location: /, handler: static, proxy_pass: "http://a" }\n', '"proxy_pass" goes with handler "proxy", not "static" in /virtual/site.yaml:4:35'],
    ['http:\n  servers:\n    - locations:\n        - { location: /s, handler: static, stub_status: on }\n', '"stub_status" goes with handler "stub_status", not "static" in /virtual/site.yaml:4:36'],
    ['http:\n  servers:\n    - locations:\n        - { location: /s, stub_status: off }\n', 'invalid value in "stub_status" directive (it takes none, or "on") in /virtual/site.yaml:4:40'],
    ['http:\n  stub_status: on\n', '"stub_status" directive is not allowed here in /virtual/site.yaml:2:3'],
    ['http:\n  proxy_redirect: default\n', '"proxy_redirect default" should be placed after the "proxy_pass" directive in /virtual/site.yaml:2:3'],
    ['http:\n  servers:\n    - proxy_redirect: default\n', '"proxy_redirect default" should be placed after the "proxy_pass" directive in /virtual/site.yaml:3:7'],
    ['http:\n  servers:\n    - locations:\n        - { location: /, proxy_redirect: default }\n', '"proxy_redirect default" should be placed after the "proxy_pass" directive in /virtual/site.yaml:4:26'],
    ['http:\n  servers:\n    - locations:\n        - { location: /a }\n        - { location: /a }\n', 'duplicate location "/a" in /virtual/site.yaml:5:11'],
    ['http:\n  servers:\n    - listen: "80 default_server"\n    - listen: "80 default_server"\n', 'a duplicate default server for 0.0.0.0:80 in /virtual/site.yaml:4:7'],
    ['http:\n  servers:\n    - locations:\n        - { location: /s, handler: websocket-script }\n', expect.stringMatching(/"script" .* in \/virtual\/site\.yaml:4:11$/)],
    ['http:\n  servers:\n    - locations:\n        - { location: /s, handler: websocket-script, script: echo, timeout: soon }\n', 'invalid time "soon" in "timeout" in /virtual/site.yaml:4:77'],
    ['http:\n  expires: soon\n', '"expires" directive invalid value in /virtual/site.yaml:2:12'],
    ['http:\n  expires: modified @1h\n', '"expires" directive daily time cannot be used with "modified" parameter in /virtual/site.yaml:2:12'],
    ['http:\n  expires: $nope\n', 'unknown "nope" variable in /virtual/site.yaml:2:12'],
    ['http:\n  servers:\n    - try_files: =404\n', 'invalid number of arguments in "try_files" directive in /virtual/site.yaml:3:18'],
    ['http:\n  servers:\n    - try_files: $uri =abc\n', 'invalid code "=abc" in /virtual/site.yaml:3:18'],
    ['http:\n  servers:\n    - try_files: $uri =1000\n', 'invalid code "=1000" in /virtual/site.yaml:3:18'],
    ['http:\n  servers:\n    - try_files: $nope =404\n', 'unknown "nope" variable in /virtual/site.yaml:3:18'],
    ['http:\n  try_files: $uri =404\n', '"try_files" directive is not allowed here in /virtual/site.yaml:2:3'],
    ['http:\n  gzip_static: maybe\n', 'invalid value "maybe" in "gzip_static" directive, it must be "off" or "on" or "always" in /virtual/site.yaml:2:16'],
    ['http:\n  disable_symlinks: bogus\n', 'invalid parameter "bogus" in /virtual/site.yaml:2:21'],
    ['http:\n  disable_symlinks: off from=/x\n', '"from=" cannot be used with "off" parameter in /virtual/site.yaml:2:21'],
    ['http:\n  disable_symlinks: from=/x\n', '"disable_symlinks" must have "off", "on" or "if_not_owner" parameter in /virtual/site.yaml:2:21'],
    ['http:\n  disable_symlinks: on from=$nope\n', 'unknown "nope" variable in /virtual/site.yaml:2:21'],
    ['http:\n  open_file_cache: max=0\n', 'invalid "open_file_cache" parameter "max=0" in /virtual/site.yaml:2:20'],
    ['http:\n  open_file_cache: inactive=2s\n', '"open_file_cache" must have the "max" parameter in /virtual/site.yaml:2:20'],
    ['http:\n  open_file_cache: max=10 inactive=soon\n', 'invalid "open_file_cache" parameter "inactive=soon" in /virtual/site.yaml:2:20'],
    ['http:\n  open_file_cache_valid: soon\n', 'invalid time "soon" in /virtual/site.yaml:2:26'],
    ['http:\n  open_file_cache_errors: maybe\n', 'invalid value "maybe", it must be "on" or "off" in /virtual/site.yaml:2:27'],
    ['http:\n  gzip_disable: [msie6, "("]\n', 'invalid regex "(": /(/i: Unterminated group in /virtual/site.yaml:2:25'],
  ])('%j', (yaml, message) => expect(errorOf(yaml)).toEqual(message));
});

describe('merging', () => {
  const conf = build(`
worker_processes: 1
error_log: logs/error.log info
events: { worker_connections: 1024 }
http:
  default_type: application/octet-stream
  gzip: on
  gzip_min_length: 1
  add_header: ["X-Http http"]
  servers:
    - listen: "8080 so_keepalive=2s:2s:8"
      gzip_comp_level: 6
      locations:
        - location: /s
          handler: websocket-script
          script: echo
          timeout: 50000
          max_payload_len: 65535
          lua_socket_log_errors: on
          lua_check_client_abort: on
        - location: /
          root: public
          add_header: { X-Loc: "$uri" }
          gzip: off
`);
  const built = conf.http.servers[0].locations;
  const [s, loc] = [view(built[0]), view(built[1])];
  test('main and events', () => {
    expect(conf).toMatchObject({ workerProcesses: 1, workerConnections: 1024, errorLog: { path: '/virtual/logs/error.log', level: 'info' } });
    expect(conf.http.servers[0].listens[0].soKeepalive).toEqual({ enabled: true, idle: 2, interval: 2, count: 8 });
  });
  test('inheritance http -> server -> location, nginx defaults elsewhere', () => {
    expect(s).toMatchObject({ handler: 'websocket-script', gzip: true, gzipMinLength: 1, gzipCompLevel: 6, defaultType: 'application/octet-stream', root: '/virtual/html', index: ['index.html'] });
    expect(s.addHeaders).toEqual([{ name: 'X-Http', value: 'http', always: false }]);
    expect(loc).toMatchObject({ handler: 'static', gzip: false, root: '/virtual/public', keepaliveTimeout: { ms: 75000, headerSeconds: 0 }, clientMaxBodySize: 1048576 });
    expect(loc.addHeaders).toEqual([{ name: 'X-Loc', value: '$uri', always: false }]);
  });
  test('handler options come from configure', () => {
    expect(s.handlerOptions).toMatchObject({ scriptName: 'echo', timeoutMs: 50000, maxPayloadLen: 65535, socketLogErrors: true });
  });
  test('the result is frozen', () => expect(Object.isFrozen(built[1])).toBe(true));
  test("nginx's stub_status directive makes the location a stub_status one, with or without a value", () => {
    const site = (value: string) => build(`http:\n  servers:\n    - locations:\n        - location: = /basic_status\n          stub_status:${value}\n`);
    expect(site(' on').http.servers[0].locations[0].handler).toBe('stub_status');
    expect(site('').http.servers[0].locations[0].handler).toBe('stub_status');
  });
});

describe("static file directives: nginx defaults, inheritance, the server's own location", () => {
  const conf = build(`
http:
  open_file_cache: max=1000 inactive=20s
  expires: 1h
  servers:
    - try_files: $uri =404
      disable_symlinks: "on from=$document_root"
      locations:
        - { location: /a, open_file_cache_valid: 500ms, gzip_static: always }
        - { location: /b, open_file_cache: "off", expires: modified -1d }
`);
  const server = view(conf.http.servers[0]);
  const [a, b] = server.locations.map(view);
  test('defaults', () => {
    const plain = view(build('http:\n  servers:\n    - locations:\n        - { location: / }\n').http.servers[0].locations[0]);
    expect(plain).toMatchObject({ openFileCache: null, openFileCacheValid: 60000, openFileCacheMinUses: 1, openFileCacheErrors: false, gzipStatic: 'off', gzipDisable: [], expires: { kind: 'off' }, disableSymlinks: { mode: 'off', from: null }, tryFiles: null });
  });
  test("inherited downwards; try_files is not (it is the server location's)", () => {
    expect(a).toMatchObject({ openFileCache: { max: 1000, inactive: 20000 }, openFileCacheValid: 500, gzipStatic: 'always', expires: { kind: 'access', seconds: 3600 }, disableSymlinks: { mode: 'on', from: '$document_root' }, tryFiles: null });
    expect(b).toMatchObject({ openFileCache: null, expires: { kind: 'modified', seconds: -86400 } });
    expect(view(server.serverLocation)).toMatchObject({ handler: 'static', tryFiles: ['$uri', '=404'], openFileCache: { max: 1000 } });
  });
  test('locations inheriting one open_file_cache share the same settings object (one cache)', () => {
    expect(server.openFileCache).toBe(a.openFileCache);
  });
});

describe('files', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'gateway-config-'));
    mkdirSync(path.join(dir, 'conf/sites'), { recursive: true });
    writeFileSync(path.join(dir, 'conf/mime.types'), 'types {\n  text/html html;\n  image/x-test tst tst2;\n}\n');
    writeFileSync(path.join(dir, 'conf/gzip.yaml'), 'gzip: on\ngzip_types: text/css\n');
    writeFileSync(path.join(dir, 'conf/sites/a.yaml'), '- listen: 81\n');
    writeFileSync(path.join(dir, 'conf/sites/b.yaml'), '- listen: 82\n  bogus: 1\n');
    writeFileSync(path.join(dir, 'conf/site.yaml'), 'http:\n  types: mime.types\n  include: gzip.yaml\n  servers:\n    - include: sites/a.yaml\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('include merges maps and splices lists; types reads an nginx mime.types beside the file', () => {
    const conf = loadConfig({ file: path.join(dir, 'conf/site.yaml'), prefix: dir, registry: REGISTRY });
    expect(conf.http.servers.map((s) => s.listens[0].port)).toEqual([81]);
    expect(flat(conf.http.servers[0]).gzip).toBe(true);
    expect(flat(conf.http.servers[0]).types.get('tst2')).toBe('image/x-test');
  });
  test('an error in an included file points into that file', () => {
    writeFileSync(path.join(dir, 'conf/site2.yaml'), 'http:\n  servers:\n    - include: sites/*.yaml\n');
    expect(() => loadConfig({ file: path.join(dir, 'conf/site2.yaml'), prefix: dir, registry: REGISTRY })).toThrow(`unknown directive "bogus" in ${path.join(dir, 'conf/sites/b.yaml')}:2:3`);
  });
  test('a missing file', () => {
    expect(() => loadConfig({ file: path.join(dir, 'conf/none.yaml'), prefix: dir, registry: REGISTRY })).toThrow(/open\(\) ".*none.yaml" failed \(ENOENT\)/);
  });
});
