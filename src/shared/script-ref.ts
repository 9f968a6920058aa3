/**
 * A directive that names a script (`balancer_by`, `ssl_certificate_by`): `NAME` (a bare name in
 * `handlers_dir`, or a path under the prefix to a .ts/.js module) or `{ script: NAME, options:
 * {...} }`. The module is loaded and its `configure` run on the options while the configuration
 * is built, so `gateway -t` reports a missing module, one without `run`, or options it refuses as
 * one line at their file:line:column.
 */
import { ConfigError, type Position } from '../errors';
import { findModule, loadModule } from './module-loader';
import type { ParseContext } from '../config/args';
import { plainValue, type ConfNode } from '../config/load';

/** A script as its directive named it, loaded and configured: `run` has the options bound. */
export interface ScriptRef<A extends unknown[], R> {
  /** The name as written (what error lines call the script). */
  readonly name: string;
  /** The module's file. */
  readonly file: string;
  readonly position: Position;
  /** Calls the module's `run(...args, options)`. */
  readonly run: (...args: A) => R;
}

/** The shape every script module has: `run`, and `configure` for its options. */
interface ScriptModule {
  configure?(options: Readonly<Record<string, unknown>>, cx: { prefix: string; handlersDir: string; error(reason: string): never }): unknown;
  run(...args: unknown[]): unknown;
}

/**
 * Parses and loads the script a directive names. `directive` is its name for messages. A module
 * whose default export is a bare function is that `run`, without options.
 */
export function parseScriptRef<A extends unknown[], R>(node: ConfNode, cx: ParseContext, directive: string): ScriptRef<A, R> {
  let nameNode: ConfNode = node;
  let optionsNode: ConfNode | null = null;
  if (node.kind === 'map') {
    for (const e of node.entries) {
      if (e.key === 'script') nameNode = e.value;
      else if (e.key === 'options') optionsNode = e.value;
      else throw new ConfigError(`unknown key "${e.key}" in "${directive}" (it takes "script" and "options")`, e.keyPos);
    }
    if (nameNode === node) return cx.fail(`"${directive}" needs a "script"`, node);
  }
  if (nameNode.kind !== 'scalar' || typeof nameNode.value !== 'string' || !nameNode.value) {
    return cx.fail(`"${directive}" takes a script name or module path, or { script, options }`, nameNode);
  }
  if (optionsNode && optionsNode.kind !== 'map') return cx.fail(`the "options" of "${directive}" must be a map`, optionsNode);
  const name = nameNode.value;
  const handlersDir = cx.handlersDir ?? `${cx.prefix}/handlers`;
  const file = findModule(name, cx.prefix, handlersDir);
  if (!file) return cx.fail(`script "${name}" not found (no module in "${handlersDir}" or at that path)`, nameNode);
  let loaded: unknown;
  try {
    loaded = loadModule(file);
  } catch (err) {
    return cx.fail(`script "${name}" does not load: ${firstLine(err)}`, nameNode);
  }
  const module: ScriptModule | null =
    typeof loaded === 'function' ? { run: loaded as ScriptModule['run'] } : loaded && typeof (loaded as ScriptModule).run === 'function' ? (loaded as ScriptModule) : null;
  if (!module) return cx.fail(`script "${name}" exports no "run" function (use define* from "gateway", or export a function)`, nameNode);
  const raw = optionsNode ? (plainValue(optionsNode) as Record<string, unknown>) : {};
  const at = optionsNode ?? nameNode;
  if (!module.configure && optionsNode) return cx.fail(`script "${name}" takes no options (it has no "configure")`, optionsNode);
  let options: unknown = raw;
  if (module.configure) {
    const error = (reason: string): never => cx.fail(reason, at);
    try {
      options = module.configure(raw, { prefix: cx.prefix, handlersDir, error });
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      return cx.fail(`script "${name}": ${firstLine(err)}`, at);
    }
  }
  const run = module.run.bind(module);
  return { name, file, position: nameNode.pos, run: (...args: A) => run(...args, options) as R };
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0];
}
