/**
 * The rewrite module's configuration: nginx's refusals (each checked with `nginx -t` 1.22, same
 * wording, one line at file:line:column), and the directives kept in the order written across
 * keys, including the same key repeated (a hand-built located tree, as the nginx.conf reader
 * makes it).
 */
import { buildConfig } from '../src/config/build';
import type { ConfNode, Entry, MapNode } from '../src/config/load';
import type { Position } from '../src/errors';
import { rewriteModule } from '../src/modules/rewrite/module';
import type { Op } from '../src/modules/rewrite/script';
import { REGISTRY } from '../src/modules/registry';
import { buildVirtual, configErrorOf, VIRTUAL_FILE } from './helpers/virtual-config';

/** A location holding `lines` (YAML), at line 5 of the file. */
const inLocation = (lines: string) => `http:\n  servers:\n    - locations:\n        - location: /\n${lines.replace(/^/gm, '          ')}\n`;
const inServer = (lines: string) => `http:\n  servers:\n    - listen: 80\n${lines.replace(/^/gm, '      ')}\n`;

describe('refused as nginx refuses them', () => {
  test.each([
    [inLocation('if: { condition: "$a ~" }'), 'invalid condition "$a" in /virtual/site.yaml:5:28'],
    [inLocation('if: { condition: "-q /x" }'), 'invalid condition "-q" in /virtual/site.yaml:5:28'],
    [inLocation('if: { condition: "!-f" }'), 'invalid condition "!-f" in /virtual/site.yaml:5:28'],
    [inLocation('if: { condition: "$uri =~ a" }'), 'unexpected "=~" in condition in /virtual/site.yaml:5:28'],
    [inLocation('if: { condition: "$uri = a b" }'), 'invalid condition "$uri" in /virtual/site.yaml:5:28'],
    [inLocation('if: { condition: "uri" }'), 'invalid condition "uri" in /virtual/site.yaml:5:28'],
    [inLocation('if: { condition: "$nope" }'), 'unknown "nope" variable in /virtual/site.yaml:5:28'],
    [inLocation('if: { condition: "$uri", if: { condition: "$uri" } }'), '"if" directive is not allowed here in /virtual/site.yaml:5:36'],
    [inLocation('if: { condition: "$uri", return: "1 2 3" }'), 'invalid number of arguments in "return" directive in /virtual/site.yaml:5:44'],
    [inLocation('rewrite: "^ /x foo"'), 'invalid parameter "foo" in /virtual/site.yaml:5:20'],
    [inLocation('rewrite: \'^ ""\''), 'empty replacement in /virtual/site.yaml:5:20'],
    [inLocation('rewrite: "^/a"'), 'invalid number of arguments in "rewrite" directive in /virtual/site.yaml:5:20'],
    [inLocation('set: "a b"'), 'invalid variable name "a" in /virtual/site.yaml:5:16'],
    [inLocation('set: "$uri b"'), 'the duplicate "uri" variable in /virtual/site.yaml:5:16'],
    [inLocation('rewrite: "^/(?<uri>.*) /x"'), 'the duplicate "uri" variable in /virtual/site.yaml:5:20'],
    [inLocation('set: "$host b"'), 'the duplicate "host" variable in /virtual/site.yaml:5:16'],
    [inLocation('return: "200 $nope"'), 'unknown "nope" variable in /virtual/site.yaml:5:19'],
    [inLocation('break: x'), 'invalid number of arguments in "break" directive in /virtual/site.yaml:5:18'],
    [inServer('if: { condition: "$uri", root: /x }'), '"root" directive is not allowed here in /virtual/site.yaml:4:32'],
    [inLocation('if: { condition: "$uri", try_files: "$uri =404" }'), '"try_files" directive is not allowed here in /virtual/site.yaml:5:36'],
    ['http:\n  rewrite: "^ /x"\n', '"rewrite" directive is not allowed here in /virtual/site.yaml:2:3'],
  ])('%s', (yaml, expected) => expect(configErrorOf(yaml)).toBe(expected));

  test('a regex that does not compile: one line at the directive', () => {
    expect(configErrorOf(inLocation('rewrite: "^( /x"'))).toMatch(/^invalid regex "\^\(": .* in \/virtual\/site\.yaml:5:20$/);
    expect(configErrorOf(inLocation('if: { condition: "$uri ~ (" }'))).toMatch(/^invalid regex "\(": .* in \/virtual\/site\.yaml:5:28$/);
  });
});

