/**
 * The scripts module's work per location, compiled once: `rewrite_by` at the end of the rewrite
 * phase and `access_by` at the end of the access phase (after the built-in modules' handlers, as
 * OpenResty postpones its handlers to the end of their phases; under `satisfy` like any access
 * handler), `log_by` in the log phase before the access log is written, and `header_filter_by`
 * / `body_filter_by` as a response filter that runs before the built-in filters (`add_header`,
 * gzip), as OpenResty's filters sit at the top of nginx's chains. The phase handlers do not
 * say they answer (`PhaseHandler.answers`): a location with scripts still takes upgrades (an
 * access script in front of a WebSocket proxy), and a script that answers an upgrade request
 * answers it as HTTP (its `exit` status).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { HttpError } from '../../errors';
import { errorPageHtml } from '../../http/status';
import { requestLogContext } from '../../shared/log-context';
import type { BodyTransform, LocationModule, PhaseHandler, PhaseOutcome, RequestContext, ResponseFilter, ScriptPhase } from '../../types';
import { coreModule } from '../core/module';
import type { LoadedScript } from './module';
import { scriptsModule } from './module';
import { pluginsModule } from '../plugins/module';
import { phaseRunners } from '../plugins/order';
import { failed, runScripts, type ScriptsEnd } from './run';
import { PhaseRequest, ScriptExit, type ScriptApis } from './script-request';

const EMPTY = Buffer.alloc(0);

export const scriptPhases: LocationModule = {
  name: 'scripts',
  phases(location, env): PhaseHandler[] {
    const conf = location.confs.get(scriptsModule);
    const { plugins } = location.confs.get(pluginsModule);
    const rewriteBy = phaseRunners(conf.rewriteBy, plugins, 'rewrite');
    const accessBy = phaseRunners(conf.accessBy, plugins, 'access');
    const logBy = phaseRunners(conf.logBy, plugins, 'log');
    const handlers: PhaseHandler[] = [];
    const timeout = conf.scriptTimeout;
    const names = (list: readonly LoadedScript[]) => list.map((s) => s.name).join(', ');
    const apis = (list: readonly LoadedScript[]): ScriptApis => ({ shared: env.shared, timers: env.timers(names(list)) });
    if (rewriteBy.length) {
      const scripts = rewriteBy;
      const api = apis(scripts);
      handlers.push({ phase: 'rewrite', name: `rewrite_by ${names(scripts)}`, run: (req, res, ctx) => phase('rewrite', scripts, api, timeout, req, res, ctx) });
    }
    if (accessBy.length) {
      const scripts = accessBy;
      const api = apis(scripts);
      handlers.push({ phase: 'access', name: `access_by ${names(scripts)}`, run: (req, res, ctx) => phase('access', scripts, api, timeout, req, res, ctx) });
    }
    if (logBy.length) {
      const scripts = logBy;
      const api = apis(scripts);
      handlers.push({ phase: 'log', name: `log_by ${names(scripts)}`, log: (req, ctx, status) => logPhase(scripts, api, req, ctx, status) });
    }
    return handlers;
  },
  filter(location, env): ResponseFilter | null {
    const conf = location.confs.get(scriptsModule);
    const { plugins } = location.confs.get(pluginsModule);
    const headerScripts = phaseRunners(conf.headerFilterBy, plugins, 'header_filter');
    const bodyScripts = phaseRunners(conf.bodyFilterBy, plugins, 'body_filter');
    if (headerScripts.length === 0 && bodyScripts.length === 0) return null;
    const api: ScriptApis = { shared: env.shared, timers: env.timers([...headerScripts, ...bodyScripts].map((s) => s.name).join(', ')) };
    return {
      name: [headerScripts.length ? `header_filter_by ${headerScripts.map((s) => s.name).join(', ')}` : '', bodyScripts.length ? `body_filter_by ${bodyScripts.map((s) => s.name).join(', ')}` : '']
        .filter(Boolean)
        .join('; '),
      // Either may change the body: a header filter that fails replaces it with the 500 page.
      mayTransform: () => true,
      // A body a script rewrites takes no byte ranges (as gzip's: nginx's range filter needs a known length).
      transforms: () => bodyScripts.length > 0,
      header(res, _status, req, ctx) {
        if (headerScripts.length && !headerFilter(headerScripts, api, res, req, ctx)) return errorPage(res);
        if (bodyScripts.length === 0) return null;
        // No ranges of a filtered body (nginx's range filter offers none for a body it cannot
        // know). Its length is the filters' to decide: kept when every one says it keeps it
        // (`keepsLength`, and checked), else sent chunked.
        res.removeHeader('accept-ranges');
        const declared = bodyScripts.every((s) => s.use().script.keepsLength === true) ? declaredLength(res, req) : null;
        if (declared === null) res.removeHeader('content-length');
        return bodyTransform(bodyScripts, new PhaseRequest('body_filter', req, res, ctx, api), ctx, declared);
      },
    };
  },
};

/** Rewrite or access: the scripts, then what their end means to the phase engine. */
function phase(name: ScriptPhase, scripts: readonly LoadedScript[], api: ScriptApis, timeout: number, req: IncomingMessage, res: ServerResponse | null, ctx: RequestContext): PhaseOutcome | Promise<PhaseOutcome> {
  const r = new PhaseRequest(name, req, res, ctx, api);
  const end = runScripts(scripts, r, timeout);
  return end instanceof Promise ? end.then((e) => outcome(e, name, res, req, ctx)) : outcome(end, name, res, req, ctx);
}

