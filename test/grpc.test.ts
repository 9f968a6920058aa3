/**
 * grpc_pass through the gateway (nginx's ngx_http_grpc_module), with @grpc/grpc-js on both
 * sides: unary, server streaming, client streaming, bidirectional, metadata and trailers,
 * error statuses, deadlines, cancellation both ways, a large message with flow control, over
 * an h2c listener and a TLS one, to a cleartext and a TLS (`grpcs://`) backend and through an
 * upstream block; a backend that is down (nginx's 502 page, and the error_page idiom that
 * answers gRPC status 14) and one that resets; descriptors back to baseline.
 */
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { expectLogged, makePrefix, runCli, startGateway, type GatewayProcess } from './helpers/gateway-process';
import { echoClient, grpc, startEchoBackend, unaryCall, type EchoBackend, type EchoClient } from './helpers/grpc-peers';
import { fdTotal } from './helpers/push-clients';
import { freePort } from './helpers/ports';
import { makePki } from './helpers/tls-pki';

jest.setTimeout(30_000);

let backend: EchoBackend;
let tlsBackend: EchoBackend;
let resetter: http2.Http2Server;
let resets = 0;
let gateway: GatewayProcess;
let pki: string;
let closedPort: number;
/** Ports of the gateway's listeners: h2c, TLS. */
let h2c: number;
let tls: number;
let clients: EchoClient[] = [];

