/** nginx's checks of a request's head, as tables of fake requests (the parity suite checks them against nginx). */
import type { IncomingMessage } from 'node:http';
import { checkHeaderLines, checkRequestHead, checkRequestLine, MAX_LINE } from '../src/request-head';

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
});
