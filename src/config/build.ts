/**
 * The located tree -> the checked, merged, frozen `MainConf`. Walks main -> events -> http ->
 * servers -> locations, applies the directive table, merges inherited directives once, and
 * runs each location's handler `configure` (so `gateway -t` checks handler options too).
 */
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { ConfigError, type Position } from '../errors';
import { resolveHandler } from '../modules/registry';
import { createServerContext } from '../server/tls';
import type { ConfigContext, HandlerModule } from '../types';
import { compileValue } from '../http/variables';
import { argsOf, commonDefaults, copyCommon, directive, mergeCommon, NOT_YET_SUPPORTED, type Context, type ParseContext } from './directives';
import { ConfigSources } from './sources';
import { loadFile, plainValue, type ConfNode, type Entry, type MapNode, type SeqNode } from './load';
import type { CommonConf, LocationConf, LogFormatConf, MainConf, ProxyRedirectConf, ServerConf, UpstreamConf } from './model';
import { parseUpstreams } from '../modules/proxy/upstreams';
import { MAX_TIMER_MS, parseBoundedTime, parseFlag, parseListen, parseLocation, parseServerName, parseSize, type ListenSpec, type LocationMatch } from './values';

/** Where to read the configuration and what relative paths resolve against. */
export interface LoadOptions {
  readonly file: string;
  readonly prefix: string;
  /** Where files are read from: the disk (the default), or the master's checked snapshot. */
  readonly sources?: ConfigSources;
}

/** Loads, checks and freezes a configuration file. Throws ConfigError on the first problem. */
export function loadConfig(options: LoadOptions): MainConf {
  const file = path.resolve(options.file);
  const prefix = path.resolve(options.prefix);
  const sources = options.sources ?? new ConfigSources();
  return buildConfig(loadFile(file, sources), file, prefix, sources);
}

/** Builds a MainConf from an already parsed tree (tests use this with `parseText`). */
export function buildConfig(root: ConfNode, file: string, prefix: string, sources: ConfigSources = new ConfigSources()): MainConf {
  if (root.kind !== 'map') throw new ConfigError('the configuration must be a map of directives', root.pos);
  const captureNames = collectCaptureNames(root);
  const cx: ParseContext & { captureNames: ReadonlySet<string> } = {
    file,
    prefix,
    captureNames,
    readFile: (f) => sources.readFile(f),
    fail(reason, node) {
      throw new ConfigError(reason, node.pos);
    },
  };
  let events: MapNode | null = null;
  let http: MapNode | null = null;
  const main = collect(root, 'main', cx, {
    events: (e) => (events = asMap(e, cx)),
    http: (e) => (http = asMap(e, cx)),
  });
  const eventValues = events ? collect(events, 'events', cx, {}) : {};
  const defaults = commonDefaults(prefix);
  const handlersDir = (main.handlersDir as string | undefined) ?? path.resolve(prefix, 'handlers');
  const httpConf = http ? buildHttp(http, cx, defaults, handlersDir) : { servers: [], logFormats: new Map<string, LogFormatConf>(), upstreams: new Map<string, UpstreamConf>(), pushRedisUrl: null };
  const workers = main.workerProcesses ?? 1;
  return deepFreeze({
    file,
    prefix,
    workerProcesses: workers === 'auto' ? availableParallelism() : (workers as number),
    masterProcess: (main.masterProcess as boolean | undefined) ?? true,
    workerShutdownTimeout: (main.workerShutdownTimeout as number | undefined) ?? null,
    pid: main.pid === undefined ? path.resolve(prefix, 'logs/gateway.pid') : (main.pid as string | null),
    errorLog: (main.errorLog as MainConf['errorLog']) ?? { path: path.resolve(prefix, 'logs/error.log'), level: 'error' },
    workerConnections: (eventValues.workerConnections as number | undefined) ?? 512,
    handlersDir,
    captureNames,
    http: httpConf,
  });
}

type Cx = ParseContext & { captureNames: ReadonlySet<string> };

function asMap(entry: Entry, cx: Cx): MapNode {
  if (entry.value.kind !== 'map') cx.fail(`"${entry.key}" must be a map of directives`, entry.value);
  return entry.value as MapNode;
}

