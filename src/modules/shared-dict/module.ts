/**
 * OpenResty's `lua_shared_dict NAME SIZE` (http), written `shared_dict: {NAME: SIZE}`, or as
 * nginx writes it, `lua_shared_dict: "NAME SIZE"` (or a list of them); both names are accepted.
 * The dictionaries themselves are `src/shared/dict/`.
 */
import { namedPairs, type ParseContext } from '../../config/args';
import type { ConfNode } from '../../config/load';
import { row, type ConfModule } from '../../config/module';
import { parseSize } from '../../config/values';
import { ConfigError, type Position } from '../../errors';
import { MIN_DICT_SIZE } from '../../shared/dict/dict-table';

/** One declared dictionary. */
export interface SharedDictDecl {
  readonly name: string;
  readonly size: number;
  readonly position: Position;
}

/** The shared-dict module's conf of a block. */
export interface SharedDictConf {
  /** `shared_dict` / `lua_shared_dict` (http), in the order written. */
  readonly sharedDicts: readonly SharedDictDecl[];
}

/** The largest dictionary: its offsets are 32-bit. */
const MAX_DICT_SIZE = 2 ** 31 - 8;

function dicts(node: ConfNode, cx: ParseContext, name: string): SharedDictDecl[] {
  const out: SharedDictDecl[] = [];
  for (const { args, node: n } of namedPairs(node, cx, name)) {
    if (args.length !== 2) cx.fail(`invalid number of arguments in "${name}" directive`, n);
    // OpenResty's checks and messages (nginx-extras 1.22, checked by hand).
    let size = 0;
    try {
      size = parseSize(args[1]);
    } catch {
      cx.fail(`invalid lua shared dict size "${args[1]}"`, n);
    }
    if (size < MIN_DICT_SIZE) cx.fail(`invalid lua shared dict size "${args[1]}"`, n);
    if (size > MAX_DICT_SIZE) cx.fail(`invalid lua shared dict size "${args[1]}": at most 2g`, n);
    add(out, { name: args[0], size, position: n.pos });
  }
  return out;
}

/** Adds a dictionary; a second of the same name is refused with nginx's words. */
function add(table: SharedDictDecl[], decl: SharedDictDecl): void {
  const earlier = table.find((d) => d.name === decl.name);
  if (earlier && earlier.size !== decl.size) {
    throw new ConfigError(`the size ${decl.size} of shared memory zone "${decl.name}" conflicts with already declared size ${earlier.size}`, decl.position);
  }
  if (earlier) throw new ConfigError(`lua_shared_dict "${decl.name}" is already defined as "${decl.name}"`, decl.position);
  table.push(decl);
}

const combine = (earlier: unknown, later: unknown): SharedDictDecl[] => {
  const all = [...(earlier as SharedDictDecl[])];
  for (const decl of later as SharedDictDecl[]) add(all, decl);
  return all;
};

export const sharedDictModule: ConfModule<SharedDictConf> = {
  name: 'shared_dict',
  directives: {
    shared_dict: row(['http'], dicts, { field: 'sharedDicts', combine }),
    lua_shared_dict: row(['http'], dicts, { field: 'sharedDicts', combine }),
  },
  defaults: () => ({ sharedDicts: [] }),
};
