/**
 * The checked, merged, frozen configuration: what `gateway -t` proves and what the server runs.
 * Field names follow nginx's directives in camelCase; times are milliseconds, sizes bytes.
 */
import type { AccessRules } from '../modules/access/access-rules';
import type { Position } from '../errors';
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

/** `add_header name value [always]`. */
export interface AddHeaderConf {
  readonly name: string;
  readonly value: string;
  readonly always: boolean;
}

/** `error_page code ... [=[response]] uri`. */
export interface ErrorPageConf {
  readonly codes: readonly number[];
  /** `=code` changes the status; `=` alone takes the status of the page's own response. */
  readonly response: number | 'page' | null;
  readonly uri: string;
}

/** `return code [text|URL]` or `return URL` (302). */
export interface ReturnConf {
  readonly status: number;
  readonly text: string | null;
}

/**
 * `expires`: `off`, `epoch`, `max`, a time from the access (`access`), from Last-Modified
 * (`modified`), a time of day (`daily`, `@15h`); `seconds` may be negative. A value with
 * variables is read per request.
 */
export type ExpiresConf =
  | { readonly kind: 'off' | 'epoch' | 'max' }
  | { readonly kind: 'access' | 'modified' | 'daily'; readonly seconds: number }
  | { readonly kind: 'variable'; readonly template: string; readonly modified: boolean };

/** `disable_symlinks off|on|if_not_owner [from=part]`; `from` may hold variables. */
export interface DisableSymlinksConf {
  readonly mode: 'off' | 'on' | 'if_not_owner';
  readonly from: string | null;
}

/** `open_file_cache max=N [inactive=time]` (`off` is null). */
export interface OpenFileCacheConf {
  readonly max: number;
  /** Entries unused this long are dropped (ms; nginx's default 60s). */
  readonly inactive: number;
}

/** A MIME type table (`types`), looked up by lower-case file extension. */
export type MimeTypes = ReadonlyMap<string, string>;

/**
 * The directives that inherit http -> server -> location, merged: every field is set, either
 * from the nearest level that wrote it or from nginx's default.
 */
export interface CommonConf {
  readonly root: string;
  readonly index: readonly string[];
  readonly autoindex: boolean;
  readonly types: MimeTypes;
  readonly defaultType: string;
  readonly etag: boolean;
  readonly ifModifiedSince: 'off' | 'exact' | 'before';
  readonly gzip: boolean;
  readonly gzipMinLength: number;
  /** MIME types to compress besides text/html; `*` compresses any. */
  readonly gzipTypes: readonly string[];
  readonly gzipCompLevel: number;
  readonly gzipVary: boolean;
  readonly gzipHttpVersion: '1.0' | '1.1';
  /** `gzip_proxied`: off or any (compress responses to requests that came through a proxy). */
  readonly gzipProxied: 'off' | 'any';
  /** `gzip_disable`: User-Agent regexes (case-insensitive), or `msie6`, that get no gzip. */
  readonly gzipDisable: readonly string[];
  /** `gzip_static`: serve `file.gz` beside `file` to clients that take gzip (`always`: to all). */
  readonly gzipStatic: 'off' | 'on' | 'always';
  /** `expires`: Expires and Cache-Control on 2xx/3xx responses. */
  readonly expires: ExpiresConf;
  readonly disableSymlinks: DisableSymlinksConf;
  readonly openFileCache: OpenFileCacheConf | null;
  /** `open_file_cache_valid`: how long a cached stat is trusted (ms). */
  readonly openFileCacheValid: number;
  readonly openFileCacheMinUses: number;
  readonly openFileCacheErrors: boolean;
  readonly addHeaders: readonly AddHeaderConf[];
  readonly errorPages: readonly ErrorPageConf[];
  readonly serverTokens: boolean;
  readonly accessLogs: readonly AccessLogConf[];
  readonly errorLog: ErrorLogConf | null;
  readonly clientMaxBodySize: number;
  readonly keepaliveTimeout: number;
  readonly sendTimeout: number;
  readonly clientHeaderTimeout: number;
  readonly clientBodyTimeout: number;
  /** `client_body_buffer_size`: how much of a buffered request body is kept in memory; the rest goes to a file. */
  readonly clientBodyBufferSize: number;
  /** `client_body_temp_path`: where those files are made (unlinked at once). */
  readonly clientBodyTempPath: string;
  /** `lingering_time`: how long a body nobody read is read and thrown away after the response (ms). */
  readonly lingeringTime: number;
  /** `lingering_timeout`: the longest wait for more of such a body, between two reads (ms). */
  readonly lingeringTimeout: number;
  /** `ssl_certificate` and `ssl_certificate_key` (PEM files), null when not set. */
  readonly sslCertificate: string | null;
  readonly sslCertificateKey: string | null;
  /** `ssl_protocols`: nginx's names, `TLSv1.2 TLSv1.3` by default. */
  readonly sslProtocols: readonly string[];
  readonly sslCiphers: string;
  readonly proxySetHeaders: readonly (readonly [string, string])[];
  readonly proxyConnectTimeout: number;
  readonly proxyReadTimeout: number;
  readonly proxySendTimeout: number;
  readonly proxyHttpVersion: '1.0' | '1.1';
  /** `proxy_next_upstream`: the conditions that pass a request to the next peer (`error timeout`); empty is `off`. */
  readonly proxyNextUpstream: readonly NextUpstreamCondition[];
  /** `proxy_next_upstream_tries` (0: no limit). */
  readonly proxyNextUpstreamTries: number;
  /** `proxy_next_upstream_timeout` in ms (0: no limit). */
  readonly proxyNextUpstreamTimeout: number;
  /**
   * `allow`/`deny` (and `access`, their ordered list), compiled; null: none. A level with any
   * rule replaces the rules above it whole, as nginx's arrays.
   */
  readonly accessRules: AccessRules | null;
  /** `proxy_buffering`: read the upstream's response ahead of the client (on), or pass each chunk at once (off). */
  readonly proxyBuffering: boolean;
  /** `proxy_request_buffering`: read the request body whole before the upstream is contacted (on), or stream it (off). */
  readonly proxyRequestBuffering: boolean;
  /** `proxy_hide_header`: upstream response headers not passed on, besides nginx's default list. */
  readonly proxyHideHeaders: readonly string[];
  /** `proxy_pass_header`: headers of nginx's default hidden list passed on after all. */
  readonly proxyPassHeaders: readonly string[];
  /** `proxy_redirect`: how Location and Refresh are rewritten; `off` is an empty list. */
  readonly proxyRedirect: readonly ProxyRedirectConf[];
  /** `message_buffer_length`: messages a push channel keeps for late subscribers (10). */
  readonly messageBufferLength: number;
  /** `message_timeout`: how long a push channel keeps a message (ms, 1h). */
  readonly messageTimeout: number;
}

