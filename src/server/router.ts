/**
 * Pure routing, as nginx does it: normalize the request URI once, pick the virtual server by
 * Host among those on the listening socket, match the location in nginx's order. Tables are
 * compiled once per configuration.
 */
import type { LocationConf, ServerConf } from '../config/model';
import type { LocationMatch } from '../config/values';
import { HttpError } from '../errors';

/** The request target, split and normalized. */
export interface NormalizedUri {
  /** The decoded path with `//`, `/./` and `/../` resolved (`$uri`). */
  readonly uri: string;
  /** The raw query string without `?` (`$args`). */
  readonly args: string;
  /** The host of an absolute-form target (`GET http://host/path`), which wins over Host. */
  readonly host: string | null;
}

const badRequest = (reason: string) => new HttpError(400, 'GW_BAD_URI', reason);

/**
 * Normalizes a request target as nginx's complex URI parser does: cut the fragment,
 * percent-decode (a bad escape or a NUL is 400), merge slashes, resolve `.` and `..`
 * (climbing above `/` is 400).
 */
export function normalizeUri(target: string, mergeSlashes = true): NormalizedUri {
  const plain = plainTarget(target);
  if (plain) return plain;
  let host: string | null = null;
  let rest = target;
  // nginx takes any scheme in an absolute-form target (letters, then letters, digits, + - .).
  const absolute = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(target);
  if (absolute) {
    host = absolute[1];
    rest = target.slice(absolute[0].length) || '/';
    if (rest.startsWith('?')) rest = `/${rest}`;
  }
  if (!rest.startsWith('/')) throw badRequest('the request target must start with "/"');
  // The path ends at `?` or `#`, the query at `#`: nginx drops a fragment a client sent.
  const end = rest.search(/[?#]/);
  const rawPath = end < 0 ? rest : rest.slice(0, end);
  const args = end < 0 || rest[end] === '#' ? '' : rest.slice(end + 1).split('#')[0];
  const decoded = percentDecode(rawPath);
  if (decoded.includes('\0')) throw badRequest('NUL in the request path');
  return { uri: resolveDots(decoded, mergeSlashes), args, host };
}

/**
 * A target that normalizing leaves as it is, split at its query: an origin-form path with no
 * escape, fragment, NUL, `//` or dot segment (most requests), so the general parser is
 * skipped. Null for any other target.
 */
function plainTarget(target: string): NormalizedUri | null {
  if (target.charCodeAt(0) !== 0x2f) return null;
  const query = target.indexOf('?');
  if (query < 0) return PATH_NEEDS_WORK.test(target) ? null : { uri: target, args: '', host: null };
  const uri = target.slice(0, query);
  if (PATH_NEEDS_WORK.test(uri) || target.includes('#', query)) return null;
  return { uri, args: target.slice(query + 1), host: null };
}

/** What makes a path need the general parser: `%`, `#`, NUL, `//`, `/.` (a dot segment or a dotfile, checked the long way). */
const PATH_NEEDS_WORK = /[%#\0]|\/\/|\/\./;

function percentDecode(path: string): string {
  if (!path.includes('%')) return path;
  const bytes: number[] = [];
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 0x25) {
      const hex = path.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw badRequest('bad percent-encoding in the request path');
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (c < 0x80) {
      bytes.push(c);
    } else {
      bytes.push(...Buffer.from(path[i], 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** Resolves `.` and `..` segments; `mergeSlashes` (nginx's `merge_slashes on`) also drops empty ones (`//` is `/`). */
function resolveDots(path: string, mergeSlashes: boolean): string {
  const segments = path.split('/');
  const out: string[] = [];
  for (let i = 1; i < segments.length; i++) {
    const seg = segments[i];
    const last = i === segments.length - 1;
    if (seg === '' && !last) {
      if (!mergeSlashes) out.push('');
      continue;
    }
    if (seg === '.') {
      if (last) out.push('');
      continue;
    }
    if (seg === '..') {
      if (out.length === 0) throw badRequest('the request path climbs above "/"');
      out.pop();
      if (last) out.push('');
      continue;
    }
    out.push(seg);
  }
  return `/${out.join('/')}`;
}

/**
 * Validates and canonicalizes a Host value as nginx's ngx_http_validate_host: lower case, the
 * port and one trailing dot dropped, a `[...]` literal kept whole. Refused (400): `..`, a
 * slash, control characters and white space, and an empty name.
 */
export function normalizeHost(value: string): string {
  if (lastHost !== null && value === lastHost.value) return lastHost.normalized;
  const normalized = normalizeHostOnce(value);
  lastHost = { value, normalized };
  return normalized;
}

/** The last Host normalized (a valid one): most requests of a process name the same one. */
let lastHost: { readonly value: string; readonly normalized: string } | null = null;

function normalizeHostOnce(value: string): string {
  const invalid = () => new HttpError(400, 'GW_BAD_HOST', 'client sent invalid host header');
  let state: 'usual' | 'literal' | 'rest' = 'usual';
  let dot = -2;
  let length = value.length;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x2e) {
      if (dot === i - 1) throw invalid();
      dot = i;
    } else if (c === 0x3a) {
      if (state === 'usual') [length, state] = [i, 'rest'];
    } else if (c === 0x5b) {
      if (i === 0) state = 'literal';
    } else if (c === 0x5d) {
      if (state === 'literal') [length, state] = [i + 1, 'rest'];
    } else if (c === 0x2f || c <= 0x20 || c === 0x7f) {
      throw invalid();
    }
  }
  if (dot === length - 1) length--;
  if (length <= 0) throw invalid();
  return value.slice(0, length).replace(/[A-Z]+/g, (upper) => upper.toLowerCase());
}

/** The result of server selection: the server and its regex name's captures, if any. */
export interface ServerMatchResult {
  readonly server: ServerConf;
  /** `$0`, `$1`...: empty unless a regex name with groups matched. */
  readonly captures: readonly string[];
  readonly namedCaptures: Record<string, string>;
}

/** The servers sharing one listening socket, compiled for nginx's name lookup order. */
export class ServerTable {
  private readonly exact = new Map<string, ServerConf>();
  private readonly leading: { suffix: string; server: ServerConf }[] = [];
  private readonly trailing: { prefix: string; server: ServerConf }[] = [];
  private readonly regexes: { regex: RegExp; server: ServerConf }[] = [];

  /** `servers` in file order; `defaultServer` is the one marked `default_server`, else the first. */
  constructor(servers: readonly ServerConf[], readonly defaultServer: ServerConf) {
    for (const server of servers) {
      for (const name of server.serverNames) {
        if (name.kind === 'exact' && !this.exact.has(name.name)) this.exact.set(name.name, server);
        if (name.kind === 'leading-wildcard') this.leading.push({ suffix: name.suffix, server });
        if (name.kind === 'trailing-wildcard') this.trailing.push({ prefix: name.prefix, server });
        if (name.kind === 'regex') this.regexes.push({ regex: name.regex, server });
      }
    }
    this.leading.sort((a, b) => b.suffix.length - a.suffix.length);
    this.trailing.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /**
   * nginx's order: exact, longest `*.` wildcard, longest `.*` wildcard, first regex, default.
   * A regex name's captures become `$1`... and named variables, as a location regex's do.
   */
  select(host: string | null): ServerMatchResult {
    if (host !== null) {
      const exact = this.exact.get(host);
      if (exact) return { server: exact, captures: [], namedCaptures: {} };
      for (const { suffix, server } of this.leading) if (host.endsWith(suffix)) return { server, captures: [], namedCaptures: {} };
      for (const { prefix, server } of this.trailing) if (host.startsWith(prefix)) return { server, captures: [], namedCaptures: {} };
      for (const { regex, server } of this.regexes) {
        const m = regex.exec(host);
        if (m) return { server, captures: m.length > 1 ? Array.from(m, (c) => c ?? '') : [], namedCaptures: capturesOf(m) };
      }
    }
    return { server: this.defaultServer, captures: [], namedCaptures: {} };
  }
}

/** What a location table holds: anything with a location's match (a LocationConf, a compiled location). */
export interface Matchable {
  readonly match: LocationMatch;
  /**
   * nginx's `auto_redirect` (set where a location whose name ends in `/` proxies): a request
   * for its name without the slash is redirected to it. Any truthy value turns it on.
   */
  readonly autoRedirect?: unknown;
}

/** The result of location matching. */
export interface LocationMatchResult<L extends Matchable = LocationConf> {
  readonly location: L;
  /** Whether a regex location matched on the way (its captures are `$1`..., even when a location nested in it serves). */
  readonly regex: boolean;
  readonly captures: readonly string[];
  readonly namedCaptures: Record<string, string>;
  /**
   * nginx's auto_redirect (ngx_http_core_find_static_location's NGX_DONE): the URI is the
   * name of `location` without its final `/`, and that location proxies: the request gets a
   * 301 to that name.
   */
  readonly autoRedirect: boolean;
}

/**
 * One level's lookup, as nginx's ngx_http_core_find_location returns it: `final` when it must
 * stop the levels above (an exact match, or a regex matched at this level or below), else the
 * longest prefix found (the levels above still try their regexes).
 */
interface LevelResult<L extends Matchable> extends LocationMatchResult<L> {
  readonly final: boolean;
}

const NO_CAPTURES: readonly string[] = [];

/** The locations nested in a location (a LocationConf's `locations`, a compiled location's). */
export type NestedOf<L> = (location: L) => readonly L[];

/** A server's locations (and those nested in them), compiled for nginx's matching order. */
export class LocationTable<L extends Matchable = LocationConf> {
  private readonly exact = new Map<string, L>();
  private readonly prefixes: L[] = [];
  private readonly regexes: L[] = [];
  private readonly named = new Map<string, L>();
  /** Exact and prefix locations with auto_redirect, by their name (an exact one first, as nginx's tree node). */
  private readonly autoRedirects = new Map<string, L>();
  /** The table of the locations nested in each location that has some. */
  private readonly nested = new Map<L, LocationTable<L>>();

  constructor(locations: readonly L[], nestedOf: NestedOf<L> = () => []) {
    for (const loc of locations) {
      const m = loc.match;
      if (m.kind === 'exact') this.exact.set(m.path, loc);
      else if (m.kind === 'prefix') this.prefixes.push(loc);
      else if (m.kind === 'regex') this.regexes.push(loc);
      else this.named.set(m.name, loc);
      const inner = nestedOf(loc);
      if (inner.length) this.nested.set(loc, new LocationTable(inner, nestedOf));
    }
    this.prefixes.sort((a, b) => prefixOf(b).length - prefixOf(a).length);
    for (const loc of [...this.exact.values(), ...this.prefixes]) {
      const m = loc.match;
      const name = m.kind === 'exact' || m.kind === 'prefix' ? m.path : '';
      if (!name.endsWith('/') || this.autoRedirects.has(name)) continue;
      const exact = this.exact.get(name);
      const prefix = this.prefixes.find((p) => prefixOf(p) === name);
      if (exact?.autoRedirect || prefix?.autoRedirect) this.autoRedirects.set(name, exact ?? prefix!);
    }
  }

  /**
   * nginx's order: an exact match wins; else the longest prefix, at once if it is `^~`; else
   * the first regex in file order; else that longest prefix. Nested locations as nginx's
   * ngx_http_core_find_location: the longest prefix's nested locations are looked up first
   * (theirs, then their regexes), then this level's regexes unless the prefix is `^~`; a
   * matched regex's nested regexes are looked up too (its exact and prefix ones never match
   * in nginx). nginx's auto_redirect is found here too (`autoRedirect`). Null when nothing matches.
   */
  match(uri: string): LocationMatchResult<L> | null {
    const found = this.find(uri);
    return found && { location: found.location, regex: found.regex, captures: found.captures, namedCaptures: found.namedCaptures, autoRedirect: found.autoRedirect };
  }

  /**
   * `statics` false: only the regexes (the level nested in a regex location, whose exact and
   * prefix locations nginx never finds: ngx_http_init_static_location_trees builds no tree for them).
   */
  private find(uri: string, statics = true): LevelResult<L> | null {
    if (!statics) return this.findRegex(uri, null);
    const exact = this.exact.get(uri);
    if (exact) return { location: exact, final: true, regex: false, captures: NO_CAPTURES, namedCaptures: {}, autoRedirect: false };
    const prefix = this.prefixes.find((loc) => uri.startsWith(prefixOf(loc))) ?? null;
    // nginx's auto_redirect: a location named as the URI with a `/` added, which proxies, wins
    // over shorter prefixes and every regex; a prefix location named as the URI itself wins over it.
    if (this.autoRedirects.size && (prefix === null || prefixOf(prefix).length !== uri.length)) {
      const redirect = this.autoRedirects.get(`${uri}/`);
      if (redirect) return { location: redirect, final: true, regex: false, captures: NO_CAPTURES, namedCaptures: {}, autoRedirect: true };
    }
    let found: LevelResult<L> | null = null;
    if (prefix) {
      found = this.nested.get(prefix)?.find(uri) ?? { location: prefix, final: false, regex: false, captures: NO_CAPTURES, namedCaptures: {}, autoRedirect: false };
      if (found.final || (prefix.match.kind === 'prefix' && prefix.match.noRegex)) return found;
    }
    return this.findRegex(uri, found);
  }

  /** The first regex location matching `uri` (and what its nested regexes find), else `found`. */
  private findRegex(uri: string, found: LevelResult<L> | null): LevelResult<L> | null {
    for (const loc of this.regexes) {
      if (loc.match.kind !== 'regex') continue;
      const m = loc.match.regex.exec(uri);
      if (!m) continue;
      const inner = this.nested.get(loc)?.find(uri, false);
      if (inner?.regex) return { ...inner, final: true };
      return { location: inner?.location ?? loc, final: true, regex: true, captures: Array.from(m, (c) => c ?? ''), namedCaptures: capturesOf(m), autoRedirect: false };
    }
    return found;
  }

  /** A named location (`@name`), for `error_page` and `try_files`. */
  namedLocation(name: string): L | undefined {
    return this.named.get(name);
  }
}

function prefixOf(loc: Matchable): string {
  return loc.match.kind === 'prefix' ? loc.match.path : '';
}

function capturesOf(m: RegExpExecArray): Record<string, string> {
  const out: Record<string, string> = {};
  if (m.groups) for (const [k, v] of Object.entries(m.groups)) out[k] = v ?? '';
  return out;
}
