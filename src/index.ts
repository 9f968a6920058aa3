/**
 * The gateway's public entry, what `import ... from 'gateway'` gives a handler, script or module
 * written anywhere: the contract's types (`src/types.ts`, each documented), the error classes and
 * their code catalogue, and `defineHandler` / `defineScript`, which type a module's default
 * export without a type annotation.
 */
import type { BalancerScript, CertificateScript, HandlerModule, PhaseScript, Plugin, ScriptOutcome, ScriptRequest, WebSocketScript, WorkerScript } from './types';

export type * from './types';
export { ConfigError, ERROR_CODES, HttpError, InternalRedirect, type ErrorCode, type HttpErrorCode, type Position } from './errors';

/** Declares a content handler module; its options' type is what `configure` returns. */
export function defineHandler<O>(module: HandlerModule<O>): HandlerModule<O> {
  return module;
}

/** Declares a WebSocket script (lua-resty-websocket's API on `ws`, the request on `ctx`). */
export function defineScript(script: WebSocketScript): WebSocketScript {
  return script;
}

/** Declares a `balancer_by` script (OpenResty's `balancer_by_lua` with `ngx.balancer`). */
export function defineBalancer<O = unknown>(script: BalancerScript<O>): BalancerScript<O> {
  return script;
}

/** Declares an `ssl_certificate_by` script (OpenResty's `ssl_certificate_by_lua` with `ngx.ssl`). */
export function defineCertificateScript<O = unknown>(script: CertificateScript<O>): CertificateScript<O> {
  return script;
}

/**
 * Declares a phase script (`rewrite_by`, `access_by`, `content_by`, `header_filter_by`,
 * `body_filter_by`, `log_by`): `{ configure?, run }` (`bodyFilter` for body filters), or a bare
 * `run` function.
 */
export function definePhaseScript<O = Readonly<Record<string, unknown>>>(script: PhaseScript<O> | ((r: ScriptRequest, options: O) => ScriptOutcome | Promise<ScriptOutcome>)): PhaseScript<O> {
  return typeof script === 'function' ? { run: script } : script;
}

/**
 * Declares a plugin (Kong's and APISIX's plugins: a name, a priority, an options schema, a
 * handler per phase), used by name in a `plugins` directive at http, server or location.
 */
export function definePlugin<O = Readonly<Record<string, unknown>>>(plugin: Plugin<O>): Plugin<O> {
  return plugin;
}

/** Declares an `init_worker_by` script (OpenResty's `init_worker_by_lua`); its options' type is what `configure` returns. */
export function defineWorkerScript<O = Readonly<Record<string, unknown>>>(script: WorkerScript<O>): WorkerScript<O> {
  return script;
}
