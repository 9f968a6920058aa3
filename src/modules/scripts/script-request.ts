/**
 * The `ngx` object a phase script gets (`ScriptRequest`, documented in `src/types.ts`): one
 * small object per script call over the request's context; `exit`, `redirect`, `exec` and a
 * jumping `setUri` end the script by throwing what the runner (`run.ts`) reads.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError, InternalRedirect } from '../../errors';
import { readBodyOnce } from '../../shared/request-body';
import { coreModule } from '../core/module';
import type { CaptureOptions, CaptureResult, Logger, RequestContext, ScriptLogEntry, ScriptPhase, ScriptRequest, SharedDicts, Timers } from '../../types';
import { drained } from '../../shared/drained';

/** What `exit` throws: the runner answers with it. */
export class ScriptExit {
  constructor(
    readonly status: number,
    readonly body: Buffer | null,
  ) {}
}

/** The context's fields a script may change (the gateway's `RequestState` has them). */
interface WritableContext extends RequestContext {
  args: string;
}

/** Encodes `ngx.encode_args`'s way: `a=1&b=x%20y`, `true` as a bare name. */
export function encodeArgs(args: string | Readonly<Record<string, string | number | boolean | readonly (string | number)[]>>): string {
  if (typeof args === 'string') return args;
  const parts: string[] = [];
  for (const [name, value] of Object.entries(args)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v === false) continue;
      parts.push(v === true ? encodeURIComponent(name) : `${encodeURIComponent(name)}=${encodeURIComponent(String(v))}`);
    }
  }
  return parts.join('&');
}

/** Decodes a query string as `ngx.req.get_uri_args` does. */
export function decodeArgs(query: string): Record<string, string | true | (string | true)[]> {
  const out: Record<string, string | true | (string | true)[]> = {};
  if (!query) return out;
  for (const part of query.split('&')) {
    if (!part) continue;
    const eq = part.indexOf('=');
    const name = unescape(eq === -1 ? part : part.slice(0, eq));
    const value: string | true = eq === -1 ? true : unescape(part.slice(eq + 1));
    const earlier = out[name];
    out[name] = earlier === undefined ? value : Array.isArray(earlier) ? [...earlier, value] : [earlier, value];
  }
  return out;
}

function unescape(text: string): string {
  const plus = text.replace(/\+/g, ' ');
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus;
  }
}

/** The `ngx` of one script call. */
/** What a location's scripts share, built once at load: `ngx.shared` and `ngx.timer`. */
export interface ScriptApis {
  readonly shared: SharedDicts;
  readonly timers: Timers;
}

export class PhaseRequest implements ScriptRequest {
  private vars: Record<string, string> | null = null;

  constructor(
    readonly phase: ScriptPhase,
    readonly request: IncomingMessage,
    private readonly res: ServerResponse | null,
    readonly context: RequestContext,
    private readonly apis: ScriptApis,
    readonly entry: ScriptLogEntry | null = null,
  ) {}

  get shared(): SharedDicts {
    return this.apis.shared;
  }

  get timers(): Timers {
    return this.apis.timers;
  }

  get log(): Logger {
    return this.context.log;
  }

  get method(): string {
    return this.request.method ?? 'GET';
  }

  setMethod(method: string): void {
    this.request.method = method.toUpperCase();
  }

  get uri(): string {
    return this.context.uri;
  }

  setUri(uri: string, jump = false): void {
    if (!uri.startsWith('/')) throw new Error(`setUri: "${uri}" is not a path`);
    if (jump) {
      if (this.phase !== 'rewrite') throw new Error('setUri(uri, true) is for the rewrite phase');
      throw new InternalRedirect(uri, this.context.args);
    }
    this.context.setUri(uri);
    this.context.uriChanged = true;
  }

  get args(): string {
    return this.context.args;
  }

  uriArgs(): Record<string, string | true | (string | true)[]> {
    return decodeArgs(this.context.args);
  }

  setUriArgs(args: Parameters<ScriptRequest['setUriArgs']>[0]): void {
    (this.context as WritableContext).args = encodeArgs(args);
    this.context.uriChanged = true;
  }

  header(name: string): string | string[] | undefined {
    return this.request.headers[name.toLowerCase()];
  }

  headers(): Readonly<Record<string, string | string[] | undefined>> {
    return this.request.headers;
  }

  setHeader(name: string, value: string | readonly string[]): void {
    this.clearHeader(name);
    const values = typeof value === 'string' ? [value] : [...value];
    const req = this.request;
    req.headers[name.toLowerCase()] = values.length === 1 ? values[0] : values;
    for (const v of values) req.rawHeaders.push(name, v);
  }

