/**
 * Zones in one process's memory: each zone a map of nodes in least-recently-used order (a
 * JavaScript Map keeps insertion order: a node touched is moved to the end), with nginx's byte
 * budget (`sizing.ts`). A check of all a location's limits runs at once (nothing else runs in
 * between), so nginx's per-node locks and counts are not needed. This store is what the master
 * holds for its workers, and what a single process (`master_process off`) uses.
 */
import { delayFor, drained, elapsed, excessAfter, type Bucket } from './leaky-bucket';
import { nodeCost, SlabBudget } from './sizing';
import type { ConnLimit, ConnOutcome, ConnSlot, ReqLimit, ReqOutcome, ZoneSpec } from './zone-types';

interface ReqNode extends Bucket {
  readonly cost: number;
}

interface ConnNode {
  conn: number;
  readonly cost: number;
}

/** Zones made so far in this process: each zone's epoch. */
let epochs = 0;

/** One zone: its spec, its nodes (oldest first), the bytes they take. */
class Zone<N extends { readonly cost: number }> {
  readonly nodes = new Map<string, N>();
  readonly budget: SlabBudget;
  readonly epoch = ++epochs;

  constructor(readonly spec: ZoneSpec) {
    this.budget = SlabBudget.forZone(spec.size, spec.kind, spec.name);
  }

  /** The node of `key`, moved to the most recently used end. */
  touch(key: string): N | undefined {
    const node = this.nodes.get(key);
    if (node) {
      this.nodes.delete(key);
      this.nodes.set(key, node);
    }
    return node;
  }

  fits(cost: number): boolean {
    return this.budget.fits(cost);
  }

  add(key: string, node: N): void {
    this.nodes.set(key, node);
    this.budget.take(node.cost);
  }

  remove(key: string): void {
    const node = this.nodes.get(key);
    if (!node) return;
    this.nodes.delete(key);
    this.budget.give(node.cost);
  }

  /** The least recently used key. */
  oldest(): string | undefined {
    for (const key of this.nodes.keys()) return key;
    return undefined;
  }
}

/** nginx's `NGX_AGAIN` of a lookup: the node is found (or made) and accounting waits for the last limit. */
type Lookup = { rc: 'busy' | 'nomem' | 'ok' | 'again'; excess: number; node: ReqNode | null };

export class MemoryZones {
  private readonly req = new Map<string, Zone<ReqNode>>();
  private readonly conn = new Map<string, Zone<ConnNode>>();

  constructor(private readonly clock: () => number = Date.now) {}

  /** Declares zones: one of the same name, kind and size keeps its nodes; otherwise it starts empty. */
  declare(specs: readonly ZoneSpec[]): void {
    for (const spec of specs) {
      const zones = spec.kind === 'limit_req' ? this.req : this.conn;
      const existing = zones.get(spec.name);
      if (existing && existing.spec.size === spec.size && existing.spec.rate === spec.rate) continue;
      (zones as Map<string, Zone<ReqNode | ConnNode>>).set(spec.name, new Zone(spec));
    }
  }

  /** Nodes in a zone now (for tests and the bench). */
  size(kind: ZoneSpec['kind'], name: string): number {
    return (kind === 'limit_req' ? this.req : this.conn).get(name)?.nodes.size ?? 0;
  }

  /**
   * nginx's ngx_http_limit_req_handler over a location's limits, in order: each key is looked
   * up, the last limit accounts the request, a bucket over its burst refuses it (nothing is
   * accounted), and otherwise every earlier limit accounts it too and the longest delay wins.
   */
  limitReq(limits: readonly ReqLimit[]): ReqOutcome {
    const now = this.clock();
    const pending: (ReqNode | null)[] = [];
    let outcome: Lookup = { rc: 'again', excess: 0, node: null };
    let declined = true;
    let n = 0;
    for (; n < limits.length; n++) {
      const limit = limits[n];
      pending.push(null);
      if (limit.key === '') continue;
      const zone = this.req.get(limit.zone);
      if (!zone) continue;
      declined = false;
      outcome = this.lookup(zone, limit, now, n === limits.length - 1);
      pending[n] = outcome.node;
      if (outcome.rc !== 'again') break;
    }
    if (declined) return { kind: 'declined' };
    const at = Math.min(n, limits.length - 1);
    if (outcome.rc === 'busy') return { kind: 'busy', excess: outcome.excess, zone: limits[at].zone };
    if (outcome.rc === 'nomem') return { kind: 'nomem', zone: limits[at].zone };
    // Accounting: the last limit looked up decides first, then every earlier one, the longest delay winning.
    let excess = outcome.rc === 'again' ? 0 : outcome.excess;
    let winner = at;
    let maxDelay = excess <= limits[at].delay ? 0 : delayFor(excess, limits[at].delay, this.req.get(limits[at].zone)!.spec.rate);
    for (let i = Math.min(n, limits.length) - 1; i >= 0; i--) {
      const node = pending[i];
      if (!node) continue;
      const rate = this.req.get(limits[i].zone)!.spec.rate;
      const ms = elapsed(now, node.last);
      const e = excessAfter(node, rate, ms);
      if (ms) node.last = now;
      node.excess = e;
      const delay = delayFor(e, limits[i].delay, rate);
      if (delay > maxDelay) {
        maxDelay = delay;
        excess = e;
        winner = i;
      }
    }
    if (maxDelay === 0) return { kind: 'passed' };
    return { kind: 'delayed', delayMs: maxDelay, excess, zone: limits[winner].zone };
  }

