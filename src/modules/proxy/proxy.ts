/**
 * The `proxy` content handler: `proxy_pass` to an `http://` or `https://` URL, with nginx's
 * URI rule, request headers (`proxy_set_header` over `Host: $proxy_host` and
 * `Connection: close`), hidden response headers, and connect/send/read timeouts; the request
 * body read whole before the upstream is contacted (`proxy_request_buffering`, nginx's
 * default) or streamed; WebSocket and other upgrades pass through only where the location
 * forwards `Upgrade` (nginx's recipe), decided at load: elsewhere a request that asks for one
 * is proxied as plain HTTP. A plain request is one `HttpExchange` (exchange.ts: undici's
 * lean pool of the peer for plain HTTP/1.1 with nothing to send after the head, else Node's
 * `http.request` on a keep-alive agent per scheme, or per upstream peer). The only importer of
 * http-proxy, kept for what it does well, piping an upgraded connection (tunnel.ts), and fenced
 * where it does not: listeners on every socket and on its own `error` event, and the client's
 * departure taking the upstream request down.
 */
import { alwaysZero, sizeFor, type SizeValue } from '../limit-rate/rate-value';
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import httpProxy from 'http-proxy';
import type { LocationMatch } from '../../config/values';
import { HttpError } from '../../errors';
import type { Counters, Handler, HandlerModule, Logger, RequestContext, UpgradeOutcome } from '../../types';
import { coreModule } from '../core/module';
import { httpTuningModule } from '../tuning/http-module';
import type { RedirectConf } from '../../http/redirect';
import { proxyModule } from './module';
import { HttpExchange, type ProxyTimeouts } from './exchange';
import { serverSignature } from '../../http/version';
import { isExtendedConnect } from '../../http/http2-messages';
import { buildRequestHeaders, compileRequestHeaders, hiddenHeaders, type HeaderLine, type RequestHeaderPlan } from './headers';
import { checkTargetForLocation, isAddressLiteral, parseProxyPass, upstreamUri, variableUpstreamUri, type ProxyTarget } from './target';
import { logContext } from './upstream-errors';
import { LeanPool } from './lean-pool';
import type { KeepaliveLimits } from './upstream-agent';
import { UpstreamProxy, type AttemptPlan, type NextUpstreamPolicy, type PeerTarget } from './balance';
import { compileValue, type CompiledValue } from '../../http/variables';
import { resolverModule, type ResolverConf } from '../resolver/module';
import { nameResolver, ResolveError, type NameResolver } from '../resolver/resolver';
import type { UpstreamConf } from './upstreams';
import { Tunnel } from './tunnel';
import { compileRedirects, rewriteRedirectHeaders, type RedirectRule } from './redirect';
import { compileCookieFlags, compileCookieRewrite, hasCookieRules, rewriteCookieHeaders, type CookieRules } from './cookies';
import { bodyReadEarlier, hasBody, isChunked, type BodyLimits } from '../../shared/request-body';
import { storeBody, storedInMemory, type StoreOptions, type StoredBody } from '../../shared/request-body-store';
import { proxyCacheModule } from './cache/module';
import { spoolLimits, type SpoolLimits } from './response-spool';
import { CACHE_BLANKED_HEADERS, compileCacheOptions, ProxyCache, type CacheHost, type CacheOptions, type ForwardPlan } from './cache/proxy-cache';
import { responseHeaders } from './headers';
import { accelActions, applyAccel, type AccelActions } from './accel-headers';

/**
 * A `proxy_pass` with variables: the URL made per request, the upstreams its host may name,
 * and the resolver for any other host name (null: none configured).
 */
export interface VariableProxyPass {
  readonly url: CompiledValue;
  readonly upstreams: ReadonlyMap<string, UpstreamConf>;
  readonly policy: NextUpstreamPolicy;
  /** The location's `resolver` and `resolver_timeout` (the resolver itself is made by the handler: options are frozen). */
  readonly resolver: { readonly conf: ResolverConf; readonly timeout: number } | null;
}

