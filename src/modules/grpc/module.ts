/**
 * nginx's ngx_http_grpc_module, its directives: `grpc_pass` (which makes the location's handler
 * `grpc`, as `proxy_pass` makes it `proxy`), the request side (`grpc_set_header`, the
 * timeouts, `grpc_next_upstream*`, `grpc_socket_keepalive`) and the response side
 * (`grpc_hide_header`, `grpc_pass_header`, `grpc_buffer_size`, `grpc_intercept_errors`).
 * The upstream blocks are the proxy module's `upstreams`, shared as nginx shares them.
 * `grpc_ssl_*`, `grpc_bind`, `grpc_ignore_headers` stay refused as not supported yet, as the
 * proxy's `proxy_ssl_*` are (a `grpcs://` peer's certificate is not checked, as nginx's
 * default `grpc_ssl_verify off`).
 */
import { flag, integer, size, text, time, timerTime } from '../../config/args';
import { INHERITED, row, type ConfModule } from '../../config/module';
import { headerNames, nextUpstream, setHeaders, type NextUpstreamCondition } from '../proxy/module';

/** The gRPC module's conf of a block. */
export interface GrpcConf {
  /** `grpc_pass` (a location's own: not inherited). */
  readonly grpcPass: string | null;
  /** `grpc_set_header`: over nginx's defaults (`Content-Length`, `TE`, and the hop-by-hop ones left out). */
  readonly grpcSetHeaders: readonly (readonly [string, string])[];
  /** `grpc_hide_header`: upstream headers (and trailers) not passed on, besides nginx's default list. */
  readonly grpcHideHeaders: readonly string[];
  /** `grpc_pass_header`: headers of the default hidden list passed on after all. */
  readonly grpcPassHeaders: readonly string[];
  readonly grpcConnectTimeout: number;
  readonly grpcReadTimeout: number;
  readonly grpcSendTimeout: number;
  /** `grpc_next_upstream` (`error timeout`); empty is `off`. */
  readonly grpcNextUpstream: readonly NextUpstreamCondition[];
  /** `grpc_next_upstream_tries` (0: no limit). */
  readonly grpcNextUpstreamTries: number;
  /** `grpc_next_upstream_timeout` in ms (0: no limit). */
  readonly grpcNextUpstreamTimeout: number;
  /** `grpc_buffer_size`: how far the response is read ahead of a slow client (nginx: one page, 4k). */
  readonly grpcBufferSize: number;
  /** `grpc_intercept_errors`: an upstream status >= 300 with an `error_page` is answered by that page. */
  readonly grpcInterceptErrors: boolean;
  /** `grpc_socket_keepalive`: SO_KEEPALIVE on upstream connections. */
  readonly grpcSocketKeepalive: boolean;
}

export const grpcModule: ConfModule<GrpcConf> = {
  name: 'grpc',
  directives: {
    grpc_pass: row(['location'], text, { inherit: false }),
    grpc_set_header: row(INHERITED, setHeaders, { field: 'grpcSetHeaders', multiple: true }),
    grpc_hide_header: row(INHERITED, headerNames, { field: 'grpcHideHeaders', multiple: true }),
    grpc_pass_header: row(INHERITED, headerNames, { field: 'grpcPassHeaders', multiple: true }),
    grpc_connect_timeout: row(INHERITED, timerTime),
    grpc_read_timeout: row(INHERITED, timerTime),
    grpc_send_timeout: row(INHERITED, timerTime),
    grpc_next_upstream: row(INHERITED, nextUpstream),
    grpc_next_upstream_tries: row(INHERITED, integer(0, 1_000_000)),
    grpc_next_upstream_timeout: row(INHERITED, time),
    grpc_buffer_size: row(INHERITED, size),
    grpc_intercept_errors: row(INHERITED, flag),
    grpc_socket_keepalive: row(INHERITED, flag),
  },
  defaults: () => ({
    grpcPass: null,
    grpcSetHeaders: [],
    grpcHideHeaders: [],
    grpcPassHeaders: [],
    grpcConnectTimeout: 60_000,
    grpcReadTimeout: 60_000,
    grpcSendTimeout: 60_000,
    grpcNextUpstream: ['error', 'timeout'],
    grpcNextUpstreamTries: 0,
    grpcNextUpstreamTimeout: 0,
    grpcBufferSize: 4096,
    grpcInterceptErrors: false,
    grpcSocketKeepalive: false,
  }),
  implies: { grpc_pass: 'grpc' },
};
