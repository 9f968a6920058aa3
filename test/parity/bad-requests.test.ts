/**
 * Parity: what the server answers to input it cannot take. Malformed request lines, bad
 * versions, bad percent-encoding, an over-long URI and over-long headers, duplicate unique
 * headers, an HTTP/2 preface on a plain listener, unknown methods, HTTP/0.9, and bodies.
 * Sent as raw bytes, so each server sees exactly the same thing.
 */
import { defineParityCases, type ParityCase, type ParityRequest } from './run';
import { NODE_PARSER } from './differences';
import { loc } from './site';

/** A raw request: `line`, then `headers` (each a full `Name: value`), then an empty line. */
const raw = (name: string, line: string, headers: string[] = ['Host: x'], extra: Partial<ParityRequest> = {}): ParityRequest => ({
  name,
  raw: `${line}\r\n${[...headers, 'Connection: close'].map((h) => `${h}\r\n`).join('')}\r\n`,
  ...extra,
});

/** `count` header lines of `length` bytes each, CRLF included. */
const filled = (count: number, length: number) => Array.from({ length: count }, (_, i) => `X-H${i}: ${'v'.repeat(length - `X-H${i}: `.length - 2)}`);
/** `count` short header lines. */
const many = (count: number) => Array.from({ length: count }, (_, i) => `X-${i}: v`);

