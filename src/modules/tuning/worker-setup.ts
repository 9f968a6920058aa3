/**
 * What nginx's ngx_worker_process_init does in each worker before it serves, from the main
 * block's tuning: `worker_priority` (setpriority), `worker_rlimit_nofile` and
 * `worker_rlimit_core` (setrlimit, while still root, so that the hard limit may rise), the temporary directories made and handed to `user` (nginx's
 * ngx_create_paths), then `user` (setgid, initgroups, setuid: only when the process runs as
 * root), then `working_directory` (chdir). A step that fails is logged as nginx logs it
 * (`[alert] setrlimit(RLIMIT_NOFILE, 10) failed (...)`) and the worker goes on, as nginx's does
 * for all but the user switch (which ends the worker there: it must not serve as root).
 */
import { chownSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RLIMIT, setResourceLimit } from '../../shared/native';
import type { Logger } from '../../types';
import type { ProcessTuningConf } from './process-module';

/** Applies the main block's worker settings to this process; `tempPaths`: the directories workers write (client_body_temp_path). */
export function setUpWorker(conf: ProcessTuningConf, tempPaths: readonly string[], log: Logger): void {
  const alert = (message: string): void => (log.alert ? log.alert(message) : log.crit(message));
  if (conf.workerPriority !== 0) {
    try {
      os.setPriority(conf.workerPriority);
    } catch (err) {
      alert(`setpriority(${conf.workerPriority}) failed (${(err as Error).message})`);
    }
  }
  for (const [resource, name, value] of [[RLIMIT.NOFILE, 'RLIMIT_NOFILE', conf.workerRlimitNofile], [RLIMIT.CORE, 'RLIMIT_CORE', conf.workerRlimitCore]] as const) {
    if (value === null) continue;
    try {
      setResourceLimit(resource, value);
    } catch (err) {
      alert(`setrlimit(${name}, ${value}) failed (${(err as Error).message})`);
    }
  }
  if (conf.user && process.geteuid?.() === 0) switchUser(conf.user, tempPaths, log);
  if (conf.workingDirectory) {
    try {
      process.chdir(conf.workingDirectory);
    } catch (err) {
      alert(`chdir("${conf.workingDirectory}") failed (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
}

/** The temporary directories made (0700) and given to the user, then the user's group, groups and id. */
function switchUser(user: NonNullable<ProcessTuningConf['user']>, tempPaths: readonly string[], log: Logger): void {
  for (const dir of new Set(tempPaths)) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      chownSync(dir, user.uid, user.gid);
    } catch (err) {
      log.crit(`chown("${path.resolve(dir)}", ${user.uid}) failed (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  const step = (call: string, fn: () => void) => {
    try {
      fn();
    } catch (err) {
      log.crit(`${call} failed (${(err as Error).message})`);
      // nginx's worker exits rather than serve with the master's privileges.
      process.exit(2);
    }
  };
  step(`setgid(${user.gid})`, () => process.setgid!(user.gid));
  step(`initgroups(${user.user}, ${user.gid})`, () => (process as NodeJS.Process & { initgroups(user: string, group: number): void }).initgroups(user.user, user.gid));
  step(`setuid(${user.uid})`, () => process.setuid!(user.uid));
}