/** What `configure` checked and compiled: a proxy location's options. */
export interface ProxyOptions {
  /** The written `proxy_pass` URL; with variables, the URL as written (its target is made per request). */
  readonly target: ProxyTarget;
  /** Set when `proxy_pass` has variables (nginx's rule: the URI is passed as they make it). */
  readonly variable: VariableProxyPass | null;
  readonly match: LocationMatch;
  readonly headers: RequestHeaderPlan;
  readonly timeouts: ProxyTimeouts;
  /** The upstream `proxy_pass http://NAME` names, with this location's `proxy_next_upstream*`. */
  readonly upstream: { readonly conf: UpstreamConf; readonly policy: NextUpstreamPolicy } | null;
  /** Upstream response headers not passed on: nginx's list, `proxy_hide_header`, less `proxy_pass_header`. */
  readonly hidden: ReadonlySet<string>;
  /** `proxy_buffering`. */
  readonly buffering: boolean;
  /** `proxy_redirect`, compiled (empty: off). */
  readonly redirects: readonly RedirectRule[];
  /** How a rewritten Location names the host and port (`absolute_redirect`...). */
  readonly redirect: RedirectConf;
  /** `proxy_cookie_domain`, `proxy_cookie_path`, `proxy_cookie_flags`, compiled (null: none set). */
  readonly cookies: CookieRules | null;
  /**
   * Whether upgrades (WebSocket) pass: the location forwards `Upgrade` (`proxy_set_header
   * Upgrade $http_upgrade`). Elsewhere a request asking for one is proxied as plain HTTP.
   */
  readonly upgrade: boolean;
  /** `proxy_request_buffering`. */
  readonly requestBuffering: boolean;
  /** `proxy_http_version`: a chunked body is buffered whatever `proxy_request_buffering` says under 1.0, as nginx. */
  readonly httpVersion: '1.0' | '1.1';
  /** `client_max_body_size`, `client_body_timeout`, `client_body_buffer_size`, `client_body_temp_path`. */
  readonly body: Omit<StoreOptions, 'log'>;
  /** `send_timeout`: how long a tunnel's write to the client may stay blocked. */
  readonly sendTimeout: number;
  /** The `Server` header of a refused upgrade's answer (`server_tokens`). */
  readonly signature: string;
  /** `proxy_cache` and its directives, compiled; null where the location does not cache. */
  readonly cache: CacheOptions | null;
  /** `proxy_ignore_client_abort`. */
  readonly ignoreClientAbort: boolean;
  /** `proxy_limit_rate`. */
  readonly limitRate: SizeValue;
  /** Whether the upstream's `X-Accel-Redirect` is acted on (not in `proxy_ignore_headers`). */
  readonly accelRedirect: boolean;
  /** Which of the upstream's `X-Accel-Limit-Rate`, `X-Accel-Charset`, `X-Accel-Buffering` are acted on. */
  readonly accel: AccelActions;
  /** `proxy_buffer_size` + `proxy_buffers` (memory), `proxy_max_temp_file_size` and `proxy_temp_path`: how far a buffered response is read ahead. */
  readonly spool: SpoolLimits;
}

