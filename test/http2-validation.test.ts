/**
 * HTTP/2 requests as RFC 9113 and nginx 1.22 check them, sent as raw frames to the real
 * `bin/gateway` on an `http2` cleartext socket (h2c with prior knowledge). Each case says what
 * the gateway does and, beside it, what nginx 1.22.1 (Debian's nginx-extras, `listen ... http2`)
 * did with the same frames, run by hand with the same client. Where Node's nghttp2 refuses a
 * request before the gateway sees it (it resets the stream with PROTOCOL_ERROR where nginx
 * answers 400, or serves without a field it ignores where nginx resets), the test holds the
 * refusal as it is and the nginx column says the difference.
 */
import http from 'node:http';
import { expectLogged, startGateway, type GatewayProcess } from './helpers/gateway-process';
import { closeServer, listen, portOf } from './helpers/proxy-peers';
import { ERROR, RawH2, getFields, headerBlock, headerFrames, headers, data, type StreamOutcome } from './helpers/h2-frames';

type Fields = [string, string][];

const GET = (extra: Fields = [], path = '/ret'): Fields => getFields(path, extra);
const POST = (path: string, extra: Fields = []): Fields => [[':method', 'POST'], [':scheme', 'http'], [':authority', 'x'], [':path', path], ...extra];
const without = (name: string): Fields => GET().filter(([n]) => n !== name);
const many = (count: number, size: number): Fields => Array.from({ length: count }, (_, i) => [`x-${i}`, 'a'.repeat(size)]);

const PROTOCOL_RESET: StreamOutcome = { reset: ERROR.PROTOCOL_ERROR };
const OK: StreamOutcome = { status: 200 };
const BAD: StreamOutcome = { status: 400 };
const CALM: StreamOutcome = { goaway: ERROR.ENHANCE_YOUR_CALM };

/** A case: its frames on stream 1, what the gateway does, what nginx 1.22 does (checked by hand). */
interface Case {
  readonly name: string;
  readonly frames: () => Buffer[];
  readonly gateway: StreamOutcome;
  readonly nginx: string;
}

const one = (fields: Fields) => () => headerFrames(1, headerBlock(fields));

const CASES: Case[] = [
  // The gateway's own checks (each failed before them).
  { name: ':authority and Host that agree', frames: one(GET([['host', 'localhost']])), gateway: BAD, nginx: '400 (duplicate host header)' },
  { name: ':authority and Host that disagree', frames: one(GET([['host', 'other']])), gateway: BAD, nginx: '400 (duplicate host header)' },
  { name: 'Host without :authority', frames: one([...without(':authority'), ['host', 'h']]), gateway: OK, nginx: '200' },
  { name: 'CONNECT without :protocol', frames: one([[':method', 'CONNECT'], [':authority', 'x:443']]), gateway: BAD, nginx: '400 (no :scheme)' },
  { name: 'a method in lower case', frames: one([[':method', 'get'], ...without(':method')]), gateway: BAD, nginx: '400 (invalid method)' },
  { name: 'an unknown method in capitals', frames: one([[':method', 'FOO_BAR'], ...without(':method')]), gateway: OK, nginx: '200' },
  { name: 'a name with "_" (ignored)', frames: one(GET([['x_a', '1']])), gateway: OK, nginx: '200 (ignored)' },
  { name: 'a name with "." (ignored)', frames: one(GET([['x.a', '1']])), gateway: OK, nginx: '200 (ignored)' },
  { name: 'Expect other than 100-continue', frames: one(GET([['expect', 'foo']])), gateway: OK, nginx: '200' },
  { name: 'a value of 8189 bytes', frames: one(GET([['x-a', 'a'.repeat(8189)]])), gateway: OK, nginx: '200' },
  { name: 'a value over 8 KiB', frames: one(GET([['x-a', 'a'.repeat(8193)]])), gateway: CALM, nginx: 'GOAWAY ENHANCE_YOUR_CALM' },
  { name: 'a list of 20 KiB in 5 fields', frames: one(GET(many(5, 4100))), gateway: OK, nginx: '200' },
  { name: 'a list over 32 KiB', frames: one(GET(many(5, 6700))), gateway: CALM, nginx: 'GOAWAY ENHANCE_YOUR_CALM' },
  { name: '1001 fields', frames: one(GET(many(1001, 1))), gateway: BAD, nginx: '400 "Request Header Or Cookie Too Large" (494)' },
  { name: 'a :path of 8100 bytes', frames: one(GET([], `/ret?${'a'.repeat(8100)}`)), gateway: OK, nginx: '200' },
  // nghttp2's refusals before the gateway.
  { name: 'no :method', frames: one(without(':method')), gateway: PROTOCOL_RESET, nginx: '400' },
  { name: 'no :scheme', frames: one(without(':scheme')), gateway: PROTOCOL_RESET, nginx: '400' },
  { name: 'no :path', frames: one(without(':path')), gateway: PROTOCOL_RESET, nginx: '400' },
  { name: 'no :authority nor Host', frames: one(without(':authority')), gateway: PROTOCOL_RESET, nginx: '400' },
  { name: 'a second :path', frames: one(GET([[':path', '/ret']])), gateway: PROTOCOL_RESET, nginx: '400' },
  { name: 'an empty :path', frames: one([...without(':path'), [':path', '']]), gateway: PROTOCOL_RESET, nginx: '400' },
  { name: 'a :path without "/"', frames: one([...without(':path'), [':path', 'ret']]), gateway: PROTOCOL_RESET, nginx: '400' },
  { name: 'an unknown pseudo-header', frames: one(GET([[':foo', 'bar']])), gateway: PROTOCOL_RESET, nginx: '400' },
  { name: 'a pseudo-header after a regular field', frames: one([[':method', 'GET'], [':scheme', 'http'], ['x-a', '1'], [':authority', 'x'], [':path', '/ret']]), gateway: PROTOCOL_RESET, nginx: '200' },
  { name: 'an invalid :scheme', frames: one([...without(':scheme'), [':scheme', '1http']]), gateway: PROTOCOL_RESET, nginx: '400' },
  { name: 'an upper-case name', frames: one(GET([['X-Up', '1']])), gateway: PROTOCOL_RESET, nginx: 'RST_STREAM PROTOCOL_ERROR' },
  ...['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade'].map((name) => ({
    name: `a connection-specific field: ${name}`,
    frames: one(GET([[name, name === 'transfer-encoding' ? 'chunked' : 'x']])),
    gateway: PROTOCOL_RESET,
    nginx: '200',
  })),
  { name: 'te: gzip', frames: one(GET([['te', 'gzip']])), gateway: PROTOCOL_RESET, nginx: '200' },
  { name: 'te: trailers', frames: one(GET([['te', 'trailers']])), gateway: OK, nginx: '200' },
  { name: 'two Content-Length fields', frames: () => [...headerFrames(1, headerBlock(POST('/echo', [['content-length', '3'], ['content-length', '3']])), { endStream: false }), data(1, 'abc')], gateway: PROTOCOL_RESET, nginx: '400' },
  { name: 'DATA longer than Content-Length', frames: () => [...headerFrames(1, headerBlock(POST('/echo', [['content-length', '2']])), { endStream: false }), data(1, 'abcdef')], gateway: PROTOCOL_RESET, nginx: '400' },
  { name: 'DATA shorter than Content-Length', frames: () => [...headerFrames(1, headerBlock(POST('/echo', [['content-length', '10']])), { endStream: false }), data(1, 'abc')], gateway: PROTOCOL_RESET, nginx: '400' },
  { name: 'Content-Length without DATA', frames: one(POST('/echo', [['content-length', '5']])), gateway: PROTOCOL_RESET, nginx: '400' },
  { name: 'a Content-Length that is no number', frames: () => [...headerFrames(1, headerBlock(POST('/echo', [['content-length', 'abc']])), { endStream: false }), data(1, 'abc')], gateway: PROTOCOL_RESET, nginx: '400' },
];

