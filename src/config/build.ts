/**
 * The located tree -> the checked, merged, frozen `MainConf`. Walks main -> events -> http ->
 * servers -> locations; each directive goes to the module that owns it (the modules are handed
 * in, nginx's `ngx_command_t` tables), each module's conf is merged downwards once (a block that
 * writes none of a module's directives shares its parent's conf), each module checks its own,
 * and each location's content handler `configure`s its own keys (so `gateway -t` checks handler
 * options too). Imports no module: the modules and the handler registry are the caller's.
 */
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { ConfigError, type Position } from '../errors';
import type { ConfigContext, Configurable } from './handler-contract';
import { argsOf, type Context, type ParseContext } from './args';
import { loadFile, plainValue, type ConfNode, type Entry, type MapNode, type SeqNode } from './load';
import type { LocationConf, MainConf, ServerConf } from './model';
import type { BlockView, ConfModule, DirectiveRow } from './module';
import { ModuleConfs } from './module-confs';
import { isNginxDirective, refusal } from './not-supported';
import { ConfigSources } from './sources';
import { compileValue } from '../http/variables';
import { MAX_TIMER_MS, parseBoundedTime, parseFlag, parseListen, parseLocation, parseServerName, parseSize, type ListenSpec, type LocationMatch } from './values';

/** The content handler module a name stands for (a built-in, or a user's module); throws a one-line reason. */
export type HandlerResolver = (name: string, prefix: string, handlersDir: string) => Configurable;

/** What a configuration is built with: the modules, in order, and how handlers are found. */
export interface Registry {
  readonly modules: readonly ConfModule[];
  readonly handlers: HandlerResolver;
  /** The core module: where the process-level directives (`worker_processes`...) are read from. */
  readonly core: ConfModule<CoreFields>;
}

/** The core module's fields the configuration itself reads. */
export interface CoreFields {
  /** `worker_processes` (main): a number or `auto`. */
  readonly workerProcesses: number | 'auto';
  /** `master_process` (main). */
  readonly masterProcess: boolean;
  /** `worker_shutdown_timeout` (main, ms): null waits for ever. */
  readonly workerShutdownTimeout: number | null;
  /** `pid` (main): the file, or null for `off`. */
  readonly pid: string | null;
  /** `handlers_dir` (main): where bare handler and script names are looked up. */
  readonly handlersDir: string;
  /** `worker_connections` (events). */
  readonly workerConnections: number;
  /** `error_log`: the main level's is the process's; a block's own replaces it for that block. */
  readonly errorLog: MainConf['errorLog'] | null;
}

/** Where to read the configuration and what relative paths resolve against. */
export interface LoadOptions {
  readonly file: string;
  readonly prefix: string;
  readonly registry: Registry;
  /** Where files are read from: the disk (the default), or the master's checked snapshot. */
  readonly sources?: ConfigSources;
}

/** Loads, checks and freezes a configuration file. Throws ConfigError on the first problem. */
export function loadConfig(options: LoadOptions): MainConf {
  const file = path.resolve(options.file);
  const prefix = path.resolve(options.prefix);
  const sources = options.sources ?? new ConfigSources();
  return buildConfig(loadFile(file, sources), file, prefix, options.registry, sources);
}

/** Builds a MainConf from an already parsed tree (tests use this with `parseText`). */
export function buildConfig(root: ConfNode, file: string, prefix: string, registry: Registry, sources: ConfigSources = new ConfigSources()): MainConf {
  if (root.kind !== 'map') throw new ConfigError('the configuration must be a map of directives', root.pos);
  const captureNames = collectCaptureNames(root);
  const cx: ParseContext = {
    file,
    prefix,
    captureNames,
    readFile: (f) => sources.readFile(f),
    fail(reason, node) {
      throw new ConfigError(reason, node.pos);
    },
  };
  declareVariables(root, registry.modules, cx, captureNames);
  return new Builder(registry, cx).build(root);
}

/** Where each directive goes: its module and row, the field it fills. */
interface Placed {
  readonly module: ConfModule;
  readonly row: DirectiveRow;
  readonly field: string;
}

