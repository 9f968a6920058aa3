/**
 * Choosing a peer of an upstream, as nginx's ngx_http_upstream_round_robin and the modules
 * over it do: smooth weighted round robin, `least_conn`, `ip_hash`, `hash KEY`,
 * `hash KEY consistent` and `random [two [least_conn]]`; `backup` peers only when no primary
 * can be had; `down` never; passive health (`max_fails` failures within `fail_timeout` take a
 * peer out for `fail_timeout`); `max_conns` (a peer with that many requests on it is skipped).
 * Pure: no sockets, the clock is injected, so the algorithm is tested with tables.
 */
import { crc32 } from 'node:zlib';
import { isIPv4, isIPv6 } from 'node:net';
import type { UpstreamConf, UpstreamServerConf } from './upstreams';

/** One peer and its shared state (per worker, as nginx's without a `zone`). */
export interface Peer {
  readonly conf: UpstreamServerConf;
  readonly backup: boolean;
  currentWeight: number;
  effectiveWeight: number;
  /** Requests on it now (`least_conn`). */
  conns: number;
  fails: number;
  /** When it last failed. */
  accessed: number;
  /** When its fail window started, or it was last given a chance. */
  checked: number;
}

/** nginx gives up hashing after 20 misses and falls back to round robin. */
const HASH_TRIES = 20;
/** Points per unit of weight on the consistent-hash ring. */
const RING_POINTS = 160;

/** The peers of one upstream and the state they share between requests. */
export class Balancer {
  readonly primary: readonly Peer[];
  readonly backups: readonly Peer[];
  /** nginx's `peers->single`: one primary and no backup; it is never marked failed. */
  readonly single: boolean;
  private ring: { hash: number; server: string }[] | null = null;

  /** `random`'s weight ranges: each primary's cumulative weight before it, in order. */
  readonly ranges: readonly number[];
  readonly totalWeight: number;

  constructor(
    readonly conf: UpstreamConf,
    readonly now: () => number = Date.now,
    /** A number in [0, 1) (`random`'s draws). */
    readonly random: () => number = Math.random,
  ) {
    const peer = (s: UpstreamServerConf): Peer => ({ conf: s, backup: s.backup, currentWeight: 0, effectiveWeight: s.weight, conns: 0, fails: 0, accessed: 0, checked: 0 });
    this.primary = conf.servers.filter((s) => !s.backup).map(peer);
    this.backups = conf.servers.filter((s) => s.backup).map(peer);
    this.single = this.primary.length === 1 && this.backups.length === 0;
    let total = 0;
    this.ranges = this.primary.map((p) => ((total += p.conf.weight), total - p.conf.weight));
    this.totalWeight = total;
  }

  /**
   * A request's selection. `key` is the client address for `ip_hash`, the evaluated key for
   * `hash`, ignored otherwise.
   */
  begin(key = ''): Selection {
    return new Selection(this, key);
  }

  /** Whether `peer` may be chosen now (not down, not out for its failures). */
  usable(peer: Peer, now: number): boolean {
    if (peer.conf.down) return false;
    const { maxFails, failTimeout } = peer.conf;
    return !(maxFails && peer.fails >= maxFails && now - peer.checked <= failTimeout);
  }

  /** Whether `peer` may take a request now: usable, and under its `max_conns`. */
  available(peer: Peer, now: number): boolean {
    return this.usable(peer, now) && !(peer.conf.maxConns && peer.conns >= peer.conf.maxConns);
  }

  /** The consistent-hash ring: `weight * 160` points per server, sorted, as nginx's init_chash. */
  points(): readonly { hash: number; server: string }[] {
    if (this.ring) return this.ring;
    const ring: { hash: number; server: string }[] = [];
    for (const peer of this.primary) {
      const { host, port, name } = peer.conf;
      const base = Buffer.concat([Buffer.from(host.includes(':') ? `[${host}]` : host), Buffer.from([0]), Buffer.from(String(port))]);
      let prev = Buffer.alloc(4);
      for (let j = 0; j < peer.conf.weight * RING_POINTS; j++) {
        const hash = crc32(Buffer.concat([base, prev]));
        ring.push({ hash, server: name });
        prev = Buffer.alloc(4);
        prev.writeUInt32LE(hash);
      }
    }
    ring.sort((a, b) => a.hash - b.hash);
    this.ring = ring.filter((p, i) => i === 0 || p.hash !== ring[i - 1].hash);
    return this.ring;
  }
}

