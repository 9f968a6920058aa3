/**
 * nginx's limit_conn handler in the preaccess phase: a slot per limit in its zone (shared by
 * every worker: `src/shared/zones/`), held until the request ends (its response finished or
 * the client gone) or, for an upgraded connection (a WebSocket, a proxied tunnel), until the
 * connection closes. A key at its limit gets `limit_conn_status` (503) and nginx's error line;
 * `$limit_conn_status` says which. A request is counted once, whatever internal redirects
 * follow (nginx's `r->main`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../../errors';
import { requestLogContext } from '../../shared/request-log';
import { declareOnce, processZones } from '../../shared/zones/zones';
import type { ConnLimit, ConnOutcome, ConnSlot, ZoneBackend } from '../../shared/zones/zone-types';
import type { LocationModule, PhaseHandler, RequestContext } from '../../types';
import { zonesModule } from '../zones/module';
import { limitConnModule } from './module';

/** Client requests limit_conn has counted (nginx's `r->main->limit_conn_status`: a subrequest of one is not counted again). */
const decided = new WeakSet<IncomingMessage>();

/** The longest key nginx counts (a longer one is logged and not counted). */
const MAX_KEY = 255;

export const limitConnPhase: LocationModule = {
  name: 'limit_conn',
  phases(location, env): PhaseHandler[] {
    const conf = location.confs.get(limitConnModule);
    if (!conf.limitConn || conf.limitConn.length === 0) return [];
    const table = conf.limitConnZones;
    const specs = [...table.values()].map((z) => z.spec);
    const redisUrl = location.confs.get(zonesModule).zoneRedisUrl;
    const limits = conf.limitConn.map((l) => ({ ...l, decl: table.get(l.zone)! }));
    const { limitConnStatus: status, limitConnDryRun: dryRun, limitConnLogLevel: level } = conf;
    let backend: ZoneBackend | null = null;
    let declared = false;

    const act = (outcome: ConnOutcome, zones: ZoneBackend, req: IncomingMessage, res: ServerResponse | null, ctx: RequestContext): void => {
      if (outcome.kind === 'passed') {
        if (outcome.counted) decide(req, ctx, 'PASSED');
        if (outcome.slots.length) holdUntilEnd(zones, outcome.slots, req, res);
        return;
      }
      if (outcome.kind === 'busy') ctx.log[level](`limiting connections${dryRun ? ', dry run,' : ''} by zone "${outcome.zone}"${requestLogContext(req, ctx)}`);
      else ctx.log.crit(`ngx_slab_alloc() failed: no memory in limit_conn_zone "${outcome.zone}"`);
      if (dryRun) {
        decide(req, ctx, 'REJECTED_DRY_RUN');
        return;
      }
      decide(req, ctx, 'REJECTED');
      throw new HttpError(status, 'GW_LIMIT_CONN');
    };

    return [
      {
        phase: 'preaccess',
        name: `limit_conn ${conf.limitConn.map((l) => `${l.zone} ${l.conn}`).join(', ')}`,
        run(req, res, ctx) {
          if (decided.has(ctx.mainRequest)) return;
          let any = false;
          const checks: ConnLimit[] = limits.map((l) => {
            let key = ctx.evaluate(l.decl.key);
            if (key.length > MAX_KEY) {
              ctx.log.error(`the value of the "${l.decl.spec.key}" key is more than ${MAX_KEY} bytes: "${key}"`);
              key = '';
            }
            if (key !== '') any = true;
            return { zone: l.zone, key, conn: l.conn };
          });
          if (!any) return;
          const zones = (backend ??= processZones(redisUrl, env.log));
          // The zones are declared once per process, before the first check; then each check is one call.
          const asked = declared ? zones.acquireConn(checks) : declareOnce(zones, table, specs).then(() => ((declared = true), zones.acquireConn(checks)));
          return asked.then(
            (outcome) => act(outcome, zones, req, res, ctx),
            (err: Error) => {
              // The zones could not be asked (the master is gone): the request is not limited.
              ctx.log.error(`limit_conn: ${err.message}`);
            },
          );
        },
      },
    ];
  },
};

function decide(req: IncomingMessage, ctx: RequestContext, status: string): void {
  decided.add(ctx.mainRequest);
  ctx.setVariable('limit_conn_status', status);
}

/**
 * Gives the slots back when the request ends: its response closes (finished, or the client
 * gone); for an upgrade (no response object), when its connection closes. Already over: at once.
 */
function holdUntilEnd(zones: ZoneBackend, slots: readonly ConnSlot[], req: IncomingMessage, res: ServerResponse | null): void {
  const release = () => zones.releaseConn(slots);
  const ended = res ? res.destroyed || res.closed : req.socket.destroyed;
  if (ended) release();
  else if (res) res.once('close', release);
  else req.socket.once('close', release);
}
