/**
 * The `plugins` directive at http, server and location (Kong's plugins on a service or a
 * route, APISIX's on a route): a map from a plugin module (a bare name in `handlers_dir`, or a
 * path) to its options (empty or null: none; `off` or `false`: the plugin of that name from
 * above does not run here). Each plugin is loaded once, its options checked against its schema
 * and passed to its `configure`, all at load. Inheritance is Kong's: a block's `plugins` keeps
 * what it inherits and replaces, per plugin name, the configuration of the plugins it names.
 */
import type { ParseContext } from '../../config/args';
import type { ConfNode, MapNode } from '../../config/load';
import { plainValue } from '../../config/load';
import { INHERITED, row, type ConfModule } from '../../config/module';
import { ConfigError, type Position } from '../../errors';
import { configureScript, loadNamedModule } from '../../shared/script-loader';
import type { Plugin, PluginPhases } from '../../types';
import { checkOptions, compileSchema } from './schema';

/** The phases a plugin may have, as `PluginPhases` names them. */
export const PLUGIN_PHASES = ['rewrite', 'access', 'header_filter', 'body_filter', 'log'] as const;
export type PluginPhase = (typeof PLUGIN_PHASES)[number];

/** A plugin as a block configured it: loaded, its options checked and configured. */
export interface ConfiguredPlugin {
  /** The plugin's own name (`definePlugin({ name })`): what inheritance and the error log go by. */
  readonly name: string;
  readonly priority: number;
  readonly file: string;
  /** Where its key is written. */
  readonly position: Position;
  /** False for `NAME: off`: the plugin inherited under that name does not run in this block. */
  readonly enabled: boolean;
  /** The plugin and its options, behind a function so that freezing the configuration leaves them alone. */
  readonly use: () => { readonly plugin: Plugin<unknown>; readonly options: unknown };
}

/** The plugins module's conf of a block: the plugins that run there (enabled ones), any order. */
export interface PluginsConf {
  readonly plugins: readonly ConfiguredPlugin[];
}

/** Kong's inheritance: the block's plugins by name over the inherited ones; `off` takes one away. */
export function mergePlugins(inherited: readonly ConfiguredPlugin[], own: readonly ConfiguredPlugin[]): ConfiguredPlugin[] {
  const named = new Set(own.map((p) => p.name));
  return [...inherited.filter((p) => !named.has(p.name)), ...own.filter((p) => p.enabled)];
}

function parsePlugins(node: ConfNode, cx: ParseContext): ConfiguredPlugin[] {
  if (node.kind !== 'map') return cx.fail('"plugins" takes a map of plugin names (or module paths) to their options', node);
  const seen = new Map<string, Position>();
  return node.entries.map((e) => {
    const configured = parseOne(e.key, e.keyPos, e.value, cx);
    const earlier = seen.get(configured.name);
    if (earlier) throw new ConfigError(`plugin "${configured.name}" is configured twice in one block (first at line ${earlier.line})`, e.keyPos);
    seen.set(configured.name, e.keyPos);
    return configured;
  });
}

function parseOne(key: string, keyPos: Position, value: ConfNode, cx: ParseContext): ConfiguredPlugin {
  const at: ConfNode = { kind: 'scalar', value: key, pos: keyPos };
  const { file, module } = loadNamedModule(key, at, cx, 'plugin', '');
  const plugin = checkPlugin(module, key, at, cx);
  const base = { name: plugin.name, priority: plugin.priority, file, position: keyPos };
  const off = value.kind === 'scalar' && (value.value === false || value.value === 'off');
  if (off) return { ...base, enabled: false, use: () => ({ plugin, options: undefined }) };
  if (value.kind === 'scalar' && value.value !== null) return cx.fail(`the options of plugin "${plugin.name}" must be a map (or off)`, value);
  const optionsNode: MapNode | null = value.kind === 'map' ? value : null;
  if (value.kind === 'seq') return cx.fail(`the options of plugin "${plugin.name}" must be a map (or off)`, value);
  const label = `plugin "${plugin.name}"`;
  const raw = optionsNode ? (plainValue(optionsNode) as Record<string, unknown>) : {};
  if (plugin.schema) {
    const validate = compileSchema(plugin.schema);
    if (typeof validate === 'string') return cx.fail(`${label} has a schema Ajv refuses: ${validate}`, at);
    checkOptions(validate, raw, optionsNode ?? at, label);
  }
  const options = plugin.configure ? configureScript((_written, scx) => plugin.configure!(Object.freeze(raw), scx), optionsNode, at, cx, label) : Object.freeze(raw);
  const use = { plugin, options };
  return { ...base, enabled: true, use: () => use };
}

/** The module's default export, checked to be a plugin. */
function checkPlugin(module: unknown, key: string, at: ConfNode, cx: ParseContext): Plugin<unknown> {
  const p = module as Partial<Plugin<unknown>> | null;
  const fail = (why: string): never => cx.fail(`plugin "${key}" ${why}`, at);
  if (!p || typeof p !== 'object') return fail('must export a default definePlugin({ name, priority, phases }) from "gateway"');
  if (typeof p.name !== 'string' || !p.name) return fail('has no "name"');
  if (typeof p.priority !== 'number' || !Number.isFinite(p.priority)) return fail('has no numeric "priority"');
  if (!p.phases || typeof p.phases !== 'object') return fail('has no "phases"');
  const phases = p.phases as Record<string, unknown>;
  for (const [phase, handler] of Object.entries(phases)) {
    if (!(PLUGIN_PHASES as readonly string[]).includes(phase)) return fail(`has an unknown phase "${phase}" (it takes ${PLUGIN_PHASES.join(', ')})`);
    if (typeof handler !== 'function') return fail(`phase "${phase}" is not a function`);
  }
  if (!PLUGIN_PHASES.some((phase) => phases[phase])) return fail('has no phase to run in');
  if (p.schema !== undefined && (typeof p.schema !== 'object' || p.schema === null)) return fail('has a "schema" that is not an object');
  if (p.configure !== undefined && typeof p.configure !== 'function') return fail('has a "configure" that is not a function');
  return p as Plugin<unknown>;
}

export const pluginsModule: ConfModule<PluginsConf> = {
  name: 'plugins',
  directives: {
    plugins: row(INHERITED, parsePlugins, {
      mergeDown: (inherited, own) => mergePlugins(inherited as ConfiguredPlugin[], own as ConfiguredPlugin[]),
    }),
  },
  defaults: () => ({ plugins: [] }),
};

/** The handler of one phase, when the plugin has it. */
export function phaseOf<P extends PluginPhase>(plugin: Plugin<unknown>, phase: P): PluginPhases<unknown>[P] | undefined {
  return plugin.phases[phase];
}
