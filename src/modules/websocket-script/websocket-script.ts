/**
 * The `websocket-script` content handler: OpenResty's `content_by_lua` with
 * lua-resty-websocket, where the Lua code is a TypeScript or JavaScript `WebSocketScript`.
 *
 * ```yaml
 * - location: /s
 *   handler: websocket-script
 *   script: echo              # built in, or a module: a path under the prefix, or a name in handlers_dir
 *   timeout: 50000            # ms (a bare number is ms, as in lua-resty); 0: wait for ever
 *   max_payload_len: 65535    # bigger messages close with 1009
 *   max_send_len: 65535       # bigger sends fail with "payload too big"
 *   options: { any: map }     # handed to the script as ctx.options
 *   lua_socket_log_errors: on # socket errors logged at error level (off: info)
 *   lua_check_client_abort: on
 *   websocket_deflate: on     # permessage-deflate (RFC 7692) for clients that offer it; default off
 *   websocket_deflate_threshold: 1k    # messages below it go uncompressed (ws's default 1024)
 *   websocket_deflate_window_bits: 15  # server_max_window_bits, 9-15 (default: the client's, or 15)
 *   websocket_deflate_mem_level: 8     # zlib's memLevel, 1-9 (default 8)
 *   websocket_deflate_comp_level: 6    # zlib's level, 1-9 (default 6)
 * ```
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { HttpError } from '../../errors';
import { coreModule } from '../core/module';
import type { ChannelLimits } from '../push/memory-store';
import { channelLimits } from '../push/location';
import { findModule, loadModule } from '../../shared/module-loader';
import echo from './echo';
import type { UpstreamTry } from '../../http/variables';
import type {
  ConfigContext,
  Counters,
  Handler,
  HandlerEnv,
  HandlerModule,
  Logger,
  PublishResult,
  PushChannels,
  PushMessage,
  PushSubscription,
  RequestContext,
  ScriptContext,
  SubrequestResult,
  SubrequestSpec,
  SubscribeOptions,
  Template,
  UpgradeOutcome,
  WebSocketScript,
} from '../../types';
import { serverSignature } from '../../http/version';
import { isExtendedConnect } from '../../http/http2-messages';
import { CloseCode, DEFAULT_MAX_PAYLOAD_LEN, Deflate, ErrorCode } from '../../shared/websocket/constants';
import {
  WebSocketAcceptor,
  type DeflateOptions,
  WebSocketError,
  type SessionEnd,
  type SessionObserver,
  type WebSocketSessionImpl,
} from '../../shared/websocket/session';

/** The scripts a `script:` value may name without a module file. */
const BUILT_IN_SCRIPTS: Readonly<Record<string, WebSocketScript>> = { echo };

/** What `configure` makes of a location's keys. */
export interface WebSocketScriptOptions {
  /** The `script` value as written, for logs. */
  readonly scriptName: string;
  readonly script: WebSocketScript;
  /** Receive timeout in milliseconds; 0: none. */
  readonly timeoutMs: number;
  readonly maxPayloadLen: number;
  readonly maxSendLen: number;
  readonly options: Readonly<Record<string, unknown>>;
  /** `lua_socket_log_errors`: socket errors at error level (on, the default) or info (off). */
  readonly socketLogErrors: boolean;
  /** `lua_check_client_abort`: accepted; a client that goes away always ends the session. */
  readonly checkClientAbort: boolean;
  /** The `Server` header of the handshake (`server_tokens`). */
  readonly signature: string;
  /** `message_buffer_length` and `message_timeout` of the script's publishes. */
  readonly limits: ChannelLimits;
  /** `websocket_deflate on` and its settings; null: permessage-deflate is never negotiated. */
  readonly deflate: DeflateOptions | null;
}

