/**
 * Per request: pick the virtual server, normalize the URI once, run the server's post-read
 * phase (realip), match the location (nginx's find-config), run the location's phase handlers
 * (rewrite, preaccess, access, precontent: the phase engine), then its content handler, for a
 * request or an upgrade (an HTTP/1.1 Upgrade, or an extended CONNECT on an HTTP/2 stream, RFC
 * 8441: the stream is then the connection the handler takes); render every thrown error in one
 * place, nginx's way (`error_page`, the built-in pages); run the log phase once.
 */
import { ServerResponse, type IncomingMessage } from 'node:http';
import { constants as http2Constants } from 'node:http2';
import type { Socket } from 'node:net';
import { closeTimedOut } from './socket-options';
import type { Duplex } from 'node:stream';
import { HttpError, InternalRedirect, UriRewritten } from '../errors';
import { answerStream, closeOnceAnswered, Http2Response, isExtendedConnect, type Http2Request } from '../http/http2-messages';
import { tabPaddingOf } from '../http/raw-head';
import { checkHeaderLines, checkRequestHead, checkRequestLine, dropInvalidHeaders } from '../http/request-head';
import { errorPageHtml, hasErrorPage, pageStatus, reasonPhrase, wantsMsiePadding } from '../http/status';
import { REROUTING_HANDLERS } from '../modules/rewrite/phase';
import { limitedTo } from '../modules/limit-except/module';
import { checkClientCertificate } from '../modules/ssl/client-verify';
import { requestEnded, requestStarted } from '../modules/status/counters';
import { connectionFactsOf, requestAnswered, requestArrived } from './connection-facts';
import { hasBody } from '../shared/request-body';
import type { SubrequestResult, SubrequestSpec, UpgradeOutcome } from '../types';
import { installFilters } from './filters';
import { afterResponse, watchBody } from './lingering';
import { autoRedirect } from './auto-redirect';
import { runPostRead, runSteps } from './phase-engine';
import { RequestState } from './request-state';
import { normalizeHost, normalizeUri } from './router';
import type { ListenerRuntime, LocationRuntime, Runtime, ServerRuntime } from './runtime';
import { SendTimeouts } from './send-timeout';
import { SubrequestCapture, subrequestMessage } from './subrequest';
import { requestLogContext } from '../shared/log-context';
import { setCheckedValue } from '../http/header-table';

/** nginx's limit of nested subrequests (NGX_HTTP_MAX_SUBREQUESTS is the count; 50 is the depth it allows). */
const MAX_SUBREQUEST_DEPTH = 50;

/** Errors after which nginx closes the connection instead of keeping it alive. */
const CLOSING_STATUSES = new Set([400, 413, 414, 494, 497, 495, 496, 500, 501]);
/** nginx's "close the connection, send nothing". */
const CLOSE_WITHOUT_RESPONSE = 444;
/** Codes after which nginx ends the request without a response: 444, 408 and 499 (terminate). */
const TERMINATING = new Set([CLOSE_WITHOUT_RESPONSE, 408, 499]);

/**
 * nginx's `send_timeout` at the response level, for every handler: the location's timeout, and
 * its info line when a client took nothing for that long (then the connection is closed).
 */
const SEND_POLICY = {
  timeoutMs: (state: RequestState) => state.runtime.sendTimeout,
  timedOut(res: ServerResponse, state: RequestState): void {
    const req = state.req;
    const host = req.headers.host;
    state.log.info(
      `client timed out (110: Connection timed out) while ${state.runtime.sending}, client: ${state.remoteAddress || 'unix:'}, server: ${state.server.primaryName}, ` +
        `request: "${req.method} ${req.url} HTTP/${req.httpVersion}"${host ? `, host: "${host}"` : ''}`,
    );
    // An HTTP/2 stream is reset alone; its connection serves the others on.
    if (res instanceof Http2Response) return res.reset();
    if (state.runtime.resetTimedout && res.socket) closeTimedOut(res.socket, true);
    res.destroy();
  },
};

/** Routes requests and upgrades of one runtime. */
export class Dispatcher {
  private readonly sendTimeouts = new SendTimeouts<RequestState>(SEND_POLICY);

  constructor(private readonly runtime: Runtime) {}

  /** Stops the send timeout sweep (at shutdown). */
  stop(): void {
    this.sendTimeouts.stop();
  }

