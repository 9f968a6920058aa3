/**
 * nginx.conf text -> the located tree the YAML reader makes (src/config/load.ts), so one builder
 * checks both and every error points into the file the user wrote. How nginx's blocks map onto
 * the tree (the shape CONFIG.md gives the YAML):
 *
 * - a directive -> an entry, its arguments one scalar of their text as written (`argumentsText`),
 *   '' for none; a directive written twice -> two entries, in order;
 * - `events {}`, `http {}` -> a map; each `server {}` of `http` -> an item of `servers`; each
 *   `location [mod] URI {}` -> an item of `locations` (of the server, or of the enclosing
 *   location) whose `location` key holds the match as written; `upstream NAME {}` ->
 *   `upstreams: {NAME: {...}}`, each `server` line an item of its `servers`;
 * - `types {}` -> a map of type -> extensions; `map $a $b {}` -> `map: {source, variable, ...lines}`
 *   (each line's first word as written is its key); `if (COND) {}` -> `if: {condition, ...}`;
 *   `limit_except GET POST {}` -> `limit_except: {methods: "GET POST", ...}`;
 * - `*_by_lua_block { ... }` -> a scalar of the Lua text; any other block -> a map, its
 *   arguments (if any) under `arguments`;
 * - `include` (any block, with `*` and `?` globs): the files' directives in its place, read in
 *   the same block, relative paths against the main file's directory (nginx's conf prefix).
 *
 * Bounded as the YAML reader is: nesting depth, values, include depth and count, and the
 * sizes `ConfigSources` enforces.
 */
import path from 'node:path';
import { ConfigError, type Position } from '../../errors';
import { MAX_DEPTH, MAX_INCLUDED_FILES, MAX_INCLUDE_DEPTH, MAX_VALUES, matchesGlob, type ConfNode, type Entry, type MapNode, type ScalarNode } from '../load';
import { ConfigSources, SourceError } from '../sources';
import { argumentsText } from './arguments';
import { Lexer, type Statement, type Word } from './tokens';

/** What a block's lines are read as. */
type BlockKind = 'main' | 'events' | 'http' | 'server' | 'location' | 'if' | 'limit_except' | 'upstream' | 'types' | 'map' | 'other';

/** Block directives the tree knows, the blocks they may open in, and what their lines are. */
const BLOCKS: Readonly<Record<string, { readonly in: readonly BlockKind[]; readonly kind: BlockKind; readonly args: readonly [number, number] }>> = {
  events: { in: ['main'], kind: 'events', args: [0, 0] },
  http: { in: ['main'], kind: 'http', args: [0, 0] },
  server: { in: ['http'], kind: 'server', args: [0, 0] },
  upstream: { in: ['http'], kind: 'upstream', args: [1, 1] },
  map: { in: ['http'], kind: 'map', args: [2, 2] },
  types: { in: ['http', 'server', 'location'], kind: 'types', args: [0, 0] },
  location: { in: ['server', 'location'], kind: 'location', args: [1, 2] },
  if: { in: ['server', 'location'], kind: 'if', args: [1, Infinity] },
  limit_except: { in: ['location'], kind: 'limit_except', args: [1, Infinity] },
};

const isLuaBlock = (name: string) => name.endsWith('_by_lua_block');

/** nginx's block directives the tree has no place of their own for: a map under their name (`geo $a {}`). */
const OTHER_NGINX_BLOCKS: ReadonlySet<string> = new Set(['geo', 'split_clients', 'charset_map', 'match', 'stream', 'mail']);

/** What the reader may know of the directives. */
export interface ReadOptions {
  /**
   * Whether a directive is known to take arguments, not a block: `NAME ... {` is then nginx's
   * `directive "NAME" is not terminated by ";"` as soon as its `{` is read, as nginx checks it
   * (a `{` inside an unquoted argument, `ssl_certificate /live/{domain}/a.pem;`, opens a block).
   */
  readonly takesArguments?: (name: string) => boolean;
}