/** One request's walk through the peers: what was tried, what is left. */
export class Selection {
  /** nginx's `pc->tries`: every server that is not down, backups included. */
  readonly tries: number;
  private readonly tried = new Set<Peer>();
  private usingBackup = false;
  private hashState = { hash: 0, rehash: 0, misses: 0, started: false };

  constructor(
    private readonly balancer: Balancer,
    private readonly key: string,
  ) {
    const live = (peers: readonly Peer[]) => peers.filter((p) => !p.conf.down).length;
    this.tries = Math.max(1, live(balancer.primary) + live(balancer.backups));
  }

  /** The next peer to try, or null: nginx's "no live upstreams". */
  next(): Peer | null {
    const b = this.balancer;
    const now = b.now();
    let peer: Peer | null = null;
    if (b.single) {
      const only = b.primary[0];
      // nginx's single peer is never out for its failures, but is for its max_conns.
      peer = only.conf.down || this.tried.has(only) || (only.conf.maxConns && only.conns >= only.conf.maxConns) ? null : only;
    } else {
      if (!this.usingBackup) peer = this.pickPrimary(now);
      if (!peer && b.backups.length) {
        this.usingBackup = true;
        peer = roundRobin(b.backups, this.tried, b, now);
      }
    }
    if (!peer) return null;
    if (now - peer.checked > peer.conf.failTimeout) peer.checked = now;
    this.tried.add(peer);
    peer.conns++;
    return peer;
  }

  /** The request is done with `peer`: `failed` counts against it, as nginx's free_peer. */
  done(peer: Peer, failed: boolean): void {
    peer.conns = Math.max(0, peer.conns - 1);
    if (this.balancer.single) return;
    const now = this.balancer.now();
    if (failed) {
      peer.fails++;
      peer.accessed = now;
      peer.checked = now;
      if (peer.conf.maxFails) peer.effectiveWeight = Math.max(0, peer.effectiveWeight - Math.floor(peer.conf.weight / peer.conf.maxFails));
    } else if (peer.accessed < peer.checked) {
      peer.fails = 0;
    }
  }

  /** Whether `peer` would now be skipped for its failures (for the log's "temporarily disabled"). */
  disabled(peer: Peer): boolean {
    return !this.balancer.usable(peer, this.balancer.now());
  }

  private pickPrimary(now: number): Peer | null {
    const b = this.balancer;
    const method = b.conf.method;
    switch (method.kind) {
      case 'least_conn':
        return leastConn(b.primary, this.tried, b, now);
      case 'ip_hash':
        return this.ipHash(now) ?? roundRobin(b.primary, this.tried, b, now);
      case 'random':
        return this.random(now, method.two);
      case 'hash':
        // An empty key falls back to round robin, as nginx's hash and chash.
        if (!this.key) return roundRobin(b.primary, this.tried, b, now);
        return (method.consistent ? this.chash(now) : this.hash(now)) ?? roundRobin(b.primary, this.tried, b, now);
      default:
        return roundRobin(b.primary, this.tried, b, now);
    }
  }

  /**
   * nginx's random module: a primary drawn by weight, skipped when tried, down, out or full;
   * `two`: the first two such draws (another than the first), the one with fewer requests per
   * unit of weight (a tie: the second). Past 20 misses in the request: round robin.
   */
  private random(now: number, two: boolean): Peer | null {
    const b = this.balancer;
    const st = this.hashState;
    let first: Peer | null = null;
    while (st.misses <= HASH_TRIES) {
      const peer = byRange(b, Math.floor(b.random() * b.totalWeight));
      if (peer !== first && !this.tried.has(peer) && b.available(peer, now)) {
        if (!two) return peer;
        if (first) return peer.conns * first.conf.weight > first.conns * peer.conf.weight ? first : peer;
        // The first of two counts as a try too (nginx falls through to `next`).
        first = peer;
      }
      st.misses++;
    }
    return roundRobin(b.primary, this.tried, b, now);
  }

  /** nginx's ip_hash: the first three octets of IPv4 (all 16 bytes of IPv6), hash 89, *113 % 6271. */
  private ipHash(now: number): Peer | null {
    const addr = addressBytes(this.key);
    if (!addr) return null;
    const b = this.balancer;
    const total = b.primary.reduce((sum, p) => sum + p.conf.weight, 0);
    const st = this.hashState;
    if (!st.started) Object.assign(st, { hash: 89, started: true });
    while (st.misses <= HASH_TRIES) {
      for (const byte of addr) st.hash = (st.hash * 113 + byte) % 6271;
      const peer = byWeight(b.primary, st.hash % total);
      if (!this.tried.has(peer) && b.available(peer, now)) return peer;
      st.misses++;
    }
    return null;
  }

