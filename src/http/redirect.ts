/**
 * nginx's absolute redirects (`absolute_redirect`, `port_in_redirect`,
 * `server_name_in_redirect`, as ngx_http_header_filter applies them): the Location a redirect
 * of the gateway's own carries.
 */
import type { IncomingMessage } from 'node:http';

/** The host a redirect names: the request's (Host header or absolute-form target), else the local address. */
export function redirectHost(req: IncomingMessage, ctx: { readonly host: string; variable(name: string): string }): string {
  const named = req.headers.host !== undefined || /^[a-z][a-z0-9+.-]*:\/\//i.test(req.url ?? '');
  return named ? ctx.host : ctx.variable('server_addr');
}

/** `scheme://host[:port]path`, the port left out when it is the scheme's default, IPv6 in brackets. */
export function absoluteUrl(scheme: string, host: string, port: string, path: string): string {
  const defaultPort = scheme === 'https' ? '443' : '80';
  const name = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return `${scheme}://${name}${port && port !== defaultPort ? `:${port}` : ''}${path}`;
}

/** A location's `absolute_redirect`, `port_in_redirect` and `server_name_in_redirect`. */
export interface RedirectConf {
  readonly absoluteRedirect: boolean;
  readonly portInRedirect: boolean;
  readonly serverNameInRedirect: boolean;
}

/**
 * A Location starting with `/` as nginx's header filter sends it: with `absolute_redirect on`,
 * prefixed with the scheme, the host (the server's first name with `server_name_in_redirect
 * on`, else the one the client named, else the local address) and the local port (with
 * `port_in_redirect on`, unless the scheme's default); as it is otherwise.
 */
export function absoluteLocation(location: string, conf: RedirectConf, req: IncomingMessage, ctx: { readonly scheme: string; readonly host: string; variable(name: string): string }): string {
  if (!location.startsWith('/') || !conf.absoluteRedirect) return location;
  const host = conf.serverNameInRedirect ? ctx.variable('server_name') : redirectHost(req, ctx);
  return absoluteUrl(ctx.scheme, host, conf.portInRedirect ? ctx.variable('server_port') : '', location);
}
