/**
 * `http.upstreams`: nginx's `upstream NAME { server ...; keepalive N; least_conn; }` blocks as
 * a YAML map of name -> block, checked at load with nginx's defaults (weight 1, max_fails 1,
 * fail_timeout 10s) and nginx's words for what is wrong.
 */
import { ConfigError, type Position } from '../../errors';
import type { ConfNode, MapNode } from '../../config/load';
import { refusal } from '../../config/not-supported';
import { parseTime, splitArgs } from '../../config/values';
import type { ScriptRef } from '../../shared/script-loader';
import type { BalancerContext } from '../../types';

/** A `balancer_by` script, loaded and configured: `run` is called for every try. */
export type BalancerRef = ScriptRef<[BalancerContext], void | Promise<void>>;

/** One `server` line of an upstream block, with nginx's defaults filled in. */
export interface UpstreamServerConf {
  /** `host:port` (or `unix:/path`) as nginx names the peer in logs and `$upstream_addr`. */
  readonly name: string;
  /** The host name or address, without the brackets of an IPv6 literal ('' for a unix socket). */
  readonly host: string;
  /** 0 for a unix socket. */
  readonly port: number;
  /** `server unix:/path`: the socket's path, else null. */
  readonly socketPath: string | null;
  /** `weight=N` (1). */
  readonly weight: number;
  /** `max_conns=N` (0: no limit): at most N requests on the peer at once, per worker (nginx without a `zone`). */
  readonly maxConns: number;
  /** `max_fails=N` (1; 0 turns the accounting off). */
  readonly maxFails: number;
  /** `fail_timeout=T` in ms (10s). */
  readonly failTimeout: number;
  readonly backup: boolean;
  readonly down: boolean;
}

/** How an upstream picks a peer: weighted round robin unless told otherwise. */
export type BalanceMethod =
  | { readonly kind: 'round_robin' }
  | { readonly kind: 'least_conn' }
  | { readonly kind: 'ip_hash' }
  | { readonly kind: 'hash'; readonly key: string; readonly consistent: boolean }
  /** `random [two [least_conn]]`: a peer at random by weight; `two`: the less loaded of two such. */
  | { readonly kind: 'random'; readonly two: boolean };

/** One `upstreams` entry: nginx's `upstream NAME { ... }`. */
export interface UpstreamConf {
  readonly name: string;
  readonly servers: readonly UpstreamServerConf[];
  /** `keepalive N`: idle connections kept per worker (null: the agent's default). */
  readonly keepalive: number | null;
  /** `keepalive_requests N`: requests one kept connection serves before it is closed (nginx: 1000). */
  readonly keepaliveRequests: number;
  /** `keepalive_timeout T` (ms): how long an idle kept connection stays open (nginx: 60s). */
  readonly keepaliveTimeout: number;
  /** `keepalive_time T` (ms): how long a kept connection may be used at all (nginx: 1h). */
  readonly keepaliveTime: number;
  readonly method: BalanceMethod;
  /** `balancer_by` (OpenResty's `balancer_by_lua`): the script that picks each try's peer, or null. */
  readonly balancerBy: BalancerRef | null;
  readonly position: Position;
}

/** nginx's upstream keep-alive limits where the block sets none: 1000 requests, 60 s idle, 1 h in all. */
export const KEEPALIVE_DEFAULTS: Readonly<Pick<UpstreamConf, 'keepaliveRequests' | 'keepaliveTimeout' | 'keepaliveTime'>> = {
  keepaliveRequests: 1000,
  keepaliveTimeout: 60_000,
  keepaliveTime: 3_600_000,
};

/** The directives of an upstream block nginx refuses twice ("is duplicate"). */
const ONCE: ReadonlySet<string> = new Set(['keepalive', 'balancer_by', 'keepalive_requests', 'keepalive_timeout', 'keepalive_time']);

/** How a failure is raised at a node (the build's `cx.fail`). */
type Fail = (reason: string, node: ConfNode) => never;

/**
 * Parses the `upstreams` map. `checkKey` compiles a `hash` key (variables) or throws;
 * `loadBalancer` loads a `balancer_by` script (none given: the directive is refused).
 */
export function parseUpstreams(node: ConfNode, fail: Fail, checkKey: (key: string) => void, loadBalancer?: (node: ConfNode) => BalancerRef): Map<string, UpstreamConf> {
  if (node.kind !== 'map') return fail('"upstreams" must be a map of name -> upstream block', node);
  const upstreams = new Map<string, UpstreamConf>();
  for (const e of node.entries) {
    if (!/^[A-Za-z0-9._-]+$/.test(e.key)) throw new ConfigError(`invalid upstream name "${e.key}"`, e.keyPos);
    if (upstreams.has(e.key)) throw new ConfigError(`duplicate upstream "${e.key}"`, e.keyPos);
    if (e.value.kind !== 'map') fail(`upstream "${e.key}" must be a map of directives`, e.value);
    upstreams.set(e.key, parseUpstream(e.key, e.value as MapNode, fail, checkKey, loadBalancer));
  }
  return upstreams;
}

