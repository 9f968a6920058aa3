/**
 * nginx's charset header filter: with `charset NAME`, a response whose Content-Type is one of
 * `charset_types` and names no charset gets `; charset=NAME`. A Content-Type that names one
 * already is left as it is, and so is one with other parameters (nginx appends the charset
 * only to a bare type). With `override_charset on`, a response in another charset would be
 * recoded, which needs a `charset_map`: nginx without one logs the error the gateway logs and
 * sends the response as it is (a `source_charset` other than NAME is refused at load).
 */
import type { LocationModule, ResponseFilter } from '../../types';
import { charsetModule } from './module';

export const charsetFilter: LocationModule = {
  name: 'charset',
  filter(location): ResponseFilter | null {
    const conf = location.confs.get(charsetModule);
    const charset = conf.charset;
    if (charset === null) return null;
    const types = new Set(conf.charsetTypes);
    const anyType = types.has('*');
    const wanted = charset.toLowerCase();
    return {
      name: `charset ${charset}`,
      header(res, status, _req, ctx) {
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
      },
    };
  },
};
