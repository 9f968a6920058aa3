/**
 * The contract for handler, script and module authors. A location's `handler:` names a module
 * that exports a `HandlerModule` (as its default export); `websocket-script` locations name a
 * module that exports a `WebSocketScript`. The built-in handlers use this contract and nothing
 * more; the built-in modules' phase handlers and response filters are written against the
 * same `RequestContext`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex, Transform, Writable } from 'node:stream';
import type { ConfigContext } from './config/handler-contract';
import type { HttpConf, LocationConf, ServerConf } from './config/model';
import type { Template, UpstreamTry } from './http/variables';

export type { ConfigContext } from './config/handler-contract';
export type { LocationConf, ServerConf, HttpConf, MainConf } from './config/model';
export type { ConfModule, DirectiveRow } from './config/module';
export type { ModuleConfs } from './config/module-confs';
export type { Template } from './http/variables';
export { HttpError, ConfigError, InternalRedirect } from './errors';

/** A logger writing to the `error_log` at nginx's levels. */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  notice(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  crit(message: string): void;
  /** nginx's `alert` level (a zone that cannot hold a new node); loggers without it use `crit`. */
  alert?(message: string): void;
}

/** What the gateway knows about one request once its server and location are chosen. */
export interface RequestContext {
  /** The normalized, percent-decoded path (`$uri`). */
  readonly uri: string;
  /** The query string without `?` (`$args`), `''` when there is none. */
  readonly args: string;
  /** Captures of the matched regex location (`$1`...), `[0]` being the whole match. */
  readonly captures: readonly string[];
  /** Named captures of the regex location and of a regex `server_name`. */
  readonly namedCaptures: Readonly<Record<string, string>>;
  readonly server: ServerConf;
  readonly location: LocationConf;
  /** `http` or `https`. */
  readonly scheme: string;
  /** The host the request is for (`$host`): Host header without port, lower case, else the server name. */
  readonly host: string;
  readonly log: Logger;
  /**
   * The client's own request: this request's, or for a subrequest its parent's (nginx's
   * `r->main`), whose line `$request`, `$request_uri` and `$request_method` give.
   */
  readonly mainRequest: IncomingMessage;
  /**
   * The client's address (`$remote_addr`): the connection's peer (`''` for a unix-domain
   * socket), or the address the realip module found (`set_real_ip_from`), which only it sets.
   */
  readonly remoteAddress: string;
  /**
   * What the request's phase handlers, filters and content handler share, as OpenResty's
   * `ngx.ctx`: a fresh object per request (a module keeps its entries under a symbol of its own).
   */
  readonly data: Record<string | symbol, unknown>;
  /** Looks up an nginx variable by name without `$` (`host`, `arg_page`, `http_user_agent`). */
  variable(name: string): string;
  /**
   * Sets, for this request, a variable its module declares (`$remote_user`, `$limit_req_status`:
   * the names in `http/variables.ts`); throws for any other name.
   */
  setVariable(name: string, value: string): void;
  /** The value of a template compiled at load (`cx.compile`) for this request. */
  evaluate(template: Template): string;
  /**
   * The last upstream response's raw header lines (`$upstream_http_*`), null before one came:
   * set by the proxy when an upstream answers.
   */
  upstreamHeaders: readonly string[] | null;
  /** Each try of an upstream for this request (`$upstream_addr`, `$upstream_status`, times...), null before one: the proxy adds them. */
  upstreamTries: UpstreamTry[] | null;
  /**
   * Set when a script changed `$uri` or `$args` (`ScriptRequest.setUri`, `setUriArgs`, as
   * OpenResty clears nginx's `valid_unparsed_uri`): a `proxy_pass` without a URI then sends
   * `$uri?$args` instead of the client's request URI.
   */
  uriChanged?: boolean;
  /**
   * Set when `rewrite ... break` (or `break` after a `rewrite`) changed `$uri` in the location
   * serving it (nginx's `valid_location` cleared): a `proxy_pass` with a URI then sends the
   * whole `$uri`, its own URI ignored, as nginx documents. Cleared when a location is found.
   */
  rewrittenInPlace?: boolean;
  /**
   * Runs a subrequest (nginx's `ngx_http_subrequest`, OpenResty's `ngx.location.capture`): the
   * URI goes through this server's locations in process (no socket), its rewrite and
   * precontent phases and content handler run (not its access phase, as in nginx), with this
   * request's variables; resolves with its status, headers and, if asked, body. Never
   * rejects: a failure is its status (a 502 of the proxy, a 500; 499 when the client went
   * away before the subrequest answered).
   */
  subrequest(spec: SubrequestSpec): Promise<SubrequestResult>;
  /**
   * Changes `$uri` for what follows in this location (`try_files`; OpenResty's
   * `ngx.req.set_uri(uri)`); to match the locations again, throw an `InternalRedirect`.
   */
  setUri(uri: string): void;
  /**
   * Whether the response filters will transform (compress) a body of this type and length for
   * this request: a handler that serves byte ranges asks first, since a compressed response
   * takes no ranges (nginx's gzip filter turns the range filter off).
   */
  transforms(contentType: string, length: number): boolean;
  /**
   * For a handler about to send a whole file, its header written: when the response filters
   * transform the body only by transforms whose output depends on the body alone (gzip), and
   * this worker kept their output for the same file (`identity`: its device, inode, size and
   * times) from an earlier response, ends the response with it and answers true (the handler
   * sends nothing more). Otherwise answers false, and what the filters make of the body the
   * handler now sends is kept for the next response of that file, within the worker's budget.
   */
  reuseTransformedFile(identity: string): boolean;
}

