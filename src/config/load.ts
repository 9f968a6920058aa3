/**
 * YAML text -> a located tree: every map, list and scalar keeps the file, line and column it
 * came from, so every later error can point at it. `include` is resolved here. The only
 * importer of `yaml`.
 *
 * The reader is bounded, each bound a one-line error at the place it is passed: the size of the
 * files (`sources.ts`), how deep the tree nests, how many values it holds once YAML aliases are
 * expanded (a "billion laughs" stops here, not in memory), an alias to the node that holds it,
 * how deep includes nest and how many files they bring.
 */
import path from 'node:path';
import { CST, Lexer, LineCounter, parseDocument, isAlias, isMap, isScalar, isSeq, type Node as YamlNode } from 'yaml';
import { ConfigError, type Position } from '../errors';
import { ConfigSources, SourceError } from './sources';

export type Scalar = string | number | boolean | null;

export interface ScalarNode {
  readonly kind: 'scalar';
  readonly value: Scalar;
  /** A number's text as written (`1.0`, `007`): nginx reads arguments as text. */
  readonly source?: string;
  readonly pos: Position;
}

/** One `key: value` of a map; `keyPos` points at the key. */
export interface Entry {
  readonly key: string;
  readonly keyPos: Position;
  readonly value: ConfNode;
}

export interface MapNode {
  readonly kind: 'map';
  readonly entries: readonly Entry[];
  readonly pos: Position;
}

export interface SeqNode {
  readonly kind: 'seq';
  readonly items: readonly ConfNode[];
  readonly pos: Position;
}

export type ConfNode = ScalarNode | MapNode | SeqNode;

/** How deep the tree may nest (maps and lists in one another, across includes). */
export const MAX_DEPTH = 64;

/** How many values (maps, lists, scalars) the tree may hold, every alias expanded. */
export const MAX_VALUES = 3_000_000;

/**
 * How many YAML nodes the files may hold in all, counted before the yaml package parses them:
 * it takes some 800 bytes of memory for each, so 16 MiB of `[a,a,a,...` would need 6 GB.
 */
export const MAX_YAML_NODES = 2_000_000;

/** How deep includes may nest (a file including a file...). */
export const MAX_INCLUDE_DEPTH = 16;

/** How many files includes may bring in all. */
export const MAX_INCLUDED_FILES = 4096;

/**
 * What one reading of a configuration shares across its files: where they come from, and the
 * bounds counted so far. Each tree node's expanded size and height are kept here, so a node an
 * alias names again is counted, not walked, and never converted twice.
 */
class Reading {
  readonly sizes = new WeakMap<ConfNode, { readonly values: number; readonly height: number }>();
  includedFiles = 0;
  /** YAML nodes of the files parsed so far (an upper bound where they were not counted). */
  yamlNodes = 0;
  constructor(readonly sources: ConfigSources) {}
}

/** Reads and parses one YAML file into a located tree, resolving `include` keys. */
export function loadFile(file: string, sources: ConfigSources = new ConfigSources()): ConfNode {
  return readFile(path.resolve(file), new Reading(sources), [], 0, null);
}

/** Parses YAML text as if read from `file` (used by tests and `loadFile`). */
export function parseText(text: string, file: string, sources: ConfigSources = new ConfigSources()): ConfNode {
  return parseWithin(text, file, new Reading(sources), [file], 0);
}

/** One file of a reading: `at` is the `include` that names it (null for the main file). */
function readFile(absolute: string, reading: Reading, seen: readonly string[], depth: number, at: Position | null): ConfNode {
  const fail = (reason: string): never => {
    throw new ConfigError(reason, at ?? undefined);
  };
  if (seen.includes(absolute)) fail(`include cycle through "${absolute}"`);
  if (seen.length > MAX_INCLUDE_DEPTH) fail(`includes nest deeper than ${MAX_INCLUDE_DEPTH} files (at "${absolute}")`);
  let text = '';
  try {
    text = reading.sources.readFile(absolute);
  } catch (err) {
    if (err instanceof SourceError) fail(err.message);
    const e = err as NodeJS.ErrnoException;
    fail(`open() "${absolute}" failed (${e.code ?? e.message})`);
  }
  return parseWithin(text, absolute, reading, [...seen, absolute], depth);
}

