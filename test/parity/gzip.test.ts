/**
 * Parity: the gzip filter. Which responses are compressed (types, `gzip_min_length`, status,
 * HEAD, HTTP/1.0, `Via` and `gzip_proxied`), what it does to the headers (Content-Length,
 * ETag made weak, Accept-Ranges, `gzip_vary`), and Accept-Encoding parsing. Bodies are
 * compared uncompressed: the two zlib streams need not be byte-identical.
 */
import { defineParityCases, type ParityCase, type ParityRequest } from './run';
import { loc } from './site';

const TEXT = 'The quick brown fox jumps over the lazy dog. '.repeat(30);
const GZIP = { 'Accept-Encoding': 'gzip' };

const get = (name: string, target: string, headers: Record<string, string> = GZIP, extra: Partial<ParityRequest> = {}): ParityRequest => ({
  name,
  target,
  headers,
  ...extra,
});

const site: ParityCase = {
  title: 'gzip',
  site: {
    http: { gzip: 'on', gzip_min_length: '100', gzip_types: 'text/css application/json', gzip_vary: 'on' },
    servers: [
      {
        directives: { root: 'www' },
        locations: [
          loc('/'),
          loc('/proxied/', { gzip_proxied: 'any' }),
          loc('/http10/', { gzip_http_version: '1.0' }),
          loc('/off/', { gzip: 'off' }),
          loc('/novary/', { gzip_vary: 'off' }),
          loc('/any/', { gzip_types: '*' }),
          loc('/level9/', { gzip_comp_level: '9' }),
          loc('= /text', { return: `200 '${TEXT}'`, default_type: 'text/css' }),
          loc('= /short', { return: "200 'short'", default_type: 'text/css' }),
          loc('/headers/', { add_header: 'X-Added yes' }),
        ],
      },
    ],
  },
  files: {
    'www/big.css': TEXT,
    'www/big.json': TEXT,
    'www/big.html': TEXT,
    'www/big.txt': TEXT,
    'www/big.png': TEXT,
    'www/small.css': 'a { }\n',
    'www/exact.css': 'x'.repeat(100),
    'www/under.css': 'x'.repeat(99),
    'www/proxied/big.css': TEXT,
    'www/http10/big.css': TEXT,
    'www/off/big.css': TEXT,
    'www/novary/big.css': TEXT,
    'www/novary/big.txt': TEXT,
    'www/any/big.png': TEXT,
    'www/level9/big.css': TEXT,
    'www/headers/big.css': TEXT,
  },
  requests: [
    get('gzip_types: text/css', '/big.css'),
    get('gzip_types: application/json', '/big.json'),
    get('text/html always', '/big.html'),
    get('text/plain not listed', '/big.txt'),
    get('image/png not listed', '/big.png'),
    get('gzip_types *', '/any/big.png'),
    get('shorter than gzip_min_length', '/small.css'),
    get('exactly gzip_min_length', '/exact.css'),
    get('one byte under gzip_min_length', '/under.css'),
    get('no Accept-Encoding', '/big.css', {}),
    get('Accept-Encoding: deflate', '/big.css', { 'Accept-Encoding': 'deflate' }),
    get('Accept-Encoding: gzip;q=0', '/big.css', { 'Accept-Encoding': 'gzip;q=0' }),
    get('Accept-Encoding: gzip;q=0.5', '/big.css', { 'Accept-Encoding': 'gzip;q=0.5' }),
    get('Accept-Encoding: *', '/big.css', { 'Accept-Encoding': '*' }),
    get('Accept-Encoding: GZIP', '/big.css', { 'Accept-Encoding': 'GZIP' }),
    get('Accept-Encoding: x-gzip', '/big.css', { 'Accept-Encoding': 'x-gzip' }),
    get('Accept-Encoding: br, gzip, deflate', '/big.css', { 'Accept-Encoding': 'br, gzip, deflate' }),
    get('Accept-Encoding: gzip;q=0, *', '/big.css', { 'Accept-Encoding': 'gzip;q=0, *' }),
    get('HEAD', '/big.css', GZIP, { method: 'HEAD' }),
    get('HTTP/1.0 with the default gzip_http_version 1.1', '/big.css', GZIP, { version: 'HTTP/1.0' }),
    get('HTTP/1.0 with gzip_http_version 1.0', '/http10/big.css', GZIP, { version: 'HTTP/1.0' }),
    get('Via with gzip_proxied off', '/big.css', { ...GZIP, Via: '1.1 proxy' }),
    get('Via with gzip_proxied any', '/proxied/big.css', { ...GZIP, Via: '1.1 proxy' }),
    get('gzip off', '/off/big.css'),
    get('gzip_vary off', '/novary/big.css'),
    get('gzip_vary off, a type not compressed', '/novary/big.txt'),
    get('gzip_comp_level 9', '/level9/big.css'),
    get('404 page compressed', '/nothing'),
    get('404 page, no Accept-Encoding', '/nothing', {}),
    get('301 redirect not compressed', '/proxied'),
    get('return text compressed', '/text'),
    get('return text under gzip_min_length', '/short'),
    get('range with gzip', '/big.css', { ...GZIP, Range: 'bytes=0-9' }),
    get('If-None-Match with the weak ETag', '/big.css', { ...GZIP, 'If-None-Match': 'W/"6553f100-546"' }),
    get('If-None-Match with the strong ETag', '/big.css', { ...GZIP, 'If-None-Match': '"6553f100-546"' }),
    get('add_header with gzip', '/headers/big.css'),
  ],
};

defineParityCases([site]);