/**
 * One `proxy_redirect`: `default` (the `proxy_pass` URL replaced by the location's prefix,
 * resolved by the proxy handler) or `redirect replacement`, both may hold variables.
 */
export type ProxyRedirectConf = 'default' | { readonly redirect: string; readonly replacement: string };

/** What `proxy_next_upstream` may name. */
export type NextUpstreamCondition =
  | 'error' | 'timeout' | 'invalid_header' | 'non_idempotent'
  | 'http_500' | 'http_502' | 'http_503' | 'http_504' | 'http_403' | 'http_404' | 'http_429';

/** One `location` block. */
export interface LocationConf extends CommonConf {
  readonly match: LocationMatch;
  /** The `location` argument as written, for logs. */
  readonly name: string;
  /** The content handler's name (`static`, `proxy`, `return`, `websocket-script`, or a module). */
  readonly handler: string;
  readonly alias: string | null;
  readonly tryFiles: readonly string[] | null;
  readonly proxyPass: string | null;
  /** The upstream `proxy_pass http://NAME` names, if NAME is one (unset: none). */
  readonly upstream?: UpstreamConf | null;
  readonly return: ReturnConf | null;
  /** What the handler's `configure` returned from its own keys: the handler's options. */
  readonly handlerOptions: unknown;
  readonly position: Position;
}

/** One `server` block. */
export interface ServerConf extends CommonConf {
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
}

/** One `server` line of an upstream block, with nginx's defaults filled in. */
export interface UpstreamServerConf {
  /** `host:port` as nginx names the peer in logs and `$upstream_addr`. */
  readonly name: string;
  /** The host name or address, without the brackets of an IPv6 literal. */
  readonly host: string;
  readonly port: number;
  /** `weight=N` (1). */
  readonly weight: number;
  /** `max_fails=N` (1; 0 turns the accounting off). */
  readonly maxFails: number;
  /** `fail_timeout=T` in ms (10s). */
  readonly failTimeout: number;
  readonly backup: boolean;
  readonly down: boolean;
}

/** How an upstream picks a peer: weighted round robin unless told otherwise. */
export type BalanceMethod =
  | { readonly kind: 'round_robin' }
  | { readonly kind: 'least_conn' }
  | { readonly kind: 'ip_hash' }
  | { readonly kind: 'hash'; readonly key: string; readonly consistent: boolean };

/** One `upstreams` entry: nginx's `upstream NAME { ... }`. */
export interface UpstreamConf {
  readonly name: string;
  readonly servers: readonly UpstreamServerConf[];
  /** `keepalive N`: idle connections kept per worker (null: the agent's default). */
  readonly keepalive: number | null;
  readonly method: BalanceMethod;
  readonly position: Position;
}

/** The `http` block. */
export interface HttpConf {
  readonly servers: readonly ServerConf[];
  readonly logFormats: ReadonlyMap<string, LogFormatConf>;
  /** `upstreams`, by name. */
  readonly upstreams: ReadonlyMap<string, UpstreamConf>;
  /** `push_redis_url`: the Redis that push channels live in (`redis://host:port[/db]`), null: this gateway alone. */
  readonly pushRedisUrl: string | null;
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
  /** Named captures of every regex in the file: nginx makes each a variable. */
  readonly captureNames: ReadonlySet<string>;
  readonly http: HttpConf;
}
