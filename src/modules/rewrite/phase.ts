/**
 * Where the rewrite module runs: a server's directives in the server-rewrite phase (before the
 * location is found), a location's in the rewrite phase (first of that phase, as nginx's
 * handler comes before `rewrite_by`). A `return` or a redirect answers; a location whose
 * directives changed `$uri` (a `rewrite` without `break`) has its location found again
 * (nginx's post-rewrite phase, counted with the internal redirects).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, InternalRedirect, UriRewritten } from '../../errors';
import { requestLogContext } from '../../shared/log-context';
import type { LocationModule, PhaseHandler, PhaseOutcome, RequestContext } from '../../types';
import { compileReturn, respond, respondRedirect, type CompiledReturn } from '../return/return';
import { httpTuningModule } from '../tuning/http-module';
import { rewriteModule } from './module';
import { runScript, ZeroLengthUri, type RunOutcome } from './run';
import { answersAlways, type Op, type ReturnOp } from './script';

/**
 * Thrown where an answer is due while an upgrade is being routed (no response yet): the
 * dispatcher routes the request again and serves it as HTTP, where the directives run again
 * and answer.
 */
export class AnswerAsHttp extends InternalRedirect {
  constructor() {
    super('', '');
  }
}

/**
 * The rewrite module's location-level handlers: synchronous, and changing nothing but the
 * request, so the dispatcher may run them for an upgrade before it knows where it goes.
 */
export const REROUTING_HANDLERS = new WeakSet<PhaseHandler>();

export const rewritePhase: LocationModule = {
  name: 'rewrite',
  phases(location, env): PhaseHandler[] {
    const conf = location.confs.get(rewriteModule);
    const script = conf.script;
    if (!script || script.length === 0) return [];
    const serverLevel = location === env.server.serverLocation;
    const returns = new Map<ReturnOp, CompiledReturn>();
    const compileReturns = (ops: readonly Op[]) => {
      for (const op of ops) {
        if (op.kind === 'return') returns.set(op, compileReturn({ status: op.status, text: op.text }, location, env.compile));
        if (op.kind === 'if') compileReturns(op.body);
      }
    };
    compileReturns(script);
    const options = { log: conf.rewriteLog };
    const redirect = location.confs.get(httpTuningModule);
    const answer = (outcome: RunOutcome, req: IncomingMessage, res: ServerResponse | null, ctx: RequestContext): PhaseOutcome => {
      if (outcome.kind === 'done') {
        if (outcome.uriChanged && !serverLevel) throw new UriRewritten(ctx.uri, ctx.args);
        return undefined;
      }
      if (res === null) throw new AnswerAsHttp();
      if (outcome.kind === 'redirect') respondRedirect(outcome.status, outcome.location, redirect, req, ctx);
      else respond(returns.get(outcome.op)!, req, res, ctx);
      return 'done';
    };
    const handler: PhaseHandler = {
      phase: serverLevel ? 'server-rewrite' : 'rewrite',
      name: describe(script),
      answers: answersAlways(script),
      run(req, res, ctx) {
        let outcome: RunOutcome;
        try {
          outcome = runScript(script, req, ctx, options);
        } catch (err) {
          if (!(err instanceof ZeroLengthUri)) throw err;
          ctx.log.error(`the rewritten URI has a zero length${requestLogContext(req, ctx)}`);
          throw new HttpError(500, 'GW_HTTP_500');
        }
        return answer(outcome, req, res, ctx);
      },
    };
    REROUTING_HANDLERS.add(handler);
    return [handler];
  },
};

/** What `gateway -T` shows: the directives, briefly. */
function describe(ops: readonly Op[]): string {
  return ops
    .map((op) => {
      if (op.kind === 'rewrite') return `rewrite ${op.source}${op.flag ? ` ${op.redirect === 301 ? 'permanent' : op.redirect ? 'redirect' : op.flag}` : ''}`;
      if (op.kind === 'return') return `return ${op.status}${op.text === null ? '' : ` ${op.text}`}`;
      if (op.kind === 'set') return `set $${op.name}`;
      if (op.kind === 'if') return `if (${op.text}) { ${describe(op.body)} }`;
      return 'break';
    })
    .join('; ');
}
