/**
 * Parity: `return`. Text with variables and the content type it gets, redirects made
 * absolute, codes with and without nginx's built-in page and reason phrase, `444`, and the
 * status lines nginx writes for codes it has no phrase for.
 */
import { defineParityCases, type ParityCase, type ParityRequest } from './run';
import { loc } from './site';

/** Codes sent bare (`return CODE`) to compare status line, page and headers. */
const CODES = [200, 201, 202, 203, 204, 206, 301, 302, 303, 304, 307, 308, 400, 401, 402, 403, 404, 405, 406, 407, 408, 409, 410, 411, 412, 413, 414, 415, 416, 417, 418, 421, 422, 425, 429, 431, 451, 494, 499, 500, 501, 502, 503, 504, 505, 506, 507, 508, 511, 599];

const site: ParityCase = {
  title: 'return',
  site: {
    servers: [
      {
        serverName: 'site.test',
        locations: [
          loc('= /text', { return: "200 'uri=$uri host=$host'" }),
          loc('= /text.json', { return: "200 '{\"a\": 1}'" }),
          loc('= /text.css', { return: "201 'created'" }),
          loc('= /empty', { return: '200' }),
          loc('= /redirect', { return: '301 /elsewhere' }),
          loc('= /redirect-args', { return: '302 /elsewhere?$args' }),
          loc('= /redirect-uri', { return: '307 $uri/more' }),
          loc('= /redirect-abs', { return: '308 https://example.org/x' }),
          loc('= /redirect-relative', { return: '301 elsewhere' }),
          loc('= /url-only', { return: 'http://example.org/only' }),
          loc('= /scheme-var', { return: '$scheme://$host/v' }),
          loc('= /text-404', { return: "404 'custom not found'" }),
          loc('= /text-500', { return: "500 'custom error'" }),
          loc('= /text-302', { return: "302 'not a url'" }),
          loc('= /close', { return: '444' }),
          loc('= /https', { return: '301 https://$host$request_uri' }),
          loc('= /arg', { return: "200 'a=$arg_a b=$arg_b is_args=$is_args'" }),
          loc('= /to-page', { return: '404', error_page: '404 /page-target' }),
          loc('= /to-named', { return: '403', error_page: '403 =200 @named' }),
          loc('= /page-target', { return: "200 'the error page'" }),
          loc('@named', { return: "200 'named after a return'" }),
          loc('= /headers-ok', { return: "200 'ok'", add_header: ['X-Plain plain', 'X-Always always always'] }),
          loc('= /headers-404', { return: '404', add_header: ['X-Plain plain', 'X-Always always always'] }),
          loc('= /headers-redirect', { return: '302 /x', add_header: ['X-Plain plain', 'X-Always always always'] }),
          loc('= /quiet', { return: '404', server_tokens: 'off' }),
          ...CODES.map((code) => loc(`= /bare/${code}`, { return: String(code) })),
        ],
      },
    ],
  },
  requests: [
    { name: 'text with variables', target: '/text' },
    { name: 'text, Host with a port and upper case', target: '/text', host: 'Site.Test:81' },
    { name: 'text, type from the URI extension', target: '/text.json' },
    { name: 'text with 201, css type', target: '/text.css' },
    { name: 'text, HEAD', target: '/text', method: 'HEAD' },
    { name: 'text, POST', target: '/text', method: 'POST', headers: { 'Content-Length': '0' } },
    { name: 'text, unknown method', target: '/text', method: 'DELETE' },
    { name: 'code without text', target: '/empty' },
    { name: 'redirect made absolute', target: '/redirect' },
    { name: 'redirect, Host with a port', target: '/redirect', host: 'site.test:8080' },
    { name: 'redirect, no Host (HTTP/1.0)', target: '/redirect', host: null, version: 'HTTP/1.0' },
    { name: 'redirect with $args', target: '/redirect-args?a=1&b=%20' },
    { name: 'redirect with $uri', target: '/redirect-uri' },
    { name: 'redirect to an absolute URL', target: '/redirect-abs' },
    { name: 'redirect to a relative path', target: '/redirect-relative' },
    { name: 'URL only: 302', target: '/url-only' },
    { name: '$scheme URL only: 302', target: '/scheme-var' },
    { name: 'redirect, HEAD', target: '/redirect', method: 'HEAD' },
    { name: '404 with text', target: '/text-404' },
    { name: '500 with text', target: '/text-500' },
    { name: '302 with text that is not a URL', target: '/text-302' },
    { name: '444 closes without a response', target: '/close' },
    { name: 'the usual HTTPS redirect', target: '/https?x=1', host: 'Site.Test:8080' },
    { name: 'arguments', target: '/arg?b=2&a=%20x&a=second' },
    { name: 'no arguments', target: '/arg' },
    { name: 'return 404 goes through error_page', target: '/to-page' },
    { name: 'return 403 to a named location with =200', target: '/to-named' },
    { name: 'add_header on a return 200', target: '/headers-ok' },
    { name: 'add_header on a return 404: only always', target: '/headers-404' },
    { name: 'add_header on a return 302', target: '/headers-redirect' },
    { name: 'server_tokens off on a return page', target: '/quiet' },
    { name: 'a 404 page for HTTP/1.0', target: '/bare/404', version: 'HTTP/1.0', host: null },
    ...CODES.map((code): ParityRequest => ({ name: `return ${code}`, target: `/bare/${code}` })),
    { name: 'return 404, HEAD', target: '/bare/404', method: 'HEAD' },
  ],
};

defineParityCases([site]);