/** Each module's conf of a block, while building (a ModuleConfs once done). */
type Confs = Map<ConfModule, object>;
/** What a block itself wrote, per module: field -> value. */
type Own = Map<ConfModule, Record<string, unknown>>;

/** The server block's own directives (the configuration reads them): anywhere else they are misplaced, not unknown. */
const SERVER_ONLY: ReadonlySet<string> = new Set(['listen', 'server_name']);

const camel = (name: string) => name.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

const failAt = (reason: string, at: Position): never => {
  throw new ConfigError(reason, at);
};

/** One build: the directive table and each module's defaults, made once from the registry. */
class Builder {
  private readonly table = new Map<string, Placed>();
  private readonly defaults: Confs = new Map();
  /** Per module, the fields a block inside does not inherit. */
  private readonly ownFields = new Map<ConfModule, string[]>();
  /** Per module, the fields whose block value is joined to the inherited one (`DirectiveRow.mergeDown`). */
  private readonly mergedFields = new Map<ConfModule, [string, NonNullable<DirectiveRow['mergeDown']>][]>();
  private handlersDir = '';
  private readonly handlers = new Map<LocationConf, Configurable>();

  constructor(
    private readonly registry: Registry,
    private cx: ParseContext,
  ) {
    for (const module of registry.modules) {
      this.defaults.set(module, module.defaults(cx.prefix));
      const own: string[] = [];
      for (const [name, row] of Object.entries(module.directives)) {
        if (this.table.has(name)) throw new Error(`directive "${name}" is claimed by modules "${this.table.get(name)!.module.name}" and "${module.name}"`);
        const field = row.field ?? camel(name);
        this.table.set(name, { module, row, field });
        if (row.inherit === false) own.push(field);
        if (row.mergeDown) this.mergedFields.set(module, [...(this.mergedFields.get(module) ?? []), [field, row.mergeDown]]);
      }
      this.ownFields.set(module, own);
    }
  }

  build(root: MapNode): MainConf {
    let events: MapNode | null = null;
    let http: MapNode | null = null;
    const mainOwn = this.collect(root, 'main', {
      events: (e) => (events = this.asMap(e)),
      http: (e) => (http = this.asMap(e)),
    });
    let main = this.merge(this.defaults, mainOwn);
    if (events) main = this.merge(main, this.collect(events, 'events', {}));
    const core = main.get(this.registry.core) as CoreFields;
    this.handlersDir = core.handlersDir;
    // Script directives (`access_by`..., `balancer_by`, `ssl_certificate_by`) load their modules as they are read: from here on they know where.
    this.cx = { ...this.cx, handlersDir: core.handlersDir };
    const httpConf = http ? this.http(http) : { servers: [], confs: new ModuleConfs(this.defaults) };
    return deepFreeze({
      file: this.cx.file,
      prefix: this.cx.prefix,
      workerProcesses: core.workerProcesses === 'auto' ? availableParallelism() : core.workerProcesses,
      masterProcess: core.masterProcess,
      workerShutdownTimeout: core.workerShutdownTimeout,
      pid: core.pid,
      errorLog: core.errorLog ?? { path: path.resolve(this.cx.prefix, 'logs/error.log'), level: 'error' },
      workerConnections: core.workerConnections,
      handlersDir: core.handlersDir,
      captureNames: this.cx.captureNames,
      http: httpConf,
      main: new ModuleConfs(main),
      handlers: this.handlers,
    });
  }

  private asMap(entry: Entry): MapNode {
    if (entry.value.kind !== 'map') this.cx.fail(`"${entry.key}" must be a map of directives`, entry.value);
    return entry.value as MapNode;
  }

