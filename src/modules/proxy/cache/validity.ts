/**
 * Whether an upstream response may be stored and for how long, as nginx decides it
 * (ngx_http_upstream's header handlers, then `proxy_cache_valid`): `X-Accel-Expires` first,
 * then `Cache-Control` (`no-cache`, `no-store`, `private` refuse; `s-maxage`, `max-age`),
 * then `Expires`; `Set-Cookie` and `Vary: *` refuse; a status `proxy_cache_valid` does not
 * name, without a time from the headers, is not stored. Each header is skipped when
 * `proxy_ignore_headers` names it. Pure.
 */
import type { CacheValid } from './module';

/** The decision: stored until `validUntil` (ms since the epoch), or not stored. */
export type Validity = { readonly store: true; readonly validUntil: number; readonly vary: readonly string[] } | { readonly store: false };

const NOT_STORED: Validity = { store: false };

/** The value of every header line named `name` (lower case), joined by commas. */
function headerValues(raw: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i].toLowerCase() === name) values.push(raw[i + 1]);
  return values;
}

/** The time `proxy_cache_valid` gives a status (its own line, else `any`), in ms, or 0. */
export function validFor(valid: readonly CacheValid[], status: number): number {
  let any = 0;
  for (const v of valid) {
    if (v.statuses.includes(status)) return v.ms;
    if (!any && v.statuses.includes(0)) any = v.ms;
  }
  return any;
}

/** nginx's decision for a response of `status` with header lines `raw`, at `now` (ms). */
export function validityOf(status: number, raw: readonly string[], valid: readonly CacheValid[], ignored: readonly string[], now: number): Validity {
  const ignores = (name: string) => ignored.includes(name);
  let until = 0;
  if (!ignores('set-cookie') && headerValues(raw, 'set-cookie').length) return NOT_STORED;
  const accel = ignores('x-accel-expires') ? [] : headerValues(raw, 'x-accel-expires');
  if (accel.length) {
    const value = accel[0].trim();
    if (value.startsWith('@')) {
      const at = Number(value.slice(1));
      if (!Number.isFinite(at)) return NOT_STORED;
      until = at * 1000;
    } else {
      const n = /^\d+$/.test(value) ? Number(value) : -1;
      if (n === 0) return NOT_STORED;
      if (n > 0) until = now + n * 1000;
    }
  }
  if (!until && !ignores('cache-control')) {
    const cc = headerValues(raw, 'cache-control').join(',').toLowerCase();
    if (cc) {
      if (/(?:^|[\s,])(?:no-cache|no-store|private)(?:$|[\s,=])/.test(cc)) return NOT_STORED;
      const age = /(?:^|[\s,])s-maxage=(\d+)/.exec(cc) ?? /(?:^|[\s,])max-age=(\d+)/.exec(cc);
      if (age) {
        const n = Number(age[1]);
        if (n === 0) return NOT_STORED;
        until = now + n * 1000;
      }
    }
  }
  if (!until && !ignores('expires')) {
    const expires = headerValues(raw, 'expires');
    if (expires.length) {
      const at = Date.parse(expires[0]);
      if (Number.isNaN(at) || at <= now) return NOT_STORED;
      until = at;
    }
  }
  let vary: string[] = [];
  if (!ignores('vary')) {
    vary = headerValues(raw, 'vary').flatMap((v) => v.split(',')).map((v) => v.trim().toLowerCase()).filter(Boolean);
    if (vary.includes('*')) return NOT_STORED;
  }
  if (!until) {
    const ms = validFor(valid, status);
    if (!ms) return NOT_STORED;
    until = now + ms;
  }
  return { store: true, validUntil: until, vary };
}