describe('accepted', () => {
  test('return as a YAML list: its arguments, each taken as it is (CONFIG.md)', () => {
    const conf = buildVirtual(inLocation('return: [200, "hello world\\n"]'));
    const [op] = conf.http.servers[0].locations[0].confs.get(rewriteModule).script!;
    expect(op).toMatchObject({ kind: 'return', status: 200, text: 'hello world\n' });
  });

  test('set $args, a variable set later in the file, named captures used after their regex', () => {
    const conf = buildVirtual(inLocation('set: "$args x=1"\nreturn: \'200 "$later $id $tail"\'\nif:\n  - { condition: "$uri ~ ^/(?<id>\\\\d+)", set: "$later 1" }\n  - { condition: "$uri", rewrite: "^/(?P<tail>.*) /x" }'));
    const script = conf.http.servers[0].locations[0].confs.get(rewriteModule).script!;
    expect(script.map((op) => op.kind)).toEqual(['set', 'return', 'if', 'if']);
  });

  test('a location does not inherit its server\'s directives (nginx runs those in the server-rewrite phase)', () => {
    const conf = buildVirtual('http:\n  servers:\n    - rewrite: "^/a /b"\n      locations:\n        - { location: / }\n');
    const server = conf.http.servers[0];
    expect(server.confs.get(rewriteModule).script).toHaveLength(1);
    expect(server.locations[0].confs.get(rewriteModule).script).toBeNull();
  });
});

describe('the order written, across keys and with a key repeated', () => {
  const at = (line: number, col: number): Position => ({ file: VIRTUAL_FILE, line, col });
  const scalar = (value: string, line: number, col = 10): ConfNode => ({ kind: 'scalar', value, pos: at(line, col) });
  const entry = (key: string, value: ConfNode, line: number): Entry => ({ key, keyPos: at(line, 5), value });
  const map = (entries: Entry[], line: number): MapNode => ({ kind: 'map', entries, pos: at(line, 1) });

  test('set, rewrite, set, if, rewrite, return: one script in that order', () => {
    const location = map(
      [
        entry('location', scalar('/', 4), 4),
        entry('set', scalar('$a 1', 5), 5),
        entry('rewrite', scalar('^/x /y', 6), 6),
        entry('set', scalar('$a "${a}2"', 7), 7),
        entry('if', map([entry('condition', scalar('$a = 12', 8), 8), entry('set', scalar('$b yes', 9), 9), entry('break', scalar('', 10), 10)], 8), 8),
        entry('rewrite', scalar('^/y /z last', 11), 11),
        entry('return', scalar('200 $a$b', 12), 12),
      ],
      4,
    );
    const root = map([entry('http', map([entry('servers', { kind: 'seq', items: [map([entry('locations', { kind: 'seq', items: [location], pos: at(3, 1) }, 3)], 2)], pos: at(2, 1) }, 2)], 1), 1)], 1);
    const conf = buildConfig(root, VIRTUAL_FILE, '/virtual', REGISTRY);
    const script = conf.http.servers[0].locations[0].confs.get(rewriteModule).script!;
    const shape = (ops: readonly Op[]): unknown[] =>
      ops.map((op) => (op.kind === 'set' ? `set ${op.name}` : op.kind === 'rewrite' ? `rewrite ${op.source} ${op.flag}` : op.kind === 'if' ? { if: op.text, then: shape(op.body) } : op.kind));
    expect(shape(script)).toEqual(['set a', 'rewrite ^/x null', 'set a', { if: '$a = 12', then: ['set b', 'break'] }, 'rewrite ^/y last', 'return']);
  });
});
