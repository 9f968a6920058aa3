/**
 * Per request: pick the virtual server, normalize the URI once, match the location, hand the
 * request (or the upgrade) to the location's handler; render every thrown error in one place,
 * nginx's way (`error_page`, the built-in pages); write the access log once.
 */
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { accessDenied } from '../modules/access/access-rules';
import type { LocationConf } from '../config/model';
import { HttpError, InternalRedirect } from '../errors';
import { requestEnded, requestStarted } from '../modules/status/counters';
import { installFilters } from './filters';
import { errorPageHtml, hasErrorPage, pageStatus, reasonPhrase, wantsMsiePadding } from '../http/status';
import { afterResponse, watchBody, type LingeringLimits } from './lingering';
import { tabPaddingOf } from '../http/raw-head';
import { hasBody } from '../shared/request-body';
import { checkHeaderLines, checkRequestHead, checkRequestLine } from '../http/request-head';
import { RequestState } from './request-state';
import { normalizeHost, normalizeUri } from './router';
import type { ListenerRuntime, LocationRuntime, Runtime, ServerRuntime } from './runtime';
import { SendTimeouts } from './send-timeout';
import { applyTryFiles } from '../modules/core/try-files';
import type { UpgradeOutcome } from '../types';

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
  timeoutMs: (state: RequestState) => servingLocation(state).sendTimeout,
  timedOut(res: ServerResponse, state: RequestState): void {
    const req = state.req;
    const host = req.headers.host;
    const what = servingLocation(state).proxyPass !== null ? 'sending to client' : 'sending response to client';
    state.log.info(
      `client timed out (110: Connection timed out) while ${what}, client: ${state.remoteAddress || 'unix:'}, server: ${state.server.primaryName}, ` +
        `request: "${req.method} ${req.url} HTTP/${req.httpVersion}"${host ? `, host: "${host}"` : ''}`,
    );
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

  /** The 'request' listener's work (`routed`: an upgrade request already routed, served as HTTP). */
  async request(req: IncomingMessage, res: ServerResponse, listener: ListenerRuntime, scheme: string, routed?: RoutedState): Promise<void> {
    const startBytes = req.socket.bytesWritten;
    if (!routed) requestStarted(req.socket);
    const state = routed ?? this.route(req, res, listener, scheme);
    state.res = res;
    const server = this.runtime.server(state.server);
    this.sendTimeouts.watch(res, state);
    const body = hasBody(req);
    if (body) watchBody(req, lingeringOf(state));
    res.on('close', () => {
      this.sendTimeouts.forget(res);
      if (body) afterResponse(req, lingeringOf(state));
      requestEnded(req.socket);
      this.runtime.location(servingLocation(state)).metrics.response(res.headersSent ? res.statusCode : 499, (performance.now() - state.startTime) / 1000);
      this.logAccess(state, res, startBytes);
    });
    res.setHeader('Server', this.signature(state));
    if (state.location === undefined) state.filters = server.filters;
    installFilters(req, res, state);
    try {
      if (state.routingError) throw state.routingError;
      if (state.location.keepaliveTimeout === 0) res.shouldKeepAlive = false;
      checkBodySize(req, state.location.clientMaxBodySize);
      this.checkAccess(state);
      // nginx sends `100 Continue` once a request passed its checks (a body too large gets
      // the 413 alone); Node leaves it to us ('checkContinue').
      if (req.httpVersionMinor >= 1 && /^100-continue$/i.test(req.headers.expect ?? '')) res.writeContinue();
      await this.serve(req, res, state, server);
    } catch (err) {
      await this.renderError(err, req, res, state, server);
    }
  }

  /**
   * The 'upgrade' listener's work: the handler takes the socket, or the request is served as
   * HTTP. While the handler has the connection, what is left to do (the access log) waits as a
   * reaction to its promise, not as a suspended frame.
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, listener: ListenerRuntime, scheme: string): Promise<void> {
    requestStarted(socket);
    const state = this.route(req, null, listener, scheme);
    const runtime = state.routingError ? null : this.runtime.location(state.location);
    const handler = runtime?.handler;
    if (!runtime || !handler?.upgrade) {
      socket.on('error', destroySocket);
      // nginx serves a request that asks for an upgrade it cannot give as a plain request.
      const res = new ServerResponse(req);
      res.shouldKeepAlive = false;
      res.assignSocket(socket as Socket);
      res.on('finish', () => socket.end());
      return this.request(req, res, listener, scheme, state);
    }
    let served: void | Promise<void | UpgradeOutcome>;
    try {
      this.checkAccess(state);
      served = handler.upgrade(req, socket, head, state);
    } catch (err) {
      socket.on('error', destroySocket);
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
    const runtime = this.runtime.location(state.location);
    const status = err instanceof HttpError ? err.status : 500;
    if (!(err instanceof HttpError)) runtime.log.error(`upgrade handler failed: ${(err as Error)?.message ?? err}`);
    writeRawError(socket, status, this.signature(state), err instanceof HttpError ? err.headers : {});
    return { status, bytesSent: 0 };
  }

  /**
   * The upgrade is over: counted and logged. A handler that resolved without an outcome has
   * left the socket to itself; it is logged (as 101) once the socket has closed.
   */
  private upgradeEnded(state: RequestState, socket: Duplex, outcome: UpgradeOutcome | void): void | Promise<void> {
    const runtime = this.runtime.location(state.location);
    if (!outcome && !socket.destroyed) {
      return new Promise<void>((resolve) => socket.once('close', () => resolve())).then(() => this.logUpgrade(state, runtime, socket, outcome));
    }
    this.logUpgrade(state, runtime, socket, outcome);
  }

  private logUpgrade(state: RequestState, runtime: LocationRuntime, socket: Duplex, outcome: UpgradeOutcome | void): void {
    state.status = outcome?.status ?? 101;
    state.bodyBytesSent = outcome?.bytesSent ?? 0;
    requestEnded(socket);
    runtime.metrics.upgradeEnded(state.status);
    for (const log of runtime.accessLogs) log.write(state);
  }

  /** Server selection and location matching; a failure is kept in `routingError`. */
  private route(req: IncomingMessage, res: ServerResponse | null, listener: ListenerRuntime, scheme: string): RoutedState {
    const defaultServer = listener.servers.defaultServer;
    try {
      checkRequestLine(req);
      const target = normalizeUri(req.url ?? '/');
      checkHeaderLines(req);
      const hostValue = target.host ?? req.headers.host ?? null;
      if (hostValue === null && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) {
        throw new HttpError(400, 'GW_NO_HOST', 'client sent HTTP/1.1 request without "Host" header');
      }
      const host = hostValue === null ? null : normalizeHost(hostValue);
      checkRequestHead(req, tabPaddingOf(req));
      const { server, captures, namedCaptures } = listener.servers.select(host);
      const serverRuntime = this.runtime.server(server);
      const state: RoutedState = new RequestState(req, res, server, target.uri, target.args, host || server.primaryName, scheme, serverRuntime.log);
      state.captures = captures;
      state.namedCaptures = namedCaptures;
      this.matchLocation(state, serverRuntime);
      return state;
    } catch (err) {
      const rawPath = (req.url ?? '/').split('?')[0];
      const state: RoutedState = new RequestState(req, res, defaultServer, rawPath, '', defaultServer.primaryName, scheme, this.runtime.server(defaultServer).log);
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
    state.location = matched?.location ?? server.conf.serverLocation;
    state.filters = this.runtime.location(state.location).filters;
    if (matched?.location.match.kind === 'regex') state.captures = matched.captures.length > 1 ? matched.captures : [];
    const named = matched?.namedCaptures;
    if (named && hasKeys(named)) state.namedCaptures = { ...state.namedCaptures, ...named };
  }

  /**
   * The location's `try_files`, then its content handler; an internal redirect (try_files'
   * fallback, an index file) matches the location again and goes round once more.
   */
  private async serve(req: IncomingMessage, res: ServerResponse, state: RequestState, server: ServerRuntime): Promise<void> {
    for (;;) {
      const location = this.runtime.location(state.location);
      try {
        if (location.tryFiles) await applyTryFiles(location.tryFiles, state);
        if (!location.handler.http) throw new HttpError(405);
        await location.handler.http(req, res, state);
        return;
      } catch (err) {
        if (!(err instanceof InternalRedirect) || res.headersSent) throw err;
        this.redirect(state, server, err.uri, err.args);
      }
    }
  }

  /** nginx's internal redirect (a URI, matched anew) or named location; the 11th is a 500. */
  private redirect(state: RequestState, server: ServerRuntime, uri: string, args: string): void {
    state.aliasTakesUri = false;
    if (--state.uriChanges === 0) {
      const what = uri.startsWith('@') ? 'redirect to named location' : 'internally redirecting to';
      server.log.error(`rewrite or internal redirection cycle while ${what} "${uri}"`);
      throw new HttpError(500, 'GW_REDIRECT_CYCLE');
    }
    if (uri.startsWith('@')) {
      const named = server.locations.namedLocation(uri);
      if (!named) {
        server.log.error(`could not find named location "${uri}"`);
        throw new HttpError(500, 'GW_NO_NAMED_LOCATION');
      }
      state.location = named;
      state.filters = this.runtime.location(named).filters;
    } else {
      state.uri = uri;
      state.args = args;
      this.matchLocation(state, server);
    }
    // nginx runs the phases again from the rewrite phase: the new location's access rules apply.
    this.checkAccess(state);
  }

  /**
   * nginx's access phase (ngx_http_access_module): the location's `allow`/`deny` rules, after
   * `client_max_body_size` and before `try_files` and the content handler; denied is a 403.
   * A location's `return` runs in nginx's rewrite phase, before access: it is never denied.
   */
  private checkAccess(state: RequestState): void {
    const rules = state.location.accessRules;
    if (rules === null || state.location.return !== null || !accessDenied(rules, state.remoteAddress)) return;
    const req = state.req;
    const host = req.headers.host;
    this.runtime.location(state.location).log.error(
      `access forbidden by rule, client: ${state.remoteAddress || 'unix:'}, server: ${state.server.primaryName}, ` +
        `request: "${req.method} ${req.url} HTTP/${req.httpVersion}"${host ? `, host: "${host}"` : ''}`,
    );
    throw new HttpError(403, 'GW_ACCESS_FORBIDDEN');
  }

  /** Renders a thrown error: `error_page` first, else nginx's built-in page. */
  private async renderError(err: unknown, req: IncomingMessage, res: ServerResponse, state: RoutedState, server: ServerRuntime): Promise<void> {
    const httpError = err instanceof HttpError ? err : null;
    const status = httpError?.status ?? 500;
    if (!httpError) server.log.error(`unexpected error while serving "${req.url}": ${(err as Error)?.stack ?? err}`);
    else if (httpError.status === 400) server.log.info(`client sent invalid request: ${httpError.message}, client: ${req.socket.remoteAddress}`);
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    if (TERMINATING.has(status)) {
      res.destroy();
      return;
    }
    if (!state.errorPageDone && state.location && (await this.errorPage(status, req, res, state, server))) return;
    for (const [name, value] of Object.entries(httpError?.headers ?? {})) res.setHeader(name, value);
    if (CLOSING_STATUSES.has(status)) res.shouldKeepAlive = false;
    res.removeHeader('content-encoding');
    if (!hasErrorPage(status)) {
      res.writeHead(status, { 'Content-Length': 0 }).end();
      return;
    }
    const padding = req.httpVersionMajor >= 1 && wantsMsiePadding(req.headers['user-agent']);
    const body = errorPageHtml(status, this.signature(state), padding);
    const sent = pageStatus(status);
    res.writeHead(sent, reasonPhrase(sent), { 'Content-Type': 'text/html', 'Content-Length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  /** nginx's `error_page`: an internal redirect to a URI or named location, or a redirect. */
  private async errorPage(status: number, req: IncomingMessage, res: ServerResponse, state: RoutedState, server: ServerRuntime): Promise<boolean> {
    const page = state.location.errorPages.find((p) => p.codes.includes(status));
    if (!page) return false;
    state.errorPageDone = true;
    if (/^https?:\/\//.test(page.uri)) {
      const redirect = typeof page.response === 'number' && page.response >= 301 && page.response <= 308 ? page.response : 302;
      await this.renderError(new HttpError(redirect, 'GW_ERROR_PAGE', undefined, { Location: page.uri }), req, res, state, server);
      return true;
    }
    state.overrideStatus = page.response === 'page' ? 0 : (page.response ?? status);
    if (req.method !== 'HEAD') req.method = 'GET';
    try {
      const target = page.uri.startsWith('@') ? { uri: page.uri, args: state.args } : normalizeUri(page.uri);
      this.redirect(state, server, target.uri, target.args);
      await this.serve(req, res, state, server);
    } catch (err) {
      state.overrideStatus = 0;
      await this.renderError(err, req, res, state, server);
    }
    return true;
  }

  /** The `Server` header and page signature: the location's `server_tokens`, else the server's. */
  private signature(state: RoutedState): string {
    return state.location ? this.runtime.location(state.location).signature : this.runtime.server(state.server).signature;
  }

  private logAccess(state: RoutedState, res: ServerResponse, startBytes: number): void {
    const logs = state.location ? this.runtime.location(state.location).accessLogs : this.runtime.server(state.server).accessLogs;
    if (logs.length === 0) return;
    const sent = res.headersSent;
    state.status = sent ? res.statusCode : 499;
    // nginx's $body_bytes_sent: what went out on the socket for this response, less its header.
    // The header is a latin1 string: its length is its byte count.
    const headerBytes = ((res as unknown as { _header?: string })._header ?? '').length;
    state.bodyBytesSent = sent ? Math.max(0, (res.socket?.bytesWritten ?? state.req.socket.bytesWritten) - startBytes - headerBytes) : 0;
    for (const log of logs) log.write(state);
  }
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

/** The location serving a request: the matched one, or its server's own when routing failed. */
function servingLocation(state: RequestState): LocationConf {
  return state.location ?? state.server.serverLocation;
}

/** The location's `lingering_time` and `lingering_timeout`. */
function lingeringOf(state: RequestState): LingeringLimits {
  const location = servingLocation(state);
  return { timeMs: location.lingeringTime, timeoutMs: location.lingeringTimeout };
}

/** A RequestState that may carry the routing failure (400, 404) to be rendered. */
type RoutedState = RequestState & { routingError?: unknown };

function checkBodySize(req: IncomingMessage, max: number): void {
  const length = Number(req.headers['content-length'] ?? 0);
  if (max > 0 && length > max) throw new HttpError(413, 'GW_BODY_TOO_LARGE', `client intended to send too large body: ${length} bytes`);
}

/**
 * How long a connection answered with a raw error may stay half-open for what the client still
 * sends: nginx's default `lingering_timeout`.
 */
const RAW_ERROR_LINGER_MS = 5000;

/** Writes nginx's error page as a raw HTTP response on a socket, then closes it. */
export function writeRawError(socket: Duplex, status: number, signature: string, headers: Readonly<Record<string, string>> = {}): void {
  if (!socket.writable || status === CLOSE_WITHOUT_RESPONSE) {
    socket.destroy();
    return;
  }
  const body = errorPageHtml(status, signature);
  const sent = pageStatus(status);
  const type = body ? 'Content-Type: text/html\r\n' : '';
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.end(
    `HTTP/1.1 ${sent} ${reasonPhrase(sent)}\r\nServer: ${signature}\r\nDate: ${new Date().toUTCString()}\r\n` +
      `${type}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n${extra}\r\n${body}`,
  );
  (socket as Socket).setTimeout?.(RAW_ERROR_LINGER_MS, () => socket.destroy());
}
