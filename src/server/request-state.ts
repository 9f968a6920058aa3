/**
 * The per-request object behind `RequestContext`: built once the server is chosen, moved to
 * the location that serves (and again by internal redirects), read by phase handlers, filters,
 * content handlers, variables and the access log.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LocationConf, ServerConf } from '../config/model';
import { isBuiltInVariable, isSetByModules, variableGetter, type ConnectionFacts, type Template, type UpstreamTry } from '../http/variables';
import { mapUriToPath } from '../shared/document-path';
import { connectionFactsOf } from './connection-facts';
import type { ProxyAddresses } from '../http/proxy-protocol';
import { sliceRangeOf } from '../modules/slice/slice-context';
import { CLIENT_ADDRESS_SET, SET_CLIENT_ADDRESS, type ClientAddressTarget } from '../modules/realip/client-address';
import type { BodyTransform, Logger, RequestContext, ResponseFilter, SubrequestResult, SubrequestSpec } from '../types';
import { filtersTransform, hookWrites, reuseTransformedFile, type FilterState } from './filters';
import { proxyAddressesOf } from './proxy-protocol';
import { requestLogContext } from '../shared/log-context';
import type { LocationRuntime } from './runtime';

/** One request's state; `runtime` is the location serving it. */
export class RequestState implements RequestContext, FilterState, ClientAddressTarget {
  readonly startTime = performance.now();
  overrideStatus = 0;
  bodyTransform: BodyTransform | null = null;
  bodyHooked = false;
  keepTransformedAs: string | null = null;
  /** Internal redirects left (nginx allows 10; the 11th is a 500). */
  uriChanges = 11;
  /** Set once `100 Continue` was sent. */
  continued = false;
  /** nginx's `r->internal`: a `rewrite` changed the URI, so an `internal` location may serve it. */
  internal = false;
  /** The location found by nginx's auto_redirect (`/app/`, proxied, for `/app`): the request gets a 301 to it. */
  autoRedirect: LocationRuntime | null = null;
  /** `rewrite ... break` changed `$uri` in this location (nginx's `valid_location` cleared): see RequestContext. */
  rewrittenInPlace = false;
  /** Set once an `error_page` redirect happened: a second error gets the built-in page. */
  errorPageDone = false;
  captures: readonly string[] = [];
  namedCaptures: Readonly<Record<string, string>> = {};
  bodyBytesSent = 0;
  status = 0;
  /** The connection's peer (`$realip_remote_addr`, `$realip_remote_port`): what realip does not change. */
  readonly peerAddress: string;
  readonly peerPort: number;
  private clientAddress: string;
  private clientPort: number;
  private clientAddressSet = false;
  readonly localAddress: string;
  readonly localPort: number;
  private id: string | null = null;
  private shared: Record<string | symbol, unknown> | null = null;
  setValues: Map<string, string> | null = null;
  upstreamHeaders: readonly string[] | null = null;
  upstreamTries: UpstreamTry[] | null = null;
  /** What went out for the response, header included (`$bytes_sent`): set when it is over. */
  bytesSent = 0;
  /** The response went out whole (`$request_completion`): set when it is over. */
  completed = false;
  /** The client's own request (a subrequest's: its parent's). */
  mainRequest: IncomingMessage;
  /** What runs this request's subrequests (the dispatcher's), null where there is none. */
  subrequests: ((parent: RequestState, spec: SubrequestSpec) => Promise<SubrequestResult>) | null = null;
  /**
   * What nginx's connection log says the request is doing (`ngx_connection_t.log->action`) for
   * lines that name no action of their own: `' while sending to client'` once a subrequest ran.
   */
  logAction = '';
  /** How deep in subrequests this request is (0: the client's own request). */
  subrequestDepth = 0;

  constructor(
    readonly req: IncomingMessage,
    /** The response; null while an upgrade is being routed. */
    public res: ServerResponse | null,
    readonly server: ServerConf,
    /** The location serving the request (the server's own until one matches). */
    public runtime: LocationRuntime,
    public uri: string,
    public args: string,
    readonly host: string,
    readonly scheme: string,
    readonly log: Logger,
  ) {
    this.mainRequest = req;
    const socket = req.socket;
    this.clientAddress = this.peerAddress = socket.remoteAddress ?? '';
    this.clientPort = this.peerPort = socket.remotePort ?? 0;
    this.localAddress = socket.localAddress ?? '';
    this.localPort = socket.localPort ?? 0;
  }

  /** What the connection's PROXY header said (`$proxy_protocol_addr`...), null without one: looked up when asked. */
  get proxyProtocol(): ProxyAddresses | null {
    return proxyAddressesOf(this.req.socket);
  }

