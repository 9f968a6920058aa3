/**
 * Phase scripts, the pure parts and the configuration: `ngx.encode_args` / `get_uri_args`
 * encoding, how the directives inherit (a level that writes one replaces its parent's, as
 * nginx's `*_by_lua`), `{ script, options }` and lists in the order written, a module loaded
 * once for two directives, and the refusals at their file:line:column.
 */
import path from 'node:path';
import { buildConfig } from '../src/config/build';
import { parseText } from '../src/config/load';
import { REGISTRY } from '../src/modules/registry';
import { scriptsModule } from '../src/modules/scripts/module';
import { decodeArgs, encodeArgs } from '../src/modules/scripts/script-request';
import { definePhaseScript } from '../src/index';
import { makePrefix } from './helpers/gateway-process';

describe('args', () => {
  test.each([
    [{ a: 1, b: 'x y' }, 'a=1&b=x%20y'],
    [{ flag: true, off: false }, 'flag'],
    [{ list: ['1', 2] }, 'list=1&list=2'],
    ['raw=1&x', 'raw=1&x'],
    [{ 'a&b': '=' }, 'a%26b=%3D'],
  ])('encodeArgs(%j) = %s', (args, text) => {
    expect(encodeArgs(args)).toBe(text);
  });

  test.each([
    ['', {}],
    ['a=1&b=x+y&c=%2F', { a: '1', b: 'x y', c: '/' }],
    ['a=1&a=2&a', { a: ['1', '2', true] }],
    ['bad=%zz&&', { bad: '%zz' }],
  ])('decodeArgs(%j)', (query, args) => {
    expect(decodeArgs(query)).toEqual(args);
  });
});

describe('definePhaseScript', () => {
  test('a bare function is its run', () => {
    const run = () => undefined;
    expect(definePhaseScript(run)).toEqual({ run });
    const script = { run };
    expect(definePhaseScript(script)).toBe(script);
  });
});

describe('script directives in the configuration', () => {
  const prefix = makePrefix({
    'scripts/a.js': 'module.exports = { run() {} };',
    'scripts/b.js': 'let loads = (globalThis.__bLoads = (globalThis.__bLoads ?? 0) + 1); module.exports = { configure(raw) { return { ...raw, loads }; }, run() {} };',
    'scripts/filter.js': 'module.exports = { bodyFilter(c) { return c; } };',
    'handlers/named.js': 'module.exports = (r) => {};',
  });
  const build = (yaml: string) => buildConfig(parseText(yaml, path.join(prefix, 'conf/t.yaml')), path.join(prefix, 'conf/t.yaml'), prefix, REGISTRY);

  test('inherited http -> server -> location; a level that writes one replaces the parent', () => {
    const conf = build(`
http:
  access_by: scripts/a.js
  servers:
    - listen: 127.0.0.1:0
      locations:
        - location: /inherits
        - location: /own
          access_by: [scripts/b.js, { script: named, options: { x: 1 } }]
    - listen: 127.0.0.1:0
      access_by: { script: scripts/b.js, options: { k: v } }
      locations:
        - location: /
`);
    const [s1, s2] = conf.http.servers;
    const names = (list: readonly { name: string }[]) => list.map((s) => s.name);
    expect(names(s1.locations[0].confs.get(scriptsModule).accessBy)).toEqual(['scripts/a.js']);
    expect(names(s1.locations[1].confs.get(scriptsModule).accessBy)).toEqual(['scripts/b.js', 'named']);
    expect(s1.locations[1].confs.get(scriptsModule).accessBy[1].use().options).toEqual({ x: 1 });
    const b = s2.locations[0].confs.get(scriptsModule).accessBy[0].use();
    expect(b.options).toEqual({ k: 'v', loads: 1 });
    // One module for both directives: loaded once.
    expect((s1.locations[1].confs.get(scriptsModule).accessBy[0].use().options as { loads: number }).loads).toBe(1);
  });

  test('content_by makes the location its handler; script_timeout is a time', () => {
    const conf = build(`
http:
  script_timeout: 2s
  servers:
    - listen: 127.0.0.1:0
      locations:
        - location: /
          content_by: scripts/a.js
`);
    const location = conf.http.servers[0].locations[0];
    expect(location.handler).toBe('content_by');
    expect(location.confs.get(scriptsModule).scriptTimeout).toBe(2000);
  });

  test.each([
    ['a body filter without bodyFilter', 'body_filter_by: scripts/a.js', /script "scripts\/a.js" has no bodyFilter\(chunk, eof, r\) for "body_filter_by"/],
    ['an access script without run', 'access_by: scripts/filter.js', /has no run\(r\) for "access_by"/],
    ['content_by at server level', null, /"content_by" directive is not allowed here/],
    ['an unknown key', 'log_by: { script: scripts/a.js, option: {} }', /unknown key "option" in "log_by"/],
    ['options that are no map', 'log_by: { script: scripts/a.js, options: [1] }', /"options" of "log_by" must be a map/],
    ['an empty list', 'log_by: []', /"log_by" takes a script name/],
  ])('%s is refused at its line', (_what, line, reason) => {
    const yaml =
      line === null
        ? 'http:\n  servers:\n    - listen: 127.0.0.1:0\n      content_by: scripts/a.js\n'
        : `http:\n  servers:\n    - listen: 127.0.0.1:0\n      locations:\n        - location: /\n          ${line}\n`;
    expect(() => build(yaml)).toThrow(reason);
    try {
      build(yaml);
    } catch (err) {
      expect((err as { position?: unknown }).position).toBeDefined();
    }
  });
});
