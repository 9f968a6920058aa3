/**
 * The upstream's `X-Accel-Limit-Rate`, `X-Accel-Charset` and `X-Accel-Buffering`, as nginx's
 * upstream module reads them when the response header comes (ngx_http_upstream_process_limit_rate,
 * _process_charset, _process_buffering), each unless `proxy_ignore_headers` names it: the rate
 * is ngx_atoi of a line (digits only, at most 2^63-1), the last valid line wins; the charset is
 * the last line's value (an empty one overrides nothing); buffering is the last `yes` or `no`.
 * All three are hidden from the client by default (headers.ts). Which locations may receive
 * them is known at load (`upstreamSetsRate`, `upstreamSetsCharset`): the limit_rate and charset
 * filters are given these predicates by the registry, so neither imports the proxy.
 */
import type { LocationConf } from '../../config/model';
import { setOverrideCharset } from '../charset/override';
import { proxyCacheModule } from './cache/module';
import { proxyModule } from './module';

/** Which of the three a location acts on (not in its `proxy_ignore_headers`). */
export interface AccelActions {
  readonly limitRate: boolean;
  readonly charset: boolean;
  readonly buffering: boolean;
}

/** What an upstream's header said, null where it said nothing that counts. */
export interface AccelHeaders {
  /** `X-Accel-Limit-Rate`: bytes per second, as decimal digits without leading zeros. */
  limitRate: string | null;
  /** `X-Accel-Charset`, as written ('' overrides nothing). */
  charset: string | null;
  /** `X-Accel-Buffering: yes|no`. */
  buffering: boolean | null;
}

/** ngx_atoi's largest value (NGX_MAX_INT_T_VALUE on a 64-bit build). */
const MAX_RATE = 2n ** 63n - 1n;

/** The actions of a location with this `proxy_ignore_headers` (lower case). */
export function accelActions(ignored: readonly string[]): AccelActions {
  return {
    limitRate: !ignored.includes('x-accel-limit-rate'),
    charset: !ignored.includes('x-accel-charset'),
    buffering: !ignored.includes('x-accel-buffering'),
  };
}

/** Reads the three from the upstream's raw header lines (one pass; lines of other lengths are skipped at once). */
export function accelHeadersOf(raw: readonly string[], actions: AccelActions): AccelHeaders {
  const out: AccelHeaders = { limitRate: null, charset: null, buffering: null };
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i];
    // x-accel-charset: 15, x-accel-buffering: 17, x-accel-limit-rate: 18.
    if (name.length < 15 || name.length > 18 || (name.charCodeAt(0) | 0x20) !== 0x78) continue;
    const lower = name.toLowerCase();
    const value = raw[i + 1];
    if (lower === 'x-accel-limit-rate') {
      if (actions.limitRate) out.limitRate = rateOf(value) ?? out.limitRate;
    } else if (lower === 'x-accel-charset') {
      if (actions.charset) out.charset = value;
    } else if (lower === 'x-accel-buffering') {
      const word = value.toLowerCase();
      if (actions.buffering && (word === 'yes' || word === 'no')) out.buffering = word === 'yes';
    }
  }
  return out;
}

/** The request's side of what `applyAccel` sets: `$limit_rate`, and the pacing of the body's writes. */
export interface AccelTarget {
  setVariable?(name: string, value: string): void;
  /** Routes the body's writes through the filters (the limit_rate filter then paces them). */
  hookBody?(): void;
}

/**
 * Reads the three from a response header and acts on the rate and the charset as nginx does
 * when it reads the header, from the upstream or from a cache entry (a hit reads the stored
 * header again): they hold for what answers the request, an X-Accel-Redirect's target too.
 * Returns what was read (the buffering is the caller's).
 */
export function applyAccel(raw: readonly string[], actions: AccelActions, ctx: AccelTarget | undefined, res: object): AccelHeaders {
  const accel = accelHeadersOf(raw, actions);
  if (accel.limitRate !== null) {
    ctx?.setVariable?.('limit_rate', accel.limitRate);
    // Where nothing else paces, the body's writes are hooked only now (static files keep sendfile(2) elsewhere).
    if (accel.limitRate !== '0') ctx?.hookBody?.();
  }
  if (accel.charset !== null) setOverrideCharset(res, accel.charset);
  return accel;
}

/** ngx_atoi: decimal digits only, no sign, no unit, not past its largest value; else null. */
export function rateOf(value: string): string | null {
  if (!/^[0-9]+$/.test(value)) return null;
  const n = BigInt(value);
  return n > MAX_RATE ? null : n.toString();
}

/** Whether the upstream of this location may set the request's rate (it proxies, and does not ignore `X-Accel-Limit-Rate`). */
export function upstreamSetsRate(location: LocationConf): boolean {
  return proxies(location) && !location.confs.get(proxyCacheModule).proxyIgnoreHeaders.includes('x-accel-limit-rate');
}

/** Whether the upstream of this location may set the response's charset (it proxies, and does not ignore `X-Accel-Charset`). */
export function upstreamSetsCharset(location: LocationConf): boolean {
  return proxies(location) && !location.confs.get(proxyCacheModule).proxyIgnoreHeaders.includes('x-accel-charset');
}

function proxies(location: LocationConf): boolean {
  return location.confs.get(proxyModule).proxyPass !== null;
}
