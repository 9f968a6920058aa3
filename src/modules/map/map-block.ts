/**
 * One `map` block's lines -> the compiled map, as nginx's ngx_http_map: `hostnames`,
 * `volatile`, `default VALUE`, `~regex VALUE` / `~*regex VALUE` (file order),
 * `\KEY VALUE` (a key that would read as a parameter), and exact keys (lower case, as nginx's
 * hash stores them); with `hostnames`, `*.example.com`, `.example.com` and `www.example.*`.
 * Every value is compiled here, once. (`include FILE` lines are read in place by the
 * configuration's readers, as nginx reads them.) Errors are nginx's words at the line's position.
 */
import type { Position } from '../../errors';
import { compileValue, type CompiledValue } from '../../http/variables';
import { compileRegex } from '../../config/values';

/** One line of the block: its words (unquoted) and where it stands. */
export interface MapLine {
  readonly words: readonly string[];
  readonly pos: Position;
}

/** A map ready to evaluate. */
export interface CompiledMap {
  /** The variable it defines, without `$`. */
  readonly variable: string;
  readonly source: CompiledValue;
  readonly hostnames: boolean;
  /** `volatile`: evaluated at every read, never cached for the request. */
  readonly volatile: boolean;
  /** Exact keys, lower case. */
  readonly exact: ReadonlyMap<string, CompiledValue>;
  /** `*.example.com` (suffix `.example.com`) and `.example.com`, longest first. */
  readonly leading: readonly { readonly suffix: string; readonly value: CompiledValue }[];
  /** `www.example.*` (prefix `www.example.`), longest first. */
  readonly trailing: readonly { readonly prefix: string; readonly value: CompiledValue }[];
  /** Regex keys in the order written. */
  readonly regexes: readonly { readonly regex: RegExp; readonly value: CompiledValue }[];
  /** `default`; null: the empty string. */
  readonly defaultValue: CompiledValue | null;
}

/** What the block reader needs from the configuration. */
export interface MapBlockContext {
  /** The variables values may use (`compileValue`'s names). */
  readonly names: ReadonlySet<string>;
  fail(reason: string, at: Position): never;
}

/** Compiles a map's lines. `source` is the source text (`$http_upgrade`), `variable` the name without `$`. */
export function compileMap(source: string, variable: string, lines: readonly MapLine[], at: Position, cx: MapBlockContext): CompiledMap {
  const compile = (text: string, pos: Position): CompiledValue => {
    try {
      return compileValue(text, cx.names);
    } catch (err) {
      return cx.fail((err as Error).message, pos);
    }
  };
  let hostnames = false;
  let isVolatile = false;
  let defaultValue: CompiledValue | null = null;
  const exact = new Map<string, CompiledValue>();
  const leading = new Map<string, CompiledValue>();
  const trailing = new Map<string, CompiledValue>();
  const regexes: { regex: RegExp; value: CompiledValue }[] = [];

  const addKey = (table: Map<string, CompiledValue>, key: string, shown: string, value: CompiledValue, pos: Position) => {
    if (table.has(key)) cx.fail(`conflicting parameter "${shown}"`, pos);
    table.set(key, value);
  };

  const line = (words: readonly string[], pos: Position): void => {
    if (words.length === 1 && words[0] === 'hostnames') return void (hostnames = true);
    if (words.length === 1 && words[0] === 'volatile') return void (isVolatile = true);
    if (words.length !== 2) return cx.fail('invalid number of the map parameters', pos);
    let [key] = words;
    const text = words[1];
    const value = compile(text, pos);
    if (key === 'default') {
      if (defaultValue) cx.fail('duplicate default map parameter', pos);
      defaultValue = value;
      return;
    }
    if (key.startsWith('~')) {
      const caseless = key.startsWith('~*');
      let regex: RegExp;
      try {
        regex = compileRegex(key.slice(caseless ? 2 : 1), caseless);
      } catch (err) {
        return cx.fail((err as Error).message, pos);
      }
      regexes.push({ regex, value });
      return;
    }
    if (key.startsWith('\\')) key = key.slice(1);
    const lower = key.toLowerCase();
    if (!hostnames || !lower.includes('*') && !lower.startsWith('.')) return addKey(exact, lower, lower, value, pos);
    if (lower.startsWith('*.') && !lower.includes('*', 1) && lower.length > 2) return addKey(leading, lower.slice(1), lower, value, pos);
    if (lower.endsWith('.*') && lower.indexOf('*') === lower.length - 1 && lower.length > 2) return addKey(trailing, lower.slice(0, -1), lower, value, pos);
    if (lower.startsWith('.') && !lower.includes('*') && lower.length > 1) {
      // `.example.com`: example.com itself and every name under it, one entry to nginx.
      addKey(exact, lower.slice(1), lower, value, pos);
      return addKey(leading, lower, lower, value, pos);
    }
    return cx.fail(`invalid hostname or wildcard "${key}"`, pos);
  };

  const sourceValue = compile(source, at);
  for (const l of lines) line(l.words, l.pos);
  const longestFirst = <K extends string>(table: Map<string, CompiledValue>, name: K) =>
    [...table].sort((a, b) => b[0].length - a[0].length).map(([k, value]) => ({ [name]: k, value }) as Record<K, string> & { value: CompiledValue });
  return {
    variable,
    source: sourceValue,
    hostnames,
    volatile: isVolatile,
    exact,
    leading: longestFirst(leading, 'suffix'),
    trailing: longestFirst(trailing, 'prefix'),
    regexes,
    defaultValue,
  };
}
