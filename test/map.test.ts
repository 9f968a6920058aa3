/**
 * The map module at load and per request, in-process: nginx's refusals (each one line at the
 * line it names), the variable a map defines read by any compiled value, evaluated only when
 * read, kept for the request unless `volatile`, a `set` value winning over it, a cycle, a map
 * replacing the gateway's own `$connection_upgrade`, an included file, and `gateway -t`.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { buildConfig } from '../src/config/build';
import { parseText } from '../src/config/load';
import { readConfigFile } from '../src/config/read';
import type { MainConf } from '../src/config/model';
import { ConfigError } from '../src/errors';
import { compileValue, type VariableSource } from '../src/http/variables';
import { REGISTRY } from '../src/modules/registry';
import { makePrefix, runCli, startGateway } from './helpers/gateway-process';
import { request as httpRequest } from './helpers/http-client';

function build(httpLines: string, prefix = makePrefix()): MainConf {
  const file = path.join(prefix, 'site.yaml');
  const yaml = `pid: "off"\nhttp:\n${httpLines}\n  servers:\n    - listen: 127.0.0.1:0\n      locations:\n        - location: /\n          return: "200 ok"\n`;
  return buildConfig(parseText(yaml, file), file, prefix, REGISTRY);
}

function refusal(httpLines: string, prefix?: string): string {
  try {
    build(httpLines, prefix);
  } catch (err) {
    if (err instanceof ConfigError) return `${err.message.replace(/ in \S+:\d+:\d+$/, '')} @${err.position?.line}:${err.position?.col}`;
    throw err;
  }
  throw new Error('the configuration was accepted');
}

/** A request as variables see it: `k` is `$arg_k`; `reads` counts reads of `$args`. */
function request(args: string, setValues: Map<string, string> | null = null) {
  const state = { reads: 0 };
  const source = {
    mainRequest: {},
    namedCaptures: {},
    captures: [],
    setValues,
    get args() {
      state.reads++;
      return args;
    },
    req: { headers: {} },
  };
  return { source: source as unknown as VariableSource, state };
}