const proxy: HandlerModule<ProxyOptions> = {
  configure(_raw, cx) {
    const { location } = cx;
    const p = location.confs.get(proxyModule);
    const core = location.confs.get(coreModule);
    if (p.proxyPass === null) return cx.error('handler "proxy" needs a "proxy_pass" directive');
    const policy = { conditions: new Set(p.proxyNextUpstream), tries: p.proxyNextUpstreamTries, timeout: p.proxyNextUpstreamTimeout };
    // nginx's rule: a `$` makes the URL a script run per request; nothing else of it is checked at load.
    let variable: VariableProxyPass | null = null;
    let target: ProxyTarget;
    if (p.proxyPass.includes('$')) {
      let url: CompiledValue;
      try {
        url = compileValue(p.proxyPass, cx.captureNames);
      } catch (err) {
        return cx.error((err as Error).message, 'proxy_pass');
      }
      const r = location.confs.get(resolverModule);
      variable = { url, upstreams: p.upstreams, policy, resolver: r.resolver && { conf: r.resolver, timeout: r.resolverTimeout } };
      target = unresolvedTarget(p.proxyPass);
    } else {
      try {
        target = parseProxyPass(p.proxyPass);
      } catch (err) {
        return cx.error((err as Error).message, 'proxy_pass');
      }
      const misplaced = checkTargetForLocation(target, location.match);
      if (misplaced) cx.error(misplaced, 'proxy_pass');
    }
    let cache: CacheOptions | null;
    try {
      cache = compileCacheOptions(location.confs.get(proxyCacheModule), cx.captureNames);
    } catch (err) {
      return cx.error((err as Error).message, 'proxy_cache');
    }
    // nginx's request headers of a caching location: the client's validators and ranges are not passed on.
    const setNames = new Set(p.proxySetHeaders.map(([name]) => name.toLowerCase()));
    const setHeaders = cache ? [...p.proxySetHeaders, ...CACHE_BLANKED_HEADERS.filter((n) => !setNames.has(n.toLowerCase())).map((n) => [n, ''] as const)] : p.proxySetHeaders;
    let headers: RequestHeaderPlan;
    try {
      headers = compileRequestHeaders(setHeaders, variable ? '$proxy_host' : target.proxyHost, cx.captureNames);
    } catch (err) {
      return cx.error(`${(err as Error).message} in "proxy_set_header"`, 'proxy_set_header');
    }
    const timeouts = { connect: p.proxyConnectTimeout, send: p.proxySendTimeout, read: p.proxyReadTimeout };
    const conf = variable ? null : upstreamOf(p.proxyPass, p.upstreams);
    if (conf?.method.kind === 'hash') {
      try {
        compileValue(conf.method.key, cx.captureNames);
      } catch (err) {
        return cx.error(`${(err as Error).message} in "hash" of upstream "${conf.name}"`, 'proxy_pass');
      }
    }
    let redirects: RedirectRule[];
    try {
      // nginx's `default` is the written URL: a proxy_pass with variables has none, and no default rule.
      redirects = compileRedirects(variable ? p.proxyRedirect.filter((r) => r !== 'default') : p.proxyRedirect, target, location.match, location.name, cx.captureNames);
    } catch (err) {
      return cx.error(`${(err as Error).message} in "proxy_redirect"`, 'proxy_redirect');
    }
    // Checked when read; compiled here again with this location's named captures known.
    const compiled = <C, R>(directive: string, list: readonly C[], compile: (conf: C) => R): R[] => {
      try {
        return list.map(compile);
      } catch (err) {
        return cx.error((err as Error).message, directive);
      }
    };
    const domains = compiled('proxy_cookie_domain', p.proxyCookieDomain, (r) => compileCookieRewrite(r, 'domain', cx.captureNames));
    const paths = compiled('proxy_cookie_path', p.proxyCookiePath, (r) => compileCookieRewrite(r, 'path', cx.captureNames));
    const flags = compiled('proxy_cookie_flags', p.proxyCookieFlags, (r) => compileCookieFlags(r, cx.captureNames));
    const cookies: CookieRules = { domains, paths, flags };
    const hidden = hiddenHeaders(p.proxyHideHeaders, p.proxyPassHeaders);
    return {
      target,
      variable,
      match: location.match,
      headers,
      timeouts,
      upstream: conf && { conf, policy },
      hidden,
      buffering: p.proxyBuffering,
      redirects,
      redirect: location.confs.get(httpTuningModule),
      cookies: hasCookieRules(cookies) ? cookies : null,
      upgrade: forwardsUpgrade(p.proxySetHeaders),
      requestBuffering: p.proxyRequestBuffering,
      httpVersion: p.proxyHttpVersion,
      body: { limit: core.clientMaxBodySize, timeoutMs: core.clientBodyTimeout, bufferSize: core.clientBodyBufferSize, tempPath: core.clientBodyTempPath },
      sendTimeout: core.sendTimeout,
      signature: serverSignature(core.serverTokens),
      cache,
      ignoreClientAbort: p.proxyIgnoreClientAbort,
      limitRate: p.proxyLimitRate,
      accelRedirect: !location.confs.get(proxyCacheModule).proxyIgnoreHeaders.includes('x-accel-redirect'),
      accel: accelActions(location.confs.get(proxyCacheModule).proxyIgnoreHeaders),
      spool: spoolLimits(location.confs.get(httpTuningModule)),
    };
  },

  create(options, env) {
    return new ProxyHandler(options, env.log, env.counters);
  },
};

