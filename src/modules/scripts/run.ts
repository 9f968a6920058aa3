/**
 * Running a directive's scripts for one request: in the order written, each awaited when it
 * waits, bounded by `script_timeout`; what `exit` threw read as nginx's phase checkers read a
 * Lua handler's return; a script that throws, rejects or outlives the timeout is one error-log
 * line (the script's name and the first frame of its stack) and a 500 (`GW_SCRIPT_FAILED`).
 */
import type { IncomingMessage } from 'node:http';
import { HttpError, InternalRedirect } from '../../errors';
import { requestLogContext } from '../../shared/log-context';
import type { RequestContext, ScriptOutcome, ScriptRequest } from '../../types';
import type { LoadedScript } from './module';
import { ScriptExit } from './script-request';

/** How a directive's scripts ended: ran through, or one ended the phase by `exit`. */
export type ScriptsEnd = { readonly kind: 'through'; readonly declined: boolean } | { readonly kind: 'exit'; readonly exit: ScriptExit };

const THROUGH: ScriptsEnd = { kind: 'through', declined: false };
const DECLINED: ScriptsEnd = { kind: 'through', declined: true };

/**
 * Runs `scripts` in order: synchronously while they do not wait. Rejects with `HttpError` 500
 * for a failure (logged), with an `HttpError` of `redirect`, or an `InternalRedirect` of `exec`.
 */
export function runScripts(scripts: readonly LoadedScript[], r: ScriptRequest, timeoutMs: number, start = 0, declined = true): ScriptsEnd | Promise<ScriptsEnd> {
  for (let i = start; i < scripts.length; i++) {
    const loaded = scripts[i];
    const { script, options } = loaded.use();
    let outcome: ScriptOutcome | Promise<ScriptOutcome>;
    try {
      outcome = script.run!(r, options);
    } catch (err) {
      return ended(err, loaded, r);
    }
    if (outcome instanceof Promise) {
      return bounded(outcome, loaded, r, timeoutMs).then(
        (o) => runScripts(scripts, r, timeoutMs, i + 1, declined && o === 'declined'),
        (err: unknown) => ended(err, loaded, r),
      );
    }
    declined &&= outcome === 'declined';
  }
  return declined ? DECLINED : THROUGH;
}

/** What a script's throw means: an exit, a redirect or internal redirect passed on, or a failure. */
function ended(err: unknown, loaded: LoadedScript, r: ScriptRequest): ScriptsEnd {
  if (err instanceof ScriptExit) return { kind: 'exit', exit: err };
  if (err instanceof InternalRedirect || (err instanceof HttpError && err.code === 'GW_SCRIPT_EXIT')) throw err;
  // A body read that failed (413, 408, a client gone) answers as the body's reader would.
  if (err instanceof HttpError && err.code.startsWith('GW_BODY_')) throw err;
  if (err instanceof HttpError && err.code === 'GW_CLIENT_CLOSED') throw err;
  throw failed(err, loaded, r.phase, r.request, r.context);
}

/** Logs a script's failure (one line) and gives the 500 to answer with. */
export function failed(err: unknown, loaded: LoadedScript, phase: string, req: IncomingMessage, ctx: RequestContext): HttpError {
  const who = loaded.kind === 'plugin' ? `plugin "${loaded.name}" in ${phase}` : `${phase}_by script "${loaded.name}"`;
  ctx.log.error(`${who} failed: ${describe(err)}${requestLogContext(req, ctx)}`);
  return new HttpError(500, 'GW_SCRIPT_FAILED');
}

/** `message at first frame`: what the error log says of a script's error. */
export function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const frame = err.stack?.split('\n').find((line) => line.trimStart().startsWith('at '));
  return `${err.message.split('\n')[0]}${frame ? ` ${frame.trim()}` : ''}`;
}

/** `promise`, rejected with a timeout error when it has not settled `ms` later (0: unbounded). */
function bounded<T>(promise: Promise<T>, loaded: LoadedScript, r: ScriptRequest, ms: number): Promise<T> {
  if (ms === 0) return promise;
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`did not settle within script_timeout (${ms} ms) at ${loaded.file}`)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
