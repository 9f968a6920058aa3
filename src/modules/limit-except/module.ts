/**
 * nginx's `limit_except METHOD ... { ... }` (ngx_http_core_module, location only): the block
 * is a location nested in the location, unnamed, holding the directives nginx marks
 * NGX_HTTP_LMT_CONF (access, auth_basic, access_log, proxy_pass). A request whose method is
 * not listed (GET lists HEAD too) is served with the block's configuration, as nginx's
 * find-config switches `r->loc_conf` to it (the dispatcher does, once the location is found).
 * The block inherits the location as nginx's merge does: all but the rewrite module's
 * directives and `try_files`, which nginx does not merge into it.
 */
import { argsOf, type ParseContext } from '../../config/args';
import type { ConfNode, MapNode } from '../../config/load';
import { row, type ConfModule } from '../../config/module';
import { isNginxDirective } from '../../config/not-supported';
import { ConfigError } from '../../errors';

/** A location's `limit_except`. */
export interface LimitExcept {
  /** The methods served with the location's own configuration (HEAD with GET). */
  readonly allowed: ReadonlySet<string>;
  /** The block as written: the builder makes the nested location of it. */
  readonly block: MapNode;
}

/** The limit_except conf of a block. */
export interface LimitExceptConf {
  readonly limitExcept: LimitExcept | null;
}

/** nginx 1.22's method names (ngx_methods_names): compared without case, as nginx does. */
const METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'MKCOL', 'COPY', 'MOVE', 'OPTIONS', 'PROPFIND', 'PROPPATCH', 'LOCK', 'UNLOCK', 'PATCH']);

/** The directives nginx allows inside `limit_except` (NGX_HTTP_LMT_CONF) that the gateway has; `access` is the gateway's ordered allow/deny. */
const IN_LIMIT_EXCEPT: ReadonlySet<string> = new Set(['allow', 'deny', 'access', 'auth_basic', 'auth_basic_user_file', 'access_log', 'proxy_pass']);

/** What the module reads of the block itself. */
const OWN: ReadonlySet<string> = new Set(['methods']);

/** What the nested location does not inherit of the location (nginx's merge leaves it out). */
const FORGOTTEN: readonly string[] = ['rewrite', 'return', 'set', 'break', 'if', 'try_files'];

/** `limit_except: { methods: "GET POST", deny: all }` (nginx.conf: `limit_except GET POST { deny all; }`). */
function limitExcept(node: ConfNode, cx: ParseContext): LimitExcept {
  if (node.kind !== 'map') return cx.fail('"limit_except" takes a map: { methods: "GET ...", directives... }', node);
  const block = node as MapNode;
  const methodsEntry = block.entries.find((e) => e.key === 'methods');
  if (!methodsEntry) return cx.fail('invalid number of arguments in "limit_except" directive', node);
  const allowed = new Set<string>();
  for (const word of argsOf(methodsEntry.value, cx)) {
    const method = word.toUpperCase();
    if (!METHODS.has(method)) cx.fail(`invalid method "${word}"`, methodsEntry.value);
    allowed.add(method);
  }
  if (allowed.size === 0) cx.fail('invalid number of arguments in "limit_except" directive', methodsEntry.value);
  if (allowed.has('GET')) allowed.add('HEAD');
  for (const e of block.entries) {
    if (e === methodsEntry) continue;
    if (e.key === 'methods') throw new ConfigError('"methods" directive is duplicate', e.keyPos);
    if (IN_LIMIT_EXCEPT.has(e.key)) continue;
    throw new ConfigError(isNginxDirective(e.key) ? `"${e.key}" directive is not allowed here` : `unknown directive "${e.key}"`, e.keyPos);
  }
  return { allowed, block };
}

export const limitExceptModule: ConfModule<LimitExceptConf> = {
  name: 'limit_except',
  directives: { limit_except: row(['location'], limitExcept, { inherit: false }) },
  defaults: () => ({ limitExcept: null }),
  innerBlocks: (own) => (own.limitExcept ? [{ key: own.limitExcept, block: own.limitExcept.block, skip: OWN, forget: FORGOTTEN }] : []),
};

/** The location a request of `method` is served with: the `limit_except` block's when its method is not listed. */
export function limitedTo<L extends { readonly limitExcept?: { readonly allowed: ReadonlySet<string>; readonly location: L } }>(location: L, method: string | undefined): L {
  const limit = location.limitExcept;
  return limit && !limit.allowed.has(method ?? '') ? limit.location : location;
}
