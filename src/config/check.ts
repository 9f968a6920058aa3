/**
 * The configuration check, one function for every path that checks: `gateway -t`, the start,
 * the master's reload check (run in a child process, see `check-process.ts`) and `gateway -s`.
 * Its answer is the checked configuration, or exactly one line that says why not.
 */
import { ConfigError, oneLine } from '../errors';
import { loadConfig, type Registry } from './build';
import type { MainConf } from './model';
import { ConfigSources } from './sources';

/** A check's answer: the configuration and the files it was read from, or the one-line reason. */
export type CheckResult =
  | { readonly ok: true; readonly conf: MainConf; readonly sources: ConfigSources }
  | { readonly ok: false; readonly reason: string };

/**
 * Checks the configuration `file` (relative paths against `prefix`) with the modules and
 * handlers of `registry`, reading through `sources`.
 * Never throws: a failure that is not a ConfigError (a bug) is still one line, named as such.
 */
export function checkConfig(file: string, prefix: string, registry: Registry, sources: ConfigSources = new ConfigSources()): CheckResult {
  try {
    return { ok: true, conf: loadConfig({ file, prefix, registry, sources }), sources };
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, reason: err.message };
    const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return { ok: false, reason: oneLine(`unexpected error while reading the configuration (a bug in the gateway): ${what}`) };
  }
}