  /** nginx's `hash KEY`: crc32 of the key (prefixed by the retry count), 15 bits, summed. */
  private hash(now: number): Peer | null {
    const b = this.balancer;
    const total = b.primary.reduce((sum, p) => sum + p.conf.weight, 0);
    const st = this.hashState;
    while (st.misses <= HASH_TRIES) {
      const text = st.rehash > 0 ? `${st.rehash}${this.key}` : this.key;
      st.hash += (crc32(text) >>> 16) & 0x7fff;
      st.rehash++;
      const peer = byWeight(b.primary, st.hash % total);
      if (!this.tried.has(peer) && b.available(peer, now)) return peer;
      st.misses++;
    }
    return null;
  }

  /** nginx's `hash KEY consistent`: the first ring point at or after crc32(key), then onwards. */
  private chash(now: number): Peer | null {
    const b = this.balancer;
    const ring = b.points();
    if (ring.length === 0) return null;
    const st = this.hashState;
    if (!st.started) Object.assign(st, { hash: ringIndex(ring, crc32(this.key)), started: true });
    while (st.misses <= HASH_TRIES) {
      const server = ring[st.hash % ring.length].server;
      const peer = b.primary.find((p) => p.conf.name === server && !this.tried.has(p) && b.available(p, now));
      if (peer) return peer;
      st.hash++;
      st.misses++;
    }
    return null;
  }
}

/**
 * Smooth weighted round robin (ngx_http_upstream_get_peer): every usable peer's current
 * weight grows by its effective weight, the largest wins and gives back the total.
 */
export function roundRobin(peers: readonly Peer[], tried: ReadonlySet<Peer>, b: Balancer, now: number): Peer | null {
  let best: Peer | null = null;
  let total = 0;
  for (const peer of peers) {
    if (tried.has(peer) || !b.available(peer, now)) continue;
    peer.currentWeight += peer.effectiveWeight;
    total += peer.effectiveWeight;
    if (peer.effectiveWeight < peer.conf.weight) peer.effectiveWeight++;
    if (!best || peer.currentWeight > best.currentWeight) best = peer;
  }
  if (best) best.currentWeight -= total;
  return best;
}

/** `least_conn`: the fewest requests per unit of weight; a tie goes to round robin among the tied. */
export function leastConn(peers: readonly Peer[], tried: ReadonlySet<Peer>, b: Balancer, now: number): Peer | null {
  const candidates = peers.filter((p) => !tried.has(p) && b.available(p, now));
  if (candidates.length === 0) return null;
  let min = candidates[0];
  for (const p of candidates) if (p.conns * min.conf.weight < min.conns * p.conf.weight) min = p;
  const tied = candidates.filter((p) => p.conns * min.conf.weight === min.conns * p.conf.weight);
  if (tied.length === 1) return tied[0];
  return roundRobin(tied, new Set(), b, now);
}

/** The primary whose weight range holds `x` (binary search, as ngx_http_upstream_peek_random_peer). */
function byRange(b: Balancer, x: number): Peer {
  let i = 0;
  let j = b.primary.length;
  while (j - i > 1) {
    const k = (i + j) >> 1;
    if (x < b.ranges[k]) j = k;
    else i = k;
  }
  return b.primary[i];
}

/** The peer `w` lands on when the primaries' weights are laid end to end. */
function byWeight(peers: readonly Peer[], w: number): Peer {
  let i = 0;
  while (w >= peers[i].conf.weight) w -= peers[i++].conf.weight;
  return peers[i];
}

/** The first ring point whose hash is at or above `hash` (wrapping to 0). */
function ringIndex(ring: readonly { hash: number }[], hash: number): number {
  let lo = 0;
  let hi = ring.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ring[mid].hash < hash) lo = mid + 1;
    else hi = mid;
  }
  return lo % ring.length;
}

/** The bytes ip_hash reads: three octets of IPv4 (also of an IPv4-mapped IPv6), 16 of IPv6. */
export function addressBytes(address: string): number[] | null {
  const v4 = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
  if (isIPv4(v4)) return v4.split('.').slice(0, 3).map(Number);
  if (!isIPv6(address)) return null;
  const [head, tail = ''] = address.split('::');
  const groups = (s: string) => (s ? s.split(':') : []);
  const h = groups(head);
  const t = address.includes('::') ? groups(tail) : [];
  const all = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return all.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]);
}
