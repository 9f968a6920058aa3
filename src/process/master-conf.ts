/** The master's part of a checked configuration: plain data, the same whichever process checked it. */
import type { MainConf } from '../config/model';
import { pushModule, pushRedisUrlOf } from '../modules/push/module';
import { processTuningModule } from '../modules/tuning/process-module';
import { zonesModule } from '../modules/zones/module';
import { sharedDictModule } from '../modules/shared-dict/module';
import { sessionCacheDicts } from '../modules/ssl/module';
import type { SharedDictSpec } from '../shared/dict/shared-dicts';

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
  /** The variables `env VAR=value` sets in workers' environment. */
  readonly workerEnv: Readonly<Record<string, string>>;
  readonly http: { readonly pushRedisUrl: string | null; readonly zoneRedisUrl: string | null; readonly sharedDicts: readonly SharedDictSpec[] };
  /** nginx's warnings of the file (MainConf's). */
  readonly warnings: readonly string[];
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
    workerEnv: Object.fromEntries(conf.main.get(processTuningModule).env.flatMap((e) => (e.value === null ? [] : [[e.name, e.value]]))),
    http: { pushRedisUrl: pushRedisUrlOf(conf.http.confs.get(pushModule)), zoneRedisUrl: conf.http.confs.get(zonesModule).zoneRedisUrl,
      // The dictionaries scripts declare, and the TLS session caches' (`ssl_session_cache shared:`).
      sharedDicts: [...conf.http.confs.get(sharedDictModule).sharedDicts.map((d) => ({ name: d.name, size: d.size })), ...sessionCacheDicts(conf.http.servers)],
    },
    warnings: [...conf.warnings],
  };
}
