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
import { plainValue, type ConfNode, type Entry, type MapNode, type SeqNode } from './load';
import type { LocationConf, MainConf, ServerConf } from './model';
import type { BlockView, ConfModule, DirectiveRow } from './module';
import { ModuleConfs } from './module-confs';
import { isNginxBlock, type ReadOptions } from './nginx/read';
import { readConfigFile } from './read';
import { isNginxDirective, refusal } from './not-supported';
import { ConfigSources } from './sources';
import { compileValue, ConfigVariables } from '../http/variables';
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
  return buildConfig(readConfigFile(file, sources, readOptionsOf(options.registry)), file, prefix, options.registry, sources);
}

/** What the nginx.conf reader knows of a registry: its modules' directives take arguments (a block after one is nginx's error as soon as it is read). */
export function readOptionsOf(registry: Registry): ReadOptions {
  const names = new Set([...SERVER_ONLY, 'handler', ...registry.modules.flatMap((module) => Object.keys(module.directives))]);
  return { takesArguments: (name) => names.has(name) };
}

/** Builds a MainConf from an already parsed tree (tests use this with `parseText`). */
export function buildConfig(root: ConfNode, file: string, prefix: string, registry: Registry, sources: ConfigSources = new ConfigSources()): MainConf {
  if (root.kind !== 'map') throw new ConfigError('the configuration must be a map of directives', root.pos);
  const captureNames = collectCaptureNames(root);
  const warnings: string[] = [];
  const cx: ParseContext = {
    file,
    prefix,
    captureNames,
    readFile: (f) => sources.readFile(f),
    defineVariable: (name, getter) => captureNames.define(name, getter),
    fail(reason, node) {
      throw new ConfigError(reason, node.pos);
    },
    warn(reason, node) {
      warnings.push(new ConfigError(reason, node.pos).message);
    },
  };
  declareVariables(root, registry.modules, cx, captureNames);
  return new Builder(registry, cx).build(root, warnings);
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

/** The structural directives nginx lets a block repeat: each occurrence adds to the others. */
const REPEATABLE_STRUCTURAL: ReadonlySet<string> = new Set(['listen', 'server_name']);

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

  build(root: MapNode, warnings: readonly string[]): MainConf {
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
      warnings,
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
    const locations = this.locations(locationNodes, confs, null);
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
    const base = { match: { kind: 'prefix', path: '', noRegex: false } as const, name: '', handler: 'static', position, confs, locations: [] };
    return this.configure('static', base.position, [], base);
  }

  /** The locations of a server or (nested) of a location, `enclosing` (null at server level). */
  private locations(nodes: readonly ConfNode[], parent: Confs, enclosing: LocationMatch | null): LocationConf[] {
    const locations = nodes.map((node) => {
      if (node.kind !== 'map') return this.cx.fail('a location block must be a map of directives', node);
      return this.location(node, parent, enclosing);
    });
    checkDuplicateLocations(locations);
    return locations;
  }

  private location(block: MapNode, parent: Confs, enclosing: LocationMatch | null): LocationConf {
    let match: LocationMatch | null = null;
    let name = '';
    let handlerName: string | null = null;
    let handlerPos: Position = block.pos;
    let nestedNodes: ConfNode[] = [];
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
          if (enclosing) checkNesting(match!, enclosing, e.value.pos);
        },
        locations: (e) => {
          if (e.value.kind !== 'seq') this.cx.fail('"locations" must be a list of location blocks', e.value);
          nestedNodes = [...(e.value as SeqNode).items];
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
    const locations = this.locations(nestedNodes, confs, match);
    const inner = this.innerLocations(own, confs, { match: match as LocationMatch, name, handler }, handlerPos, ownKeys);
    const base = { match: match as LocationMatch, name, handler, position: block.pos, confs: new ModuleConfs(confs), locations, ...(inner.size ? { inner } : {}) };
    return this.configure(handler, handlerPos, ownKeys, base, handlerName !== null, block);
  }

  /**
   * The locations nginx makes of blocks inside a location (`if`): each inherits all of the
   * location (nginx's unnamed location: `proxy_pass`, `alias` too), its own directives over
   * it; its content handler is the one its directives imply, else the location's.
   */
  private innerLocations(own: Own, confs: Confs, outer: Pick<LocationConf, 'match' | 'name' | 'handler'>, handlerPos: Position, ownKeys: readonly Entry[]): Map<object, LocationConf> {
    const inner = new Map<object, LocationConf>();
    for (const module of this.registry.modules) {
      for (const { key, block, skip, forget } of module.innerBlocks?.(own.get(module) ?? {}) ?? []) {
        const directives: MapNode = { kind: 'map', entries: block.entries.filter((e) => !skip.has(e.key)), pos: block.pos };
        const written = new Set<string>();
        const innerOwn = this.collect(directives, 'location', {}, undefined, written);
        const innerConfs = this.merge(forget ? this.forgotten(confs, forget) : confs, innerOwn, true);
        this.check(innerConfs, innerOwn, directives, 'location');
        const handler = this.impliedHandler(written) ?? outer.handler;
        const base = { ...outer, handler, position: block.pos, confs: new ModuleConfs(innerConfs), locations: [] };
        inner.set(key, this.configure(handler, handlerPos, handler === outer.handler ? ownKeys : [], base, false, block));
      }
    }
    return inner;
  }

  /** `confs` with the fields the named directives fill back to their defaults (`InnerBlock.forget`). */
  private forgotten(confs: Confs, directives: readonly string[]): Confs {
    const out: Confs = new Map(confs);
    for (const name of directives) {
      const placed = this.table.get(name);
      if (!placed) continue;
      const fallback = (this.defaults.get(placed.module) as Record<string, unknown>)[placed.field];
      out.set(placed.module, { ...(out.get(placed.module) as object), [placed.field]: fallback });
    }
    return out;
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
  private configure(handler: string, handlerPos: Position, ownKeys: readonly Entry[], base: Omit<LocationConf, 'handlerOptions'>, named = false, block?: MapNode): LocationConf {
    let module: Configurable;
    try {
      module = this.registry.handlers(handler, this.cx.prefix, this.handlersDir);
    } catch (err) {
      throw new ConfigError((err as Error).message, handlerPos);
    }
    const location = { ...base, handlerOptions: runConfigure(module, ownKeys, base, this.cx, this.handlersDir, handler, named, block) };
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
    for (const e of this.occurrences(block.entries, structural)) {
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
      const value = this.parse(placed.row, e);
      values[placed.field] = earlier ? placed.row.combine!(values[placed.field], value) : value;
      written?.add(e.key);
    }
    return own;
  }

  /**
   * A directive's value parsed by its row. nginx.conf's `gzip on { ... }` (a block where the
   * directive takes arguments) is nginx's `directive "gzip" is not terminated by ";"`.
   */
  private parse(row: DirectiveRow, e: Entry): unknown {
    try {
      return row.parse(e.value, this.cx, e.key);
    } catch (err) {
      if (err instanceof ConfigError && e.value.kind === 'map' && isNginxBlock(e.value) && err.reason === 'a map is not allowed here') {
        throw new ConfigError(`directive "${e.key}" is not terminated by ";"`, e.keyPos);
      }
      throw err;
    }
  }

  /**
   * A block's entries with each repeatable directive's occurrences (a key written again, as
   * nginx lets `add_header` or `listen` repeat) joined into one list at the first one's place,
   * in the order written, as if written as a list. Directives whose rows `combine` stay apart
   * (their order among other keys matters: `allow`, `deny`); any other repeated key is left for
   * `collect` to refuse as nginx does (`"root" directive is duplicate`).
   */
  private occurrences(entries: readonly Entry[], structural: Record<string, unknown>): readonly Entry[] {
    const repeatable = (key: string) => {
      if (Object.hasOwn(structural, key)) return REPEATABLE_STRUCTURAL.has(key);
      const row = this.table.get(key)?.row;
      return row?.multiple === true && !row.combine;
    };
    const counts = new Map<string, number>();
    for (const e of entries) counts.set(e.key, (counts.get(e.key) ?? 0) + 1);
    if ([...counts].every(([key, n]) => n === 1 || !repeatable(key))) return entries;
    const joined = new Map<string, ConfNode[]>();
    const out: Entry[] = [];
    for (const e of entries) {
      if (counts.get(e.key) === 1 || !repeatable(e.key)) {
        out.push(e);
        continue;
      }
      const items = e.value.kind === 'seq' ? e.value.items : [e.value];
      const list = joined.get(e.key);
      if (list) {
        list.push(...items);
        continue;
      }
      const first = [...items];
      joined.set(e.key, first);
      out.push({ key: e.key, keyPos: e.keyPos, value: { kind: 'seq', items: first, pos: e.value.pos } });
    }
    return out;
  }

  /**
   * One merge step, module by module: a module the block wrote nothing of shares its parent's
   * conf (fields a block does not inherit back to their defaults); one it wrote gets a new conf,
   * the block's values over the parent's (whole values, as nginx's arrays); `unnamed`: nothing
   * goes back to its default.
   */
  private merge(parent: Confs, own: Own, unnamed = false): Confs {
    const merged: Confs = new Map();
    for (const [module, conf] of parent) {
      // nginx's unnamed location (`if`) inherits even what a location keeps to itself.
      const base = unnamed ? conf : this.inherited(module, conf);
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

/** The name nginx gives a location in its messages: the path, the regex, or `@name`. */
function locationName(match: LocationMatch): string {
  return match.kind === 'regex' ? match.source : match.kind === 'named' ? match.name : match.path;
}

/**
 * nginx's rules for a location inside another (ngx_http_core_location): not inside an exact or
 * a named one, no named one but at server level, and a prefix or exact one within its
 * parent's name (a regex parent's too: its text, as nginx compares them).
 */
function checkNesting(match: LocationMatch, parent: LocationMatch, at: Position): void {
  const name = locationName(match);
  if (parent.kind === 'exact') throw new ConfigError(`location "${name}" cannot be inside the exact location "${locationName(parent)}"`, at);
  if (parent.kind === 'named') throw new ConfigError(`location "${name}" cannot be inside the named location "${locationName(parent)}"`, at);
  if (match.kind === 'named') throw new ConfigError(`named location "${name}" can be on the server level only`, at);
  if (match.kind !== 'regex' && !name.startsWith(locationName(parent))) throw new ConfigError(`location "${name}" is outside location "${locationName(parent)}"`, at);
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
  /** The location's block: an error the handler raises about a module's directive (`proxy_pass`) points at it. */
  block?: MapNode,
): unknown {
  const byKey = new Map<string, Entry>();
  for (const e of entries) {
    if (byKey.has(e.key)) throw new ConfigError(`"${e.key}" directive is duplicate`, e.keyPos);
    byKey.set(e.key, e);
  }
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
    const e = key ? (byKey.get(key) ?? block?.entries.find((w) => w.key === key)) : undefined;
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
function declareVariables(root: ConfNode, modules: readonly ConfModule[], cx: ParseContext, names: ConfigVariables): void {
  type Declare = (node: ConfNode, cx: ParseContext) => readonly string[];
  const declarers = new Map<string, { declare: Declare; defined: boolean }>();
  for (const module of modules) {
    for (const [directive, declare] of Object.entries(module.declares ?? {})) declarers.set(directive, { declare, defined: false });
    for (const [directive, declare] of Object.entries(module.defines ?? {})) declarers.set(directive, { declare, defined: true });
  }
  if (declarers.size === 0) return;
  const visit = (node: ConfNode) => {
    if (node.kind === 'seq') node.items.forEach(visit);
    if (node.kind !== 'map') return;
    for (const e of node.entries) {
      const declarer = declarers.get(e.key);
      if (!declarer) visit(e.value);
      else for (const name of declarer.declare(e.value, cx)) declarer.defined ? names.declareDefined(name) : names.add(name);
    }
  };
  visit(root);
}

function collectCaptureNames(root: ConfNode): ConfigVariables {
  const names = new ConfigVariables();
  const add = (text: string) => {
    for (const m of text.matchAll(/\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>/g)) names.add(m[1]);
  };
  const visit = (node: ConfNode, inMap: boolean) => {
    if (node.kind === 'seq') node.items.forEach((item) => visit(item, inMap));
    if (node.kind !== 'map') return;
    for (const e of node.entries) {
      if ((e.key === 'location' || e.key === 'server_name') && e.value.kind !== 'map') add(JSON.stringify(plainValue(e.value)));
      // A `map` block's regex keys (`~^(?<sub>.+)\.example\.com$`): nginx makes their named captures variables too.
      if (inMap && /^["']?~/.test(e.key)) add(e.key);
      visit(e.value, e.key === 'map');
    }
  };
  visit(root, false);
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