function parseWithin(text: string, file: string, reading: Reading, seen: readonly string[], depth: number): ConfNode {
  reading.yamlNodes += yamlNodesWithin(text, file, MAX_YAML_NODES - reading.yamlNodes);
  const lineCounter = new LineCounter();
  // A key may repeat: a block is nginx's ordered list of directives, and the builder tells a
  // further occurrence from a duplicate (the yaml package's own check is quadratic anyway).
  const doc = parseDocument(text, { lineCounter, uniqueKeys: false, prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    const { line, col } = lineCounter.linePos(first.pos[0]);
    const reason = first.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigError(`invalid YAML: ${reason}`, { file, line, col });
  }
  const converter = new Converter(lineCounter, file, seen, reading);
  // A file of comments only is an empty map (where a list item includes it, an empty block).
  if (!doc.contents) return converter.emptyMap();
  return converter.node(doc.contents as YamlNode, depth);
}

/** Lexer tokens that start a YAML node; a block map starts with its first key, a scalar. */
const NODE_TOKENS: ReadonlySet<string> = new Set([
  'scalar', 'single-quoted-scalar', 'double-quoted-scalar', 'block-scalar-header', 'alias',
  'flow-map-start', 'flow-seq-start', 'seq-item-ind', 'explicit-key-ind',
]);

/** Lexer tokens that stand for no text of the source. */
const MARKERS: ReadonlySet<string> = new Set([CST.DOCUMENT, CST.FLOW_END, CST.SCALAR]);

/**
 * The YAML nodes in `text`, at most `budget`, else a one-line error where the budget runs out.
 * A node takes at least two characters (`a,`), so a text shorter than twice the budget is not
 * lexed, and counts as half its length.
 */
function yamlNodesWithin(text: string, file: string, budget: number): number {
  if (text.length / 2 <= budget) return Math.ceil(text.length / 2);
  let count = 0;
  let offset = 0;
  for (const token of new Lexer().lex(text)) {
    if (NODE_TOKENS.has(CST.tokenType(token) ?? '') && ++count > budget) {
      const before = text.slice(0, offset);
      const line = before.split('\n').length;
      const col = offset - before.lastIndexOf('\n');
      throw new ConfigError(`the configuration holds more than ${MAX_YAML_NODES} YAML values`, { file, line, col });
    }
    if (!MARKERS.has(token)) offset += token.length;
  }
  return count;
}

/** An anchor seen so far in a document: its node once converted, or null while it is. */
interface Anchor {
  converted: ConfNode | null;
}

class Converter {
  /** Anchors by name, the latest definition of each (YAML's rule), in document order. */
  private readonly anchors = new Map<string, Anchor>();

  constructor(
    private readonly lines: LineCounter,
    private readonly file: string,
    private readonly seen: readonly string[],
    private readonly reading: Reading,
  ) {}

  private pos(node: YamlNode | null | undefined): Position {
    const offset = node?.range?.[0] ?? 0;
    const { line, col } = this.lines.linePos(offset);
    return { file: this.file, line, col };
  }

  /** An empty map at the file's start, counted as every node is. */
  emptyMap(): MapNode {
    const pos = { file: this.file, line: 1, col: 1 };
    return this.sized({ kind: 'map', entries: [], pos }, pos);
  }

  /** Converts `node`, standing at `depth` in the whole tree. */
  node(node: YamlNode, depth: number): ConfNode {
    if (depth >= MAX_DEPTH) throw new ConfigError(`the configuration nests deeper than ${MAX_DEPTH} levels`, this.pos(node));
    if (isAlias(node)) return this.alias(node.source, node, depth);
    const anchor: Anchor | null = node.anchor ? { converted: null } : null;
    if (anchor) this.anchors.set(node.anchor!, anchor);
    const converted = this.convert(node, depth);
    if (anchor) anchor.converted = converted;
    return converted;
  }

  /** An alias: the node its anchor names, converted once, shared, and counted where it is used again. */
  private alias(name: string, node: YamlNode, depth: number): ConfNode {
    const anchor = this.anchors.get(name);
    if (!anchor) throw new ConfigError(`alias "*${name}" names no anchor before it`, this.pos(node));
    if (!anchor.converted) throw new ConfigError(`alias "*${name}" refers to a value that contains it`, this.pos(node));
    const size = this.reading.sizes.get(anchor.converted)!;
    if (depth + size.height > MAX_DEPTH) throw new ConfigError(`the configuration nests deeper than ${MAX_DEPTH} levels (through alias "*${name}")`, this.pos(node));
    return anchor.converted;
  }

  private convert(node: YamlNode, depth: number): ConfNode {
    const pos = this.pos(node);
    if (isMap(node)) return this.sized(this.map(node.items, pos, depth), pos);
    if (isSeq(node)) return this.sized(this.seq(node.items as YamlNode[], pos, depth), pos);
    if (isScalar(node)) {
      const value = scalarValue(node.value, pos);
      const source = typeof value === 'number' && typeof node.source === 'string' ? node.source : undefined;
      return this.sized(source === undefined ? { kind: 'scalar', value, pos } : { kind: 'scalar', value, source, pos }, pos);
    }
    throw new ConfigError('unsupported YAML node', pos);
  }

  /** Records a new node's expanded size and height; refuses a tree that grows past MAX_VALUES. */
  private sized<T extends ConfNode>(node: T, pos: Position): T {
    let values = 1;
    let height = 1;
    const children = node.kind === 'map' ? node.entries.map((e) => e.value) : node.kind === 'seq' ? node.items : [];
    for (const child of children) {
      const size = this.reading.sizes.get(child)!;
      values += size.values;
      height = Math.max(height, size.height + 1);
    }
    if (values > MAX_VALUES) {
      throw new ConfigError(`the configuration holds more than ${MAX_VALUES} values (YAML aliases expanded)`, pos);
    }
    this.reading.sizes.set(node, { values, height });
    return node;
  }

  private map(items: { key: unknown; value: unknown }[], pos: Position, depth: number): MapNode {
    const entries: Entry[] = [];
    for (const item of items) {
      const keyNode = item.key as YamlNode;
      const keyPos = this.pos(keyNode);
      if (!isScalar(keyNode) || typeof keyNode.value !== 'string') {
        throw new ConfigError('a directive name must be a plain string', keyPos);
      }
      const valueNode = item.value as YamlNode | null;
      const value: ConfNode = valueNode ? this.node(valueNode, depth + 1) : this.sized({ kind: 'scalar', value: null, pos: keyPos }, keyPos);
      if (keyNode.value === 'include') {
        for (const tree of this.includedTrees(value, depth)) {
          if (tree.kind !== 'map') throw new ConfigError('an included file must hold a map of directives', tree.pos);
          for (const entry of tree.entries) entries.push(entry);
        }
      } else entries.push({ key: keyNode.value, keyPos, value });
    }
    return { kind: 'map', entries, pos };
  }

  private seq(items: YamlNode[], pos: Position, depth: number): SeqNode {
    const out: ConfNode[] = [];
    for (const item of items) {
      // A list item that is only `include: file` splices the included file's list here.
      if (isMap(item) && item.items.length === 1 && (item.items[0].key as { value?: unknown })?.value === 'include') {
        const includeValue = this.node(item.items[0].value as YamlNode, depth + 2);
        for (const included of this.includedTrees(includeValue, depth)) {
          if (included.kind !== 'seq') out.push(included);
          else for (const one of included.items) out.push(one);
        }
        continue;
      }
      out.push(this.node(item, depth + 1));
    }
    return { kind: 'seq', items: out, pos };
  }

  /** The trees of the files an `include` value names, read at `depth`. */
  private includedTrees(value: ConfNode, depth: number): ConfNode[] {
    const names = value.kind === 'seq' ? value.items : [value];
    const trees: ConfNode[] = [];
    for (const name of names) {
      if (name.kind !== 'scalar' || typeof name.value !== 'string' || !name.value) {
        throw new ConfigError('"include" takes a file name or a list of them', name.pos);
      }
      for (const file of expandInclude(path.resolve(path.dirname(this.file), name.value), name.pos, this.reading.sources)) {
        if (++this.reading.includedFiles > MAX_INCLUDED_FILES) throw new ConfigError(`includes bring more than ${MAX_INCLUDED_FILES} files`, name.pos);
        trees.push(readFile(file, this.reading, this.seen, depth, name.pos));
      }
    }
    return trees;
  }
}

/** Files an include names: the file itself, or the sorted matches of `*` in its last part. */
function expandInclude(pattern: string, pos: Position, sources: ConfigSources): string[] {
  const base = path.basename(pattern);
  if (!base.includes('*')) return [pattern];
  const dir = path.dirname(pattern);
  let names: string[];
  try {
    names = sources.readDir(dir);
  } catch {
    throw new ConfigError(`include directory "${dir}" cannot be read`, pos);
  }
  return names
    .filter((f) => matchesGlob(f, base))
    .sort()
    .map((f) => path.join(dir, f));
}

/**
 * Whether `name` matches `pattern`, where `*` stands for any run of characters and `?` for one, as glob(3)
 * reads it (a leading dot is matched only by a leading dot). Linear in practice, never worse
 * than name x pattern: one backtrack point, the last `*` (a regex of many `.*` could take
 * exponential time on a long name).
 */
export function matchesGlob(name: string, pattern: string): boolean {
  if (name.startsWith('.') && !pattern.startsWith('.')) return false;
  let n = 0;
  let p = 0;
  let star = -1;
  let resume = 0;
  while (n < name.length) {
    if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      resume = n;
    } else if (p < pattern.length && (pattern[p] === name[n] || pattern[p] === '?')) {
      p++;
      n++;
    } else if (star >= 0) {
      p = star + 1;
      n = ++resume;
    } else return false;
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

function scalarValue(value: unknown, pos: Position): Scalar {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  throw new ConfigError('unsupported YAML value', pos);
}

/** Turns a located tree into plain JavaScript values (for handler options); a key written twice in one map is refused. */
export function plainValue(node: ConfNode): unknown {
  if (node.kind === 'scalar') return node.value;
  if (node.kind === 'seq') return node.items.map(plainValue);
  const plain: Record<string, unknown> = {};
  for (const e of node.entries) {
    if (Object.hasOwn(plain, e.key)) throw new ConfigError(`duplicate key "${e.key}"`, e.keyPos);
    plain[e.key] = plainValue(e.value);
  }
  return plain;
}
