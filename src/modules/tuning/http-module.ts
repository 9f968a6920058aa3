/**
 * nginx's http-core directives that tune what nginx does in C (ngx_http_core_module's
 * sendfile, buffers, hash sizes, header parsing, redirects; the buffers of the proxy and gzip
 * modules; the log module's open_log_file_cache), with nginx's syntax, contexts and checks.
 * Those with something to act on in Node act (the README's table says which, and what):
 * `tcp_nodelay`, `merge_slashes`, `underscores_in_headers`, `ignore_invalid_headers`,
 * `client_header_buffer_size` and `large_client_header_buffers` (server/runtime.ts, http/request-head.ts),
 * `absolute_redirect`, `port_in_redirect`, `server_name_in_redirect`, `log_not_found`,
 * `reset_timedout_connection`, `log_subrequest`; the
 * rest are accepted and checked, without effect (the kernel and libuv decide how bytes move; V8
 * sizes its own hash tables).
 */
import path from 'node:path';
import { argsOf, flag, guard, one, onOffArgs, type ParseContext } from '../../config/args';
import type { ConfNode } from '../../config/load';
import { INHERITED, row, type ConfModule } from '../../config/module';
import { parseSize, parseTime } from '../../config/values';

/** `number size` of nginx's buffer directives (`output_buffers 2 32k`). */
export interface Buffers {
  readonly number: number;
  readonly size: number;
}

/** The http, server and location blocks' tuning. */
export interface HttpTuningConf {
  readonly tcpNodelay: boolean;
  readonly tcpNopush: boolean;
  readonly sendfile: boolean;
  readonly sendfileMaxChunk: number;
  readonly aio: string;
  readonly aioWrite: boolean;
  readonly directio: number | null;
  readonly directioAlignment: number;
  readonly readAhead: number;
  readonly outputBuffers: Buffers;
  readonly postponeOutput: number;
  readonly sendLowat: number;
  readonly clientHeaderBufferSize: number;
  readonly largeClientHeaderBuffers: Buffers;
  readonly connectionPoolSize: number;
  readonly requestPoolSize: number;
  readonly serverNamesHashMaxSize: number;
  readonly serverNamesHashBucketSize: number;
  readonly variablesHashMaxSize: number;
  readonly variablesHashBucketSize: number;
  readonly typesHashMaxSize: number;
  readonly typesHashBucketSize: number;
  /** `merge_slashes` (http, server): `//` in the URI is one `/` before locations are matched. */
  readonly mergeSlashes: boolean;
  /** `underscores_in_headers` (http, server): a header name with `_` is valid. */
  readonly underscoresInHeaders: boolean;
  /** `ignore_invalid_headers` (http, server): a header with an invalid name is dropped. */
  readonly ignoreInvalidHeaders: boolean;
  /** `absolute_redirect`: the gateway's own redirects carry `scheme://host[:port]`. */
  readonly absoluteRedirect: boolean;
  /** `port_in_redirect`: the port is in them (unless the scheme's default). */
  readonly portInRedirect: boolean;
  /** `server_name_in_redirect`: the host is the server's first name, not the request's Host. */
  readonly serverNameInRedirect: boolean;
  /** `log_not_found`: a file not found is logged (at error level). */
  readonly logNotFound: boolean;
  readonly logSubrequest: boolean;
  readonly msiePadding: boolean;
  readonly msieRefresh: boolean;
  readonly chunkedTransferEncoding: boolean;
  readonly resetTimedoutConnection: boolean;
  readonly keepaliveDisable: readonly string[];
  readonly lingeringClose: 'off' | 'on' | 'always';
  readonly openLogFileCache: string | null;
  readonly proxyBufferSize: number;
  readonly proxyBuffers: Buffers;
  readonly proxyBusyBuffersSize: number | null;
  readonly proxyTempPath: string;
  readonly fastcgiTempPath: string;
  readonly uwsgiTempPath: string;
  readonly scgiTempPath: string;
  readonly proxyMaxTempFileSize: number;
  readonly proxyTempFileWriteSize: number | null;
  readonly proxyHeadersHashMaxSize: number;
  readonly proxyHeadersHashBucketSize: number;
  readonly gzipBuffers: Buffers | null;
}

/** nginx's num slot: "invalid number". */
function number(node: ConfNode, cx: ParseContext, name: string): number {
  const value = one(node, cx, name);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) cx.fail(`"${name}" directive invalid number`, node);
  return Number(value);
}