function parseUpstream(name: string, block: MapNode, fail: Fail, checkKey: (key: string) => void, loadBalancer?: (node: ConfNode) => BalancerRef): UpstreamConf {
  let servers: UpstreamServerConf[] | null = null;
  let balancerBy: BalancerRef | null = null;
  let keepalive: number | null = null;
  const kept = { ...KEEPALIVE_DEFAULTS };
  let method: BalanceMethod = { kind: 'round_robin' };
  let methodSet = false;
  const setMethod = (m: BalanceMethod, at: ConfNode) => {
    if (methodSet) fail('load balancing method redefined', at);
    methodSet = true;
    method = m;
  };
  const seen = new Set<string>();
  for (const e of block.entries) {
    const value = e.value;
    // `server` lines add up, a balancing method twice is "redefined" (below); `keepalive` or a script twice is nginx's "is duplicate".
    if (ONCE.has(e.key) && seen.has(e.key)) throw new ConfigError(`"${e.key}" directive is duplicate`, e.keyPos);
    seen.add(e.key);
    switch (e.key) {
      case 'servers':
      case 'server':
        servers = [...(servers ?? []), ...(value.kind === 'seq' ? value.items : [value]).map((item) => parseServer(item, fail))];
        break;
      case 'keepalive': {
        const args = scalarArgs(value, fail, e.key);
        const n = Number(args[0]);
        if (args.length !== 1 || !/^\d+$/.test(args[0]) || n < 1) fail(`invalid value "${args.join(' ')}" in "keepalive" directive`, value);
        keepalive = n;
        break;
      }
      case 'keepalive_requests': {
        const args = scalarArgs(value, fail, e.key);
        if (args.length !== 1) fail(`invalid number of arguments in "${e.key}" directive`, value);
        if (!/^\d+$/.test(args[0]) || !Number.isSafeInteger(Number(args[0]))) fail(`"${e.key}" directive invalid number`, value);
        kept.keepaliveRequests = Number(args[0]);
        break;
      }
      case 'keepalive_timeout':
      case 'keepalive_time': {
        const args = scalarArgs(value, fail, e.key);
        if (args.length !== 1) fail(`invalid number of arguments in "${e.key}" directive`, value);
        let ms = 0;
        try {
          ms = parseTime(args[0]);
        } catch {
          fail(`"${e.key}" directive invalid value`, value);
        }
        if (e.key === 'keepalive_timeout') kept.keepaliveTimeout = ms;
        else kept.keepaliveTime = ms;
        break;
      }
      case 'least_conn':
      case 'ip_hash':
        if (!switchedOn(value)) fail(`"${e.key}" takes no value (write "${e.key}: on" or leave it empty)`, value);
        setMethod({ kind: e.key }, value);
        break;
      case 'hash': {
        const args = scalarArgs(value, fail, e.key);
        if (args.length < 1 || args.length > 2 || (args.length === 2 && args[1] !== 'consistent')) fail('invalid number of arguments in "hash" directive', value);
        try {
          checkKey(args[0]);
        } catch (err) {
          fail((err as Error).message, value);
        }
        setMethod({ kind: 'hash', key: args[0], consistent: args.length === 2 }, value);
        break;
      }
      case 'random': {
        const args = switchedOn(value) ? [] : scalarArgs(value, fail, e.key);
        if (args.length > 2) fail('invalid number of arguments in "random" directive', value);
        if (args.length >= 1 && args[0] !== 'two') fail(`invalid parameter "${args[0]}"`, value);
        if (args.length === 2 && args[1] !== 'least_conn') fail(`invalid parameter "${args[1]}"`, value);
        setMethod({ kind: 'random', two: args.length >= 1 }, value);
        break;
      }
      case 'balancer_by':
        if (!loadBalancer) throw new ConfigError(`unknown directive "${e.key}" in upstream "${name}"`, e.keyPos);
        balancerBy = loadBalancer(value);
        break;
      default:
        throw new ConfigError(`${refusal(e.key)} in upstream "${name}"`, e.keyPos);
    }
  }
  // An upstream whose script picks every peer needs no servers (as lua-nginx-module since 0.10.24).
  if ((!servers || servers.length === 0) && !balancerBy) return fail(`no servers are inside upstream "${name}"`, block);
  servers ??= [];
  const chosen = method as BalanceMethod;
  if ((chosen.kind === 'ip_hash' || chosen.kind === 'hash') && servers.some((s) => s.backup)) {
    fail(`"backup" parameter is incompatible with "${chosen.kind}" in upstream "${name}"`, block);
  }
  // nginx's random module takes no `backup` (its flags lack NGX_HTTP_UPSTREAM_BACKUP).
  if (chosen.kind === 'random' && servers.some((s) => s.backup)) fail('balancing method does not support parameter "backup"', block);
  return { name, servers, keepalive, ...kept, method: chosen, balancerBy, position: block.pos };
}