/**
 * As nginx reads a Lua handler's end: `exit(0)` ends the phase; an exit that answers is
 * `'done'`; a script that wrote (`say`) without exit ends the response; a rewrite script that
 * returns declines, an access script that returns lets the client in (OpenResty's NGX_OK),
 * unless it said `'declined'`.
 */
function outcome(end: ScriptsEnd, name: ScriptPhase, res: ServerResponse | null, req: IncomingMessage, ctx: RequestContext): PhaseOutcome {
  if (end.kind === 'exit') return answerExit(end.exit, res, req, ctx);
  if (res?.headersSent) {
    res.end();
    return 'done';
  }
  return name === 'access' && !end.declined ? 'ok' : undefined;
}

/** `exit(status[, body])`: see `ScriptRequest.exit`. */
export function answerExit(exit: ScriptExit, res: ServerResponse | null, req: IncomingMessage, ctx: RequestContext): PhaseOutcome {
  const { status, body } = exit;
  if (status === 0 && body === null) return 'ok';
  if (!res || (status >= 300 && body === null && !res.headersSent)) throw new HttpError(status || 200, 'GW_SCRIPT_EXIT');
  if (res.headersSent) {
    if (status >= 300) ctx.log.error(`attempt to set status ${status} via exit after sending out the response status ${res.statusCode}${requestLogContext(req, ctx)}`);
    res.end(body ?? undefined);
    return 'done';
  }
  if (body === null) {
    res.writeHead(status || 200, { 'Content-Length': 0 }).end();
    return 'done';
  }
  if (!res.hasHeader('content-type')) res.setHeader('Content-Type', ctx.location.confs.get(coreModule).defaultType);
  res.writeHead(status || 200, { 'Content-Length': body.length });
  res.end(req.method === 'HEAD' ? undefined : body);
  return 'done';
}

/** The log phase: each script with the entry; a failure is logged, nothing else happens. */
function logPhase(scripts: readonly LoadedScript[], api: ScriptApis, req: IncomingMessage, ctx: RequestContext, status: number): void {
  const state = ctx as RequestContext & { bodyBytesSent?: number; startTime?: number };
  const entry = { status, bodyBytesSent: state.bodyBytesSent ?? 0, requestTime: state.startTime === undefined ? 0 : Math.max(0, (performance.now() - state.startTime) / 1000) };
  // The response, done: its headers read as `ngx.header` does in log_by_lua (nothing can change them now).
  const res = (ctx as RequestContext & { res?: ServerResponse | null }).res ?? null;
  const r = new PhaseRequest('log', req, res, ctx, api, entry);
  for (const loaded of scripts) {
    const { script, options } = loaded.use();
    try {
      const out = script.run!(r, options);
      if (out instanceof Promise) out.catch((err: unknown) => failed(err, loaded, 'log', req, ctx));
    } catch (err) {
      failed(err, loaded, 'log', req, ctx);
    }
  }
}