/** The handler `create` returns. */
export interface WebSocketScriptHandler extends Handler {
  /** A request without `Upgrade: websocket`: 400, as lua-resty-websocket's `new()` refuses it. */
  http(req: IncomingMessage): never;
  /**
   * Accepts the WebSocket and runs the script. Resolves once the connection has closed, never
   * rejects: `{ status: 101, bytesSent }` with the bytes written after the 101 head (the frames,
   * nginx's `$body_bytes_sent`), or 200 for an extended CONNECT on an HTTP/2 stream (RFC 8441);
   * after a failed handshake, `{ status: 400 | 405, bytesSent: 0 }` once ws's raw error
   * response is written and the socket closed.
   */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext): Promise<UpgradeOutcome>;
  /** Refuses later upgrades; open connections run to their end. */
  close(): void;
}

function configure(raw: Readonly<Record<string, unknown>>, cx: ConfigContext): WebSocketScriptOptions {
  const scriptName = cx.string('script');
  if (scriptName === undefined || scriptName === '') cx.error('"script" directive is required');
  const maxPayloadLen = cx.size('max_payload_len') ?? DEFAULT_MAX_PAYLOAD_LEN;
  if (maxPayloadLen < 1) cx.error('"max_payload_len" must be at least 1 byte', 'max_payload_len');
  const maxSendLen = cx.size('max_send_len') ?? DEFAULT_MAX_PAYLOAD_LEN;
  if (maxSendLen < 1) cx.error('"max_send_len" must be at least 1 byte', 'max_send_len');
  const options = raw.options ?? {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    cx.error('"options" must be a map', 'options');
  }
  return {
    scriptName,
    script: Object.hasOwn(BUILT_IN_SCRIPTS, scriptName) ? BUILT_IN_SCRIPTS[scriptName] : loadScript(scriptName, cx),
    timeoutMs: cx.time('timeout', 'ms') ?? 0,
    maxPayloadLen,
    maxSendLen,
    options: Object.freeze({ ...(options as Record<string, unknown>) }),
    socketLogErrors: cx.flag('lua_socket_log_errors') ?? true,
    checkClientAbort: cx.flag('lua_check_client_abort') ?? false,
    signature: serverSignature(cx.location.confs.get(coreModule).serverTokens),
    limits: channelLimits(cx.location),
    deflate: configureDeflate(cx),
  };
}

/** The `websocket_deflate*` keys; the settings are read (and checked) even where deflate is off. */
function configureDeflate(cx: ConfigContext): DeflateOptions | null {
  const threshold = cx.size('websocket_deflate_threshold') ?? Deflate.DEFAULT_THRESHOLD;
  const windowBits = bounded(cx, 'websocket_deflate_window_bits', Deflate.MIN_WINDOW_BITS, Deflate.MAX_WINDOW_BITS);
  const memLevel = bounded(cx, 'websocket_deflate_mem_level', Deflate.MIN_MEM_LEVEL, Deflate.MAX_MEM_LEVEL);
  const level = bounded(cx, 'websocket_deflate_comp_level', Deflate.MIN_COMP_LEVEL, Deflate.MAX_COMP_LEVEL);
  if (!cx.flag('websocket_deflate')) return null;
  return { threshold, windowBits, memLevel, level };
}

/** An integer key within [min, max], with nginx's wording (`ngx_conf_check_num_bounds`). */
function bounded(cx: ConfigContext, key: string, min: number, max: number): number | undefined {
  const value = cx.integer(key);
  if (value !== undefined && (value < min || value > max)) cx.error(`value must be between ${min} and ${max}`, key);
  return value;
}

/** Finds and loads a user's script module at configure time, so `gateway -t` checks it. */
function loadScript(name: string, cx: ConfigContext): WebSocketScript {
  const file = findModule(name, cx.prefix, cx.handlersDir);
  if (!file) {
    cx.error(`script "${name}" not found (no built-in script of that name, no module in "${cx.handlersDir}" or at that path)`, 'script');
  }
  let loaded: unknown;
  try {
    loaded = loadModule(file);
  } catch (err) {
    const firstLine = String((err as Error)?.message ?? err).split('\n')[0];
    cx.error(`cannot load script "${name}" (${file}): ${firstLine}`, 'script');
  }
  if (typeof loaded !== 'function') {
    cx.error(`script "${name}" (${file}) must export a function as its default export`, 'script');
  }
  return loaded as WebSocketScript;
}

