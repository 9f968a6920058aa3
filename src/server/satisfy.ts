/**
 * nginx's `satisfy any` (ngx_http_core_access_phase and ngx_http_core_post_access_phase): a
 * location's access handlers compiled at load into one handler that runs them in order until
 * one lets the client in (`'ok'`: the access phase is over, refusals so far are forgotten). A
 * refusal with 401 or 403 is remembered and the next handler runs; a 401 is never replaced by
 * a later 403, a 403 is by a later 401. Each 401's `WWW-Authenticate` stays with the response,
 * as each module pushes its challenge into nginx's headers_out: two modules that answer 401
 * (auth_basic, then an auth service) send both challenges, in that order. When none let the
 * client in, the remembered refusal answers (a 403 with nginx's "access forbidden by rule"
 * line, whichever module refused); when none had anything to say, the request goes on. Any
 * other error (a 500) answers at once, with the challenges of the 401s before it (nginx
 * leaves them in headers_out).
 *
 * `satisfy all`, nginx's default, needs nothing of its own: the engine runs the next access
 * handler after an `'ok'` (see `compilePhases`), and the first refusal answers.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../errors';
import { requestLogContext } from '../shared/log-context';
import type { PhaseHandler, PhaseOutcome, RequestContext } from '../types';

/** One access handler under `satisfy any` for the handlers of a location's access phase. */
export function satisfyAny(handlers: readonly PhaseHandler[]): PhaseHandler {
  return {
    phase: 'access',
    name: `satisfy any: ${handlers.map((h) => h.name).join(', ')}`,
    answers: handlers.some((h) => h.answers),
    run: (req, res, ctx) => runAny(handlers, 0, null, req, res, ctx),
  };
}

/** Runs `handlers` from `start` with the refusal remembered so far. */
function runAny(
  handlers: readonly PhaseHandler[],
  start: number,
  refused: HttpError | null,
  req: IncomingMessage,
  res: ServerResponse | null,
  ctx: RequestContext,
): PhaseOutcome | Promise<PhaseOutcome> {
  for (let i = start; i < handlers.length; i++) {
    let outcome: PhaseOutcome | Promise<PhaseOutcome>;
    try {
      outcome = handlers[i].run!(req, res, ctx);
    } catch (err) {
      refused = remember(err, refused);
      continue;
    }
    if (outcome instanceof Promise) {
      return outcome.then(
        (o) => (o === 'ok' || o === 'done' ? o : runAny(handlers, i + 1, refused, req, res, ctx)),
        (err: unknown) => runAny(handlers, i + 1, remember(err, refused), req, res, ctx),
      );
    }
    if (outcome === 'ok' || outcome === 'done') return outcome;
  }
  if (refused === null) return undefined;
  if (refused.status === 403) ctx.log.error(`access forbidden by rule${actionOf(ctx)}${requestLogContext(req, ctx)}`);
  throw refused;
}

/**
 * nginx's `auth_delay` (ngx_http_core_auth_delay): `handler`, whose 401 is answered `ms` later
 * (with nginx's info line "delaying unauthorized request"), so that a refused password or
 * token takes as long as any other refusal. Anything else passes as it is.
 */
export function delayUnauthorized(handler: PhaseHandler, ms: number): PhaseHandler {
  const delayed = (err: unknown, req: IncomingMessage, ctx: RequestContext): Promise<never> => {
    if (!(err instanceof HttpError) || err.status !== 401) return Promise.reject(err);
    ctx.log.info(`delaying unauthorized request${actionOf(ctx)}${requestLogContext(req, ctx)}`);
    return new Promise((_resolve, reject) => setTimeout(reject, ms, err));
  };
  return {
    ...handler,
    run(req, res, ctx) {
      let outcome: PhaseOutcome | Promise<PhaseOutcome>;
      try {
        outcome = handler.run!(req, res, ctx);
      } catch (err) {
        return delayed(err, req, ctx);
      }
      return outcome instanceof Promise ? outcome.catch((err: unknown) => delayed(err, req, ctx)) : outcome;
    },
  };
}

/** nginx's log action of the request (`RequestState.logAction`: after an auth subrequest, ` while sending to client`). */
function actionOf(ctx: RequestContext): string {
  return (ctx as { logAction?: string }).logAction ?? '';
}

/**
 * The refusal to remember after `err`: nginx's `r->access_code`, which a 403 does not take
 * from a 401, with the challenges of every 401 so far. Anything but a 401 or 403 is thrown on
 * (it answers at once), carrying those challenges.
 */
function remember(err: unknown, refused: HttpError | null): HttpError {
  if (!(err instanceof HttpError)) throw err;
  if (err.status !== 401 && err.status !== 403) throw withChallenges(err, refused);
  if (refused === null || err.status === 403) return refused?.status === 401 ? refused : err;
  return withChallenges(err, refused);
}

/** The `WWW-Authenticate` values an error carries. */
function challengesOf(err: HttpError): readonly string[] {
  for (const [name, value] of Object.entries(err.headers)) if (name.toLowerCase() === 'www-authenticate') return typeof value === 'string' ? [value] : value;
  return [];
}

/** `err` with the challenges of `refused` (a 401) before its own; `err` itself when there are none to add. */
function withChallenges(err: HttpError, refused: HttpError | null): HttpError {
  if (refused?.status !== 401) return err;
  const earlier = challengesOf(refused);
  if (earlier.length === 0) return err;
  // A later 401 adds its challenges (the code and message stay the first 401's); another error keeps the 401's.
  const headers: Record<string, string | readonly string[]> = {};
  for (const [name, value] of Object.entries(err.headers)) if (name.toLowerCase() !== 'www-authenticate') headers[name] = value;
  headers['WWW-Authenticate'] = [...earlier, ...challengesOf(err)];
  const first = err.status === 401 ? refused : err;
  return new HttpError(err.status, first.code, first.message, headers);
}
