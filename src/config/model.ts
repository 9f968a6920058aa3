/**
 * The checked, merged, frozen configuration: what `gateway -t` proves and what the server runs.
 * A block (http, server, location) holds each module's own conf (`confs`, nginx's
 * `loc_conf[module.ctx_index]`); the structure around them (listens, names, locations, the
 * content handler) is the configuration's own. Times are milliseconds, sizes bytes.
 */
import type { Position } from '../errors';
import type { ModuleConfs } from './module-confs';
import type { ListenSpec, LocationMatch, ServerName } from './values';

export type LogLevel = 'debug' | 'info' | 'notice' | 'warn' | 'error' | 'crit' | 'alert' | 'emerg';

/** `error_log path [level]`; `stderr` is a path. */
export interface ErrorLogConf {
  readonly path: string;
  readonly level: LogLevel;
}

/** One `log_format`: the template and how variable values are escaped (`escape=`). */
export interface LogFormatConf {
  readonly format: string;
  readonly escape: 'default' | 'json' | 'none';
}

/** One `access_log path [format]`. */
export interface AccessLogConf {
  readonly path: string;
  readonly format: string;
}

/** One `location` block. */
export interface LocationConf {
  readonly match: LocationMatch;
  /** The `location` argument as written, for logs. */
  readonly name: string;
  /** The content handler's name (`static`, `proxy`, `return`, `websocket-script`, or a module). */
  readonly handler: string;
  /** What the handler's `configure` returned from its own keys: the handler's options. */
  readonly handlerOptions: unknown;
  readonly position: Position;
  /** Each module's conf of this location, merged with the server's and http's. */
  readonly confs: ModuleConfs;
  /** The locations nested in this one (nginx's nested `location` blocks), inheriting from it; empty for most. */
  readonly locations: readonly LocationConf[];
  /**
   * The locations nested in it that nginx makes of its blocks (`if` with directives other than
   * the rewrite module's), by the key their module gave (`ConfModule.innerBlocks`).
   */
  readonly inner?: ReadonlyMap<object, LocationConf>;
}

/** One `server` block. */
export interface ServerConf {
  readonly listens: readonly ListenSpec[];
  readonly serverNames: readonly ServerName[];
  /** The first `server_name`, used in redirects and `$server_name`. */
  readonly primaryName: string;
  readonly locations: readonly LocationConf[];
  /**
   * The server's own settings as a location (the static handler, the server's `try_files`):
   * what serves a URI that no location matches, as in nginx.
   */
  readonly serverLocation: LocationConf;
  readonly position: Position;
  /** Each module's conf of this server, merged with http's. */
  readonly confs: ModuleConfs;
}

/** The `http` block. */
export interface HttpConf {
  readonly servers: readonly ServerConf[];
  /** Each module's conf of the http block (`upstreams`, `log_format`, `push_redis_url`...). */
  readonly confs: ModuleConfs;
}

/** The whole configuration. */
export interface MainConf {
  /** The configuration file, absolute. */
  readonly file: string;
  /** The prefix that relative paths resolve against (`-p`). */
  readonly prefix: string;
  readonly workerProcesses: number;
  /** `master_process off` runs everything in one process (nginx's debugging mode): no reload. */
  readonly masterProcess: boolean;
  /** `worker_shutdown_timeout`: how long an old worker may drain (ms); null waits for ever. */
  readonly workerShutdownTimeout: number | null;
  readonly pid: string | null;
  readonly errorLog: ErrorLogConf;
  readonly workerConnections: number;
  readonly handlersDir: string;
  /** Named captures of every regex in the file (nginx makes each a variable), and the variables directives declare (`auth_request_set`). */
  readonly captureNames: ReadonlySet<string>;
  readonly http: HttpConf;
  /** Each module's conf of the main and events blocks (the process-level tuning: `user`, `worker_rlimit_nofile`...). */
  readonly main: ModuleConfs;
  /**
   * The content handler module each location's `handler:` resolved to at load (kept as it is:
   * not frozen): what the registry's resolver gave, a `HandlerModule` for the gateway's.
   */
  readonly handlers: ReadonlyMap<LocationConf, object>;
  /** What nginx would warn of while reading the file (obsolete and deprecated directives), each as one line with file:line:column. */
  readonly warnings: readonly string[];
}