/** What one reading shares across its files: the sources, the bounds counted so far. */
class NginxReading {
  values = 0;
  includedFiles = 0;
  constructor(
    readonly sources: ConfigSources,
    /** nginx's conf prefix: the main file's directory, what relative includes resolve against. */
    readonly confDir: string,
    readonly options: ReadOptions,
  ) {}
}

/** A block being read: its entries in order, `servers`/`locations` lists growing as blocks come. */
class Block {
  readonly entries: Entry[] = [];
  private readonly lists = new Map<string, ConfNode[]>();
  private upstreams: Entry[] | null = null;
  private readonly upstreamNames = new Set<string>();

  constructor(
    readonly kind: BlockKind,
    readonly pos: Position,
    /** How deep this block's map stands in the tree. */
    readonly depth: number,
  ) {}

  /** Adds `item` to the list under `key` (the list's entry is made, where it first appears). */
  addItem(key: string, item: ConfNode, at: Position): void {
    let items = this.lists.get(key);
    if (!items) {
      items = [];
      this.lists.set(key, items);
      this.entries.push({ key, keyPos: at, value: { kind: 'seq', items, pos: at } });
    }
    items.push(item);
  }

  /** Adds an upstream block under `upstreams` (one map for all of the http block's upstreams). */
  addUpstream(name: Word, block: MapNode, at: Position): void {
    if (!this.upstreams) {
      this.upstreams = [];
      this.entries.push({ key: 'upstreams', keyPos: at, value: { kind: 'map', entries: this.upstreams, pos: at } });
    }
    if (this.upstreamNames.has(name.text)) throw new ConfigError(`duplicate upstream "${name.text}"`, name.pos);
    this.upstreamNames.add(name.text);
    this.upstreams.push({ key: name.text, keyPos: name.pos, value: block });
  }

  finish(): MapNode {
    return { kind: 'map', entries: this.entries, pos: this.pos };
  }
}

/** The maps made of nginx.conf blocks the tree has no place for (`geo $a {}`, `gzip on {}`). */
const OTHER_BLOCKS = new WeakSet<MapNode>();

/** Whether `node` is an nginx.conf block the tree has no place for: a directive that takes arguments, written with `{`, is nginx's `is not terminated by ";"`. */
export function isNginxBlock(node: MapNode): boolean {
  return OTHER_BLOCKS.has(node);
}

/** Reads an nginx.conf (and what it includes) into a located tree. */
export function readNginxFile(file: string, sources: ConfigSources = new ConfigSources(), options: ReadOptions = {}): MapNode {
  const absolute = path.resolve(file);
  let text: string;
  try {
    text = sources.readFile(absolute);
  } catch (err) {
    throw new ConfigError(openFailure(absolute, err));
  }
  return parseNginxText(text, absolute, sources, options);
}

/** Parses nginx.conf text as if read from `file` (tests; `readNginxFile`). */
export function parseNginxText(text: string, file: string, sources: ConfigSources = new ConfigSources(), options: ReadOptions = {}): MapNode {
  const reading = new NginxReading(sources, path.dirname(file), options);
  const root = new Block('main', { file, line: 1, col: 1 }, 0);
  new Reader(reading, new Lexer(text, file), [file]).lines(root, null);
  return root.finish();
}

function openFailure(file: string, err: unknown): string {
  if (err instanceof SourceError) return err.message;
  const e = err as NodeJS.ErrnoException;
  return `open() "${file}" failed (${e.code ?? e.message})`;
}

/** Reads one file's statements into blocks. */
class Reader {
  constructor(
    private readonly reading: NginxReading,
    private readonly lexer: Lexer,
    /** The files that include this one, and this one (for cycles and depth). */
    private readonly chain: readonly string[],
  ) {}

  private count(pos: Position): void {
    if (++this.reading.values > MAX_VALUES) throw new ConfigError(`the configuration holds more than ${MAX_VALUES} values`, pos);
  }

  private scalar(value: string, pos: Position): ScalarNode {
    this.count(pos);
    return { kind: 'scalar', value, pos };
  }

