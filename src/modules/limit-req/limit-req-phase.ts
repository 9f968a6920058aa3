/**
 * nginx's limit_req handler in the preaccess phase: the location's limits are checked against
 * their zones (shared by every worker: `src/shared/zones/`), in one call; a request over a
 * burst gets `limit_req_status` (503) and nginx's error line; one within the burst but past
 * `delay` really waits (a timer) before the next phase; `$limit_req_status` says which. A
 * request is limited once, whatever internal redirects follow (nginx's `r->main`).
 */
import type { IncomingMessage } from 'node:http';
import { HttpError } from '../../errors';
import { requestLogContext } from '../../shared/request-log';
import { formatExcess } from '../../shared/zones/leaky-bucket';
import { declareOnce, processZones } from '../../shared/zones/zones';
import type { ReqLimit, ReqOutcome, ZoneBackend } from '../../shared/zones/zone-types';
import type { LocationModule, Logger, PhaseHandler, PhaseOutcome, RequestContext } from '../../types';
import { zonesModule } from '../zones/module';
import { limitReqModule, type LimitLogLevel } from './module';

/** Client requests limit_req has decided on (nginx's `r->main->limit_req_status`: a subrequest of one is not limited again). */
const decided = new WeakSet<IncomingMessage>();

/** nginx's delaying line is one level below the limiting line (info stays info). */
const DELAY_LEVEL: Record<LimitLogLevel, LimitLogLevel> = { error: 'warn', warn: 'notice', notice: 'info', info: 'info' };

/** The longest key nginx accounts (a longer one is logged and not accounted). */
const MAX_KEY = 65535;

export const limitReqPhase: LocationModule = {
  name: 'limit_req',
  phases(location, env): PhaseHandler[] {
    const conf = location.confs.get(limitReqModule);
    if (!conf.limitReq || conf.limitReq.length === 0) return [];
    const table = conf.limitReqZones;
    const specs = [...table.values()].map((z) => z.spec);
    const redisUrl = location.confs.get(zonesModule).zoneRedisUrl;
    const limits = conf.limitReq.map((l) => ({ ...l, decl: table.get(l.zone)! }));
    const { limitReqStatus: status, limitReqDryRun: dryRun, limitReqLogLevel: level } = conf;
    const dry = dryRun ? ', dry run' : '';
    let backend: ZoneBackend | null = null;
    let declared = false;

    const act = (outcome: ReqOutcome, req: IncomingMessage, ctx: RequestContext): PhaseOutcome | Promise<PhaseOutcome> => {
      switch (outcome.kind) {
        case 'declined':
          return;
        case 'passed':
          decide(req, ctx, 'PASSED');
          return;
        case 'busy':
        case 'nomem':
          if (outcome.kind === 'busy') {
            logAt(ctx.log, level, `limiting requests${dry}, excess: ${formatExcess(outcome.excess)} by zone "${outcome.zone}"${requestLogContext(req, ctx)}`);
          } else {
            (ctx.log.alert ?? ctx.log.crit)(`could not allocate node in limit_req zone "${outcome.zone}"`);
          }
          if (dryRun) {
            decide(req, ctx, 'REJECTED_DRY_RUN');
            return;
          }
          decide(req, ctx, 'REJECTED');
          throw new HttpError(status, 'GW_LIMIT_REQ');
        case 'delayed':
          logAt(ctx.log, DELAY_LEVEL[level], `delaying request${dry}, excess: ${formatExcess(outcome.excess)}, by zone "${outcome.zone}"${requestLogContext(req, ctx)}`);
          if (dryRun) {
            decide(req, ctx, 'DELAYED_DRY_RUN');
            return;
          }
          decide(req, ctx, 'DELAYED');
          return wait(req, outcome.delayMs);
      }
    };

    return [
      {
        phase: 'preaccess',
        name: `limit_req ${conf.limitReq.map((l) => `zone=${l.zone}`).join(' ')}`,
        run(req, _res, ctx) {
          if (decided.has(ctx.mainRequest)) return;
          let any = false;
          const checks: ReqLimit[] = limits.map((l) => {
            let key = ctx.evaluate(l.decl.key);
            if (key.length > MAX_KEY) {
              ctx.log.error(`the value of the "${l.decl.spec.key}" key is more than ${MAX_KEY} bytes: "${key}"`);
              key = '';
            }
            if (key !== '') any = true;
            return { zone: l.zone, key, burst: l.burst, delay: l.delay };
          });
          if (!any) return;
          const zones = (backend ??= processZones(redisUrl, env.log));
          // The zones are declared once per process, before the first check; then each check is one call.
          const asked = declared ? zones.limitReq(checks) : declareOnce(zones, table, specs).then(() => ((declared = true), zones.limitReq(checks)));
          return asked.then(
            (outcome) => act(outcome, req, ctx),
            (err: Error) => {
              // The zones could not be asked (the master is gone): the request is not limited.
              ctx.log.error(`limit_req: ${err.message}`);
            },
          );
        },
      },
    ];
  },
};

function decide(req: IncomingMessage, ctx: RequestContext, status: string): void {
  decided.add(ctx.mainRequest);
  ctx.setVariable('limit_req_status', status);
}

function logAt(log: Logger, level: LimitLogLevel, message: string): void {
  log[level](message);
}

/** Bytes an upgrade request's client may send during its delay (kept for the handler); past it, reading stops. */
const EARLY_LIMIT = 64 * 1024;

/**
 * Holds the request `ms` (nginx's delay timer). A client whose FIN comes meanwhile (closed, or
 * only its sending side: nginx's check of the connection treats both as gone) ends it there:
 * a 499, nothing else runs (an upgrade is not handed to its handler). An upgrade's socket is
 * read by nobody during the delay: it is read here, so that its end is seen, and what it sent
 * goes back to it, in order, for the handler.
 */
function wait(req: IncomingMessage, ms: number): Promise<PhaseOutcome> {
  return new Promise((resolve, reject) => {
    const socket = req.socket;
    const early: Buffer[] = [];
    let earlyBytes = 0;
    const keep = (chunk: Buffer) => {
      early.push(chunk);
      earlyBytes += chunk.length;
      if (earlyBytes > EARLY_LIMIT) socket.pause();
    };
    const reading = (req as IncomingMessage & { upgrade?: boolean }).upgrade === true && !socket.readableFlowing;
    const stop = () => {
      clearTimeout(timer);
      socket.off('end', gone);
      socket.off('close', gone);
      if (!reading) return;
      socket.off('data', keep);
      socket.pause();
      for (let i = early.length - 1; i >= 0; i--) socket.unshift(early[i]);
      // As Node hands an upgraded socket over: neither flowing nor paused, so that the
      // handler's first 'data' listener starts the flow (ws adds one and never resumes).
      (socket as { readableFlowing: boolean | null }).readableFlowing = null;
    };
    const gone = () => {
      stop();
      reject(new HttpError(499, 'GW_CLIENT_CLOSED', 'client closed the connection while its request was delayed'));
    };
    const timer = setTimeout(() => {
      stop();
      resolve(undefined);
    }, ms);
    socket.once('end', gone);
    socket.once('close', gone);
    if (reading) {
      socket.on('data', keep);
      socket.resume();
    }
    if (socket.readableEnded || socket.destroyed) gone();
  });
}
