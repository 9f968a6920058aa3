/**
 * Parity: the http-core directives that change what a client sees (issue 14, item 4):
 * `charset` (and `charset_types`, `source_charset`),
 * `merge_slashes`, `large_client_header_buffers`, `absolute_redirect`, `port_in_redirect`, `server_name_in_redirect`,
 * `underscores_in_headers` and `ignore_invalid_headers`, and the C-tuning directives nginx
 * configurations carry (accepted, answering as without them).
 */
import { defineParityCases, type ParityCase } from './run';
import { loc } from './site';

const FILES = {
  'www/page.html': '<p>page</p>\n',
  'www/notes.txt': 'notes\n',
  'www/style.css': 'p {}\n',
  'www/data.json': '{}\n',
  'www/dir/a.txt': 'a in dir\n',
  'www/dir/sub/b.txt': 'b in sub\n',
};

const charset: ParityCase = {
  title: 'charset',
  files: FILES,
  site: {
    http: { charset: 'utf-8' },
    servers: [
      {
        serverName: 'site.test',
        directives: { root: 'www' },
        locations: [
          loc('/', {}),
          loc('= /text', { return: "200 'hello'" }),
          loc('= /text.css', { return: "200 'p {}'" }),
          loc('= /missing-page', { return: '404' }),
          loc('/off/', { charset: 'off', alias: 'www/' }),
          loc('/css/', { charset_types: 'text/css', alias: 'www/' }),
          loc('= /moved', { return: '301 /page.html' }),
          loc('= /see-other', { return: '303 /page.html' }),
          loc('/same/', { charset: 'utf-8', source_charset: 'UTF-8', alias: 'www/' }),
        ],
      },
    ],
  },
  requests: [
    { name: 'an html file gets the charset', host: 'site.test', target: '/page.html' },
    { name: 'a text file gets it', host: 'site.test', target: '/notes.txt' },
    { name: 'a css file does not (not in charset_types)', host: 'site.test', target: '/style.css' },
    { name: 'a json file does not', host: 'site.test', target: '/data.json' },
    { name: 'return text, the default type', host: 'site.test', target: '/text' },
    { name: 'return text with a css type', host: 'site.test', target: '/text.css' },
    { name: 'an error page', host: 'site.test', target: '/missing-page' },
    { name: 'a file not found', host: 'site.test', target: '/nothing.html' },
    { name: 'a directory redirect', host: 'site.test', target: '/dir' },
    { name: 'charset off', host: 'site.test', target: '/off/page.html' },
    { name: 'charset_types text/css: css gets it', host: 'site.test', target: '/css/style.css' },
    { name: 'charset_types text/css: html still does', host: 'site.test', target: '/css/page.html' },
    { name: 'charset_types text/css: plain text no more', host: 'site.test', target: '/css/notes.txt' },
    { name: 'a 301 gets none', host: 'site.test', target: '/moved' },
    { name: 'a 303 gets it', host: 'site.test', target: '/see-other' },
    { name: 'source_charset the same charset', host: 'site.test', target: '/same/page.html' },
    { name: 'HEAD', host: 'site.test', target: '/page.html', method: 'HEAD' },
  ],
};

const slashesAndHeaders: ParityCase = {
  title: 'merge_slashes, underscores_in_headers, ignore_invalid_headers, large_client_header_buffers',
  files: FILES,
  site: {
    http: { sendfile: 'on', tcp_nopush: 'on', tcp_nodelay: 'on', types_hash_max_size: '2048', server_names_hash_bucket_size: '64', output_buffers: '2 32k', postpone_output: '1460', client_header_buffer_size: '1k', large_client_header_buffers: '4 8k' },
    servers: [
      {
        serverName: 'merge.test',
        directives: { root: 'www' },
        locations: [loc('/', {}), loc('= /a/b', { return: "200 'exact a/b uri=$uri'" }), loc('/h', { return: "200 'x_a=[$http_x_a] x-b=[$http_x_b] dot=[$http_x_c]'" })],
      },
      {
        listen: ['1'],
        serverName: 'keep.test',
        directives: { root: 'www', merge_slashes: 'off', underscores_in_headers: 'on' },
        locations: [loc('/', { return: "200 'uri=$uri'" }), loc('= /a/b', { return: "200 'exact a/b'" }), loc('/h', { return: "200 'x_a=[$http_x_a] x-b=[$http_x_b] dot=[$http_x_c]'" })],
      },
      {
        listen: ['3'],
        serverName: 'big.test',
        directives: { large_client_header_buffers: '4 16k' },
        locations: [loc('/', { return: "200 'big ok'" })],
      },
      {
        listen: ['2'],
        serverName: 'lax.test',
        directives: { ignore_invalid_headers: 'off' },
        locations: [loc('/h', { return: "200 'x_a=[$http_x_a] x-b=[$http_x_b]'" })],
      },
    ],
  },
  requests: [
    { name: 'merge_slashes on: // is /', host: 'merge.test', target: '//a//b' },
    { name: 'merge_slashes on: a file', host: 'merge.test', target: '/dir//sub///b.txt' },
    { name: 'merge_slashes on: .. after //', host: 'merge.test', target: '/dir//sub/..//a.txt' },
    { name: 'merge_slashes off: // stays', host: 'keep.test', target: '//a//b', slot: 1 },
    { name: 'merge_slashes off: no exact match', host: 'keep.test', target: '/a//b', slot: 1 },
    { name: 'merge_slashes off: .. takes the empty segment', host: 'keep.test', target: '/a//../b', slot: 1 },
    { name: 'merge_slashes off: encoded slashes', host: 'keep.test', target: '/a/%2F/b', slot: 1 },
    { name: 'underscores off: X_A is ignored', host: 'merge.test', target: '/h', headers: { X_A: 'under', 'X-B': 'dash' } },
    { name: 'underscores on: X_A is $http_x_a', host: 'keep.test', target: '/h', headers: { X_A: 'under', 'X-B': 'dash' }, slot: 1 },
    { name: 'ignore_invalid_headers off: X_A is kept', host: 'lax.test', target: '/h', headers: { X_A: 'under', 'X-B': 'dash' }, slot: 2 },
    { name: 'a 12000-byte header line: too large for 8k buffers', host: 'merge.test', target: '/h', headers: { 'X-Big': 'b'.repeat(12000) } },
    { name: 'a 12000-byte header line fits 16k buffers', host: 'big.test', target: '/', headers: { 'X-Big': 'b'.repeat(12000) }, slot: 3 },
    { name: 'a 17000-byte header line does not', host: 'big.test', target: '/', headers: { 'X-Big': 'b'.repeat(17000) }, slot: 3 },
    { name: 'a 10000-byte request line: 414 with 8k buffers', host: 'merge.test', target: `/h?${'q'.repeat(10000)}` },
    { name: 'a 10000-byte request line fits 16k buffers', host: 'big.test', target: `/?${'q'.repeat(10000)}`, slot: 3 },
    { name: 'five 8000-byte header lines: four fit 16k buffers two by two', host: 'big.test', target: '/', headers: Object.fromEntries([1, 2, 3, 4, 5].map((i) => [`X-B${i}`, 'b'.repeat(8000)])), slot: 3 },
    { name: 'a name with a dot is invalid', host: 'merge.test', target: '/h', headers: { 'X.C': 'dot' } },
  ],
};