  /** Reads statements into `block` up to its `}` (`opened`: where its `{` stands) or, for a file, its end. */
  lines(block: Block, opened: Position | null): void {
    for (;;) {
      const statement = this.lexer.next();
      if (statement.kind === 'eof') {
        if (opened) throw new ConfigError('unexpected end of file, expecting "}"', opened);
        return;
      }
      if (statement.kind === 'close') {
        if (!opened) throw new ConfigError('unexpected "}"', statement.pos);
        return;
      }
      this.statement(block, statement);
    }
  }

  private statement(block: Block, statement: Extract<Statement, { kind: 'directive' | 'block' }>): void {
    const [nameWord, ...args] = statement.words;
    const name = nameWord.text;
    const source = this.lexer.source;
    const known = Object.hasOwn(BLOCKS, name) ? BLOCKS[name] : null;
    const opensBlock = statement.kind === 'block';
    if (name === 'include' && !opensBlock) {
      if (args.length !== 1) throw new ConfigError('invalid number of arguments in "include" directive', nameWord.pos);
      return this.include(block, args[0]);
    }
    // `types` and `map` lines are data: a block there is nginx's 'unexpected "{"'.
    if ((block.kind === 'types' || block.kind === 'map') && opensBlock) throw new ConfigError('unexpected "{"', statement.end);
    if (block.kind === 'types') {
      if (args.length === 0) throw new ConfigError(`invalid number of arguments in "${name}" directive`, nameWord.pos);
      this.count(nameWord.pos);
      block.entries.push({ key: name, keyPos: nameWord.pos, value: this.scalar(argumentsText(source, args), args[0].pos) });
      return;
    }
    if (block.kind === 'map') {
      this.count(nameWord.pos);
      const key = source.slice(nameWord.start, nameWord.end);
      block.entries.push({ key, keyPos: nameWord.pos, value: this.scalar(argumentsText(source, args), args[0]?.pos ?? nameWord.pos) });
      return;
    }
    if (block.kind === 'upstream' && name === 'server') {
      if (opensBlock) throw new ConfigError(`directive "${name}" is not terminated by ";"`, nameWord.pos);
      if (args.length === 0) throw new ConfigError(`invalid number of arguments in "${name}" directive`, nameWord.pos);
      block.addItem('servers', this.scalar(argumentsText(source, args), args[0].pos), nameWord.pos);
      return;
    }
    // Inside a block the tree has no place for, lines are kept as they are (nginx refuses the
    // block's own directive first: unknown, or `is not terminated by ";"`).
    const lenient = block.kind === 'other';
    const structural = known && !lenient && known.in.includes(block.kind) ? known : null;
    if (!opensBlock) {
      if (!lenient && (structural || isLuaBlock(name))) throw new ConfigError(`directive "${name}" has no opening "{"`, nameWord.pos);
      this.count(nameWord.pos);
      block.entries.push({ key: name, keyPos: nameWord.pos, value: this.scalar(argumentsText(source, args), args[0]?.pos ?? nameWord.pos) });
      return;
    }
    if (isLuaBlock(name)) {
      if (args.length !== 0) throw new ConfigError(`invalid number of arguments in "${name}" directive`, nameWord.pos);
      const body = this.lexer.luaBlock(statement.end);
      this.count(nameWord.pos);
      block.entries.push({ key: name, keyPos: nameWord.pos, value: this.scalar(body.text, body.pos) });
      return;
    }
    if (known && !structural && !lenient) {
      throw new ConfigError(`"${name}" directive is not allowed here`, nameWord.pos);
    }
    if (!structural && !lenient && !OTHER_NGINX_BLOCKS.has(name) && this.reading.options.takesArguments?.(name)) {
      throw new ConfigError(`directive "${name}" is not terminated by ";"`, nameWord.pos);
    }
    if (structural && (args.length < structural.args[0] || args.length > structural.args[1])) {
      throw new ConfigError(`invalid number of arguments in "${name}" directive`, nameWord.pos);
    }
    const listed = structural?.kind === 'server' || structural?.kind === 'location';
    // An item of a list stands two levels below its block (the list, then the item); a value, one.
    const depth = block.depth + (listed || structural?.kind === 'upstream' ? 2 : 1);
    if (depth >= MAX_DEPTH) throw new ConfigError(`the configuration nests deeper than ${MAX_DEPTH} levels`, nameWord.pos);
    const child = new Block(structural?.kind ?? 'other', nameWord.pos, depth);
    this.count(nameWord.pos);
    switch (structural?.kind) {
      case 'location':
        child.entries.push({ key: 'location', keyPos: args[0].pos, value: this.scalar(argumentsText(source, args), args[0].pos) });
        break;
      case 'if': {
        const condition = this.condition(args);
        child.entries.push({ key: 'condition', keyPos: condition.pos, value: condition });
        break;
      }
      case 'limit_except':
        child.entries.push({ key: 'methods', keyPos: args[0].pos, value: this.scalar(argumentsText(source, args), args[0].pos) });
        break;
      case 'map':
        child.entries.push({ key: 'source', keyPos: args[0].pos, value: this.scalar(source.slice(args[0].start, args[0].end), args[0].pos) });
        child.entries.push({ key: 'variable', keyPos: args[1].pos, value: this.scalar(source.slice(args[1].start, args[1].end), args[1].pos) });
        break;
      case undefined:
        if (args.length) child.entries.push({ key: 'arguments', keyPos: args[0].pos, value: this.scalar(argumentsText(source, args), args[0].pos) });
        break;
      default:
    }
    this.lines(child, statement.end);
    const map = child.finish();
    if (structural?.kind === 'server') block.addItem('servers', map, nameWord.pos);
    else if (structural?.kind === 'location') block.addItem('locations', map, nameWord.pos);
    else if (structural?.kind === 'upstream') block.addUpstream(args[0], map, nameWord.pos);
    else {
      if (!structural) OTHER_BLOCKS.add(map);
      block.entries.push({ key: name, keyPos: nameWord.pos, value: map });
    }
  }

