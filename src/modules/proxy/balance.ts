/**
 * `proxy_pass http://NAME` to an upstream: a peer chosen by the balancer for each attempt, and
 * nginx's `proxy_next_upstream` — another peer after an error, a timeout, an invalid header or
 * a listed status, only while nothing went to the client, never after a non-idempotent request
 * (POST, LOCK, PATCH) reached a peer unless `non_idempotent`, within `proxy_next_upstream_tries`
 * and `proxy_next_upstream_timeout`. A body read whole beforehand (`proxy_request_buffering
 * on`) is sent again by each attempt; a streamed one (`off`) only by an attempt before which
 * none reached a peer, as nginx's.
 */
import type http from 'node:http';
import { upstreamAgent } from './upstream-agent';
import { LeanPool } from './lean-pool';
import type { NextUpstreamCondition } from './module';
import type { UpstreamConf } from './upstreams';
import { HttpError } from '../../errors';
import { setPeerSource } from '../status/counters';
import { Balancer, type Peer } from './balancer';
import type { CompiledValue } from '../../http/variables';
import type { RequestContext } from '../../types';
import type { HttpExchange, ProxyTimeouts } from './exchange';
import { runBalancer } from './balancer-script';
import { logContext } from './upstream-errors';
import type { BalancerFailure } from '../../types';
import { hasBody } from '../../shared/request-body';
import type { StoredBody } from '../../shared/request-body-store';

/** What `proxy_next_upstream*` say, for one location. */
export interface NextUpstreamPolicy {
  readonly conditions: ReadonlySet<NextUpstreamCondition>;
  /** 0: no limit but the peers. */
  readonly tries: number;
  /** ms; 0: no limit. */
  readonly timeout: number;
}

/** Where one attempt goes: http-proxy's target and the pool for it. */
export interface PeerTarget {
  /** http-proxy's target; `socketPath` set for a unix socket (http.request then ignores host and port). */
  readonly url: { readonly protocol: string; readonly hostname: string; readonly host: string; readonly port: number; readonly socketPath?: string };
  readonly agent: http.Agent;
  /** The peer's lean pool (undici) for plain HTTP; null for TLS. */
  readonly lean: LeanPool | null;
  /** `host:port` (or `unix:/path`), as nginx's logs and `$upstream_addr` name a peer. */
  readonly name: string;
}

/** How one attempt is to be made. */
export interface AttemptPlan {
  /** The request body to send (read whole beforehand), or null to stream the client's (if any). */
  readonly body: StoredBody | null;
  /** Whether a response with this status goes to the next peer instead of the client. */
  readonly nextOnStatus: ((status: number) => boolean) | null;
  /** The timeouts of this attempt when a `balancer_by` script set them, else the location's. */
  readonly timeouts?: ProxyTimeouts;
}

/** Code of the exchange's rejection when a status is passed on to the next peer. */
export const NEXT_UPSTREAM_CODE = 'GW_UPSTREAM_NEXT';

const NON_IDEMPOTENT = new Set(['POST', 'LOCK', 'PATCH']);

/** Per worker, as nginx's without a `zone`: one balancer and one pool per upstream. */
const shared = new WeakMap<UpstreamConf, { balancer: Balancer; agents: Map<string, PeerPools>; scriptTargets: Map<string, PeerTarget> }>();
/**
 * Pools kept for peers a `balancer_by` script names outside the upstream's servers, per
 * upstream: past this many, the least recently used idle one is closed.
 */
const MAX_SCRIPT_POOLS = 256;
/** Every balancer of this process, for the metrics' upstream health. */
const balancers = new Set<Balancer>();
setPeerSource(() => {
  const now = Date.now();
  return [...balancers].flatMap((b) =>
    [...b.primary, ...b.backups].map((peer) => ({ upstream: b.conf.name, peer: peer.conf.name, usable: b.usable(peer, now) ? 1 : 0, active: peer.conns })),
  );
});

function sharedOf(conf: UpstreamConf) {
  let entry = shared.get(conf);
  if (!entry) {
    shared.set(conf, (entry = { balancer: new Balancer(conf), agents: new Map(), scriptTargets: new Map() }));
    balancers.add(entry.balancer);
  }
  return entry;
}

