/**
 * The end of nginx's error log line for a request (`ngx_http_log_error`): `, client: ADDR,
 * server: NAME, request: "LINE", host: "HOST"`, made only when a line is written.
 */
import type { IncomingMessage } from 'node:http';
import type { RequestContext } from '../types';

/** `, client: ..., server: ..., request: "...", host: "..."` (no host when the request had none). */
export function requestLogContext(req: IncomingMessage, ctx: Pick<RequestContext, 'remoteAddress' | 'server'>): string {
  const host = req.headers.host;
  return (
    `, client: ${ctx.remoteAddress || 'unix:'}, server: ${ctx.server.primaryName}, ` +
    `request: "${req.method} ${req.url} HTTP/${req.httpVersion}"${host ? `, host: "${host}"` : ''}`
  );
}
