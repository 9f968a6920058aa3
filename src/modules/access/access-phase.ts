/**
 * The access module's handler in the access phase, as nginx's ngx_http_access_handler: an
 * `allow` rule that matches lets the client in (`'ok'`), a `deny` rule refuses with 403, no
 * rule matching has nothing to say (the next access handler decides). Under `satisfy all` the
 * refusal is logged here ("access forbidden by rule"); under `satisfy any` the phase engine
 * logs it if no other module lets the client in. It runs after the rewrite phase, so a
 * location's `return` is never denied, as in nginx.
 */
import { HttpError } from '../../errors';
import { requestLogContext } from '../../shared/log-context';
import type { LocationModule, PhaseHandler } from '../../types';
import { coreModule } from '../core/module';
import { accessVerdict } from './access-rules';
import { accessModule } from './module';

export const accessPhase: LocationModule = {
  name: 'access',
  phases(location): PhaseHandler[] {
    const rules = location.confs.get(accessModule).accessRules;
    if (rules === null) return [];
    const logRefusal = location.confs.get(coreModule).satisfy === 'all';
    return [
      {
        phase: 'access',
        name: 'allow/deny',
        run(req, _res, ctx) {
          const verdict = accessVerdict(rules, ctx.remoteAddress);
          if (verdict !== 'deny') return verdict === 'allow' ? 'ok' : undefined;
          if (logRefusal) ctx.log.error(`access forbidden by rule${requestLogContext(req, ctx)}`);
          throw new HttpError(403, 'GW_ACCESS_FORBIDDEN');
        },
      },
    ];
  },
};