  /** nginx's ngx_http_limit_req_lookup: `account` for the last limit of the location. */
  private lookup(zone: Zone<ReqNode>, limit: ReqLimit, now: number, account: boolean): Lookup {
    const rate = zone.spec.rate;
    const node = zone.touch(limit.key);
    if (node) {
      const ms = elapsed(now, node.last);
      const excess = excessAfter(node, rate, ms);
      if (excess > limit.burst) return { rc: 'busy', excess, node: null };
      if (!account) return { rc: 'again', excess, node };
      node.excess = excess;
      if (ms) node.last = now;
      return { rc: 'ok', excess, node: null };
    }
    const cost = nodeCost('limit_req', limit.key.length);
    this.expire(zone, now, false);
    if (!zone.fits(cost)) {
      this.expire(zone, now, true);
      if (!zone.fits(cost)) return { rc: 'nomem', excess: 0, node: null };
    }
    const fresh: ReqNode = { excess: 0, last: account ? now : 0, cost };
    zone.add(limit.key, fresh);
    return account ? { rc: 'ok', excess: 0, node: null } : { rc: 'again', excess: 0, node: fresh };
  }

  /**
   * nginx's ngx_http_limit_req_expire: one or two drained buckets at the old end go; `force`
   * also drops the least recently used one first (the zone is full).
   */
  private expire(zone: Zone<ReqNode>, now: number, force: boolean): void {
    for (let n = force ? 0 : 1; n < 3; n++) {
      const key = zone.oldest();
      if (key === undefined) return;
      if (n !== 0 && !drained(zone.nodes.get(key)!, zone.spec.rate, now)) return;
      zone.remove(key);
    }
  }

  /**
   * nginx's ngx_http_limit_conn_handler over a location's limits: a slot in each (an empty key
   * is not counted); a zone at its limit, or with no room for a new key, refuses the request
   * and what was taken is given back.
   */
  acquireConn(limits: readonly ConnLimit[]): ConnOutcome {
    const slots: ConnSlot[] = [];
    let counted = false;
    for (const limit of limits) {
      if (limit.key === '') continue;
      const zone = this.conn.get(limit.zone);
      if (!zone) continue;
      counted = true;
      const node = zone.nodes.get(limit.key);
      if (!node) {
        const cost = nodeCost('limit_conn', limit.key.length);
        if (!zone.fits(cost)) {
          this.releaseConn(slots);
          return { kind: 'nomem', zone: limit.zone };
        }
        zone.add(limit.key, { conn: 1, cost });
      } else {
        if (node.conn >= limit.conn) {
          this.releaseConn(slots);
          return { kind: 'busy', zone: limit.zone };
        }
        node.conn++;
      }
      slots.push({ zone: limit.zone, key: limit.key, where: 'local', epoch: zone.epoch });
    }
    return { kind: 'passed', slots, counted };
  }

  /** Gives slots back; a key with no connection left leaves its zone. */
  releaseConn(slots: readonly ConnSlot[]): void {
    for (const slot of slots) {
      const zone = this.conn.get(slot.zone);
      const node = zone?.nodes.get(slot.key);
      if (!zone || !node || (slot.epoch !== undefined && slot.epoch !== zone.epoch)) continue;
      if (--node.conn <= 0) zone.remove(slot.key);
    }
  }
}
