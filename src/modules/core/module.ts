/**
 * The core module's directives (nginx's ngx_core_module, ngx_events_module and
 * ngx_http_core_module): processes and connections at the top; at http, server and location
 * the document root, types, file lookups, error pages, the `Server` header, client body and
 * timeouts, and `try_files`.
 */
import path from 'node:path';
import { argsOf, documentPath, flag, guard, integer, occurrences, onOffArgs, one, oneOf, prefixPath, size, text, time, timerTime, boundedTime, type ParseContext } from '../../config/args';
import type { CoreFields } from '../../config/build';
import type { ConfNode } from '../../config/load';
import { plainValue } from '../../config/load';
import { BUILTIN_TYPES, parseNginxTypes, typesFromMap, type MimeTypes } from '../../config/mime';
import type { ErrorLogConf, LogLevel } from '../../config/model';
import { INHERITED, row, type ConfModule } from '../../config/module';
import { parseDisableSymlinks, parseOpenFileCache, parseTime, type DisableSymlinksConf, type OpenFileCacheConf } from '../../config/values';
import { compileValue } from '../../http/variables';

/** `error_page code ... [=[response]] uri`. */
export interface ErrorPageConf {
  readonly codes: readonly number[];
  /** `=code` changes the status; `=` alone takes the status of the page's own response. */
  readonly response: number | 'page' | null;
  readonly uri: string;
}

/**
 * The core module's conf of a block: the process-level fields the configuration itself reads
 * (`CoreFields`: worker_processes, master_process, worker_shutdown_timeout, pid, handlers_dir,
 * worker_connections, error_log), and the http core's.
 */
export interface CoreConf extends CoreFields {
  readonly root: string;
  /** `alias` (a location's own: not inherited). */
  readonly alias: string | null;
  readonly types: MimeTypes;
  readonly defaultType: string;
  readonly etag: boolean;
  readonly ifModifiedSince: 'off' | 'exact' | 'before';
  readonly disableSymlinks: DisableSymlinksConf;
  readonly openFileCache: OpenFileCacheConf | null;
  /** `open_file_cache_valid`: how long a cached stat is trusted (ms). */
  readonly openFileCacheValid: number;
  readonly openFileCacheMinUses: number;
  readonly openFileCacheErrors: boolean;
  readonly errorPages: readonly ErrorPageConf[];
  readonly serverTokens: boolean;
  readonly clientMaxBodySize: number;
  /**
   * `satisfy all|any`: whether every access-phase module must let the client in (`all`) or one
   * is enough (`any`), compiled per location into its access phase (see server/phase-engine.ts).
   */
  readonly satisfy: 'all' | 'any';
  /** `auth_delay` (ms): how much later an access-phase 401 is answered (0: at once). */
  readonly authDelay: number;
  /** `internal` (a location's own): only internal requests (subrequests, redirects) reach it; a client gets 404. */
  readonly internal: boolean;
  /** `keepalive_timeout timeout [header_timeout]`: how long an idle connection waits (ms), and the `Keep-Alive: timeout=` it is told (seconds; 0: none). */
  readonly keepaliveTimeout: KeepaliveTimeout;
  /** `keepalive_requests`: the requests one connection serves (HTTP/2: streams one session opens) before it closes. */
  readonly keepaliveRequests: number;
  readonly sendTimeout: number;
  readonly clientHeaderTimeout: number;
  readonly clientBodyTimeout: number;
  /** `client_body_buffer_size`: how much of a request body is kept in memory before a temporary file. */
  readonly clientBodyBufferSize: number;
  /** `client_body_temp_path`: where request bodies larger than the buffer go. */
  readonly clientBodyTempPath: string;
  /** `lingering_time`: how long an unread request body is read at most after the answer (ms). */
  readonly lingeringTime: number;
  /** `lingering_timeout`: how long the client may pause while it is (ms). */
  readonly lingeringTimeout: number;
  /** `try_files` (a server's or a location's own: not inherited). */
  readonly tryFiles: readonly string[] | null;
}

const LEVELS: readonly LogLevel[] = ['debug', 'info', 'notice', 'warn', 'error', 'crit', 'alert', 'emerg'];

function errorLog(node: ConfNode, cx: ParseContext): ErrorLogConf {
  const args = argsOf(node, cx);
  if (args.length < 1 || args.length > 2) cx.fail('invalid number of arguments in "error_log" directive', node);
  const level = (args[1] ?? 'error') as LogLevel;
  if (!LEVELS.includes(level)) cx.fail(`invalid log level "${args[1]}"`, node);
  return { path: args[0] === 'stderr' ? 'stderr' : path.resolve(cx.prefix, args[0]), level };
}