  /**
   * The 'request' listener's work (`routed`: an upgrade request already routed, served as HTTP;
   * `refused`: what its phases threw, answered as any request's error).
   */
  async request(req: IncomingMessage, res: ServerResponse, listener: ListenerRuntime, scheme: string, routed?: RoutedState, refused?: unknown): Promise<void> {
    const startBytes = req.socket.bytesWritten;
    if (!routed) {
      requestStarted(req.socket);
      requestArrived(req);
    }
    const state = routed ?? this.route(req, res, listener, scheme);
    state.res = res;
    // Node would tell every keep-alive response `Keep-Alive: timeout=<keepalive_timeout>`;
    // nginx says so only where keepalive_timeout's second value is given.
    // (An HTTP/2 stream's response has no such field: nothing to say there.)
    if ('_keepAliveTimeout' in res) (res as ServerResponse & { _keepAliveTimeout: number })._keepAliveTimeout = state.runtime.keepaliveHeaderMs;
    const watched = this.sendTimeouts.watch(res, state);
    const body = hasBody(req);
    if (body) watchBody(req, state.runtime.lingering);
    res.on('close', () => {
      this.sendTimeouts.forget(watched);
      if (body) afterResponse(req, state.runtime.lingering);
      requestEnded(req.socket);
      requestAnswered(req);
      this.ended(state, res, startBytes);
    });
    // The signature is a constant of the configuration (`gateway/x.y.z`): set without setHeader's per-call checks.
    setCheckedValue(res, 'server', 'Server', state.runtime.signature);
    installFilters(req, res, state);
    try {
      if (refused !== undefined) throw refused;
      if (state.routingError) throw state.routingError;
      if (!state.serverRewriteDone) {
        state.serverRewriteDone = true;
        const answered = this.serverRewrite(req, res, state);
        if (answered === true || (answered !== false && (await answered))) return;
      }
      // nginx's find-config checks, for the location the request matched: an `internal` one is
      // not for clients (internal redirects, subrequests and rewritten URIs reach it).
      if (state.runtime.internal && !state.internal) throw new HttpError(404, 'GW_INTERNAL_LOCATION');
      if (state.runtime.keepaliveOff || connectionFactsOf(req).requests >= state.runtime.keepaliveRequests) res.shouldKeepAlive = false;
      // `tcp_nodelay` (Node caches the setting: a call that changes nothing costs no system call).
      (req.socket as Socket).setNoDelay(state.runtime.tcpNodelay);
      checkBodySize(req, state.runtime.clientMaxBodySize);
      await this.serve(req, res, state);
    } catch (err) {
      await this.renderError(err, req, res, state);
    }
  }

  /**
   * An HTTP/2 CONNECT stream. An extended one (RFC 8441: nghttp2 lets `:protocol` through only
   * where `http2_websocket on` advertised it) is a WebSocket handshake, taken as an upgrade
   * whose connection is the stream. A plain CONNECT has no `:scheme` (RFC 9113 8.5): nginx
   * answers 400.
   */
  connect(req: Http2Request, res: Http2Response, listener: ListenerRuntime, scheme: string): Promise<void> {
    const request = req as unknown as IncomingMessage;
    if (!isExtendedConnect(req)) {
      return this.request(request, res as unknown as ServerResponse, listener, scheme, undefined, new HttpError(400, 'GW_HTTP2_CONNECT', 'client sent no :scheme header'));
    }
    req.upgradeResponse = res;
    return this.upgrade(request, req.stream, EMPTY_HEAD, listener, scheme);
  }

