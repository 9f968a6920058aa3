/**
 * The configuration check, one function for every path that checks: `gateway -t`, the start,
 * the master's reload check (run in a child process, see `check-process.ts`) and `gateway -s`.
 * Its answer is the checked configuration, or exactly one line that says why not.
 */
import { ConfigError, oneLine } from '../errors';
import { loadConfig } from './build';
import type { MainConf } from './model';
import { ConfigSources } from './sources';

/** A check's answer: the configuration and the files it was read from, or the one-line reason. */
export type CheckResult =
  | { readonly ok: true; readonly conf: MainConf; readonly sources: ConfigSources }
  | { readonly ok: false; readonly reason: string };

/**
 * Checks the configuration `file` (relative paths against `prefix`), reading through `sources`.
 * Never throws: a failure that is not a ConfigError (a bug) is still one line, named as such.
 */
export function checkConfig(file: string, prefix: string, sources: ConfigSources = new ConfigSources()): CheckResult {
  try {
    return { ok: true, conf: loadConfig({ file, prefix, sources }), sources };
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, reason: err.message };
    const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return { ok: false, reason: oneLine(`unexpected error while reading the configuration (a bug in the gateway): ${what}`) };
  }
}

/**
 * What the master needs of a configuration: the master never builds a configuration itself
 * after it starts (a reload is checked in a child process, and workers build theirs), so a
 * check hands it this, plain data.
 */
export interface MasterConf {
  readonly file: string;
  readonly prefix: string;
  readonly workerProcesses: number;
  readonly masterProcess: boolean;
  readonly pid: string | null;
  readonly errorLog: MainConf['errorLog'];
  readonly http: { readonly pushRedisUrl: string | null };
}

/** The master's part of a checked configuration. */
export function masterView(conf: MainConf): MasterConf {
  return {
    file: conf.file,
    prefix: conf.prefix,
    workerProcesses: conf.workerProcesses,
    masterProcess: conf.masterProcess,
    pid: conf.pid,
    errorLog: { path: conf.errorLog.path, level: conf.errorLog.level },
    http: { pushRedisUrl: conf.http.pushRedisUrl },
  };
}
