/**
 * Loading a phase script once, at load: the module a directive names (a bare name in
 * `handlers_dir`, or a path), its default export checked to be a phase script (or a bare
 * function, its `run`), and its `configure` run on the directive's `options`. Every failure is
 * a ConfigError at the directive's value: one line with file:line:column at `gateway -t`.
 */
import path from 'node:path';
import type { ParseContext } from '../../config/args';
import type { ConfNode, MapNode } from '../../config/load';
import { plainValue } from '../../config/load';
import { MAX_TIMER_MS, parseBoundedTime, parseFlag, parseSize } from '../../config/values';
import { ConfigError } from '../../errors';
import { findModule, loadModule } from '../../shared/module-loader';
import type { PhaseScript, ScriptConfigContext } from '../../types';

/** A script and its options, as a request uses them. */
export interface ScriptUse {
  readonly script: PhaseScript<unknown>;
  readonly options: unknown;
}

/**
 * One script of a directive, loaded and configured. `use` is a function so that the frozen
 * configuration does not freeze the script's module nor what its `configure` returned.
 */
export interface LoadedScript {
  /** The name as written (what the error log names). */
  readonly name: string;
  readonly file: string;
  readonly use: () => ScriptUse;
}

/** Loaded modules by file: two directives naming one module share it (its module-level state too). */
const modules = new Map<string, PhaseScript<unknown>>();

/**
 * Every script a directive's value names: a name, `{ script, options }`, or a list of these,
 * run in the order written.
 */
export function loadScripts(node: ConfNode, cx: ParseContext, directive: string): LoadedScript[] {
  const items = node.kind === 'seq' ? node.items : [node];
  if (items.length === 0) cx.fail(`"${directive}" takes a script name, { script, options }, or a list of them`, node);
  return items.map((item) => loadOne(item, cx, directive));
}

function loadOne(node: ConfNode, cx: ParseContext, directive: string): LoadedScript {
  let nameNode: ConfNode = node;
  let optionsNode: MapNode | null = null;
  if (node.kind === 'map') {
    for (const e of node.entries) {
      if (e.key === 'script') nameNode = e.value;
      else if (e.key === 'options') {
        if (e.value.kind !== 'map') cx.fail(`"options" of "${directive}" must be a map`, e.value);
        optionsNode = e.value as MapNode;
      } else throw new ConfigError(`unknown key "${e.key}" in "${directive}" (it takes "script" and "options")`, e.keyPos);
    }
    if (nameNode === node) cx.fail(`"${directive}" needs "script"`, node);
  }
  if (nameNode.kind !== 'scalar' || typeof nameNode.value !== 'string' || !nameNode.value) return cx.fail(`"${directive}" takes a script name or a module path`, nameNode);
  const name = nameNode.value;
  const file = findModule(name, cx.prefix, cx.handlersDir ?? path.join(cx.prefix, 'handlers'));
  if (!file) return cx.fail(`script "${name}" not found (no module in "${cx.handlersDir}" or at that path)`, nameNode);
  const script = moduleOf(file, name, nameNode, cx);
  if (directive === 'body_filter_by' ? typeof script.bodyFilter !== 'function' : typeof script.run !== 'function') {
    cx.fail(`script "${name}" has no ${directive === 'body_filter_by' ? 'bodyFilter(chunk, eof, r)' : 'run(r)'} for "${directive}"`, nameNode);
  }
  const options = configure(script, optionsNode, nameNode, cx, name);
  const use: ScriptUse = { script, options };
  return { name, file, use: () => use };
}

/** The module's phase script, loaded once per process. */
function moduleOf(file: string, name: string, at: ConfNode, cx: ParseContext): PhaseScript<unknown> {
  const known = modules.get(file);
  if (known) return known;
  let loaded: unknown;
  try {
    loaded = loadModule(file);
  } catch (err) {
    return cx.fail(`script module "${file}" failed to load: ${firstLine(err)}`, at);
  }
  const script: PhaseScript<unknown> | null =
    typeof loaded === 'function' ? { run: loaded as PhaseScript<unknown>['run'] } : loaded && typeof loaded === 'object' ? (loaded as PhaseScript<unknown>) : null;
  if (!script || (typeof script.run !== 'function' && typeof script.bodyFilter !== 'function')) {
    return cx.fail(`script module "${file}" must export a default definePhaseScript({ run }) or a function`, at);
  }
  if (script.configure !== undefined && typeof script.configure !== 'function') return cx.fail(`script "${name}": configure must be a function`, at);
  modules.set(file, script);
  return script;
}

/** Runs the script's `configure` on its options; without one, the options are handed over as written. */
function configure(script: PhaseScript<unknown>, optionsNode: MapNode | null, at: ConfNode, cx: ParseContext, name: string): unknown {
  const entries = optionsNode?.entries ?? [];
  const raw = Object.freeze(Object.fromEntries(entries.map((e) => [e.key, plainValue(e.value)])));
  if (!script.configure) return raw;
  const error = (reason: string, key?: string): never => {
    const e = key ? entries.find((x) => x.key === key) : undefined;
    throw new ConfigError(`script "${name}": ${reason}`, e ? e.value.pos : at.pos);
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
  const scx: ScriptConfigContext = {
    prefix: cx.prefix,
    handlersDir: cx.handlersDir ?? path.join(cx.prefix, 'handlers'),
    error,
    time: (key, unit = 's') => read(key, (v) => parseBoundedTime(typeof v === 'boolean' ? String(v) : v, MAX_TIMER_MS, unit)),
    size: (key) => read(key, (v) => parseSize(typeof v === 'boolean' ? String(v) : v)),
    flag: (key) => read(key, (v) => parseFlag(v)),
    resolve: (p) => path.resolve(cx.prefix, p),
  };
  try {
    return script.configure(raw, scx);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    return cx.fail(`script "${name}" rejected its options: ${firstLine(err)}`, optionsNode ?? at);
  }
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0];
}