  private http(block: MapNode): MainConf['http'] {
    let serverNodes: ConfNode[] = [];
    const own = this.collect(block, 'http', {
      servers: (e) => {
        if (e.value.kind !== 'seq') this.cx.fail('"servers" must be a list of server blocks', e.value);
        serverNodes = [...(e.value as SeqNode).items];
      },
    });
    const confs = this.merge(this.defaults, own);
    this.check(confs, own, block, 'http');
    const servers = serverNodes.map((node) => {
      if (node.kind !== 'map') return this.cx.fail('a server block must be a map of directives', node);
      return this.server(node, confs);
    });
    const defaultListens = new Set<string>();
    for (const server of servers) {
      for (const listen of server.listens.filter((l) => l.defaultServer)) {
        if (defaultListens.has(listen.key)) throw new ConfigError(`a duplicate default server for ${listen.key}`, server.position);
        defaultListens.add(listen.key);
      }
    }
    for (const module of this.registry.modules) module.checkServers?.(servers, failAt);
    return { servers, confs: new ModuleConfs(confs) };
  }

  private server(block: MapNode, parent: Confs): ServerConf {
    let locationNodes: ConfNode[] = [];
    let listens: ListenSpec[] | null = null;
    let nameArgs: string[] = [''];
    let namePos: Position = block.pos;
    const own = this.collect(block, 'server', {
      locations: (e) => {
        if (e.value.kind !== 'seq') this.cx.fail('"locations" must be a list of location blocks', e.value);
        locationNodes = [...(e.value as SeqNode).items];
      },
      listen: (e) => {
        listens = (e.value.kind === 'seq' ? e.value.items : [e.value]).map((o) => this.guard(o, () => parseListen(argsOf(o, this.cx))));
      },
      server_name: (e) => {
        nameArgs = argsOf(e.value, this.cx);
        namePos = e.value.pos;
      },
    });
    const confs = this.merge(parent, own);
    this.check(confs, own, block, 'server');
    const serverNames = nameArgs.flatMap((arg) => {
      try {
        return parseServerName(arg);
      } catch (err) {
        throw new ConfigError((err as Error).message, namePos);
      }
    });
    const locations = locationNodes.map((node) => {
      if (node.kind !== 'map') return this.cx.fail('a location block must be a map of directives', node);
      return this.location(node, confs);
    });
    checkDuplicateLocations(locations);
    const moduleConfs = new ModuleConfs(confs);
    return {
      // nginx's default: `listen *:80`.
      listens: listens ?? [parseListen(['80'])],
      serverNames,
      primaryName: (nameArgs[0] ?? '').replace(/^\./, ''),
      locations,
      serverLocation: this.serverLocation(moduleConfs, block.pos),
      position: block.pos,
      confs: moduleConfs,
    };
  }

  /** The server block's own location: static, with the server's `try_files` (not inherited by locations, as in nginx). */
  private serverLocation(confs: ModuleConfs, position: Position): LocationConf {
    const base = { match: { kind: 'prefix', path: '', noRegex: false } as const, name: '', handler: 'static', position, confs };
    return this.configure('static', base.position, [], base);
  }

  private location(block: MapNode, parent: Confs): LocationConf {
    let match: LocationMatch | null = null;
    let name = '';
    let handlerName: string | null = null;
    let handlerPos: Position = block.pos;
    const ownKeys: Entry[] = [];
    const written = new Set<string>();
    const own = this.collect(
      block,
      'location',
      {
        location: (e) => {
          const args = argsOf(e.value, this.cx);
          try {
            match = parseLocation(args);
          } catch (err) {
            this.cx.fail((err as Error).message, e.value);
          }
          name = args.join(' ');
        },
        handler: (e) => {
          if (e.value.kind !== 'scalar' || typeof e.value.value !== 'string' || !e.value.value) this.cx.fail('"handler" takes a name or a module path', e.value);
          handlerName = e.value.value as string;
          handlerPos = e.value.pos;
        },
      },
      (e) => ownKeys.push(e),
      written,
    );
    if (!match) throw new ConfigError('a location block needs "location"', block.pos);
    const confs = this.merge(parent, own);
    this.check(confs, own, block, 'location');
    const handler = handlerName ?? this.impliedHandler(written) ?? 'static';
    for (const module of this.registry.modules) {
      for (const [directive, implied] of Object.entries(module.implies ?? {})) {
        if (written.has(directive) && implied !== handler) throw new ConfigError(`"${directive}" goes with handler "${implied}", not "${handler}"`, handlerPos);
      }
    }
    const base = { match: match as LocationMatch, name, handler, position: block.pos, confs: new ModuleConfs(confs) };
    return this.configure(handler, handlerPos, ownKeys, base, handlerName !== null);
  }

