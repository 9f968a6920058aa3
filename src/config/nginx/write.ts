/**
 * A located tree -> nginx.conf text, the inverse of `read.ts`, for `gateway convert`: `servers`
 * items become `server {}` blocks, `locations` items `location ... {}`, `upstreams` entries
 * `upstream NAME {}`, a list of a repeatable directive one line per item. A value nginx's
 * syntax cannot hold (a list, number or boolean inside a script's `options`, a plugin's
 * settings) is refused, one line at its position: such a configuration stays in YAML.
 */
import { ConfigError } from '../../errors';
import type { ConfNode, Entry, MapNode, ScalarNode } from '../load';
import { splitArgs } from '../values';
import { argumentsText, quoteArgument } from './arguments';
import { Lexer } from './tokens';

/** Which directives nginx lets a block repeat: a list of them is written one line per item. */
export type Repeatable = (directive: string) => boolean;

/** Directives whose YAML map form `{NAME: VALUE}` stands for `directive NAME VALUE;` lines. */
const NAMED_PAIRS: ReadonlySet<string> = new Set(['add_header', 'proxy_set_header', 'shared_dict', 'lua_shared_dict', 'auth_request_set', 'log_format']);

/** nginx's block directives the gateway does not read (yet): a map under one of them is written as its block. */
const OTHER_BLOCKS: ReadonlySet<string> = new Set(['geo', 'split_clients', 'charset_map', 'match', 'stream', 'mail']);

const INDENT = '    ';

/** The text of a directive's arguments as nginx reads them back into the same value. */
function argumentsOf(node: ScalarNode): string {
  const value = node.value;
  if (value === null || value === '') return '';
  if (typeof value === 'boolean') return value ? 'on' : 'off';
  if (typeof value === 'number') return node.source ?? String(value);
  if (readsBack(value)) return value;
  let args: string[];
  try {
    args = splitArgs(value);
  } catch (err) {
    // What the builder would refuse (an unbalanced quote) is not written as something else.
    throw new ConfigError((err as Error).message, node.pos);
  }
  return args.map(quoteArgument).join(' ');
}

/** Whether `x TEXT;` is read as one directive whose arguments' text is TEXT. */
function readsBack(text: string): boolean {
  const source = `x ${text};`;
  try {
    const lexer = new Lexer(source, '');
    const statement = lexer.next();
    if (statement.kind !== 'directive' || lexer.next().kind !== 'eof') return false;
    return argumentsText(source, statement.words.slice(1)) === text;
  } catch {
    return false;
  }
}

class Writer {
  readonly lines: string[] = [];

  constructor(private readonly repeatable: Repeatable) {}

  private line(depth: number, text: string): void {
    this.lines.push(`${INDENT.repeat(depth)}${text}`);
  }

  private directive(depth: number, name: string, node: ScalarNode): void {
    const args = argumentsOf(node);
    this.line(depth, args ? `${quoteArgument(name)} ${args};` : `${quoteArgument(name)};`);
  }

  private open(depth: number, head: string, body: () => void): void {
    this.line(depth, `${head} {`);
    body();
    this.line(depth, '}');
  }

  /** The entries of a block of directives. */
  block(entries: readonly Entry[], depth: number): void {
    for (const e of entries) this.entry(e, depth);
  }

  private asMap(node: ConfNode, what: string): MapNode {
    if (node.kind !== 'map') throw new ConfigError(`${what} must be a map of directives`, node.pos);
    return node;
  }

  private items(node: ConfNode): readonly ConfNode[] {
    return node.kind === 'seq' ? node.items : [node];
  }

