/**
 * What the server runs for a configuration, built once at start: per listening socket its
 * server table; per server its location table; per location its handler instance, compiled
 * filters and access logs.
 */
import type { LocationConf, LogFormatConf, MainConf, ServerConf } from '../config/model';
import { compileFilters, type FilterConf } from './filters';
import { resolveHandler } from '../modules/registry';
import { createAccessLog, COMBINED_FORMAT, createErrorLog, type AccessLog, type LogFiles } from '../shared/log';
import { registerLocation, type LocationCounters } from '../modules/status/counters';
import { LocationTable, ServerTable } from './router';
import type { Handler, Logger } from '../types';
import type { ListenSpec } from '../config/values';
import type { TlsOptions } from 'node:tls';
import { listenerTlsOptions } from './tls';
import { compileTryFiles, type CompiledTryFiles } from '../modules/core/try-files';
import { createPushChannels } from '../modules/push/channels';
import type { Fanout } from '../modules/push/fanout';
import { serverSignature } from '../http/version';

/** One location, ready to serve. */
export interface LocationRuntime {
  readonly conf: LocationConf;
  readonly handler: Handler;
  readonly filters: FilterConf;
  /** `try_files`, compiled; null without one. */
  readonly tryFiles: CompiledTryFiles | null;
  readonly accessLogs: readonly AccessLog[];
  readonly log: Logger;
  /** The `Server` header and error page signature (`server_tokens`). */
  readonly signature: string;
  /** The location's request, WebSocket and proxy counters (for stub_status and metrics). */
  readonly metrics: LocationCounters;
}

/** One server block, ready to serve. */
export interface ServerRuntime {
  readonly conf: ServerConf;
  readonly locations: LocationTable;
  /** The `Server` header and error page signature. */
  readonly signature: string;
  readonly log: Logger;
  readonly accessLogs: readonly AccessLog[];
  readonly filters: FilterConf;
}

/** One listening socket and the servers on it. */
export interface ListenerRuntime {
  readonly listen: ListenSpec;
  readonly servers: ServerTable;
  /** TLS options when any `listen` of this socket says `ssl`, else null. */
  readonly tls: TlsOptions | null;
}

/** Everything built from one configuration. */
export class Runtime {
  readonly listeners: ListenerRuntime[] = [];
  private readonly locations = new Map<LocationConf, LocationRuntime>();
  private readonly serverRuntimes = new Map<ServerConf, ServerRuntime>();

  private constructor(
    readonly conf: MainConf,
    readonly log: Logger,
    /** The push channels every handler of this process shares. */
    readonly push: Fanout,
  ) {}

  /** Creates every handler (`create`) and compiles what requests will use. */
  static async build(conf: MainConf, log: Logger, files: LogFiles): Promise<Runtime> {
    const runtime = new Runtime(conf, log, createPushChannels(conf, log));
    const formats = new Map<string, LogFormatConf>([['combined', { format: COMBINED_FORMAT, escape: 'default' }], ...conf.http.logFormats]);
    const accessLogs = (logs: LocationConf['accessLogs']) =>
      logs.map((l) => createAccessLog(l.path, formats.get(l.format)!, conf.captureNames, files));
    const logger = (c: ServerConf | LocationConf) => (c.errorLog ? createErrorLog(c.errorLog, files) : log);
    for (const server of conf.http.servers) {
      const serverLog = logger(server);
      for (const location of [...server.locations, server.serverLocation]) {
        const locationLog = logger(location);
        const metrics = registerLocation(server, location);
        const module = resolveHandler(location.handler, conf.prefix, conf.handlersDir);
        const handler = await module.create(location.handlerOptions, { log: locationLog, prefix: conf.prefix, location, push: runtime.push });
        runtime.locations.set(location, {
          conf: location,
          handler,
          filters: compileFilters(location, conf.captureNames),
          tryFiles: compileTryFiles(location, conf.captureNames),
          accessLogs: accessLogs(location.accessLogs),
          log: locationLog,
          signature: serverSignature(location.serverTokens),
          metrics,
        });
      }
      runtime.serverRuntimes.set(server, {
        conf: server,
        locations: new LocationTable(server.locations),
        signature: serverSignature(server.serverTokens),
        log: serverLog,
        accessLogs: accessLogs(server.accessLogs),
        filters: compileFilters(server, conf.captureNames),
      });
    }
    runtime.listeners.push(...groupByListen(conf.http.servers));
    return runtime;
  }

  location(conf: LocationConf): LocationRuntime {
    return this.locations.get(conf)!;
  }

  server(conf: ServerConf): ServerRuntime {
    return this.serverRuntimes.get(conf)!;
  }

  /** Closes every handler (upstream agents, script resources), then the push channels. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.locations.values()].map((l) => l.handler.close?.()));
    await this.push.close();
  }
}

/**
 * Groups servers by the socket they listen on. The default server of a socket is the one whose
 * `listen` says `default_server`, else the first; socket options come from that occurrence;
 * the socket speaks TLS when any of its `listen`s says `ssl`.
 */
function groupByListen(servers: readonly ServerConf[]): ListenerRuntime[] {
  const groups = new Map<string, { listen: ListenSpec; servers: ServerConf[]; defaultServer: ServerConf | null; ssl: boolean }>();
  for (const server of servers) {
    for (const listen of server.listens) {
      let group = groups.get(listen.key);
      if (!group) {
        group = { listen, servers: [], defaultServer: null, ssl: false };
        groups.set(listen.key, group);
      }
      if (!group.servers.includes(server)) group.servers.push(server);
      group.ssl ||= listen.ssl;
      if (listen.defaultServer) {
        group.defaultServer = server;
        group.listen = listen;
      }
    }
  }
  return [...groups.values()].map((g) => {
    const table = new ServerTable(g.servers, g.defaultServer ?? g.servers[0]);
    return { listen: g.listen, servers: table, tls: g.ssl ? listenerTlsOptions(table, g.servers) : null };
  });
}
