/**
 * `proxy_pass` as nginx reads it: the URL checked once at load, and nginx's rule for the URI
 * sent upstream (the location prefix replaced by the URL's URI part, or the client's request
 * URI passed unchanged when there is none). Pure: no sockets here.
 */
import { isIP } from 'node:net';
import type { LocationMatch } from '../../config/values';
import { unixPath } from './upstreams';

/** A checked `proxy_pass` URL. */
export interface ProxyTarget {
  /** The URL as written, for messages. */
  readonly url: string;
  readonly protocol: 'http:' | 'https:';
  /** The host name or address, without the brackets of an IPv6 literal (`localhost` for a unix socket). */
  readonly hostname: string;
  readonly port: number;
  /** `http://unix:/path:/uri`: the socket's path, else null. */
  readonly socketPath: string | null;
  /** `$proxy_host`: the host, with `:port` unless the port is the scheme's default (`localhost` for a unix socket, as nginx). */
  readonly proxyHost: string;
  /** The URI part (`/`, `/prefix/`), or null when the URL has none. */
  readonly uriPart: string | null;
}

/** nginx's words for a URI part where it cannot be replaced into. */
export const URI_PART_NOT_ALLOWED =
  '"proxy_pass" cannot have URI part in location given by regular expression, ' +
  'or inside named location, or inside "if" statement, or inside "limit_except" block';

const DEFAULT_PORTS = { 'http:': 80, 'https:': 443 } as const;

/**
 * Parses a `proxy_pass` URL (written, or made by its variables). Throws a plain Error whose
 * message is the reason (nginx's wording where nginx has one).
 */
