/**
 * The one loader of user scripts, for every directive that names one (`rewrite_by` ...
 * `log_by`, `balancer_by`, `ssl_certificate_by`, `plugins`): the value `NAME` (a bare name in
 * `handlers_dir`, or a path under the prefix to a .ts/.js module) or `{ script: NAME, options:
 * {...} }`; the module found, loaded once per process (by file: two directives naming one
 * module share it and its module-level state), its default export checked to have the function
 * the directive needs, and its `configure` run on the options with a `ScriptConfigContext`.
 * Every failure is a ConfigError at the value or at the option's key: one line with
 * file:line:column at `gateway -t`.
 */
import path from 'node:path';
import type { ParseContext } from '../config/args';
import type { ConfNode, MapNode } from '../config/load';
import { plainValue } from '../config/load';
import { MAX_TIMER_MS, parseBoundedTime, parseFlag, parseSize } from '../config/values';
import { ConfigError, type Position } from '../errors';
import type { ScriptConfigContext } from '../types';
import { findModule, loadModule } from './module-loader';

/** A module with a `configure` for its options (every script shape has one, optional). */
export interface Configurable {
  configure?(raw: Readonly<Record<string, unknown>>, cx: ScriptConfigContext): unknown;
}

/** A script and its options, as a request uses them. */
export interface ScriptUse<M> {
  readonly script: M;
  readonly options: unknown;
}

/**
 * One script a directive names, loaded and configured. `use` is a function so that the frozen
 * configuration does not freeze the script's module nor what its `configure` returned.
 */
export interface LoadedScript<M = unknown> {
  /** The name as written (what the error log names). */
  readonly name: string;
  /** The module's file. */
  readonly file: string;
  /** Where the name is written. */
  readonly position: Position;
  /** `plugin` for a plugin's handler run as a phase script (the error log says so); a script otherwise. */
  readonly kind?: 'plugin';
  readonly use: () => ScriptUse<M>;
}

/** The function a directive calls: its key on the module, and how messages show it (`run(r)`). */
export interface ScriptEntry {
  readonly key: string;
  readonly shown: string;
}

/** Loaded default exports by file, for the life of the process (a reload starts new workers). */
const modules = new Map<string, unknown>();

/** The parts of a directive's value: the name and its node, the `options` map (or null). */
export interface ScriptSpec {
  readonly name: string;
  readonly nameNode: ConfNode;
  readonly optionsNode: MapNode | null;
}

/** Reads `NAME` or `{ <nameKey>: NAME, options: {...} }`. */
export function parseScriptSpec(node: ConfNode, cx: ParseContext, directive: string, nameKey = 'script'): ScriptSpec {
  let nameNode: ConfNode = node;
  let optionsNode: MapNode | null = null;
  if (node.kind === 'map') {
    const seen = new Set<string>();
    for (const e of node.entries) {
      // A YAML map may repeat a key (a block is nginx's list of directives): here it is a mistake.
      if (seen.has(e.key)) throw new ConfigError(`duplicate key "${e.key}"`, e.keyPos);
      seen.add(e.key);
      if (e.key === nameKey) nameNode = e.value;
      else if (e.key === 'options') {
        if (e.value.kind !== 'map') cx.fail(`"options" of "${directive}" must be a map`, e.value);
        optionsNode = e.value as MapNode;
      } else throw new ConfigError(`unknown key "${e.key}" in "${directive}" (it takes "${nameKey}" and "options")`, e.keyPos);
    }
    if (nameNode === node) cx.fail(`"${directive}" needs "${nameKey}"`, node);
  }
  if (nameNode.kind !== 'scalar' || typeof nameNode.value !== 'string' || !nameNode.value) {
    return cx.fail(`"${directive}" takes a script name or a module path, or { ${nameKey}, options }`, nameNode);
  }
  return { name: nameNode.value, nameNode, optionsNode };
}

/** Where bare names are looked up: `handlers_dir`, else `<prefix>/handlers`. */
export function handlersDirOf(cx: ParseContext): string {
  return cx.handlersDir ?? path.join(cx.prefix, 'handlers');
}

/**
 * The default export of the module `name` stands for (a bare function is `{ <entry>: fn }`),
 * loaded once per process. `what` names it in messages ("script", "plugin").
 */
export function loadNamedModule(name: string, at: ConfNode, cx: ParseContext, what = 'script', bareFunctionKey = 'run'): { file: string; module: unknown } {
  const dir = handlersDirOf(cx);
  const file = findModule(name, cx.prefix, dir);
  if (!file) return cx.fail(`${what} "${name}" not found (no module in "${dir}" or at that path)`, at);
  if (!modules.has(file)) {
    let loaded: unknown;
    try {
      loaded = loadModule(file);
    } catch (err) {
      return cx.fail(`${what} "${name}" does not load: ${firstLine(err)} (module "${file}")`, at);
    }
    modules.set(file, loaded);
  }
  const loaded = modules.get(file);
  return { file, module: typeof loaded === 'function' ? { [bareFunctionKey]: loaded } : loaded };
}

