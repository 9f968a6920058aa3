/**
 * What the server runs for a configuration, built once at start: per listening socket its
 * server table; per server its table of compiled locations; per location its phase handlers
 * (nginx's `phase_engine.handlers`, from every module, in phase order), its response filters,
 * its content handler, its counters and the few core values the engine reads per request. A
 * request finds everything on the location it matched: nothing is looked up by name.
 */
import type { TlsOptions, Server as TlsServer } from 'node:tls';
import type { LocationConf, MainConf, ServerConf } from '../config/model';
import type { ListenSpec, LocationMatch } from '../config/values';
import { compileValue } from '../http/variables';
import { serverSignature } from '../http/version';
import { VALID_NAME, VALID_WITH_UNDERSCORE, type HeadRules } from '../http/request-head';
import { httpTuningModule } from '../modules/tuning/http-module';
import { coreModule, type ErrorPageConf } from '../modules/core/module';
import { proxyModule } from '../modules/proxy/module';
import { grpcModule } from '../modules/grpc/module';
import type { RedirectConf } from '../http/redirect';
import { createPushChannels } from '../modules/push/channels';
import type { Fanout } from '../modules/push/fanout';
import { LOCATION_MODULES } from '../modules/registry';
import { registerLocation, type LocationCounters } from '../modules/status/counters';
import { openSharedDicts, type DictRegistry } from '../shared/dict/shared-dicts';
import { createErrorLog, type LogFiles } from '../shared/log';
import { compileStaticPaths, type StaticPaths } from '../shared/document-path';
import { describeError, WorkerTimers } from '../shared/timers';
import { initWorkerModule } from '../modules/init-worker/module';
import { rewriteModule } from '../modules/rewrite/module';
import { limitExceptModule } from '../modules/limit-except/module';
import type { Op } from '../modules/rewrite/script';
import { sharedDictModule } from '../modules/shared-dict/module';
import type { CompileEnv, Handler, HandlerModule, Logger, PhaseHandler, ResponseFilter, WorkerApi } from '../types';
import type { LingeringLimits } from './lingering';
import { compilePhases, type PhaseStep } from './phase-engine';
import { LocationTable, normalizeHost, ServerTable } from './router';
import { listenerTls } from './tls';
import type { Http2Settings } from './http2-sessions';
import { http2Module } from '../modules/http2/module';
import { sessionCacheDicts, sslModule } from '../modules/ssl/module';

/** The environment variable by which the master tells a worker its number (`ngx.worker.id`). */
export const WORKER_ID_ENV = 'GATEWAY_WORKER_ID';

/** One location, ready to serve. */
export interface LocationRuntime {
  readonly conf: LocationConf;
  readonly match: LocationMatch;
  readonly server: ServerConf;
  readonly handler: Handler;
  /** The phase handlers before the content handler, in nginx's order (rewrite ... precontent). */
  readonly phases: readonly PhaseStep[];
  /** The phases of a subrequest served here: the same without the access phase (nginx skips it for subrequests). */
  readonly subrequestPhases: readonly PhaseStep[];
  /** The log phase's handlers. */
  readonly logHandlers: readonly PhaseHandler[];
  readonly filters: readonly ResponseFilter[];
  readonly log: Logger;
  /** The `Server` header and error page signature (`server_tokens`). */
  readonly signature: string;
  /** The location's request, WebSocket and proxy counters (for stub_status and metrics). */
  readonly metrics: LocationCounters;
  /** Whether a request asking for an upgrade goes to the handler's `upgrade` (else it is served as HTTP). */
  readonly upgradable: boolean;
  readonly clientMaxBodySize: number;
  /** `keepalive_timeout 0`: every response closes its connection. */
  readonly keepaliveOff: boolean;
  /** `keepalive_timeout`'s header_timeout, in ms as Node's response takes it: `Keep-Alive: timeout=` (0: no such header, nginx's default). */
  readonly keepaliveHeaderMs: number;
  /** `keepalive_requests`: the request with this number on its connection is the connection's last. */
  readonly keepaliveRequests: number;
  readonly sendTimeout: number;
  /** What nginx's send_timeout line says the gateway was doing: `sending to client` when proxying. */
  readonly sending: string;
  readonly lingering: LingeringLimits;
  readonly errorPages: readonly ErrorPageConf[];
  /** `$document_root`. */
  readonly documentRoot: string;
  /** The location's `root` and `alias`, compiled (`$request_filename`). */
  readonly paths: StaticPaths;
  /** `internal`: a client's request that matches it is a 404. */
  readonly internal: boolean;
  /**
   * nginx's auto_redirect: set (how the redirect names the host) where the location's name
   * ends in `/` and it proxies (`proxy_pass`, `grpc_pass`) and is an exact or prefix one.
   */
  readonly autoRedirect?: RedirectConf;
  /** The variables the configuration makes (named captures, declared, a `map`'s): what `ctx.variable` looks up beside nginx's own. */
  readonly variables: ReadonlySet<string>;
  /** The locations nginx makes of its `if` blocks (`LocationConf.inner`), by their key: the request takes one when its condition holds. */
  readonly inner?: ReadonlyMap<object, LocationRuntime>;
  /** `limit_except`: the methods served here, and the nested location that serves the others (`limitedTo`). */
  readonly limitExcept?: { readonly allowed: ReadonlySet<string>; readonly location: LocationRuntime };
  /** The variables `set` declares, where `uninitialized_variable_warn` is on: reading one that nothing set is a warning. */
  readonly unsetWarnings?: ReadonlySet<string>;
  /** `tcp_nodelay`: whether the connection's TCP_NODELAY is on while this location answers. */
  readonly tcpNodelay: boolean;
  /** `reset_timedout_connection`: a connection closed for a timeout is reset (RST), not closed. */
  readonly resetTimedout: boolean;
  /** `log_subrequest`: a subrequest served here runs the log phase (its access log line) when it ends. */
  readonly logSubrequest: boolean;
}