export default proxy;

/** The target a `proxy_pass` with variables stands for until a request makes its URL: its scheme only. */
function unresolvedTarget(url: string): ProxyTarget {
  const protocol = /^https:/i.test(url) ? 'https:' : 'http:';
  return { url, protocol, hostname: '', port: protocol === 'https:' ? 443 : 80, socketPath: null, proxyHost: '', uriPart: null };
}

/**
 * The upstream `proxy_pass http://NAME[/uri]` names: NAME without a port that is an
 * `upstreams` entry. Any other host stays a plain host:port, as in nginx.
 */
function upstreamOf(proxyPass: string, upstreams: ReadonlyMap<string, UpstreamConf>): UpstreamConf | null {
  const host = /^https?:\/\/([^/:?#[\]]+)(?:[/?#]|$)/i.exec(proxyPass)?.[1];
  return (host && upstreams.get(host)) || null;
}

/** Whether `proxy_set_header` forwards an `Upgrade` header (a value that is not `""`). */
export function forwardsUpgrade(setHeaders: readonly (readonly [string, string])[]): boolean {
  return setHeaders.some(([name, value]) => name.toLowerCase() === 'upgrade' && value !== '');
}

/**
 * Where one request goes: the `proxy_pass` URL, and the upstream it names or the one peer
 * (made once for a written URL, per request for one with variables).
 */
interface Route {
  readonly target: ProxyTarget;
  readonly upstream: UpstreamProxy | null;
  /** The peer when no upstream is named. */
  readonly direct: PeerTarget;
  readonly connectEvent: 'connect' | 'secureConnect';
  /** The URI sent upstream. */
  uri(req: http.IncomingMessage, ctx: RequestContext): string;
}

/** Node's keep-alive agent without options, as a lean pool: 256 idle connections, no timeout, no limit of requests or age. */
const DIRECT_LIMITS: KeepaliveLimits = { idle: 256, requests: Infinity, timeout: 0, time: Infinity };

/** One location's proxy: upstream agents, and an http-proxy instance for upgrades, shared by its requests. */
class ProxyHandler implements Handler {
  /** Keep-alive pools by scheme (nginx's proxy_ssl_verify is off by default: an upstream's certificate is not checked). */
  private readonly agents: Record<'http:' | 'https:', http.Agent | null> = { 'http:': null, 'https:': null };
  /** The lean pools of a written `proxy_pass`'s peer (undici; plain HTTP), closed with the location. */
  private readonly leanPools: LeanPool[] = [];
  private readonly server = httpProxy.createProxyServer({});
  private readonly tunnels = new Map<http.IncomingMessage, Tunnel>();
  /** The route of a written `proxy_pass`; null when it has variables. */
  private readonly route: Route | null;
  /** Upstreams a `proxy_pass` with variables named, by scheme and name, made when first named. */
  private readonly namedUpstreams = new Map<string, UpstreamProxy>();
  /** The resolver of a `proxy_pass` with variables (shared by the locations of the same `resolver`). */
  private readonly resolver: NameResolver | null;
  /**
   * Options of every http-proxy call (upgrades), made once (http-proxy copies them per call
   * and changes none). `Expect` is blanked so http-proxy emits `proxyReqWs`.
   */
  private readonly commonOptions = { prependPath: false, xfwd: false, headers: { expect: '' } } as const;
  /** `client_max_body_size` and `client_body_timeout` for a body streamed up. */
  private readonly bodyLimits: BodyLimits;
  /** The location's cache, where it caches. */
  private readonly cache: ProxyCache | null;
  /** The response header names (lower case) `headerRewriter` may change: `proxy_redirect`'s and `proxy_cookie_*`'s. */
  private readonly rewrittenNames: ReadonlySet<string>;
  /**
   * Present only where the location forwards `Upgrade`: the dispatcher serves any other
   * request that asks for an upgrade as plain HTTP (no Upgrade goes up, no 101 is tunnelled).
   */
  readonly upgrade?: (req: http.IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext) => Promise<UpgradeOutcome>;

  constructor(
    private readonly options: ProxyOptions,
    private readonly log: Logger,
    /** The location's counters (upstream failures by kind). */
    private readonly counters: Counters | null = null,
  ) {
    const { target } = options;
    const wanted = options.variable?.resolver;
    this.resolver = wanted ? nameResolver(wanted.conf, wanted.timeout) : null;
    this.bodyLimits = { limit: options.body.limit, timeoutMs: options.body.timeoutMs };
    this.cache = options.cache ? new ProxyCache(options.cache, log) : null;
    this.rewrittenNames = new Set([...(options.redirects.length ? ['location', 'refresh'] : []), ...(options.cookies ? ['set-cookie'] : [])]);
    if (options.upgrade) this.upgrade = (req, socket, head, ctx) => this.tunnel(req, socket, head, ctx);
    const up = options.upstream;
    const key = up?.conf.method.kind === 'hash' ? compileValue(up.conf.method.key) : null;
    this.route = options.variable
      ? null
      : this.routeTo(target, up ? new UpstreamProxy(up.conf, target.protocol, up.policy, key, options.timeouts) : null, null, (req, ctx) =>
          upstreamUri(target, options.match, { url: req.url ?? '/', uri: ctx.uri, args: ctx.args, changed: ctx.uriChanged, inPlace: ctx.rewrittenInPlace }),
          true,
        );
    // With a listener of our own, http-proxy never rethrows an error event.
    this.server.on('error', (err) => this.log.error(`proxy: ${err.message}`));
    this.server.on('proxyReqWs', (proxyReq, req) => this.tunnels.get(req)?.onRequest(proxyReq));
    this.server.on('open', (upstream) => {
      for (const tunnel of this.tunnels.values()) if (tunnel.upstreamSocket === upstream) tunnel.opened();
    });
    dropPass(this.server, 'wsPasses', 'checkMethodAndHeader');
  }

  /** The keep-alive pool of a scheme, made when first needed. */
  private agentOf(protocol: 'http:' | 'https:'): http.Agent {
    return (this.agents[protocol] ??= protocol === 'https:' ? new https.Agent({ keepAlive: true, rejectUnauthorized: false }) : new http.Agent({ keepAlive: true }));
  }

  /** A route to `target`: its upstream, or `address` (a resolved one) or the target's own host as the one peer. */
  private routeTo(target: ProxyTarget, upstream: UpstreamProxy | null, address: string | null, uri: Route['uri'], written = false): Route {
    const host = address ?? target.hostname;
    const url = { protocol: target.protocol, hostname: host, host, port: target.port, ...(target.socketPath === null ? {} : { socketPath: target.socketPath }) };
    // A resolved peer is named by its address, as nginx's `$upstream_addr`; a written one needs no name (the log says the URL).
    const name = address === null ? '' : `${host.includes(':') ? `[${host}]` : host}:${target.port}`;
    const connectEvent = target.protocol === 'https:' ? 'secureConnect' : 'connect';
    // A written proxy_pass's one peer has a lean pool of its own (plain HTTP); a peer named per request keeps Node's agent.
    const lean = written && target.protocol === 'http:' ? new LeanPool(url, DIRECT_LIMITS) : null;
    if (lean) this.leanPools.push(lean);
    return { target, upstream, direct: { url, agent: this.agentOf(target.protocol), lean, name }, connectEvent, uri };
  }

  /**
   * The route of one request of a `proxy_pass` with variables (nginx's `ngx_http_proxy_eval` then the upstream's
   * lookup): the URL they make; its host an upstream's name when it has no port, an address as
   * it is, else a name the location's resolver resolves. Throws the HttpError to render, the
   * reason logged as nginx logs it.
   */
  private async routeOf(req: http.IncomingMessage, ctx: RequestContext): Promise<Route> {
    const variable = this.options.variable!;
    const url = ctx.evaluate(variable.url);
    let target: ProxyTarget;
    try {
      // nginx's check: the scheme and at least one character after it.
      if (!/^https?:\/\/./i.test(url)) throw new Error(`invalid URL prefix in "${url}"`);
      target = parseProxyPass(url);
    } catch (err) {
      const reason = (err as Error).message;
      ctx.log.error(`${reason}${requestContext(req, ctx)}`);
      throw new HttpError(500, 'GW_UPSTREAM_URL', reason);
    }
    const uri: Route['uri'] = (r, c) => variableUpstreamUri(target, { url: r.url ?? '/', uri: c.uri, args: c.args, changed: c.uriChanged });
    if (target.socketPath !== null) return this.routeTo(target, null, null, uri);
    const explicitPort = /^https?:\/\/(?:\[[^\]]*\]|[^/?:]*):\d/i.test(url);
    const named = explicitPort ? undefined : variable.upstreams.get(target.hostname);
    if (named) return this.routeTo(target, this.namedUpstream(named, target.protocol, variable.policy), null, uri);
    if (isAddressLiteral(target.hostname)) return this.routeTo(target, null, target.hostname, uri);
    if (!this.resolver) {
      ctx.log.error(`no resolver defined to resolve ${target.hostname}${requestContext(req, ctx)}`);
      throw new HttpError(502, 'GW_UPSTREAM_RESOLVE', `no resolver defined to resolve ${target.hostname}`);
    }
    try {
      return this.routeTo(target, null, await this.resolver.address(target.hostname), uri);
    } catch (err) {
      if (!(err instanceof ResolveError)) throw err;
      ctx.log.error(`${err.message}${requestContext(req, ctx)}`);
      throw new HttpError(502, 'GW_UPSTREAM_RESOLVE', err.message);
    }
  }

  /** The balancer of an upstream a `proxy_pass` with variables named (one per scheme, shared by the location's requests). */
  private namedUpstream(conf: UpstreamConf, protocol: 'http:' | 'https:', policy: NextUpstreamPolicy): UpstreamProxy {
    const key = `${protocol}${conf.name}`;
    let upstream = this.namedUpstreams.get(key);
    if (!upstream) {
      const hashKey = conf.method.kind === 'hash' ? compileValue(conf.method.key) : null;
      this.namedUpstreams.set(key, (upstream = new UpstreamProxy(conf, protocol, policy, hashKey, this.options.timeouts)));
    }
    return upstream;
  }

  http(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext): void | Promise<void> {
    if (this.route === null) return this.routeOf(req, ctx).then((route) => this.httpTo(route, req, res, ctx));
    return this.httpTo(this.route, req, res, ctx);
  }

  /** A request on its route, through the location's cache where it caches (a hit kept in memory is answered in this turn). */
  private httpTo(route: Route, req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext): void | Promise<void> {
    // `$proxy_host` is known before the cache key is made of it.
    setProxyVariables(ctx, route.target);
    if (!this.cache) return this.forward(req, res, ctx, route, null);
    const host: CacheHost = {
      forward: (plan) => this.forward(req, plan.res, ctx, route, plan),
      visibleLines: (raw) => responseHeaders(raw, this.options.hidden),
      rewriteLines: (lines) => {
        const rewrite = this.headerRewriter(req, ctx);
        return rewrite ? rewrite(lines) : lines;
      },
      rewrittenNames: this.rewrittenNames,
      defaultKey: () => cacheKeyStart(route.target) + route.uri(req, ctx),
      applyAccel: (raw) => void applyAccel(raw, this.options.accel, ctx, res),
    };
    return this.cache.serve(req, res, ctx, host, this.options.ignoreClientAbort);
  }

  /** The request to the upstream (and its next peers), its response passed on to `res` (and to the cache's tap). */
  private async forward(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext, route: Route, plan: ForwardPlan | null): Promise<void> {
    // A body a script read (`r.readBody()`, ngx.req.read_body) goes up as read: the client's stream is spent.
    const early = hasBody(req) ? bodyReadEarlier(ctx.data) : undefined;
    // nginx's request buffering: the body is read whole before the upstream hears of it.
    const body = early ? storedInMemory(await early) : this.mustStore(req) ? await storeBody(req, { ...this.options.body, log: ctx.log }) : null;
    try {
      if (route.upstream) return await route.upstream.http(req, res, ctx, (target, attempt) => this.attempt(req, res, ctx, route, target, attempt, plan), body, () => route.uri(req, ctx));
      return await this.attempt(req, res, ctx, route, route.direct, { body, nextOnStatus: null }, plan).promise;
    } finally {
      body?.dispose();
    }
  }

  /**
   * Whether the body is read whole first: `proxy_request_buffering on`, or a chunked body
   * under `proxy_http_version 1.0` (an HTTP/1.0 upstream cannot take one chunked), as nginx.
   */
  private mustStore(req: http.IncomingMessage): boolean {
    if (req.readableEnded || !hasBody(req)) return false;
    return this.options.requestBuffering || (this.options.httpVersion === '1.0' && isChunked(req));
  }

  /** One exchange with one peer (the `proxy_pass` host, or an upstream's peer). */
  private attempt(req: http.IncomingMessage, res: http.ServerResponse, ctx: RequestContext, route: Route, peer: PeerTarget, plan: AttemptPlan, cache: ForwardPlan | null): HttpExchange {
    const path = route.uri(req, ctx);
    setProxyVariables(ctx, route.target);
    let headers = buildRequestHeaders(this.options.headers, req, ctx, plan.body && hasBody(req) ? plan.body.length : null);
    if (cache?.extraHeaders.length) {
      const names = new Set(cache.extraHeaders.map(([name]) => name.toLowerCase()));
      headers = [...headers.filter(([name]) => !names.has(name.toLowerCase())), ...cache.extraHeaders];
    }
    const exchange = new HttpExchange({
      body: plan.body,
      bodyLimits: this.bodyLimits,
      nextOnStatus: plan.nextOnStatus,
      req,
      res,
      path,
      headers,
      timeouts: plan.timeouts ?? this.options.timeouts,
      connectEvent: route.connectEvent,
      log: ctx.log,
      context: this.contextMaker(req, ctx, route.target, path, peer.name),
      counters: this.counters,
      hidden: this.options.hidden,
      buffering: this.options.buffering,
      ctx,
      peer: peer.name || peerName(route.target),
      rewriteHeaders: this.headerRewriter(req, ctx),
      tap: cache?.tap ?? null,
      ignoreClientAbort: cache ? cache.detached : this.options.ignoreClientAbort,
      limitRate: alwaysZero(this.options.limitRate) ? undefined : () => sizeFor(this.options.limitRate, req, ctx),
      accelRedirect: this.options.accelRedirect,
      accel: this.options.accel,
      httpVersion: this.options.httpVersion,
      spool: this.options.spool,
    });
    exchange.start(peer, cache?.method ?? req.method ?? 'GET');
    return exchange;
  }

  /** What rewrites the upstream's header lines for this request (`proxy_redirect`, `proxy_cookie_*`), if anything does. */
  private headerRewriter(req: http.IncomingMessage, ctx: RequestContext): ((lines: readonly HeaderLine[]) => readonly HeaderLine[]) | undefined {
    const { redirects, redirect, cookies } = this.options;
    if (!redirects.length && !cookies) return undefined;
    return (lines) => {
      const redirected = redirects.length ? rewriteRedirectHeaders(lines, redirects, req, ctx, redirect) : lines;
      return cookies ? rewriteCookieHeaders(redirected, cookies, ctx) : redirected;
    };
  }

  /** One upgrade (the location forwards `Upgrade`): the location's headers go up as nginx sends them. */
  private async tunnel(req: http.IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext): Promise<UpgradeOutcome> {
    const route = this.route ?? (await this.routeOf(req, ctx));
    const path = route.uri(req, ctx);
    setProxyVariables(ctx, route.target);
    const { upstream } = route;
    const picked = upstream?.scripted ? await upstream.pickScripted(req, ctx) : (upstream?.pick(ctx) ?? null);
    if (upstream && !picked) throw upstream.noLiveUpstreams(req, ctx, path);
    const tunnel = new Tunnel({
      req,
      socket,
      path,
      headers: buildRequestHeaders(this.options.headers, req, ctx),
      timeouts: this.options.timeouts,
      clientSendTimeout: this.options.sendTimeout,
      hidden: this.options.hidden,
      rewriteHeaders: this.headerRewriter(req, ctx),
      connectEvent: route.connectEvent,
      signature: this.options.signature,
      log: ctx.log,
      context: this.contextMaker(req, ctx, route.target, path, picked?.target.name || route.direct.name),
      onDone: () => this.tunnels.delete(req),
      counters: this.counters,
    });
    if (picked) void tunnel.outcome.then((o) => picked.done(o.status === 502 || o.status === 504));
    if (socket.destroyed) return tunnel.outcome;
    this.tunnels.set(req, tunnel);
    try {
      // A fresh connection per tunnel: an upgraded socket never goes back to a pool.
      const target = picked?.target.url ?? route.direct.url;
      // A WebSocket on an HTTP/2 stream: the tunnel makes the same upstream request itself.
      if (isExtendedConnect(req)) {
        tunnel.openUpstream(target);
        return tunnel.outcome;
      }
      this.server.ws(req, socket, head, { ...this.commonOptions, target, agent: false }, (err) => tunnel.onError(err));
      tunnel.started();
    } catch (err) {
      tunnel.onError(err);
    }
    return tunnel.outcome;
  }

  /** Closes pooled upstream connections and open tunnels. */
  close(): void {
    this.agents['http:']?.destroy();
    this.agents['https:']?.destroy();
    for (const lean of this.leanPools) lean.close();
    this.route?.upstream?.close();
    for (const upstream of this.namedUpstreams.values()) upstream.close();
    for (const tunnel of this.tunnels.values()) tunnel.destroy();
    this.tunnels.clear();
  }

  /** The error log context of one request, made only if a line is logged. */
  private contextMaker(req: http.IncomingMessage, ctx: RequestContext, target: ProxyTarget, path: string, peer?: string): () => string {
    return () => logContext(req, ctx.remoteAddress, ctx.server.primaryName, upstreamUrl(target, path, peer), ctx.mainRequest, ctx.uri);
  }

}

/**
 * The upstream as nginx's error log names it: `http://127.0.0.1:8081/path` (an upstream's
 * peer by its `host:port`); a unix socket's path and the URI are joined by `:`, as nginx's.
 */
function upstreamUrl(target: ProxyTarget, path: string, peer?: string): string {
  const { protocol, hostname, port, socketPath } = target;
  const name = peer || (socketPath !== null ? `unix:${socketPath}` : `${hostname.includes(':') ? `[${hostname}]` : hostname}:${port}`);
  return `${protocol}//${name}${name.startsWith('unix:') ? ':' : ''}${path}`;
}

/** A written `proxy_pass` host as `$upstream_addr` names it: `127.0.0.1:8081`, `[::1]:8081`, `unix:/path`. */
function peerName(target: ProxyTarget): string {
  if (target.socketPath !== null) return `unix:${target.socketPath}`;
  return `${target.hostname.includes(':') ? `[${target.hostname}]` : target.hostname}:${target.port}`;
}

/** `$proxy_host` and `$proxy_port` of the request's `proxy_pass` URL (nginx's proxy module variables). */
/** The start of nginx's built-in cache key: the scheme as written, then `$proxy_host`, or `unix:PATH:` for a unix socket. */
function cacheKeyStart(target: ProxyTarget): string {
  const scheme = target.url.slice(0, target.url.indexOf('://') + 3);
  return target.socketPath !== null ? `${scheme}unix:${target.socketPath}:` : scheme + target.proxyHost;
}

function setProxyVariables(ctx: RequestContext, target: ProxyTarget): void {
  ctx.setVariable('proxy_host', target.proxyHost);
  ctx.setVariable('proxy_port', target.socketPath !== null ? '' : String(target.port));
}

/** nginx's context of a line logged before an upstream is chosen (no `upstream:` yet). */
function requestContext(req: http.IncomingMessage, ctx: RequestContext): string {
  const main = ctx.mainRequest;
  const host = req.headers.host;
  return `, client: ${ctx.remoteAddress || 'unix:'}, server: ${ctx.server.primaryName}, request: "${main.method} ${main.url} HTTP/${main.httpVersion}"` + (host ? `, host: "${host}"` : '');
}

/**
 * Removes one of http-proxy's passes: `checkMethodAndHeader`
 * destroys the socket of any upgrade but a WebSocket GET without a word, where nginx passes
 * the upgrade on and lets the upstream answer.
 */
function dropPass(server: httpProxy, list: 'wsPasses', name: string): void {
  const passes = (server as unknown as Record<string, { name: string }[] | undefined>)[list];
  const index = passes?.findIndex((p) => p.name === name) ?? -1;
  if (passes && index >= 0) passes.splice(index, 1);
}