/** The balancer of an upstream in this worker: one peer state per upstream, whichever module passes to it (proxy_pass, grpc_pass). */
export function balancerOf(conf: UpstreamConf): Balancer {
  return sharedOf(conf).balancer;
}

/** The condition an attempt's failure meets, or null when it is no upstream failure. */
export function conditionOf(err: unknown): NextUpstreamCondition | null {
  if (!(err instanceof HttpError)) return null;
  if (err.code === NEXT_UPSTREAM_CODE) return `http_${err.status}` as NextUpstreamCondition;
  if (err.code === 'GW_UPSTREAM_TIMEOUT') return 'timeout';
  if (err.code === 'GW_UPSTREAM_INVALID') return 'invalid_header';
  return err.code.startsWith('GW_UPSTREAM_') ? 'error' : null;
}

/** nginx's status when it gives up after `condition` (ngx_http_upstream_next). */
export function finalStatus(condition: NextUpstreamCondition): number {
  switch (condition) {
    case 'timeout':
      return 504;
    case 'http_500':
      return 500;
    case 'http_403':
      return 403;
    case 'http_404':
      return 404;
    case 'http_429':
      return 429;
    default:
      return 502;
  }
}

/** The status `get_last_failure` reports for a try that ended with `condition`: the upstream's own for a status. */
function failureStatus(condition: NextUpstreamCondition): number {
  if (condition.startsWith('http_')) return Number(condition.slice(5));
  return condition === 'timeout' ? 504 : 502;
}

/** The two pools of one peer: Node's agent and, for plain HTTP, the lean one. */
interface PeerPools {
  readonly agent: http.Agent;
  readonly lean: LeanPool | null;
}

/** One location's way to an upstream. */
export class UpstreamProxy {
  private readonly balancer: Balancer;
  private readonly agents: Map<string, PeerPools>;
  private readonly targets = new Map<Peer, PeerTarget>();
  /** Targets of the peers a `balancer_by` script set, by `host:port` (least recently used first), per upstream. */
  private readonly scriptTargets: Map<string, PeerTarget>;

  constructor(
    private readonly conf: UpstreamConf,
    private readonly protocol: 'http:' | 'https:',
    private readonly policy: NextUpstreamPolicy,
    private readonly hashKey: CompiledValue | null,
    /** The location's `proxy_*_timeout`s: what `set_timeouts` changes, and the bound of an async script. */
    private readonly timeouts: ProxyTimeouts = { connect: 60_000, send: 60_000, read: 60_000 },
  ) {
    ({ balancer: this.balancer, agents: this.agents, scriptTargets: this.scriptTargets } = sharedOf(conf));
  }

  /** Whether a `balancer_by` script picks the peers (`pickScripted` for an upgrade). */
  get scripted(): boolean {
    return this.conf.balancerBy !== null;
  }