export function parseProxyPass(value: string): ProxyTarget {
  const scheme = /^(https?):\/\//i.exec(value);
  if (!scheme) throw new Error(`invalid URL prefix in "${value}"`);
  const protocol = scheme[1].toLowerCase() === 'https' ? 'https:' : 'http:';
  const rest = value.slice(scheme[0].length);
  // `http://unix:/path:/uri`: the path up to the next `:`, the URI part after it (nginx's ngx_parse_unix_domain_url).
  if (/^unix:/i.test(rest)) {
    const colon = rest.indexOf(':', 5);
    const socketPath = unixPath(colon < 0 ? rest.slice(5) : rest.slice(5, colon), rest);
    const uri = colon < 0 ? '' : rest.slice(colon + 1);
    return { url: value, protocol, hostname: 'localhost', port: DEFAULT_PORTS[protocol], socketPath, proxyHost: 'localhost', uriPart: uri === '' ? null : uri };
  }
  // The URI part starts at the first `/` or `?` (a bare `?args` gets its `/`, as nginx's).
  const slash = rest.search(/[/?]/);
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const uriPart = slash < 0 ? null : rest[slash] === '?' ? `/${rest.slice(slash)}` : rest.slice(slash);
  if (uriPart !== null && /[\s#]/.test(uriPart)) throw new Error(`invalid URI part in "${value}"`);
  const { hostname, port, literal } = parseAuthority(authority);
  const defaultPort = DEFAULT_PORTS[protocol];
  const resolvedPort = port ?? defaultPort;
  const proxyHost = resolvedPort === defaultPort ? literal : `${literal}:${resolvedPort}`;
  return { url: value, protocol, hostname, port: resolvedPort, socketPath: null, proxyHost, uriPart };
}

function parseAuthority(authority: string): { hostname: string; port: number | null; literal: string } {
  let literal: string;
  let portText: string | null = null;
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    if (end < 0) throw new Error(`invalid IPv6 address in upstream "${authority}"`);
    literal = authority.slice(0, end + 1);
    const after = authority.slice(end + 1);
    if (after && !after.startsWith(':')) throw new Error(`invalid host in upstream "${authority}"`);
    if (after) portText = after.slice(1);
  } else {
    const colon = authority.lastIndexOf(':');
    literal = colon < 0 ? authority : authority.slice(0, colon);
    if (colon >= 0) portText = authority.slice(colon + 1);
    if (literal && !/^[A-Za-z0-9._-]+$/.test(literal)) throw new Error(`invalid host in upstream "${authority}"`);
  }
  if (!literal || literal === '[]') throw new Error(`no host in upstream "${authority}"`);
  let port: number | null = null;
  if (portText !== null) {
    port = Number(portText);
    if (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535) throw new Error(`invalid port in upstream "${authority}"`);
  }
  const hostname = literal.startsWith('[') ? literal.slice(1, -1) : literal.toLowerCase();
  return { hostname, port, literal: literal.startsWith('[') ? literal : hostname };
}

/** Whether nginx accepts this target in a location of this kind (the reason when not). */
export function checkTargetForLocation(target: ProxyTarget, match: LocationMatch): string | null {
  if (target.uriPart !== null && (match.kind === 'regex' || match.kind === 'named')) return URI_PART_NOT_ALLOWED;
  return null;
}

/** What the URI rule needs of one request. */
export interface UriSource {
  /** The request target as the client sent it (`req.url`). */
  readonly url: string;
  /** The normalized, decoded path (`$uri`). */
  readonly uri: string;
  /** The raw query string (`$args`). */
  readonly args: string;
  /** A script changed `$uri` or `$args` (nginx's `valid_unparsed_uri` cleared): `url` is not sent as it is. */
  readonly changed?: boolean;
  /** `rewrite ... break` changed `$uri` in this location: the whole `$uri` goes, the target's URI ignored (nginx). */
  readonly inPlace?: boolean;
}

/**
 * The URI sent upstream. With a URI part, the part of `$uri` that the location prefix matched
 * is replaced by it, the rest escaped as nginx escapes it, then `?$args`. Without one, the
 * client's request URI goes unchanged (the path and query of an absolute-form target).
 */
export function upstreamUri(target: ProxyTarget, match: LocationMatch, source: UriSource): string {
  if (target.uriPart === null || source.inPlace) return source.changed || source.inPlace ? escapeUri(source.uri) + (source.args ? `?${source.args}` : '') : originalUri(source.url);
  const prefix = match.kind === 'prefix' || match.kind === 'exact' ? match.path : '';
  const rest = prefix && source.uri.startsWith(prefix) ? source.uri.slice(prefix.length) : source.uri;
  return target.uriPart + escapeUri(rest) + (source.args ? `?${source.args}` : '');
}

/**
 * The URI sent upstream by a `proxy_pass` with variables (nginx's rule): the URI part the
 * variables made, as they made it (no prefix replaced, no `?$args` added); without one, the
 * request URI as without a URI part.
 */
export function variableUpstreamUri(target: ProxyTarget, source: UriSource): string {
  if (target.uriPart !== null) return target.uriPart;
  return source.changed ? escapeUri(source.uri) + (source.args ? `?${source.args}` : '') : originalUri(source.url);
}

/** Whether a host is an address literal (no resolver needed), as nginx's `ngx_parse_url` with `no_resolve`. */
export function isAddressLiteral(hostname: string): boolean {
  return isIP(hostname) !== 0;
}

/** The request URI of a target: `/p?q` as is; `http://host/p?q` gives `/p?q`. */
export function originalUri(url: string): string {
  const absolute = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(url);
  if (!absolute) return url || '/';
  const rest = url.slice(absolute[0].length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

const HEX = '0123456789ABCDEF';

/**
 * nginx's NGX_ESCAPE_URI over the UTF-8 bytes of `path`: control characters, space, `#`,
 * `%`, `?`, DEL and bytes above 0x7f become `%XX`; everything else stays.
 */
export function escapeUri(path: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[\x00-\x20#%?\x7f-\uffff]/.test(path)) return path;
  let out = '';
  for (const byte of Buffer.from(path, 'utf8')) {
    const escape = byte <= 0x20 || byte === 0x23 || byte === 0x25 || byte === 0x3f || byte >= 0x7f;
    out += escape ? `%${HEX[byte >> 4]}${HEX[byte & 15]}` : String.fromCharCode(byte);
  }
  return out;
}
