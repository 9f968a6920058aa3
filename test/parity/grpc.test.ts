/**
 * grpc_pass beside nginx 1.22 (h2c listeners, the same grpc-js backend and resetting backend):
 * the status and trailers of an OK call and of an error status, a backend that is down (nginx's
 * 502 page, and the error_page idiom answering gRPC status 14), a backend that resets before
 * its header; what grpc-js concludes of each, and the HTTP/2 answer itself.
 */
import http2 from 'node:http2';
import net from 'node:net';
import { freePort } from '../helpers/ports';
import { echoClient, grpc, startEchoBackend, unaryCall, type EchoBackend, type EchoClient } from '../helpers/grpc-peers';
import { startPair, type Pair } from './pair';
import { loc } from './site';

jest.setTimeout(30_000);

let backend: EchoBackend;
let resetter: http2.Http2Server;
let pair: Pair;
const clients: EchoClient[] = [];

beforeAll(async () => {
  backend = await startEchoBackend();
  resetter = http2.createServer();
  resetter.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  });
  await new Promise<void>((r) => resetter.listen(0, '127.0.0.1', () => r()));
  const closed = await freePort();
  const resetPort = (resetter.address() as net.AddressInfo).port;
  pair = await startPair(
    {
      servers: [
        {
          listen: ['0 http2'],
          locations: [
            loc('/test.Echo/', { grpc_pass: `grpc://127.0.0.1:${backend.port}` }),
            loc('/down.Default/', { grpc_pass: `grpc://127.0.0.1:${closed}` }),
            loc('/down.Mapped/', { grpc_pass: `grpc://127.0.0.1:${closed}`, error_page: '502 = /error502grpc' }),
            loc('= /error502grpc', { internal: '', default_type: 'application/grpc', add_header: ['grpc-status 14', 'grpc-message unavailable'], return: '204' }),
            loc('/reset.', { grpc_pass: `grpc://127.0.0.1:${resetPort}` }),
          ],
        },
      ],
    },
    {},
  );
});

afterAll(async () => {
  for (const c of clients) c.close();
  await pair?.stop();
  await backend?.stop();
  resetter?.close();
});

/** One call with Node's HTTP/2 client: the response header (no date), whether it ended the stream, the trailers, the reset code. */
function rawCall(port: number, target: string): Promise<{ status: unknown; headers: Record<string, unknown>; endStream: boolean; trailers: Record<string, unknown>; rstCode: number }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const stream = session.request({ ':method': 'POST', ':path': target, 'content-type': 'application/grpc', te: 'trailers' });
    let headers: Record<string, unknown> = {};
    let trailers: Record<string, unknown> = {};
    let endStream = false;
    stream.on('response', (h, flags) => {
      headers = { ...h };
      endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    stream.on('trailers', (t) => (trailers = { ...t }));
    stream.on('error', () => {});
    stream.resume();
    stream.on('close', () => {
      const { ':status': status, date: _date, server: _server, 'content-length': _length, ...rest } = headers;
      resolve({ status, headers: rest, endStream, trailers, rstCode: stream.rstCode ?? 0 });
      session.close();
    });
    stream.end(Buffer.from([0, 0, 0, 0, 5, 0x68, 0x65, 0x6c, 0x6c, 0x6f]));
  });
}

/** What grpc-js concludes of a unary call to `path` on each side. */
async function grpcOutcome(port: number, path: string): Promise<{ code: number; details: string; trailer: string[] }> {
  const method = { path, requestStream: false, responseStream: false, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b };
  if (path.startsWith('/test.Echo/')) {
    const c = echoClient(`127.0.0.1:${port}`);
    clients.push(c);
    const r = await unaryCall(c, path.endsWith('Fail') ? 'fail' : 'unary', Buffer.from('hello'));
    return { code: r.status!.code, details: r.status!.details, trailer: r.status!.metadata.get('x-trailer') as string[] };
  }
  const Ctor = grpc.makeGenericClientConstructor({ m: method }, 'P');
  const c = new Ctor(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as EchoClient & { m: (r: Buffer, cb: (e: grpc.ServiceError | null) => void) => void };
  clients.push(c);
  const err = await new Promise<grpc.ServiceError | null>((resolve) => c.m(Buffer.from('x'), resolve));
  return { code: err?.code ?? 0, details: err?.details ?? '', trailer: (err?.metadata?.get('x-trailer') as string[]) ?? [] };
}

test.each([
  ['an OK call: its header, its body, grpc-status 0 and the backend\'s trailer in the trailers', '/test.Echo/Unary'],
  ['an error status from a trailers-only answer', '/test.Echo/Fail'],
  ['a backend that is down: nginx\'s 502 page', '/down.Default/M'],
  ['a backend that is down, with the error_page idiom: 204 with grpc-status 14', '/down.Mapped/M'],
  ['a backend that resets before its header: 502', '/reset.Before/M'],
])('%s: the same on both', async (_name, path) => {
  const [nginx, gateway] = await Promise.all([rawCall(pair.nginx.ports[0], path), rawCall(pair.gateway.ports[0], path)]);
  expect(gateway).toEqual(nginx);
  const [nginxGrpc, gatewayGrpc] = await Promise.all([grpcOutcome(pair.nginx.ports[0], path), grpcOutcome(pair.gateway.ports[0], path)]);
  expect(gatewayGrpc).toEqual(nginxGrpc);
});

test('the error lines: the refused connection and the reset, in nginx\'s words', async () => {
  for (const line of ['connect() failed (111: Connection refused) while connecting to upstream', 'upstream rejected request with error 2 while reading response header from upstream']) {
    expect(pair.nginxLog()).toContain(line);
    expect(pair.gatewayLog()).toContain(line);
  }
});
