/**
 * `content_by` (OpenResty's `content_by_lua`): the location's content handler runs its
 * scripts in order; what they `say` is the response (200 unless they set `status`), `exit`
 * ends it, a location whose scripts write nothing answers 200 with an empty body.
 */
import type { HandlerModule } from '../../types';
import { scriptsModule } from './module';
import { answerExit } from './phases';
import { runScripts } from './run';
import { PhaseRequest, type ScriptApis } from './script-request';

const contentBy: HandlerModule<null> = {
  configure: () => null,
  create(_options, env) {
    const conf = env.location.confs.get(scriptsModule);
    const scripts = conf.contentBy;
    const timeout = conf.scriptTimeout;
    const api: ScriptApis = { shared: env.sharedDicts, timers: env.timers };
    return {
      async http(req, res, ctx) {
        const r = new PhaseRequest('content', req, res, ctx, api);
        const started = runScripts(scripts, r, timeout);
        const end = started instanceof Promise ? await started : started;
        if (end.kind === 'exit' && answerExit(end.exit, res, req, ctx) === 'done') return;
        if (res.writableEnded) return;
        if (!res.headersSent) res.setHeader('Content-Length', 0);
        res.end();
      },
    };
  },
};

export default contentBy;
