/**
 * How directive values are read, for every module's directive rows: an occurrence's arguments
 * split nginx's way, repeated occurrences, `name value` pairs, and the common value types (flag,
 * time, timer time, size, path, integer, one of a set). Each fails at the value's position.
 */
import path from 'node:path';
import { ConfigError } from '../errors';
import type { ConfNode } from './load';
import type { VariableSource } from '../http/variables';
import { MAX_TIMER_MS, parseBoundedTime, parseFlag, parseSize, parseTime, splitArgs } from './values';

export type Context = 'main' | 'events' | 'http' | 'server' | 'location';

/** What a directive's parser may use: where the file is, and how to fail at a node. */
export interface ParseContext {
  readonly file: string;
  readonly prefix: string;
  /** The variables the configuration makes: named captures of its regexes, and those its directives declare (`auth_request_set`); see `compileValue`. */
  readonly captureNames: ReadonlySet<string>;
  /** Where bare script names are looked up (`handlers_dir`), once the main block is read. */
  readonly handlersDir?: string;
  /** Reads a file the configuration names (`types`), through the configuration's sources. */
  readFile(file: string): string;
  /**
   * Gives a variable a module `defines` its getter (a `map`'s `$variable`): absent where no
   * configuration is being built (a module's parser run alone).
   */
  defineVariable?(name: string, getter: (s: VariableSource) => string): void;
  fail(reason: string, node: ConfNode): never;
  /** Says what nginx warns of (an obsolete or deprecated directive), with where; the load goes on. Absent where no configuration is being built. */
  warn?(reason: string, node: ConfNode): void;
}

/**
 * The arguments of one occurrence: a string split nginx's way, a number as written (`1.0` stays
 * `1.0`), a list. A YAML boolean is `on`/`off` only where `onOff` says the directive takes those
 * words; anywhere else it is refused (`listen: true` is not a host named "on").
 */
export function argsOf(node: ConfNode, cx: ParseContext, onOff = false): string[] {
  if (node.kind === 'scalar') {
    if (node.value === null) return cx.fail('a value is required', node);
    if (typeof node.value === 'string') {
      try {
        return splitArgs(node.value);
      } catch (err) {
        return cx.fail((err as Error).message, node);
      }
    }
    if (typeof node.value === 'boolean') {
      if (onOff) return [node.value ? 'on' : 'off'];
      return cx.fail(`invalid value ${node.value}: a YAML boolean stands for "on" or "off" only where a directive takes them; quote "${node.value}" to mean the text`, node);
    }
    return [node.source ?? String(node.value)];
  }
  // A list is the arguments one by one, each taken as it is (CONFIG.md: `return: [200, "hello world\n"]`).
  if (node.kind === 'seq') return node.items.map((item) => (item.kind === 'scalar' && typeof item.value === 'string' ? item.value : oneArg(item, cx, onOff)));
  return cx.fail('a map is not allowed here', node);
}

/** A list item that is not text: a number as written, a boolean where on/off is meant; a list or map is refused. */
function oneArg(item: ConfNode, cx: ParseContext, onOff: boolean): string {
  if (item.kind === 'seq') return cx.fail('a nested list is not allowed here', item);
  if (item.kind === 'map') return cx.fail('a map is not allowed here', item);
  const args = argsOf(item, cx, onOff);
  if (args.length !== 1) return cx.fail('a list item is one argument', item);
  return args[0];
}

/** `argsOf` for a directive that takes `on` or `off` among its words. */
export const onOffArgs = (node: ConfNode, cx: ParseContext): string[] => argsOf(node, cx, true);

/** Each occurrence of a repeatable directive: a list's items, or the one value. */
export function occurrences(node: ConfNode): ConfNode[] {
  return node.kind === 'seq' ? [...node.items] : [node];
}

/** Occurrences of a `name value` directive, also written as a map `{name: value}`. */
export function namedPairs(node: ConfNode, cx: ParseContext, directive: string): { args: string[]; node: ConfNode }[] {
  if (node.kind === 'map') {
    return node.entries.map((e) => {
      const value = e.value.kind === 'scalar' && e.value.value === null ? [''] : argsOf(e.value, cx);
      return { args: [e.key, ...(value.length ? value : [''])], node: e.value };
    });
  }
  return occurrences(node).map((n) => {
    const args = argsOf(n, cx);
    if (args.length < 2) cx.fail(`invalid number of arguments in "${directive}" directive`, n);
    return { args, node: n };
  });
}

export function one(node: ConfNode, cx: ParseContext, name: string, onOff = false): string {
  const args = argsOf(node, cx, onOff);
  if (args.length !== 1) cx.fail(`invalid number of arguments in "${name}" directive`, node);
  return args[0];
}

/** Runs a parser; a plain error becomes a ConfigError at `node`, one with a position of its own stays as it is. */
export function guard<T>(node: ConfNode, cx: ParseContext, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    return cx.fail((err as Error).message, node);
  }
}

export const flag = (node: ConfNode, cx: ParseContext, name: string) =>
  guard(node, cx, () => parseFlag(node.kind === 'scalar' && typeof node.value === 'boolean' ? node.value : one(node, cx, name)));
/** A time that never feeds a timer (compared with clocks only): nginx's range, as far as a number counts milliseconds exactly. */
export const time = (node: ConfNode, cx: ParseContext, name: string) => guard(node, cx, () => parseTime(one(node, cx, name)));
/** A time that feeds a timer: at most MAX_TIMER_MS, past which Node would fire it after 1 ms. */
export const timerTime = (node: ConfNode, cx: ParseContext, name: string) => guard(node, cx, () => boundedTime(one(node, cx, name), name));

/** `parseBoundedTime` at the timer limit, the directive named in the refusal of a time too large. */
export function boundedTime(value: string, name: string): number {
  parseTime(value);
  try {
    return parseBoundedTime(value, MAX_TIMER_MS);
  } catch (err) {
    throw new Error(`${(err as Error).message} in "${name}"`);
  }
}
export const size = (node: ConfNode, cx: ParseContext, name: string) => guard(node, cx, () => parseSize(one(node, cx, name)));
export const text = (node: ConfNode, cx: ParseContext, name: string) => one(node, cx, name);
export const prefixPath = (node: ConfNode, cx: ParseContext, name: string) => path.resolve(cx.prefix, one(node, cx, name));
/** A path against the prefix, keeping a trailing slash (`alias /data/images/` maps `/img/a` to `/data/images/a`). */
export const documentPath = (node: ConfNode, cx: ParseContext, name: string) => {
  const value = one(node, cx, name);
  const resolved = path.resolve(cx.prefix, value);
  return value.endsWith('/') && !resolved.endsWith('/') ? `${resolved}/` : resolved;
};

export function integer(min: number, max: number) {
  return (node: ConfNode, cx: ParseContext, name: string) => {
    const value = one(node, cx, name);
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) cx.fail(`invalid value "${value}" in "${name}" directive`, node);
    return n;
  };
}

export function oneOf<T extends string>(values: readonly T[]) {
  const onOff = values.includes('on' as T) || values.includes('off' as T);
  return (node: ConfNode, cx: ParseContext, name: string): T => {
    const value = one(node, cx, name, onOff);
    if (!values.includes(value as T)) cx.fail(`invalid value "${value}" in "${name}" directive, it must be ${values.map((v) => `"${v}"`).join(' or ')}`, node);
    return value as T;
  };
}

