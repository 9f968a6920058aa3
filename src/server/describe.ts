/**
 * What `gateway -T` prints after the files: each server's and location's phase handlers in the
 * order they run, its content handler, response filters and log handlers, as the phase engine
 * compiles them (no handler is created, no file opened).
 */
import type { HttpConf, LocationConf, MainConf, ServerConf } from '../config/model';
import { compileValue } from '../http/variables';
import { coreModule } from '../modules/core/module';
import { LOCATION_MODULES } from '../modules/registry';
import type { CompileEnv, Logger, SharedDicts, Timers } from '../types';
import { compilePhases } from './phase-engine';

const QUIET: Logger = { debug() {}, info() {}, notice() {}, warn() {}, error() {}, crit() {} };

/** The lines, each starting with `#`. */
export function describePhases(conf: MainConf): string {
  const lines: string[] = [];
  for (const server of conf.http.servers) {
    const env = compileEnv(server, conf.http, conf.captureNames);
    lines.push(`# server ${server.primaryName || '_'} (${server.position.file}:${server.position.line})`);
    const own = compilePhases(handlersOf(server.serverLocation, env));
    for (const step of own.postRead) lines.push(`#   post-read: ${step.handler.name}`);
    for (const step of own.serverRewrite) lines.push(`#   server-rewrite: ${step.handler.name}`);
    for (const location of [...withNested(server.locations), server.serverLocation]) {
      const satisfy = location.confs.get(coreModule).satisfy;
      const phases = compilePhases(handlersOf(location, env), satisfy, location.confs.get(coreModule).authDelay);
      lines.push(`#   location ${location.name || "(the server's own)"} (${location.position.file}:${location.position.line})`);
      if (phases.steps.some((s) => s.handler.phase === 'access')) lines.push(`#     satisfy: ${satisfy}`);
      for (const step of phases.steps) lines.push(`#     ${step.handler.phase}: ${step.handler.name}`);
      lines.push(`#     content: ${location.handler}`);
      for (const module of LOCATION_MODULES) {
        const filter = module.filter?.(location, env);
        if (filter) lines.push(`#     filter: ${filter.name}`);
      }
      for (const handler of phases.logs) lines.push(`#     log: ${handler.name}`);
    }
  }
  return lines.join('\n');
}

function handlersOf(location: LocationConf, env: CompileEnv) {
  return LOCATION_MODULES.flatMap((m) => m.phases?.(location, env) ?? []);
}

/** Describing runs nothing: no dictionary is mapped, no timer is scheduled. */
const NO_DICTS: SharedDicts = { get: () => null, names: () => [] };
const NOT_RUNNING = { ok: false, err: 'not running' } as const;
const NO_TIMERS: Timers = { at: () => NOT_RUNNING, every: () => NOT_RUNNING, runningCount: () => 0, pendingCount: () => 0 };

/** A compile environment that opens nothing: lines written to it are dropped. */
function compileEnv(server: ServerConf, http: HttpConf, captureNames: ReadonlySet<string>): CompileEnv {
  return { server, http, log: QUIET, captureNames, compile: (text) => compileValue(text, captureNames), openLog: () => ({ write() {} }), shared: NO_DICTS, timers: () => NO_TIMERS };
}

/** Locations with those nested in them, each after the one it is in. */
function withNested(locations: readonly LocationConf[]): LocationConf[] {
  return locations.flatMap((l) => [l, ...withNested(l.locations)]);
}