  /** `$remote_addr`: the connection's peer, or the address realip found. */
  get remoteAddress(): string {
    return this.clientAddress;
  }

  /** `$remote_port`: 0 when realip set an address that came without a port. */
  get remotePort(): number {
    return this.clientPort;
  }

  get [CLIENT_ADDRESS_SET](): boolean {
    return this.clientAddressSet;
  }

  [SET_CLIENT_ADDRESS](address: string, port: number): void {
    this.clientAddress = address;
    this.clientPort = port;
    this.clientAddressSet = true;
  }

  /**
   * A subrequest's client is its parent's: the address realip found for the main request, as
   * nginx's subrequest shares the connection realip changed (and, finding realip's context in
   * the shared pool, does not look again).
   */
  sharesClientOf(parent: RequestState): void {
    if (parent.clientAddressSet) this[SET_CLIENT_ADDRESS](parent.clientAddress, parent.clientPort);
  }

  get location(): LocationConf {
    return this.runtime.conf;
  }

  /** The response filters of the location serving now (an `error_page` redirect changes it). */
  get filters(): readonly ResponseFilter[] {
    return this.runtime.filters;
  }

  /**
   * Routes the response's body through the filters' transform, before anything of it is
   * written, where that was not done at once (filters.ts `hookWrites`): the proxy, told a rate
   * by its upstream in a server where nothing else paces.
   */
  hookBody(): void {
    if (this.res) hookWrites(this.res, this);
  }

  get serverName(): string {
    return this.server.primaryName;
  }

  get documentRoot(): string {
    return this.runtime.documentRoot;
  }

  /** `$connection`, `$connection_requests`, `$pipe`: the client's request's connection. */
  get connectionFacts(): ConnectionFacts {
    return connectionFactsOf(this.mainRequest);
  }

  /** `$request_filename`: the location's root (or alias) and the URI, as nginx maps them. */
  get requestFilename(): string {
    return mapUriToPath(this.uri, this.runtime.paths, this).path;
  }

  /** `$request_id`: 16 random bytes in hex, made when first asked for. */
  get requestId(): string {
    return (this.id ??= randomBytes(16).toString('hex'));
  }

  get data(): Record<string | symbol, unknown> {
    return (this.shared ??= {});
  }

  /** An internal redirect starts the phases anew: what they shared is gone, as OpenResty's `ngx.ctx`. */
  forgetData(): void {
    this.shared = null;
  }

  variable(name: string): string {
    const captures = this.namedCaptures;
    const values = this.setValues;
    // A variable the configuration defines (a map's) is read through its definition.
    const defined = this.runtime.variables;
    const names = defined?.has(name) ? defined : { has: (n: string) => Object.hasOwn(captures, n) || values?.has(n) === true };
    const getter = variableGetter(name, names);
    return getter ? getter(this) : '';
  }

  /**
   * The request takes the configuration of a location nested in the one serving it (nginx's
   * `if` in a location: `r->loc_conf = if's`): its content handler, filters, log.
   */
  enterInner(key: object): void {
    const inner = this.runtime.inner?.get(key);
    if (inner) this.runtime = inner;
  }

  /** `$slice_range`: the slice module's state for this request, made when first read (see `sliceRangeOf`). */
  sliceRange(): string {
    return sliceRangeOf(this.req, this.res, this);
  }

  /** nginx's `uninitialized_variable_warn`: a `set` variable read before anything set it in this request. */
  unsetVariable(name: string): void {
    if (this.runtime.unsetWarnings?.has(name)) this.runtime.log.warn(`using uninitialized "${name}" variable${requestLogContext(this.req, this)}`);
  }

  /** A module's variable, or a user variable a directive declared (`auth_request_set`); never a built-in. */
  setVariable(name: string, value: string): void {
    if (!isSetByModules(name) && isBuiltInVariable(name)) throw new Error(`variable "${name}" cannot be set by a module`);
    (this.setValues ??= new Map()).set(name, value);
  }

  subrequest(spec: SubrequestSpec): Promise<SubrequestResult> {
    if (!this.subrequests) return Promise.reject(new Error('this request cannot make subrequests'));
    return this.subrequests(this, spec);
  }

  evaluate(template: Template): string {
    return template(this);
  }

  setUri(uri: string): void {
    this.uri = uri;
  }

  transforms(contentType: string, length: number): boolean {
    return filtersTransform(this.runtime.filters, this.req, contentType, length);
  }

  reuseTransformedFile(identity: string): boolean {
    return this.res !== null && reuseTransformedFile(this.res, this, identity);
  }
}
