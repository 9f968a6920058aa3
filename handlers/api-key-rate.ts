/**
 * An example access script (OpenResty's `access_by_lua` with `lua_shared_dict`): an API key
 * check with a rate per key, in front of the built-in proxy. The key comes from a header; an
 * unknown key is refused with 401; each key may make `limit` requests per `window` seconds,
 * counted in a shared dictionary with `incr(key, 1, 0, window)` (the counter starts at 0 with
 * the window as its TTL, as `ngx.shared.DICT:incr(key, 1, 0, window)`), so both workers count
 * together; past the limit, 429 with `Retry-After` (the seconds left in the window).
 *
 *   shared_dict: { api_rate: 1m }
 *   - location: /api/
 *     access_by: { script: api-key-rate, options: { dict: api_rate, keys: [k1], limit: 100, window: 60 } }
 *     proxy_pass: http://backend
 */
import { definePhaseScript } from 'gateway';

interface ApiKeyRateOptions {
  readonly header: string;
  readonly keys: ReadonlySet<string>;
  readonly dict: string;
  readonly limit: number;
  readonly window: number;
}

export default definePhaseScript<ApiKeyRateOptions>({
  configure(raw, cx) {
    const keys = raw.keys;
    if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'string' && k !== '')) cx.error('"keys" must be a list of keys', 'keys');
    const header = raw.header ?? 'X-Api-Key';
    if (typeof header !== 'string' || !/^[A-Za-z0-9-]+$/.test(header)) cx.error('"header" must be a header name', 'header');
    if (typeof raw.dict !== 'string' || raw.dict === '') cx.error('"dict" must name a shared_dict', 'dict');
    const limit = raw.limit;
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1) cx.error('"limit" must be a whole number of requests, at least 1', 'limit');
    const window = raw.window ?? 60;
    if (typeof window !== 'number' || !(window > 0)) cx.error('"window" must be a number of seconds above 0', 'window');
    return { header: (header as string).toLowerCase(), keys: new Set(keys as string[]), dict: raw.dict as string, limit: limit as number, window: window as number };
  },
  run(r, options) {
    const key = r.header(options.header);
    if (typeof key !== 'string' || !options.keys.has(key)) r.exit(401);
    const dict = r.shared.get(options.dict);
    if (!dict) throw new Error(`no shared_dict "${options.dict}"`);
    // One counter per key and window: the first request of a window creates it with the window as TTL.
    const counted = dict.incr(`rate:${key}`, 1, 0, options.window);
    if (counted.value === null) throw new Error(`api key counter: ${counted.err}`);
    if (counted.value > options.limit) {
      r.setResponseHeader('Retry-After', Math.max(1, Math.ceil(dict.ttl(`rate:${key}`) ?? options.window)));
      r.exit(429);
    }
    // The key is the backend's business no more; the backend learns what is left.
    r.clearHeader(options.header);
    r.setHeader('X-RateLimit-Remaining', String(options.limit - counted.value));
  },
});
