/**
 * How the builder refuses a directive no gateway module owns: a name nginx (or the OpenResty
 * bundle) knows is `"X" directive is not supported yet` (it is nginx's, the gateway lacks it);
 * any other name is `unknown directive "X"`, as nginx says of a typo.
 */
import { NGINX_DIRECTIVES } from './nginx-directives';

/** Names of nginx releases after 1.22 that configurations written for them use. */
const LATER_NGINX: ReadonlySet<string> = new Set(['http3', 'http3_hq', 'http3_max_concurrent_streams', 'http3_stream_buffer_size', 'quic_active_connection_id_limit', 'quic_bpf', 'quic_gso', 'quic_host_key', 'quic_retry', 'ssl_certificate_cache', 'ssl_key_log', 'mp4_start_key_frame']);

/** Whether nginx (1.22, a later release, or a module OpenResty bundles) knows a directive of this name. */
export function isNginxDirective(name: string): boolean {
  return NGINX_DIRECTIVES.has(name) || LATER_NGINX.has(name);
}

/** nginx's wording for a directive the gateway does not do: not supported yet, or unknown. */
export function refusal(name: string): string {
  return isNginxDirective(name) ? `"${name}" directive is not supported yet` : `unknown directive "${name}"`;
}
