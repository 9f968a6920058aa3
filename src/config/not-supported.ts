/**
 * nginx directives a user may write that the gateway does not do yet: refused as "not supported
 * yet", not as an unknown directive (which would read as a typo).
 */
export const NOT_YET_SUPPORTED: ReadonlySet<string> = new Set([
  'upstream', 'gzip_buffers', 'proxy_buffers', 'proxy_buffer_size', 'proxy_ignore_headers',
  'charset', 'sendfile', 'tcp_nopush', 'tcp_nodelay',
  'http2',
  'large_client_header_buffers', 'server_name_in_redirect', 'port_in_redirect',
  'absolute_redirect', 'merge_slashes', 'limit_except', 'lua_package_path', 'content_by_lua',
  'content_by_lua_block', 'access_by_lua', 'user', 'worker_rlimit_nofile', 'multi_accept', 'use',
]);
