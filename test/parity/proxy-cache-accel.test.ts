/**
 * The upstream's X-Accel-* headers on a response served from proxy_cache, beside nginx 1.22:
 * nginx stores the upstream's header whole and, on a hit, reads it again through the proxy's
 * header parser (ngx_http_upstream_cache_send → process_header), so `X-Accel-Limit-Rate` sets
 * `$limit_rate` and `X-Accel-Charset` the charset on a HIT as on the MISS that stored it (each
 * unless `proxy_ignore_headers` names it). Seen through `add_header X-Rate $limit_rate` and
 * the Content-Type; `$upstream_cache_status` in `X-Cache`.
 */
import { defineParityCases, type ParityRequest } from './run';
import { startScriptedBackend, type ScriptedBackend } from './scripted-backend';
import { type LocationModel, type SiteModel } from './site';

let scripted: ScriptedBackend;

beforeAll(async () => {
  scripted = await startScriptedBackend();
});

afterAll(async () => {
  await scripted?.close();
});

/** A caching location: each side its own zone (its own directory under the shared prefix). */
function cached(match: string, directives: Record<string, string> = {}): LocationModel {
  const common = { proxy_pass: scripted.url, proxy_cache_valid: '200 1m', add_header: ['X-Rate $limit_rate always', 'X-Cache $upstream_cache_status always'], ...directives };
  return { match, directives: common, nginx: { proxy_cache: 'nz' }, gateway: { proxy_cache: 'gz' } };
}

function site(): SiteModel {
  return {
    http: { proxy_cache_path: ['nginx-accel-cache levels=1:2 keys_zone=nz:1m', 'gateway-accel-cache levels=1:2 keys_zone=gz:1m'] },
    servers: [
      {
        locations: [
          { match: '/known/', directives: { charset: 'utf-8', return: "200 'known\n'" } },
          cached('/c/'),
          cached('/c-ignore/', { proxy_ignore_headers: 'X-Accel-Limit-Rate X-Accel-Charset' }),
        ],
      },
    ],
  };
}

/** A request the scripted backend answers with these header lines. */
const answered = (name: string, path: string, lines: readonly string[], more: Partial<ParityRequest> = {}): ParityRequest => {
  const params = new URLSearchParams();
  for (const line of lines) params.append('h', line);
  return { name, target: `${path}?${params}`, ...more };
};

const RATE = ['X-Accel-Limit-Rate: 100000', 'Content-Type: text/plain'];
const CHARSET = ['X-Accel-Charset: utf-8', 'Content-Type: text/plain'];

defineParityCases([
  {
    title: 'X-Accel-* on a cache hit',
    site,
    requests: [
      answered('X-Accel-Limit-Rate: the miss that stores it', '/c/rate', RATE),
      answered('X-Accel-Limit-Rate: the hit', '/c/rate', RATE),
      answered('X-Accel-Charset: the miss', '/c/charset', CHARSET),
      answered('X-Accel-Charset: the hit', '/c/charset', CHARSET),
      answered('both, HEAD hit', '/c/charset', CHARSET, { method: 'HEAD' }),
      answered('ignored: the miss', '/c-ignore/both', [...RATE, 'X-Accel-Charset: utf-8']),
      answered('ignored: the hit', '/c-ignore/both', [...RATE, 'X-Accel-Charset: utf-8']),
    ],
  },
]);
