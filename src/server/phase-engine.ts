/**
 * nginx's phase engine: a location's phase handlers, from every module, compiled once into one
 * array in phase order (`ngx_http_init_phase_handlers`), and the loop that runs it with nginx's
 * checker semantics: a handler that declines lets the next one run, `'ok'` ends its phase (the
 * first handler of the next phase runs), `'done'` means the request is answered. Empty phases
 * are not in the array: a request pays only for the handlers its location has.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PhaseHandler, PhaseName, RequestContext } from '../types';
import { delayUnauthorized, satisfyAny } from './satisfy';

/** The phases that run in the chosen location, before its content handler, in order. */
const PHASES: readonly PhaseName[] = ['rewrite', 'preaccess', 'access', 'precontent'];

/** One handler in the array, and where its phase ends (the first handler of the next phase). */
export interface PhaseStep {
  readonly handler: PhaseHandler;
  readonly next: number;
}

/** A location's compiled phases. */
export interface CompiledPhases {
  readonly steps: readonly PhaseStep[];
  /** The post-read phase's steps (a server's own location has them: they run before any location is chosen). */
  readonly postRead: readonly PhaseStep[];
  /** The server-rewrite phase's steps (a server's own location has them: they run before any location is chosen). */
  readonly serverRewrite: readonly PhaseStep[];
  /** The log phase's handlers. */
  readonly logs: readonly PhaseHandler[];
  /** Whether a handler may answer the request itself (`PhaseHandler.answers`). */
  readonly answers: boolean;
}

/**
 * Orders a location's `handlers` by phase (and, within a phase, as given). The access phase
 * follows the location's `satisfy`: under `all` an access handler's `'ok'` lets the next
 * access handler run (each must let the client in, nginx's ngx_http_core_access_phase); under
 * `any` the access handlers become one (`satisfyAny`) that stops at the first `'ok'`. With
 * `auth_delay`, an access 401 is answered that many milliseconds later.
 */
export function compilePhases(handlers: readonly PhaseHandler[], satisfy: 'all' | 'any' = 'all', authDelay = 0): CompiledPhases {
  const steps = stepsOf(
    PHASES.flatMap((phase) => {
      const own = handlers.filter((h) => h.phase === phase && h.run);
      if (phase !== 'access') return own;
      const access = satisfy === 'any' && own.length > 0 ? [satisfyAny(own)] : own;
      // `auth_delay`: a 401 of the access phase is answered that much later.
      return authDelay > 0 ? access.map((h) => delayUnauthorized(h, authDelay)) : access;
    }),
  );
  return {
    steps,
    postRead: stepsOf(handlers.filter((h) => h.phase === 'post-read' && h.run)),
    serverRewrite: stepsOf(handlers.filter((h) => h.phase === 'server-rewrite' && h.run)),
    logs: handlers.filter((h) => h.phase === 'log' && h.log),
    answers: steps.some((s) => s.handler.answers),
  };
}

/** Handlers in phase order, each with the index where its phase ends. */
function stepsOf(ordered: readonly PhaseHandler[]): PhaseStep[] {
  return ordered.map((handler, i) => {
    let next = i + 1;
    if (handler.phase !== 'access') while (next < ordered.length && ordered[next].phase === handler.phase) next++;
    return { handler, next };
  });
}

/**
 * Runs a server's post-read steps (nginx's NGX_HTTP_POST_READ_PHASE, before the location is
 * found): synchronous handlers that decline, end the phase or throw; a handler that answers or
 * waits is a module's mistake, refused with an error (a 500).
 */
export function runPostRead(steps: readonly PhaseStep[], req: IncomingMessage, res: ServerResponse | null, ctx: RequestContext): void {
  for (let i = 0; i < steps.length; ) {
    const step = steps[i];
    const outcome = step.handler.run!(req, res, ctx);
    if (outcome === undefined) i++;
    else if (outcome === 'ok') i = step.next;
    else throw new Error(`post-read handler "${step.handler.name}" must decline or end its phase, not ${outcome instanceof Promise ? 'wait' : 'answer'}`);
  }
}

/**
 * Runs `steps` from `start`: true once a handler answered the request (`'done'`), false when
 * every phase ran through. Synchronous handlers run without a promise. `beforeAnswer` runs
 * before a handler that may answer (nginx discards the request body first, and so sends
 * `100 Continue` to a client that waits for it).
 */
export function runSteps(
  steps: readonly PhaseStep[],
  req: IncomingMessage,
  res: ServerResponse | null,
  ctx: RequestContext,
  beforeAnswer?: () => void,
  start = 0,
): boolean | Promise<boolean> {
  for (let i = start; i < steps.length; ) {
    const step = steps[i];
    if (step.handler.answers) beforeAnswer?.();
    const outcome = step.handler.run!(req, res, ctx);
    if (outcome instanceof Promise) {
      return outcome.then((o) => (o === 'done' ? true : runSteps(steps, req, res, ctx, beforeAnswer, o === 'ok' ? step.next : i + 1)));
    }
    if (outcome === 'done') return true;
    i = outcome === 'ok' ? step.next : i + 1;
  }
  return false;
}