  /**
   * The 'upgrade' listener's work: the location's phases run (access may refuse it), then the
   * handler takes the socket; a location whose handler takes no upgrade (or that may answer
   * itself, `return`) serves the request as HTTP. While the handler has the connection, what
   * is left to do (the log phase) waits as a reaction to its promise, not as a suspended frame.
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, listener: ListenerRuntime, scheme: string): Promise<void> {
    // The connection's counters: an HTTP/1.1 upgrade's socket, or the connection under a stream.
    requestStarted(req.socket);
    requestArrived(req);
    const state = this.route(req, null, listener, scheme);
    if (!state.routingError) {
      state.serverRewriteDone = true;
      let rewritten: boolean | Promise<boolean>;
      try {
        rewritten = this.serverRewrite(req, null, state);
      } catch (err) {
        return this.upgradeRefused(err, req, socket, listener, scheme, state);
      }
      // A server-rewrite handler that waits (none does today): the request is served as HTTP.
      if (rewritten !== false) return this.serveAsHttp(req, socket, listener, scheme, state);
    }
    return this.upgradeRouted(req, socket, head, listener, scheme, state);
  }

  /** An upgrade whose location is found: its phases, then its handler (or served as HTTP). */
  private upgradeRouted(req: IncomingMessage, socket: Duplex, head: Buffer, listener: ListenerRuntime, scheme: string, state: RoutedState): Promise<void> {
    if (state.routingError || state.autoRedirect || (state.runtime.internal && !state.internal)) return this.serveAsHttp(req, socket, listener, scheme, state);
    if (!state.runtime.upgradable) return this.rewriteThenServeAsHttp(req, socket, head, listener, scheme, state);
    (req.socket as Socket).setNoDelay(state.runtime.tcpNodelay);
    let ran: boolean | Promise<boolean>;
    try {
      ran = state.runtime.phases.length ? runSteps(state.runtime.phases, req, null, state) : false;
    } catch (err) {
      return this.upgradeRefused(err, req, socket, listener, scheme, state, head);
    }
    if (ran === false || ran === true) return this.handOver(req, socket, head, state);
    // A phase handler that waits (try_files): the socket needs its 'error' listener meanwhile.
    socket.on('error', destroySocket);
    return ran.then(
      () => this.handOver(req, socket, head, state),
      (err: unknown) => this.upgradeRefused(err, req, socket, listener, scheme, state, head),
    );
  }

  /**
   * A location that takes no upgrade may still send the request elsewhere with its rewrite
   * module's directives (`rewrite ... last` to a WebSocket location): they run first (they are
   * synchronous and change nothing but the request), and the upgrade goes on where they send
   * it; else the request is served as HTTP, from the start.
   */
  private rewriteThenServeAsHttp(req: IncomingMessage, socket: Duplex, head: Buffer, listener: ListenerRuntime, scheme: string, state: RoutedState): Promise<void> {
    for (const step of state.runtime.phases) {
      if (!REROUTING_HANDLERS.has(step.handler)) break;
      try {
        if (step.handler.run!(req, null, state) !== undefined) break;
      } catch (err) {
        if (err instanceof UriRewritten) return this.upgradeRefused(err, req, socket, listener, scheme, state, head);
        break;
      }
    }
    return this.serveAsHttp(req, socket, listener, scheme, this.route(req, null, listener, scheme));
  }

