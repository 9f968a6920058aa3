/**
 * A phase's plugins and `*_by` scripts in the order they run, decided once per location:
 * plugins by priority, higher first (Kong's rule; equal priorities by name), the scripts of the
 * phase's directive standing at priority 0 in the order written, after the plugins of priority
 * 0 and before those below it. Each plugin's handler is made a phase script, so the phase runs
 * both alike (its return, `exit`, throws, `script_timeout`).
 */
import type { PhaseScript } from '../../types';
import type { LoadedScript } from '../scripts/module';
import type { ConfiguredPlugin, PluginPhase } from './module';

/** Plugins by priority, higher first, ties by name. */
export function byPriority(plugins: readonly ConfiguredPlugin[]): ConfiguredPlugin[] {
  return [...plugins].sort((a, b) => b.priority - a.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** What runs in `phase`: the plugins that have it around the directive's `scripts`. */
export function phaseRunners(scripts: readonly LoadedScript[], plugins: readonly ConfiguredPlugin[], phase: PluginPhase): readonly LoadedScript[] {
  const having = byPriority(plugins.filter((p) => p.use().plugin.phases[phase]));
  if (having.length === 0) return scripts;
  const runner = (p: ConfiguredPlugin) => asScript(p, phase);
  return [...having.filter((p) => p.priority >= 0).map(runner), ...scripts, ...having.filter((p) => p.priority < 0).map(runner)];
}

/** A plugin's handler of one phase as a phase script (`bodyFilter` for the body filter, `run` otherwise). */
function asScript(configured: ConfiguredPlugin, phase: PluginPhase): LoadedScript {
  const { plugin, options } = configured.use();
  const phases = plugin.phases as Record<PluginPhase, (...args: never[]) => unknown>;
  const handler = phases[phase].bind(plugin.phases) as (...args: unknown[]) => never;
  const script: PhaseScript<unknown> = phase === 'body_filter' ? { bodyFilter: handler } : { run: handler };
  const use = { script, options };
  return { name: configured.name, file: configured.file, position: configured.position, kind: 'plugin', use: () => use };
}