function create(opts: WebSocketScriptOptions, env: HandlerEnv): WebSocketScriptHandler {
  const location: ScriptLocation = {
    opts,
    acceptor: new WebSocketAcceptor({ maxPayload: opts.maxPayloadLen, deflate: opts.deflate ?? undefined }),
    live: new Set(),
    counters: env.counters,
    push: env.push,
    socketErrorLoggers: new Map(),
  };
  return {
    http() {
      // lua-resty-websocket's `new()` refuses a request without `Upgrade: websocket`.
      throw new HttpError(400);
    },
    upgrade: (req, socket, head, ctx) => serve(location, req, socket, head, ctx),
    /** The gateway stops (or an old worker's shutdown timeout passed): 1001 to every session. */
    close() {
      location.acceptor.close();
      for (const session of location.live) session.close(CloseCode.GOING_AWAY, 'server shutting down');
    },
  };
}

/** What every connection of one location shares. */
interface ScriptLocation {
  readonly opts: WebSocketScriptOptions;
  readonly acceptor: WebSocketAcceptor;
  readonly live: Set<WebSocketSessionImpl>;
  readonly counters: Counters | null;
  readonly push: PushChannels;
  /** One socket 'error' listener per error log, shared by the connections logging to it. */
  readonly socketErrorLoggers: Map<Logger, (err: Error) => void>;
}

/**
 * Accepts the upgrade and runs the script beside the connection. The promise returned is the
 * only one per connection for its outcome: the script context resolves it when told that the
 * session ended, and no frame waits here.
 */
function serve(location: ScriptLocation, req: IncomingMessage, socket: Duplex, head: Buffer, ctx: RequestContext): Promise<UpgradeOutcome> {
  const { opts } = location;
  return new Promise((resolve) => {
    const scriptCtx = new ScriptContextImpl(ctx, req, opts.options, location.push, location, resolve);
    const accepted = location.acceptor.accept(req, socket, head, {
      timeoutMs: opts.timeoutMs,
      maxSendLen: opts.maxSendLen,
      serverHeader: opts.signature,
      onSocketError: socketErrorLogger(location, ctx.log),
      counters: location.counters ?? undefined,
      observer: scriptCtx,
    });
    void accepted.then((session) => {
      // ws answered a failed handshake itself: 405 for a method other than GET, else 400.
      if (!session) {
        resolve({ status: req.method === 'GET' ? 400 : 405, bytesSent: 0 });
        return;
      }
      location.live.add(session);
      location.counters?.wsOpened();
      runScript(opts, session, scriptCtx);
    });
  });
}

/** The socket 'error' listener logging to `log` (error level, or info with `lua_socket_log_errors off`). */
function socketErrorLogger(location: ScriptLocation, log: Logger): (err: Error) => void {
  let listener = location.socketErrorLoggers.get(log);
  if (!listener) {
    const level = location.opts.socketLogErrors ? 'error' : 'info';
    listener = (err: Error) => log[level](`websocket: ${err.message}`);
    location.socketErrorLoggers.set(log, listener);
  }
  return listener;
}

/**
 * Runs the script to its end; closes cleanly when it returns, drops the connection if it
 * throws (or rejects). A reaction to the script's promise, not a frame waiting on it.
 */
function runScript(opts: WebSocketScriptOptions, session: WebSocketSessionImpl, ctx: ScriptContext): void {
  const failed = (err: unknown): void => {
    logFailure(ctx.log, opts.scriptName, err);
    session.abort();
  };
  let running: Promise<void>;
  try {
    running = Promise.resolve(opts.script(session, ctx));
  } catch (err) {
    failed(err);
    return;
  }
  running.then(() => session.close(), failed);
}

/** A peer that went away is routine (info); anything else is an error. */
function logFailure(log: Logger, scriptName: string, err: unknown): void {
  if (err instanceof WebSocketError) {
    if (err.code === ErrorCode.CLOSED) log.info(err.message);
    else log.error(err.message);
    return;
  }
  const detail = err instanceof Error ? (err.stack ?? err.message) : String(err);
  log.error(`websocket script "${scriptName}" failed: ${detail}`);
}

