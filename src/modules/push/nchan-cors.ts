/**
 * nchan's cross-origin answers (its `nchan_include_access_control_if_needed` and
 * `nchan_match_origin_header`): a request with an `Origin` gets `Access-Control-Allow-Credentials:
 * true` (unless `nchan_access_control_allow_credentials off`) and `Access-Control-Allow-Origin`,
 * the origin itself or `*` when `nchan_access_control_allow_origin` is `*`; an origin that
 * `nchan_access_control_allow_origin` (a space-separated list, with variables) does not name is
 * refused with an empty 403. An `OPTIONS` preflight also gets the allowed headers and methods.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CompiledValue } from '../../http/variables';
import type { RequestContext } from '../../types';

/** What a location's nchan directives say of other origins. */
export interface NchanCors {
  /** `nchan_access_control_allow_origin`; null: any origin (nchan's default, `$http_origin`). */
  readonly allowOrigin: CompiledValue | null;
  /** `nchan_access_control_allow_credentials` (on). */
  readonly allowCredentials: boolean;
}

/** The headers an OPTIONS answer names, per kind of location (nchan's). */
export const OPTIONS_OF = {
  publisher: { headers: 'Content-Type', methods: 'GET, POST, PUT, DELETE' },
  subscriber: { headers: 'If-None-Match, If-Modified-Since, Content-Type, Cache-Control, X-EventSource-Event', methods: 'GET' },
  pubsub: { headers: 'If-None-Match, If-Modified-Since, Content-Type, Cache-Control, X-EventSource-Event', methods: 'GET, POST, PUT, DELETE' },
} as const;

/**
 * Sets the Access-Control headers of the answer to `req` on `res`; false (the caller answers an
 * empty 403, with them) when the request's origin is not allowed.
 */
export function applyNchanCors(cors: NchanCors, req: IncomingMessage, res: ServerResponse, ctx: RequestContext): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  if (cors.allowCredentials) res.setHeader('Access-Control-Allow-Credentials', 'true');
  const allowed = cors.allowOrigin === null ? null : ctx.evaluate(cors.allowOrigin);
  res.setHeader('Access-Control-Allow-Origin', allowed === '*' ? '*' : origin);
  return originAllowed(cors, req, ctx);
}

/** Whether the request's origin (if it names one) is allowed, for a WebSocket handshake (no headers added). */
export function originAllowed(cors: NchanCors, req: IncomingMessage, ctx: RequestContext): boolean {
  const origin = req.headers.origin;
  if (origin === undefined || cors.allowOrigin === null) return true;
  return ctx.evaluate(cors.allowOrigin).split(' ').some((item) => item === '*' || item === origin);
}

/** nchan's answer to OPTIONS: an empty 200 with `Allow`, and with an `Origin` the preflight's headers. */
export function answerNchanOptions(kind: keyof typeof OPTIONS_OF, req: IncomingMessage, res: ServerResponse): void {
  const { headers, methods } = OPTIONS_OF[kind];
  const preflight = req.headers.origin === undefined ? {} : { 'Access-Control-Allow-Headers': headers, 'Access-Control-Allow-Methods': methods };
  res.writeHead(200, { 'Content-Length': 0, Allow: methods, ...preflight });
  res.end();
}

/** nchan's empty answer: a status with no body. */
export function answerNchanEmpty(res: ServerResponse, status: number): void {
  res.writeHead(status, { 'Content-Length': 0 });
  res.end();
}
