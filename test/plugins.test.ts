/**
 * Plugins (issue 16, item 4), the configuration: the `plugins` map at http, server and
 * location, Kong's inheritance (a block's plugin replaces the one of that name from above,
 * `off` takes it away, other plugins inherit), the order of a phase (priority, higher first;
 * the `*_by` scripts at 0), the options checked against the JSON Schema at load with the
 * failing option at its line:column, and the plugin modules refused.
 */
import path from 'node:path';
import { buildConfig } from '../src/config/build';
import { parseText } from '../src/config/load';
import { definePlugin } from '../src/index';
import { pluginsModule } from '../src/modules/plugins/module';
import { phaseRunners } from '../src/modules/plugins/order';
import { REGISTRY } from '../src/modules/registry';
import { scriptsModule } from '../src/modules/scripts/module';
import { makePrefix } from './helpers/gateway-process';

const plugin = (name: string, priority: number, extra = '') =>
  `module.exports = { name: '${name}', priority: ${priority}, ${extra} phases: { access(r, o) {}, log(r, o) {} } };`;

const prefix = makePrefix({
  'handlers/high.js': plugin('high', 1000),
  'handlers/mid.js': plugin('mid', 10),
  'handlers/zero.js': plugin('zero', 0),
  'handlers/low.js': plugin('low', -5),
  'handlers/also-mid.js': plugin('also-mid', 10),
  'handlers/keyed.js': plugin(
    'keyed',
    900,
    `schema: { type: 'object', properties: { header: { type: 'string', default: 'x-api-key' }, limit: { type: 'integer', minimum: 1 }, mode: { enum: ['strict', 'lax'] }, keys: { type: 'array', items: { type: 'string' } } }, required: ['limit'], additionalProperties: false },
     configure(o, cx) { if (o.limit > 1000) cx.error('limit is too high', 'limit'); return { ...o, configured: true }; },`,
  ),
  'handlers/badschema.js': plugin('badschema', 1, `schema: { type: 'object', properties: { a: { type: 'strnig' } } },`),
  'plugins/by-path.js': `module.exports = { name: 'by-path', priority: 5, phases: { header_filter(r) { r.setResponseHeader('x-p', '1'); } } };`,
  'handlers/noname.js': `module.exports = { priority: 1, phases: { access() {} } };`,
  'handlers/nopriority.js': `module.exports = { name: 'x', phases: { access() {} } };`,
  'handlers/typo.js': `module.exports = { name: 'typo', priority: 1, phases: { headerFilter() {} } };`,
  'handlers/nophase.js': `module.exports = { name: 'nophase', priority: 1, phases: {} };`,
  'handlers/fn.js': `module.exports = function () {};`,
  'handlers/renamed.js': plugin('high', 3),
  'scripts/s1.js': 'module.exports = { run() {} };',
  'scripts/s2.js': 'module.exports = { run() {} };',
});
const file = path.join(prefix, 'conf/t.yaml');
const build = (yaml: string) => buildConfig(parseText(yaml, file), file, prefix, REGISTRY);
const inLocation = (lines: string) => `http:\n  servers:\n    - listen: 127.0.0.1:0\n      locations:\n        - location: /\n${lines.replace(/^/gm, '          ')}\n          return: 200\n`;

describe('definePlugin', () => {
  test('gives the plugin back, typed', () => {
    const p = definePlugin<{ n: number }>({ name: 'p', priority: 1, configure: () => ({ n: 1 }), phases: { access: (_r, o) => void o.n } });
    expect(p.name).toBe('p');
  });
});

describe('plugins: inheritance (Kong: per plugin name)', () => {
  const conf = build(`
http:
  plugins:
    keyed: { limit: 5 }
    mid:
  servers:
    - listen: 127.0.0.1:0
      plugins:
        keyed: { limit: 7 }
      locations:
        - location: /a
          return: 200
        - location: /b
          plugins:
            mid: off
            high:
          return: 200
    - listen: 127.0.0.1:0
      locations:
        - location: /c
          plugins:
            low: {}
          return: 200
`);
  const at = (server: number, location: string) => {
    const loc = conf.http.servers[server].locations.find((l) => l.name === location);
    return loc!.confs.get(pluginsModule).plugins.map((p) => `${p.name}${p.name === 'keyed' ? `=${(p.use().options as { limit: number }).limit}` : ''}`).sort();
  };

  test('a server that configures a plugin replaces that one; the others inherit', () => {
    expect(at(0, '/a')).toEqual(['keyed=7', 'mid']);
  });
  test('a location adds one and switches one off; the rest inherits', () => {
    expect(at(0, '/b')).toEqual(['high', 'keyed=7']);
  });
  test("another server keeps http's plugins beside its location's own", () => {
    expect(at(1, '/c')).toEqual(['keyed=5', 'low', 'mid']);
  });
});

