/**
 * The configuration reader under attack: white space nginx does not separate by, YAML types
 * where nginx has none, times past what a timer honours, aliases that expand without end or
 * name themselves, nesting, huge maps, and includes of what is not a configuration file. Each
 * is one line with file:line:column, found in bounded time and memory.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/build';
import { parseText, type MapNode } from '../src/config/load';
import { parseNginxTypes } from '../src/config/mime';
import { MAX_FILE_BYTES } from '../src/config/sources';
import { ConfigError } from '../src/errors';
import { expiresHeaders } from '../src/modules/headers/expires';
import { runCli } from './helpers/gateway-process';
import { buildVirtual, configErrorOf } from './helpers/virtual-config';
import { REGISTRY } from '../src/modules/registry';
import { flat, view } from './helpers/module-confs';

const inLocation = (keys: string) => `http:\n  servers:\n    - locations:\n        - { location: /, ${keys} }\n`;

describe('white space nginx does not separate arguments by is part of the argument, and shown', () => {
  test.each([
    ['http:\n  servers:\n    - listen: "127.0.0.1:8080\u00a0"\n', 'invalid port in "127.0.0.1:8080\\u00a0" in /virtual/site.yaml:3:15'],
    ['http:\n  servers:\n    - listen: "8080\ufeff ssl"\n', 'invalid host in "8080\\ufeff" in /virtual/site.yaml:3:15'],
    [inLocation('return: "200\u3000ok"'), 'invalid return code "200\\u3000ok" in /virtual/site.yaml:4:34'],
    ['http:\n  proxy_read_timeout: "5s\u2028"\n', 'invalid time "5s\\u2028" in /virtual/site.yaml:2:23'],
    ['http:\n  client_max_body_size: "1m\v"\n', 'invalid size "1m\\u000b" in /virtual/site.yaml:2:25'],
    ['http:\n  gzip\u00a0: on\n', 'unknown directive "gzip\\u00a0" in /virtual/site.yaml:2:3'],
    ['http:\n  add_header: "X-A \\"a\\nb\\"x"\n', 'unexpected "x" after a quoted argument in "X-A "a\\nb"x" in /virtual/site.yaml:2:15'],
  ])('%j', (yaml, message) => expect(configErrorOf(yaml)).toBe(message));

  test("log_format's escape= parameter and a types file split words as nginx does", () => {
    expect(configErrorOf('http:\n  log_format: { main: "escape=json\u00a0$uri" }\n')).toBe('unknown log format escaping "json\\u00a0$uri" in /virtual/site.yaml:2:23');
    const table = parseNginxTypes('types {\n  image/x-a a\u00a0b c;\n}\n');
    expect([...table]).toEqual([['a\u00a0b', 'image/x-a'], ['c', 'image/x-a']]);
    expect(() => parseNginxTypes('types {\n  text/x-b\u3000d;\n}\n')).toThrow('invalid types entry "text/x-b\u3000d"');
  });

  test('a reason is one line however long the value, cut in its middle', () => {
    const message = configErrorOf(`http:\n  default_type: "a ${'b'.repeat(100_000)}"\n`);
    expect(message).toMatch(/^invalid number of arguments in "default_type" directive in \/virtual\/site\.yaml:2:17$/);
    // YAML's \e is ESC: shown as an escape, never sent to a terminal.
    const long = configErrorOf(`http:\n  servers:\n    - listen: "${'x'.repeat(100_000)}\\e"\n`);
    expect(long.length).toBeLessThan(1100);
    expect(long).toMatch(/^invalid host in "x+\.\.\.x+\\u001b" in \/virtual\/site\.yaml:3:15$/);
  });
});

describe('a YAML boolean is "on" or "off" only where a directive takes those words', () => {
  test.each([
    ['http:\n  servers:\n    - listen: true\n', '3:15'],
    ['http:\n  servers:\n    - server_name: false\n', '3:20'],
    ['http:\n  add_header: { X-A: true }\n', '2:22'],
    ['http:\n  root: true\n', '2:9'],
    [inLocation('proxy_pass: true'), '4:38'],
  ])('%j is refused', (yaml, at) => {
    expect(configErrorOf(yaml)).toMatch(new RegExp(`^invalid value (true|false): a YAML boolean stands for "on" or "off" only where a directive takes them; quote "(true|false)" to mean the text in /virtual/site\\.yaml:${at}$`));
  });
  test('where on/off is meant, a boolean says it', () => {
    const conf = buildVirtual('pid: false\nhttp:\n  gzip_static: true\n  access_log: false\n  proxy_redirect: false\n  servers:\n    - { disable_symlinks: true }\n');
    expect(conf.pid).toBeNull();
    expect(view(conf.http.servers[0])).toMatchObject({ gzipStatic: 'on', accessLogs: [], proxyRedirect: [], disableSymlinks: { mode: 'on' } });
  });
  test("a handler's options are read as written too, and refused by what the user wrote", () => {
    const ws = (keys: string) => configErrorOf(inLocation(`handler: websocket-script, script: echo, ${keys}`));
    expect(ws('timeout: 1e400')).toBe('invalid time "1e400" in "timeout" in /virtual/site.yaml:4:76');
    expect(ws('max_payload_len: .inf')).toBe('invalid size ".inf" in "max_payload_len" in /virtual/site.yaml:4:84');
    expect(ws('lua_socket_log_errors: .nan')).toBe('invalid value ".nan", it must be "on" or "off" in "lua_socket_log_errors" in /virtual/site.yaml:4:90');
    expect(configErrorOf(inLocation('handler: websocket-script, script: .nan'))).toMatch(/^script "\.nan" not found /);
  });
  test('push-subscriber: subscriber_types of the wrong type, or apart by a no-break space', () => {
    const sub = (value: string) => configErrorOf(inLocation(`handler: push-subscriber, channel: x, subscriber_types: ${value}`));
    expect(sub('{ a: 1 }')).toBe('"subscriber_types" takes one value in /virtual/site.yaml:4:82');
    expect(sub('[{ a: 1 }]')).toBe('invalid value that is not a name in "subscriber_types" (websocket, eventsource) in /virtual/site.yaml:4:82');
    expect(sub('"websocket\u00a0eventsource"')).toBe('invalid value "websocket\\u00a0eventsource" in "subscriber_types" (websocket, eventsource) in /virtual/site.yaml:4:82');
    expect(configErrorOf(inLocation('handler: push-subscriber, channel: x, overflow: "close\u00a01008"'))).toMatch(/^invalid value "close\\u00a01008" in "overflow"/);
  });
  test('a YAML number is read as written, as nginx reads its arguments', () => {
    expect(buildVirtual('http:\n  proxy_http_version: 1.0\n').http.servers).toEqual([]);
    expect(configErrorOf('http:\n  gzip_comp_level: 0x5\n')).toBe('invalid value "0x5" in "gzip_comp_level" directive in /virtual/site.yaml:2:20');
  });
});

describe('times: what feeds a timer stops at 24d20h31m23s647ms (Node.js fires anything larger after 1 ms)', () => {
  const timers: [string, (value: string) => string][] = [
    ['keepalive_timeout', (v) => `http:\n  keepalive_timeout: ${v}\n`],
    ['send_timeout', (v) => `http:\n  send_timeout: ${v}\n`],
    ['client_body_timeout', (v) => `http:\n  client_body_timeout: ${v}\n`],
    ['client_header_timeout', (v) => `http:\n  client_header_timeout: ${v}\n`],
    ['lingering_time', (v) => `http:\n  lingering_time: ${v}\n`],
    ['lingering_timeout', (v) => `http:\n  lingering_timeout: ${v}\n`],
    ['proxy_connect_timeout', (v) => `http:\n  proxy_connect_timeout: ${v}\n`],
    ['proxy_read_timeout', (v) => `http:\n  servers:\n    - proxy_read_timeout: ${v}\n`],
    ['proxy_send_timeout', (v) => inLocation(`proxy_send_timeout: ${v}`)],
    ['worker_shutdown_timeout', (v) => `worker_shutdown_timeout: ${v}\n`],
    ['timeout', (v) => inLocation(`handler: websocket-script, script: echo, timeout: ${v}`)],
    ['ping_interval', (v) => inLocation(`handler: push-subscriber, channel: x, ping_interval: ${v}`)],
  ];
  test.each(timers)('%s: 30d is refused with the largest value, the largest is taken', (name, yaml) => {
    expect(configErrorOf(yaml('30d'))).toMatch(new RegExp(`^time "30d" is too large: the largest is 24d20h31m23s647ms in "${name}" in /virtual/site\\.yaml:\\d+:\\d+$`));
    expect(() => buildVirtual(yaml('24d20h31m23s647ms'))).not.toThrow();
  });
  test('the websocket timeout counts bare numbers in ms', () => {
    expect(configErrorOf(inLocation('handler: websocket-script, script: echo, timeout: 2147483648'))).toMatch(/^time "2147483648" is too large: the largest is 24d20h31m23s647ms in "timeout"/);
    expect(buildVirtual(inLocation('handler: websocket-script, script: echo, timeout: 2147483647')).http.servers[0].locations[0].handlerOptions).toMatchObject({ timeoutMs: 2147483647 });
  });
  test("what only meets a clock takes nginx's large values", () => {
    const conf = buildVirtual(
      'http:\n  message_timeout: 1000d\n  proxy_next_upstream_timeout: 1000d\n  open_file_cache_valid: 1000d\n  expires: 100000y\n  upstreams:\n    u: { servers: ["127.0.0.1:81 fail_timeout=1000d"] }\n',
    );
    expect(flat(conf.http).upstreams.get('u')!.servers[0].failTimeout).toBe(86_400_000_000);
    expect(configErrorOf('http:\n  message_timeout: 9007199254740992ms\n')).toBe('invalid time "9007199254740992ms" in /virtual/site.yaml:2:20');
  });
  test("keepalive_timeout's header timeout is checked as nginx checks it (whole seconds)", () => {
    expect(buildVirtual('http:\n  keepalive_timeout: 75s 60s\n').http.servers).toEqual([]);
    expect(configErrorOf('http:\n  keepalive_timeout: 75s 60ms\n')).toMatch(/^invalid time "60ms" in "keepalive_timeout"/);
    expect(configErrorOf('http:\n  keepalive_timeout: 75s soon\n')).toBe('invalid time "soon" in /virtual/site.yaml:2:22');
  });
  test("expires past 9999 writes nginx's last date (ngx_gmtime), not \"Invalid Date\"", () => {
    const now = 1_800_000_000;
    expect(expiresHeaders({ kind: 'access', seconds: 1e15 }, now, null)).toEqual({ expires: 'Fri, 31 Dec 9999 23:59:59 GMT', cacheControl: 'max-age=1000000000000000' });
    expect(expiresHeaders({ kind: 'modified', seconds: -1e15 }, now, now)?.expires).toBe('Thu, 01 Jan 1970 00:00:00 GMT');
  });
});

describe('YAML that expands, nests or repeats without end', () => {
  const errorOf = (yaml: string): string => {
    try {
      parseText(yaml, '/virtual/site.yaml');
    } catch (err) {
      if (err instanceof ConfigError) return err.message;
      throw err;
    }
    return 'no error';
  };
  test('an alias inside the value it names', () => {
    expect(errorOf('a: &x [*x]\n')).toBe('alias "*x" refers to a value that contains it in /virtual/site.yaml:1:8');
    expect(errorOf('a: &x\n  b: *x\n')).toBe('alias "*x" refers to a value that contains it in /virtual/site.yaml:2:6');
  });
  test('a billion laughs stops at the first level past 3,000,000 values', () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (const name of 'bcdefghi') levels.push(`${name}: &${name} [${Array(9).fill(`*${String.fromCharCode(name.charCodeAt(0) - 1)}`).join(',')}]`);
    expect(errorOf(`${levels.join('\n')}\n`)).toBe('the configuration holds more than 3000000 values (YAML aliases expanded) in /virtual/site.yaml:7:7');
  });
  test('aliases used within bounds are taken, once converted', () => {
    const conf = buildVirtual('http:\n  servers:\n    - locations:\n        - &loc { location: /a, return: "200 x" }\n        - { location: /b, return: "200 y" }\n    - locations: [*loc]\n');
    expect(flat(conf.http.servers[1].locations[0]).script).toMatchObject([{ kind: 'return', status: 200, text: 'x' }]);
  });
  test('nesting deeper than 64 levels, written out or through an alias', () => {
    expect(errorOf(`a: ${'['.repeat(70)}${']'.repeat(70)}\n`)).toBe('the configuration nests deeper than 64 levels in /virtual/site.yaml:1:67');
    expect(errorOf(`a: &d ${'['.repeat(40)}${']'.repeat(40)}\nb: [[[[[[[[[[[[[[[[[[[[[[[[[[[[*d]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n`)).toMatch(/^the configuration nests deeper than 64 levels \(through alias "\*d"\) in \/virtual\/site\.yaml:2:\d+$/);
  });
  test('a map of 100,000 keys is read in linear time (the yaml package checks duplicate keys in quadratic time)', () => {
    const keys = Array.from({ length: 100_000 }, (_, i) => `    k${i}: 1`).join('\n');
    const started = Date.now();
    // A repeated key is kept, in order (a block is nginx's list of directives): the builder tells an occurrence from a duplicate.
    const tree = parseText(`a:\n${keys}\n    k7: y\n`, '/virtual/site.yaml') as MapNode;
    const entries = (tree.entries[0].value as MapNode).entries;
    expect([entries.length, entries[100_000].key, entries[100_000].keyPos.line]).toEqual([100_001, 'k7', 100_002]);
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});

describe('long lists check in linear time', () => {
  const list = (n: number, item: (i: number) => string) => `[${Array.from({ length: n }, (_, i) => item(i)).join(', ')}]`;
  test('100,000 allow rules (merged one by one, they took 12 s for 50,000)', () => {
    const started = Date.now();
    const conf = buildVirtual(`http:\n  allow: ${list(100_000, (i) => `"10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}"`)}\n  deny: all\n`);
    expect(conf.http.servers).toEqual([]);
    expect(Date.now() - started).toBeLessThan(20_000);
  });
  test('a server of 60,000 listens (each looked for ssl in every listen of every server: 30 s)', () => {
    const started = Date.now();
    const conf = buildVirtual(`http:\n  servers:\n    - listen: ${list(60_000, (i) => `"127.0.0.1:${1024 + i}"`)}\n`);
    expect(conf.http.servers[0].listens).toHaveLength(60_000);
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});

describe('includes: only regular files, bounded, every error at the include', () => {
  let dir: string;
  const site = (file: string, yaml: string) => {
    writeFileSync(path.join(dir, file), yaml);
    return path.join(dir, file);
  };
  const errorOf = (file: string): string => {
    try {
      loadConfig({ file, prefix: dir, registry: REGISTRY });
    } catch (err) {
      if (err instanceof ConfigError) return err.message;
      throw err;
    }
    return 'no error';
  };
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'gateway-limits-'));
    mkdirSync(path.join(dir, 'conf.d'));
    execFileSync('mkfifo', [path.join(dir, 'fifo.yaml')]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('a cycle', () => {
    site('b.yaml', 'http:\n  include: a.yaml\n');
    expect(errorOf(site('a.yaml', 'include: b.yaml\n'))).toBe(`include cycle through "${path.join(dir, 'a.yaml')}" in ${path.join(dir, 'b.yaml')}:2:12`);
  });
  test('a file of comments only, included as a list item, is an empty block', () => {
    writeFileSync(path.join(dir, 'empty.yaml'), '# nothing yet\n');
    const conf = loadConfig({ file: site('empty-item.yaml', 'http:\n  servers:\n    - include: empty.yaml\n'), prefix: dir, registry: REGISTRY });
    expect(conf.http.servers).toHaveLength(1);
  });
  test('a directory', () => {
    expect(errorOf(site('dir.yaml', 'http:\n  include: conf.d\n'))).toBe(`open() "${path.join(dir, 'conf.d')}" failed (EISDIR) in ${path.join(dir, 'dir.yaml')}:2:12`);
  });
  test('/dev/zero', () => {
    expect(errorOf(site('zero.yaml', 'include: /dev/zero\n'))).toBe(`"/dev/zero" is not a regular file in ${path.join(dir, 'zero.yaml')}:1:10`);
  });
  test('a FIFO with no writer (opening it would block for ever)', () => {
    expect(errorOf(site('fifo-include.yaml', 'http:\n  include: fifo.yaml\n'))).toBe(`"${path.join(dir, 'fifo.yaml')}" is not a regular file in ${path.join(dir, 'fifo-include.yaml')}:2:12`);
  });
  test('a file larger than 16 MiB, and files larger than 24 MiB in all', () => {
    writeFileSync(path.join(dir, 'huge.yaml'), `# ${'x'.repeat(MAX_FILE_BYTES)}\n`);
    expect(errorOf(site('huge-include.yaml', 'http:\n  include: huge.yaml\n'))).toBe(`"${path.join(dir, 'huge.yaml')}" is larger than 16777216 bytes in ${path.join(dir, 'huge-include.yaml')}:2:12`);
    for (const n of [1, 2, 3]) writeFileSync(path.join(dir, `part${n}.yaml`), `# ${'x'.repeat(9_000_000)}\n`);
    expect(errorOf(site('parts.yaml', 'http:\n  include: part*.yaml\n'))).toMatch(/^the configuration is larger than 25165824 bytes in all \(with ".*part3\.yaml"\) in .*parts\.yaml:2:12$/);
  });
  test('includes nested deeper than 16 files', () => {
    for (let i = 0; i < 20; i++) site(`deep${i}.yaml`, `include: deep${i + 1}.yaml\n`);
    site('deep20.yaml', 'http: {}\n');
    expect(errorOf(path.join(dir, 'deep0.yaml'))).toBe(`includes nest deeper than 16 files (at "${path.join(dir, 'deep17.yaml')}") in ${path.join(dir, 'deep16.yaml')}:1:10`);
  });
  test('more than 2,000,000 YAML values are refused before the yaml package builds them (16 MiB of "a," would take 6 GB)', () => {
    site('many.yaml', `a: [${'a,'.repeat(2_100_000)}a]\n`);
    expect(errorOf(path.join(dir, 'many.yaml'))).toBe(`the configuration holds more than 2000000 YAML values in ${path.join(dir, 'many.yaml')}:1:4000001`);
  });
  test("a pattern's stars match in linear time; a leading dot only by a dot, as glob(3)", () => {
    const name = 'a'.repeat(200);
    writeFileSync(path.join(dir, 'conf.d', name), 'gzip: on\n');
    writeFileSync(path.join(dir, 'conf.d', '.hidden.yaml'), 'bogus: 1\n');
    writeFileSync(path.join(dir, 'conf.d', 'b.yaml'), 'gzip_vary: on\n');
    const started = Date.now();
    expect(errorOf(site('stars.yaml', `http:\n  include: conf.d/${'*a'.repeat(40)}*b\n`))).toBe('no error');
    expect(Date.now() - started).toBeLessThan(5000);
    const conf = loadConfig({ file: site('glob.yaml', 'http:\n  include: conf.d/*.yaml\n  servers: [{}]\n'), prefix: dir, registry: REGISTRY });
    expect(view(conf.http.servers[0])).toMatchObject({ gzipVary: true, gzip: false });
  });
});

// The check of 200,000 locations (a process of its own, seconds of CPU) starts before the other
// tests of the file and runs beside them; its test, the last, waits for its answer.
let locations: { dir: string; started: number; result: ReturnType<typeof runCli> } | undefined;
beforeAll(() => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gateway-locations-'));
  const lines = ['http:', '  servers:', '    - listen: "127.0.0.1:0"', '      locations:'];
  for (let i = 0; i < 200_000; i++) lines.push(`        - { location: /l${i}, return: "200 x" }`);
  writeFileSync(path.join(dir, 'site.yaml'), `${lines.join('\n')}\n`);
  locations = { dir, started: Date.now(), result: runCli(['-t', '-p', dir, '-c', 'site.yaml']) };
});
afterAll(async () => {
  if (!locations) return;
  await locations.result;
  rmSync(locations.dir, { recursive: true, force: true });
});

test('200,000 locations check in reasonable time (nginx 1.22 takes almost six minutes)', async () => {
  const { started, result: running } = locations!;
  const result = await running;
  expect(result.stderr).toMatch(/test is successful/);
  expect(result.code).toBe(0);
  expect(Date.now() - started).toBeLessThan(60_000);
}, 90_000);
