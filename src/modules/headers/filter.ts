/**
 * The headers module's response filter (nginx's ngx_http_headers_filter_module): `expires`
 * (Expires and Cache-Control) and `add_header` on the statuses nginx gives them, `always`
 * on any.
 */
import type { LocationModule, ResponseFilter } from '../../types';
import { applyExpires, compileExpires } from './expires';
import { headersModule } from './module';

/** Statuses `add_header` applies to without `always`, and `expires` to at all. */
const ADD_HEADER_STATUSES = new Set([200, 201, 204, 206, 301, 302, 303, 304, 307, 308]);

export const headersFilter: LocationModule = {
  name: 'headers',
  filter(location, env): ResponseFilter | null {
    const conf = location.confs.get(headersModule);
    if (conf.expires.kind === 'off' && conf.addHeaders.length === 0) return null;
    const expires = conf.expires.kind === 'off' ? null : compileExpires(conf.expires, env.captureNames);
    const addHeaders = conf.addHeaders.map((h) => ({ name: h.name, value: env.compile(h.value), always: h.always }));
    return {
      name: 'expires, add_header',
      header(res, status, _req, ctx) {
        const listed = ADD_HEADER_STATUSES.has(status);
        if (expires && listed) applyExpires(res, expires, ctx);
        for (const h of addHeaders) {
          if (!h.always && !listed) continue;
          const value = ctx.evaluate(h.value);
          if (value !== '') res.appendHeader(h.name, value);
        }
      },
    };
  },
};