/** One server block, ready to serve. */
export interface ServerRuntime {
  readonly conf: ServerConf;
  readonly locations: LocationTable<LocationRuntime>;
  /** Every location in the order written, a nested one after the one it is in. */
  readonly locationList: readonly LocationRuntime[];
  /** What serves a URI no location matches, and requests that failed before routing. */
  readonly serverLocation: LocationRuntime;
  /** The post-read phase (realip): run once per request before the location is found; empty for most servers. */
  readonly postRead: readonly PhaseStep[];
  /** The server-rewrite phase (the rewrite module's server-level directives): before the location is found, and again after an internal redirect to a URI. */
  readonly serverRewrite: readonly PhaseStep[];
  /** The `Server` header and error page signature. */
  readonly signature: string;
  readonly log: Logger;
}

/** One listening socket and the servers on it. */
export interface ListenerRuntime {
  readonly listen: ListenSpec;
  readonly servers: ServerTable;
  /** TLS options when any `listen` of this socket says `ssl` (or its default server `ssl on`), else null. */
  readonly tls: TlsOptions | null;
  /** Attaches the TLS server's session cache, client certificate and stapling handlers (null without TLS). */
  readonly attachTls: ((server: TlsServer) => void) | null;
  /** The default server's `client_header_timeout`: a connection's first head must come within it. */
  readonly headerTimeout: number;
  /** Whether any `listen` of this socket says `proxy_protocol`: each connection starts with a PROXY header. */
  readonly proxyProtocol: boolean;
  /**
   * HTTP/2's settings when any `listen` of this socket says `http2` or any of its servers
   * `http2 on` (the default server's settings), else null.
   */
  readonly http2: Http2Settings | null;
  /**
   * Whether a connection to server name `name` (TLS's SNI; null: none, or cleartext, where the
   * default server decides) may speak HTTP/2: always when a `listen` says `http2` (the socket's
   * parameter, nginx 1.22's form), else as the server `http2 on` names says (nginx 1.25's).
   */
  readonly speaksHttp2: (name: string | null) => boolean;
  /** The default server's `reset_timedout_connection`: a head that timed out is reset. */
  readonly resetTimedout: boolean;
  /** How the default server reads a request's head (`merge_slashes`, `underscores_in_headers`, `ignore_invalid_headers`, the header buffers), as nginx before it knows the Host. */
  readonly head: HeadRules;
}