/** A chunked POST to the return location with the `Transfer-Encoding` line written as given. */
const chunkedPost = (name: string, line: string): ParityRequest => ({
  name,
  raw: `POST /echo HTTP/1.1\r\nHost: x\r\n${line}\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
});

const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';

const site: ParityCase = {
  title: 'bad requests',
  site: {
    servers: [
      {
        directives: { root: 'www' },
        locations: [loc('/'), loc('= /echo', { return: "200 'uri=$uri args=$args'" })],
      },
    ],
  },
  files: { 'www/index.html': 'index\n' },
  requests: [
    raw('a good request, for reference', 'GET / HTTP/1.1'),
    raw('lower-case method', 'get / HTTP/1.1'),
    raw('unknown method', 'FOO / HTTP/1.1', undefined, { differs: NODE_PARSER.unknownMethod }),
    raw('unknown method, to a return', 'FOO /echo HTTP/1.1', undefined, { differs: NODE_PARSER.unknownMethod }),
    raw('WebDAV method', 'PROPFIND / HTTP/1.1'),
    raw('method with a digit', 'GET1 / HTTP/1.1'),
    raw('method with an underscore', 'MY_METHOD / HTTP/1.1', undefined, { differs: NODE_PARSER.unknownMethod }),
    raw('two spaces before the target', 'GET  / HTTP/1.1'),
    raw('tab before the target', 'GET\t/ HTTP/1.1'),
    raw('no version', 'GET / ', undefined, { differs: NODE_PARSER.http09 }),
    raw('extra word after the version', 'GET / HTTP/1.1 extra'),
    raw('space in the target', 'GET /a b HTTP/1.1'),
    raw('version HTTP/1.2', 'GET / HTTP/1.2', undefined, { differs: NODE_PARSER.http12 }),
    raw('version HTTP/2.0', 'GET / HTTP/2.0'),
    raw('version HTTP/9.9', 'GET / HTTP/9.9'),
    raw('version HTTP/0.9 written out', 'GET / HTTP/0.9'),
    raw('version in lower case', 'GET / http/1.1'),
    raw('version with a leading zero', 'GET / HTTP/01.1'),
    raw('not HTTP', 'GET / XTTP/1.1'),
    raw('target without a slash', 'GET index.html HTTP/1.1'),
    raw('asterisk target on GET', 'GET * HTTP/1.1'),
    raw('OPTIONS *', 'OPTIONS * HTTP/1.1'),
    raw('CONNECT authority', 'CONNECT example.com:443 HTTP/1.1'),
    raw('control character in the target', 'GET /\x01 HTTP/1.1'),
    raw('DEL in the target', 'GET /\x7f HTTP/1.1'),
    raw('bad percent-encoding', 'GET /%zz HTTP/1.1'),
    raw('bad percent-encoding in the query only', 'GET /echo?%zz HTTP/1.1'),
    raw('encoded NUL', 'GET /%00 HTTP/1.1'),
    { name: 'HTTP/0.9 request', raw: 'GET /\r\n', halfClose: true, differs: NODE_PARSER.http09 },
    { name: 'bare LF line ends', raw: 'GET / HTTP/1.1\nHost: x\nConnection: close\n\n', differs: NODE_PARSER.bareLf },
    { name: 'HTTP/2 preface', raw: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' },
    { name: 'TLS ClientHello on a plain port', raw: Buffer.from('160301002e0100002a0303' + '00'.repeat(32) + '000002002f0100', 'hex') },
    { name: 'empty lines before the request', raw: '\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' },
    raw('a 10 KiB URI', `GET /${'a'.repeat(10 * 1024)} HTTP/1.1`),
    raw('a 7 KiB URI', `GET /${'a'.repeat(7 * 1024)} HTTP/1.1`),
    // The request line with its CRLF must fit nginx's 8 KiB buffer: 8190 + CRLF fits, 8191 does not.
    raw('a request line of 8190 bytes', `GET /${'a'.repeat(8190 - 14)} HTTP/1.1`),
    raw('a request line of 8191 bytes', `GET /${'a'.repeat(8191 - 14)} HTTP/1.1`),
    raw('a header line of 8190 bytes', 'GET / HTTP/1.1', ['Host: x', `X-A: ${'b'.repeat(8190 - 5)}`]),
    raw('a header line of 8191 bytes', 'GET / HTTP/1.1', ['Host: x', `X-A: ${'b'.repeat(8191 - 5)}`]),
    raw('a 40 KiB header', 'GET / HTTP/1.1', ['Host: x', `X-Big: ${'b'.repeat(40 * 1024)}`]),
    raw('a 9 KiB header', 'GET / HTTP/1.1', ['Host: x', `X-Big: ${'b'.repeat(9 * 1024)}`]),
    raw('20 KiB of headers in 1 KiB lines', 'GET / HTTP/1.1', ['Host: x', ...Array.from({ length: 20 }, (_, i) => `X-H${i}: ${'h'.repeat(1024)}`)]),
    raw('40 KiB of headers in 1 KiB lines', 'GET / HTTP/1.1', ['Host: x', ...Array.from({ length: 40 }, (_, i) => `X-H${i}: ${'h'.repeat(1024)}`)]),
    // nginx's buffers: a line never spans two of them (1k, then 4 of 8k), so where lines fall counts, not only the size.
    raw('32 header lines of 1000 bytes', 'GET / HTTP/1.1', ['Host: x', ...filled(32, 1000)]),
    raw('33 header lines of 1000 bytes', 'GET / HTTP/1.1', ['Host: x', ...filled(33, 1000)]),
    raw('4 header lines of 4100 bytes', 'GET / HTTP/1.1', ['Host: x', ...filled(4, 4100)]),
    raw('5 header lines of 4100 bytes (20 KiB)', 'GET / HTTP/1.1', ['Host: x', ...filled(5, 4100)]),
    raw('15 header lines of 2100 bytes (31 KiB)', 'GET / HTTP/1.1', ['Host: x', ...filled(15, 2100)]),
    raw('a 1 KiB request line, then 3 header lines of 8 KiB', `GET /?${'a'.repeat(1010)} HTTP/1.1`, ['Host: x', ...filled(3, 8192)]),
    // nginx 1.22 as Debian builds it counts header lines: 1000 at most (max_headers).
    raw('1000 header lines', 'GET / HTTP/1.1', ['Host: x', ...many(998)]),
    raw('1001 header lines', 'GET / HTTP/1.1', ['Host: x', ...many(999)]),
    raw('2001 header lines, Content-Length last', 'POST /echo HTTP/1.1', ['Host: x', ...many(1999), 'Content-Length: 0']),
    raw('header without a colon', 'GET / HTTP/1.1', ['Host: x', 'NoColon'], { differs: NODE_PARSER.invalidHeader }),
    raw('header with a space before the colon', 'GET / HTTP/1.1', ['Host: x', 'X-A : b']),
    raw('header name with an invalid character', 'GET / HTTP/1.1', ['Host: x', 'X(A): b'], { differs: NODE_PARSER.invalidHeader }),
    raw('header value with a control character', 'GET / HTTP/1.1', ['Host: x', 'X-A: b\x01c'], { differs: NODE_PARSER.controlInHeader }),
    raw('obsolete line folding', 'GET / HTTP/1.1', ['Host: x', 'X-A: b', ' folded']),
    raw('duplicate If-None-Match', 'GET / HTTP/1.1', ['Host: x', 'If-None-Match: "a"', 'If-None-Match: "b"']),
    raw('duplicate If-Modified-Since', 'GET / HTTP/1.1', ['Host: x', 'If-Modified-Since: Tue, 14 Nov 2023 22:13:20 GMT', 'If-Modified-Since: x']),
    raw('duplicate If-Range', 'GET / HTTP/1.1', ['Host: x', 'If-Range: "a"', 'If-Range: "b"']),
    raw('duplicate Authorization', 'GET / HTTP/1.1', ['Host: x', 'Authorization: a', 'Authorization: b']),
    raw('duplicate Range', 'GET / HTTP/1.1', ['Host: x', 'Range: bytes=0-1', 'Range: bytes=2-3']),
    raw('duplicate Content-Length, same value', 'POST / HTTP/1.1', ['Host: x', 'Content-Length: 0', 'Content-Length: 0']),
    raw('duplicate Content-Length, different values', 'POST / HTTP/1.1', ['Host: x', 'Content-Length: 0', 'Content-Length: 1']),
    raw('negative Content-Length', 'POST / HTTP/1.1', ['Host: x', 'Content-Length: -1']),
    raw('Content-Length and chunked', 'POST / HTTP/1.1', ['Host: x', 'Content-Length: 3', 'Transfer-Encoding: chunked']),
    raw('unknown Transfer-Encoding', 'POST / HTTP/1.1', ['Host: x', 'Transfer-Encoding: gzip']),
    // nginx strips only spaces around a value: a tab is part of it (Node's parser strips both).
    chunkedPost('Transfer-Encoding: a tab before chunked', 'Transfer-Encoding:\tchunked'),
    chunkedPost('Transfer-Encoding: a space and a tab before chunked', 'Transfer-Encoding: \tchunked'),
    chunkedPost('Transfer-Encoding: a tab after chunked', 'Transfer-Encoding: chunked\t'),
    chunkedPost('Transfer-Encoding: spaces around chunked', 'Transfer-Encoding:   chunked   '),
    chunkedPost('Transfer-Encoding: CHUNKED', 'Transfer-Encoding: CHUNKED'),
    chunkedPost('transfer-encoding in lower case', 'transfer-encoding: chunked'),
    chunkedPost('Transfer-Encoding: a vertical tab before chunked', 'Transfer-Encoding: \x0bchunked'),
    chunkedPost('Transfer-Encoding: a form feed before chunked', 'Transfer-Encoding: \x0cchunked'),
    chunkedPost('Transfer-Encoding: chunked folded onto a tab line', 'Transfer-Encoding:\r\n\tchunked'),
    chunkedPost('Transfer-Encoding: chunked, chunked', 'Transfer-Encoding: chunked, chunked'),
    chunkedPost('Transfer-Encoding: chunked;q=1', 'Transfer-Encoding: chunked;q=1'),
    chunkedPost('Transfer-Encoding: a no-break space before chunked', 'Transfer-Encoding: \xa0chunked'),
    chunkedPost('Transfer-Encoding with a space before the colon', 'Transfer-Encoding : chunked'),
    { name: 'Content-Length: a tab before the length', raw: 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length:\t3\r\nConnection: close\r\n\r\nabc' },
    { name: 'Host: a tab before the name', raw: 'GET /echo HTTP/1.1\r\nHost:\tx\r\nConnection: close\r\n\r\n', differs: NODE_PARSER.tabAroundValue },
    { name: 'Transfer-Encoding: gzip, chunked', raw: 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n0\r\n\r\n' },
    { name: 'Transfer-Encoding on HTTP/1.0', raw: 'POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' },
    { name: 'chunked POST to a return', raw: 'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n' },
    raw('TRACE', 'TRACE /echo HTTP/1.1'),
    raw('CONNECT with a path', 'CONNECT / HTTP/1.1'),
    raw('Expect: 100-continue to a return', 'POST /echo HTTP/1.1', ['Host: x', 'Content-Length: 0', 'Expect: 100-continue']),
    raw('Expect: something else', 'GET / HTTP/1.1', ['Host: x', 'Expect: teapot']),
    raw('a 404 page for Chrome gets nginx padding', 'GET /nothing HTTP/1.1', ['Host: x', `User-Agent: ${CHROME}`]),
    raw('a 404 page for old MSIE', 'GET /nothing HTTP/1.1', ['Host: x', 'User-Agent: Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)']),
    raw('a 301 page for Chrome (no padding)', 'GET /echo/.. HTTP/1.1', ['Host: x', `User-Agent: ${CHROME}`]),
  ],
};

defineParityCases([site]);
