/**
 * Run as a process (`node --import tsx test/helpers/round-trip.ts FILE`): the round trip of
 * one configuration file through `convert` (to the other syntax and back), printed as JSON:
 * the built configuration of the original, of the converted text and of the text converted
 * back (as comparable data, or why it does not build), and the trees' shapes. In a process
 * because building loads the site's TypeScript handlers, which jest's module system cannot.
 */
import { readFileSync } from 'node:fs';
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

export function roundTrip(file: string, prefix: string): RoundTrip {
  const from = syntaxOf(file, readFileSync(file, 'utf8'));
  const to: Syntax = from === 'nginx' ? 'yaml' : 'nginx';
  const original = readConfigFile(file) as MapNode;
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
