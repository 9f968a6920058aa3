/** nginx's checks of a request's head, as tables of fake requests (the parity suite checks them against nginx). */
import type { IncomingMessage } from 'node:http';
import { tabAround } from '../src/http/raw-head';
import { checkHeaderLines, checkRequestHead, checkRequestLine, MAX_HEADERS, MAX_LINE } from '../src/http/request-head';

/** A request as Node's parser would hand it over. */
function req(line: string, headers: [string, string][] = []): IncomingMessage {
  const [method, url, version] = line.split(' ');
  const [major, minor] = version.slice(5).split('.').map(Number);
  const lower: Record<string, string> = {};
  for (const [k, v] of headers) lower[k.toLowerCase()] ??= v;
  return { method, url, httpVersionMajor: major, httpVersionMinor: minor, rawHeaders: headers.flat(), headers: lower } as unknown as IncomingMessage;
}

const status = (fn: () => void): number => {
  try {
    fn();
    return 0;
  } catch (err) {
    return (err as { status: number }).status;
  }
};

describe('checkRequestLine', () => {
  const target = (lineLength: number) => `/${'a'.repeat(lineLength - 'GET  HTTP/1.1'.length - 1)}`;
  test.each([
    ['GET / HTTP/1.1', 0],
    ['GET / HTTP/1.0', 0],
    ['GET / HTTP/0.9', 400],
    ['GET / HTTP/2.0', 505],
    [`GET ${target(MAX_LINE)} HTTP/1.1`, 0],
    [`GET ${target(MAX_LINE + 1)} HTTP/1.1`, 414],
  ])('%#: %s', (line, expected) => expect(status(() => checkRequestLine(req(line)))).toBe(expected));
});

describe('checkHeaderLines', () => {
  test.each([
    ['one of each', [['Host', 'x'], ['If-None-Match', '"a"']], 0],
    ['two Hosts', [['Host', 'x'], ['host', 'y']], 400],
    ['two If-None-Match', [['If-None-Match', '"a"'], ['If-None-Match', '"b"']], 400],
    ['two Content-Length', [['Content-Length', '0'], ['Content-Length', '0']], 400],
    ['two Authorization', [['Authorization', 'a'], ['Authorization', 'b']], 400],
    ['two Range (nginx keeps the first)', [['Range', 'bytes=0-1'], ['Range', 'bytes=2-3']], 0],
    ['two Cookie', [['Cookie', 'a=1'], ['Cookie', 'b=2']], 0],
    ['a line of MAX_LINE', [['X-A', 'b'.repeat(MAX_LINE - 5)]], 0],
    ['a line longer than MAX_LINE', [['X-A', 'b'.repeat(MAX_LINE - 4)]], 494],
  ] as [string, [string, string][], number][])('%s', (_name, headers, expected) => {
    expect(status(() => checkHeaderLines(req('GET / HTTP/1.1', headers)))).toBe(expected);
  });
});

/**
 * A head as the parity probe sent it to nginx 1.22: `GET <target>`, Host, `count` lines of
 * `length` bytes each with their CRLF, Connection. Expected: what nginx answered (494 is its
 * 400 "Request Header Or Cookie Too Large").
 */
function filledHead(count: number, length: number, target = '/ret'): IncomingMessage {
  const lines: [string, string][] = [['Host', 'x']];
  for (let i = 0; i < count; i++) lines.push([`X-H${i}`, 'v'.repeat(length - `X-H${i}`.length - 4)]);
  lines.push(['Connection', 'close']);
  return req(`GET ${target} HTTP/1.1`, lines);
}