/** The header filter scripts, synchronously: false when one failed (logged). */
function headerFilter(scripts: readonly LoadedScript[], api: ScriptApis, res: ServerResponse, req: IncomingMessage, ctx: RequestContext): boolean {
  const r = new PhaseRequest('header_filter', req, res, ctx, api);
  for (const loaded of scripts) {
    const { script, options } = loaded.use();
    try {
      const out = script.run!(r, options);
      if (out instanceof Promise) {
        out.catch(() => {});
        throw new Error('a header_filter_by script cannot wait (it returned a promise)');
      }
    } catch (err) {
      if (err instanceof ScriptExit && err.status === 0) return true;
      failed(err, loaded, 'header_filter', req, ctx);
      return false;
    }
  }
  return true;
}

/** A header filter failed before the header went out: nginx's 500 page instead of the response. */
function errorPage(res: ServerResponse): BodyTransform {
  const signature = String(res.getHeader('server') ?? '');
  for (const name of res.getHeaderNames()) if (name !== 'server') res.removeHeader(name);
  const page = Buffer.from(errorPageHtml(500, signature));
  res.statusCode = 500;
  res.setHeader('Content-Type', 'text/html');
  res.setHeader('Content-Length', page.length);
  res.shouldKeepAlive = false;
  return {
    whole: () => page,
    stream: () =>
      new Transform({
        transform: (_chunk, _encoding, callback) => callback(),
        flush(callback) {
          this.push(page);
          callback();
        },
      }),
  };
}

/** The Content-Length a response with a body declares, or null (none, HEAD, or a status without a body). */
function declaredLength(res: ServerResponse, req: IncomingMessage): number | null {
  const value = res.getHeader('content-length');
  if (value === undefined || req.method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304) return null;
  const length = Number(value);
  return Number.isSafeInteger(length) && length >= 0 ? length : null;
}

/**
 * The body filter scripts over each chunk, streaming: a chunk is never kept past its turn. With
 * a `declared` length (scripts that keep it), what they send is counted: more than it, or less
 * by the end, throws (the response is cut) with an error line.
 */
function bodyTransform(scripts: readonly LoadedScript[], r: PhaseRequest, ctx: RequestContext, declared: number | null): BodyTransform {
  let sent = 0;
  const check = (out: Buffer, eof: boolean): Buffer => {
    sent += out.length;
    if (sent > declared! || (eof && sent !== declared)) {
      const message = `body_filter_by ${scripts.map((s) => s.name).join(', ')} sent ${eof ? sent : `more than ${declared}`} bytes of a body whose Content-Length is ${declared} (a filter that changes the length does not say keepsLength)`;
      ctx.log.error(`${message}${requestLogContext(r.request, ctx)}`);
      throw new Error(message);
    }
    return out;
  };
  const filter = (chunk: Buffer, eof: boolean): Buffer => {
    for (const loaded of scripts) {
      const { script, options } = loaded.use();
      let out;
      try {
        out = script.bodyFilter!(chunk, eof, r, options);
      } catch (err) {
        // The header went out: the connection is cut (the stream's error), as nginx does.
        failed(err, loaded, 'body_filter', r.request, ctx);
        throw err;
      }
      chunk = out === undefined ? chunk : out === null ? EMPTY : typeof out === 'string' ? Buffer.from(out) : out;
    }
    return chunk;
  };
  const apply = declared === null ? filter : (chunk: Buffer, eof: boolean): Buffer => check(filter(chunk, eof), eof);
  return {
    whole: (body) => apply(body, true),
    // Chunk by chunk in the writer's turn (no stream per response) when no later transform streams.
    inline: apply,
    stream: () =>
      new Transform({
        transform(chunk: Buffer, _encoding, callback: TransformCallback) {
          try {
            const out = apply(chunk, false);
            callback(null, out.length ? out : undefined);
          } catch (err) {
            callback(err as Error);
          }
        },
        flush(callback: TransformCallback) {
          try {
            const out = apply(EMPTY, true);
            callback(null, out.length ? out : undefined);
          } catch (err) {
            callback(err as Error);
          }
        },
      }),
  };
}
