/**
 * `gateway convert`: every configuration of the repository (conf/, conf/examples/, the test
 * fixtures that are configuration files) converted to the other syntax and back; both builds
 * must be the very same configuration as the original's (not only the same text). A
 * configuration whose YAML values nginx's syntax cannot hold (a script's or plugin's options)
 * is refused at that value, and the list of those is written here.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { buildConfig } from '../src/config/build';
import { convertTree } from '../src/config/convert';
import { parseText, type MapNode, type ScalarNode } from '../src/config/load';
import { quoteArgument } from '../src/config/nginx/arguments';
import { parseNginxText } from '../src/config/nginx/read';
import { readConfigFile } from '../src/config/read';
import { splitArgs } from '../src/config/values';
import { writeYaml } from '../src/config/yaml-write';
import { REGISTRY } from '../src/modules/registry';
import { comparableConf } from './helpers/comparable-conf';
import { ROOT, runCli } from './helpers/gateway-process';
import type { RoundTrip } from './helpers/round-trip';

/** Every configuration file of the repository, relative to ROOT. */
function configurations(): string[] {
  const inDir = (dir: string, pattern: RegExp) =>
    existsSync(path.join(ROOT, dir)) ? readdirSync(path.join(ROOT, dir)).filter((f) => pattern.test(f)).sort().map((f) => `${dir}/${f}`) : [];
  return [...inDir('conf', /\.(ya?ml|conf)$/), ...inDir('conf/examples', /\.(ya?ml|conf)$/), ...inDir('test/nginx-conf', /\.(ya?ml|conf)$/), ...inDir('test/realworld', /\.conf$/)];
}

/** The configurations whose YAML-only values (a script's or plugin's options) nginx's syntax cannot write. */
const YAML_ONLY: Readonly<Record<string, string>> = {
  'conf/examples/api-key-rate.yaml': 'access_by',
  'conf/examples/canary.yaml': 'balancer_by',
  'conf/examples/chat.yaml': 'options',
  'conf/examples/clock.yaml': 'options',
  'conf/examples/jwt.yaml': 'init_worker_by',
  'conf/examples/plugins.yaml': 'plugins',
  'conf/examples/rewrite-links.yaml': 'body_filter_by',
  'conf/examples/status-metrics.yaml': 'log_by',
};

/** The round trip of one file, in a process (test/helpers/round-trip.ts: building loads the site's TypeScript handlers). */
function roundTripOf(name: string): Promise<RoundTrip> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/helpers/round-trip.ts'), path.join(ROOT, name), ROOT], { cwd: ROOT, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${name}: ${stderr || err.message}`));
      else resolve(JSON.parse(stdout) as RoundTrip);
    });
  });
}

describe('the round trip of every configuration in the repository', () => {
  const files = configurations();
  test('the list holds the shipped sites, the examples and the fixtures', () => {
    expect(files).toEqual(expect.arrayContaining(['conf/site.yaml', 'conf/site.conf', 'conf/examples/hello.yaml', 'test/nginx-conf/seed-nginx.conf', 'test/nginx-conf/directives.yaml']));
    expect(files.length).toBeGreaterThanOrEqual(14);
  });

  test.each(configurations())('%s', async (name) => {
    const trip = await roundTripOf(name);
    if (YAML_ONLY[name]) {
      expect(trip.refused).toMatch(new RegExp(`^"${YAML_ONLY[name]}" holds a map: nginx's syntax has no such value; keep this configuration in YAML in ${ROOT}/${name}:\\d+:\\d+$`));
      return;
    }
    expect(trip.refused).toBeUndefined();
    // A collected real configuration may not read alone (a template's placeholders, an absolute include): test/realworld.test.ts fills those in.
    if (trip.unreadable !== undefined) {
      expect(name.startsWith('test/realworld/')).toBe(true);
      return;
    }
    // A configuration that does not build (the seed's nginx.conf uses Lua) still converts: the same
    // tree comes back, and each conversion is refused with the very same reason.
    expect(trip.backShape).toEqual(trip.nginxShape);
    expect(trip.converted).toEqual(trip.original);
    expect(trip.back).toEqual(trip.original);
  });

  test('the comparison sees a difference: one directive changed is another configuration', () => {
    const file = path.join(ROOT, 'conf/site.conf');
    const built = (tree: MapNode) => comparableConf(buildConfig(tree, file, ROOT, REGISTRY));
    const changed = parseNginxText(readFileSync(file, 'utf8').replace('gzip_min_length  1;', 'gzip_min_length  2;'), file);
    expect(built(changed)).not.toEqual(built(readConfigFile(file) as MapNode));
  });
});