/**
 * Applies the directive table to one block: structural keys go to `structural`, the rest are
 * parsed into fields. `extra` takes keys the table does not know (a handler's own keys).
 */
function collect(
  block: MapNode,
  context: Context,
  cx: Cx,
  structural: Record<string, (e: Entry) => void>,
  extra?: (e: Entry) => void,
): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  const seen = new Set<string>();
  for (const e of block.entries) {
    if (Object.hasOwn(structural, e.key)) {
      if (seen.has(e.key)) throw new ConfigError(`"${e.key}" directive is duplicate`, e.keyPos);
      seen.add(e.key);
      structural[e.key](e);
      continue;
    }
    const d = directive(e.key);
    if (!d) {
      if (extra && !NOT_YET_SUPPORTED.has(e.key)) {
        extra(e);
        continue;
      }
      const reason = NOT_YET_SUPPORTED.has(e.key) ? `"${e.key}" directive is not supported yet` : `unknown directive "${e.key}"`;
      throw new ConfigError(reason, e.keyPos);
    }
    if (!d.contexts.includes(context)) throw new ConfigError(`"${e.key}" directive is not allowed here`, e.keyPos);
    const earlier = Object.hasOwn(values, d.field);
    if (earlier && !d.combine) throw new ConfigError(`"${e.key}" directive is duplicate`, e.keyPos);
    const value = d.parse(e.value, cx, e.key);
    values[d.field] = earlier ? d.combine!(values[d.field], value) : value;
  }
  checkTemplates(values, block, cx);
  return values;
}

/** Compiles every variable-bearing value once, so an unknown `$variable` fails the check. */
function checkTemplates(values: Record<string, unknown>, block: MapNode, cx: Cx): void {
  const at = (name: string): Position => block.entries.find((e) => e.key === name)?.value.pos ?? block.pos;
  const check = (text: string, name: string) => {
    try {
      compileValue(text, cx.captureNames);
    } catch (err) {
      throw new ConfigError((err as Error).message, at(name));
    }
  };
  for (const h of (values.addHeaders as { value: string }[] | undefined) ?? []) check(h.value, 'add_header');
  for (const [, v] of (values.proxySetHeaders as [string, string][] | undefined) ?? []) check(v, 'proxy_set_header');
  for (const [, f] of (values.logFormats as Map<string, LogFormatConf> | undefined) ?? []) check(f.format, 'log_format');
  const expires = values.expires as { kind: string; template?: string } | undefined;
  if (expires?.template !== undefined) check(expires.template, 'expires');
  for (const arg of (values.tryFiles as string[] | undefined) ?? []) check(arg, 'try_files');
  const symlinks = values.disableSymlinks as { from: string | null } | undefined;
  if (symlinks?.from) check(symlinks.from, 'disable_symlinks');
  const ret = values.return as { text: string | null } | undefined;
  if (ret?.text) check(ret.text, 'return');
}

function buildHttp(block: MapNode, cx: Cx, defaults: CommonConf, handlersDir: string): MainConf['http'] {
  let serverNodes: ConfNode[] = [];
  let upstreams = new Map<string, UpstreamConf>();
  const own = collect(block, 'http', cx, {
    servers: (e) => {
      if (e.value.kind !== 'seq') cx.fail('"servers" must be a list of server blocks', e.value);
      serverNodes = [...(e.value as SeqNode).items];
    },
    upstreams: (e) => {
      upstreams = parseUpstreams(e.value, cx.fail, (key) => void compileValue(key, cx.captureNames));
    },
  });
  checkRedirectDefault(block, own);
  const logFormats = (own.logFormats as Map<string, LogFormatConf> | undefined) ?? new Map<string, LogFormatConf>();
  const common = mergeCommon(defaults, own);
  const servers = serverNodes.map((node) => {
    if (node.kind !== 'map') return cx.fail('a server block must be a map of directives', node);
    return buildServer(node, cx, common, handlersDir, upstreams);
  });
  const defaultListens = new Set<string>();
  // Sockets some server listens on with `ssl`: a Set, since servers x listens x servers x listens
  // took minutes for a server of 50,000 listens.
  const sslKeys = new Set(servers.flatMap((s) => s.listens.filter((l) => l.ssl).map((l) => l.key)));
  for (const server of servers) {
    for (const listen of server.listens.filter((l) => l.defaultServer)) {
      if (defaultListens.has(listen.key)) throw new ConfigError(`a duplicate default server for ${listen.key}`, server.position);
      defaultListens.add(listen.key);
    }
    const sslListen = server.listens.find((l) => sslKeys.has(l.key));
    if (sslListen) {
      if (!server.sslCertificate) throw new ConfigError(`no "ssl_certificate" is defined for the "listen ... ssl" directive`, server.position);
      try {
        createServerContext(server);
      } catch (err) {
        throw new ConfigError((err as Error).message, server.position);
      }
    }
    for (const log of server.accessLogs) {
      if (log.format !== 'combined' && !logFormats.has(log.format)) {
        throw new ConfigError(`unknown log format "${log.format}"`, server.position);
      }
    }
  }
  return { servers, logFormats, upstreams, pushRedisUrl: (own.pushRedisUrl as string | undefined) ?? null };
}

