/**
 * How the realip module changes the client's address of a request, and no other code: the
 * request state (`server/request-state.ts`) implements these two symbol-keyed members, which
 * only code importing this file can name. The public `RequestContext` keeps `remoteAddress`
 * read-only; once realip sets it, every later phase, variable (`$remote_addr`,
 * `$remote_port`), log line and module sees the client's real address, as after nginx's
 * `ngx_http_realip_set_addr`.
 */
import type { ProxyAddresses } from '../../http/proxy-protocol';

/** Sets the request's client address and port (0: none, as an address from a header without one). */
export const SET_CLIENT_ADDRESS = Symbol('gateway.setClientAddress');
/** True once the address was set for this request: realip does it at most once (nginx's module ctx). */
export const CLIENT_ADDRESS_SET = Symbol('gateway.clientAddressSet');

/** What the realip module needs of a request beside its `RequestContext`. */
export interface ClientAddressTarget {
  /** The address the request came from now (the connection's, until realip sets another). */
  readonly remoteAddress: string;
  /** What the connection's PROXY header said (`listen ... proxy_protocol`), null without one. */
  readonly proxyProtocol: ProxyAddresses | null;
  readonly [CLIENT_ADDRESS_SET]: boolean;
  [SET_CLIENT_ADDRESS](address: string, port: number): void;
}
