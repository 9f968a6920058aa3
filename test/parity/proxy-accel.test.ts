/**
 * Parity of the proxy's last header gaps (issue 17), beside nginx 1.22: the upstream's
 * `X-Accel-Limit-Rate` (ngx_atoi of each line, the last valid one wins, `$limit_rate` set unless
 * `proxy_ignore_headers` names it; seen here through `add_header X-Rate $limit_rate`, which nginx
 * evaluates after the upstream's header and before the rate is reset for an unbuffered
 * response), the upstream's `X-Accel-Charset` (the response's charset for any Content-Type when
 * the configuration knows the name; what the Content-Type becomes), and the request line
 * nginx sends upstream under `proxy_http_version 1.0`, its default (the recording backend
 * answers with the version it received).
 */
import { defineParityCases, type ParityRequest } from './run';
import { startRecordingBackend, type RecordingBackend } from './recording-backend';
import { startScriptedBackend, type ScriptedBackend } from './scripted-backend';
import { loc, type SiteModel } from './site';

let scripted: ScriptedBackend;
let recording: RecordingBackend;

beforeAll(async () => {
  scripted = await startScriptedBackend();
  recording = await startRecordingBackend();
});

afterAll(async () => {
  await scripted?.close();
  await recording?.close();
});

/** What an X-Accel-Redirect names. */
const FILES = { 'www/protected/file.txt': 'a protected file\n' };

/** Shows the request's rate once the upstream's header is in. */
const RATE = { add_header: 'X-Rate $limit_rate always' };

function site(): SiteModel {
  const b = scripted.url;
  const r = recording.url;
  return {
    servers: [
      {
        locations: [
          loc('/lr/', { proxy_pass: b, ...RATE }),
          loc('/lr-ignore/', { proxy_pass: b, proxy_ignore_headers: 'X-Accel-Limit-Rate', ...RATE }),
          loc('/lr-unbuffered/', { proxy_pass: b, proxy_buffering: 'off', ...RATE }),
          loc('/lr-limited/', { proxy_pass: b, limit_rate: '10k', ...RATE }),
          // Charsets the configuration knows: those its `charset` and `source_charset` name.
          loc('/known-utf8/', { charset: 'utf-8', return: "200 'known\n'" }),
          loc('/known-1251/', { charset: 'windows-1251', return: "200 'known\n'" }),
          loc('/cs/', { proxy_pass: b }),
          loc('/cs-ignore/', { proxy_pass: b, proxy_ignore_headers: 'X-Accel-Charset' }),
          loc('/cs-koi/', { proxy_pass: b, charset: 'koi8-r' }),
          loc('/cs-source/', { proxy_pass: b, charset: 'koi8-r', source_charset: 'koi8-r' }),
          loc('/xa/', { proxy_pass: b }),
          loc('/protected/', { internal: '', root: 'www', ...RATE }),
          loc('/v10/', { proxy_pass: r }),
          loc('/v10-stream/', { proxy_pass: r, proxy_request_buffering: 'off' }),
          loc('/v11/', { proxy_pass: r, proxy_http_version: '1.1' }),
        ],
      },
    ],
  };
}

/** A request the scripted backend answers with these header lines. */
const answered = (name: string, path: string, lines: readonly string[], more: Partial<ParityRequest> & { status?: string } = {}): ParityRequest => {
  const params = new URLSearchParams();
  if (more.status) params.append('status', more.status);
  for (const line of lines) params.append('h', line);
  return { name, target: `${path}?${params}`, ...more };
};