function buildServer(block: MapNode, cx: Cx, parent: CommonConf, handlersDir: string, upstreams: ReadonlyMap<string, UpstreamConf>): ServerConf {
  let locationNodes: ConfNode[] = [];
  const own = collect(block, 'server', cx, {
    locations: (e) => {
      if (e.value.kind !== 'seq') cx.fail('"locations" must be a list of location blocks', e.value);
      locationNodes = [...(e.value as SeqNode).items];
    },
  });
  checkRedirectDefault(block, own);
  const common = mergeCommon(parent, own);
  const nameArgs = (own.serverNameArgs as string[] | undefined) ?? [''];
  const serverNames = nameArgs.flatMap((arg) => {
    try {
      return parseServerName(arg);
    } catch (err) {
      throw new ConfigError((err as Error).message, block.entries.find((e) => e.key === 'server_name')!.value.pos);
    }
  });
  const locations = locationNodes.map((node) => {
    if (node.kind !== 'map') return cx.fail('a location block must be a map of directives', node);
    return buildLocation(node, cx, common, handlersDir, upstreams);
  });
  checkDuplicateLocations(locations);
  // nginx's default: `listen *:80`.
  const listens = (own.listens as ListenSpec[] | undefined) ?? [parseListen(['80'])];
  const serverLocation = buildServerLocation(common, (own.tryFiles as string[] | undefined) ?? null, block.pos, cx, handlersDir);
  return extend(common, { listens, serverNames, primaryName: (nameArgs[0] ?? '').replace(/^\./, ''), locations, serverLocation, position: block.pos });
}

/** The server block's own location: static, with the server's `try_files` (not inherited by locations, as in nginx). */
function buildServerLocation(common: CommonConf, tryFiles: string[] | null, position: Position, cx: Cx, handlersDir: string): LocationConf {
  const fields = {
    match: { kind: 'prefix', path: '', noRegex: false } as const,
    name: '',
    handler: 'static',
    alias: null,
    tryFiles,
    proxyPass: null,
    return: null,
    position,
  };
  const handlerOptions = runConfigure(resolveHandler('static', cx.prefix, handlersDir), [], extend(common, fields), cx, handlersDir, 'static');
  return extend(common, { ...fields, handlerOptions });
}

function checkDuplicateLocations(locations: readonly LocationConf[]): void {
  const seen = new Set<string>();
  for (const loc of locations) {
    const key = loc.match.kind === 'regex' ? `${loc.match.kind}:${loc.match.regex}` : `${loc.match.kind === 'prefix' ? 'prefix' : loc.match.kind}:${'path' in loc.match ? loc.match.path : loc.name}`;
    if (seen.has(key)) throw new ConfigError(`duplicate location "${loc.name}"`, loc.position);
    seen.add(key);
  }
}

