/**
 * The `grpc` content handler (nginx's ngx_http_grpc_handler): each request becomes an HTTP/2
 * stream to the `grpc_pass` peer, or to a peer of the upstream it names, chosen by the same
 * balancer and peer state as `proxy_pass` to that upstream, with nginx's `grpc_next_upstream`
 * (another peer only while nothing went to the client and, the body being streamed, only
 * when the request never reached a peer). The request URI goes up as the client sent it
 * (`$uri?$args` escaped once a rewrite changed it), `:authority` is the `grpc_pass` host
 * (`grpc_set_header Host` replaces it). Requests come over HTTP/2 (h2 or h2c) or HTTP/1.1
 * alike; trailers reach an HTTP/1.1 client in its chunked body's trailer section.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../../errors';
import { compileValue, type CompiledValue } from '../../http/variables';
import { bodyReadEarlier, hasBody } from '../../shared/request-body';
import type { Counters, Handler, HandlerModule, RequestContext } from '../../types';
import { coreModule } from '../core/module';
import { balancerOf, conditionOf, finalStatus, type NextUpstreamPolicy } from '../proxy/balance';
import type { Balancer } from '../proxy/balancer';
import { proxyModule, type NextUpstreamCondition } from '../proxy/module';
import { escapeUri, originalUri } from '../proxy/target';
import { logContext } from '../proxy/upstream-errors';
import { GrpcCall, type GrpcTimeouts } from './call';
import { buildGrpcHeaders, compileGrpcHeaders, hiddenHeaders, type GrpcHeaderPlan } from './headers';
import { grpcModule } from './module';
import { GrpcSessions } from './sessions';
import { parseGrpcPass, type GrpcPeer, type GrpcTarget } from './target';

/** What `configure` checked and compiled: a gRPC location's options. */
export interface GrpcOptions {
  readonly target: GrpcTarget;
  readonly headers: GrpcHeaderPlan;
  readonly timeouts: GrpcTimeouts;
  readonly policy: NextUpstreamPolicy;
  readonly hidden: ReadonlySet<string>;
  readonly readAhead: number;
  readonly keepalive: boolean;
  /** The statuses `grpc_intercept_errors` hands to the location's `error_page` (none: off). */
  readonly intercepted: ReadonlySet<number>;
  /** `client_max_body_size`, `client_body_timeout`. */
  readonly bodyLimits: { readonly limit: number; readonly timeoutMs: number };
}

const NON_IDEMPOTENT = new Set(['POST', 'LOCK', 'PATCH']);

const grpc: HandlerModule<GrpcOptions> = {
  configure(_raw, cx) {
    const { location } = cx;
    const g = location.confs.get(grpcModule);
    const core = location.confs.get(coreModule);
    if (g.grpcPass === null) return cx.error('handler "grpc" needs a "grpc_pass" directive');
    if (g.grpcPass.includes('$')) return cx.error('variables in "grpc_pass" are not supported yet', 'grpc_pass');
    let target: GrpcTarget;
    try {
      target = parseGrpcPass(g.grpcPass, location.confs.get(proxyModule).upstreams);
    } catch (err) {
      return cx.error((err as Error).message, 'grpc_pass');
    }
    const upstream = target.upstream;
    if (upstream?.balancerBy) return cx.error(`"balancer_by" of upstream "${upstream.name}" is not supported with "grpc_pass" yet`, 'grpc_pass');
    if (upstream?.method.kind === 'hash') {
      try {
        compileValue(upstream.method.key, cx.captureNames);
      } catch (err) {
        return cx.error(`${(err as Error).message} in "hash" of upstream "${upstream.name}"`, 'grpc_pass');
      }
    }
    let headers: GrpcHeaderPlan;
    try {
      headers = compileGrpcHeaders(g.grpcSetHeaders, cx.captureNames);
    } catch (err) {
      return cx.error(`${(err as Error).message} in "grpc_set_header"`, 'grpc_set_header');
    }
    const intercepted = new Set(g.grpcInterceptErrors ? core.errorPages.flatMap((p) => p.codes.filter((c) => c >= 300)) : []);
    return {
      target,
      headers,
      timeouts: { connect: g.grpcConnectTimeout, send: g.grpcSendTimeout, read: g.grpcReadTimeout },
      policy: { conditions: new Set<NextUpstreamCondition>(g.grpcNextUpstream), tries: g.grpcNextUpstreamTries, timeout: g.grpcNextUpstreamTimeout },
      hidden: hiddenHeaders(g.grpcHideHeaders, g.grpcPassHeaders),
      readAhead: g.grpcBufferSize,
      keepalive: g.grpcSocketKeepalive,
      intercepted,
      bodyLimits: { limit: core.clientMaxBodySize, timeoutMs: core.clientBodyTimeout },
    };
  },

  create(options, env) {
    return new GrpcHandler(options, env.counters);
  },
};

export default grpc;

/** One location's gRPC passing: its peers' sessions, shared by its requests. */
class GrpcHandler implements Handler {
  private readonly sessions = new GrpcSessions();
  private readonly balancer: Balancer | null;
  private readonly hashKey: CompiledValue | null;

