/**
 * Run as a process (`node --import tsx test/helpers/round-trip.ts FILE`): the round trip of
 * one configuration file through `convert` (to the other syntax and back), printed as JSON:
 * the built configuration of the original, of the converted text and of the text converted
 * back (as comparable data, or why it does not build), and the trees' shapes. In a process
 * because building loads the site's TypeScript handlers, which jest's module system cannot.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { buildConfig } from '../../src/config/build';
import { convertTree } from '../../src/config/convert';
import { parseText, type ConfNode, type MapNode } from '../../src/config/load';
import { parseNginxText } from '../../src/config/nginx/read';
import { readConfigFile, syntaxOf, type Syntax } from '../../src/config/read';
import { ConfigError } from '../../src/errors';
import { REGISTRY } from '../../src/modules/registry';
import { comparableConf } from './comparable-conf';

/** What the round trip of one file gives. */
export interface RoundTrip {
  /** The configuration's YAML-only value nginx's syntax cannot write (convert's one line), if any. */
  readonly refused?: string;
  /** Why the file does not read at all (a template with placeholders), if it does not. */
  readonly unreadable?: string;
  /** The file is a site, read as nginx reads a site: included in the `http` block of a main file. */
  readonly site?: boolean;
  readonly original?: unknown;
  readonly converted?: unknown;
  readonly back?: unknown;
  /** The trees of the nginx-syntax side and of the same read back from YAML. */
  readonly nginxShape?: unknown;
  readonly backShape?: unknown;
}

const parse = (text: string, syntax: Syntax, file: string): MapNode => (syntax === 'nginx' ? parseNginxText(text, file) : (parseText(text, file) as MapNode));
const shape = (node: ConfNode): unknown =>
  node.kind === 'scalar' ? node.value : node.kind === 'seq' ? node.items.map(shape) : node.entries.map((e) => [e.key, shape(e.value)]);

function built(tree: MapNode, file: string, prefix: string): unknown {
  try {
    return comparableConf(buildConfig(tree, file, prefix, REGISTRY));
  } catch (err) {
    if (err instanceof ConfigError) return { refused: err.reason };
    throw err;
  }
}

/** A site (what goes in sites-enabled/): `server`, `upstream`, `map` at its top. */
const SITE = /^"(server|upstream|map)" directive is not allowed here/;

/** Reads `file` as the configuration, or a site of nginx's syntax as its main file would include it. */
function readOriginal(file: string): { tree: MapNode; site: boolean; main: string } {
  try {
    return { tree: readConfigFile(file) as MapNode, site: false, main: file };
  } catch (err) {
    if (!(err instanceof ConfigError) || !SITE.test(err.reason)) throw err;
    const main = path.join(path.dirname(file), '.round-trip-main.conf');
    const types = existsSync(path.join(path.dirname(file), 'mime.types')) ? '    include mime.types;\n' : '';
    return { tree: parseNginxText(`events {}\nhttp {\n${types}    include ${path.basename(file)};\n}\n`, main), site: true, main };
  }
}

export function roundTrip(name: string, prefix: string): RoundTrip {
  const from = syntaxOf(name, readFileSync(name, 'utf8'));
  const to: Syntax = from === 'nginx' ? 'yaml' : 'nginx';
  let read: ReturnType<typeof readOriginal>;
  try {
    read = readOriginal(name);
  } catch (err) {
    if (err instanceof ConfigError) return { unreadable: err.message };
    throw err;
  }
  const { tree: original, site, main: file } = read;
  let there: string;
  try {
    there = convertTree(original, to, REGISTRY).text;
  } catch (err) {
    if (err instanceof ConfigError) return { refused: err.message };
    throw err;
  }
  const converted = parse(there, to, `${file}.converted`);
  const back = parse(convertTree(converted, from, REGISTRY).text, from, `${file}.back`);
  return {
    site,
    original: built(original, file, prefix),
    converted: built(converted, file, prefix),
    back: built(back, file, prefix),
    nginxShape: shape(from === 'nginx' ? original : converted),
    backShape: shape(from === 'nginx' ? back : parse(convertTree(back, 'nginx', REGISTRY).text, 'nginx', `${file}.again`)),
  };
}

if (require.main === module) {
  const [file, prefix] = process.argv.slice(2);
  process.stdout.write(JSON.stringify(roundTrip(path.resolve(file), path.resolve(prefix ?? '.'))));
}