function buildLocation(block: MapNode, cx: Cx, parent: CommonConf, handlersDir: string, upstreams: ReadonlyMap<string, UpstreamConf>): LocationConf {
  let match: LocationMatch | null = null;
  let name = '';
  let handlerName: string | null = null;
  let handlerPos: Position = block.pos;
  const ownKeys: Entry[] = [];
  const own = collect(
    block,
    'location',
    cx,
    {
      location: (e) => {
        const args = argsOf(e.value, cx);
        try {
          match = parseLocation(args);
        } catch (err) {
          cx.fail((err as Error).message, e.value);
        }
        name = args.join(' ');
      },
      handler: (e) => {
        if (e.value.kind !== 'scalar' || typeof e.value.value !== 'string' || !e.value.value) cx.fail('"handler" takes a name or a module path', e.value);
        handlerName = e.value.value as string;
        handlerPos = e.value.pos;
      },
    },
    (e) => ownKeys.push(e),
  );
  if (!match) throw new ConfigError('a location block needs "location"', block.pos);
  checkRedirectDefault(block, own);
  if (own.alias !== undefined && own.root !== undefined) {
    throw new ConfigError('"alias" directive is duplicate, "root" directive was specified earlier', block.pos);
  }
  const common = mergeCommon(parent, own);
  const handler = handlerName ?? impliedHandler(own);
  if (own.proxyPass !== undefined && handler !== 'proxy') throw new ConfigError(`"proxy_pass" goes with handler "proxy", not "${handler}"`, handlerPos);
  if (own.return !== undefined && handler !== 'return') throw new ConfigError(`"return" goes with handler "return", not "${handler}"`, handlerPos);
  if (own.stubStatus !== undefined && handler !== 'stub_status') throw new ConfigError(`"stub_status" goes with handler "stub_status", not "${handler}"`, handlerPos);
  const fields = {
    match: match as LocationMatch,
    name,
    handler,
    alias: (own.alias as string | undefined) ?? null,
    tryFiles: (own.tryFiles as string[] | undefined) ?? null,
    proxyPass: (own.proxyPass as string | undefined) ?? null,
    upstream: upstreamOf(own.proxyPass as string | undefined, upstreams),
    return: (own.return as LocationConf['return'] | undefined) ?? null,
    position: block.pos,
  };
  const base = extend(common, fields);
  let module: HandlerModule;
  try {
    module = resolveHandler(handler, cx.prefix, handlersDir);
  } catch (err) {
    throw new ConfigError((err as Error).message, handlerPos);
  }
  const handlerOptions = runConfigure(module, ownKeys, base, cx, handlersDir, handler);
  return extend(common, { ...fields, handlerOptions });
}

/**
 * nginx refuses `proxy_redirect default` in a block without `proxy_pass` (http, server, or a
 * location that does not proxy): "default" is the `proxy_pass` URL, which only a proxying
 * location has.
 */
function checkRedirectDefault(block: MapNode, own: Readonly<Record<string, unknown>>): void {
  const rules = own.proxyRedirect as readonly ProxyRedirectConf[] | undefined;
  if (!rules?.includes('default') || own.proxyPass !== undefined) return;
  const entry = block.entries.find((e) => e.key === 'proxy_redirect');
  throw new ConfigError('"proxy_redirect default" should be placed after the "proxy_pass" directive', entry?.keyPos ?? block.pos);
}

/** The handler a location's directives name when it has no `handler:`, as nginx's content handlers are set. */
function impliedHandler(own: Readonly<Record<string, unknown>>): string {
  if (own.proxyPass !== undefined) return 'proxy';
  if (own.return !== undefined) return 'return';
  if (own.stubStatus !== undefined) return 'stub_status';
  return 'static';
}

/**
 * The upstream `proxy_pass http://NAME[/uri]` names: NAME without a port that is an
 * `upstreams` entry. Any other host stays a plain host:port, as in nginx.
 */
