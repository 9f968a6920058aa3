/**
 * ngx_http_rewrite_module's directives: `rewrite`, `return`, `set`, `break`, `if` (server,
 * location, and inside `if`), `rewrite_log`, `uninitialized_variable_warn`. The first five fill
 * one list, in the order written across keys (each row joins its occurrences to what the block
 * wrote before it), compiled at load: regexes, conditions, values. A block's list is its own:
 * a location does not run its server's (nginx runs the server's in the server-rewrite phase).
 */
import { argsOf, flag, guard, occurrences, type ParseContext } from '../../config/args';
import type { ConfNode, Entry, MapNode } from '../../config/load';
import { row, type ConfModule } from '../../config/module';
import { compileRegex, splitArgs } from '../../config/values';
import { ConfigError } from '../../errors';
import { compileValue, isBuiltInVariable } from '../../http/variables';
import { compilePart } from './replacement';
import type { Condition, FileTest, ForeignEntry, IfOp, Op, ReturnOp, RewriteOp, SetOp } from './script';

/** The rewrite module's conf of a block. */
export interface RewriteConf {
  /** The block's own rewrite, return, set, break and if, in the order written; null when it wrote none. */
  readonly script: readonly Op[] | null;
  /** `rewrite_log`: notice lines for each regex tried and each rewrite done. */
  readonly rewriteLog: boolean;
  /** `uninitialized_variable_warn`: a warning when a `set` variable is read before it is set. */
  readonly uninitializedVariableWarn: boolean;
}

/** The rewrite module's directives that go into the script, by name. */
const SCRIPT_DIRECTIVES: Readonly<Record<string, (node: ConfNode, cx: ParseContext) => Op[]>> = {
  rewrite: (node, cx) => occurrences(node).map((n) => rewriteOp(n, cx)),
  // A list is return's arguments (CONFIG.md's `return: [200, "hello world\n"]`); a key written again is another return.
  return: (node, cx) => [returnOp(node, cx)],
  set: (node, cx) => occurrences(node).map((n) => setOp(n, cx)),
  break: (node, cx) => occurrences(node).map((n) => breakOp(n, cx)),
  if: (node, cx) => occurrences(node).map((n) => ifOp(n, cx)),
};

const REDIRECT_PREFIX = /^(https?:\/\/|\$scheme)/;

/** What a location's `if` block holds that its module runs itself: its condition and the rewrite module's directives. */
const IF_OWN: ReadonlySet<string> = new Set(['condition', ...Object.keys(SCRIPT_DIRECTIVES), 'rewrite_log', 'uninitialized_variable_warn']);

/**
 * The directives nginx allows inside a location's `if` besides the rewrite module's
 * (NGX_HTTP_LIF_CONF in nginx 1.22's http modules, OpenResty's and nchan's); one the gateway lacks is refused as
 * usual (unknown, or not supported yet) when the block is built.
 */
const IN_LOCATION_IF: ReadonlySet<string> = new Set([
  'access_log', 'add_header', 'add_trailer', 'charset', 'error_page', 'expires', 'fastcgi_pass', 'grpc_pass', 'gzip',
  'limit_rate', 'limit_rate_after', 'memcached_pass', 'override_charset', 'post_action', 'proxy_pass', 'root', 'scgi_pass',
  'sendfile', 'source_charset', 'ssi', 'uwsgi_pass',
  'rewrite_by_lua', 'rewrite_by_lua_block', 'rewrite_by_lua_file', 'access_by_lua', 'access_by_lua_block', 'access_by_lua_file',
  'content_by_lua', 'content_by_lua_block', 'content_by_lua_file', 'header_filter_by_lua', 'header_filter_by_lua_block',
  'header_filter_by_lua_file', 'body_filter_by_lua', 'body_filter_by_lua_block', 'body_filter_by_lua_file', 'log_by_lua',
  'log_by_lua_block', 'log_by_lua_file', 'set_by_lua', 'set_by_lua_block', 'set_by_lua_file',
  // nchan's, of those the push module reads (nchan's README gives them the `if` context).
  'nchan_subscriber', 'nchan_publisher', 'nchan_pubsub', 'nchan_channel_id', 'nchan_pubsub_channel_id',
  'nchan_publisher_channel_id', 'nchan_pub_channel_id', 'nchan_subscriber_channel_id', 'nchan_sub_channel_id', 'nchan_subscriber_first_message',
  'nchan_websocket_ping_interval', 'nchan_subscriber_timeout', 'nchan_eventsource_ping_interval', 'nchan_eventsource_ping_comment',
  'nchan_eventsource_ping_event', 'nchan_eventsource_ping_data', 'nchan_subscriber_last_message_id', 'nchan_store_messages', 'nchan_access_control_allow_origin', 'nchan_access_control_allow_credentials',
]);

