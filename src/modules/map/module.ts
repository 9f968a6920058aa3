/**
 * nginx's ngx_http_map_module: `map SOURCE $VARIABLE { ... }` at http level, written as
 * `map: {source: $http_upgrade, variable: $connection_upgrade, default: upgrade, "''": close}`
 * (each line of the block an entry, its first word the key, the rest the value, as written), or
 * a list of such maps. The variable is declared for the whole configuration (`defines`) and
 * gets the map's getter once the block is compiled (`map-block.ts`), at load; the map is
 * evaluated only when a value reads the variable (`evaluate.ts`).
 */
import { ConfigError, type Position } from '../../errors';
import { argsOf, occurrences, type ParseContext } from '../../config/args';
import type { ConfNode, Entry, MapNode } from '../../config/load';
import { row, type ConfModule } from '../../config/module';
import { splitArgs } from '../../config/values';
import { isBuiltInVariable } from '../../http/variables';
import { mapGetter } from './evaluate';
import { compileMap, type MapLine } from './map-block';

/** The map module's conf of the http block. */
export interface MapConf {
  /** The variables the `map` blocks define, in the order written (without `$`). */
  readonly maps: readonly string[];
}

/** One `map` block: its header and its lines (entries) as written. */
interface MapHeader {
  readonly source: string;
  readonly variable: string;
  readonly sourceAt: Position;
  readonly lines: readonly Entry[];
}

const failAt = (reason: string, at: Position): never => {
  throw new ConfigError(reason, at);
};

/** A word written as nginx writes one (`''`, `"~^a b"`, `\default`): unquoted; the empty YAML key is the empty word. */
function word(text: string, at: Position): string {
  let words: string[];
  try {
    words = splitArgs(text);
  } catch (err) {
    return failAt((err as Error).message, at);
  }
  if (words.length > 1) return failAt('invalid number of the map parameters', at);
  return words[0] ?? '';
}

/** The blocks a `map` value holds (one map, or a list of them), with their header checked. */
function headers(node: ConfNode, cx: ParseContext): MapHeader[] {
  return occurrences(node).map((block) => {
    if (block.kind !== 'map') return cx.fail('"map" takes a block: {source: $source, variable: $variable, ...entries}', block);
    let source: Entry | null = null;
    let variable: Entry | null = null;
    const lines: Entry[] = [];
    for (const e of (block as MapNode).entries) {
      if (e.key === 'source' && !source) source = e;
      else if (e.key === 'variable' && !variable) variable = e;
      else lines.push(e);
    }
    if (!source || !variable) return cx.fail('invalid number of arguments in "map" directive', block);
    const sourceArgs = argsOf(source.value, cx);
    const variableArgs = argsOf(variable.value, cx);
    if (sourceArgs.length !== 1) return cx.fail('invalid number of arguments in "map" directive', source.value);
    if (variableArgs.length !== 1) return cx.fail('invalid number of arguments in "map" directive', variable.value);
    const [name] = variableArgs;
    if (!name.startsWith('$') || name.length === 1) return cx.fail(`invalid variable name "${name}"`, variable.value);
    if (isBuiltInVariable(name.slice(1))) return cx.fail(`the duplicate "${name.slice(1)}" variable`, variable.value);
    return { source: sourceArgs[0], variable: name.slice(1), sourceAt: source.value.pos, lines };
  });
}

/** An entry as a line of words: its key, then its value's arguments (none for `hostnames:` or `hostnames: ""`). */
function lineOf(e: Entry, cx: ParseContext): MapLine {
  const key = word(e.key, e.keyPos);
  const empty = e.value.kind === 'scalar' && (e.value.value === null || e.value.value === '');
  return { words: empty ? [key] : [key, ...argsOf(e.value, cx)], pos: e.keyPos };
}

export const mapModule: ConfModule<MapConf> = {
  name: 'map',
  directives: {
    map: row(
      ['http'],
      (node, cx) =>
        headers(node, cx).map((h) => {
          const compiled = compileMap(
            h.source,
            h.variable,
            h.lines.map((e) => lineOf(e, cx)),
            h.sourceAt,
            {
              names: cx.captureNames,
              fail: failAt,
            },
          );
          cx.defineVariable?.(h.variable, mapGetter(compiled));
          return h.variable;
        }),
      { combine: (earlier, later) => [...(earlier as string[]), ...(later as string[])] },
    ),
  },
  defines: { map: (node, cx) => headers(node, cx).map((h) => h.variable) },
  defaults: () => ({ maps: [] }),
};