describe('the writers read back what they wrote', () => {
  const TRICKY = ['on', 'off', 'true', 'False', 'null', '~', '1', '1.0', '0x1f', '.5', '-1', '- x', 'a: b', 'a:b', 'x #y', '#x', '@name', '~ \\.php$', '~* ^/(a|b)', '*.example.org',
    '= /x', '^~ /y', '', ' lead', 'trail ', '"q"', "'s'", 'a\nb', 'tab\there', '$host$request_uri', '${x}y', '{a}', '[b]', 'é 日本', '\u00a0nbsp', 'a\\b', '%x', '!x', '&x', '|', '>', '?x', ',', 'yes'];

  test.each(TRICKY)('YAML: %j as a key and as a value', (text) => {
    const tree = { kind: 'map', pos: { file: 'x', line: 1, col: 1 }, entries: [{ key: text || 'k', keyPos: { file: 'x', line: 1, col: 1 }, value: { kind: 'scalar', value: text, pos: { file: 'x', line: 1, col: 1 } } }] } as const;
    const back = parseText(writeYaml(tree as unknown as MapNode), '/virtual/x.yaml') as MapNode;
    expect([back.entries[0].key, back.entries[0].value.kind === 'scalar' && back.entries[0].value.value]).toEqual([text || 'k', text]);
  });

  test.each(TRICKY.filter((t) => !/^['"]/.test(t)))('nginx.conf: %j as one argument of a directive', (text) => {
    const tree = parseText(`http:\n  default_type: ${JSON.stringify(quoteArgument(text))}\n`, '/virtual/x.yaml') as MapNode;
    const back = parseNginxText(convertTree(tree, 'nginx', REGISTRY).text, '/virtual/x.conf');
    const value = ((back.entries[0].value as MapNode).entries[0].value as ScalarNode).value as string;
    expect(splitArgs(value)).toEqual([text]);
  });
});

describe('gateway convert', () => {
  test('an nginx.conf prints as YAML that checks, a YAML prints as nginx.conf', async () => {
    const yaml = await runCli(['convert', 'conf/site.conf']);
    expect([yaml.code, yaml.stderr]).toEqual([0, '']);
    expect(yaml.stdout).toContain('  servers:\n    - listen: "8080 so_keepalive=2s:2s:8"\n      locations:\n        - location: /s\n');
    const conf = await runCli(['convert', 'conf/site.yaml']);
    expect([conf.code, conf.stderr]).toEqual([0, '']);
    expect(conf.stdout).toContain('    server {\n        listen 8080 so_keepalive=2s:2s:8;\n        location /s {\n            handler websocket-script;\n');
  });

  test('errors as -t gives them: one line with file:line:column, exit 1', async () => {
    const missing = await runCli(['convert', 'conf/none.conf']);
    expect([missing.code, missing.stdout, missing.stderr]).toEqual([1, '', `gateway: [emerg] open() "${ROOT}/conf/none.conf" failed (ENOENT)\n`]);
    const yamlOnly = await runCli(['convert', 'conf/examples/clock.yaml']);
    expect(yamlOnly.code).toBe(1);
    expect(yamlOnly.stderr).toMatch(/^gateway: \[emerg\] "options" holds a map: nginx's syntax has no such value; keep this configuration in YAML in \S+\/conf\/examples\/clock\.yaml:\d+:\d+\n$/);
    const usage = await runCli(['convert']);
    expect([usage.code, usage.stderr]).toEqual([1, 'gateway: usage: gateway convert FILE (nginx.conf -> YAML, YAML -> nginx.conf, on stdout)\n']);
  });
});