  /** `if (COND)`: the text inside the parentheses as written, where it starts. */
  private condition(args: readonly Word[]): ScalarNode {
    const source = this.lexer.source;
    const first = args[0];
    const last = args[args.length - 1];
    if (source[first.start] !== '(') throw new ConfigError(`invalid condition "${first.text}"`, first.pos);
    if (source[last.end - 1] !== ')') throw new ConfigError(`invalid condition "${last.text}"`, last.pos);
    const text = source.slice(first.start + 1, last.end - 1).trim();
    if (!text) throw new ConfigError('invalid condition "()"', first.pos);
    const pos = first.text === '(' && args.length > 1 ? args[1].pos : { ...first.pos, col: first.pos.col + 1 };
    return this.scalar(text, pos);
  }

  /** `include NAME`: each file it names, read into `block`. */
  private include(block: Block, name: Word): void {
    const pattern = path.resolve(this.reading.confDir, name.text);
    for (const file of this.expand(pattern)) {
      if (++this.reading.includedFiles > MAX_INCLUDED_FILES) throw new ConfigError(`includes bring more than ${MAX_INCLUDED_FILES} files`, name.pos);
      if (this.chain.includes(file)) throw new ConfigError(`include cycle through "${file}"`, name.pos);
      if (this.chain.length > MAX_INCLUDE_DEPTH) throw new ConfigError(`includes nest deeper than ${MAX_INCLUDE_DEPTH} files (at "${file}")`, name.pos);
      let text: string;
      try {
        text = this.reading.sources.readFile(file);
      } catch (err) {
        throw new ConfigError(openFailure(file, err), name.pos);
      }
      new Reader(this.reading, new Lexer(text, file), [...this.chain, file]).lines(block, null);
    }
  }

  /** The files an include names: the file itself, or (with `*` or `?` in its last part) the sorted matches, none being fine. */
  private expand(pattern: string): string[] {
    const base = path.basename(pattern);
    if (!/[*?]/.test(base)) return [pattern];
    const dir = path.dirname(pattern);
    let names: string[];
    try {
      names = this.reading.sources.readDir(dir);
    } catch {
      return [];
    }
    return names
      .filter((f) => matchesGlob(f, base))
      .sort()
      .map((f) => path.join(dir, f));
  }
}