/** Everything built from one configuration. */
export class Runtime {
  readonly listeners: ListenerRuntime[] = [];
  private readonly serverRuntimes = new Map<ServerConf, ServerRuntime>();
  private readonly handlers: Handler[] = [];
  /** This worker's timers (`ngx.timer`): every script's and handler's. */
  readonly timers: WorkerTimers;
  /** The variables the configuration's `set` directives declare. */
  private readonly setNames: ReadonlySet<string>;

  private constructor(
    readonly conf: MainConf,
    readonly log: Logger,
    /** The push channels every handler of this process shares. */
    readonly push: Fanout,
    /** The shared dictionaries (`shared_dict`), mapped in this process. */
    readonly shared: DictRegistry,
  ) {
    this.timers = new WorkerTimers(log);
    this.setNames = setVariables(conf);
  }

  /** Creates every handler (`create`) and compiles what requests will use. */
  static async build(conf: MainConf, log: Logger, files: LogFiles): Promise<Runtime> {
    const runtime = new Runtime(conf, log, createPushChannels(conf, log), openSharedDicts(conf.http.confs.get(sharedDictModule).sharedDicts, log));
    for (const server of conf.http.servers) {
      // Every location, nested ones too (after the one they are in), each compiled once.
      const compiled = new Map<LocationConf, LocationRuntime>();
      const compile = async (list: readonly LocationConf[]): Promise<void> => {
        for (const location of list) {
          compiled.set(location, (await runtime.location(server, location, files)).runtime);
          await compile(location.locations);
        }
      };
      await compile(server.locations);
      const { runtime: serverLocation, postRead, serverRewrite } = await runtime.location(server, server.serverLocation, files);
      const top = server.locations.map((l) => compiled.get(l)!);
      runtime.serverRuntimes.set(server, {
        conf: server,
        locations: new LocationTable(top, (l) => l.conf.locations.map((inner) => compiled.get(inner)!)),
        locationList: [...compiled.values()],
        serverLocation,
        postRead,
        serverRewrite,
        signature: serverLocation.signature,
        log: serverLocation.log,
      });
    }
    // The session caches' shared memory (`ssl_session_cache shared:`): the master's, inherited.
    const sessionDicts = openSharedDicts(sessionCacheDicts(conf.http.servers), log);
    runtime.listeners.push(...groupByListen(conf.http.servers, (server) => runtime.server(server).log, sessionDicts));
    await runtime.initWorker();
    return runtime;
  }

  /**
   * Runs the `init_worker_by` scripts in the order written (OpenResty's `init_worker_by_lua`),
   * before this worker serves; one that throws or rejects is an error line, and the worker
   * starts all the same, as OpenResty's.
   */
  private async initWorker(): Promise<void> {
    for (const decl of this.conf.http.confs.get(initWorkerModule).initWorkerBy) {
      try {
        await decl.script.init(this.workerApi(decl.name), decl.options);
      } catch (err) {
        this.log.error(`init_worker_by "${decl.name}" failed: ${describeError(err)}`);
      }
    }
  }

  /** The worker API a script named `owner` gets. */
  workerApi(owner: string): WorkerApi {
    const timers = this.timers;
    const id = Number(process.env[WORKER_ID_ENV] ?? 0);
    return {
      shared: this.shared,
      timers: timers.forScript(owner),
      log: this.log,
      worker: { id, count: this.conf.masterProcess ? this.conf.workerProcesses : 1, pid: process.pid, exiting: () => timers.exiting },
    };
  }