  clearHeader(name: string): void {
    const lower = name.toLowerCase();
    const req = this.request;
    delete req.headers[lower];
    const raw = req.rawHeaders;
    const kept: string[] = [];
    for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i].toLowerCase() !== lower) kept.push(raw[i], raw[i + 1]);
    req.rawHeaders = kept;
  }

  readBody(): Promise<Buffer> {
    this.only(['rewrite', 'access', 'content'], 'readBody');
    const core = this.context.location.confs.get(coreModule);
    // A client that waits for `100 Continue` gets it once its body is asked for (as nginx's read_body).
    const state = this.context as RequestContext & { continued?: boolean };
    const res = this.res;
    if (res && !state.continued && this.request.httpVersionMinor >= 1 && /^100-continue$/i.test(this.request.headers.expect ?? '')) {
      state.continued = true;
      res.writeContinue();
    }
    // Read once per request, kept for the proxy, which sends these bytes upstream.
    return readBodyOnce(this.context.data, this.request, { limit: core.clientMaxBodySize, timeoutMs: core.clientBodyTimeout, log: this.context.log });
  }

  get var(): Record<string, string> {
    return (this.vars ??= variables(this.context));
  }

  get ctx(): Record<string | symbol, unknown> {
    return this.context.data;
  }

  exit(status: number, body?: string | Buffer): never {
    if (!Number.isInteger(status) || status < 0 || status > 999) throw new Error(`exit: bad status ${status}`);
    throw new ScriptExit(status, body === undefined ? null : typeof body === 'string' ? Buffer.from(body) : body);
  }

  redirect(uri: string, status = 302): never {
    if (![301, 302, 303, 307, 308].includes(status)) throw new Error(`redirect: bad status ${status}`);
    throw new HttpError(status, 'GW_SCRIPT_EXIT', undefined, { Location: uri });
  }

  exec(uri: string, args?: Parameters<ScriptRequest['exec']>[1]): never {
    this.only(['rewrite', 'access', 'content'], 'exec');
    const query = uri.indexOf('?');
    if (query !== -1 && args === undefined) throw new InternalRedirect(uri.slice(0, query), uri.slice(query + 1));
    throw new InternalRedirect(uri, args === undefined ? '' : encodeArgs(args));
  }

  say(...values: (string | number | Buffer)[]): void {
    this.write(values, true);
  }

  print(...values: (string | number | Buffer)[]): void {
    this.write(values, false);
  }

  flush(): Promise<void> {
    const res = this.res;
    if (!res || !res.writableNeedDrain) return Promise.resolve();
    return drained(res);
  }

  eof(): void {
    this.only(['rewrite', 'access', 'content'], 'eof');
    const res = this.res;
    if (!res) throw new Error('nothing can be written on a request that asks for an upgrade');
    if (!res.headersSent && !res.hasHeader('content-type')) res.setHeader('Content-Type', this.context.location.confs.get(coreModule).defaultType);
    res.end();
  }

  sleep(seconds: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, Math.max(0, seconds * 1000)));
  }

  async capture(uri: string, options: CaptureOptions = {}): Promise<CaptureResult> {
    this.only(['rewrite', 'access', 'content'], 'capture');
    const query = uri.indexOf('?');
    const args = options.args !== undefined ? encodeArgs(options.args) : query === -1 ? '' : uri.slice(query + 1);
    const result = await this.context.subrequest({
      uri: query === -1 ? uri : uri.slice(0, query),
      args,
      method: options.method,
      headers: options.headers,
      requestBody: options.body === undefined ? undefined : typeof options.body === 'string' ? Buffer.from(options.body) : options.body,
      body: true,
    });
    return { status: result.status, headers: result.headers, body: result.body ?? Buffer.alloc(0) };
  }

  get status(): number {
    return this.entry?.status ?? this.res?.statusCode ?? 0;
  }

  set status(status: number) {
    const res = this.res;
    if (!res || res.headersSent || (this.phase !== 'content' && this.phase !== 'header_filter')) {
      throw new Error(`status cannot be set ${res?.headersSent ? 'after the header went out' : `in ${this.phase}`}`);
    }
    res.statusCode = status;
  }

  responseHeader(name: string): string | string[] | number | undefined {
    return this.res?.getHeader(name);
  }

  setResponseHeader(name: string, value: string | number | readonly string[] | null): void {
    const res = this.res;
    if (!res || res.headersSent) throw new Error(`response headers cannot be set ${res ? 'after the header went out' : `in ${this.phase}`}`);
    if (value === null) res.removeHeader(name);
    else res.setHeader(name, typeof value === 'object' ? [...value] : value);
  }

  /** `say`/`print`: the header first (the location's `default_type` when none was set), then the values. */
  private write(values: readonly (string | number | Buffer)[], newline: boolean): void {
    this.only(['rewrite', 'access', 'content'], newline ? 'say' : 'print');
    const res = this.res;
    if (!res) throw new Error('nothing can be written on a request that asks for an upgrade');
    if (!res.headersSent && !res.hasHeader('content-type')) res.setHeader('Content-Type', this.context.location.confs.get(coreModule).defaultType);
    for (const v of values) res.write(typeof v === 'number' ? String(v) : v);
    if (newline) res.write('\n');
  }

  private only(phases: readonly ScriptPhase[], call: string): void {
    if (!phases.includes(this.phase)) throw new Error(`${call} is not allowed in ${this.phase}`);
  }
}

/** `ngx.var`: reads any variable; sets `args` and user variables. */
function variables(ctx: RequestContext): Record<string, string> {
  return new Proxy({} as Record<string, string>, {
    get: (_target, name) => (typeof name === 'string' ? ctx.variable(name) : undefined),
    set(_target, name, value) {
      if (typeof name !== 'string') return false;
      if (name === 'args') {
        (ctx as WritableContext).args = String(value);
        ctx.uriChanged = true;
      } else ctx.setVariable(name, String(value));
      return true;
    },
  });
}