const redirects: ParityCase = {
  title: 'absolute_redirect, port_in_redirect, server_name_in_redirect',
  files: FILES,
  site: {
    servers: [
      {
        serverName: 'first.test second.test',
        directives: { root: 'www' },
        locations: [
          loc('/', {}),
          loc('= /r', { return: '301 /elsewhere' }),
          loc('= /r-relative-off', { return: '302 /elsewhere', absolute_redirect: 'off' }),
          loc('= /r-no-port', { return: '302 /elsewhere', port_in_redirect: 'off' }),
          loc('= /r-name', { return: '302 /elsewhere', server_name_in_redirect: 'on' }),
          loc('= /r-name-no-port', { return: '307 /x?a=1', server_name_in_redirect: 'on', port_in_redirect: 'off' }),
          loc('= /r-absolute', { return: '302 http://other.test/x', absolute_redirect: 'off' }),
          loc('/off/', { absolute_redirect: 'off', alias: 'www/' }),
          loc('/name/', { server_name_in_redirect: 'on', alias: 'www/' }),
          loc('/noport/', { port_in_redirect: 'off', alias: 'www/' }),
        ],
      },
    ],
  },
  requests: [
    { name: 'return: absolute with the port', host: 'second.test:8080', target: '/r' },
    { name: 'return: absolute_redirect off', host: 'second.test:8080', target: '/r-relative-off' },
    { name: 'return: port_in_redirect off', host: 'second.test:8080', target: '/r-no-port' },
    { name: 'return: server_name_in_redirect on', host: 'second.test:8080', target: '/r-name' },
    { name: 'return: server name, no port', host: 'second.test', target: '/r-name-no-port' },
    { name: 'return: an absolute URL stays', host: 'second.test', target: '/r-absolute' },
    { name: 'return: no Host, HTTP/1.0', host: null, version: 'HTTP/1.0', target: '/r-no-port' },
    { name: 'directory: absolute', host: 'second.test', target: '/dir?x=1' },
    { name: 'directory: absolute_redirect off', host: 'second.test', target: '/off/dir?x=1' },
    { name: 'directory: server_name_in_redirect on', host: 'second.test', target: '/name/dir' },
    { name: 'directory: port_in_redirect off', host: 'second.test', target: '/noport/dir' },
  ],
};

/** Connections kept alive: nginx tells `Keep-Alive: timeout=` only where keepalive_timeout's second value says so (Node would always). */
const keepalive: ParityCase = {
  title: 'keepalive_timeout and the Keep-Alive header',
  files: FILES,
  site: {
    servers: [
      { serverName: 'plain.test', directives: { root: 'www' }, locations: [loc('/', {})] },
      {
        serverName: 'told.test',
        directives: { root: 'www', keepalive_timeout: '75s 60s' },
        locations: [loc('/', {}), loc('/short/', { keepalive_timeout: '10s 5s', alias: 'www/' }), loc('= /text', { return: "200 'hello'" })],
      },
    ],
  },
  requests: [
    { name: 'kept alive, keepalive_timeout alone: no Keep-Alive header', host: 'plain.test', target: '/page.html', headers: { Connection: 'keep-alive' } },
    { name: 'kept alive, keepalive_timeout 75s 60s: timeout=60', host: 'told.test', target: '/page.html', headers: { Connection: 'keep-alive' } },
    { name: "kept alive, a location's own 10s 5s: timeout=5", host: 'told.test', target: '/short/page.html', headers: { Connection: 'keep-alive' } },
    { name: 'kept alive, return', host: 'told.test', target: '/text', headers: { Connection: 'keep-alive' } },
    { name: 'kept alive, a 404', host: 'told.test', target: '/nothing.html', headers: { Connection: 'keep-alive' } },
    { name: 'HTTP/1.0 asking for keep-alive', host: 'told.test', target: '/page.html', version: 'HTTP/1.0', headers: { Connection: 'keep-alive' } },
    { name: 'a connection that closes gets none', host: 'told.test', target: '/page.html' },
  ],
};

defineParityCases([charset, slashesAndHeaders, redirects, keepalive]);