  /**
   * Compiles one location: its handler, phases, filters and the core values read per request;
   * and the post-read steps its modules give (the server's own location has them).
   */
  private async location(server: ServerConf, location: LocationConf, files: LogFiles): Promise<{ runtime: LocationRuntime; postRead: readonly PhaseStep[]; serverRewrite: readonly PhaseStep[] }> {
    const core = location.confs.get(coreModule);
    const log = core.errorLog ? createErrorLog(core.errorLog, files) : this.log;
    const env = this.env(server, log, files);
    const metrics = registerLocation(server, location);
    // The module `handler:` resolved to when the configuration was built (a HandlerModule: the registry's).
    const module = this.conf.handlers.get(location) as HandlerModule;
    const handler = await module.create(location.handlerOptions, { log, prefix: this.conf.prefix, location, push: this.push, counters: metrics, shared: (name) => this.shared.get(name), sharedDicts: this.shared, timers: this.timers.forScript(location.handler) });
    this.handlers.push(handler);
    const handlers = LOCATION_MODULES.flatMap((m) => m.phases?.(location, env) ?? []);
    const { steps, postRead, serverRewrite, logs, answers } = compilePhases(handlers, core.satisfy, core.authDelay);
    const inner = location.inner ? await this.innerRuntimes(server, location.inner, files) : null;
    const limit = location.confs.get(limitExceptModule).limitExcept;
    const runtime: LocationRuntime = {
      conf: location,
      match: location.match,
      server,
      handler,
      phases: steps,
      subrequestPhases: compilePhases(handlers.filter((h) => h.phase !== 'access')).steps,
      logHandlers: logs,
      filters: LOCATION_MODULES.flatMap((m) => m.filter?.(location, env) ?? []),
      log,
      signature: serverSignature(core.serverTokens),
      metrics,
      upgradable: handler.upgrade !== undefined && !answers,
      clientMaxBodySize: core.clientMaxBodySize,
      keepaliveOff: core.keepaliveTimeout.ms === 0,
      keepaliveHeaderMs: core.keepaliveTimeout.headerSeconds * 1000,
      keepaliveRequests: core.keepaliveRequests,
      sendTimeout: core.sendTimeout,
      sending: location.confs.get(proxyModule).proxyPass !== null ? 'sending to client' : 'sending response to client',
      lingering: { timeMs: core.lingeringTime, timeoutMs: core.lingeringTimeout },
      errorPages: core.errorPages,
      documentRoot: core.root,
      paths: compileStaticPaths(core.root, core.alias, location.match, undefined, this.conf.captureNames),
      internal: core.internal,
      ...(autoRedirects(location) ? { autoRedirect: location.confs.get(httpTuningModule) } : {}),
      variables: this.conf.captureNames,
      ...(inner ? { inner } : {}),
      ...(limit && inner?.has(limit) ? { limitExcept: { allowed: limit.allowed, location: inner.get(limit)! } } : {}),
      ...(location.confs.get(rewriteModule).uninitializedVariableWarn && this.setNames.size ? { unsetWarnings: this.setNames } : {}),
      tcpNodelay: location.confs.get(httpTuningModule).tcpNodelay,
      resetTimedout: location.confs.get(httpTuningModule).resetTimedoutConnection,
      logSubrequest: location.confs.get(httpTuningModule).logSubrequest,
    };
    return { runtime, postRead, serverRewrite };
  }

  /** The runtimes of a location's inner locations (`if` and `limit_except` blocks), by key. */
  private async innerRuntimes(server: ServerConf, inner: ReadonlyMap<object, LocationConf>, files: LogFiles): Promise<ReadonlyMap<object, LocationRuntime>> {
    const runtimes = new Map<object, LocationRuntime>();
    for (const [key, conf] of inner) runtimes.set(key, (await this.location(server, conf, files)).runtime);
    return runtimes;
  }

  /** What a module may use while it compiles a location of `server`. */
  private env(server: ServerConf, log: Logger, files: LogFiles): CompileEnv {
    const captureNames = this.conf.captureNames;
    const timers = this.timers;
    return { server, http: this.conf.http, log, captureNames, compile: (text) => compileValue(text, captureNames), openLog: (target) => files.sink(target), shared: this.shared, timers: (owner) => timers.forScript(owner) };
  }

  server(conf: ServerConf): ServerRuntime {
    return this.serverRuntimes.get(conf)!;
  }

  /** Closes every handler (upstream agents, script resources), then the push channels. */
  async close(): Promise<void> {
    await Promise.allSettled(this.handlers.map((h) => h.close?.()));
    await this.push.close();
  }
}

/** Whether nginx sets auto_redirect on the location: its own `proxy_pass` or `grpc_pass`, and a name ending in `/`. */
function autoRedirects(location: LocationConf): boolean {
  const m = location.match;
  if ((m.kind !== 'prefix' && m.kind !== 'exact') || !m.path.endsWith('/')) return false;
  return location.confs.get(proxyModule).proxyPass !== null || location.confs.get(grpcModule).grpcPass !== null;
}

