/**
 * YAML text -> a located tree: every map, list and scalar keeps the file, line and column it
 * came from, so every later error can point at it. `include` is resolved here. The only
 * importer of `yaml`.
 */
import path from 'node:path';
import { LineCounter, parseDocument, isAlias, isMap, isScalar, isSeq, type Node as YamlNode, type Document } from 'yaml';
import { ConfigError, type Position } from '../errors';
import { ConfigSources } from './sources';

export type Scalar = string | number | boolean | null;

export interface ScalarNode {
  readonly kind: 'scalar';
  readonly value: Scalar;
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

/** Reads and parses one YAML file into a located tree, resolving `include` keys. */
export function loadFile(file: string, sources: ConfigSources = new ConfigSources(), seen: readonly string[] = []): ConfNode {
  const absolute = path.resolve(file);
  if (seen.includes(absolute)) throw new ConfigError(`include cycle through "${file}"`);
  let text: string;
  try {
    text = sources.readFile(absolute);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(`open() "${absolute}" failed (${e.code ?? e.message})`);
  }
  return parseText(text, absolute, [...seen, absolute], sources);
}

/** Parses YAML text as if read from `file` (used by tests and `loadFile`). */
export function parseText(text: string, file: string, seen: readonly string[] = [file], sources: ConfigSources = new ConfigSources()): ConfNode {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    const { line, col } = lineCounter.linePos(first.pos[0]);
    const reason = first.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new ConfigError(`invalid YAML: ${reason}`, { file, line, col });
  }
  const convert = new Converter(doc, lineCounter, file, seen, sources);
  if (!doc.contents) return { kind: 'map', entries: [], pos: { file, line: 1, col: 1 } };
  return convert.node(doc.contents as YamlNode);
}

class Converter {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
    private readonly file: string,
    private readonly seen: readonly string[],
    private readonly sources: ConfigSources,
  ) {}

  private pos(node: YamlNode | null | undefined): Position {
    const offset = node?.range?.[0] ?? 0;
    const { line, col } = this.lines.linePos(offset);
    return { file: this.file, line, col };
  }

  node(node: YamlNode): ConfNode {
    if (isAlias(node)) return this.node(node.resolve(this.doc) as YamlNode);
    if (isMap(node)) return this.map(node.items, this.pos(node));
    if (isSeq(node)) return this.seq(node.items as YamlNode[], this.pos(node));
    if (isScalar(node)) return { kind: 'scalar', value: scalarValue(node.value, this.pos(node)), pos: this.pos(node) };
    throw new ConfigError('unsupported YAML node', this.pos(node));
  }

  private map(items: { key: unknown; value: unknown }[], pos: Position): MapNode {
    const entries: Entry[] = [];
    for (const item of items) {
      const keyNode = item.key as YamlNode;
      const keyPos = this.pos(keyNode);
      if (!isScalar(keyNode) || typeof keyNode.value !== 'string') {
        throw new ConfigError('a directive name must be a plain string', keyPos);
      }
      const valueNode = item.value as YamlNode | null;
      const value: ConfNode = valueNode
        ? this.node(valueNode)
        : { kind: 'scalar', value: null, pos: keyPos };
      if (keyNode.value === 'include') entries.push(...this.includeEntries(value));
      else entries.push({ key: keyNode.value, keyPos, value });
    }
    return { kind: 'map', entries, pos };
  }

  private seq(items: YamlNode[], pos: Position): SeqNode {
    const out: ConfNode[] = [];
    for (const item of items) {
      // A list item that is only `include: file` splices the included file's list here.
      if (isMap(item) && item.items.length === 1 && (item.items[0].key as { value?: unknown })?.value === 'include') {
        const includeValue = this.node(item.items[0].value as YamlNode);
        for (const included of this.includedTrees(includeValue)) {
          if (included.kind === 'seq') out.push(...included.items);
          else out.push(included);
        }
        continue;
      }
      out.push(this.node(item));
    }
    return { kind: 'seq', items: out, pos };
  }

  /** The entries an `include` brings into the map where it stands. */
  private includeEntries(value: ConfNode): Entry[] {
    const entries: Entry[] = [];
    for (const tree of this.includedTrees(value)) {
      if (tree.kind !== 'map') throw new ConfigError('an included file must hold a map of directives', tree.pos);
      entries.push(...tree.entries);
    }
    return entries;
  }

  private includedTrees(value: ConfNode): ConfNode[] {
    const names = value.kind === 'seq' ? value.items : [value];
    const trees: ConfNode[] = [];
    for (const name of names) {
      if (name.kind !== 'scalar' || typeof name.value !== 'string' || !name.value) {
        throw new ConfigError('"include" takes a file name or a list of them', name.pos);
      }
      for (const file of expandInclude(path.resolve(path.dirname(this.file), name.value), name.pos, this.sources)) {
        trees.push(loadFile(file, this.sources, this.seen));
      }
    }
    return trees;
  }
}

/** Files an include names: the file itself, or the sorted matches of a `*` in its last part. */
function expandInclude(pattern: string, pos: Position, sources: ConfigSources): string[] {
  const base = path.basename(pattern);
  if (!base.includes('*')) return [pattern];
  const dir = path.dirname(pattern);
  const re = new RegExp(`^${base.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  try {
    return sources
      .readDir(dir)
      .filter((f) => re.test(f))
      .sort()
      .map((f) => path.join(dir, f));
  } catch {
    throw new ConfigError(`include directory "${dir}" cannot be read`, pos);
  }
}

function scalarValue(value: unknown, pos: Position): Scalar {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  throw new ConfigError('unsupported YAML value', pos);
}

/** Turns a located tree into plain JavaScript values (for handler options). */
export function plainValue(node: ConfNode): unknown {
  if (node.kind === 'scalar') return node.value;
  if (node.kind === 'seq') return node.items.map(plainValue);
  return Object.fromEntries(node.entries.map((e) => [e.key, plainValue(e.value)]));
}