/** nginx's size slot: "invalid value". */
function sizeValue(node: ConfNode, cx: ParseContext, name: string): number {
  const value = one(node, cx, name);
  try {
    return parseSize(value);
  } catch {
    return cx.fail(`"${name}" directive invalid value`, node);
  }
}

/** nginx's bufs slot: `number size`, both positive. */
function buffers(node: ConfNode, cx: ParseContext, name: string): Buffers {
  const args = argsOf(node, cx);
  if (args.length !== 2) cx.fail(`invalid number of arguments in "${name}" directive`, node);
  let bytes = 0;
  try {
    bytes = parseSize(args[1]);
  } catch {
    // refused below
  }
  if (!/^\d+$/.test(args[0]) || Number(args[0]) === 0 || bytes === 0) cx.fail(`"${name}" directive invalid value`, node);
  return { number: Number(args[0]), size: bytes };
}

/** `aio on | off | threads[=pool]`. */
function aio(node: ConfNode, cx: ParseContext, name: string): string {
  const value = one(node, cx, name, true);
  if (!['on', 'off', 'threads'].includes(value) && !/^threads=\S+$/.test(value)) cx.fail(`"${name}" directive invalid value`, node);
  return value;
}

/** `directio size | off`. */
function directio(node: ConfNode, cx: ParseContext, name: string): number | null {
  const value = one(node, cx, name, true);
  if (value === 'off') return null;
  return sizeValue(node, cx, name);
}

/** `keepalive_disable none | browser ...`. */
function keepaliveDisable(node: ConfNode, cx: ParseContext, name: string): string[] {
  const args = argsOf(node, cx);
  if (args.length === 0) cx.fail(`invalid number of arguments in "${name}" directive`, node);
  for (const arg of args) if (!['none', 'msie6', 'safari'].includes(arg)) cx.fail(`invalid value "${arg}"`, node);
  return args;
}

/** `lingering_close off | on | always`. */
function lingeringClose(node: ConfNode, cx: ParseContext, name: string): 'off' | 'on' | 'always' {
  const value = one(node, cx, name, true);
  if (value !== 'off' && value !== 'on' && value !== 'always') return cx.fail(`invalid value "${value}"`, node);
  return value;
}

/** `open_log_file_cache off | max=N [inactive=time] [min_uses=N] [valid=time]`. */
function openLogFileCache(node: ConfNode, cx: ParseContext, name: string): string | null {
  const args = onOffArgs(node, cx);
  if (args.length < 1 || args.length > 4) cx.fail(`invalid number of arguments in "${name}" directive`, node);
  if (args.length === 1 && args[0] === 'off') return null;
  let max = false;
  for (const arg of args) {
    const m = /^(max|min_uses|inactive|valid)=(.*)$/.exec(arg);
    if (!m) return cx.fail(`invalid "${name}" parameter "${arg}"`, node);
    const bad = () => cx.fail(`invalid "${name}" parameter "${arg}"`, node);
    if (m[1] === 'max' || m[1] === 'min_uses') {
      if (!/^\d+$/.test(m[2]) || (m[1] === 'max' && Number(m[2]) === 0)) bad();
      if (m[1] === 'max') max = true;
    } else guard(node, cx, () => parseTime(m[2]));
  }
  if (!max) cx.fail(`"${name}" must have "max" parameter`, node);
  return args.join(' ');
}

const SERVER: ['http', 'server'] = ['http', 'server'];

/** `*_temp_path path [level1 [level2 [level3]]]`: the path, against the prefix. */
function tempPath(n: ConfNode, cx: ParseContext, name: string): string {
  const args = argsOf(n, cx);
  if (args.length < 1 || args.length > 4) cx.fail(`invalid number of arguments in "${name}" directive`, n);
  return path.resolve(cx.prefix, args[0]);
}