describe("checkHeaderLines: nginx's header buffers (1k, then 4 of 8k, a line never split) and its 1000 lines", () => {
  test.each([
    [32, 1000, '/ret', 0],
    [33, 1000, '/ret', 494],
    [4, 4100, '/ret', 0],
    [5, 4100, '/ret', 494],
    [16, 2000, '/ret', 0],
    [17, 2000, '/ret', 494],
    [15, 2100, '/ret', 494],
    [3, 8192, '/ret', 0],
    [4, 8192, '/ret', 494],
    [3, 8192, `/ret?${'a'.repeat(990)}`, 0],
    [3, 8192, `/ret?${'a'.repeat(1010)}`, 494],
    [3, 8192, `/ret?${'a'.repeat(2000)}`, 494],
  ])('%i lines of %i bytes after GET %#', (count, length, target, expected) => {
    expect(status(() => checkHeaderLines(filledHead(count, length, target)))).toBe(expected);
  });

  const lines = (n: number, name = (i: number) => `X-${i}`) => Array.from({ length: n }, (_, i) => [name(i), 'v'] as [string, string]);
  test.each([
    ['1000 header lines', lines(MAX_HEADERS), 0],
    ['1001 header lines', lines(MAX_HEADERS + 1), 494],
    ['1001 lines, one with an underscore (nginx ignores it, uncounted)', [...lines(MAX_HEADERS), ['X_Y', 'v']], 0],
    ['a duplicate Host before line 1001: the 400 comes first', [['Host', 'a'], ['Host', 'b'], ...lines(MAX_HEADERS)], 400],
    ['a duplicate Host after line 1000: the 494 comes first', [...lines(MAX_HEADERS), ['Host', 'a'], ['Host', 'b']], 494],
  ] as [string, [string, string][], number][])('%s', (_name, headers, expected) => {
    expect(status(() => checkHeaderLines(req('GET / HTTP/1.1', headers)))).toBe(expected);
  });
});

describe('checkRequestHead', () => {
  test.each([
    ['GET / HTTP/1.1', [], 0],
    ['POST / HTTP/1.1', [['Transfer-Encoding', 'chunked']], 0],
    ['POST / HTTP/1.1', [['Transfer-Encoding', 'CHUNKED']], 0],
    ['POST / HTTP/1.1', [['Transfer-Encoding', 'gzip, chunked']], 501],
    ['POST / HTTP/1.0', [['Transfer-Encoding', 'chunked']], 400],
    ['TRACE / HTTP/1.1', [], 405],
  ] as [string, [string, string][], number][])('%s %j', (line, headers, expected) => {
    expect(status(() => checkRequestHead(req(line, headers)))).toBe(expected);
  });

  test.each([
    ['a tab around chunked: 501', [['Transfer-Encoding', 'chunked']], 'transfer-encoding', 501],
    ['a tab before the length: 400', [['Content-Length', '5']], 'content-length', 400],
    ['a tab around another header: nothing', [['Transfer-Encoding', 'chunked']], 'x-other', 0],
  ] as [string, [string, string][], string, number][])('what nginx sees of a padded value: %s', (_name, headers, padded, expected) => {
    expect(status(() => checkRequestHead(req('POST / HTTP/1.1', headers), (name) => name === padded))).toBe(expected);
  });
});

describe('tabAround: the raw line behind a trimmed value', () => {
  const head = (line: string) => `POST / HTTP/1.1\r\nHost: x\r\n${line}\r\nConnection: close\r\n\r\n`;
  test.each([
    [head('Transfer-Encoding:\tchunked'), true],
    [head('Transfer-Encoding: chunked\t'), true],
    [head('Transfer-Encoding: \t chunked  '), true],
    [head('Transfer-Encoding: chunked'), false],
    [head('Transfer-Encoding:    chunked   '), false],
    [head('X-Transfer-Encoding:\tchunked'), false],
    ['Transfer-Encoding:\tchunked\r\n\r\n', true],
    [`${head('Transfer-Encoding: chunked')}${head('Transfer-Encoding:\tgzip')}`, false],
  ])('%j', (text, expected) => expect(tabAround(text, 'Transfer-Encoding', 'chunked')).toBe(expected));
});
