/**
 * `grpc_pass` as nginx reads it (ngx_http_grpc_pass): `grpc://` (cleartext HTTP/2, h2c with
 * prior knowledge), `grpcs://` (HTTP/2 over TLS, ALPN h2), or no scheme at all (cleartext);
 * then `host:port`, `[v6]:port`, `unix:/path`, or the name of an `upstreams` block. A URI
 * part is ignored, as nginx ignores it: the client's request URI is what goes up. Pure.
 */
import { isIP } from 'node:net';
import type { UpstreamConf } from '../proxy/upstreams';
import { unixPath } from '../proxy/upstreams';

/** One peer: an address to connect to (a `grpc_pass` host, or an upstream's server). */
export interface GrpcPeer {
  /** `host:port` or `unix:/path`: `$upstream_addr` and the log's `upstream:`. */
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly socketPath: string | null;
}

/** A checked `grpc_pass`. */
export interface GrpcTarget {
  /** `grpcs://`: TLS to the peers. */
  readonly tls: boolean;
  /** `:authority` sent up (nginx's `glcf->host`): the host as written, with `:port` when written; `localhost` for a unix socket. */
  readonly authority: string;
  /** The upstream block it names, or null for one address. */
  readonly upstream: UpstreamConf | null;
  /** The one peer when no upstream is named. */
  readonly peer: GrpcPeer | null;
}

/**
 * Parses a `grpc_pass` value against the http block's upstreams. Throws a plain Error whose
 * message is nginx's reason.
 */
export function parseGrpcPass(value: string, upstreams: ReadonlyMap<string, UpstreamConf>): GrpcTarget {
  const scheme = /^grpcs?:\/\//i.exec(value);
  const tls = scheme !== null && scheme[0].length === 8;
  const rest = scheme ? value.slice(scheme[0].length) : value;
  if (/^unix:/i.test(rest)) {
    const socketPath = unixPath(rest.slice(5), value);
    return { tls, authority: 'localhost', upstream: null, peer: { name: `unix:${socketPath}`, host: 'localhost', port: 0, socketPath } };
  }
  const slash = rest.search(/[/?]/);
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  if (authority === '') throw new Error(`no host in upstream "${rest}"`);
  let host: string;
  let portText: string | null = null;
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::(.*))?$/.exec(authority);
  if (v6) {
    host = v6[1];
    portText = v6[2] ?? null;
  } else {
    const colon = authority.lastIndexOf(':');
    host = colon < 0 ? authority : authority.slice(0, colon);
    if (colon >= 0) portText = authority.slice(colon + 1);
    if (!/^[A-Za-z0-9._-]+$/.test(host)) throw new Error(`invalid host in upstream "${authority}"`);
    host = host.toLowerCase();
  }
  if (portText === null) {
    // Without a port only an upstream block will do (nginx: "no port in upstream").
    const upstream = upstreams.get(host);
    if (!upstream) throw new Error(`no port in upstream "${authority}"`);
    return { tls, authority: host, upstream, peer: null };
  }
  const port = Number(portText);
  if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) throw new Error(`invalid port in upstream "${authority}"`);
  const literal = v6 || isIP(host) === 6 ? `[${host}]` : host;
  return { tls, authority: `${literal}:${portText}`, upstream: null, peer: { name: `${literal}:${port}`, host, port, socketPath: null } };
}
