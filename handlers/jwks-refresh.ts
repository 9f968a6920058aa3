/**
 * An example `init_worker_by` script (OpenResty's `init_worker_by_lua` with `ngx.timer.every`):
 * fetches a JSON Web Key Set from `url` when the worker starts and again every `refresh`
 * seconds, and keeps it in a shared dictionary, where `handlers/jwt-auth.ts` reads it. Worker 0
 * alone fetches (the others read the same dictionary); a fetch that fails keeps the keys there
 * and is logged, and the next tick tries again.
 *
 *   shared_dict: { jwks: 1m }
 *   init_worker_by: { script: jwks-refresh, options: { url: https://idp.example/jwks.json, dict: jwks, refresh: 300 } }
 */
import { defineWorkerScript } from 'gateway';

interface JwksRefreshOptions {
  readonly url: string;
  readonly dict: string;
  readonly refresh: number;
  readonly timeout: number;
}

/** Where the key set is kept in the dictionary (read by jwt-auth). */
export const JWKS_KEY = 'jwks';

export default defineWorkerScript<JwksRefreshOptions>({
  configure(raw) {
    if (typeof raw.url !== 'string' || !/^https?:\/\//.test(raw.url)) throw new Error('"url" must be an http(s) URL');
    if (typeof raw.dict !== 'string' || raw.dict === '') throw new Error('"dict" must name a shared_dict');
    const refresh = raw.refresh ?? 300;
    if (typeof refresh !== 'number' || !(refresh > 0)) throw new Error('"refresh" must be a number of seconds above 0');
    const timeout = raw.timeout ?? 5;
    if (typeof timeout !== 'number' || !(timeout > 0)) throw new Error('"timeout" must be a number of seconds above 0');
    return { url: raw.url, dict: raw.dict, refresh, timeout };
  },
  init(w, options) {
    if (w.worker.id !== 0) return;
    const dict = w.shared.get(options.dict);
    if (!dict) throw new Error(`no shared_dict "${options.dict}"`);
    const refresh = async (premature: boolean): Promise<void> => {
      if (premature) return;
      try {
        const res = await fetch(options.url, { signal: AbortSignal.timeout(options.timeout * 1000) });
        if (!res.ok) throw new Error(`status ${res.status}`);
        const text = await res.text();
        const set = JSON.parse(text) as { keys?: unknown };
        if (!Array.isArray(set.keys)) throw new Error('no "keys" list');
        const stored = dict.set(JWKS_KEY, text);
        if (!stored.ok) throw new Error(`shared_dict "${options.dict}": ${stored.err}`);
      } catch (err) {
        w.log.error(`jwks-refresh: ${options.url}: ${err instanceof Error ? err.message : String(err)}`);
      }
    };
    w.timers.at(0, refresh);
    w.timers.every(options.refresh, refresh);
  },
});