/**
 * What a script gets: the request's context (delegated to `ctx`, which may be a class), `req`,
 * `options` and the push channels. One per connection with everything on the prototype, so an
 * idle connection costs one small object; subscriptions made here end with the connection,
 * which tells it (`sessionEnded`) and so settles the upgrade's outcome.
 */
class ScriptContextImpl implements ScriptContext, SessionObserver {
  private subscriptions: Set<PushSubscription> | null = null;
  private ended = false;

  constructor(
    private readonly ctx: RequestContext,
    readonly req: IncomingMessage,
    readonly options: Readonly<Record<string, unknown>>,
    readonly push: PushChannels,
    private readonly shared: ScriptLocation,
    private readonly resolveOutcome: (outcome: UpgradeOutcome) => void,
  ) {}

  get uri() { return this.ctx.uri; }
  get args() { return this.ctx.args; }
  get captures() { return this.ctx.captures; }
  get namedCaptures() { return this.ctx.namedCaptures; }
  get server() { return this.ctx.server; }
  get location() { return this.ctx.location; }
  get scheme() { return this.ctx.scheme; }
  get host() { return this.ctx.host; }
  get log() { return this.ctx.log; }
  get remoteAddress() { return this.ctx.remoteAddress; }
  get data() { return this.ctx.data; }
  get mainRequest() { return this.ctx.mainRequest; }
  get upstreamHeaders() { return this.ctx.upstreamHeaders; }
  set upstreamHeaders(raw: readonly string[] | null) { this.ctx.upstreamHeaders = raw; }
  get upstreamTries() { return this.ctx.upstreamTries; }
  set upstreamTries(tries: UpstreamTry[] | null) { this.ctx.upstreamTries = tries; }

  subrequest(spec: SubrequestSpec): Promise<SubrequestResult> {
    return this.ctx.subrequest(spec);
  }

  variable(name: string): string {
    return this.ctx.variable(name);
  }

  setVariable(name: string, value: string): void {
    this.ctx.setVariable(name, value);
  }

  evaluate(template: Template): string {
    return this.ctx.evaluate(template);
  }

  setUri(uri: string): void {
    this.ctx.setUri(uri);
  }

  transforms(contentType: string, length: number): boolean {
    return this.ctx.transforms(contentType, length);
  }

  reuseTransformedFile(identity: string): boolean {
    return this.ctx.reuseTransformedFile(identity);
  }

  publish(channel: string, data: string | Buffer): Promise<PublishResult> {
    const { bufferLength, timeoutMs } = this.shared.opts.limits;
    return this.push.publish(channel, data, { bufferLength, timeoutMs });
  }

  async subscribe(channel: string, onMessage: (message: PushMessage) => void, options?: SubscribeOptions): Promise<PushSubscription> {
    const subscription = await this.push.subscribe(channel, onMessage, options);
    // The connection closed while the subscription was being made: nobody is left to deliver to.
    if (this.ended) {
      subscription.unsubscribe();
      return subscription;
    }
    (this.subscriptions ??= new Set()).add(subscription);
    return {
      unsubscribe: () => {
        this.subscriptions?.delete(subscription);
        subscription.unsubscribe();
      },
    };
  }

  /** The connection closed: every subscription ends, then the upgrade's outcome is known. */
  sessionEnded(session: WebSocketSessionImpl, end: SessionEnd): void {
    this.ended = true;
    for (const subscription of this.subscriptions ?? []) subscription.unsubscribe();
    this.subscriptions = null;
    const { live, counters } = this.shared;
    live.delete(session);
    counters?.wsClosed(end.code);
    // On an HTTP/2 stream (RFC 8441) the handshake was answered 200.
    this.resolveOutcome({ status: isExtendedConnect(this.req) ? 200 : 101, bytesSent: end.bodyBytesSent });
  }
}

/** The `websocket-script` handler module. */
const websocketScript: HandlerModule<WebSocketScriptOptions> = { configure, create };

export default websocketScript;