function rewriteOp(node: ConfNode, cx: ParseContext): RewriteOp {
  const args = argsOf(node, cx);
  if (args.length < 2 || args.length > 3) cx.fail('invalid number of arguments in "rewrite" directive', node);
  const [source, written, flagWord] = args;
  if (written === '') cx.fail('empty replacement', node);
  const regex = guard(node, cx, () => compileRegex(source, false));
  checkGroupNames(source, node, cx);
  // The last `?` drops the request's arguments.
  const addArgs = !written.endsWith('?');
  const replacement = addArgs ? written : written.slice(0, -1);
  let redirect: RewriteOp['redirect'] = REDIRECT_PREFIX.test(replacement) ? 302 : 0;
  let flagged: RewriteOp['flag'] = redirect ? 'last' : null;
  if (flagWord !== undefined) {
    if (flagWord === 'last') flagged = 'last';
    else if (flagWord === 'break') flagged = 'break';
    else if (flagWord === 'redirect' || flagWord === 'permanent') {
      redirect = flagWord === 'redirect' ? 302 : 301;
      flagged = 'last';
    } else cx.fail(`invalid parameter "${flagWord}"`, node);
  }
  const hasQuery = replacement.includes('?');
  // A redirect keeps the `?` in its URL; an internal rewrite splits the new arguments off.
  const split = redirect || !hasQuery ? -1 : replacement.indexOf('?');
  const compile = (text: string) => guard(node, cx, () => compilePart(text, cx.captureNames));
  return {
    kind: 'rewrite',
    regex,
    source,
    uri: compile(split < 0 ? replacement : replacement.slice(0, split)),
    args: split < 0 ? null : compile(replacement.slice(split + 1)),
    redirect,
    flag: flagged,
    addArgs,
    hasQuery,
  };
}

/** `return code [text|URL]` or `return URL` (302), nginx's checks. */
function returnOp(node: ConfNode, cx: ParseContext): ReturnOp {
  const args = argsOf(node, cx);
  if (args.length < 1 || args.length > 2) cx.fail('invalid number of arguments in "return" directive', node);
  let status: number;
  let text: string | null;
  if (!/^\d+$/.test(args[0])) {
    if (args.length !== 1 || !REDIRECT_PREFIX.test(args[0])) return cx.fail(`invalid return code "${args[0]}"`, node);
    status = 302;
    text = args[0];
  } else {
    status = Number(args[0]);
    if (status > 999) cx.fail(`invalid return code "${args[0]}"`, node);
    text = args[1] ?? null;
  }
  const template = text === null ? null : guard(node, cx, () => compileValue(text!, cx.captureNames));
  return { kind: 'return', status, text, template };
}

function setOp(node: ConfNode, cx: ParseContext): SetOp {
  const args = argsOf(node, cx);
  if (args.length !== 2) cx.fail('invalid number of arguments in "set" directive', node);
  return { kind: 'set', name: variableName(args[0], node, cx), value: guard(node, cx, () => compileValue(args[1], cx.captureNames)) };
}

/** The name `set` declares: `$name`, not one of nginx's own variables but `$args`. */
function variableName(arg: string, node: ConfNode, cx: ParseContext): string {
  if (!arg.startsWith('$') || arg.length < 2) return cx.fail(`invalid variable name "${arg}"`, node);
  const name = arg.slice(1);
  if (name !== 'args' && isBuiltInVariable(name)) cx.fail(`the duplicate "${name}" variable`, node);
  return name;
}

function breakOp(node: ConfNode, cx: ParseContext): Op {
  if (node.kind === 'scalar' && (node.value === null || node.value === '')) return { kind: 'break' };
  return cx.fail('invalid number of arguments in "break" directive', node);
}

/** `if: { condition: "$x ~ y", ...directives }`: the directives run in the order written when the condition holds. */
function ifOp(node: ConfNode, cx: ParseContext): IfOp {
  if (node.kind !== 'map') return cx.fail('"if" takes a map: { condition: "...", directives... }', node);
  const block = node as MapNode;
  const conditionEntry = block.entries.find((e) => e.key === 'condition');
  if (!conditionEntry) return cx.fail('"if" needs a "condition"', node);
  const body: Op[] = [];
  const foreign: ForeignEntry[] = [];
  for (const e of block.entries) {
    if (e === conditionEntry) continue;
    if (e.key === 'condition') throw new ConfigError('"condition" directive is duplicate', e.keyPos);
    // nginx's `if` stands in a server or a location, not in another `if`.
    if (e.key === 'if') throw new ConfigError('"if" directive is not allowed here', e.keyPos);
    const parse = SCRIPT_DIRECTIVES[e.key];
    if (parse) body.push(...parse(e.value, cx));
    // nginx allows them in `if`; here they are read and keep the block's value (the flag of the location or server).
    else if (e.key === 'rewrite_log' || e.key === 'uninitialized_variable_warn') flag(e.value, cx, e.key);
    else foreign.push({ key: e.key, position: e.keyPos });
  }
  const text = conditionText(conditionEntry, cx);
  return { kind: 'if', condition: condition(text, conditionEntry.value, cx), text, body, foreign, block: foreign.length ? block : null };
}

function conditionText(entry: Entry, cx: ParseContext): string {
  const node = entry.value;
  if (node.kind !== 'scalar' || node.value === null || typeof node.value === 'boolean') return cx.fail('invalid condition: "condition" takes the text written inside the parentheses', node);
  const text = String(node.source ?? node.value).trim();
  // Written with its parentheses, as in nginx.conf: the same condition.
  return text.startsWith('(') && text.endsWith(')') ? text.slice(1, -1).trim() : text;
}

