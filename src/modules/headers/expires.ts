/**
 * nginx's `expires` (ngx_http_headers_filter_module): parsing the directive at load, and the
 * Expires and Cache-Control headers it sets on a response whose status is one of 200, 201,
 * 204, 206, 301, 302, 303, 304, 307, 308.
 */
import type { ServerResponse } from 'node:http';
import { httpDate, parseHttpDate } from '../../http/dates';
import { parseTime } from '../../config/values';
import { compileValue, type CompiledValue } from '../../http/variables';

/**
 * `expires`: `off`, `epoch`, `max`, a time from the access (`access`), from Last-Modified
 * (`modified`), a time of day (`daily`, `@15h`); `seconds` may be negative. A value with
 * variables is read per request.
 */
export type ExpiresConf =
  | { readonly kind: 'off' | 'epoch' | 'max' }
  | { readonly kind: 'access' | 'modified' | 'daily'; readonly seconds: number }
  | { readonly kind: 'variable'; readonly template: string; readonly modified: boolean };

/** `expires max`: nginx's fixed date, and ten years as max-age. */
const MAX_EXPIRES = 'Thu, 31 Dec 2037 23:55:55 GMT';
const MAX_AGE_TEN_YEARS = 315_360_000;
/** `expires epoch`. */
const EPOCH_EXPIRES = 'Thu, 01 Jan 1970 00:00:01 GMT';
const DAY = 24 * 60 * 60;
/** The latest date nginx writes (ngx_gmtime stops at 9999-12-31 23:59:59), and the earliest (the epoch). */
const LATEST_DATE = 253_402_300_799;
const dateOf = (seconds: number) => httpDate(Math.min(Math.max(seconds, 0), LATEST_DATE));

/** A time in whole seconds as nginx's `ngx_parse_time(..., 1)` reads it: no `ms`. */
function seconds(text: string): number {
  if (/ms/.test(text)) throw new Error('invalid value');
  try {
    return parseTime(text) / 1000;
  } catch {
    throw new Error('invalid value');
  }
}

/**
 * One value after the optional `modified`: `off`, `epoch`, `max` (not after `modified`),
 * `@time` (daily), `[+|-]time`. Throws nginx's reason (`invalid value`, ...).
 */
export function parseExpiresValue(value: string, modified: boolean): ExpiresConf {
  if (!modified) {
    if (value === 'epoch' || value === 'max' || value === 'off') return { kind: value };
  }
  if (value.startsWith('@')) {
    if (modified) throw new Error('daily time cannot be used with "modified" parameter');
    const time = seconds(value.slice(1));
    if (time > DAY) throw new Error('daily time value must be less than 24 hours');
    return { kind: 'daily', seconds: time };
  }
  const minus = value.startsWith('-');
  const time = seconds(value.startsWith('-') || value.startsWith('+') ? value.slice(1) : value);
  return { kind: modified ? 'modified' : 'access', seconds: minus ? -time : time };
}

/**
 * The `expires` arguments: `[modified] time`, `epoch`, `max`, `off`; a value with variables is
 * kept as a template and read per request. Throws nginx's reason.
 */
export function parseExpires(args: readonly string[]): ExpiresConf {
  if (args.length < 1 || args.length > 2) throw new Error('invalid number of arguments in "expires" directive');
  if (args.length === 2 && args[0] !== 'modified') throw new Error('"expires" directive invalid value');
  const modified = args.length === 2;
  const value = args[args.length - 1];
  if (value.includes('$')) return { kind: 'variable', template: value, modified };
  try {
    return parseExpiresValue(value, modified);
  } catch (err) {
    throw new Error(`"expires" directive ${(err as Error).message}`);
  }
}

/** `expires` as the filter runs it: a fixed setting, or a template read per request. */
export type CompiledExpires = { readonly fixed: ExpiresConf } | { readonly value: CompiledValue; readonly modified: boolean };

/** Compiles `expires` once, at start. */
export function compileExpires(conf: ExpiresConf, captureNames: ReadonlySet<string>): CompiledExpires {
  return conf.kind === 'variable' ? { value: compileValue(conf.template, captureNames), modified: conf.modified } : { fixed: conf };
}

/** The local time of day `when` (seconds after midnight) next comes after `now`: nginx's ngx_next_time. */
function nextTime(now: number, when: number): number {
  const date = new Date(now * 1000);
  date.setHours(Math.floor(when / 3600), Math.floor((when % 3600) / 60), when % 60, 0);
  if (date.getTime() / 1000 - now > 0) return date.getTime() / 1000;
  date.setDate(date.getDate() + 1);
  return date.getTime() / 1000;
}

/**
 * The Expires and Cache-Control values for `conf` at `now` (seconds), nginx's
 * ngx_http_set_expires; `lastModified` (seconds) is the response's Last-Modified, if any.
 * Null for `off`.
 */
export function expiresHeaders(conf: ExpiresConf, now: number, lastModified: number | null): { expires: string; cacheControl: string } | null {
  switch (conf.kind) {
    case 'off':
    case 'variable':
      return null;
    case 'epoch':
      return { expires: EPOCH_EXPIRES, cacheControl: 'no-cache' };
    case 'max':
      return { expires: MAX_EXPIRES, cacheControl: `max-age=${MAX_AGE_TEN_YEARS}` };
  }
  if (conf.seconds === 0 && conf.kind !== 'daily') return { expires: httpDate(now), cacheControl: 'max-age=0' };
  let expires: number;
  let maxAge: number;
  if (conf.kind === 'daily') {
    expires = nextTime(now, conf.seconds);
    maxAge = expires - now;
  } else if (conf.kind === 'access' || lastModified === null) {
    expires = now + conf.seconds;
    maxAge = conf.seconds;
  } else {
    expires = lastModified + conf.seconds;
    maxAge = expires - now;
  }
  const cacheControl = conf.seconds < 0 || maxAge < 0 ? 'no-cache' : `max-age=${maxAge}`;
  return { expires: dateOf(expires), cacheControl };
}

/** Sets Expires and Cache-Control on `res` (replacing any), as the headers filter does. */
export function applyExpires(res: ServerResponse, compiled: CompiledExpires, ctx: { evaluate(template: CompiledValue): string }): void {
  let conf: ExpiresConf;
  if ('fixed' in compiled) conf = compiled.fixed;
  else {
    try {
      conf = parseExpiresValue(ctx.evaluate(compiled.value), compiled.modified);
    } catch {
      return; // nginx ignores a value it cannot read at run time
    }
  }
  if (conf.kind === 'off') return;
  const lastModified = res.getHeader('last-modified');
  const modified = typeof lastModified === 'string' ? parseHttpDate(lastModified) : null;
  const headers = expiresHeaders(conf, Math.floor(Date.now() / 1000), modified);
  if (!headers) return;
  res.setHeader('Expires', headers.expires);
  res.setHeader('Cache-Control', headers.cacheControl);
}
