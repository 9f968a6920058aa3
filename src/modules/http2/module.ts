/**
 * nginx's ngx_http_v2_module, its directives: `http2 on|off` (server, nginx 1.25's form of
 * `listen ... http2`), `http2_max_concurrent_streams`, `http2_recv_timeout`,
 * `http2_idle_timeout`, `http2_chunk_size`, `http2_body_preread_size`, the buffer and pool
 * sizes nginx's C needs (checked, without effect), the directives nginx 1.19.7 made obsolete
 * (`http2_recv_timeout`, `http2_idle_timeout`, `http2_max_requests`, `http2_max_field_size`,
 * `http2_max_header_size`: accepted with nginx 1.22's warning and without effect, whatever
 * their value; client_header_timeout, keepalive_timeout, keepalive_requests and
 * large_client_header_buffers act instead), server
 * push (accepted off: browsers dropped it), and `http2_websocket` (RFC 8441, the gateway's own).
 * The sessions themselves are src/server/http2-sessions.ts.
 */
import { flag, one, type ParseContext } from '../../config/args';
import type { ConfNode } from '../../config/load';
import { INHERITED, row, type ConfModule } from '../../config/module';
import { parseSize } from '../../config/values';

/** The HTTP/2 settings of a block. */
export interface Http2Conf {
  /** `http2 on` (server): the server speaks HTTP/2 on its sockets. */
  readonly http2: boolean;
  /** `http2_max_concurrent_streams`: SETTINGS_MAX_CONCURRENT_STREAMS (nginx: 128). */
  readonly http2MaxConcurrentStreams: number;
  /** `http2_chunk_size`: the largest DATA frame the gateway sends. */
  readonly http2ChunkSize: number;
  /** `http2_body_preread_size`: the window a request body starts with (SETTINGS_INITIAL_WINDOW_SIZE). */
  readonly http2BodyPrereadSize: number;
  readonly http2RecvBufferSize: number;
  readonly http2PoolSize: number;
  readonly http2StreamsIndexSize: number;
  readonly http2MaxConcurrentPushes: number;
  readonly http2Push: readonly string[];
  readonly http2PushPreload: boolean;
  /** `http2_websocket on` (server): WebSockets over HTTP/2 streams (RFC 8441's extended CONNECT). */
  readonly http2Websocket: boolean;
}

/** The largest window HTTP/2 allows (2^31 - 1, RFC 9113 6.9.2). */
const MAX_WINDOW = 2 ** 31 - 1;
/** The largest frame payload HTTP/2 allows (2^24 - 1). */
const MAX_FRAME = 2 ** 24 - 1;

/** nginx's size slot, in bounds: "invalid value" outside them ("must be positive" for zero). */
function size(min: number, max: number) {
  return (node: ConfNode, cx: ParseContext, name: string): number => {
    const value = one(node, cx, name);
    let bytes: number;
    try {
      bytes = parseSize(value);
    } catch {
      return cx.fail(`"${name}" directive invalid value`, node);
    }
    if (bytes === 0 && min > 0) cx.fail(`the "${name}" value must be positive`, node);
    if (bytes < min || bytes > max) cx.fail(`"${name}" directive invalid value`, node);
    return bytes;
  };
}

/** A directive nginx 1.22 reads as obsolete: its value is not looked at, a warning names what acts instead. */
function obsolete(instead: string) {
  return (node: ConfNode, cx: ParseContext, name: string): null => {
    one(node, cx, name);
    cx.warn?.(`the "${name}" directive is obsolete, use the "${instead}" directive instead`, node);
    return null;
  };
}

/** nginx's num slot: a positive count. */
function count(node: ConfNode, cx: ParseContext, name: string): number {
  const value = one(node, cx, name);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) cx.fail(`"${name}" directive invalid number`, node);
  return Number(value);
}

/** `http2_push uri | off`, repeatable: only `off` acts (server push is not sent). */
function push(node: ConfNode, cx: ParseContext, name: string): string[] {
  const value = one(node, cx, name, true);
  if (value !== 'off') cx.fail(`"${name}" with a URI is not supported (HTTP/2 server push, which browsers removed)`, node);
  return [];
}

const SERVER: ['http', 'server'] = ['http', 'server'];

export const http2Module: ConfModule<Http2Conf> = {
  name: 'http2',
  directives: {
    http2: row(['server'], flag),
    http2_max_concurrent_streams: row(SERVER, count),
    http2_recv_timeout: row(SERVER, obsolete('client_header_timeout')),
    http2_idle_timeout: row(SERVER, obsolete('keepalive_timeout')),
    http2_chunk_size: row(INHERITED, size(1, MAX_FRAME)),
    http2_body_preread_size: row(SERVER, size(0, MAX_WINDOW)),
    http2_recv_buffer_size: row(['http'], size(2 * 4096, MAX_WINDOW)),
    http2_pool_size: row(SERVER, size(1, MAX_WINDOW)),
    http2_streams_index_size: row(SERVER, (n, cx, name) => {
      const value = count(n, cx, name);
      if ((value & (value - 1)) !== 0 || value === 0) cx.fail(`the "${name}" value must be a power of two`, n);
      return value;
    }),
    http2_max_requests: row(SERVER, obsolete('keepalive_requests')),
    http2_max_field_size: row(SERVER, obsolete('large_client_header_buffers')),
    http2_max_header_size: row(SERVER, obsolete('large_client_header_buffers')),
    http2_max_concurrent_pushes: row(SERVER, count),
    http2_push: row(INHERITED, push),
    http2_push_preload: row(INHERITED, flag),
    http2_websocket: row(SERVER, flag),
  },
  defaults: () => ({
    http2: false,
    http2MaxConcurrentStreams: 128,
    http2ChunkSize: 8 * 1024,
    http2BodyPrereadSize: 64 * 1024,
    http2RecvBufferSize: 256 * 1024,
    http2PoolSize: 4096,
    http2StreamsIndexSize: 32,
    http2MaxConcurrentPushes: 10,
    http2Push: [],
    http2PushPreload: false,
    http2Websocket: false,
  }),
};