function errorPages(node: ConfNode, cx: ParseContext): ErrorPageConf[] {
  return occurrences(node).map((n) => {
    const args = argsOf(n, cx);
    const uri = args.pop();
    if (!uri || args.length === 0) cx.fail('invalid number of arguments in "error_page" directive', n);
    let response: ErrorPageConf['response'] = null;
    if (args[args.length - 1].startsWith('=')) {
      const change = args.pop()!.slice(1);
      response = change === '' ? 'page' : Number(change);
      if (response !== 'page' && !(Number.isInteger(response) && response >= 100 && response <= 599)) cx.fail(`invalid value "=${change}"`, n);
    }
    const codes = args.map((a) => {
      const code = Number(a);
      if (!/^\d{3}$/.test(a) || code < 300 || code > 599) cx.fail(`value "${a}" must be between 300 and 599`, n);
      return code;
    });
    return { codes, response, uri };
  });
}

function types(node: ConfNode, cx: ParseContext): MimeTypes {
  // A type may stand on several lines (nginx's `types {}` block, Debian's mime.types): each adds its extensions.
  if (node.kind === 'map') return guard(node, cx, () => new Map(node.entries.flatMap((e) => [...typesFromMap({ [e.key]: plainValue(e.value) })])));
  const file = path.resolve(path.dirname(cx.file), one(node, cx, 'types'));
  return guard(node, cx, () => {
    let content: string;
    try {
      content = cx.readFile(file);
    } catch (err) {
      throw new Error(`open() "${file}" failed (${(err as NodeJS.ErrnoException).code})`);
    }
    if (/\.ya?ml$/.test(file)) throw new Error('a YAML types table is written inline as a map');
    try {
      return parseNginxTypes(content);
    } catch (err) {
      throw new Error(`${(err as Error).message} in types file "${file}"`);
    }
  });
}

/** `keepalive_timeout`'s two values. */
export interface KeepaliveTimeout {
  /** How long an idle keep-alive connection is kept (ms; 0: none is kept). */
  readonly ms: number;
  /** nginx's `Keep-Alive: timeout=N` response header, in whole seconds (0: not sent, nginx's default). */
  readonly headerSeconds: number;
}

/**
 * `keepalive_timeout timeout [header_timeout]`: the first feeds the socket's timer; the second,
 * in whole seconds as nginx checks it, is the `Keep-Alive: timeout=` header nginx sends only
 * when it is given.
 */
function keepaliveTimeout(node: ConfNode, cx: ParseContext, name: string): KeepaliveTimeout {
  const args = argsOf(node, cx);
  if (args.length < 1 || args.length > 2) cx.fail('invalid number of arguments in "keepalive_timeout" directive', node);
  if (args.length === 2 && /ms/.test(args[1])) cx.fail(`invalid time "${args[1]}" in "keepalive_timeout" (the header timeout is in whole seconds)`, node);
  const headerSeconds = args.length === 2 ? Math.floor(guard(node, cx, () => parseTime(args[1])) / 1000) : 0;
  return { ms: guard(node, cx, () => boundedTime(args[0], name)), headerSeconds };
}

/**
 * Checks `try_files` arguments as nginx does at load: at least two, and a last `=code`
 * must be a number up to 999. Throws nginx's reason.
 */
export function checkTryFiles(args: readonly string[]): void {
  if (args.length < 2) throw new Error('invalid number of arguments in "try_files" directive');
  const last = args[args.length - 1];
  if (last.startsWith('=') && (!/^\d+$/.test(last.slice(1)) || Number(last.slice(1)) > 999)) throw new Error(`invalid code "${last}"`);
}

/** `try_files`: checked as nginx checks it, its variables known. */
function tryFiles(node: ConfNode, cx: ParseContext): string[] {
  const args = argsOf(node, cx);
  guard(node, cx, () => checkTryFiles(args));
  for (const arg of args) guard(node, cx, () => compileValue(arg, cx.captureNames));
  return args;
}

/** `disable_symlinks`, its `from=` variables known. */
function disableSymlinks(node: ConfNode, cx: ParseContext): DisableSymlinksConf {
  const conf = guard(node, cx, () => parseDisableSymlinks(onOffArgs(node, cx)));
  if (conf.from) guard(node, cx, () => compileValue(conf.from!, cx.captureNames));
  return conf;
}

/**
 * `internal`: nginx's `internal;` (no argument), written `internal:` with no value or
 * `internal: on` (YAML needs a value).
 */
