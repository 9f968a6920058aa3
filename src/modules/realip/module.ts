/**
 * nginx's ngx_http_realip_module: `set_real_ip_from` (repeatable; addresses, CIDRs, `unix:`),
 * `real_ip_header` (`X-Real-IP` by default, `X-Forwarded-For`, `proxy_protocol`, or any
 * header) and `real_ip_recursive`, at http, server and location, each inherited on its own as
 * nginx merges them. The address is changed by `realip-phase.ts`.
 */
import { argsOf, flag, guard, occurrences, one, type ParseContext } from '../../config/args';
import type { ConfNode } from '../../config/load';
import { INHERITED, row, type ConfModule } from '../../config/module';
import { compileTrusted, mergeTrusted, type TrustedAddresses } from './real-address';

/** Where the client's address is read. */
export type RealIpHeader =
  | { readonly kind: 'x-real-ip' }
  | { readonly kind: 'x-forwarded-for' }
  | { readonly kind: 'proxy_protocol' }
  /** Any other header, by its lower-case name: its first line. */
  | { readonly kind: 'header'; readonly name: string };

/** The realip module's conf of a block. */
export interface RealipConf {
  /** `set_real_ip_from`, compiled; null: none (the module does nothing). */
  readonly realipFrom: TrustedAddresses | null;
  readonly realIpHeader: RealIpHeader;
  readonly realIpRecursive: boolean;
}

/** Every `set_real_ip_from` of a block, one address each. */
function setRealIpFrom(node: ConfNode, cx: ParseContext): TrustedAddresses {
  const values = occurrences(node).map((n) => {
    const args = argsOf(n, cx);
    if (args.length !== 1) cx.fail('invalid number of arguments in "set_real_ip_from" directive', n);
    guard(n, cx, () => compileTrusted(args));
    return args[0];
  });
  if (values.length === 0) cx.fail('invalid number of arguments in "set_real_ip_from" directive', node);
  return compileTrusted(values);
}

/** `real_ip_header`: the three names nginx knows, exactly as written, or any header. */
function realIpHeader(node: ConfNode, cx: ParseContext, name: string): RealIpHeader {
  const value = one(node, cx, name);
  if (value === 'X-Real-IP') return { kind: 'x-real-ip' };
  if (value === 'X-Forwarded-For') return { kind: 'x-forwarded-for' };
  if (value === 'proxy_protocol') return { kind: 'proxy_protocol' };
  return { kind: 'header', name: value.toLowerCase() };
}

export const realipModule: ConfModule<RealipConf> = {
  name: 'realip',
  directives: {
    set_real_ip_from: row(INHERITED, setRealIpFrom, { field: 'realipFrom', combine: mergeTrusted as (a: unknown, b: unknown) => unknown }),
    real_ip_header: row(INHERITED, realIpHeader, { field: 'realIpHeader' }),
    real_ip_recursive: row(INHERITED, flag, { field: 'realIpRecursive' }),
  },
  defaults: () => ({ realipFrom: null, realIpHeader: { kind: 'x-real-ip' }, realIpRecursive: false }),
};