  /** nginx serves a request that asks for an upgrade it cannot give as a plain request (`refused`: the error its phases threw). */
  private serveAsHttp(req: IncomingMessage, socket: Duplex, listener: ListenerRuntime, scheme: string, state: RoutedState, refused?: unknown): Promise<void> {
    // An extended CONNECT is answered on its stream, by the response Node made beside it.
    if (isExtendedConnect(req)) {
      const res = req.upgradeResponse as unknown as ServerResponse;
      closeOnceAnswered(req.stream);
      return this.request(req, res, listener, scheme, state, refused);
    }
    if (socket.listenerCount('error') === 0) socket.on('error', destroySocket);
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket as Socket);
    // The upgrade took the socket from the HTTP server, and its timeouts with it: once the answer
    // is out the connection is closed, and a client that keeps its end open is let go after
    // RAW_ERROR_LINGER_MS, as after a raw error (nginx closes at once).
    res.on('finish', () => endSoon(socket));
    return this.request(req, res, listener, scheme, state, refused);
  }

  /**
   * A phase refused the upgrade (access: a 401, a 403): until it is switched, the request is
   * one like any other, so its error is answered as nginx answers any request's, `error_page`
   * and the response filters (`add_header ... always`) included; an internal redirect serves the
   * request as HTTP.
   */
  private upgradeRefused(err: unknown, req: IncomingMessage, socket: Duplex, listener: ListenerRuntime, scheme: string, state: RoutedState, head?: Buffer): Promise<void> {
    // A location's `rewrite` changed the URI: the upgrade goes on in the location found for it.
    if (err instanceof UriRewritten && head) {
      try {
        this.redirect(state, err.uri, err.args, true);
      } catch (cycle) {
        return this.serveAsHttp(req, socket, listener, scheme, state, cycle);
      }
      return this.upgradeRouted(req, socket, head, listener, scheme, state);
    }
    if (err instanceof InternalRedirect) return this.serveAsHttp(req, socket, listener, scheme, this.route(req, null, listener, scheme));
    return this.serveAsHttp(req, socket, listener, scheme, state, err);
  }

  /** The content handler takes the connection. */
  private handOver(req: IncomingMessage, socket: Duplex, head: Buffer, state: RoutedState): Promise<void> {
    let served: void | Promise<void | UpgradeOutcome>;
    try {
      served = state.runtime.handler.upgrade!(req, socket, head, state);
    } catch (err) {
      if (socket.listenerCount('error') === 0) socket.on('error', destroySocket);
      this.upgradeEnded(state, socket, this.upgradeFailed(err, state, socket));
      return Promise.resolve();
    }
    // A socket emits 'error' only from a later turn of the loop, so the listener may come now:
    // only when the handler did not take the socket's errors itself (the WebSocket acceptor
    // does, and ws adds its own), so that a third listener does not grow the array for good.
    if (socket.listenerCount('error') === 0) socket.on('error', destroySocket);
    return Promise.resolve(served).then(
      (outcome) => this.upgradeEnded(state, socket, outcome),
      (err: unknown) => this.upgradeEnded(state, socket, this.upgradeFailed(err, state, socket)),
    );
  }

  /** A handler that threw or rejected: its error as a raw response, logged unless an HttpError. */
  private upgradeFailed(err: unknown, state: RequestState, socket: Duplex): UpgradeOutcome {
    const status = err instanceof HttpError ? err.status : 500;
    if (!(err instanceof HttpError)) state.runtime.log.error(`upgrade handler failed: ${(err as Error)?.message ?? err}`);
    const headers = err instanceof HttpError ? err.headers : {};
    if (isExtendedConnect(state.req)) writeStreamError(state.req, status, state.runtime.signature, headers);
    else writeRawError(socket, status, state.runtime.signature, headers);
    return { status, bytesSent: 0 };
  }

  /**
   * The upgrade is over: counted and logged. A handler that resolved without an outcome has
   * left the socket to itself; it is logged (as 101) once the socket has closed.
   */
  private upgradeEnded(state: RequestState, socket: Duplex, outcome: UpgradeOutcome | void): void | Promise<void> {
    const location = state.runtime;
    if (!outcome && !socket.destroyed) {
      return new Promise<void>((resolve) => socket.once('close', () => resolve())).then(() => this.logUpgrade(state, location, socket, outcome));
    }
    this.logUpgrade(state, location, socket, outcome);
  }

  private logUpgrade(state: RequestState, location: LocationRuntime, socket: Duplex, outcome: UpgradeOutcome | void): void {
    state.status = outcome?.status ?? (isExtendedConnect(state.req) ? 200 : 101);
    state.bodyBytesSent = outcome?.bytesSent ?? 0;
    state.bytesSent = state.bodyBytesSent;
    state.completed = outcome !== undefined;
    requestEnded(state.req.socket);
    requestAnswered(state.req);
    location.metrics.upgradeEnded(state.status);
    for (const handler of location.logHandlers) handler.log!(state.req, state, state.status);
  }

  /** Server selection and location matching; a failure is kept in `routingError`. */
  private route(req: IncomingMessage, res: ServerResponse | null, listener: ListenerRuntime, scheme: string): RoutedState {
    const defaultServer = listener.servers.defaultServer;
    try {
      checkRequestLine(req, listener.head.buffers);
      const target = normalizeUri(req.url ?? '/', listener.head.mergeSlashes);
      checkHeaderLines(req, listener.head.validName, listener.head.buffers);
      if (listener.head.validName) dropInvalidHeaders(req, listener.head.validName);
      const hostValue = target.host ?? req.headers.host ?? null;
      if (hostValue === null && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) {
        throw new HttpError(400, 'GW_NO_HOST', 'client sent HTTP/1.1 request without "Host" header');
      }
      const host = hostValue === null ? null : normalizeHost(hostValue);
      checkRequestHead(req, tabPaddingOf(req));
      const { server, captures, namedCaptures } = listener.servers.select(host);
      const serverRuntime = this.runtime.server(server);
      // nginx's client certificate check, by the request's server: 400 pages 496 and 495.
      checkClientCertificate(req, server, (line) => serverRuntime.log.info(line));
      const state: RoutedState = new RequestState(req, res, server, serverRuntime.serverLocation, target.uri, target.args, host || server.primaryName, scheme, serverRuntime.log);
      state.subrequests = this.subrequest;
      state.captures = captures;
      state.namedCaptures = namedCaptures;
      // nginx's post-read phase (realip), once, before the location is found.
      if (serverRuntime.postRead.length) runPostRead(serverRuntime.postRead, req, res, state);
      this.matchLocation(state, serverRuntime);
      return state;
    } catch (err) {
      const rawPath = (req.url ?? '/').split('?')[0];
      const serverRuntime = this.runtime.server(defaultServer);
      const state: RoutedState = new RequestState(req, res, defaultServer, serverRuntime.serverLocation, rawPath, '', defaultServer.primaryName, scheme, serverRuntime.log);
      state.routingError = err;
      return state;
    }
  }

  /**
   * Matches the location; when none matches, the server's own settings serve, as in nginx.
   * A matched regex sets `$1`... anew, to nothing if it has no groups (nginx's
   * ngx_http_regex_exec); a prefix or exact match keeps a regex server name's.
   */
  private matchLocation(state: RoutedState, server: ServerRuntime): void {
    const matched = server.locations.match(state.uri);
    // nginx's find-config ends with the location's `limit_except`: an unlisted method takes its block's configuration.
    state.runtime = matched ? limitedTo(matched.location, state.req.method) : server.serverLocation;
    state.rewrittenInPlace = false;
    state.autoRedirect = matched?.autoRedirect ? matched.location : null;
    if (matched?.regex) state.captures = matched.captures.length > 1 ? matched.captures : [];
    const named = matched?.namedCaptures;
    if (named && hasKeys(named)) state.namedCaptures = { ...state.namedCaptures, ...named };
  }

  /**
   * A subrequest of `parent` (`RequestContext.subrequest`): `spec.uri` matched in the parent's
   * server, the location's phases but access (nginx's subrequests skip it) and its content
   * handler, an error rendered as for a client (`error_page` too), into a response that goes
   * to no socket. The parent's variables are its variables (nginx: `sr->variables =
   * r->variables`). Resolves once its header is known (its body too when kept); never rejects.
   */
  readonly subrequest = async (parent: RequestState, spec: SubrequestSpec): Promise<SubrequestResult> => {
    const server = this.runtime.server(parent.server);
    const req = subrequestMessage(parent.req, spec);
    const state = new RequestState(req, null, parent.server, server.serverLocation, spec.uri, spec.args ?? '', parent.host, parent.scheme, server.log);
    const capture = new SubrequestCapture(req, spec.body === true, spec.sink ?? null, state);
    const res = capture.res;
    state.res = res;
    if (spec.data) Object.assign(state.data, spec.data);
    state.subrequests = this.subrequest;
    state.subrequestDepth = parent.subrequestDepth + 1;
    state.mainRequest = parent.mainRequest;
    state.sharesClientOf(parent);
    state.setValues = parent.setValues ??= new Map();
    // nginx's connection log action once a subrequest ran: later lines of the request end so.
    parent.logAction = ' while sending to client';
    if (state.subrequestDepth > MAX_SUBREQUEST_DEPTH) {
      server.log.error(`subrequests cycle while processing "${spec.uri}"`);
      res.destroy();
      return { status: 500, headers: {}, body: null, context: state };
    }
    if (spec.clone) {
      // nginx's NGX_HTTP_SUBREQUEST_CLONE: the parent's location and captures, from its content phase.
      state.runtime = parent.runtime;
      state.captures = parent.captures;
      state.namedCaptures = parent.namedCaptures;
    } else {
      this.matchLocation(state, server);
    }
    let logged = false;
    const ended = () => {
      if (!logged) logSubrequest(req, res, state, capture);
      logged = true;
    };
    res.once('finish', ended).once('close', ended);
    const served = (async () => {
      if (spec.clone) {
        const handler = state.runtime.handler;
        if (!handler.http) throw new HttpError(405);
        return handler.http(req, res, state);
      }
      // nginx's subrequest starts at the server-rewrite phase.
      const answered = this.serverRewrite(req, res, state);
      if (answered === true || (answered !== false && (await answered))) return;
      await this.serve(req, res, state);
    })()
      .catch((err: unknown) => this.renderError(err, req, res, state))
      .catch(() => res.destroy());
    // A handler that returned without answering: there is nothing more to wait for.
    void served.then(() => {
      if (!res.headersSent) res.destroy();
    });
    await capture.over;
    return { status: res.headersSent ? res.statusCode : clientGone(parent.req) ? 499 : 500, headers: res.getHeaders(), body: capture.body(), context: state };
  };

  /**
   * The location's phase handlers, then its content handler; an internal redirect (try_files'
   * fallback, an index file) matches the location again and goes round once more. A
   * subrequest runs its location's phases without access, and sends no `100 Continue`.
   */
  private async serve(req: IncomingMessage, res: ServerResponse, state: RequestState): Promise<void> {
    const sub = state.subrequestDepth > 0;
    for (;;) {
      const location = state.runtime;
      try {
        if (state.autoRedirect) autoRedirect(req, state, state.autoRedirect);
        const phases = sub ? location.subrequestPhases : location.phases;
        const ran = phases.length ? runSteps(phases, req, res, state, sub ? undefined : () => sendContinue(req, res, state)) : false;
        if (ran === true || (ran !== false && (await ran))) return;
        if (!sub) sendContinue(req, res, state);
        // The location's `if` may have given the request another configuration, and content handler.
        const serving = state.runtime;
        if (!serving.handler.http) throw new HttpError(405);
        await serving.handler.http(req, res, state);
        return;
      } catch (err) {
        if (!(err instanceof InternalRedirect) || res.headersSent) throw err;
        const again = this.redirect(state, err.uri, err.args, err instanceof UriRewritten);
        if (again) {
          const answered = this.serverRewrite(req, res, state);
          if (answered === true || (answered !== false && (await answered))) return;
        }
      }
    }
  }

  /**
   * nginx's server-rewrite phase (the rewrite module's server-level directives), then the
   * location found again for the URI they leave: true once they answered the request.
   */
  private serverRewrite(req: IncomingMessage, res: ServerResponse | null, state: RequestState): boolean | Promise<boolean> {
    const server = this.runtime.server(state.server);
    if (server.serverRewrite.length === 0) return false;
    // Until a location is found the request has the server's configuration (nginx: r->loc_conf
    // is the server's): what a server-level `return` answers gets its add_header, error_page.
    state.runtime = server.serverLocation;
    const ran = runSteps(server.serverRewrite, req, res, state, res ? () => sendContinue(req, res, state) : undefined);
    if (ran === true) return true;
    if (ran === false) {
      this.matchLocation(state, server);
      return false;
    }
    return ran.then((answered) => answered || (this.matchLocation(state, server), false));
  }

  /**
   * nginx's internal redirect (a URI, matched anew) or named location, or its post-rewrite
   * (`rewritten`: a location's `rewrite` changed the URI; the request keeps its context); the
   * 11th is a 500. True when the server-rewrite phase runs again (an internal redirect to a URI).
   */
  private redirect(state: RequestState, uri: string, args: string, rewritten = false): boolean {
    const server = this.runtime.server(state.server);
    if (!rewritten) state.forgetData();
    if (--state.uriChanges === 0) {
      const what = rewritten ? 'processing' : uri.startsWith('@') ? 'redirect to named location' : 'internally redirecting to';
      server.log.error(`rewrite or internal redirection cycle while ${what} "${uri}"${rewritten ? requestLogContext(state.req, state) : ''}`);
      throw new HttpError(500, 'GW_REDIRECT_CYCLE');
    }
    if (uri.startsWith('@')) {
      const named = server.locations.namedLocation(uri);
      if (!named) {
        server.log.error(`could not find named location "${uri}"`);
        throw new HttpError(500, 'GW_NO_NAMED_LOCATION');
      }
      state.runtime = limitedTo(named, state.req.method);
      return false;
    }
    state.uri = uri;
    state.args = args;
    this.matchLocation(state, server);
    return !rewritten;
  }

  /** Renders a thrown error: `error_page` first, else nginx's built-in page. */
  private async renderError(err: unknown, req: IncomingMessage, res: ServerResponse, state: RoutedState): Promise<void> {
    const log = this.runtime.server(state.server).log;
    const httpError = err instanceof HttpError ? err : null;
    const status = httpError?.status ?? 500;
    if (!httpError) log.error(`unexpected error while serving "${req.url}": ${(err as Error)?.stack ?? err}`);
    else if (httpError.status === 400) log.info(`client sent invalid request: ${httpError.message}, client: ${req.socket.remoteAddress}`);
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    if (TERMINATING.has(status)) {
      res.destroy();
      return;
    }
    // A 401's WWW-Authenticate is added to what the response has and stays through `error_page 401`, as each
    // header auth_basic pushes into nginx's headers_out (a page that asks again adds a second one).
    const kept = status === 401;
    if (kept) for (const [name, value] of Object.entries(httpError?.headers ?? {})) res.appendHeader(name, value);
    if (!state.errorPageDone && !state.routingError && (await this.errorPage(status, req, res, state))) return;
    if (!kept) for (const [name, value] of Object.entries(httpError?.headers ?? {})) res.setHeader(name, value);
    if (CLOSING_STATUSES.has(status)) res.shouldKeepAlive = false;
    res.removeHeader('content-encoding');
    if (!hasErrorPage(status)) {
      res.writeHead(status, { 'Content-Length': 0 }).end();
      return;
    }
    const padding = req.httpVersionMajor >= 1 && wantsMsiePadding(req.headers['user-agent']);
    const body = errorPageHtml(status, state.runtime.signature, padding);
    const sent = pageStatus(status);
    res.writeHead(sent, reasonPhrase(sent), { 'Content-Type': 'text/html', 'Content-Length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  /**
   * nginx's `error_page`: an internal redirect to a URI or named location, or a redirect.
   */
  private async errorPage(status: number, req: IncomingMessage, res: ServerResponse, state: RoutedState): Promise<boolean> {
    const page = state.runtime.errorPages.find((p) => p.codes.includes(status));
    if (!page) return false;
    state.errorPageDone = true;
    if (/^https?:\/\//.test(page.uri)) {
      const redirect = typeof page.response === 'number' && page.response >= 301 && page.response <= 308 ? page.response : 302;
      await this.renderError(new HttpError(redirect, 'GW_ERROR_PAGE', undefined, { Location: page.uri }), req, res, state);
      return true;
    }
    state.overrideStatus = page.response === 'page' ? 0 : (page.response ?? status);
    if (req.method !== 'HEAD') req.method = 'GET';
    try {
      const target = page.uri.startsWith('@') ? { uri: page.uri, args: state.args } : normalizeUri(page.uri);
      const again = this.redirect(state, target.uri, target.args);
      const answered = again ? this.serverRewrite(req, res, state) : false;
      if (!(answered === true || (answered !== false && (await answered)))) await this.serve(req, res, state);
    } catch (err) {
      state.overrideStatus = 0;
      await this.renderError(err, req, res, state);
    }
    return true;
  }

  /** The response is over: the location's counters, then its log phase. */
  private ended(state: RoutedState, res: ServerResponse, startBytes: number): void {
    const location = state.runtime;
    const status = res.headersSent ? res.statusCode : 499;
    location.metrics.response(status, (performance.now() - state.startTime) / 1000);
    if (location.logHandlers.length === 0) return;
    state.status = status;
    // nginx's $body_bytes_sent: what went out on the socket for this response, less its header.
    // The header is a latin1 string: its length is its byte count.
    // $bytes_sent: the same with the header; $request_completion: the response went out whole.
    if (res instanceof Http2Response) {
      // A stream shares its connection: its own count of what it sent.
      state.bodyBytesSent = res.headersSent ? res.bodyBytes : 0;
      state.bytesSent = res.headersSent ? res.bodyBytes + res.headerBytes() : 0;
    } else {
      const headerBytes = ((res as unknown as { _header?: string })._header ?? '').length;
      state.bytesSent = res.headersSent ? Math.max(0, (res.socket?.bytesWritten ?? state.req.socket.bytesWritten) - startBytes) : 0;
      state.bodyBytesSent = Math.max(0, state.bytesSent - headerBytes);
    }
    state.completed = res.writableFinished;
    for (const handler of location.logHandlers) handler.log!(state.req, state, status);
  }
}

/**
 * `log_subrequest on` where a subrequest ended: its log phase runs (the access log line of its
 * URI and status), as nginx's ngx_http_finalize_request logs a subrequest. Its
 * `$body_bytes_sent` is the body kept, else 0 (what it wrote went to no socket).
 */
function logSubrequest(req: IncomingMessage, res: ServerResponse, state: RequestState, capture: SubrequestCapture): void {
  const location = state.runtime;
  if (!location.logSubrequest || location.logHandlers.length === 0) return;
  state.status = res.headersSent ? res.statusCode : 499;
  state.bodyBytesSent = capture.body()?.length ?? 0;
  for (const handler of location.logHandlers) handler.log!(req, state, state.status);
}

/** Whether the client has gone (closed, or half-closed: nginx's check of a broken connection). */
function clientGone(req: IncomingMessage): boolean {
  const socket = req.socket;
  return socket.destroyed || socket.readableEnded;
}

/** The upgraded socket's 'error' listener: a shared function, not a closure per connection. */
function destroySocket(this: Duplex): void {
  this.destroy();
}

/** True when `object` has an own enumerable key (no array of keys made). */
function hasKeys(object: object): boolean {
  for (const key in object) if (Object.hasOwn(object, key)) return true;
  return false;
}

/** A RequestState that may carry the routing failure (400, 404) to be rendered. */
type RoutedState = RequestState & { routingError?: unknown; serverRewriteDone?: boolean };

/**
 * nginx sends `100 Continue` once a request passed its checks, when its body is read or
 * discarded: before the content handler, or before a phase handler answers it (`return`); a
 * body too large gets the 413 alone, a refused request its 403. Node leaves it to us
 * ('checkContinue').
 */
function sendContinue(req: IncomingMessage, res: ServerResponse, state: RequestState): void {
  if (state.continued || req.httpVersionMinor < 1 || !/^100-continue$/i.test(req.headers.expect ?? '')) return;
  state.continued = true;
  res.writeContinue();
}

function checkBodySize(req: IncomingMessage, max: number): void {
  const length = Number(req.headers['content-length'] ?? 0);
  if (max > 0 && length > max) throw new HttpError(413, 'GW_BODY_TOO_LARGE', `client intended to send too large body: ${length} bytes`);
}

/**
 * How long a connection answered with a raw error may stay half-open for what the client still
 * sends: nginx's default `lingering_timeout`.
 */
const RAW_ERROR_LINGER_MS = 5000;

/** What an extended CONNECT carries after its head: nothing (its stream is read from the start). */
const EMPTY_HEAD = Buffer.alloc(0);

/** nginx's error page for an upgrade on an HTTP/2 stream: answered on the stream, which then closes (444: reset). */
function writeStreamError(req: Http2Request, status: number, signature: string, headers: Readonly<Record<string, string | readonly string[]>>): void {
  if (status === CLOSE_WITHOUT_RESPONSE) {
    req.stream.close(http2Constants.NGHTTP2_NO_ERROR);
    return;
  }
  const body = errorPageHtml(status, signature);
  const lines: [string, string][] = [['server', signature], ['date', new Date().toUTCString()]];
  if (body) lines.push(['content-type', 'text/html']);
  lines.push(['content-length', String(Buffer.byteLength(body))]);
  for (const [name, value] of Object.entries(headers)) for (const one of typeof value === 'string' ? [value] : value) lines.push([name, one]);
  answerStream(req.stream, pageStatus(status), lines, body);
}

/** Writes nginx's error page as a raw HTTP response on a socket, then closes it. */
export function writeRawError(socket: Duplex, status: number, signature: string, headers: Readonly<Record<string, string | readonly string[]>> = {}): void {
  if (!socket.writable || status === CLOSE_WITHOUT_RESPONSE) {
    socket.destroy();
    return;
  }
  const body = errorPageHtml(status, signature);
  const sent = pageStatus(status);
  const type = body ? 'Content-Type: text/html\r\n' : '';
  const extra = Object.entries(headers)
    .flatMap(([k, v]) => (typeof v === 'string' ? [v] : v).map((one) => `${k}: ${one}\r\n`))
    .join('');
  socket.end(
    `HTTP/1.1 ${sent} ${reasonPhrase(sent)}\r\nServer: ${signature}\r\nDate: ${new Date().toUTCString()}\r\n` +
      `${type}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n${extra}\r\n${body}`,
  );
  (socket as Socket).setTimeout?.(RAW_ERROR_LINGER_MS, () => socket.destroy());
}

/** Ends `socket` and destroys it if its peer has not closed its end RAW_ERROR_LINGER_MS later. */
function endSoon(socket: Duplex): void {
  socket.end();
  (socket as Socket).setTimeout?.(RAW_ERROR_LINGER_MS, () => socket.destroy());
}