function internal(node: ConfNode, cx: ParseContext): true {
  if (node.kind === 'scalar' && (node.value === null || node.value === true || node.value === 'on' || node.value === '')) return true;
  return cx.fail('invalid number of arguments in "internal" directive (it takes none; write "internal:" or "internal: on")', node);
}

export const coreModule: ConfModule<CoreConf> = {
  name: 'core',
  directives: {
    worker_processes: row(['main'], (n, cx, name) => (one(n, cx, name) === 'auto' ? 'auto' : integer(1, 1024)(n, cx, name))),
    pid: row(['main'], (n, cx, name) => (one(n, cx, name, true) === 'off' ? null : prefixPath(n, cx, name))),
    handlers_dir: row(['main'], prefixPath),
    master_process: row(['main'], flag),
    worker_shutdown_timeout: row(['main'], timerTime),
    worker_connections: row(['events'], integer(1, 1_000_000)),
    error_log: row(['main', ...INHERITED], errorLog),
    root: row(INHERITED, documentPath),
    alias: row(['location'], documentPath, { inherit: false }),
    types: row(INHERITED, types, { combine: (earlier, later) => new Map([...(earlier as MimeTypes), ...(later as MimeTypes)]) }),
    default_type: row(INHERITED, text),
    etag: row(INHERITED, flag),
    if_modified_since: row(INHERITED, oneOf(['off', 'exact', 'before'])),
    disable_symlinks: row(INHERITED, disableSymlinks),
    open_file_cache: row(INHERITED, (n, cx) => guard(n, cx, () => parseOpenFileCache(onOffArgs(n, cx)))),
    open_file_cache_valid: row(INHERITED, time),
    open_file_cache_min_uses: row(INHERITED, integer(0, 1_000_000)),
    open_file_cache_errors: row(INHERITED, flag),
    error_page: row(INHERITED, errorPages, { field: 'errorPages', multiple: true }),
    server_tokens: row(INHERITED, flag),
    client_max_body_size: row(INHERITED, size),
    satisfy: row(INHERITED, oneOf(['all', 'any'])),
    auth_delay: row(INHERITED, timerTime),
    internal: row(['location'], internal, { inherit: false }),
    keepalive_timeout: row(INHERITED, keepaliveTimeout),
    keepalive_requests: row(INHERITED, integer(0, Number.MAX_SAFE_INTEGER)),
    send_timeout: row(INHERITED, timerTime),
    client_header_timeout: row(['http', 'server'], timerTime),
    client_body_timeout: row(INHERITED, timerTime),
    client_body_buffer_size: row(INHERITED, size),
    client_body_temp_path: row(INHERITED, (n, cx, name) => {
      const args = argsOf(n, cx);
      if (args.length > 1) cx.fail(`the levels of "${name}" are not supported yet`, n);
      return prefixPath(n, cx, name);
    }),
    lingering_time: row(INHERITED, timerTime),
    lingering_timeout: row(INHERITED, timerTime),
    try_files: row(['server', 'location'], tryFiles, { inherit: false }),
  },
  defaults: (prefix) => ({
    workerProcesses: 1,
    masterProcess: true,
    workerShutdownTimeout: null,
    pid: path.resolve(prefix, 'logs/gateway.pid'),
    handlersDir: path.resolve(prefix, 'handlers'),
    workerConnections: 512,
    errorLog: null,
    root: path.resolve(prefix, 'html'),
    alias: null,
    types: BUILTIN_TYPES,
    defaultType: 'text/plain',
    etag: true,
    ifModifiedSince: 'exact',
    disableSymlinks: { mode: 'off', from: null },
    openFileCache: null,
    openFileCacheValid: 60_000,
    openFileCacheMinUses: 1,
    openFileCacheErrors: false,
    errorPages: [],
    serverTokens: true,
    clientMaxBodySize: 1024 * 1024,
    satisfy: 'all',
    authDelay: 0,
    internal: false,
    keepaliveTimeout: { ms: 75_000, headerSeconds: 0 },
    keepaliveRequests: 1000,
    sendTimeout: 60_000,
    clientHeaderTimeout: 60_000,
    clientBodyTimeout: 60_000,
    clientBodyBufferSize: 16 * 1024,
    clientBodyTempPath: path.resolve(prefix, 'client_body_temp'),
    lingeringTime: 30_000,
    lingeringTimeout: 5_000,
    tryFiles: null,
  }),
  check(_conf, own, block, fail) {
    if (own.alias !== undefined && own.root !== undefined) fail('"alias" directive is duplicate, "root" directive was specified earlier', block.position);
  },
};