/** The names every `set` of the configuration declares (servers, locations, `if` blocks). */
function setVariables(conf: MainConf): ReadonlySet<string> {
  const names = new Set<string>();
  const visit = (ops: readonly Op[] | null) => {
    for (const op of ops ?? []) {
      if (op.kind === 'set') names.add(op.name);
      if (op.kind === 'if') visit(op.body);
    }
  };
  for (const server of conf.http.servers) {
    visit(server.confs.get(rewriteModule).script);
    for (const location of server.locations) visit(location.confs.get(rewriteModule).script);
  }
  return names;
}

/** A server name as the server table takes it, or null when it is not a valid host. */
function hostOrNull(name: string): string | null {
  try {
    return normalizeHost(name);
  } catch {
    return null;
  }
}

/** A socket's HTTP/2 settings, from its default server. */
function http2Settings(server: ServerConf): Http2Settings {
  const h2 = server.confs.get(http2Module);
  const core = server.confs.get(coreModule);
  const buffers = server.confs.get(httpTuningModule).largeClientHeaderBuffers;
  return {
    maxConcurrentStreams: h2.http2MaxConcurrentStreams,
    initialWindowSize: h2.http2BodyPrereadSize,
    maxHeaderListSize: buffers.number * buffers.size,
    maxFieldSize: buffers.size,
    headerTimeoutMs: core.clientHeaderTimeout,
    idleTimeoutMs: core.keepaliveTimeout.ms,
    maxRequests: core.keepaliveRequests,
    lingeringTimeoutMs: core.lingeringTimeout,
    enableConnectProtocol: h2.http2Websocket,
  };
}

/**
 * Groups servers by the socket they listen on. The default server of a socket is the one whose
 * `listen` says `default_server`, else the first; socket options come from that occurrence;
 * the socket speaks TLS when any of its `listen`s says `ssl`, or its default server `ssl on`.
 */
function groupByListen(servers: readonly ServerConf[], logOf: (server: ServerConf) => Logger, sessionDicts: DictRegistry): ListenerRuntime[] {
  const groups = new Map<string, { listen: ListenSpec; servers: ServerConf[]; defaultServer: ServerConf | null; ssl: boolean; proxyProtocol: boolean; http2: boolean; http2Socket: boolean }>();
  for (const server of servers) {
    for (const listen of server.listens) {
      let group = groups.get(listen.key);
      if (!group) {
        group = { listen, servers: [], defaultServer: null, ssl: false, proxyProtocol: false, http2: false, http2Socket: false };
        groups.set(listen.key, group);
      }
      if (!group.servers.includes(server)) group.servers.push(server);
      group.ssl ||= listen.ssl;
      group.proxyProtocol ||= listen.proxyProtocol;
      group.http2 ||= listen.http2 || server.confs.get(http2Module).http2;
      group.http2Socket ||= listen.http2;
      if (listen.defaultServer) {
        group.defaultServer = server;
        group.listen = listen;
      }
    }
  }
  return [...groups.values()].map((g) => {
    const table = new ServerTable(g.servers, g.defaultServer ?? g.servers[0]);
    const headerTimeout = table.defaultServer.confs.get(coreModule).clientHeaderTimeout;
    // `ssl on` (the old form) in the socket's default server makes it speak TLS, as in nginx.
    const tls = g.ssl || table.defaultServer.confs.get(sslModule).ssl ? listenerTls(table, g.servers, logOf, sessionDicts, g.listen.key) : null;
    const tuning = table.defaultServer.confs.get(httpTuningModule);
    const head: HeadRules = {
      mergeSlashes: tuning.mergeSlashes,
      validName: tuning.ignoreInvalidHeaders ? (tuning.underscoresInHeaders ? VALID_WITH_UNDERSCORE : VALID_NAME) : null,
      buffers: { first: tuning.clientHeaderBufferSize, large: tuning.largeClientHeaderBuffers.size, count: tuning.largeClientHeaderBuffers.number },
    };
    return {
      listen: g.listen,
      servers: table,
      tls: tls?.options ?? null,
      attachTls: tls ? (server) => tls.attach(server) : null,
      headerTimeout,
      proxyProtocol: g.proxyProtocol,
      http2: g.http2 ? http2Settings(table.defaultServer) : null,
      speaksHttp2: g.http2Socket ? () => true : (name) => table.select(name === null ? null : hostOrNull(name)).server.confs.get(http2Module).http2,
      head,
      resetTimedout: tuning.resetTimedoutConnection,
    };
  });
}
