/**
 * nginx's `ngx_http_gzip_ok`: whether a request may get a gzip-encoded response, asked by the
 * gzip filter and by `gzip_static on`. The request's HTTP version against `gzip_http_version`,
 * a `Via` header against `gzip_proxied`, an `Accept-Encoding` naming gzip, and no
 * `gzip_disable` match on the User-Agent (`msie6` being nginx's own test for old MSIE).
 */
import type { IncomingMessage } from 'node:http';
import type { GzipConf } from './module';
import { compileRegex } from '../../config/values';

/** What the test needs of a location, compiled once at start. */
export interface GzipOkConf {
  readonly httpVersion: '1.0' | '1.1';
  readonly proxied: 'off' | 'any';
  /** `gzip_disable msie6`. */
  readonly msie6: boolean;
  /** The other `gzip_disable` values, case-insensitive regexes on the User-Agent. */
  readonly disable: readonly RegExp[];
}

/** Compiles `gzip_http_version`, `gzip_proxied` and `gzip_disable`. */
export function compileGzipOk(conf: Pick<GzipConf, 'gzipHttpVersion' | 'gzipProxied' | 'gzipDisable'>): GzipOkConf {
  return {
    httpVersion: conf.gzipHttpVersion,
    proxied: conf.gzipProxied,
    msie6: conf.gzipDisable.includes('msie6'),
    disable: conf.gzipDisable.filter((v) => v !== 'msie6').map((v) => compileRegex(v, true)),
  };
}

/** The client accepts gzip: a `gzip` coding whose q is not 0. */
export function acceptsGzip(req: IncomingMessage): boolean {
  const header = req.headers['accept-encoding'];
  if (!header) return false;
  if (header === lastAccept.header) return lastAccept.gzip;
  const gzip = gzipAccepted(header);
  lastAccept = { header, gzip };
  return gzip;
}

/** The last Accept-Encoding parsed: a process's clients send a handful of values, mostly the same. */
let lastAccept = { header: '', gzip: false };

function gzipAccepted(header: string): boolean {
  for (const part of header.split(',')) {
    const [coding, ...params] = part.trim().split(';');
    // Only a `gzip` token counts, as nginx's ngx_http_gzip_accept_encoding (never `*`).
    if (coding.trim().toLowerCase() !== 'gzip') continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return !q || Number(q.slice(2)) > 0;
  }
  return false;
}

/**
 * nginx's MSIE 4-6 detection: `MSIE ` followed by `4.`, `5.` or `6.` (but not a 6 whose
 * User-Agent says `SV1` after it, the XP SP2 build that handles gzip), with room for at least
 * eight characters from `MSIE `; an Opera pretending to be MSIE is not one.
 */
export function isMsie6(userAgent: string): boolean {
  const at = userAgent.indexOf('MSIE ');
  if (at < 0 || at + 7 >= userAgent.length || userAgent.includes('Opera')) return false;
  if (userAgent[at + 6] !== '.') return false;
  const major = userAgent[at + 5];
  if (major === '4' || major === '5') return true;
  return major === '6' && !userAgent.slice(at + 8).includes('SV1');
}

/** True when `gzip_disable` names this request's User-Agent. */
export function gzipDisabled(req: IncomingMessage, conf: GzipOkConf): boolean {
  const userAgent = req.headers['user-agent'];
  if (userAgent === undefined) return false;
  if (conf.msie6 && isMsie6(userAgent)) return true;
  return conf.disable.some((re) => re.test(userAgent));
}

/** ngx_http_gzip_ok: HTTP version, `Via` and `gzip_proxied`, `Accept-Encoding`, `gzip_disable`. */
export function gzipOk(req: IncomingMessage, conf: GzipOkConf): boolean {
  const httpVersionOk = conf.httpVersion === '1.0' || req.httpVersionMinor >= 1 || req.httpVersionMajor > 1;
  if (!httpVersionOk) return false;
  if (req.headers.via && conf.proxied === 'off') return false;
  return acceptsGzip(req) && !gzipDisabled(req, conf);
}