export const httpTuningModule: ConfModule<HttpTuningConf> = {
  name: 'http_tuning',
  directives: {
    tcp_nodelay: row(INHERITED, flag),
    tcp_nopush: row(INHERITED, flag),
    sendfile: row(INHERITED, flag),
    sendfile_max_chunk: row(INHERITED, sizeValue),
    aio: row(INHERITED, aio),
    aio_write: row(INHERITED, flag),
    directio: row(INHERITED, directio),
    directio_alignment: row(INHERITED, sizeValue),
    read_ahead: row(INHERITED, sizeValue),
    output_buffers: row(INHERITED, buffers),
    postpone_output: row(INHERITED, sizeValue),
    send_lowat: row(INHERITED, sizeValue),
    client_header_buffer_size: row(SERVER, sizeValue),
    large_client_header_buffers: row(SERVER, buffers),
    connection_pool_size: row(SERVER, sizeValue),
    request_pool_size: row(SERVER, sizeValue),
    server_names_hash_max_size: row(['http'], number),
    server_names_hash_bucket_size: row(['http'], number),
    variables_hash_max_size: row(['http'], number),
    variables_hash_bucket_size: row(['http'], number),
    types_hash_max_size: row(INHERITED, number),
    types_hash_bucket_size: row(INHERITED, number),
    merge_slashes: row(SERVER, flag),
    underscores_in_headers: row(SERVER, flag),
    ignore_invalid_headers: row(SERVER, flag),
    absolute_redirect: row(INHERITED, flag),
    port_in_redirect: row(INHERITED, flag),
    server_name_in_redirect: row(INHERITED, flag),
    log_not_found: row(INHERITED, flag),
    log_subrequest: row(INHERITED, flag),
    msie_padding: row(INHERITED, flag),
    msie_refresh: row(INHERITED, flag),
    chunked_transfer_encoding: row(INHERITED, flag),
    reset_timedout_connection: row(INHERITED, flag),
    keepalive_disable: row(INHERITED, keepaliveDisable),
    lingering_close: row(INHERITED, lingeringClose),
    open_log_file_cache: row(INHERITED, openLogFileCache),
    proxy_buffer_size: row(INHERITED, sizeValue),
    proxy_buffers: row(INHERITED, buffers),
    proxy_busy_buffers_size: row(INHERITED, sizeValue),
    proxy_temp_path: row(INHERITED, tempPath),
    // The temp paths of nginx's FastCGI, uWSGI and SCGI modules, which real configurations set beside
    // proxy_temp_path: checked, kept; nothing uses them (`fastcgi_pass` and friends are not supported yet).
    fastcgi_temp_path: row(INHERITED, tempPath),
    uwsgi_temp_path: row(INHERITED, tempPath),
    scgi_temp_path: row(INHERITED, tempPath),
    proxy_max_temp_file_size: row(INHERITED, sizeValue),
    proxy_temp_file_write_size: row(INHERITED, sizeValue),
    proxy_headers_hash_max_size: row(INHERITED, number),
    proxy_headers_hash_bucket_size: row(INHERITED, number),
    gzip_buffers: row(INHERITED, buffers),
  },
  defaults: (prefix) => ({
    tcpNodelay: true,
    tcpNopush: false,
    sendfile: false,
    sendfileMaxChunk: 2 * 1024 * 1024,
    aio: 'off',
    aioWrite: false,
    directio: null,
    directioAlignment: 512,
    readAhead: 0,
    outputBuffers: { number: 2, size: 32 * 1024 },
    postponeOutput: 1460,
    sendLowat: 0,
    clientHeaderBufferSize: 1024,
    largeClientHeaderBuffers: { number: 4, size: 8192 },
    connectionPoolSize: 512,
    requestPoolSize: 4096,
    serverNamesHashMaxSize: 512,
    serverNamesHashBucketSize: 64,
    variablesHashMaxSize: 1024,
    variablesHashBucketSize: 64,
    typesHashMaxSize: 1024,
    typesHashBucketSize: 64,
    mergeSlashes: true,
    underscoresInHeaders: false,
    ignoreInvalidHeaders: true,
    absoluteRedirect: true,
    portInRedirect: true,
    serverNameInRedirect: false,
    logNotFound: true,
    logSubrequest: false,
    msiePadding: true,
    msieRefresh: false,
    chunkedTransferEncoding: true,
    resetTimedoutConnection: false,
    keepaliveDisable: ['msie6'],
    lingeringClose: 'on',
    openLogFileCache: null,
    proxyBufferSize: 4096,
    proxyBuffers: { number: 8, size: 4096 },
    proxyBusyBuffersSize: null,
    proxyTempPath: path.resolve(prefix, 'proxy_temp'),
    fastcgiTempPath: path.resolve(prefix, 'fastcgi_temp'),
    uwsgiTempPath: path.resolve(prefix, 'uwsgi_temp'),
    scgiTempPath: path.resolve(prefix, 'scgi_temp'),
    proxyMaxTempFileSize: 1024 * 1024 * 1024,
    proxyTempFileWriteSize: null,
    proxyHeadersHashMaxSize: 512,
    proxyHeadersHashBucketSize: 64,
    gzipBuffers: null,
  }),
};
