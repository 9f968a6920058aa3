/**
 * An example access script (OpenResty's `access_by_lua`): lets a request in when its API key
 * header holds one of the configured keys, refuses it with 401 otherwise. In front of any
 * content handler, the built-in proxy included:
 *
 *   - location: /api/
 *     access_by: { script: api-key, options: { header: X-Api-Key, keys: [k1, k2] } }
 *     proxy_pass: http://backend
 */
import { definePhaseScript } from 'gateway';

interface ApiKeyOptions {
  readonly header: string;
  readonly keys: ReadonlySet<string>;
}

export default definePhaseScript<ApiKeyOptions>({
  configure(raw, cx) {
    const keys = raw.keys;
    if (!Array.isArray(keys) || keys.length === 0 || !keys.every((k) => typeof k === 'string' && k !== '')) cx.error('"keys" must be a list of keys', 'keys');
    const header = raw.header ?? 'X-Api-Key';
    if (typeof header !== 'string' || !/^[A-Za-z0-9-]+$/.test(header)) return cx.error('"header" must be a header name', 'header');
    return { header: header.toLowerCase(), keys: new Set(keys as string[]) };
  },
  run(r, options) {
    const key = r.header(options.header);
    if (typeof key !== 'string' || !options.keys.has(key)) r.exit(401);
    // The key is the backend's business no more.
    r.clearHeader(options.header);
    r.ctx.apiKey = key;
  },
});
