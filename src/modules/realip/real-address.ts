/**
 * nginx's `ngx_http_get_forwarded_addr`, as pure functions: the trusted addresses of
 * `set_real_ip_from` (compiled with the access module's CIDR parsing), and the walk through a
 * header's addresses from the right, `real_ip_recursive` going on past each trusted one. An
 * address with a port (`1.2.3.4:5678`, `[2001:db8::1]:80`) keeps it, as nginx's
 * `ngx_parse_addr_port`; one without has none (`$remote_port` is then empty).
 */
import { inet4Text, inet6Text } from '../../http/inet-text';
import { accessDenied, compileAccessRules, parseInet4, parseInet6, type AccessRules } from '../access/access-rules';

/** The addresses and networks of `set_real_ip_from`, as the access module's rules (every rule a match). */
export type TrustedAddresses = AccessRules;

/** A client address: its text as nginx writes it, and its port (0: none). */
export interface ClientAddress {
  readonly address: string;
  readonly port: number;
}

/** A host name as a resolver would take one: what nginx would try to resolve. */
const HOST_NAME = /^(?=.*[A-Za-z])[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.?$/;

/**
 * Compiles `set_real_ip_from` values: addresses, CIDRs (`ngx_ptocidr`, as `allow`), `unix:`.
 * Throws nginx's `host not found in set_real_ip_from "X"` for anything else; a host name
 * (which nginx resolves at load) is refused with its own reason.
 */
export function compileTrusted(values: readonly string[]): TrustedAddresses {
  return compileAccessRules(
    values.map((value) => {
      if (value !== 'all') {
        try {
          compileAccessRules([{ deny: true, value }]);
          return { deny: true, value };
        } catch {
          // not an address: below
        }
      }
      if (value !== 'all' && HOST_NAME.test(value)) {
        throw new Error(`host names are not resolved in set_real_ip_from "${value}": write its addresses (nginx resolves it at load)`);
      }
      throw new Error(`host not found in set_real_ip_from "${value}"`);
    }),
  ).rules;
}

/**
 * Whether `address` (Node's text of the connection's peer, `''` for a unix-domain socket, or
 * an address realip made) is trusted. As nginx's `ngx_cidr_match`, an IPv4-mapped IPv6
 * address is matched as IPv4 only.
 */
export function isTrusted(trusted: TrustedAddresses, address: string): boolean {
  if (address.length > 7 && address.charCodeAt(0) === 0x3a && /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address)) return accessDenied(trusted, address.slice(7));
  return accessDenied(trusted, address);
}

/** An address alone (`ngx_parse_addr`): IPv4 (not 255.255.255.255, nginx's INADDR_NONE) or IPv6, written as nginx writes it. */
function parseAddress(text: string, start: number, end: number): string | null {
  const v4 = parseInet4(text, start, end);
  if (v4 !== -1 && v4 !== 0xffffffff) return inet4Text(v4);
  const bytes = new Uint8Array(16);
  return parseInet6(text, start, end, bytes) ? inet6Text(bytes) : null;
}

/** nginx's `ngx_parse_addr_port`: an address, or `addr:port`, `[v6]:port` with a port from 1 to 65535. */
export function parseAddressPort(text: string): ClientAddress | null {
  const alone = parseAddress(text, 0, text.length);
  if (alone !== null) return { address: alone, port: 0 };
  let start = 0;
  let colon: number;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0 || close === text.length - 1 || text[close + 1] !== ':') return null;
    start = 1;
    colon = close + 1;
  } else {
    colon = text.indexOf(':');
    if (colon < 0) return null;
  }
  const portText = text.slice(colon + 1);
  if (!/^\d+$/.test(portText)) return null;
  const port = Number(portText);
  if (port < 1 || port > 65535) return null;
  const address = parseAddress(text, start, start === 1 ? colon - 1 : colon);
  return address === null ? null : { address, port };
}

const enum Walk {
  Declined,
  Ok,
  Done,
}

/**
 * nginx's `ngx_http_get_forwarded_addr_internal` on one header value: while the current
 * address is trusted, the value's last address not yet taken becomes the current one
 * (recursive: again and again; else once).
 */
function walk(trusted: TrustedAddresses, from: ClientAddress, value: string, recursive: boolean): { result: Walk; address: ClientAddress } {
  let address = from;
  let found = false;
  let len = value.length;
  let p: number;
  do {
    if (!isTrusted(trusted, address.address)) return { result: found ? Walk.Done : Walk.Declined, address };
    p = len - 1;
    for (; p > 0; p--, len--) {
      const c = value.charCodeAt(p);
      if (c !== 0x20 && c !== 0x2c) break;
    }
    for (; p > 0; p--) {
      const c = value.charCodeAt(p);
      if (c === 0x20 || c === 0x2c) {
        p++;
        break;
      }
    }
    const parsed = p < 0 ? null : parseAddressPort(value.slice(p, len));
    if (parsed === null) return { result: found ? Walk.Done : Walk.Declined, address };
    address = parsed;
    found = true;
    len = p - 1;
  } while (recursive && p > 0);
  return { result: Walk.Ok, address };
}

/**
 * The client's address, when the connection's peer (`peer`) is trusted and `values` (the
 * header's values in the order received: several `X-Forwarded-For` lines, or one value) give
 * one; null when nothing changes. nginx's `ngx_http_get_forwarded_addr`: the lines are walked
 * from the last; without `recursive`, the last address of the last line.
 */
export function forwardedAddress(trusted: TrustedAddresses, peer: ClientAddress, values: readonly string[], recursive: boolean): ClientAddress | null {
  let result = Walk.Declined;
  let found = false;
  let address = peer;
  for (let i = values.length - 1; i >= 0; i--) {
    const step = walk(trusted, address, values[i], recursive);
    result = step.result;
    address = step.address;
    if (!recursive) break;
    if (result === Walk.Declined && found) {
      result = Walk.Done;
      break;
    }
    if (result !== Walk.Ok) break;
    found = true;
  }
  return result === Walk.Declined ? null : address;
}

/** Two lists of one block joined in file order (`set_real_ip_from` and its YAML list both fill one). */
export { mergeAccessRules as mergeTrusted } from '../access/access-rules';