describe('map: refusals, as nginx words them', () => {
  const cases: [string, string, string][] = [
    ['two defaults', '  map: {source: $uri, variable: $a, default: "1", "\\"default\\"": "2"}', 'duplicate default map parameter @3:51'],
    ['a key twice, in another case', '  map: {source: $uri, variable: $a, X: "1", x: "2"}', 'conflicting parameter "x" @3:45'],
    ['a bad regex', '  map: {source: $uri, variable: $a, "~(a": "1"}', 'invalid regex "(a": /(a/: Unterminated group @3:37'],
    ['a line of three words', '  map: {source: $uri, variable: $a, a: "1 2"}', 'invalid number of the map parameters @3:37'],
    ['a variable without $', '  map: {source: $uri, variable: a, a: "1"}', 'invalid variable name "a" @3:33'],
    ["one of nginx's own variables", '  map: {source: $uri, variable: $host, a: "1"}', 'the duplicate "host" variable @3:33'],
    ['an unknown variable in a value', '  map: {source: $uri, variable: $a, a: $nope}', 'unknown "nope" variable @3:37'],
    ['an unknown variable in the source', '  map: {source: $nope, variable: $a, a: "1"}', 'unknown "nope" variable @3:17'],
    ['a bad wildcard', '  map: {source: $host, variable: $a, hostnames: "", "a.*.com": "1"}', 'invalid hostname or wildcard "a.*.com" @3:53'],
    ['.foo.com after foo.com', '  map: {source: $host, variable: $a, hostnames: "", foo.com: "1", .foo.com: "2"}', 'conflicting parameter ".foo.com" @3:67'],
    ['foo.com after .foo.com', '  map: {source: $host, variable: $a, hostnames: "", .foo.com: "1", foo.com: "2"}', 'conflicting parameter "foo.com" @3:68'],
    ['no variable', '  map: {source: $uri, a: "1"}', 'invalid number of arguments in "map" directive @3:8'],
  ];
  test.each(cases)('%s', (_, lines, expected) => {
    expect(refusal(lines)).toBe(expected);
  });

  test('in a server block: not allowed here', () => {
    const file = '/tmp/x.yaml';
    const yaml = 'http:\n  servers:\n    - listen: 127.0.0.1:0\n      map: {source: $uri, variable: $a, a: "1"}\n';
    expect(() => buildConfig(parseText(yaml, file), file, '/tmp', REGISTRY)).toThrow('"map" directive is not allowed here');
  });

  test('an included file that is missing: nginx\'s open() failure, at the include', () => {
    const prefix = makePrefix({ 'site.conf': 'http {\n  map $uri $a {\n    include nofile;\n  }\n}\n' });
    expect(() => readConfigFile(path.join(prefix, 'site.conf'))).toThrow(`"${path.join(prefix, 'nofile')}"`);
  });

  test('gateway -t: one line with file:line:column, exit 1', async () => {
    const prefix = makePrefix({ 'site.yaml': 'pid: "off"\nhttp:\n  map:\n    source: $uri\n    variable: $a\n    default: "1"\n    "\\"default\\"": "2"\n  servers: []\n' });
    const r = await runCli(['-t', '-p', prefix, '-c', 'site.yaml']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([`gateway: [emerg] duplicate default map parameter in ${path.join(prefix, 'site.yaml')}:7:5`, expect.stringContaining('test failed')]);
  });
});

describe('map: the variable it defines', () => {
  test('read by a value compiled anywhere, lazily, once per request', () => {
    const conf = build('  map: {source: $args, variable: $v, "a=1": one, default: other}');
    const value = compileValue('[$v|$v]', conf.captureNames);
    const { source, state } = request('a=1');
    expect(state.reads).toBe(0);
    expect(value(source)).toBe('[one|one]');
    expect(state.reads).toBe(1);
    expect(value(source)).toBe('[one|one]');
    expect(state.reads).toBe(1);
    expect(value(request('b').source)).toBe('[other|other]');
  });

  test('volatile: evaluated at every read', () => {
    const conf = build('  map: {source: $args, variable: $v, volatile: "", default: x}');
    const { source, state } = request('');
    compileValue('$v$v', conf.captureNames)(source);
    expect(state.reads).toBe(2);
  });

  test('a value set for the request wins over the map', () => {
    const conf = build('  map: {source: $args, variable: $v, default: mapped}');
    expect(compileValue('$v', conf.captureNames)(request('', new Map([['v', 'set']])).source)).toBe('set');
  });

  test('a map used before it is written, and one that reads itself: empty, as nginx\'s cycle', () => {
    const conf = build('  map:\n    - {source: $args, variable: $first, default: "<$second>"}\n    - {source: $args, variable: $second, default: "($first)"}');
    expect(compileValue('$first', conf.captureNames)(request('').source)).toBe('<()>');
  });

  test('a map of $connection_upgrade replaces the gateway\'s own', () => {
    const conf = build('  map: {source: $http_upgrade, variable: $connection_upgrade, default: keep-alive, "\'\'": close}');
    const { source } = request('');
    (source as unknown as { req: { headers: Record<string, string> } }).req.headers.upgrade = 'websocket';
    expect(compileValue('$connection_upgrade', conf.captureNames)(source)).toBe('keep-alive');
    expect(compileValue('$connection_upgrade', conf.captureNames)(request('').source)).toBe('close');
  });

  test('include: an nginx-syntax file beside an nginx.conf, read in place, its errors at its own lines', () => {
    const site = 'http {\n  map $args $v {\n    include keys.map;\n    default other;\n  }\n  server { listen 127.0.0.1:0; location / { return 200 "[$v]"; } }\n}\n';
    const prefix = makePrefix({ 'site.conf': site, 'keys.map': '# keys\n"a=1"  one;\n~^b=(.*)  "b-$1";  # regex\n' });
    const file = path.join(prefix, 'site.conf');
    const conf = buildConfig(readConfigFile(file), file, prefix, REGISTRY);
    const value = compileValue('$v', conf.captureNames);
    expect([value(request('a=1').source), value(request('b=2').source), value(request('c').source)]).toEqual(['one', 'b-2', 'other']);
    writeFileSync(path.join(prefix, 'keys.map'), 'a  one;\nb  two three;\n');
    expect(() => buildConfig(readConfigFile(file), file, prefix, REGISTRY)).toThrow(`invalid number of the map parameters in ${path.join(prefix, 'keys.map')}:2:1`);
  });
});

describe('map: in a running gateway', () => {
  test("a handler's ctx.variable reads a map's variable, lazily, as compiled values do", async () => {
    const handler = `module.exports = {
  configure() { return {}; },
  create() { return { http(req, res, ctx) { res.writeHead(200, { 'Content-Type': 'text/plain' }).end(ctx.variable('tier') + ' ' + ctx.variable('connection_upgrade')); } }; },
};
`;
    const yaml = `error_log: stderr notice
pid: "off"
master_process: "off"
http:
  access_log: "off"
  map:
    - { source: $arg_who, variable: $tier, default: guest, admin: staff }
    - { source: $http_upgrade, variable: $connection_upgrade, default: keep, "''": none }
  servers:
    - listen: 127.0.0.1:0
      locations:
        - { location: /, handler: ./handlers/tier.js }
`;
    const gw = await startGateway(yaml, { files: { 'handlers/tier.js': handler } });
    try {
      expect((await httpRequest(gw.ports[0], '/?who=Admin')).body.toString()).toBe('staff none');
      expect((await httpRequest(gw.ports[0], '/?who=x', { headers: { Upgrade: 'websocket' } })).body.toString()).toBe('guest keep');
    } finally {
      await gw.stop();
    }
  });
});