  /** The handler a location's directives name when it has no `handler:`, as nginx's directives set a content handler. */
  private impliedHandler(written: ReadonlySet<string>): string | null {
    for (const module of this.registry.modules) {
      for (const [directive, handler] of Object.entries(module.implies ?? {})) if (written.has(directive)) return handler;
    }
    return null;
  }

  /**
   * Resolves a location's handler once, runs its `configure` on the location's own keys, and
   * keeps the module for the runtime (it is not looked up by name again). `named`: the location
   * names its handler (`handler:`), so a key it never reads is that handler's unknown option.
   */
  private configure(handler: string, handlerPos: Position, ownKeys: readonly Entry[], base: Omit<LocationConf, 'handlerOptions'>, named = false): LocationConf {
    let module: Configurable;
    try {
      module = this.registry.handlers(handler, this.cx.prefix, this.handlersDir);
    } catch (err) {
      throw new ConfigError((err as Error).message, handlerPos);
    }
    const location = { ...base, handlerOptions: runConfigure(module, ownKeys, base, this.cx, this.handlersDir, handler, named) };
    this.handlers.set(location, module);
    return location;
  }

  /**
   * Applies the directive table to one block: structural keys go to `structural`, the rest are
   * parsed into their module's fields. `extra` takes keys the table does not know (a handler's
   * own keys); `written` learns the directive names the block wrote.
   */
  private collect(block: MapNode, context: Context, structural: Record<string, (e: Entry) => void>, extra?: (e: Entry) => void, written?: Set<string>): Own {
    const own: Own = new Map();
    const seen = new Set<string>();
    for (const e of block.entries) {
      if (Object.hasOwn(structural, e.key)) {
        if (seen.has(e.key)) throw new ConfigError(`"${e.key}" directive is duplicate`, e.keyPos);
        seen.add(e.key);
        structural[e.key](e);
        continue;
      }
      const placed = this.table.get(e.key);
      if (!placed) {
        if (SERVER_ONLY.has(e.key)) throw new ConfigError(`"${e.key}" directive is not allowed here`, e.keyPos);
        // A location's other keys are its handler's options (a handler may read an nginx name, `lua_socket_log_errors`): runConfigure refuses what it leaves.
        if (extra) {
          extra(e);
          continue;
        }
        throw new ConfigError(refusal(e.key), e.keyPos);
      }
      if (!placed.row.contexts.includes(context)) throw new ConfigError(`"${e.key}" directive is not allowed here`, e.keyPos);
      let values = own.get(placed.module);
      if (!values) own.set(placed.module, (values = {}));
      const earlier = Object.hasOwn(values, placed.field);
      if (earlier && !placed.row.combine) throw new ConfigError(`"${e.key}" directive is duplicate`, e.keyPos);
      const value = placed.row.parse(e.value, this.cx, e.key);
      values[placed.field] = earlier ? placed.row.combine!(values[placed.field], value) : value;
      written?.add(e.key);
    }
    return own;
  }

  /**
   * One merge step, module by module: a module the block wrote nothing of shares its parent's
   * conf (fields a block does not inherit back to their defaults); one it wrote gets a new conf,
   * the block's values over the parent's (whole values, as nginx's arrays).
   */
  private merge(parent: Confs, own: Own): Confs {
    const merged: Confs = new Map();
    for (const [module, conf] of parent) {
      const base = this.inherited(module, conf);
      let values = own.get(module);
      const joined = values && this.mergedFields.get(module);
      if (joined) {
        values = { ...values };
        for (const [field, mergeDown] of joined) if (field in values) values[field] = mergeDown((base as Record<string, unknown>)[field], values[field]);
      }
      merged.set(module, values ? { ...base, ...values } : base);
    }
    return merged;
  }