/**
 * Loads the script a directive's value names and configures it. `entry` is the function the
 * directive calls (`run` for most, `bodyFilter` for `body_filter_by`).
 */
export function loadScript<M extends Configurable>(node: ConfNode, cx: ParseContext, directive: string, entry: ScriptEntry): LoadedScript<M> {
  const { name, nameNode, optionsNode } = parseScriptSpec(node, cx, directive);
  const { file, module } = loadNamedModule(name, nameNode, cx);
  const script = module as M & Record<string, unknown>;
  if (!script || typeof script !== 'object' || typeof script[entry.key] !== 'function') {
    return cx.fail(`script "${name}" has no ${entry.shown} for "${directive}" (export define* from "gateway", or a function)`, nameNode);
  }
  if (script.configure !== undefined && typeof script.configure !== 'function') return cx.fail(`script "${name}": configure must be a function`, nameNode);
  const options = configureScript(script.configure?.bind(script), optionsNode, nameNode, cx, `script "${name}"`);
  const use: ScriptUse<M> = { script, options };
  return { name, file, position: nameNode.pos, use: () => use };
}

/** Every script a value names: one as `loadScript` takes, or a list of them (run in the order written). */
export function loadScripts<M extends Configurable>(node: ConfNode, cx: ParseContext, directive: string, entry: ScriptEntry): LoadedScript<M>[] {
  const items = node.kind === 'seq' ? node.items : [node];
  if (items.length === 0) cx.fail(`"${directive}" takes a script name, { script, options }, or a list of them`, node);
  return items.map((item) => loadScript<M>(item, cx, directive, entry));
}

/**
 * Runs `configure` on the options (frozen plain values); without one, the options are handed
 * over as written. `label` starts its messages (`script "jwt"`).
 */
export function configureScript(
  configure: Configurable['configure'] | undefined,
  optionsNode: MapNode | null,
  at: ConfNode,
  cx: ParseContext,
  label: string,
): unknown {
  const raw = Object.freeze(optionsNode ? (plainValue(optionsNode) as Record<string, unknown>) : {});
  if (!configure) return raw;
  const scx = scriptConfigContext(optionsNode, at, cx, label);
  try {
    return configure(raw, scx);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    return cx.fail(`${label} rejected its options: ${firstLine(err)}`, optionsNode ?? at);
  }
}

/** The context a `configure` gets: errors at the option's key (else at the options, else at the name), and nginx's readers of times, sizes, flags, paths. */
export function scriptConfigContext(optionsNode: MapNode | null, at: ConfNode, cx: ParseContext, label: string): ScriptConfigContext {
  const entries = optionsNode?.entries ?? [];
  const error = (reason: string, key?: string): never => {
    const e = key ? entries.find((x) => x.key === key) : undefined;
    throw new ConfigError(`${label}: ${reason}`, e ? e.value.pos : (optionsNode ?? at).pos);
  };
  const read = <T>(key: string, parse: (v: string | number | boolean) => T): T | undefined => {
    const e = entries.find((x) => x.key === key);
    if (!e) return undefined;
    const v = plainValue(e.value);
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return error(`"${key}" takes one value`, key);
    try {
      return parse(v);
    } catch (err) {
      return error(`${(err as Error).message} in "${key}"`, key);
    }
  };
  return {
    prefix: cx.prefix,
    handlersDir: handlersDirOf(cx),
    error,
    time: (key, unit = 's') => read(key, (v) => parseBoundedTime(typeof v === 'boolean' ? String(v) : v, MAX_TIMER_MS, unit)),
    size: (key) => read(key, (v) => parseSize(typeof v === 'boolean' ? String(v) : v)),
    flag: (key) => read(key, (v) => parseFlag(v)),
    resolve: (p) => path.resolve(cx.prefix, p),
  };
}

/**
 * A script a single-valued directive names (`balancer_by`, `ssl_certificate_by`) with its
 * options bound: `run(...args)` calls the module's `run(...args, options)`.
 */
export interface ScriptRef<A extends unknown[], R> {
  readonly name: string;
  readonly file: string;
  readonly position: Position;
  readonly run: (...args: A) => R;
}

const RUN: ScriptEntry = { key: 'run', shown: 'run' };

/** Loads the script of a single-valued directive as a `ScriptRef`. */
export function parseScriptRef<A extends unknown[], R>(node: ConfNode, cx: ParseContext, directive: string): ScriptRef<A, R> {
  const loaded = loadScript<Configurable & { run(...args: unknown[]): unknown }>(node, cx, directive, RUN);
  const { script, options } = loaded.use();
  const run = script.run.bind(script);
  return { name: loaded.name, file: loaded.file, position: loaded.position, run: (...args: A) => run(...args, options) as R };
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0];
}
