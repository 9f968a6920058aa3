/**
 * What a module gives the configuration, as nginx's `ngx_command_t` table and its
 * create/merge of `loc_conf`: the directives it owns (where each may stand, how its value is
 * parsed, which field of the module's conf it fills) and its conf's defaults. The configuration
 * is built from the modules it is handed; it imports none of them.
 */
import type { Position } from '../errors';
import type { Context, ParseContext } from './args';
import type { ConfNode, MapNode } from './load';
import type { ListenSpec } from './values';

/** One directive a module owns. */
export interface DirectiveRow {
  readonly contexts: readonly Context[];
  readonly parse: (node: ConfNode, cx: ParseContext, name: string) => unknown;
  /** The field of the module's conf it fills (default: the name in camelCase). */
  readonly field?: string;
  /**
   * nginx lets the directive repeat in a block (`add_header`, `error_page`, `limit_req`): a key
   * written again is a further occurrence, the occurrences handed to `parse` as one list in the
   * order written. Without it (and without `combine`) a repeated key is `"X" directive is duplicate`.
   */
  readonly multiple?: boolean;
  /** Joins a later directive's value to an earlier one's when several fill one field (`allow`, `deny`). */
  readonly combine?: (earlier: unknown, later: unknown) => unknown;
  /**
   * False for a block's own directive that a block inside does not inherit (`alias`,
   * `try_files`, `proxy_pass`, `return`): there it is back to its default.
   */
  readonly inherit?: boolean;
  /**
   * Joins a block's value to the one it inherits, where a block's value does not simply replace
   * its parent's (`plugins`: Kong's inheritance, per plugin name). Also called at the top block,
   * with the default.
   */
  readonly mergeDown?: (inherited: unknown, own: unknown) => unknown;
}

/** A block as a module's check sees it. */
export interface BlockView {
  readonly context: Context;
  readonly position: Position;
  /** The position of a directive written in this block, or the block's own. */
  at(directive: string): Position;
}

/** A module, as the configuration knows it. `C` is its conf: one object per block, merged downwards. */
export interface ConfModule<C extends object = object> {
  readonly name: string;
  readonly directives: Readonly<Record<string, DirectiveRow>>;
  /** The conf of a block that writes none of the module's directives: nginx's defaults. */
  defaults(prefix: string): C;
  /**
   * Checks a block once merged: `own` holds what the block itself wrote. Throws a ConfigError
   * (through `fail`) at the block or one of its directives.
   */
  check?(conf: C, own: Readonly<Partial<C>>, block: BlockView, fail: (reason: string, at: Position) => never): void;
  /** Checks the servers together, once built (TLS certificates for the sockets that speak TLS). */
  checkServers?(servers: readonly ServerView[], fail: (reason: string, at: Position) => never): void;
  /**
   * The content handler a directive implies, as nginx's directives set a location's handler
   * (`proxy_pass` -> `proxy`): a location writing it without `handler:` gets that handler, one
   * naming another handler is refused.
   */
  readonly implies?: Readonly<Record<string, string>>;
  /**
   * Directives that declare variables (`auth_request_set $name value`): the names a directive's
   * value declares, read before the configuration is built so that any value may use them.
   * Throws a ConfigError (through `cx.fail`) for a name that may not be declared.
   */
  readonly declares?: Readonly<Record<string, (node: ConfNode, cx: ParseContext) => readonly string[]>>;
  /**
   * Directives that define variables with a getter of their own (`map ... $name`): the names,
   * declared as `declares` does; the directive's parser then gives each its getter
   * (`cx.defineVariable`), which every value compiled anywhere reads lazily.
   */
  readonly defines?: Readonly<Record<string, (node: ConfNode, cx: ParseContext) => readonly string[]>>;
  /**
   * Blocks of a location that nginx makes locations nested in it (the rewrite module's `if`),
   * from what the location wrote: the builder builds each as a location that inherits all of
   * this one (nginx's unnamed location) and keeps it in `LocationConf.inner` under `key`.
   */
  innerBlocks?(own: Readonly<Partial<C>>): readonly InnerBlock[];
}

/** A block nested in a location that nginx makes a location of its own (`if`, `limit_except`). */
export interface InnerBlock {
  /** What the module finds the built location by (`LocationConf.inner`). */
  readonly key: object;
  readonly block: MapNode;
  /** The directives the owning module reads itself (left alone by the builder). */
  readonly skip: ReadonlySet<string>;
  /**
   * Directives of the location the block does not take on (back to their defaults): nginx's
   * merge does not carry them into it (`limit_except` keeps none of the rewrite module's
   * directives, nor `try_files`). Without it the block inherits all (`if`).
   */
  readonly forget?: readonly string[];
}

/** A built server as `checkServers` sees it. */
export interface ServerView {
  readonly listens: readonly ListenSpec[];
  readonly position: Position;
  /** Each module's conf of the server. */
  readonly confs: { get<C extends object>(module: ConfModule<C>): C };
}

/** The contexts of a directive that inherits http -> server -> location. */
export const INHERITED: readonly Context[] = ['http', 'server', 'location'];

/** A directive row. */
export function row(contexts: readonly Context[], parse: DirectiveRow['parse'], options: Omit<DirectiveRow, 'contexts' | 'parse'> = {}): DirectiveRow {
  return { contexts, parse, ...options };
}