describe('plugins: the order of a phase', () => {
  test('priority, higher first, ties by name; the *_by scripts at 0, after the plugins of priority 0', () => {
    const conf = build(inLocation('plugins: { low: , zero: , mid: , high: , also-mid: , keyed: { limit: 1 } }\naccess_by: [scripts/s2.js, scripts/s1.js]\nlog_by: scripts/s1.js'));
    const location = conf.http.servers[0].locations.find((l) => l.confs.get(pluginsModule).plugins.length > 0)!;
    const { plugins } = location.confs.get(pluginsModule);
    const scripts = location.confs.get(scriptsModule);
    const names = (phase: 'access' | 'log' | 'header_filter', list: typeof scripts.accessBy) => phaseRunners(list, plugins, phase).map((s) => s.name);
    expect(names('access', scripts.accessBy)).toEqual(['high', 'keyed', 'also-mid', 'mid', 'zero', 'scripts/s2.js', 'scripts/s1.js', 'low']);
    expect(names('log', scripts.logBy)).toEqual(['high', 'keyed', 'also-mid', 'mid', 'zero', 'scripts/s1.js', 'low']);
    // A phase no plugin has: the scripts alone (the same list).
    expect(phaseRunners(scripts.accessBy, plugins, 'header_filter')).toBe(scripts.accessBy);
  });
});

describe('plugins: options against the schema, at load', () => {
  const options = (yaml: string) => {
    const conf = build(inLocation(yaml));
    const location = conf.http.servers[0].locations.find((l) => l.confs.get(pluginsModule).plugins.length > 0)!;
    return location.confs.get(pluginsModule).plugins[0].use().options;
  };
  test('defaults filled, then configure', () => {
    expect(options('plugins:\n  keyed: { limit: 3 }')).toEqual({ header: 'x-api-key', limit: 3, configured: true });
  });
  test('a plugin by path, without options', () => {
    expect(options('plugins:\n  plugins/by-path.js:')).toEqual({});
  });

  // Each line is the location's block; the error is at [line, column] of t.yaml.
  test.each([
    ['a wrong type, at the value', 'plugins:\n  keyed: { limit: "many" }', /plugin "keyed": option "limit" must be integer in .*t\.yaml:7:29$/],
    ['below the minimum', 'plugins:\n  keyed: { limit: 0 }', /option "limit" must be >= 1 in .*t\.yaml:7:29$/],
    ['an option the schema does not know, at its key', 'plugins:\n  keyed:\n    limit: 1\n    colour: red', /options must NOT have additional properties: "colour" in .*t\.yaml:9:15$/],
    ['a required option missing, at the options', 'plugins:\n  keyed: { mode: lax }', /options must have required property 'limit' in .*t\.yaml:7:20$/],
    ['an enum', 'plugins:\n  keyed: { limit: 1, mode: loose }', /option "mode" must be equal to one of the allowed values \("strict", "lax"\) in .*t\.yaml:7:38$/],
    ['an item of a list', 'plugins:\n  keyed:\n    limit: 1\n    keys: [a, 2]', /option "keys\/1" must be string in .*t\.yaml:9:25$/],
    ['configure refusing, at the key', 'plugins:\n  keyed: { limit: 5000 }', /plugin "keyed": limit is too high in .*t\.yaml:7:29$/],
    ['no options where the schema needs some', 'plugins:\n  keyed:', /options must have required property 'limit' in .*t\.yaml:7:13$/],
    ['options that are no map', 'plugins:\n  keyed: [1]', /the options of plugin "keyed" must be a map \(or off\) in .*t\.yaml:7:20$/],
    ['a schema Ajv refuses', 'plugins:\n  badschema:', /plugin "badschema" has a schema Ajv refuses: schema is invalid: data\/properties\/a\/type must be equal to one of the allowed values.* in .*t\.yaml:7:13$/],
    ['a module that is not found', 'plugins:\n  nope:', /plugin "nope" not found \(no module in ".*handlers" or at that path\) in .*t\.yaml:7:13$/],
    ['no name', 'plugins:\n  noname:', /plugin "noname" has no "name"/],
    ['no priority', 'plugins:\n  nopriority:', /plugin "nopriority" has no numeric "priority"/],
    ['a phase name that is not one', 'plugins:\n  typo:', /plugin "typo" has an unknown phase "headerFilter" \(it takes rewrite, access, header_filter, body_filter, log\)/],
    ['no phase', 'plugins:\n  nophase:', /plugin "nophase" has no phase to run in/],
    ['a bare function', 'plugins:\n  fn:', /plugin "fn" has no "name"/],
    ['one plugin twice in a block (by another module of the same name)', 'plugins:\n  high:\n  renamed:', /plugin "high" is configured twice in one block \(first at line 7\) in .*t\.yaml:8:13$/],
    ['a list instead of a map', 'plugins: [high]', /"plugins" takes a map of plugin names/],
  ])('%s', (_what, yaml, reason) => {
    expect(() => build(inLocation(yaml))).toThrow(reason);
  });
});