/** What a subrequest asks for (`RequestContext.subrequest`). */
export interface SubrequestSpec {
  /** `GET` unless given (nginx's subrequests are GETs). */
  readonly method?: string;
  /** The path, as locations match it (no `?`). */
  readonly uri: string;
  /** The query string without `?`. */
  readonly args?: string;
  /** The request headers; by default the parent's, without its body's framing (a subrequest has no body). */
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
  /** A request body for the subrequest (`ngx.location.capture`'s `body`): sent with its Content-Length. */
  readonly requestBody?: Buffer;
  /**
   * Whether the response body is kept (`ngx.location.capture`). Without it the subrequest is
   * over once its header is known, as nginx's `header_only` subrequest of auth_request; the body
   * is dropped.
   */
  readonly body?: boolean;
  /**
   * nginx's NGX_HTTP_SUBREQUEST_CLONE (the slice module's subrequests): `uri` and `args` are the
   * parent's, served by the parent's location with its content handler alone (no phase before
   * the content phase runs again, no location is looked up).
   */
  readonly clone?: boolean;
  /** Entries the subrequest's `ctx.data` starts with (nginx's `ngx_http_set_ctx` on a subrequest). */
  readonly data?: Readonly<Record<symbol, unknown>>;
  /**
   * Where the body goes as it comes, with the sink's backpressure, instead of being kept or
   * dropped (the slice module's subrequests, whose output is the parent's). The promise then
   * resolves once the body is all written and `sink.body` ended, or the subrequest was cut (its
   * body not ended).
   */
  readonly sink?: SubrequestSink;
}

/** A streamed subrequest's destination (`SubrequestSpec.sink`). */
export interface SubrequestSink {
  /**
   * The subrequest's status and headers (lower-case names), before any of its body: false cuts
   * the subrequest there, as an nginx header filter's error.
   */
  header(status: number, headers: Readonly<Record<string, string | string[] | number | undefined>>, ctx: RequestContext): boolean;
  /** The body's bytes, in order; its `end` is called once the body is whole. */
  readonly body: Writable;
}

/** How a subrequest ended. */
export interface SubrequestResult {
  readonly status: number;
  /** The response headers it would have sent, lower-case names. */
  readonly headers: Readonly<Record<string, string | string[] | number | undefined>>;
  /** The body when asked for (`SubrequestSpec.body`), else null. */
  readonly body: Buffer | null;
  /** The subrequest itself: variables such as `$upstream_http_*` and `$sent_http_*` read from it. */
  readonly context: RequestContext;
}

