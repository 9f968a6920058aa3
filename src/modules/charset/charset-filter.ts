/**
 * nginx's charset header filter: with `charset NAME`, a response whose Content-Type is one of
 * `charset_types` and names no charset gets `; charset=NAME`. A Content-Type that names one
 * already is left as it is, and so is one with other parameters (nginx appends the charset
 * only to a bare type). With `override_charset on`, a response in another charset would be
 * recoded, which needs a `charset_map`: nginx without one logs the error the gateway logs and
 * sends the response as it is (a `source_charset` other than NAME is refused at load).
 * A main request's override charset (the upstream's `X-Accel-Charset`, override.ts) comes
 * first: the filter is also in every location of a server where an upstream may send one
 * (an `X-Accel-Redirect` takes it to another location), decided at load by the predicate the
 * registry gives (the proxy's).
 */
import type { HttpConf, LocationConf, ServerConf } from '../../config/model';
import type { LocationModule, RequestContext, ResponseFilter } from '../../types';
import type { ServerResponse } from 'node:http';
import { charsetModule, type CharsetConf } from './module';
import { applyOverride, overrideCharsetOf } from './override';

/** Whether a location's upstream may set an override charset. */
export type OverrideSource = (location: LocationConf) => boolean;

/** The charset filter; `upstreamOverrides` says where an upstream may send an override charset. */
export function charsetFilter(upstreamOverrides: OverrideSource): LocationModule {
  /** Per server: whether any of its blocks may receive an override charset. */
  const overriding = new WeakMap<ServerConf, boolean>();
  const serverOverrides = (server: ServerConf): boolean => {
    let found = overriding.get(server);
    if (found === undefined) overriding.set(server, (found = someBlock(server, upstreamOverrides)));
    return found;
  };
  return {
    name: 'charset',
    filter(location, env): ResponseFilter | null {
      const conf = location.confs.get(charsetModule);
      const known = serverOverrides(env.server) ? knownCharsets(env.http) : null;
      if (conf.charset === null && known === null) return null;
      const directive = conf.charset === null ? null : directiveFilter(conf, conf.charset);
      return {
        name: conf.charset === null ? "charset (an upstream's X-Accel-Charset)" : `charset ${conf.charset}`,
        header(res, status, req, ctx) {
          const override = known === null || req !== ctx.mainRequest ? undefined : overrideCharsetOf(res);
          if (override === undefined || known === null) return directive?.(res, status, ctx);
          const contentType = res.getHeader('content-type');
          if (typeof contentType !== 'string' || contentType === '') return;
          const encoding = res.getHeader('content-encoding');
          const outcome = applyOverride({ contentType, status, charset: override, sourceCharset: conf.sourceCharset, known, encoded: typeof encoding === 'string' && encoding !== '' });
          if (outcome.error !== null) ctx.log.error(outcome.error);
          if (outcome.contentType !== null) res.setHeader('Content-Type', outcome.contentType);
        },
      };
    },
  };
}

/** What `charset NAME` does to a response of the location. */
function directiveFilter(conf: CharsetConf, charset: string): (res: ServerResponse, status: number, ctx: RequestContext) => void {
  const types = new Set(conf.charsetTypes);
  const anyType = types.has('*');
  const wanted = charset.toLowerCase();
  return (res, status, ctx) => {
    // nginx sets no charset on a 301 or 302 (ngx_http_set_charset: old browsers took it for the next page's).
    if (status === 301 || status === 302) return;
    const value = res.getHeader('content-type');
    if (typeof value !== 'string' || value === '') return;
    const semicolon = value.indexOf(';');
    const type = (semicolon < 0 ? value : value.slice(0, semicolon)).trim().toLowerCase();
    const sent = semicolon < 0 ? null : /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(value)?.[1] ?? null;
    if (sent !== null) {
      if (!conf.overrideCharset || sent.toLowerCase() === wanted) return;
      ctx.log.error(`no "charset_map" between the charsets "${sent}" and "${charset}"`);
      return;
    }
    if (semicolon >= 0 || (!anyType && !types.has(type))) return;
    res.setHeader('Content-Type', `${value}; charset=${charset}`);
  };
}

/** Whether `test` holds for any block of the server (its own, its locations, nested ones, `if` blocks). */
function someBlock(server: ServerConf, test: (location: LocationConf) => boolean): boolean {
  const any = (l: LocationConf): boolean => test(l) || l.locations.some(any) || [...(l.inner?.values() ?? [])].some(any);
  return any(server.serverLocation) || server.locations.some(any);
}

/** The charsets a configuration knows (nginx's main conf list): every `charset` and `source_charset` value, lower case. */
const knownByConfig = new WeakMap<HttpConf, ReadonlySet<string>>();

function knownCharsets(http: HttpConf): ReadonlySet<string> {
  let known = knownByConfig.get(http);
  if (known) return known;
  const names = new Set<string>();
  const add = (conf: CharsetConf): void => {
    if (conf.charset !== null) names.add(conf.charset.toLowerCase());
    if (conf.sourceCharset !== null) names.add(conf.sourceCharset.toLowerCase());
  };
  add(http.confs.get(charsetModule));
  for (const server of http.servers) someBlock(server, (l) => (add(l.confs.get(charsetModule)), false));
  knownByConfig.set(http, (known = names));
  return known;
}