/** `least_conn:` (empty), `on`, `true`. */
function switchedOn(value: ConfNode): boolean {
  return value.kind === 'scalar' && (value.value === null || value.value === true || value.value === 'on' || value.value === '');
}

function scalarArgs(value: ConfNode, fail: Fail, name: string): string[] {
  if (value.kind !== 'scalar' || value.value === null) return fail(`invalid number of arguments in "${name}" directive`, value);
  try {
    return splitArgs(String(value.value));
  } catch (err) {
    return fail((err as Error).message, value);
  }
}

/**
 * One `server` line: `host[:port] [weight=N] [max_conns=N] [max_fails=N] [fail_timeout=T]
 * [backup] [down]`. NGINX Plus's `slow_start=`, `resolve`, `route=`, `service=` are nginx
 * 1.22's `invalid parameter`, as there.
 */
export function parseServerLine(line: string): UpstreamServerConf {
  const [address, ...params] = splitArgs(line);
  if (!address) throw new Error('invalid number of arguments in "server" directive');
  const { host, port, socketPath } = parseAddress(address);
  const name = socketPath !== null ? `unix:${socketPath}` : `${host.includes(':') ? `[${host}]` : host}:${port}`;
  const server = { name, host, port, socketPath, weight: 1, maxConns: 0, maxFails: 1, failTimeout: 10_000, backup: false, down: false };
  for (const param of params) {
    const eq = /^(weight|max_conns|max_fails|fail_timeout)=(.*)$/.exec(param);
    if (eq) {
      const [, key, v] = eq;
      if (key === 'fail_timeout') {
        server.failTimeout = parseTime(v);
        continue;
      }
      const n = Number(v);
      if (!/^\d+$/.test(v) || (key === 'weight' && n < 1)) throw new Error(`invalid parameter "${param}"`);
      if (key === 'weight') server.weight = n;
      else if (key === 'max_conns') server.maxConns = n;
      else server.maxFails = n;
    } else if (param === 'backup') server.backup = true;
    else if (param === 'down') server.down = true;
    else throw new Error(`invalid parameter "${param}"`);
  }
  return server;
}

function parseServer(item: ConfNode, fail: Fail): UpstreamServerConf {
  if (item.kind !== 'scalar' || typeof item.value !== 'string') return fail('an upstream server is written "host:port [weight=N] ..."', item);
  try {
    return parseServerLine(item.value);
  } catch (err) {
    return fail((err as Error).message, item);
  }
}

/** `host:port`, `host` (port 80), `[::1]:8080`, `unix:/path` (all of it the path, as nginx reads a server's). */
function parseAddress(address: string): { host: string; port: number; socketPath: string | null } {
  if (/^unix:/i.test(address)) {
    const socketPath = unixPath(address.slice(5), address);
    return { host: '', port: 0, socketPath };
  }
  if (/^[a-z]+:\/\//i.test(address)) throw new Error(`invalid host in upstream "${address}"`);
  let host = address;
  let port: string | null = null;
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::(.*))?$/.exec(address);
  if (v6) {
    host = v6[1];
    port = v6[2] ?? null;
  } else if (address.includes(':')) {
    const colon = address.lastIndexOf(':');
    host = address.slice(0, colon);
    port = address.slice(colon + 1);
  }
  if (!host || (!v6 && !/^[A-Za-z0-9._-]+$/.test(host))) throw new Error(`invalid host in upstream "${address}"`);
  const n = port === null ? 80 : Number(port);
  if (port !== null && (!/^\d{1,5}$/.test(port) || n < 1 || n > 65535)) throw new Error(`invalid port in upstream "${address}"`);
  return { host: v6 ? host : host.toLowerCase(), port: n, socketPath: null };
}

/** The longest path a unix socket's address holds (`sun_path` less its NUL). */
export const UNIX_PATH_MAX = 107;

/** A unix socket's path as nginx checks it (`ngx_parse_unix_domain_url`), with nginx's words in upstream `url`. */
export function unixPath(path: string, url: string): string {
  if (path === '') throw new Error(`no path in the unix domain socket in upstream "${url}"`);
  if (Buffer.byteLength(path) > UNIX_PATH_MAX) throw new Error(`too long path in the unix domain socket in upstream "${url}"`);
  return path;
}