/** A content handler: built once per location at start, used for every request there. */
export interface Handler {
  /** Serves an HTTP request. Throw or reject with `HttpError` to answer with an error page. */
  http?(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void | Promise<void>;
  /**
   * Takes over a connection that asks for an upgrade (WebSocket). May resolve, when the
   * connection ends, with what the access log should say of it. Where `http2_websocket on`
   * lets a WebSocket come on an HTTP/2 stream (RFC 8441's extended CONNECT, presented as a
   * `GET` with `Upgrade: websocket` and no Sec-WebSocket-Key), `socket` is that stream: the
   * answer is its response (`stream.respond({':status': 200})`), not bytes, then frames.
   */
  upgrade?(req: IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext): void | Promise<void | UpgradeOutcome>;
  /** Called once when the gateway stops or reloads: close what `create` opened. */
  close?(): void | Promise<void>;
}

/** How an upgraded connection ended, for the access log (status 101 when it was upgraded). */
export interface UpgradeOutcome {
  readonly status?: number;
  /** Bytes sent to the client after the response header. */
  readonly bytesSent: number;
}

/** What a handler gets when it is created. */
export interface HandlerEnv {
  readonly log: Logger;
  readonly prefix: string;
  readonly location: LocationConf;
  /** The gateway's push channels (shared by every worker, and through Redis when configured). */
  readonly push: PushChannels;
  /** The location's counters, summed by `stub_status` and `metrics`: what a handler reports of its work. */
  readonly counters: Counters;
  /** The shared dictionaries (`shared_dict`): OpenResty's `ngx.shared.NAME`; null for a name not declared. */
  shared(name: string): SharedDict | null;
  /** The same dictionaries by name (`ngx.shared`, with the names declared). */
  readonly sharedDicts: SharedDicts;
  /** This worker's timers (OpenResty's `ngx.timer`). */
  readonly timers: Timers;
}

/** A value a shared dictionary holds (OpenResty's: strings, numbers, booleans; lists through `lpush`/`rpush`). */
export type SharedDictValue = string | number | boolean;

/** What a write answers (OpenResty's `ok, err, forcible`). */
export interface SharedDictWriteResult {
  readonly ok: boolean;
  /** `exists` (add), `not found` (replace), `no memory` (a `safe*` call, or 30 evictions did not make room). */
  readonly err: string | null;
  /** True when valid entries were evicted, least recently used first, to make room. */
  readonly forcible: boolean;
}

/** What `incr` answers (OpenResty's `newval, err, forcible`). */
export interface SharedDictIncrResult {
  readonly value: number | null;
  /** `not found` (no `init` given), `not a number`, `no memory`. */
  readonly err: string | null;
  readonly forcible: boolean;
}

/** What `lpush`/`rpush` answer (OpenResty's `length, err`). */
export interface SharedDictPushResult {
  readonly length: number | null;
  /** `value not a list`, `no memory`. */
  readonly err: string | null;
}

/** A value with its flags (`get`'s second result), and whether it has expired (`get_stale`'s third). */
export interface SharedDictEntry {
  readonly value: SharedDictValue;
  readonly flags: number;
  readonly stale: boolean;
}

/**
 * One shared dictionary, OpenResty's `ngx.shared.DICT` (`lua_shared_dict NAME SIZE`, here
 * `shared_dict: {NAME: SIZE}`): every worker reads and writes the same table, in shared memory,
 * synchronously; a reload keeps it. Keys are non-empty strings of at most 65535 UTF-8 bytes;
 * TTLs are in seconds (fractions allowed), 0: never expires. A bad argument (an empty key, a
 * negative TTL, a value that is not a string, number or boolean) throws a TypeError or
 * RangeError, as OpenResty raises a Lua error.
 */
export interface SharedDict {
  readonly name: string;
  /** `value = dict:get(key)`: null when missing or expired. Throws for a list (`value is a list`). */
  get(key: string): SharedDictValue | null;
  /** `value, flags = dict:get(key)`. */
  getEntry(key: string): SharedDictEntry | null;
  /** `value, flags, stale = dict:get_stale(key)`: an expired entry not yet removed too. */
  getStale(key: string): SharedDictEntry | null;
  /** `dict:set(key, value, exptime?, flags?)`: evicts least recently used entries when full; a null value deletes. */
  set(key: string, value: SharedDictValue | null, ttl?: number, flags?: number): SharedDictWriteResult;
  /** `dict:safe_set(...)`: never evicts a valid entry (`no memory`). */
  safeSet(key: string, value: SharedDictValue | null, ttl?: number, flags?: number): SharedDictWriteResult;
  /** `dict:add(...)`: only when the key is missing or expired (`exists`). */
  add(key: string, value: SharedDictValue, ttl?: number, flags?: number): SharedDictWriteResult;
  /** `dict:safe_add(...)`. */
  safeAdd(key: string, value: SharedDictValue, ttl?: number, flags?: number): SharedDictWriteResult;
  /** `dict:replace(...)`: only when the key is there (`not found`). */
  replace(key: string, value: SharedDictValue, ttl?: number, flags?: number): SharedDictWriteResult;
  /** `dict:incr(key, value, init?, init_ttl?)`: a missing key starts from `init` (with `init_ttl`), else `not found`. */
  incr(key: string, by: number, init?: number | null, initTtl?: number): SharedDictIncrResult;
  /** `dict:delete(key)`. */
  delete(key: string): void;
  /** `dict:ttl(key)`: seconds left, 0 for no expiry, null when missing (`not found`). */
  ttl(key: string): number | null;
  /** `dict:expire(key, exptime)`: false when missing (`not found`). */
  expire(key: string, ttl: number): boolean;
  /** `dict:flush_all()`: every entry expires now. */
  flushAll(): void;
  /** `dict:flush_expired(max_count?)`: frees expired entries (0: all); how many. */
  flushExpired(max?: number): number;
  /** `dict:get_keys(max_count?)`: live keys, least recently used first (as OpenResty's); default 1024, 0: all. */
  getKeys(max?: number): string[];
  /** `dict:lpush(key, value)`: the list's length. */
  lpush(key: string, value: string | number): SharedDictPushResult;
  /** `dict:rpush(key, value)`. */
  rpush(key: string, value: string | number): SharedDictPushResult;
  /** `dict:lpop(key)`: null when empty or missing; throws for a value that is not a list. */
  lpop(key: string): string | number | null;
  /** `dict:rpop(key)`. */
  rpop(key: string): string | number | null;
  /** `dict:llen(key)`: 0 when missing. */
  llen(key: string): number;
  /** `dict:capacity()`: the size declared, in bytes. */
  capacity(): number;
  /** `dict:free_space()`: bytes never used plus free blocks (see the README's size accounting). */
  freeSpace(): number;
}

/** The shared dictionaries by name: OpenResty's `ngx.shared`. */
export interface SharedDicts {
  /** `ngx.shared.NAME`: null for a name that no `shared_dict` declares. */
  get(name: string): SharedDict | null;
  /** The names declared. */
  names(): string[];
}

/**
 * A timer's callback (OpenResty's `ngx.timer.at(delay, callback, ...)`): `premature` is true
 * when it runs early because the worker is shutting down (a quit or a reload), as OpenResty's
 * first argument; the other arguments are those given to `at`/`every`. It may return a promise:
 * it counts as running until that settles. A throw or a rejection is one error-log line with the
 * script's name; the worker keeps serving.
 */
export type TimerCallback = (premature: boolean, ...args: any[]) => void | Promise<void>;

/** What `timers.at` / `timers.every` answer (OpenResty's `hdl, err`). */
export interface TimerResult {
  readonly ok: boolean;
  /** `process exiting` (the worker is shutting down), `too many pending timers` (1024). */
  readonly err: string | null;
}

/** OpenResty's `ngx.timer.*`, for this worker. Delays are in seconds (fractions allowed). */
export interface Timers {
  /** `ngx.timer.at(delay, callback, ...)`: runs once after `delay` (0: on the next turn). */
  at(delay: number, callback: TimerCallback, ...args: unknown[]): TimerResult;
  /** `ngx.timer.every(delay, callback, ...)`: runs every `delay` (> 0) until the worker goes. */
  every(delay: number, callback: TimerCallback, ...args: unknown[]): TimerResult;
  /** `ngx.timer.running_count()`: callbacks running now (a promise not yet settled counts). */
  runningCount(): number;
  /** `ngx.timer.pending_count()`: timers waiting to fire. */
  pendingCount(): number;
}

/** What an `init_worker_by` script gets: OpenResty's `ngx.shared`, `ngx.timer`, `ngx.log`, `ngx.worker`. */
export interface WorkerApi {
  /** `ngx.shared`. */
  readonly shared: SharedDicts;
  /** `ngx.timer`. */
  readonly timers: Timers;
  /** `ngx.log` (the http block's `error_log`). */
  readonly log: Logger;
  /** `ngx.worker`. */
  readonly worker: {
    /** `ngx.worker.id()`: 0 to count - 1; a worker that replaces a dead one, or a new one after a reload, takes the same number. 0 with `master_process off`. */
    readonly id: number;
    /** `ngx.worker.count()`: `worker_processes` (1 with `master_process off`). */
    readonly count: number;
    /** `ngx.worker.pid()`. */
    readonly pid: number;
    /** `ngx.worker.exiting()`: true once the worker is shutting down. */
    exiting(): boolean;
  };
}

/**
 * An `init_worker_by` script (OpenResty's `init_worker_by_lua`): `configure` checks its
 * `options` at load (`gateway -t`; throw to refuse them, the message is reported at the options'
 * line), `init` runs in every worker when it starts, and again in the new workers of a reload.
 * A bare function is the shorthand for `{ init }`.
 */
export interface WorkerScript<O = unknown> {
  configure?(options: Readonly<Record<string, unknown>>): O;
  init(worker: WorkerApi, options: O): void | Promise<void>;
}

/** A location's counters a handler reports to (stub_status and metrics sum every worker's). */
export interface Counters {
  /** A WebSocket frame (a message, reassembled, or a control frame) went in (`inbound`) or out. */
  frame(inbound: boolean, payloadBytes: number): void;
  /** A WebSocket was opened. */
  wsOpened(): void;
  /** A WebSocket closed with the peer's `code` (1005: a close frame without one, 1006: none). */
  wsClosed(code: number): void;
  /** An upstream failure; `code` is the proxy's `GW_UPSTREAM_*` code. */
  upstreamError(code: string): void;
  /** Push: subscribers connected here now. */
  pushSubscribers: number;
  /** Push: messages published here. */
  pushPublished: number;
  /** Push: messages sent to subscribers here. */
  pushDelivered: number;
  /** Push: messages a slow subscriber's `drop_oldest` dropped. */
  pushDropped: number;
  /** Push: subscribers closed for falling behind. */
  pushOverflowClosed: number;
}

/**
 * nginx's request phases a module's handlers run in, in this order; `log` runs once the
 * response is over. `post-read` runs once per request, as soon as its server is chosen and
 * before its location is (realip): only the handlers a module gives for the server's own
 * location (`env.server.serverLocation`) run there, synchronously, and they may decline or end
 * the phase (`'ok'`) or throw an `HttpError`, not answer. `rewrite` to `precontent` run in the
 * chosen location (again after an internal redirect). `find-config` (the location match),
 * `post-rewrite`, `post-access` and `content` (the location's content handler) are the
 * engine's own. `server-rewrite` runs the handlers a module gives for the server's own location
 * (the rewrite module's server-level directives), after post-read and before the location is
 * found, and again after an internal redirect to a URI.
 */
export type PhaseName = 'post-read' | 'server-rewrite' | 'rewrite' | 'preaccess' | 'access' | 'precontent' | 'log';

/**
 * What a phase handler answers, as nginx's phase checkers read it: nothing (declined: the next
 * handler runs), `'ok'` (this phase is done: the next phase runs), `'done'` (the request has
 * been answered: nothing else runs). An error page is a thrown `HttpError`; an internal
 * redirect, a thrown `InternalRedirect` (the phases start again from the new location).
 */
export type PhaseOutcome = void | 'ok' | 'done';

/** One handler of one phase, compiled for one location at load. */
export interface PhaseHandler {
  readonly phase: PhaseName;
  /** What `gateway -T` shows beside the phase: what it does (`allow/deny`, `return 410`). */
  readonly name: string;
  /**
   * Whether it may answer the request itself (`return`): a location with such a handler serves a
   * request that asks for an upgrade as plain HTTP, as nginx does.
   */
  readonly answers?: boolean;
  /**
   * Runs for a request (`res` is null for a request that asks for an upgrade: a handler that
   * would answer it throws an `HttpError`). Not called in the `log` phase: see `log`.
   */
  run?(req: IncomingMessage, res: ServerResponse | null, ctx: RequestContext): PhaseOutcome | Promise<PhaseOutcome>;
  /** The `log` phase: the response is over (`status` 499 when none was sent). */
  log?(req: IncomingMessage, ctx: RequestContext, status: number): void;
}

/**
 * A response filter of nginx's header and body filter chains, compiled for one location:
 * it sees every response the location sends, whatever handler made it, once, just before the
 * header goes out.
 */
export interface ResponseFilter {
  /** What `gateway -T` shows. */
  readonly name: string;
  /**
   * Before the handler writes: whether this filter may transform this request's body (only then
   * are the response's `write` and `end` hooked).
   */
  mayTransform?(req: IncomingMessage): boolean;
  /** The header filter: may change the headers of a response of `status`; may route its body through a transform. */
  header(res: ServerResponse, status: number, req: IncomingMessage, ctx: RequestContext): BodyTransform | null | void;
  /** Whether a body of this type and length would be transformed for this request (`ctx.transforms`). */
  transforms?(req: IncomingMessage, contentType: string, length: number): boolean;
}

/**
 * What a module builds for each location when the gateway starts (nginx's postconfiguration
 * and init of a module): the handlers it runs in the request phases, and its response filter.
 * Nothing is looked up per request: what a location does not need, it does not get.
 */
export interface LocationModule {
  readonly name: string;
  /** The module's phase handlers for `location` (none: the module has nothing to do there). */
  phases?(location: LocationConf, env: CompileEnv): readonly PhaseHandler[];
  /** The module's response filter for `location`, or null. */
  filter?(location: LocationConf, env: CompileEnv): ResponseFilter | null;
}

/** What a module may use while it compiles a location. */
export interface CompileEnv {
  readonly server: ServerConf;
  /** The whole `http` block: what a module reads configuration-wide (nginx's main conf: the charsets every block names). */
  readonly http: HttpConf;
  /** The location's error log. */
  readonly log: Logger;
  /** Named captures of the configuration's regexes (they are variables too). */
  readonly captureNames: ReadonlySet<string>;
  /** Compiles a value with variables (checked when the configuration was). */
  compile(text: string): Template;
  /** A log file (or `stderr`, `stdout`), opened once however many locations write to it. */
  openLog(target: string): LogSink;
  /** The shared dictionaries (`shared_dict`), OpenResty's `ngx.shared`, for the location's scripts. */
  readonly shared: SharedDicts;
  /** This worker's timers (`ngx.timer`) for scripts; `owner` names them in the error log. */
  timers(owner: string): Timers;
}

/** Where log lines go: written together at the end of each turn of the event loop. */
export interface LogSink {
  write(line: string): void;
}

/** Where a response's body goes when a filter transforms it. */
export interface BodyTransform {
  /** A whole body handed to `end` with nothing written before, transformed in one call (null: stream it). */
  whole?(body: Buffer): Buffer | null;
  /** The stream the body goes through otherwise. */
  stream(): Transform;
  /**
   * Optional: the same transform as a synchronous call per chunk (`eof` on the last), used instead
   * of `stream` when every transform of the response has one (no stream per response).
   */
  inline?(chunk: Buffer, eof: boolean): Buffer;
  /**
   * Optional: names the output when it depends on the body alone (`gzip:1`: gzip at level 1), so
   * the output for a whole file may be kept and sent again (`RequestContext.reuseTransformedFile`).
   */
  readonly key?: string;
}

/** One published message. */
export interface PushMessage {
  readonly id: string;
  readonly channel: string;
  readonly data: Buffer;
  /** The publisher's `Content-Type`, `''` when it gave none. */
  readonly contentType: string;
  /** When it was published, in ms since the epoch. */
  readonly time: number;
}

/** What a publish did. */
export interface PublishResult {
  readonly id: string;
  /** Subscribers the message was sent to, everywhere the channel is shared. */
  readonly subscribers: number;
  /** Messages the channel now keeps for replay. */
  readonly messages: number;
  /**
   * True when the shared broker (Redis) was unreachable: the message went to this gateway's
   * subscribers only, with an id of this gateway, and is not kept for replay elsewhere.
   */
  readonly local?: boolean;
}

/** A channel's state. */
export interface ChannelInfo {
  readonly channel: string;
  readonly messages: number;
  readonly subscribers: number;
  readonly lastId: string | null;
  /** The last kept message's time, ms since the epoch. */
  readonly lastTime: number | null;
}

/** How a message is published. */
export interface PublishOptions {
  /** Kept with the message and given to subscribers (SSE and WebSocket send the data only). */
  readonly contentType?: string;
  /** `message_buffer_length` for this channel (the location's, else 10). */
  readonly bufferLength?: number;
  /** `message_timeout` in ms (the location's, else one hour). */
  readonly timeoutMs?: number;
}

/** How a subscriber joins a channel. */
export interface SubscribeOptions {
  /** Replay: deliver the kept messages after this id first (`0`: all kept). Malformed: rejects. */
  readonly lastId?: string;
  /** Called when the channel is deleted (the subscription is over). */
  readonly onClose?: (reason: 'deleted') => void;
}

/** A subscription to one channel. */
export interface PushSubscription {
  unsubscribe(): void;
}

/**
 * Publish/subscribe channels. Channel ids are letters, digits and `_ . : @ ~ - /`, at most 255
 * characters; message ids are `<ms>-<seq>`, increasing within a channel.
 */
export interface PushChannels {
  publish(channel: string, data: string | Buffer, options?: PublishOptions): Promise<PublishResult>;
  /** Resolves once live messages flow (and the replay, if asked, is delivered). */
  subscribe(channel: string, onMessage: (message: PushMessage) => void, options?: SubscribeOptions): Promise<PushSubscription>;
  /** The channel's kept messages and subscribers; null when it has neither. */
  info(channel: string): Promise<ChannelInfo | null>;
  /** Deletes the channel and closes its subscribers: how many, or null when there was none. */
  delete(channel: string): Promise<number | null>;
}

/**
 * A content handler module: `configure` checks the location's own keys (pure, run by
 * `gateway -t`), `create` builds the handler when the gateway starts.
 * Keys that `configure` does not read are reported as unknown directives.
 */
export interface HandlerModule<O = unknown> {
  configure(raw: Readonly<Record<string, unknown>>, cx: ConfigContext): O;
  create(options: O, env: HandlerEnv): Handler | Promise<Handler>;
}

/** The opcode names of lua-resty-websocket's `recv_frame`. */
export type FrameType = 'text' | 'binary' | 'close' | 'ping' | 'pong';

/** One received message or control frame. Fragmented messages arrive reassembled. */
export interface Frame {
  readonly type: FrameType;
  /** The payload; for `close`, the reason's bytes. */
  readonly data: Buffer;
  /** For `close`: the status code the peer sent (1005 when it sent none). */
  readonly code?: number;
}

/**
 * lua-resty-websocket's server object, in TypeScript. Every `send*` resolves with the number
 * of bytes of the frame it wrote and rejects (setting `fatal`) when the connection is gone.
 */
export interface WebSocketSession {
  /** The next frame; `null` when the receive timeout passes (not fatal). Rejects when fatal. */
  recvFrame(): Promise<Frame | null>;
  sendText(data: string | Buffer): Promise<number>;
  sendBinary(data: string | Buffer): Promise<number>;
  /** Sends a text or binary frame back as it came. */
  send(frame: Frame): Promise<number>;
  sendPing(data?: string | Buffer): Promise<number>;
  sendPong(data?: string | Buffer): Promise<number>;
  /** Sends a close frame; after a close was received, echoes its code (RFC 6455 5.5.1). */
  sendClose(code?: number, reason?: string): Promise<number>;
  /** The receive timeout in milliseconds (0: none). */
  setTimeout(ms: number): void;
  /** True once an error other than a receive timeout has happened. */
  readonly fatal: boolean;
  /** The last error, as lua-resty names it: `timeout`, `closed`, ... */
  readonly lastError: string | null;
}

/** What a script gets beside its session: the request, the location's `options`, a logger. */
export interface ScriptContext extends RequestContext {
  readonly req: IncomingMessage;
  readonly options: Readonly<Record<string, unknown>>;
  /** Publishes to a channel with the location's `message_buffer_length` and `message_timeout`. */
  publish(channel: string, data: string | Buffer): Promise<PublishResult>;
  /** Subscribes for as long as the connection lives (or until `unsubscribe`). */
  subscribe(channel: string, onMessage: (message: PushMessage) => void, options?: SubscribeOptions): Promise<PushSubscription>;
  /** Every push channel operation, for what `publish` and `subscribe` do not cover. */
  readonly push: PushChannels;
}

/** A WebSocket script: runs once per connection; when it returns, the connection closes. */
export type WebSocketScript = (ws: WebSocketSession, ctx: ScriptContext) => Promise<void>;

/**
 * What a script's `configure` gets while the configuration is checked (`gateway -t` runs it):
 * where the script is named, its options' keys read as directives are, and errors at their line.
 */
export interface ScriptConfigContext {
  /** The prefix (`-p`) that relative paths resolve against. */
  readonly prefix: string;
  /** Where bare script names are looked up (`handlers_dir`). */
  readonly handlersDir: string;
  /** Throws a ConfigError pointing at `key` of the options (or at the directive). */
  error(reason: string, key?: string): never;
  /** The key as a time in milliseconds. */
  time(key: string, unit?: 's' | 'ms'): number | undefined;
  /** The key as a size in bytes. */
  size(key: string): number | undefined;
  /** The key as on/off. */
  flag(key: string): boolean | undefined;
  /** Resolves a path against the prefix. */
  resolve(path: string): string;
}

/** A peer's failure as the balancer of the next try sees it (OpenResty's `ngx.balancer.get_last_failure`). */
export interface BalancerFailure {
  /**
   * `failed`: an error, a timeout, an invalid header or a `proxy_next_upstream http_5xx` status
   * (nginx's NGX_PEER_FAILED); `next`: a 403 or 404 passed on (NGX_PEER_NEXT).
   */
  readonly state: 'failed' | 'next';
  /** The status the try ended with: 502 for an error, 504 for a timeout, the upstream's status otherwise. */
  readonly status: number;
}

/**
 * What a `balancer_by` script gets for each try of a request to its upstream: the request (read
 * only) and OpenResty's `ngx.balancer` calls, named after them. The script runs before every
 * try, the first and each retry `proxy_next_upstream` allows.
 */
export interface BalancerContext {
  /** The upstream's name and its `servers` lines (empty when the upstream has none). */
  readonly upstream: { readonly name: string; readonly servers: readonly { readonly host: string; readonly port: number; readonly name: string; readonly weight: number; readonly backup: boolean; readonly down: boolean }[] };
  /** The try this call is for: 1 for the first, 2 for the first retry... */
  readonly try: number;
  /** `ngx.req.get_method()`. */
  readonly method: string;
  /** `ngx.var.uri`: the normalized path. */
  readonly uri: string;
  /** `ngx.var.args`: the query string without `?`. */
  readonly args: string;
  /** `ngx.req.get_headers()`: the request's headers, lower-case names. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** `ngx.var.cookie_NAME`: the first cookie of that name, or undefined. */
  cookie(name: string): string | undefined;
  /** `ngx.var.NAME`: any nginx variable (`remote_addr`, `arg_id`, `http_x_user`...). */
  variable(name: string): string;
  /** `ngx.var.remote_addr`. */
  readonly remoteAddress: string;
  /** `ngx.ctx`: the request's own object, shared with its other phases and tries. */
  readonly ctx: Record<string | symbol, unknown>;
  /** The location's error log (`ngx.log`). */
  readonly log: Logger;
  /**
   * `ngx.balancer.set_current_peer(host, port)`: this try goes to `host:port` (an IP address or a
   * host name, which Node resolves: OpenResty takes addresses only), any address, not only the
   * upstream's; the last call wins. Connections are pooled per peer (`keepalive`). Throws a
   * TypeError for an invalid host or port. A try for which no peer is set goes to the upstream's
   * own choice among its `servers` (as OpenResty); an upstream without `servers` answers 500.
   */
  setCurrentPeer(host: string, port: number): void;
  /**
   * `ngx.balancer.set_more_tries(count)`: this many more tries after this one fails (counted on
   * top of the tries the upstream's servers give), within `proxy_next_upstream_tries`: returns
   * `"reduced tries due to limit"` when that limit cut `count`, else null. Which failures are
   * retried is still `proxy_next_upstream`'s.
   */
  setMoreTries(count: number): string | null;
  /** `ngx.balancer.get_last_failure()`: how the previous try ended, null on the first try. */
  getLastFailure(): BalancerFailure | null;
  /**
   * `ngx.balancer.set_timeouts(connect, send, read)`: this try's and the later tries' timeouts,
   * in MILLISECONDS (OpenResty takes seconds); null or undefined keeps the location's
   * (`proxy_connect_timeout`, `proxy_send_timeout`, `proxy_read_timeout`).
   */
  setTimeouts(connect?: number | null, send?: number | null, read?: number | null): void;
}

/**
 * A `balancer_by` script module (OpenResty's `balancer_by_lua`), the default export made with
 * `defineBalancer`. `configure` checks the directive's `options` once at load (`gateway -t`);
 * `run` is called for every try and may be async (bounded by `proxy_connect_timeout`).
 * A `run` that throws or rejects answers 500 with one error-log line naming the script.
 */
export interface BalancerScript<O = unknown> {
  configure?(options: Readonly<Record<string, unknown>>, cx: ScriptConfigContext): O;
  run(b: BalancerContext, options: O): void | Promise<void>;
}

/** What an `ssl_certificate_by` script may answer: a key pair for this handshake. */
export interface CertificateAnswer {
  /** The certificate chain, PEM (a string or its bytes). */
  readonly cert: string | Buffer;
  /** Its private key, PEM. */
  readonly key: string | Buffer;
}

/**
 * What an `ssl_certificate_by` script gets during a TLS handshake (OpenResty's `ngx.ssl`): the
 * name the client asked for and the client's address. It answers by returning a
 * `CertificateAnswer` (OpenResty's `clear_certs` + `set_cert` + `set_priv_key`), or nothing to
 * keep the server's `ssl_certificate`.
 */
export interface CertificateContext {
  /** `ngx.ssl.server_name()`: the SNI name, lower case. */
  readonly serverName: string;
  /** `ngx.var.remote_addr` of the connection (before any PROXY protocol header). */
  readonly remoteAddress: string;
  /** The server's error log. */
  readonly log: Logger;
}

/**
 * An `ssl_certificate_by` script module (OpenResty's `ssl_certificate_by_lua`), the default export
 * made with `defineCertificateScript`. `run` may be async (bounded by the handshake's
 * `client_header_timeout`); a key pair it returns is cached by its bytes, so a name served
 * again costs a lookup. A `run` that throws or rejects, or answers a pair that does not load,
 * aborts the handshake with one error-log line.
 */
export interface CertificateScript<O = unknown> {
  configure?(options: Readonly<Record<string, unknown>>, cx: ScriptConfigContext): O;
  run(c: CertificateContext, options: O): void | CertificateAnswer | null | Promise<void | CertificateAnswer | null>;
}

/**
 * The phases a script may enter, named after OpenResty's directives: `rewrite_by`
 * (`rewrite_by_lua`), `access_by`, `content_by`, `header_filter_by`, `body_filter_by`, `log_by`.
 */
export type ScriptPhase = 'rewrite' | 'access' | 'content' | 'header_filter' | 'body_filter' | 'log';

/** What a subrequest of `ScriptRequest.capture` asks for (`ngx.location.capture`'s options). */
export interface CaptureOptions {
  /** `method`: `GET` unless given. */
  readonly method?: string;
  /** `args`: a query string, or a map (encoded). */
  readonly args?: string | Readonly<Record<string, string | number | boolean>>;
  /** The subrequest's request headers; by default the parent's (less its body's framing). */
  readonly headers?: Readonly<Record<string, string | readonly string[]>>;
  /** `body`: the subrequest's request body. */
  readonly body?: string | Buffer;
}

/** What `capture` resolves with (`ngx.location.capture`'s `res`). */
export interface CaptureResult {
  /** `res.status`. */
  readonly status: number;
  /** `res.header`: lower-case names. */
  readonly headers: Readonly<Record<string, string | string[] | number | undefined>>;
  /** `res.body`. */
  readonly body: Buffer;
}

/** The log phase's view of the finished response (`log_by`). */
export interface ScriptLogEntry {
  /** `$status` (499 when none was sent). */
  readonly status: number;
  /** `$body_bytes_sent`. */
  readonly bodyBytesSent: number;
  /** `$request_time` in seconds. */
  readonly requestTime: number;
}

/**
 * OpenResty's `ngx` object for one request in one phase, each member beside its Lua name.
 * Calls that do not belong to a phase throw there (as OpenResty's "API disabled in the context
 * of ..."): `say` and `readBody` in the filters and the log phase, `status` and the response
 * headers' setters outside the header filter (and content, before the header went out).
 */
export interface ScriptRequest {
  /** The phase this call of the script runs in (`ngx.get_phase()`). */
  readonly phase: ScriptPhase;
  /** `ngx.req.get_method()`. */
  readonly method: string;
  /** `ngx.req.set_method(m)`. */
  setMethod(method: string): void;
  /** `ngx.var.uri`: the normalized, decoded path. */
  readonly uri: string;
  /**
   * `ngx.req.set_uri(uri, jump?)`: changes `$uri`; with `jump` (rewrite phase only), the
   * locations are matched again from the new URI (throws to get there); `ctx` starts anew
   * there, as OpenResty's `ngx.ctx` after the jump.
   */
  setUri(uri: string, jump?: boolean): void;
  /** `ngx.var.args`: the query string without `?`. */
  readonly args: string;
  /** `ngx.req.get_uri_args()`: names to a value, or a list when repeated; `true` for a bare name. */
  uriArgs(): Record<string, string | true | (string | true)[]>;
  /** `ngx.req.set_uri_args(args)`: a query string or a map, encoded. */
  setUriArgs(args: string | Readonly<Record<string, string | number | boolean | readonly (string | number)[]>>): void;
  /** `ngx.req.get_headers()[name]`: a request header (lower-case name), a list when repeated. */
  header(name: string): string | string[] | undefined;
  /** `ngx.req.get_headers()`. */
  headers(): Readonly<Record<string, string | string[] | undefined>>;
  /** `ngx.req.set_header(name, value)`: replaces a request header (what the proxy sends on). */
  setHeader(name: string, value: string | readonly string[]): void;
  /** `ngx.req.clear_header(name)`. */
  clearHeader(name: string): void;
  /**
   * `ngx.req.read_body()` + `ngx.req.get_body_data()`: the whole request body, bounded by
   * `client_max_body_size` (a 413) and `client_body_timeout` (a 408), read once.
   */
  readBody(): Promise<Buffer>;
  /**
   * `ngx.var.NAME`: reads any variable (`''` when unset); sets the writable ones: `args`, and
   * user variables (a name that is no built-in variable, or one a module sets).
   */
  readonly var: Record<string, string>;
  /** `ngx.ctx`: one object per request, seen by every phase's scripts (an internal redirect starts a new one). */
  readonly ctx: Record<string | symbol, unknown>;
  /**
   * `ngx.exit(status)`: 0 (`ngx.OK`) ends this phase (in access, lets the client in, also under
   * `satisfy any`); a 2xx ends the request with what was said (`say`), or `body` as `ngx.say` +
   * `ngx.exit`; 300 and above answers with that status: nginx's page (or `error_page`), or
   * `body` when given. Never returns.
   */
  exit(status: number, body?: string | Buffer): never;
  /** `ngx.redirect(uri, status)`: 302 unless given (301, 303, 307, 308). Never returns. */
  redirect(uri: string, status?: number): never;
  /** `ngx.exec(uri, args)`: an internal redirect to a URI or `@name`. Never returns. */
  exec(uri: string, args?: string | Readonly<Record<string, string | number | boolean>>): never;
  /** `ngx.say(...)`: writes the values and a newline (the header goes out first, 200 unless `status` was set). */
  say(...values: (string | number | Buffer)[]): void;
  /** `ngx.print(...)`. */
  print(...values: (string | number | Buffer)[]): void;
  /** `ngx.flush(true)`: resolves once what was said has gone to the client's socket (backpressure). */
  flush(): Promise<void>;
  /** `ngx.eof()`: ends the response; the script may go on (work after the answer). */
  eof(): void;
  /** `ngx.sleep(seconds)`: resolves after that long, without blocking the worker. */
  sleep(seconds: number): Promise<void>;
  /** `ngx.location.capture(uri, options)`: a location of this server answers in process, no socket. */
  capture(uri: string, options?: CaptureOptions): Promise<CaptureResult>;
  /**
   * `ngx.status`: the response status (set it in content before the header goes out, or in
   * the header filter).
   */
  status: number;
  /** `ngx.header[name]` read: a response header. */
  responseHeader(name: string): string | string[] | number | undefined;
  /** `ngx.header[name] = value` (null: `ngx.header[name] = nil`, removes it). */
  setResponseHeader(name: string, value: string | number | readonly string[] | null): void;
  /** `ngx.log(...)`: the location's error log. */
  readonly log: Logger;
  /** `ngx.shared`: the shared dictionaries (`shared.get(NAME)` is `ngx.shared.NAME`), in every phase. */
  readonly shared: SharedDicts;
  /** `ngx.timer`: this worker's timers (a timer outlives the request), in every phase. */
  readonly timers: Timers;
  /** The log phase's entry (`$status`, `$body_bytes_sent`, `$request_time`); null in other phases. */
  readonly entry: ScriptLogEntry | null;
  /** The request as Node has it (read only: change it through the calls above). */
  readonly request: IncomingMessage;
  /** The gateway's request context (what built-in modules see). */
  readonly context: RequestContext;
}

/**
 * What a script's `run` may return: in rewrite and access, `'declined'` lets the phase go on as
 * if the script had not been there (nginx's NGX_DECLINED; OpenResty has no such return: a Lua
 * script that returns ends its access phase, so `undefined` does here too). Content, the log
 * phase and the header filter ignore it.
 */
export type ScriptOutcome = void | 'declined';

/**
 * A phase script module's default export (`definePhaseScript`): `configure` checks the
 * directive's `options` once at load (`gateway -t`; a throw or `cx.error` is one line with
 * file:line:column), `run` runs per request in the phase the directive names. In
 * `body_filter_by`, `bodyFilter` runs per chunk instead (`ngx.arg[1]`, `ngx.arg[2]`): it returns
 * what to send (`undefined` passes the chunk on as it is, `null` sends nothing for it).
 * Header and body filters are synchronous (OpenResty cannot yield there).
 */
export interface PhaseScript<O = unknown> {
  configure?(raw: Readonly<Record<string, unknown>>, cx: ScriptConfigContext): O;
  run?(r: ScriptRequest, options: O): ScriptOutcome | Promise<ScriptOutcome>;
  bodyFilter?(chunk: Buffer, eof: boolean, r: ScriptRequest, options: O): Buffer | string | null | undefined;
  /**
   * `bodyFilter` sends as many bytes as it is given, over the whole body (a filter that inspects,
   * or replaces bytes one for one): the response keeps its Content-Length, as nginx keeps it for
   * an OpenResty body filter that does not clear it. Without it, a body filter's response goes
   * out chunked (the filter owns the length). A filter that says so and then changes the length
   * has its response cut (an error line; never a wrong length on a kept-alive connection).
   */
  readonly keepsLength?: boolean;
}

/**
 * The handlers of a plugin, one per phase it runs in, named after Kong's plugin handler methods
 * (`:rewrite()`, `:access()`, `:header_filter()`, `:body_filter()`, `:log()`), each as the
 * phase script of the same phase runs (`run` of `rewrite_by` ... `log_by`, `bodyFilter` of
 * `body_filter_by`): the same `r`, the same meaning of its return, `exit` and throws.
 */
export interface PluginPhases<O> {
  /** Kong's `:rewrite()` (OpenResty's `rewrite_by_lua`). */
  rewrite?(r: ScriptRequest, options: O): ScriptOutcome | Promise<ScriptOutcome>;
  /** Kong's `:access()` (`access_by_lua`), under `satisfy` with the location's other access checks. */
  access?(r: ScriptRequest, options: O): ScriptOutcome | Promise<ScriptOutcome>;
  /** Kong's `:header_filter()` (`header_filter_by_lua`): synchronous. */
  header_filter?(r: ScriptRequest, options: O): void;
  /** Kong's `:body_filter()` (`body_filter_by_lua`): per chunk, synchronous; returns what to send as `bodyFilter` does. */
  body_filter?(chunk: Buffer, eof: boolean, r: ScriptRequest, options: O): Buffer | string | null | undefined;
  /** Kong's `:log()` (`log_by_lua`): after the response, `r.entry` set. */
  log?(r: ScriptRequest, options: O): void | Promise<void>;
}

/**
 * A JSON Schema (draft 2020-12, as Ajv reads it) of a plugin's options, e.g. `{ type: 'object',
 * properties: { header: { type: 'string' } }, required: ['header'], additionalProperties: false }`.
 * `default`s fill options left out.
 */
export type PluginSchema = Readonly<Record<string, unknown>>;

/**
 * A plugin module's default export (`definePlugin`), as Kong's and APISIX's plugins: a `name`
 * (what the `plugins` directive and the error log call it; a plugin configured at a more
 * specific block replaces the one of that name from above), a `priority` (higher runs first in
 * each phase, Kong's `PRIORITY`; the `*_by` scripts of the phase stand at 0, after plugins of
 * priority 0), the `schema` its options are checked against at load (`gateway -t` reports a bad
 * option at its file:line:column), an optional `configure` run on the checked options (as a
 * script's, for what a schema cannot say: files, times, sizes), and its `phases`.
 */
export interface Plugin<O = Readonly<Record<string, unknown>>> {
  readonly name: string;
  readonly priority: number;
  readonly schema?: PluginSchema;
  configure?(options: Readonly<Record<string, unknown>>, cx: ScriptConfigContext): O;
  readonly phases: PluginPhases<O>;
}
