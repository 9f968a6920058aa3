/**
 * The gRPC module's header rules, pure (nginx's ngx_http_grpc_create_request and its
 * `ngx_http_grpc_headers`): what goes up on the HTTP/2 stream — the pseudo-headers, the
 * location's `grpc_set_header` over nginx's defaults (`Content-Length: $content_length`,
 * `TE: trailers` when the client said it takes them, and `Host`, `Connection`,
 * `Transfer-Encoding`, `Keep-Alive`, `Expect`, `Upgrade` left out), then the client's other
 * headers — and what comes back: the response headers and trailers less nginx's hidden list
 * (`Date`, `Server`, `X-Accel-*`) and what HTTP/2 cannot carry.
 */
import type { IncomingMessage } from 'node:http';
import { compileValue, type CompiledValue } from '../../http/variables';
import type { RequestContext } from '../../types';
import type { HeaderLine } from '../proxy/headers';

/** nginx's default `grpc_hide_header` list (the gateway writes its own `Date` and `Server`). */
const DEFAULT_HIDDEN = ['date', 'server', 'x-accel-expires', 'x-accel-redirect', 'x-accel-limit-rate', 'x-accel-buffering', 'x-accel-charset'];

/** Headers an HTTP/2 message may not carry (RFC 9113 8.2.2): never sent up, never passed back. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

/** nginx's defaults: a name set by `grpc_set_header` replaces its default. An empty value sends nothing. */
const DEFAULTS: readonly (readonly [string, string])[] = [
  ['Content-Length', '$content_length'],
  ['TE', '$grpc_trailers'],
  ['Host', ''],
  ['Connection', ''],
  ['Transfer-Encoding', ''],
  ['Keep-Alive', ''],
  ['Expect', ''],
  ['Upgrade', ''],
];

/** The upstream headers (and trailers) a location hides, lower case: nginx's list and `grpc_hide_header`, less `grpc_pass_header`. */
export function hiddenHeaders(hide: readonly string[], pass: readonly string[]): ReadonlySet<string> {
  const hidden = new Set([...DEFAULT_HIDDEN, ...hide.map((h) => h.toLowerCase())]);
  for (const name of pass) hidden.delete(name.toLowerCase());
  return hidden;
}

/** One header the module writes itself, compiled once. */
interface OwnHeader {
  readonly name: string;
  readonly value: CompiledValue | null;
}

/** A location's request headers, compiled at load. */
export interface GrpcHeaderPlan {
  /** `grpc_set_header` then the defaults they leave, lower-case names; a null value is `$grpc_trailers`. */
  readonly own: readonly OwnHeader[];
  /** Lower-case names of `own`: the client's headers of these names are not copied. */
  readonly ownNames: ReadonlySet<string>;
  /** `grpc_set_header Host ...`: its value goes up as `:authority` (nginx then sends no `:authority` of its own). */
  readonly host: CompiledValue | null;
}

/** Compiles `grpc_set_header` over nginx's defaults. Throws on an unknown variable. */
export function compileGrpcHeaders(setHeaders: readonly (readonly [string, string])[], captureNames: ReadonlySet<string>): GrpcHeaderPlan {
  const own: OwnHeader[] = [];
  let host: CompiledValue | null = null;
  const names = new Set<string>();
  for (const [name, value] of setHeaders) {
    const lower = name.toLowerCase();
    names.add(lower);
    if (lower === 'host') host = compileValue(value, captureNames);
    else own.push({ name: lower, value: compileValue(value, captureNames) });
  }
  for (const [name, value] of DEFAULTS) {
    const lower = name.toLowerCase();
    if (names.has(lower)) continue;
    names.add(lower);
    if (value === '') continue;
    own.push({ name: lower, value: value === '$grpc_trailers' ? null : compileValue(value, captureNames) });
  }
  return { own, ownNames: names, host };
}

/** nginx's `$grpc_internal_trailers`: `trailers` when the client's `TE` names them, else nothing. */
function trailersWanted(req: IncomingMessage): string {
  const te = req.headers.te;
  return te !== undefined && /trailers/i.test(String(te)) ? 'trailers' : '';
}

/** The pseudo-headers of one upstream stream. */
export interface Pseudo {
  readonly method: string;
  readonly scheme: 'http' | 'https';
  readonly path: string;
  /** The `grpc_pass` host, unless `grpc_set_header Host` gives another. */
  readonly authority: string;
}

/**
 * The header block of one upstream stream, as Node's `session.request` takes it: the
 * pseudo-headers, the own headers whose value is not empty, then the client's others (less
 * those the own headers name and what HTTP/2 cannot carry). Repeated client headers stay
 * repeated (a list).
 */
export function buildGrpcHeaders(plan: GrpcHeaderPlan, pseudo: Pseudo, req: IncomingMessage, ctx: Pick<RequestContext, 'evaluate'>): Record<string, string | string[]> {
  const authority = plan.host ? ctx.evaluate(plan.host) || pseudo.authority : pseudo.authority;
  const out: Record<string, string | string[]> = Object.create(null);
  out[':method'] = pseudo.method;
  out[':scheme'] = pseudo.scheme;
  out[':path'] = pseudo.path;
  out[':authority'] = authority;
  const add = (name: string, value: string) => {
    if (CONNECTION_SPECIFIC.has(name) || name.charCodeAt(0) === 0x3a || (name === 'te' && value.toLowerCase() !== 'trailers')) return;
    const earlier = out[name];
    out[name] = earlier === undefined ? value : Array.isArray(earlier) ? [...earlier, value] : [earlier, value];
  };
  for (const { name, value } of plan.own) {
    const text = value === null ? trailersWanted(req) : ctx.evaluate(value);
    if (text !== '') add(name, text);
  }
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const lower = raw[i].toLowerCase();
    if (plan.ownNames.has(lower)) continue;
    add(lower, raw[i + 1]);
  }
  return out;
}

/** The upstream's header or trailer lines the client gets: no pseudo-header, nothing hidden, nothing HTTP/2 forbids. */
export function passedLines(rawHeaders: readonly string[], hidden: ReadonlySet<string>): HeaderLine[] {
  const lines: HeaderLine[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i];
    if (name.charCodeAt(0) === 0x3a) continue;
    const lower = name.toLowerCase();
    if (hidden.has(lower) || CONNECTION_SPECIFIC.has(lower)) continue;
    lines.push([name, rawHeaders[i + 1]]);
  }
  return lines;
}
