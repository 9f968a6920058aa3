/**
 * Nested locations at load and in the location table: nginx's refusals (each at the nested
 * location's argument), inheritance from the enclosing location, the table's order (the
 * enclosing prefix's nested ones first, `^~` per level, a regex's nested ones), and `-T`.
 */
import path from 'node:path';
import { buildConfig } from '../src/config/build';
import { parseText } from '../src/config/load';
import type { LocationConf, MainConf } from '../src/config/model';
import { coreModule } from '../src/modules/core/module';
import { REGISTRY } from '../src/modules/registry';
import { LocationTable } from '../src/server/router';
import { makePrefix, runCli } from './helpers/gateway-process';

function conf(locations: string): MainConf {
  const file = '/virtual/test.yaml';
  const yaml = `pid: "off"\nhttp:\n  servers:\n    - listen: 127.0.0.1:0\n      locations:\n${locations}`;
  return buildConfig(parseText(yaml, file), file, '/virtual', REGISTRY);
}

describe('nested locations: refusals, as nginx words them', () => {
  test.each([
    ['inside an exact location', '        - location: = /a\n          locations:\n            - location: /a/b\n', 'location "/a/b" cannot be inside the exact location "/a" in /virtual/test.yaml:8:25'],
    ['inside a named location', '        - location: "@n"\n          locations:\n            - location: /a/b\n', 'location "/a/b" cannot be inside the named location "@n" in /virtual/test.yaml:8:25'],
    ['a named location below the server', '        - location: /a\n          locations:\n            - location: "@n"\n', 'named location "@n" can be on the server level only in /virtual/test.yaml:8:25'],
    ['outside its prefix', '        - location: ^~ /a\n          locations:\n            - location: = /b\n', 'location "/b" is outside location "/a" in /virtual/test.yaml:8:25'],
    ['outside a regex, as nginx compares the text', '        - location: ~ ^/a\n          locations:\n            - location: /b\n', 'location "/b" is outside location "^/a" in /virtual/test.yaml:8:25'],
    ['two alike at one level', '        - location: /a\n          locations:\n            - location: /a/b\n            - location: /a/b\n', 'duplicate location "/a/b" in /virtual/test.yaml:9:15'],
  ])('%s', (_, locations, message) => {
    expect(() => conf(locations)).toThrow(message);
  });

  test('the same path at two levels is not a duplicate', () => {
    expect(conf('        - location: /a\n          locations:\n            - location: /a\n').http.servers[0].locations[0].locations).toHaveLength(1);
  });
});

describe('nested locations: inheritance and order', () => {
  const server = conf(`        - location: /a/
          root: /srv/a
          locations:
            - { location: /a/b/, return: "200 a-b", locations: [ { location: "~ \\\\.txt$", return: "200 a-b-txt" } ] }
            - { location: "~ \\\\.php$", root: /srv/php }
        - location: ^~ /n/
          locations:
            - { location: "~ (x)\\\\.php$", return: "200 n-php" }
        - { location: "~ \\\\.(php|md)$", return: "200 php" }
        - location: "~ ^/r/(\\\\w+)"
          locations:
            - { location: "~ /in$", return: "200 r-in" }
`).http.servers[0];
  const table = new LocationTable(server.locations, (l: LocationConf) => l.locations);

  test("a nested location inherits the enclosing one's settings, its own win", () => {
    const [a] = server.locations;
    expect(a.locations[0].confs.get(coreModule).root).toBe('/srv/a');
    expect(a.locations[1].confs.get(coreModule).root).toBe('/srv/php');
  });

  test.each([
    ['/a/z', '/a/'],
    ['/a/b/c', '/a/b/'],
    ['/a/b/c.txt', '~ \\.txt$'],
    ['/a/b/c.php', '~ \\.php$'],
    ['/n/x.php', '~ (x)\\.php$'],
    ['/n/y.md', '^~ /n/'],
    ['/y.md', '~ \\.(php|md)$'],
    ['/r/abc/in', '~ /in$'],
  ])('%s -> %s', (uri, name) => {
    expect(table.match(uri)?.location.name).toBe(name);
  });

  test('captures: those of the regex that matched last, a prefix match has none', () => {
    expect(table.match('/n/x.php')).toMatchObject({ regex: true, captures: ['x.php', 'x'] });
    expect(table.match('/r/abc/in')).toMatchObject({ regex: true, captures: ['/in'] });
    expect(table.match('/a/b/c')).toMatchObject({ regex: false, captures: [] });
  });

  test('gateway -T lists a nested location after the one it is in', async () => {
    const prefix = makePrefix({
      'site.yaml': 'pid: "off"\nhttp:\n  servers:\n    - listen: 127.0.0.1:0\n      locations:\n        - location: /a/\n          locations:\n            - { location: /a/b/, return: "200 x" }\n        - { location: /c/, return: "204" }\n',
    });
    const r = await runCli(['-T', '-p', prefix, '-c', 'site.yaml']);
    expect(r.code).toBe(0);
    const shown = r.stdout.split('\n').filter((l) => l.startsWith('#   location'));
    expect(shown.map((l) => l.replace(/ \(.*$/, ''))).toEqual(['#   location /a/', '#   location /a/b/', '#   location /c/', '#   location']);
    expect(shown[1]).toContain(`${path.join(prefix, 'site.yaml')}:8`);
  });
});
