/**
 * What nginx appends to an error line written for a request (ngx_http_log_error): the client,
 * the server, the request line and the Host.
 */
import type { IncomingMessage } from 'node:http';
import type { RequestContext } from '../types';

/** `, client: 127.0.0.1, server: example.com, request: "GET / HTTP/1.1", host: "example.com"` */
export function requestLogContext(req: IncomingMessage, ctx: RequestContext): string {
  const host = req.headers.host;
  return (
    `, client: ${ctx.remoteAddress || 'unix:'}, server: ${ctx.server.primaryName}, ` +
    `request: "${req.method} ${req.url} HTTP/${req.httpVersion}"${host ? `, host: "${host}"` : ''}`
  );
}
