/**
 * The limit_rate response filter, last in the chain (nginx's write filter paces what the other
 * filters made, gzip's output): at the header, the request's rate (`$limit_rate` when something
 * set it, else `limit_rate`) and `limit_rate_after`; a rate of 0 sends the body as it comes (no
 * stream, no timer). A subrequest's body is not paced (it goes to no socket). The rate is read
 * again when the body starts, as nginx's write filter reads it: an unbuffered proxied response
 * has set it to 0 by then, after its header.
 */
import type { VariableSource } from '../../http/variables';
import type { LocationConf, ServerConf } from '../../config/model';
import type { LocationModule, RequestContext, ResponseFilter } from '../../types';
import { limitRateModule } from './module';
import { Pacer } from './pacer';
import { alwaysZero, sizeFor } from './rate-value';

/** The variable `set $limit_rate` (and the proxy) set for the request: bytes per second. */
const VARIABLE = 'limit_rate';

/** Whether something of a location other than `limit_rate` may set the request's rate when it serves (an upstream's `X-Accel-Limit-Rate`). */
export type RateSource = (location: LocationConf) => boolean;

/**
 * The limit_rate filter. `upstreamSetsRate` (the proxy's, given by the registry) says which
 * locations' upstreams may set the rate: a server with one paces as one where a rate is written.
 */
export function limitRateFilter(upstreamSetsRate: RateSource): LocationModule {
  const writing = serverTest((l) => !alwaysZero(l.confs.get(limitRateModule).limitRate));
  const upstreams = serverTest(upstreamSetsRate);
  return {
    name: 'limit_rate',
    filter(location, env): ResponseFilter | null {
      const conf = location.confs.get(limitRateModule);
      // Where no rate is written in the server and nothing can set `$limit_rate`, responses keep
      // Node's own write and end. Else every location has the filter: a request may end up in
      // another (an internal redirect, an `if`, an `X-Accel-Redirect`) after its response's
      // writes were hooked or not. Where only an upstream may set the rate, they are hooked when
      // it does (the proxy asks, before the body): static files keep sendfile(2) in the meantime.
      const written = env.captureNames.has(VARIABLE) || writing(env.server);
      if (!written && !upstreams(env.server)) return null;
      return {
        name: written ? 'limit_rate' : "limit_rate (an upstream's X-Accel-Limit-Rate)",
        mayTransform: written ? () => true : undefined,
        header(_res, _status, req, ctx) {
          if (req !== ctx.mainRequest) return null;
          const set = valueSet(ctx);
          if (set === undefined && !written) return null;
          const rate = set !== undefined ? Number(set) : sizeFor(conf.limitRate, req, ctx);
          if (set === undefined) ctx.setVariable(VARIABLE, String(rate));
          if (rate === 0 || req.method === 'HEAD') return null;
          const after = sizeFor(conf.limitRateAfter, req, ctx);
          return { stream: () => new Pacer(() => Number(valueSet(ctx) ?? rate), after) };
        },
      };
    },
  };
}

/** `test` of any block of a server (its own, its locations, nested ones, `if` blocks), once per server. */
function serverTest(test: (location: LocationConf) => boolean): (server: ServerConf) => boolean {
  const known = new WeakMap<ServerConf, boolean>();
  return (server) => {
    let found = known.get(server);
    if (found === undefined) {
      const any = (l: LocationConf): boolean => test(l) || l.locations.some(any) || [...(l.inner?.values() ?? [])].some(any);
      found = any(server.serverLocation) || server.locations.some(any);
      known.set(server, found);
    }
    return found;
  };
}

/** What set `$limit_rate` for this request (`set`, the proxy), in bytes, or undefined. */
function valueSet(ctx: RequestContext): string | undefined {
  // The request's context is the source its variables read (`ctx.evaluate`).
  return (ctx as Partial<VariableSource>).setValues?.get(VARIABLE);
}