describe('HTTP/2 request validation (h2c, raw frames)', () => {
  /** Answers with the header fields it was given, as JSON. */
  const backend = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end(JSON.stringify(req.headers)));
  });
  let gw: GatewayProcess;
  let port: number;

  beforeAll(async () => {
    await listen(backend);
    gw = await startGateway(
      `master_process: "off"\nerror_log: stderr info\npid: "off"\nhttp:\n  access_log: "off"\n  servers:\n    - listen: 127.0.0.1:0 http2\n      locations:\n` +
        `        - { location: /ret, return: '200 "ret\\n"' }\n` +
        `        - { location: /echo, proxy_pass: "http://127.0.0.1:${portOf(backend)}" }\n`,
    );
    port = gw.ports[0];
  });
  afterAll(async () => {
    await gw.stop();
    await closeServer(backend);
  });

  /** Sends a case's frames on a new connection; resolves with what became of stream 1. */
  async function send(frames: Buffer[]): Promise<{ outcome: StreamOutcome | null; conn: RawH2 }> {
    const conn = await RawH2.connect(port);
    conn.send(...frames);
    const outcome = await conn.outcome(1, 5000);
    return { outcome, conn };
  }

  test.each(CASES.map((c) => [c.name, c.nginx, c] as const))('%s (nginx 1.22: %s)', async (_name, _nginx, c) => {
    const { outcome, conn } = await send(c.frames());
    conn.close();
    expect(outcome).toEqual(c.gateway);
  });

  test('a 400 for :authority beside Host is logged with nginx\'s reason', async () => {
    const { conn } = await send(one(GET([['host', 'other']]))());
    conn.close();
    await expectLogged(gw, 'client sent duplicate header line: "host"');
  });

  test('fields nghttp2 finds invalid (nginx resets the stream) never reach the backend: the stream is served without them', async () => {
    const invalid: Fields = [['x a', '1'], ['x:a', '1'], ['x\u0001a', '1'], ['x-nul', 'a\u0000b'], ['x-cr', 'a\rb'], ['x-lf', 'a\nb']];
    const { outcome, conn } = await send(headerFrames(1, headerBlock(POST('/echo', [...invalid, ['x-kept', 'yes']]))));
    await conn.until(() => conn.streamEnded(1) || null);
    conn.close();
    expect(outcome).toEqual(OK);
    const seen = JSON.parse(conn.body(1).toString()) as Record<string, string>;
    expect(seen['x-kept']).toBe('yes');
    for (const name of Object.keys(seen)) expect(['x a', 'x:a', 'x\u0001a', 'x-nul', 'x-cr', 'x-lf']).not.toContain(name);
  });

  test('a body that matches its Content-Length and one of unknown length both reach the backend', async () => {
    const sized = await send([...headerFrames(1, headerBlock(POST('/echo', [['content-length', '3']])), { endStream: false }), data(1, 'abc')]);
    await sized.conn.until(() => sized.conn.streamEnded(1) || null);
    const chunked = await send([headers(1, headerBlock(POST('/echo')), { endStream: false }), data(1, 'abc')]);
    await chunked.conn.until(() => chunked.conn.streamEnded(1) || null);
    sized.conn.close();
    chunked.conn.close();
    expect(sized.outcome).toEqual(OK);
    expect(JSON.parse(sized.conn.body(1).toString())['content-length']).toBe('3');
    expect(chunked.outcome).toEqual(OK);
    expect(JSON.parse(chunked.conn.body(1).toString())['content-length']).toBe('3');
  });
});