/** A raw HTTP/2 backend that resets its streams: `/reset.Before/*` before any header, `/reset.After/*` after a header and a message. */
function startResetter(): Promise<http2.Http2Server> {
  const server = http2.createServer();
  server.on('stream', (stream, headers) => {
    resets++;
    stream.on('error', () => {});
    if (String(headers[':path']).startsWith('/reset.Before/')) {
      stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    // `destroy` with an error resets (INTERNAL_ERROR) even once the request ended; `close(code)` would end the stream cleanly.
    stream.write(Buffer.from([0, 0, 0, 0, 2, 0x68, 0x69]), () => setTimeout(() => stream.destroy(new Error('reset')), 50));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

beforeAll(async () => {
  const dir = makePrefix();
  pki = makePki(dir);
  backend = await startEchoBackend();
  tlsBackend = await startEchoBackend({ key: readFileSync(path.join(pki, 'server.key')), cert: readFileSync(path.join(pki, 'server.pem')) });
  resetter = await startResetter();
  closedPort = await freePort();
  const [h2cPort, tlsPort] = [await freePort(), await freePort()];
  const resetPort = (resetter.address() as net.AddressInfo).port;
  const locations = `
        - location: /test.Echo/
          grpc_pass: grpc://127.0.0.1:${backend.port}
          grpc_set_header: "X-From-Gateway $scheme"
          grpc_hide_header: x-backend
          client_max_body_size: 64m
        - location: /tls/
          rewrite: "^/tls/(.*)$ /$1 break"
          grpc_pass: grpcs://127.0.0.1:${tlsBackend.port}
          client_max_body_size: 64m
        - location: /down.Default/
          grpc_pass: grpc://127.0.0.1:${closedPort}
        - location: /down.Mapped/
          grpc_pass: grpc://127.0.0.1:${closedPort}
          error_page: "502 = /error502grpc"
        - location: = /error502grpc
          internal: ""
          default_type: application/grpc
          add_header: ["grpc-status 14", "grpc-message unavailable"]
          return: 204
        - location: /pool.Echo/
          rewrite: "^/pool.Echo/(.*)$ /test.Echo/$1 break"
          grpc_pass: grpc://echo_pool
        - location: /reset.
          grpc_pass: grpc://127.0.0.1:${resetPort}`;
  gateway = await startGateway(
    `master_process: "off"
error_log: stderr info
pid: off
http:
  access_log: logs/access.log
  upstreams:
    echo_pool:
      servers: ["127.0.0.1:${closedPort}", "127.0.0.1:${backend.port}"]
  servers:
    - listen: "127.0.0.1:${h2cPort} http2"
      locations:${locations}
    - listen: "127.0.0.1:${tlsPort} ssl http2"
      ssl_certificate: ${path.join(pki, 'server.pem')}
      ssl_certificate_key: ${path.join(pki, 'server.key')}
      locations:${locations}
`,
    { prefix: dir, listeners: 2 },
  );
  [h2c, tls] = gateway.ports;
});

afterEach(() => {
  for (const c of clients) c.close();
  clients = [];
});

afterAll(async () => {
  await gateway?.stop();
  await backend?.stop();
  await tlsBackend?.stop();
  resetter?.close();
});

function client(port = h2c, secure = false): EchoClient {
  const c = echoClient(`127.0.0.1:${port}`, secure ? readFileSync(path.join(pki, 'ca.pem')) : undefined);
  clients.push(c);
  return c;
}

const accessLog = () => readFileSync(path.join(gateway.prefix, 'logs/access.log'), 'utf8');

async function waitFor(check: () => boolean, ms = 5000): Promise<void> {
  for (const end = Date.now() + ms; !check() && Date.now() < end; ) await new Promise((r) => setTimeout(r, 20));
}

/** The gateway's descriptors once they settle at or under `baseline` (or after 5 s). */
async function settledFds(baseline: number): Promise<number> {
  await waitFor(() => fdTotal([gateway.child.pid!]) <= baseline);
  return fdTotal([gateway.child.pid!]);
}

function collect<T>(stream: NodeJS.ReadableStream & { on(event: 'status', fn: (s: grpc.StatusObject) => void): unknown }): Promise<{ messages: T[]; status: grpc.StatusObject; error: grpc.ServiceError | null }> {
  return new Promise((resolve) => {
    const messages: T[] = [];
    let error: grpc.ServiceError | null = null;
    stream.on('data', (m: T) => messages.push(m));
    stream.on('error', (e: grpc.ServiceError) => (error = e));
    stream.on('status', (status) => setImmediate(() => resolve({ messages, status, error })));
  });
}

describe.each([
  ['h2c', () => h2c, false],
  ['TLS (h2 by ALPN)', () => tls, true],
])('over %s', (_name, port, secure) => {
  test('unary: the answer, the initial metadata less grpc_hide_header, the trailers, grpc_set_header and :authority upstream', async () => {
    const before = backend.calls.length;
    const r = await unaryCall(client(port(), secure), 'unary', Buffer.from('hello'));
    expect(r.error).toBeNull();
    expect(r.response!.toString()).toBe('echo:hello');
    expect(r.status!.code).toBe(grpc.status.OK);
    expect(r.status!.metadata.get('x-trailer')).toEqual(['done']);
    // grpc_hide_header x-backend: the backend's initial metadata header is not passed on.
    expect(r.metadata!.get('x-backend')).toEqual([]);
    const seen = backend.calls[before];
    expect(seen.method).toBe('unary');
    expect(seen.metadata.get('x-from-gateway')).toEqual([secure ? 'https' : 'http']);
    expect(seen.metadata.get('te')).toEqual([]);
  });

  test('a status other than OK, its message and trailers, passed back from a trailers-only answer', async () => {
    const r = await unaryCall(client(port(), secure), 'fail', Buffer.from('x'));
    expect(r.error!.code).toBe(grpc.status.NOT_FOUND);
    expect(r.error!.details).toBe('no such thing: ü');
    expect(r.status!.metadata.get('x-trailer')).toEqual(['done']);
  });

  test('server streaming: 50 messages in order, then the trailers', async () => {
    const call = client(port(), secure).serverStream(Buffer.from([50, 0, 0, 0, 32]));
    const { messages, status } = await collect<Buffer>(call);
    expect(status.code).toBe(grpc.status.OK);
    expect(messages.map((m) => m[0])).toEqual([...Array(50).keys()]);
    expect(messages.every((m) => m.length === 32)).toBe(true);
    expect(status.metadata.get('x-trailer')).toEqual(['done']);
  });

  test('client streaming: 40 messages up, one answer', async () => {
    const parts = [...Array(40).keys()].map((i) => Buffer.from(`part-${i};`));
    const answer = await new Promise<Buffer>((resolve, reject) => {
      const call = client(port(), secure).clientStream(new grpc.Metadata(), {}, (err, res) => (err ? reject(err) : resolve(res!)));
      for (const part of parts) call.write(part);
      call.end();
    });
    expect(answer.toString()).toBe(Buffer.concat(parts).toString());
  });

  test('bidirectional: each message answered before the next goes', async () => {
    const call = client(port(), secure).bidi();
    const got: string[] = [];
    for (let i = 0; i < 10; i++) {
      const reply = new Promise<Buffer>((resolve) => call.once('data', resolve));
      call.write(Buffer.from(`ping ${i}`));
      got.push((await reply).toString());
    }
    const done = collect<Buffer>(call);
    call.end();
    const { status } = await done;
    expect(got).toEqual([...Array(10).keys()].map((i) => `ping ${i}`));
    expect(status.code).toBe(grpc.status.OK);
  });

  test('grpcs:// to a TLS backend (ALPN h2, its certificate not checked, as nginx\'s grpc_ssl_verify off)', async () => {
    const c = new (grpc.makeGenericClientConstructor({ unary: { path: '/tls/test.Echo/Unary', requestStream: false, responseStream: false, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b } }, 'Tls'))(
      `127.0.0.1:${port()}`,
      secure ? grpc.credentials.createSsl(readFileSync(path.join(pki, 'ca.pem'))) : grpc.credentials.createInsecure(),
      secure ? { 'grpc.ssl_target_name_override': 'a.test', 'grpc.default_authority': 'a.test' } : {},
    );
    clients.push(c as unknown as EchoClient);
    const answer = await new Promise<Buffer>((resolve, reject) =>
      (c as unknown as { unary: (r: Buffer, cb: (e: Error | null, r?: Buffer) => void) => void }).unary(Buffer.from('over tls'), (e, r) => (e ? reject(e) : resolve(r!))),
    );
    expect(answer.toString()).toBe('echo:over tls');
  });
});

test('an upstream block: the peer that refuses is passed over (grpc_next_upstream error), the call served by the next', async () => {
  const c = new (grpc.makeGenericClientConstructor({ unary: { path: '/pool.Echo/Unary', requestStream: false, responseStream: false, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b } }, 'Pool'))(
    `127.0.0.1:${h2c}`,
    grpc.credentials.createInsecure(),
  );
  clients.push(c as unknown as EchoClient);
  for (let i = 0; i < 4; i++) {
    const answer = await new Promise<Buffer>((resolve, reject) =>
      (c as unknown as { unary: (r: Buffer, cb: (e: Error | null, r?: Buffer) => void) => void }).unary(Buffer.from(`n${i}`), (e, r) => (e ? reject(e) : resolve(r!))),
    );
    expect(answer.toString()).toBe(`echo:n${i}`);
  }
  await expectLogged(gateway, `connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: , request: "POST /pool.Echo/Unary HTTP/2.0", upstream: "grpc://127.0.0.1:${closedPort}"`);
});

test('a deadline: grpc-timeout reaches the backend, the client gets DEADLINE_EXCEEDED, the backend\'s call is cancelled', async () => {
  const before = backend.calls.length;
  const r = await unaryCall(client(), 'slow', Buffer.from('x'), { deadline: Date.now() + 400 });
  expect(r.error!.code).toBe(grpc.status.DEADLINE_EXCEEDED);
  const seen = backend.calls[before];
  expect(seen.method).toBe('slow');
  // The backend computed its deadline from the grpc-timeout header the gateway passed on.
  expect(Number(seen.deadline)).toBeLessThan(Date.now() + 1000);
  await Promise.race([seen.cancellation, new Promise((r) => setTimeout(r, 2000))]);
  expect(seen.cancelled).toBe(true);
});

test('cancellation: a client that cancels a server stream has the backend\'s call cancelled at once; descriptors back to baseline', async () => {
  // A first call opens the session to the backend: the baseline includes it.
  await unaryCall(client(), 'unary', Buffer.from('warm'));
  const baseline = await settledFds(fdTotal([gateway.child.pid!]));
  const before = backend.calls.length;
  const c = client();
  // 200 messages of 64 KiB: more than the windows hold, so the backend is still writing when the client cancels.
  const call = c.serverStream(Buffer.from([200, 0, 1, 0, 0]));
  call.on('error', () => {});
  await new Promise((resolve) => call.once('data', resolve));
  call.cancel();
  const seen = backend.calls[before];
  await Promise.race([seen.cancellation, new Promise((r) => setTimeout(r, 3000))]);
  expect(seen.cancelled).toBe(true);
  c.close();
  clients = clients.filter((x) => x !== c);
  expect(await settledFds(baseline)).toBeLessThanOrEqual(baseline);
  await expectLogged(gateway, /client prematurely closed connection, so upstream connection is closed too while reading upstream, client: 127\.0\.0\.1, server: , request: "POST \/test\.Echo\/ServerStream HTTP\/2\.0", upstream: "grpc:\/\/127\.0\.0\.1:\d+"/);
});

test('a large message: 24 MiB up and back whole; a client that stops reading holds the backend back (flow control), the gateway buffers a bounded amount', async () => {
  const c = client();
  const big = Buffer.alloc(24 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
  const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  const answer = await new Promise<Buffer>((resolve, reject) => {
    const call = c.clientStream(new grpc.Metadata(), {}, (err, res) => (err ? reject(err) : resolve(res!)));
    call.write(big);
    call.end();
  });
  expect(answer.length).toBe(big.length);
  expect(digest(answer)).toBe(digest(big));
  const bidiEcho = c.bidi();
  const back = new Promise<Buffer>((resolve) => bidiEcho.once('data', resolve));
  bidiEcho.write(big);
  expect(digest(await back)).toBe(digest(big));
  bidiEcho.end();

  // 48 messages of 1 MiB to a client that takes the first, then nothing for a second.
  const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${gateway.child.pid}/status`, 'utf8'))![1]) * 1024;
  const blockedBefore = backend.blockedWrites;
  const call = c.serverStream(Buffer.from([48, 0, 0x10, 0, 0]));
  let received = 0;
  const first = new Promise((resolve) => call.once('data', resolve));
  call.on('data', () => received++);
  await first;
  call.pause();
  const rssPaused = rss();
  await new Promise((r) => setTimeout(r, 1000));
  const heldBack = received;
  const growth = rss() - rssPaused;
  call.resume();
  const { status } = await collect<Buffer>(call);
  expect(status.code).toBe(grpc.status.OK);
  expect(received).toBe(48);
  expect(heldBack).toBeLessThan(48);
  // The backend's writes were held back: the window was not opened for what nobody read.
  expect(backend.blockedWrites).toBeGreaterThan(blockedBefore);
  // Paused with ~40 MiB still to come, the gateway grew by far less than that.
  expect(growth).toBeLessThan(16 * 1024 * 1024);
});

describe('a backend that is down', () => {
  test('by default nginx\'s 502 page: grpc-js maps it to UNAVAILABLE (14), as the gRPC HTTP mapping says', async () => {
    const c = new (grpc.makeGenericClientConstructor({ m: { path: '/down.Default/M', requestStream: false, responseStream: false, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b } }, 'Down'))(
      `127.0.0.1:${h2c}`,
      grpc.credentials.createInsecure(),
    );
    clients.push(c as unknown as EchoClient);
    const err = await new Promise<grpc.ServiceError>((resolve) => (c as unknown as { m: (r: Buffer, cb: (e: grpc.ServiceError) => void) => void }).m(Buffer.from('x'), resolve));
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(err.details).toBe('Received HTTP status code 502');
    const raw = await rawCall(h2c, '/down.Default/M');
    expect(raw.headers[':status']).toBe(502);
    expect(raw.headers['content-type']).toBe('text/html');
    await expectLogged(gateway, `connect() failed (111: Connection refused) while connecting to upstream, client: 127.0.0.1, server: , request: "POST /down.Default/M HTTP/2.0", upstream: "grpc://127.0.0.1:${closedPort}"`);
  });

  test('with nginx\'s error_page idiom: status 14 and its message in a trailers-only answer (204, grpc-status in the header)', async () => {
    const c = new (grpc.makeGenericClientConstructor({ m: { path: '/down.Mapped/M', requestStream: false, responseStream: false, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b } }, 'Mapped'))(
      `127.0.0.1:${h2c}`,
      grpc.credentials.createInsecure(),
    );
    clients.push(c as unknown as EchoClient);
    const err = await new Promise<grpc.ServiceError>((resolve) => (c as unknown as { m: (r: Buffer, cb: (e: grpc.ServiceError) => void) => void }).m(Buffer.from('x'), resolve));
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(err.details).toBe('unavailable');
    const raw = await rawCall(h2c, '/down.Mapped/M');
    expect(raw.headers[':status']).toBe(204);
    expect(raw.headers['grpc-status']).toBe('14');
    // A 204 has no Content-Type (nginx's header filter drops it): default_type only names what the trailers-only answer would be.
    expect(raw.headers['content-type']).toBeUndefined();
    expect(raw.endStream).toBe(true);
  });

  test('150 calls at once: each answered, descriptors back to baseline', async () => {
    await unaryCall(client(), 'unary', Buffer.from('warm'));
    const baseline = await settledFds(fdTotal([gateway.child.pid!]));
    const results = await Promise.all([...Array(150).keys()].map(() => rawCall(h2c, '/down.Mapped/M')));
    expect(results.every((r) => r.headers['grpc-status'] === '14')).toBe(true);
    expect(await settledFds(baseline)).toBeLessThanOrEqual(baseline);
  });
});

describe('a backend that resets', () => {
  test('before its header: 502 (nginx\'s "upstream rejected request with error 2")', async () => {
    const raw = await rawCall(h2c, '/reset.Before/M');
    expect(raw.headers[':status']).toBe(502);
    await expectLogged(gateway, /upstream rejected request with error 2 while reading response header from upstream, client: 127\.0\.0\.1, server: , request: "POST \/reset\.Before\/M HTTP\/2\.0"/);
  });

  test('after its header: the client\'s stream is reset (INTERNAL_ERROR), grpc-js reports INTERNAL; descriptors back to baseline', async () => {
    await rawCall(h2c, '/reset.After/M');
    const baseline = await settledFds(fdTotal([gateway.child.pid!]));
    const before = resets;
    const results = await Promise.all([...Array(30).keys()].map(() => rawCall(h2c, '/reset.After/M')));
    expect(resets - before).toBe(30);
    for (const r of results) {
      expect(r.headers[':status']).toBe(200);
      expect(r.rstCode).toBe(http2.constants.NGHTTP2_INTERNAL_ERROR);
    }
    const c = new (grpc.makeGenericClientConstructor({ m: { path: '/reset.After/M', requestStream: false, responseStream: true, requestSerialize: (b: Buffer) => b, requestDeserialize: (b: Buffer) => b, responseSerialize: (b: Buffer) => b, responseDeserialize: (b: Buffer) => b } }, 'Reset'))(
      `127.0.0.1:${h2c}`,
      grpc.credentials.createInsecure(),
    );
    clients.push(c as unknown as EchoClient);
    const { messages, status } = await collect<Buffer>((c as unknown as { m: (r: Buffer) => grpc.ClientReadableStream<Buffer> }).m(Buffer.from('x')));
    expect(messages.map(String)).toEqual(['hi']);
    expect(status.code).toBe(grpc.status.INTERNAL);
    expect(status.details).toMatch(/RST_STREAM with code 2/);
    await expectLogged(gateway, /upstream rejected request with error 2 while reading upstream/);
    expect(await settledFds(baseline)).toBeLessThanOrEqual(baseline);
  });
});

test('the access log: the h2 request line, the upstream\'s status', async () => {
  await waitFor(() => accessLog().includes('"POST /test.Echo/Unary HTTP/2.0" 200'));
  expect(accessLog()).toContain('"POST /test.Echo/Unary HTTP/2.0" 200');
  expect(accessLog()).toContain('"POST /down.Default/M HTTP/2.0" 502');
});

test('grpc_pass refusals at file:line:column, as nginx words them', async () => {
  const check = async (pass: string) => {
    const prefix = makePrefix({ 'conf/t.yaml': `http:\n  servers:\n    - listen: 8080\n      locations:\n        - location: /\n          grpc_pass: ${pass}\n` });
    return (await runCli(['-t', '-p', prefix, '-c', path.join(prefix, 'conf/t.yaml')])).stderr;
  };
  expect(await check('grpc://backend')).toMatch(/no port in upstream "backend" in .*t\.yaml:6:22/);
  expect(await check('grpc://127.0.0.1:99999')).toMatch(/invalid port in upstream "127\.0\.0\.1:99999" in .*t\.yaml:6:22/);
  expect(await check('grpc://$host:1')).toMatch(/variables in "grpc_pass" are not supported yet in .*t\.yaml:6:22/);
});

/** One call with Node's own HTTP/2 client: the response header, whether it ended the stream, the reset code. */
function rawCall(port: number, target: string): Promise<{ headers: http2.IncomingHttpHeaders; endStream: boolean; rstCode: number }> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const stream = session.request({ ':method': 'POST', ':path': target, 'content-type': 'application/grpc', te: 'trailers' });
    let headers: http2.IncomingHttpHeaders = {};
    let endStream = false;
    stream.on('response', (h, flags) => {
      headers = h;
      endStream = (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    stream.on('error', () => {});
    stream.resume();
    stream.on('close', () => {
      resolve({ headers, endStream, rstCode: stream.rstCode ?? 0 });
      session.close();
    });
    stream.end(Buffer.from([0, 0, 0, 0, 1, 0x78]));
  });
}
