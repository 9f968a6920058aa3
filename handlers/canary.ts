/**
 * An example `balancer_by` script: a canary split in the balancer, as OpenResty users write it
 * with balancer_by_lua and ngx.balancer. A request whose cookie says `canary=1` goes to the
 * canary peer, `canary=0` to stable; any other request goes to the canary for a share of clients
 * (`percent`), chosen by a hash of a client id (a cookie, else the client's address) so that a
 * client stays on its side. Stable is the upstream's own `servers` (the script sets no peer).
 * A canary that fails (refused, timed out, or a status `proxy_next_upstream` passes on) is
 * retried once on stable.
 *
 *   upstreams:
 *     app:
 *       balancer_by:
 *         script: canary
 *         options: { canary: "127.0.0.1:9002", percent: 10, cookie: canary, id_cookie: client_id }
 *       servers: ["127.0.0.1:9001"]     # stable
 */
import { defineBalancer } from 'gateway';

interface CanaryOptions {
  readonly host: string;
  readonly port: number;
  /** Share of clients sent to the canary, 0 to 100. */
  readonly percent: number;
  /** The cookie that forces a side: `1` canary, `0` stable. */
  readonly cookie: string;
  /** The cookie holding a client id; without it, the client's address is the id. */
  readonly idCookie: string;
}

/** FNV-1a, 32 bits: a stable hash of the client id. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export default defineBalancer<CanaryOptions>({
  configure(raw, cx) {
    const canary = raw.canary;
    const m = typeof canary === 'string' ? /^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$/.exec(canary) : null;
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) return cx.error('"canary" must be "host:port"');
    const percent = raw.percent ?? 0;
    if (typeof percent !== 'number' || percent < 0 || percent > 100) return cx.error('"percent" must be a number from 0 to 100');
    const cookie = raw.cookie ?? 'canary';
    const idCookie = raw.id_cookie ?? 'client_id';
    if (typeof cookie !== 'string' || typeof idCookie !== 'string') return cx.error('"cookie" and "id_cookie" are cookie names');
    for (const key of Object.keys(raw)) if (!['canary', 'percent', 'cookie', 'id_cookie'].includes(key)) cx.error(`unknown option "${key}"`);
    return { host: m[1].replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]), percent, cookie, idCookie };
  },

  run(b, o) {
    // A retry after the canary failed: the upstream's own choice (stable).
    if (b.getLastFailure()) {
      b.log.warn(`canary ${o.host}:${o.port} failed (${b.getLastFailure()!.status}), retrying on stable`);
      return;
    }
    const forced = b.cookie(o.cookie);
    const toCanary = forced === '1' || (forced !== '0' && hash(b.cookie(o.idCookie) ?? b.remoteAddress) % 100 < o.percent);
    b.ctx.canary = toCanary;
    if (!toCanary) return;
    b.setCurrentPeer(o.host, o.port);
    b.setMoreTries(1);
  },
});
