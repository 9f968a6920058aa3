/**
 * A configuration check the caller can bound and survive: run in a child process (see
 * `check-child.ts`), killed when it does not answer within a timeout, and whatever happens to
 * it (a throw, a hang, a crash, a kill) one line of reason for the caller. The master checks
 * a reload this way, and `gateway -s` reads the file this way, so neither hangs with the check
 * nor dies of it. On success the caller gets the master's part of the configuration and the
 * exact files that were checked, for the workers to build theirs from.
 */
import { fork } from 'node:child_process';
import path from 'node:path';
import type { MasterConf } from './master-conf';
import type { SourcesSnapshot } from '../config/sources';

/** What a check child is asked. */
export interface CheckJob {
  readonly file: string;
  readonly prefix: string;
}

/** What a check child answers. */
export type CheckReply =
  | { readonly ok: true; readonly conf: MasterConf; readonly snapshot: SourcesSnapshot }
  | { readonly ok: false; readonly reason: string };

/** The environment variable that sets how long a check may take (ms). */
export const CHECK_TIMEOUT_ENV = 'GATEWAY_CHECK_TIMEOUT_MS';

/** How long a check may take by default (ms): a configuration of 200,000 locations checks in a few seconds. */
const DEFAULT_CHECK_TIMEOUT_MS = 30_000;

/** A check under way: its process id, its answer to come, and a way to stop it. */
export interface RunningCheck {
  readonly pid: number | undefined;
  readonly reply: Promise<CheckReply>;
  /** Stops the check at once; its reply says so. */
  cancel(): void;
}

/** The check timeout: `GATEWAY_CHECK_TIMEOUT_MS` when it is a positive integer, else 30 s. */
export function checkTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const value = Number(env[CHECK_TIMEOUT_ENV]);
  return Number.isSafeInteger(value) && value > 0 ? value : DEFAULT_CHECK_TIMEOUT_MS;
}

/** Starts checking `job` in a child process that is killed after `timeoutMs`. */
export function checkInChild(job: CheckJob, timeoutMs: number = checkTimeoutMs()): RunningCheck {
  const child = fork(path.join(__dirname, 'check-child.js'), [], {
    // Not the parent's flags (an --inspect port would clash); the output is not the caller's.
    execArgv: [],
    stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    serialization: 'advanced',
  });
  let finish: (reply: CheckReply) => void = () => {};
  const reply = new Promise<CheckReply>((resolve) => {
    let done = false;
    const timer = setTimeout(() => finish({ ok: false, reason: `the configuration check did not finish within ${timeoutMs} ms` }), timeoutMs);
    finish = (answer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve(answer);
    };
    child.once('message', (message: unknown) => finish(isReply(message) ? message : { ok: false, reason: 'the configuration check answered nonsense' }));
    child.once('exit', (code, signal) =>
      finish({ ok: false, reason: `the configuration check (process ${child.pid}) ${signal ? `was killed by ${signal}` : `exited with code ${code}`} before it answered` }),
    );
    child.once('error', (err) => finish({ ok: false, reason: `the configuration check could not run: ${err.message}` }));
  });
  child.send(job satisfies CheckJob, (err) => err && finish({ ok: false, reason: `the configuration check could not be asked: ${err.message}` }));
  return { pid: child.pid, reply, cancel: () => finish({ ok: false, reason: 'the configuration check was cancelled' }) };
}

function isReply(message: unknown): message is CheckReply {
  const m = message as Partial<Record<string, unknown>> | null;
  if (!m || typeof m !== 'object') return false;
  return m.ok === true ? typeof m.conf === 'object' && typeof m.snapshot === 'object' : m.ok === false && typeof m.reason === 'string';
}
