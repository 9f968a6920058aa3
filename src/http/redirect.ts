/**
 * nginx's absolute redirects (`absolute_redirect on`, `port_in_redirect on`,
 * `server_name_in_redirect off`): the Location a redirect of the gateway's own carries.
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