/** nginx's ngx_http_rewrite_if_condition, on the arguments inside the parentheses. */
function condition(text: string, node: ConfNode, cx: ParseContext): Condition {
  const tokens = guard(node, cx, () => splitArgs(text));
  if (tokens.length === 0) return cx.fail('invalid condition "()"', node);
  const [first] = tokens;
  const compile = (value: string) => guard(node, cx, () => compileValue(value, cx.captureNames));
  if (first.length > 1 && first.startsWith('$')) {
    if (tokens.length !== 1 && tokens.length !== 3) return cx.fail(`invalid condition "${first}"`, node);
    const left = compile(first);
    if (tokens.length === 1) return { kind: 'variable', value: left };
    const [, op, right] = tokens;
    if (op === '=' || op === '!=') return { kind: 'equal', negative: op === '!=', left, right: compile(right) };
    if (op === '~' || op === '~*' || op === '!~' || op === '!~*') {
      const regex = guard(node, cx, () => compileRegex(right, op.endsWith('*')));
      checkGroupNames(right, node, cx);
      return { kind: 'match', negative: op.startsWith('!'), left, regex, source: right };
    }
    return cx.fail(`unexpected "${op}" in condition`, node);
  }
  const file = /^(!?)-([fdex])$/.exec(first);
  if (file || /^!?-.$/.test(first)) {
    if (tokens.length !== 2 || !file) return cx.fail(`invalid condition "${first}"`, node);
    return { kind: 'file', negative: file[1] === '!', test: file[2] as FileTest, path: compile(tokens[1]) };
  }
  return cx.fail(`invalid condition "${first}"`, node);
}

/** A named group makes a variable: not one of nginx's own (`the duplicate "host" variable`, as nginx). */
function checkGroupNames(source: string, node: ConfNode, cx: ParseContext): void {
  for (const name of namedGroups(source)) if (isBuiltInVariable(name)) cx.fail(`the duplicate "${name}" variable`, node);
}

/** Named groups of a regex (`(?<name>`, PCRE's `(?P<name>`): nginx makes each a variable. */
function namedGroups(source: string): string[] {
  return [...source.matchAll(/\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/g)].map((m) => m[1]);
}

/** The variables a script directive declares, looked at before anything is compiled (`set` names, named captures). */
function declared(key: string, node: ConfNode, cx: ParseContext): string[] {
  const names: string[] = [];
  for (const n of occurrences(node)) {
    if (key === 'if') {
      if (n.kind !== 'map') continue;
      for (const e of (n as MapNode).entries) {
        if (e.key === 'condition' && e.value.kind === 'scalar' && typeof e.value.value === 'string') names.push(...namedGroups(e.value.value));
        else if (Object.hasOwn(SCRIPT_DIRECTIVES, e.key)) names.push(...declared(e.key, e.value, cx));
      }
      continue;
    }
    if (n.kind !== 'scalar' || typeof n.value !== 'string') continue;
    let args: string[];
    try {
      args = splitArgs(n.value);
    } catch {
      continue; // the directive's own parser reports it
    }
    if (key === 'set' && args.length === 2 && args[0].startsWith('$') && args[0].length > 1 && !isBuiltInVariable(args[0].slice(1))) names.push(args[0].slice(1));
    if (key === 'rewrite' && args.length >= 2) names.push(...namedGroups(args[0]));
  }
  return names;
}

const join = (earlier: unknown, later: unknown) => [...(earlier as Op[]), ...(later as Op[])];
const scriptRow = (directive: string) => row(['server', 'location'], SCRIPT_DIRECTIVES[directive], { field: 'script', combine: join, inherit: false });

export const rewriteModule: ConfModule<RewriteConf> = {
  name: 'rewrite',
  directives: {
    rewrite: scriptRow('rewrite'),
    return: scriptRow('return'),
    set: scriptRow('set'),
    break: scriptRow('break'),
    if: scriptRow('if'),
    rewrite_log: row(['http', 'server', 'location'], flag),
    uninitialized_variable_warn: row(['http', 'server', 'location'], flag),
  },
  defaults: () => ({ script: null, rewriteLog: false, uninitializedVariableWarn: true }),
  declares: {
    set: (node, cx) => declared('set', node, cx),
    rewrite: (node, cx) => declared('rewrite', node, cx),
    if: (node, cx) => declared('if', node, cx),
  },
  check(_conf, own, block, fail) {
    for (const op of own.script ?? []) {
      if (op.kind !== 'if') continue;
      // nginx's `if` in a server takes the rewrite module's directives only; in a location, those marked NGX_HTTP_LIF_CONF too.
      for (const f of op.foreign) if (block.context !== 'location' || !IN_LOCATION_IF.has(f.key)) fail(`"${f.key}" directive is not allowed here`, f.position);
    }
  },
  innerBlocks: (own) => (own.script ?? []).flatMap((op) => (op.kind === 'if' && op.block ? [{ key: op, block: op.block, skip: IF_OWN }] : [])),
};