  private entry(e: Entry, depth: number): void {
    const { key, value } = e;
    if (key === 'servers' && value.kind === 'seq') {
      for (const item of value.items) this.open(depth, 'server', () => this.block(this.asMap(item, 'a server block').entries, depth + 1));
      return;
    }
    if (key === 'locations' && value.kind === 'seq') {
      for (const item of value.items) this.location(this.asMap(item, 'a location block'), depth);
      return;
    }
    if (key === 'upstreams' && value.kind === 'map') {
      for (const u of value.entries) this.open(depth, `upstream ${quoteArgument(u.key)}`, () => this.upstream(this.asMap(u.value, `upstream "${u.key}"`), depth + 1));
      return;
    }
    if (key.endsWith('_by_lua_block') && value.kind === 'scalar' && typeof value.value === 'string') {
      this.line(depth, `${key} {${value.value}}`);
      return;
    }
    if (value.kind === 'seq') {
      if (this.repeatable(key) || key === 'if' || key === 'limit_except' || key === 'map' || OTHER_BLOCKS.has(key)) {
        for (const item of value.items) this.entry({ key, keyPos: e.keyPos, value: item }, depth);
        return;
      }
      const args = value.items.map((item) => {
        if (item.kind !== 'scalar') throw new ConfigError(`"${key}" holds a list of lists or maps: nginx's syntax cannot write it; keep this configuration in YAML`, item.pos);
        return argumentsOf(item);
      });
      this.line(depth, `${quoteArgument(key)} ${args.filter(Boolean).join(' ')};`.replace(/ ;$/, ';'));
      return;
    }
    if (value.kind === 'scalar') return this.directive(depth, key, value);
    if (key === 'types') {
      this.open(depth, 'types', () => {
        for (const t of value.entries) this.line(depth + 1, `${quoteArgument(t.key)} ${this.typeExtensions(t)};`);
      });
      return;
    }
    if (key === 'if') {
      const condition = value.entries.find((c) => c.key === 'condition');
      if (!condition || condition.value.kind !== 'scalar') throw new ConfigError('"if" needs a "condition"', value.pos);
      this.open(depth, `if (${argumentsOf(condition.value)})`, () => this.block(value.entries.filter((c) => c !== condition), depth + 1));
      return;
    }
    if (key === 'limit_except') {
      const methods = value.entries.find((c) => c.key === 'methods');
      if (!methods || methods.value.kind !== 'scalar') throw new ConfigError('"limit_except" needs "methods"', value.pos);
      this.open(depth, `limit_except ${argumentsOf(methods.value)}`, () => this.block(value.entries.filter((c) => c !== methods), depth + 1));
      return;
    }
    if (key === 'map') {
      const word = (name: string) => {
        const found = value.entries.find((c) => c.key === name);
        if (!found || found.value.kind !== 'scalar') throw new ConfigError(`"map" needs a "${name}"`, value.pos);
        return argumentsOf(found.value);
      };
      this.open(depth, `map ${word('source')} ${word('variable')}`, () => {
        for (const line of value.entries) {
          if (line.key === 'source' || line.key === 'variable') continue;
          if (line.value.kind !== 'scalar') throw new ConfigError(`a "map" line must be a value`, line.value.pos);
          const args = argumentsOf(line.value);
          // The key is written as the map's first word was (quotes kept): `"''": close` -> `'' close;`.
          this.line(depth + 1, args ? `${line.key} ${args};` : `${line.key};`);
        }
      });
      return;
    }
    if (NAMED_PAIRS.has(key)) {
      for (const pair of value.entries) {
        if (pair.value.kind === 'map') throw new ConfigError(`"${key}" takes a map of name -> value`, pair.value.pos);
        const values = pair.value.kind === 'seq' && key === 'log_format' ? [pair.value.items.map((i) => (i.kind === 'scalar' ? String(i.value ?? '') : '')).join('')] : null;
        const text = values ? values[0] : pair.value.kind === 'scalar' ? pair.value.value : null;
        const rest = key === 'log_format' ? logFormatArguments(String(text ?? '')) : text === null || text === '' ? '""' : argumentsOf(pair.value as ScalarNode);
        this.line(depth, `${key} ${quoteArgument(pair.key)} ${rest};`);
      }
      return;
    }
    if (OTHER_BLOCKS.has(key)) {
      const args = value.entries.find((c) => c.key === 'arguments');
      const head = args && args.value.kind === 'scalar' ? `${key} ${argumentsOf(args.value)}` : key;
      this.open(depth, head, () => this.block(value.entries.filter((c) => c !== args), depth + 1));
      return;
    }
    if (key === 'events' || key === 'http') {
      this.open(depth, key, () => this.block(value.entries, depth + 1));
      return;
    }
    throw new ConfigError(`"${key}" holds a map: nginx's syntax has no such value; keep this configuration in YAML`, value.pos);
  }

  private typeExtensions(t: Entry): string {
    if (t.value.kind === 'scalar') return argumentsOf(t.value);
    if (t.value.kind === 'seq') return t.value.items.map((i) => (i.kind === 'scalar' ? argumentsOf(i) : '')).join(' ');
    throw new ConfigError(`the extensions of "${t.key}" must be a list`, t.value.pos);
  }

  private location(block: MapNode, depth: number): void {
    const match = block.entries.find((e) => e.key === 'location');
    if (!match || match.value.kind !== 'scalar') throw new ConfigError('a location block needs "location"', block.pos);
    this.open(depth, `location ${argumentsOf(match.value)}`, () => this.block(block.entries.filter((e) => e !== match), depth + 1));
  }

  private upstream(block: MapNode, depth: number): void {
    for (const e of block.entries) {
      if (e.key === 'servers' || e.key === 'server') {
        for (const item of this.items(e.value)) {
          if (item.kind !== 'scalar') throw new ConfigError('an upstream server must be a value', item.pos);
          this.directive(depth, 'server', item);
        }
      } else this.entry(e, depth);
    }
  }
}

/** `log_format`'s map form text `[escape=...] format` as nginx's arguments. */
function logFormatArguments(text: string): string {
  const escape = /^escape=([^ \t\r\n]*)[ \t\r\n]+/.exec(text);
  return escape ? `escape=${escape[1]} ${quoteArgument(text.slice(escape[0].length))}` : quoteArgument(text);
}

/** The nginx.conf text of a configuration's tree (a map of directives). */
export function writeNginx(root: MapNode, repeatable: Repeatable): string {
  const writer = new Writer(repeatable);
  writer.block(root.entries, 0);
  return `${writer.lines.join('\n')}\n`;
}