  /**
   * Runs attempts until one answers, or none is left: `run` makes one (an HttpExchange) to a
   * peer. Rejects with the HttpError to render, as a single exchange does.
   */
  async http(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    ctx: RequestContext,
    run: (target: PeerTarget, plan: AttemptPlan) => HttpExchange,
    /** The body read whole beforehand, or null when the client's streams (or there is none). */
    body: StoredBody | null = null,
    /** The URI sent upstream, for the error log's `upstream: "http://NAME/URI"` (the request's when not given). */
    uri?: () => string,
  ): Promise<void> {
    const selection = this.balancer.begin(this.keyOf(ctx));
    let limit = Math.min(selection.tries, this.policy.tries || Infinity);
    const started = Date.now();
    // A streamed body is the client's stream: once an attempt began to send it, no other can.
    const streamed = body === null && hasBody(req) && !req.readableEnded;
    const idempotent = !NON_IDEMPOTENT.has(req.method ?? 'GET') || this.policy.conditions.has('non_idempotent');
    const script = this.conf.balancerBy;
    let last: { condition: NextUpstreamCondition; error: HttpError } | null = null;
    let lastFailure: BalancerFailure | null = null;
    let timeouts: ProxyTimeouts | undefined;
    for (let attempt = 1; ; attempt++) {
      let target: PeerTarget | null = null;
      if (script) {
        const decision = await runBalancer(script, this.conf, req, ctx, { attempt, limit, maxTries: this.policy.tries, lastFailure }, (timeouts ?? this.timeouts).connect);
        if (res.destroyed) throw new HttpError(499, 'GW_CLIENT_CLOSED');
        limit += decision.moreTries;
        if (decision.timeouts) timeouts = { ...(timeouts ?? this.timeouts), ...decision.timeouts };
        if (decision.peer) target = this.scriptTarget(decision.peer.host, decision.peer.port);
        else if (this.conf.servers.length === 0) {
          ctx.log.error(`balancer_by script "${script.name}" set no peer while connecting to upstream, client: ${ctx.remoteAddress}, upstream: "${this.conf.name}"`);
          throw new HttpError(500, 'GW_BALANCER_NO_PEER', 'no peer set');
        }
      }
      // A peer the script set is its own: the upstream's accounting (max_fails) does not see it, as OpenResty's.
      const peer = target ? null : selection.next();
      if (!target && !peer) {
        if (last) throw new HttpError(finalStatus(last.condition), last.error.code, last.error.message);
        throw this.noLiveUpstreams(req, ctx, uri ? uri() : (req.url ?? '/'));
      }
      const more = () => attempt < limit && (!this.policy.timeout || Date.now() - started < this.policy.timeout);
      const retries = this.policy.conditions.size > 0 && (limit > 1 || script !== null);
      const nextOnStatus = retries && !streamed ? (status: number) => this.policy.conditions.has(`http_${status}` as NextUpstreamCondition) && idempotent && more() : null;
      const exchange = run(target ?? this.targetOf(peer!), { body, nextOnStatus, timeouts });
      try {
        await exchange.promise;
        if (peer) selection.done(peer, false);
        return;
      } catch (err) {
        const condition = conditionOf(err);
        // 403 and 404 are never a peer's failure; the rest always are, as in nginx.
        const failed = condition !== null && condition !== 'http_403' && condition !== 'http_404';
        if (peer) {
          selection.done(peer, failed);
          if (failed && selection.disabled(peer)) {
            ctx.log.warn(`upstream server temporarily disabled while ${exchange.reachedUpstream ? 'reading response header from' : 'connecting to'} upstream, client: ${ctx.remoteAddress}, upstream: "${peer.conf.name}"`);
          }
        }
        if (condition === null || res.headersSent || res.destroyed) throw err;
        const mayRetry = this.policy.conditions.has(condition) && (idempotent || !exchange.reachedUpstream) && !(streamed && exchange.reachedUpstream) && more();
        if (!mayRetry) throw condition.startsWith('http_') ? new HttpError(finalStatus(condition), (err as HttpError).code) : err;
        last = { condition, error: err as HttpError };
        lastFailure = { state: failed ? 'failed' : 'next', status: failureStatus(condition) };
      }
    }
  }

  /**
   * Every peer down, out for its failures or at its `max_conns` (nginx's NGX_BUSY): nginx's
   * error line (`upstream: "http://NAME/URI"`, `uri` the one sent upstream), and the 502 to throw.
   */
  noLiveUpstreams(req: http.IncomingMessage, ctx: RequestContext, uri: string): HttpError {
    const upstream = `${this.protocol}//${this.conf.name}${uri}`;
    ctx.log.error(`no live upstreams while connecting to upstream${logContext(req, ctx.remoteAddress, ctx.server.primaryName, upstream, ctx.mainRequest, ctx.uri)}`);
    return new HttpError(502, 'GW_NO_LIVE_UPSTREAMS', 'no live upstreams');
  }

  /** One peer for an upgrade (no retry: the client's bytes are already on their way); `done` reports how it went. */
  pick(ctx: RequestContext): { target: PeerTarget; done: (failed: boolean) => void } | null {
    const selection = this.balancer.begin(this.keyOf(ctx));
    const peer = selection.next();
    if (!peer) return null;
    return { target: this.targetOf(peer), done: (failed) => selection.done(peer, failed) };
  }