function upstreamOf(proxyPass: string | undefined, upstreams: ReadonlyMap<string, UpstreamConf>): UpstreamConf | null {
  const host = proxyPass ? /^https?:\/\/([^/:?#[\]]+)(?:[/?#]|$)/i.exec(proxyPass)?.[1] : undefined;
  return (host && upstreams.get(host)) || null;
}

/** Runs a handler's `configure` on its own keys; keys it never reads are unknown directives. */
function runConfigure(
  module: HandlerModule,
  entries: readonly Entry[],
  location: Omit<LocationConf, 'handlerOptions'>,
  cx: Cx,
  handlersDir: string,
  handler: string,
): unknown {
  const byKey = new Map(entries.map((e) => [e.key, e]));
  const read = new Set<string>();
  const plain = Object.fromEntries(entries.map((e) => [e.key, plainValue(e.value)]));
  const raw = new Proxy(plain, {
    get(target, key) {
      if (typeof key === 'string') read.add(key);
      return Reflect.get(target, key);
    },
    ownKeys(target) {
      for (const key of Reflect.ownKeys(target)) if (typeof key === 'string') read.add(key);
      return Reflect.ownKeys(target);
    },
  });
  const fail = (reason: string, key?: string): never => {
    const e = key ? byKey.get(key) : undefined;
    throw new ConfigError(reason, e ? e.value.pos : location.position);
  };
  // A number is handed over as written (`1.0`, `1e400`, `.nan`), as nginx reads its arguments: the
  // parsers read the text, and a refusal shows what the user wrote, not Infinity or NaN.
  const scalar = (key: string): string | number | boolean | undefined => {
    read.add(key);
    const e = byKey.get(key);
    if (!e) return undefined;
    if (e.value.kind !== 'scalar' || e.value.value === null) return fail(`"${key}" takes one value`, key);
    return e.value.source ?? e.value.value;
  };
  const parsed = <T>(key: string, parse: (v: string | number | boolean) => T): T | undefined => {
    const v = scalar(key);
    if (v === undefined) return undefined;
    try {
      return parse(v);
    } catch (err) {
      return fail(`${(err as Error).message} in "${key}"`, key);
    }
  };
  const context: ConfigContext = {
    location,
    prefix: cx.prefix,
    handlersDir,
    captureNames: cx.captureNames,
    error: fail,
    // A handler's times feed timers (the websocket `timeout`, `ping_interval`): Node's limit applies.
    time: (key, unit = 's') => parsed(key, (v) => parseBoundedTime(typeof v === 'boolean' ? String(v) : v, MAX_TIMER_MS, unit)),
    size: (key) => parsed(key, (v) => parseSize(typeof v === 'boolean' ? String(v) : v)),
    flag: (key) => parsed(key, (v) => parseFlag(v)),
    string: (key) => parsed(key, (v) => String(v)),
    integer: (key) =>
      parsed(key, (v) => {
        if (typeof v !== 'number' && !/^-?\d+$/.test(String(v))) throw new Error(`invalid number "${v}"`);
        const n = Number(v);
        if (!Number.isSafeInteger(n)) throw new Error(`invalid number "${v}"`);
        return n;
      }),
    resolve: (p) => path.resolve(cx.prefix, p),
  };
  let options: unknown;
  try {
    options = module.configure(raw, context);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`handler "${handler}" rejected its configuration: ${(err as Error).message}`, location.position);
  }
  for (const e of entries) {
    if (!read.has(e.key)) throw new ConfigError(`unknown directive "${e.key}" for handler "${handler}"`, e.keyPos);
  }
  return options;
}

/** Named captures of every regex location and server_name: nginx makes them variables. */
function collectCaptureNames(root: ConfNode): ReadonlySet<string> {
  const names = new Set<string>();
  const visit = (node: ConfNode) => {
    if (node.kind === 'seq') node.items.forEach(visit);
    if (node.kind !== 'map') return;
    for (const e of node.entries) {
      if ((e.key === 'location' || e.key === 'server_name') && e.value.kind !== 'map') {
        const text = JSON.stringify(plainValue(e.value));
        for (const m of text.matchAll(/\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/g)) names.add(m[1]);
      }
      visit(e.value);
    }
  };
  visit(root);
  return names;
}

/** `{ ...common, ...extra }`, kept fast (see `copyCommon`): a server's or a location's whole configuration. */
function extend<E extends object>(common: CommonConf, extra: E): CommonConf & E {
  return Object.assign(copyCommon(common), extra);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value) && !(value instanceof RegExp)) {
    if (value instanceof Map || value instanceof Set) return value;
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
