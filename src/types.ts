/**
 * The contract for handler and script authors. A location's `handler:` names a module that
 * exports a `HandlerModule` (as its default export); `websocket-script` locations name a
 * module that exports a `WebSocketScript`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { LocationConf, ServerConf } from './config/model';

import type { ChannelInfo, PublishResult } from './modules/push/backend';
import type { PushMessage } from './modules/push/message';

export type { LocationConf, ServerConf, CommonConf, MainConf } from './config/model';
export type { ChannelInfo, PublishResult, PushMessage };
export { HttpError, ConfigError, InternalRedirect } from './errors';

/** A logger writing to the `error_log` at nginx's levels. */
export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  notice(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  crit(message: string): void;
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
  /** Looks up an nginx variable by name without `$` (`host`, `arg_page`, `http_user_agent`). */
  variable(name: string): string;
}

/** A content handler: built once per location at start, used for every request there. */
export interface Handler {
  /** Serves an HTTP request. Throw or reject with `HttpError` to answer with an error page. */
  http?(req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void | Promise<void>;
  /**
   * Takes over a connection that asks for an upgrade (WebSocket). May resolve, when the
   * connection ends, with what the access log should say of it.
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

/** Helps a handler's `configure` read its own keys and report errors at their line. */
export interface ConfigContext {
  /** The location being configured, with inherited directives merged. */
  readonly location: Omit<LocationConf, 'handlerOptions'>;
  /** The prefix (`-p`) that relative paths resolve against. */
  readonly prefix: string;
  /** Where bare handler and script names are looked up (`handlers_dir`, default `handlers/`). */
  readonly handlersDir: string;
  /** Named captures of the configuration's regexes: pass to `compileValue` with templates. */
  readonly captureNames: ReadonlySet<string>;
  /** Throws a ConfigError pointing at `key` (or at the location when no key is given). */
  error(reason: string, key?: string): never;
  /** The key as a time in milliseconds (`unit`: what a bare number means, default seconds). */
  time(key: string, unit?: 's' | 'ms'): number | undefined;
  /** The key as a size in bytes. */
  size(key: string): number | undefined;
  /** The key as on/off. */
  flag(key: string): boolean | undefined;
  /** The key as a string. */
  string(key: string): string | undefined;
  /** The key as an integer. */
  integer(key: string): number | undefined;
  /** Resolves a path against the prefix. */
  resolve(path: string): string;
}

/** What a handler gets when it is created. */
export interface HandlerEnv {
  readonly log: Logger;
  readonly prefix: string;
  readonly location: LocationConf;
  /** The gateway's push channels (shared by every worker, and through Redis when configured). */
  readonly push: PushChannels;
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
