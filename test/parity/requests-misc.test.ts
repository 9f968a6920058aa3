/**
 * Parity: request bodies and limits (`client_max_body_size`, `Expect: 100-continue`),
 * header spelling, absolute-form targets with another scheme, `error_page` inherited from the
 * server and overridden in a location, an error page that is itself an error, and a large
 * file streamed whole and in ranges.
 */
import { defineParityCases, type ParityCase, type ParityRequest } from './run';
import { DELIBERATE } from './differences';
import { loc } from './site';

/** A POST of `body` with its Content-Length, raw, to `target`. */
const post = (name: string, target: string, body: string, headers: string[] = [], extra: Partial<ParityRequest> = {}): ParityRequest => ({
  name,
  raw: `POST ${target} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n${headers.map((h) => `${h}\r\n`).join('')}Connection: close\r\n\r\n${body}`,
  ...extra,
});

/** 300 KiB of numbered lines: more than one read of the file. */
const BIG = Array.from({ length: 30_000 }, (_, i) => `line ${String(i).padStart(5, '0')}\n`).join('').slice(0, 300 * 1024);

const site: ParityCase = {
  title: 'requests, bodies and error pages',
  site: {
    http: { client_max_body_size: '1k' },
    servers: [
      {
        directives: { root: 'www', error_page: ['404 /errors/404.html', '403 =404 /errors/404.html'] },
        locations: [
          loc('/'),
          loc('= /echo', { return: "200 'echo $request_method $content_length'" }),
          loc('/big-body/', { client_max_body_size: '0', return: "200 'no limit'" }),
          loc('/own-errors/', { error_page: '404 /errors/other.html' }),
          loc('/no-errors/', { error_page: '410 /errors/404.html' }),
          loc('/errors/'),
          loc('/page-missing/', { error_page: '404 /errors/missing.html' }),
          loc('/page-forbidden/', { error_page: '404 /forbidden-dir/' }),
        ],
      },
    ],
  },
  files: {
    'www/index.html': '<p>index</p>\n',
    'www/big.txt': BIG,
    'www/errors/404.html': '<p>server 404</p>\n',
    'www/errors/other.html': '<p>location 404</p>\n',
    'www/forbidden-dir/x.txt': 'x\n',
  },
  requests: [
    post('a small POST to a return', '/echo', 'hello'),
    post('a POST to a file: 405', '/index.html', 'hello'),
    post('a POST over client_max_body_size: 413', '/echo', 'x'.repeat(1025)),
    post('a POST at client_max_body_size', '/echo', 'x'.repeat(1024)),
    post('client_max_body_size 0 is no limit', '/big-body/x', 'x'.repeat(4096)),
    {
      name: 'Expect: 100-continue over the limit: 413 without 100',
      raw: 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
    },
    {
      name: 'Expect: 100-continue to a return: 100, then the answer',
      raw: 'POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
      halfClose: true,
    },
    {
      name: 'Expect: 100-continue on a GET of a file',
      raw: 'GET /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
      halfClose: true,
    },
    {
      name: 'Expect: 100-continue on a POST to a file: 405',
      raw: 'POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n',
      halfClose: true,
      differs: DELIBERATE.continueBeforeHandler,
    },
    {
      name: 'Expect: 100-continue on HTTP/1.0 is not answered',
      raw: 'POST /echo HTTP/1.0\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n',
      halfClose: true,
    },
    { name: 'lower-case header names', raw: 'GET /echo HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n' },
    { name: 'upper-case header names', raw: 'GET /echo HTTP/1.1\r\nHOST: x\r\nCONNECTION: close\r\n\r\n' },
    { name: 'absolute-form https target on a plain port', target: 'https://x/echo' },
    { name: 'absolute-form target with another scheme', target: 'ftp://x/echo' },
    { name: 'Host with a non-numeric port', host: 'x:abc', target: '/echo' },
    { name: 'error_page from the server', target: '/nothing' },
    { name: 'error_page =404 for a 403, from the server', target: '/forbidden-dir/' },
    { name: 'a location error_page replaces the server one', target: '/own-errors/nothing' },
    { name: 'a location error_page for another code drops the server one', target: '/no-errors/nothing' },
    { name: 'an error page that is missing: the built-in page', target: '/page-missing/nothing' },
    { name: 'an error page that is itself a 403', target: '/page-forbidden/nothing' },
    { name: 'a large file', target: '/big.txt' },
    { name: 'a large file, the last bytes', target: '/big.txt', headers: { Range: 'bytes=-100' } },
    { name: 'a large file, ranges far apart', target: '/big.txt', headers: { Range: 'bytes=10-19,300000-300009' } },
  ],
};

defineParityCases([site]);