  /** What a block inside inherits of `conf`: all of it, but the fields a block keeps to itself. */
  private inherited(module: ConfModule, conf: object): object {
    const fields = this.ownFields.get(module)!;
    const defaults = this.defaults.get(module) as Record<string, unknown>;
    const current = conf as Record<string, unknown>;
    if (fields.every((f) => current[f] === defaults[f])) return conf;
    const copy = { ...current };
    for (const f of fields) copy[f] = defaults[f];
    return copy;
  }

  /** Each module's check of a block. */
  private check(confs: Confs, own: Own, block: MapNode, context: Context): void {
    const view: BlockView = {
      context,
      position: block.pos,
      at: (directive) => block.entries.find((e) => e.key === directive)?.keyPos ?? block.pos,
    };
    for (const module of this.registry.modules) module.check?.(confs.get(module)!, own.get(module) ?? {}, view, failAt);
  }

  /** Runs a parser; a plain error becomes a ConfigError at `node`, one with a position of its own stays. */
  private guard<T>(node: ConfNode, fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      return this.cx.fail((err as Error).message, node);
    }
  }
}

function checkDuplicateLocations(locations: readonly LocationConf[]): void {
  const seen = new Set<string>();
  for (const loc of locations) {
    const key = loc.match.kind === 'regex' ? `${loc.match.kind}:${loc.match.regex}` : `${loc.match.kind === 'prefix' ? 'prefix' : loc.match.kind}:${'path' in loc.match ? loc.match.path : loc.name}`;
    if (seen.has(key)) throw new ConfigError(`duplicate location "${loc.name}"`, loc.position);
    seen.add(key);
  }
}


/** Runs a handler's `configure` on its own keys; keys it never reads are unknown directives. */
function runConfigure(
  module: Configurable,
  entries: readonly Entry[],
  location: Omit<LocationConf, 'handlerOptions'>,
  cx: ParseContext,
  handlersDir: string,
  handler: string,
  named: boolean,
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
    compile(text, key) {
      try {
        return compileValue(text, cx.captureNames);
      } catch (err) {
        return fail((err as Error).message, key);
      }
    },
  };
  let options: unknown;
  try {
    options = module.configure(raw, context);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`handler "${handler}" rejected its configuration: ${(err as Error).message}`, location.position);
  }
  for (const e of entries) {
    if (read.has(e.key)) continue;
    // Options of a handler the location names are its own ("for handler"); any other key is a directive the gateway lacks, or a typo.
    const reason = isNginxDirective(e.key) || !named ? refusal(e.key) : `unknown directive "${e.key}" for handler "${handler}"`;
    throw new ConfigError(reason, e.keyPos);
  }
  return options;
}

/** Named captures of every regex location and server_name: nginx makes them variables. */
/**
 * Adds to `names` the variables the configuration declares with a module's directive
 * (`auth_request_set $name ...`, nginx's `ngx_http_add_variable` at parse time), wherever they
 * stand: any value anywhere may use them, as in nginx, whose variables are checked once the
 * whole configuration is read.
 */
function declareVariables(root: ConfNode, modules: readonly ConfModule[], cx: ParseContext, names: Set<string>): void {
  const declarers = new Map<string, (node: ConfNode, cx: ParseContext) => readonly string[]>();
  for (const module of modules) for (const [directive, declare] of Object.entries(module.declares ?? {})) declarers.set(directive, declare);
  if (declarers.size === 0) return;
  const visit = (node: ConfNode) => {
    if (node.kind === 'seq') node.items.forEach(visit);
    if (node.kind !== 'map') return;
    for (const e of node.entries) {
      const declare = declarers.get(e.key);
      if (declare) for (const name of declare(e.value, cx)) names.add(name);
      else visit(e.value);
    }
  };
  visit(root);
}

function collectCaptureNames(root: ConfNode): Set<string> {
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

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value) && !(value instanceof RegExp)) {
    if (value instanceof Map || value instanceof Set) return value;
    if (value instanceof ModuleConfs) {
      for (const [, conf] of value.entries()) deepFreeze(conf);
      return Object.freeze(value);
    }
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
