/**
 * `gateway convert FILE`: a configuration in one syntax written in the other, nginx.conf ->
 * YAML or YAML -> nginx.conf, through the located tree both readers make (includes are read
 * in, so the result is the whole configuration in one file). Errors are the readers', as
 * `gateway -t` gives them.
 */
import path from 'node:path';
import { readOptionsOf, type Registry } from './build';
import type { MapNode } from './load';
import { writeNginx, type Repeatable } from './nginx/write';
import { readConfigFile, syntaxOf, type Syntax } from './read';
import { ConfigSources } from './sources';
import { writeYaml } from './yaml-write';
import { ConfigError } from '../errors';

/** The structural directives a block may repeat, besides the rows that say so. */
const REPEATABLE_STRUCTURAL = ['listen', 'server_name'];

/** Which directives of `registry` nginx lets a block repeat (`DirectiveRow.multiple` or `combine`). */
export function repeatableIn(registry: Registry): Repeatable {
  const names = new Set(REPEATABLE_STRUCTURAL);
  for (const module of registry.modules) {
    for (const [name, row] of Object.entries(module.directives)) if (row.multiple || row.combine) names.add(name);
  }
  return (directive) => names.has(directive);
}

/** A converted configuration: the syntax it is now written in, and its text. */
export interface Converted {
  readonly syntax: Syntax;
  readonly text: string;
}

/** Reads `file` (either syntax) and writes it in the other one. Throws a ConfigError on the first problem. */
export function convertFile(file: string, registry: Registry, sources: ConfigSources = new ConfigSources()): Converted {
  const absolute = path.resolve(file);
  const tree = readConfigFile(absolute, sources, readOptionsOf(registry));
  if (tree.kind !== 'map') throw new ConfigError('the configuration must be a map of directives', tree.pos);
  const from = syntaxOf(absolute, sources.readFile(absolute));
  return convertTree(tree, from === 'nginx' ? 'yaml' : 'nginx', registry);
}

/** Writes a tree in `to`'s syntax. */
export function convertTree(tree: MapNode, to: Syntax, registry: Registry): Converted {
  return { syntax: to, text: to === 'yaml' ? writeYaml(tree) : writeNginx(tree, repeatableIn(registry)) };
}