  constructor(
    private readonly options: GrpcOptions,
    private readonly counters: Counters | null,
  ) {
    const upstream = options.target.upstream;
    this.balancer = upstream ? balancerOf(upstream) : null;
    this.hashKey = upstream?.method.kind === 'hash' ? compileValue(upstream.method.key) : null;
  }

  async http(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): Promise<void> {
    // A body a script read (`r.readBody()`) goes up as read: the client's stream is spent.
    const earlier = hasBody(req) ? bodyReadEarlier(ctx.data) : undefined;
    const early = earlier ? await earlier : null;
    const { target, policy } = this.options;
    const path = ctx.uriChanged || ctx.rewrittenInPlace ? escapeUri(ctx.uri) + (ctx.args ? `?${ctx.args}` : '') : originalUri(req.url ?? '/');
    const headers = buildGrpcHeaders(this.options.headers, { method: req.method ?? 'POST', scheme: target.tls ? 'https' : 'http', path, authority: target.authority }, req, ctx);
    const selection = this.balancer?.begin(this.keyOf(ctx)) ?? null;
    const limit = selection ? Math.min(selection.tries, policy.tries || Infinity) : 1;
    const started = Date.now();
    const streamed = early === null && hasBody(req) && !req.readableEnded;
    const idempotent = !NON_IDEMPOTENT.has(req.method ?? 'POST') || policy.conditions.has('non_idempotent');
    let last: { condition: NextUpstreamCondition; error: HttpError } | null = null;
    for (let attempt = 1; ; attempt++) {
      const peer = selection ? selection.next() : null;
      if (selection && !peer) {
        if (last) throw new HttpError(finalStatus(last.condition), last.error.code, last.error.message);
        ctx.log.error(`no live upstreams while connecting to upstream, client: ${ctx.remoteAddress}, upstream: "${target.upstream!.name}"`);
        throw new HttpError(502, 'GW_NO_LIVE_UPSTREAMS', 'no live upstreams');
      }
      const to: GrpcPeer = peer ? peer.conf : target.peer!;
      const more = () => attempt < limit && (!policy.timeout || Date.now() - started < policy.timeout);
      const nextOnStatus = policy.conditions.size > 0 && limit > 1 && !streamed ? (status: number) => policy.conditions.has(`http_${status}` as NextUpstreamCondition) && idempotent && more() : null;
      const call = this.call(req, res, ctx, to, headers, early, nextOnStatus);
      try {
        await call.promise;
        if (peer) selection!.done(peer, false);
        return;
      } catch (err) {
        const condition = conditionOf(err);
        const failed = condition !== null && condition !== 'http_403' && condition !== 'http_404';
        if (peer) {
          selection!.done(peer, failed);
          if (failed && selection!.disabled(peer)) {
            ctx.log.warn(`upstream server temporarily disabled while ${call.reachedUpstream ? 'reading response header from' : 'connecting to'} upstream, client: ${ctx.remoteAddress}, upstream: "${peer.conf.name}"`);
          }
        }
        if (condition === null || !selection || res.headersSent || res.destroyed) throw err;
        const mayRetry = policy.conditions.has(condition) && (idempotent || !call.reachedUpstream) && !(streamed && call.reachedUpstream) && more();
        if (!mayRetry) throw condition.startsWith('http_') ? new HttpError(finalStatus(condition), (err as HttpError).code) : err;
        last = { condition, error: err as HttpError };
      }
    }
  }

  /** One call to one peer. */
  private call(
    req: IncomingMessage,
    res: ServerResponse,
    ctx: RequestContext,
    peer: GrpcPeer,
    headers: Record<string, string | string[]>,
    early: Buffer | null,
    nextOnStatus: ((status: number) => boolean) | null,
  ): GrpcCall {
    const { options } = this;
    const scheme = options.target.tls ? 'grpcs://' : 'grpc://';
    const intercepted = options.intercepted;
    const call = new GrpcCall({
      req,
      res,
      ctx,
      log: ctx.log,
      context: () => logContext(req, ctx.remoteAddress, ctx.server.primaryName, `${scheme}${peer.name}`, ctx.mainRequest, ctx.uri),
      headers,
      timeouts: options.timeouts,
      hidden: options.hidden,
      readAhead: options.readAhead,
      bodyLimits: options.bodyLimits,
      early,
      nextOnStatus,
      intercepts: intercepted.size ? (status) => intercepted.has(status) : null,
      counters: this.counters,
      peer: peer.name,
    });
    const session = this.sessions.session(peer, { tls: options.target.tls, keepalive: options.keepalive, timeout: options.timeouts.connect });
    return call.start(session, (s) => this.sessions.track(s));
  }

  private keyOf(ctx: RequestContext): string {
    if (this.options.target.upstream?.method.kind === 'ip_hash') return ctx.remoteAddress;
    return this.hashKey ? ctx.evaluate(this.hashKey) : '';
  }

  /** Closes the sessions to the peers. */
  close(): void {
    this.sessions.close();
  }
}
