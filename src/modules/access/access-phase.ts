/**
 * The access module's handler in the access phase: a client an `allow`/`deny` rule refuses gets
 * 403 and nginx's log line. It runs after the rewrite phase, so a location's `return` is never
 * denied, as in nginx.
 */
import { HttpError } from '../../errors';
import type { LocationModule, PhaseHandler } from '../../types';
import { accessDenied } from './access-rules';
import { accessModule } from './module';

export const accessPhase: LocationModule = {
  name: 'access',
  phases(location): PhaseHandler[] {
    const rules = location.confs.get(accessModule).accessRules;
    if (rules === null) return [];
    return [
      {
        phase: 'access',
        name: 'allow/deny',
        run(req, _res, ctx) {
          if (!accessDenied(rules, ctx.remoteAddress)) return;
          const host = req.headers.host;
          ctx.log.error(
            `access forbidden by rule, client: ${ctx.remoteAddress || 'unix:'}, server: ${ctx.server.primaryName}, ` +
              `request: "${req.method} ${req.url} HTTP/${req.httpVersion}"${host ? `, host: "${host}"` : ''}`,
          );
          throw new HttpError(403, 'GW_ACCESS_FORBIDDEN');
        },
      },
    ];
  },
};