defineParityCases([
  {
    title: 'X-Accel-Limit-Rate',
    site,
    files: FILES,
    requests: [
      answered('sets the rate', '/lr/a', ['X-Accel-Limit-Rate: 1000', 'Content-Type: text/plain']),
      answered('the last valid line wins (ngx_atoi: digits only)', '/lr/b', ['X-Accel-Limit-Rate: 500', 'X-Accel-Limit-Rate: 10k', 'X-Accel-Limit-Rate: -5', 'X-Accel-Limit-Rate: 1e3', 'X-Accel-Limit-Rate: +7']),
      answered('of two valid lines, the last', '/lr/c', ['X-Accel-Limit-Rate: 700', 'X-Accel-Limit-Rate: 0900']),
      answered('a number too large for ngx_atoi is no rate', '/lr/d', ['X-Accel-Limit-Rate: 600', 'X-Accel-Limit-Rate: 99999999999999999999']),
      answered('over the location\'s limit_rate', '/lr-limited/e', ['X-Accel-Limit-Rate: 3000']),
      answered('0 over the location\'s limit_rate', '/lr-limited/f', ['X-Accel-Limit-Rate: 0']),
      answered('an unbuffered response: the rate is set at the header (sent unpaced)', '/lr-unbuffered/g', ['X-Accel-Limit-Rate: 1000']),
      answered('X-Accel-Buffering: no likewise', '/lr/h', ['X-Accel-Limit-Rate: 1200', 'X-Accel-Buffering: no']),
      answered('proxy_ignore_headers X-Accel-Limit-Rate: not applied, still hidden', '/lr-ignore/i', ['X-Accel-Limit-Rate: 1000']),
      answered('HEAD', '/lr/j', ['X-Accel-Limit-Rate: 1000'], { method: 'HEAD' }),
      answered('with X-Accel-Redirect: the file it names is sent at that rate', '/xa/k', ['X-Accel-Limit-Rate: 2000', 'X-Accel-Redirect: /protected/file.txt']),
    ],
  },
  {
    title: 'X-Accel-Charset',
    site,
    files: FILES,
    requests: [
      answered('a known charset: appended to a Content-Type without one', '/cs/a', ['X-Accel-Charset: utf-8', 'Content-Type: text/plain']),
      answered('any type (charset_types is not asked), the name as the upstream wrote it', '/cs/b', ['X-Accel-Charset: UTF-8', 'Content-Type: application/octet-stream']),
      answered('a type with other parameters', '/cs/c', ['X-Accel-Charset: windows-1251', 'Content-Type: text/plain; format=flowed']),
      answered('a Content-Type in the same charset, named otherwise: rewritten', '/cs/d', ['X-Accel-Charset: utf-8', 'Content-Type: text/html; charset=UTF-8']),
      answered('quoted, after other parameters', '/cs/e', ['X-Accel-Charset: utf-8', 'Content-Type: text/html; level=1; charset="Utf-8"']),
      answered('a Content-Type in another charset: no charset_map, unchanged', '/cs/f', ['X-Accel-Charset: utf-8', 'Content-Type: text/html; charset=windows-1251']),
      answered('an unknown charset: unchanged', '/cs/g', ['X-Accel-Charset: x-unknown', 'Content-Type: text/plain']),
      answered('the last line wins', '/cs/h', ['X-Accel-Charset: x-unknown', 'X-Accel-Charset: utf-8', 'Content-Type: text/plain']),
      answered("over the location's charset", '/cs-koi/i', ['X-Accel-Charset: utf-8', 'Content-Type: text/plain']),
      answered("an unknown one stops the location's charset too", '/cs-koi/j', ['X-Accel-Charset: x-unknown', 'Content-Type: text/plain']),
      answered('source_charset other than it: no charset_map, unchanged', '/cs-source/k', ['X-Accel-Charset: utf-8', 'Content-Type: text/plain']),
      answered('source_charset the same (another case): set', '/cs-source/l', ['X-Accel-Charset: KOI8-R', 'Content-Type: text/plain']),
      answered('a 302: no charset, a named one dropped', '/cs/m', ['X-Accel-Charset: utf-8', 'Content-Type: text/html; charset=utf-8', 'Location: /x'], { status: '302' }),
      answered('no Content-Type: none', '/cs/n', ['X-Accel-Charset: utf-8']),
      answered('proxy_ignore_headers X-Accel-Charset: unchanged', '/cs-ignore/o', ['X-Accel-Charset: utf-8', 'Content-Type: text/plain']),
      answered('an empty value: as if none', '/cs-koi/p', ['X-Accel-Charset: utf-8', 'X-Accel-Charset: ', 'Content-Type: text/plain']),
      answered('with X-Accel-Redirect: the file it names gets it', '/xa/q', ['X-Accel-Charset: utf-8', 'X-Accel-Redirect: /protected/file.txt']),
    ],
  },
  {
    title: 'the upstream request line',
    site,
    requests: [
      { name: 'proxy_http_version 1.0 (the default): HTTP/1.0', target: '/v10/a?x=1' },
      { name: 'HEAD', target: '/v10/head', method: 'HEAD' },
      { name: 'a body with its length', raw: 'POST /v10/post HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nhello' },
      { name: 'a chunked body: read whole, sent with its length', raw: 'POST /v10/chunked HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n' },
      { name: 'a chunked body under proxy_request_buffering off: still read whole', raw: 'POST /v10-stream/chunked HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n' },
      { name: 'a body with its length under proxy_request_buffering off: streamed', raw: 'POST /v10-stream/post HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello' },
      { name: 'a POST without a body', raw: 'POST /v10/empty HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' },
      { name: 'an HTTP/1.0 client', raw: 'GET /v10/old HTTP/1.0\r\nHost: localhost\r\n\r\n' },
      { name: 'proxy_http_version 1.1: HTTP/1.1', target: '/v11/a' },
    ],
  },
]);