  /**
   * One peer for an upgrade when a `balancer_by` script picks (one try: no retry for a tunnel);
   * rejects with the script's 500 as `http` does.
   */
  async pickScripted(req: http.IncomingMessage, ctx: RequestContext): Promise<{ target: PeerTarget; done: (failed: boolean) => void } | null> {
    const script = this.conf.balancerBy!;
    const decision = await runBalancer(script, this.conf, req, ctx, { attempt: 1, limit: 1, maxTries: this.policy.tries, lastFailure: null }, this.timeouts.connect);
    if (decision.peer) return { target: this.scriptTarget(decision.peer.host, decision.peer.port), done: () => {} };
    if (this.conf.servers.length === 0) {
      ctx.log.error(`balancer_by script "${script.name}" set no peer while connecting to upstream, client: ${ctx.remoteAddress}, upstream: "${this.conf.name}"`);
      throw new HttpError(500, 'GW_BALANCER_NO_PEER', 'no peer set');
    }
    return this.pick(ctx);
  }

  /** Closes the upstream's pooled connections (the worker is going). */
  close(): void {
    for (const { agent, lean } of this.agents.values()) {
      agent.destroy();
      lean?.close();
    }
  }

  private keyOf(ctx: RequestContext): string {
    if (this.conf.method.kind === 'ip_hash') return ctx.remoteAddress;
    return this.hashKey ? ctx.evaluate(this.hashKey) : '';
  }

  private targetOf(peer: Peer): PeerTarget {
    let target = this.targets.get(peer);
    if (!target) {
      const { host, port, name, socketPath } = peer.conf;
      const url = socketPath === null ? { protocol: this.protocol, hostname: host, host, port } : { protocol: this.protocol, hostname: 'localhost', host: 'localhost', port, socketPath };
      target = { url, ...this.poolsOf(name, url), name };
      this.targets.set(peer, target);
    }
    return target;
  }

  /**
   * The target of a peer a script set: the upstream's own pool when it is one of its servers,
   * else a pool of its own, kept for the next request (at most MAX_SCRIPT_POOLS per upstream).
   */
  private scriptTarget(host: string, port: number): PeerTarget {
    const name = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    const known = this.scriptTargets.get(name);
    if (known) {
      // Most recently used last.
      this.scriptTargets.delete(name);
      this.scriptTargets.set(name, known);
      return known;
    }
    const url = { protocol: this.protocol, hostname: host, host, port };
    const target: PeerTarget = { url, ...this.poolsOf(name, url), name };
    this.scriptTargets.set(name, target);
    if (this.scriptTargets.size > MAX_SCRIPT_POOLS) this.evictIdlePool();
    return target;
  }

  /** Closes the least recently used pool of a script's peer that no request uses now (the upstream's own stay). */
  private evictIdlePool(): void {
    const own = new Set(this.conf.servers.map((s) => `${this.protocol}${s.name}`));
    for (const [name, target] of this.scriptTargets) {
      const key = `${this.protocol}${name}`;
      const agent = target.agent as http.Agent & { sockets: Record<string, unknown[]> };
      if (own.has(key) || Object.keys(agent.sockets).length > 0 || target.lean?.busy) continue;
      this.scriptTargets.delete(name);
      this.agents.delete(key);
      agent.destroy();
      target.lean?.close();
      return;
    }
  }

  /**
   * The pools for one peer (Node's agent, and undici's for plain HTTP, each the same way):
   * `keepalive N` is the idle connections kept (nginx: per upstream; here per peer), under the upstream's keepalive_requests, keepalive_timeout and keepalive_time.
   */
  private poolsOf(name: string, url: PeerTarget['url']): PeerPools {
    const key = `${this.protocol}${name}`;
    let pools = this.agents.get(key);
    if (!pools) {
      const { keepalive, keepaliveRequests, keepaliveTimeout, keepaliveTime } = this.conf;
      const limits = { idle: keepalive ?? 256, requests: keepaliveRequests, timeout: keepaliveTimeout, time: keepaliveTime };
      pools = { agent: upstreamAgent(this.protocol, limits), lean: this.protocol === 'http:' ? new LeanPool(url, limits) : null };
      this.agents.set(key, pools);
    }
    return pools;
  }
}
