/**
 * The gateway's public entry, what `import ... from 'gateway'` gives a handler, script or module
 * written anywhere: the contract's types (`src/types.ts`, each documented), the error classes and
 * their code catalogue, and `defineHandler` / `defineScript`, which type a module's default
 * export without a type annotation.
 */
import type { HandlerModule, WebSocketScript, WorkerScript } from './types';

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

/** Declares an `init_worker_by` script (OpenResty's `init_worker_by_lua`); its options' type is what `configure` returns. */
export function defineWorkerScript<O = Readonly<Record<string, unknown>>>(script: WorkerScript<O>): WorkerScript<O> {
  return script;
}
