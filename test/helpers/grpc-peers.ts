/**
 * gRPC backends and clients for the grpc_pass tests, on @grpc/grpc-js without a .proto: one
 * service whose messages are raw bytes (unary, server streaming, client streaming,
 * bidirectional, and one that waits), a client constructor for it, and what the backend saw
 * of each call (its metadata, deadline, cancellation). The only importer of @grpc/grpc-js.
 */
import * as grpc from '@grpc/grpc-js';

export { grpc };

const raw = (b: Buffer) => b;

function method(name: string, requestStream: boolean, responseStream: boolean) {
  return { path: `/test.Echo/${name}`, requestStream, responseStream, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw };
}

/** The test service: every method echoes bytes. */
export const ECHO_SERVICE = {
  unary: method('Unary', false, false),
  serverStream: method('ServerStream', false, true),
  clientStream: method('ClientStream', true, false),
  bidi: method('Bidi', true, true),
  fail: method('Fail', false, false),
  slow: method('Slow', false, false),
} satisfies grpc.ServiceDefinition;

/** A client of the test service. */
export type EchoClient = grpc.Client & {
  unary(req: Buffer, md: grpc.Metadata, options: grpc.CallOptions, cb: grpc.requestCallback<Buffer>): grpc.ClientUnaryCall;
  serverStream(req: Buffer, md?: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<Buffer>;
  clientStream(md: grpc.Metadata, options: grpc.CallOptions, cb: grpc.requestCallback<Buffer>): grpc.ClientWritableStream<Buffer>;
  bidi(md?: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<Buffer, Buffer>;
  fail(req: Buffer, md: grpc.Metadata, options: grpc.CallOptions, cb: grpc.requestCallback<Buffer>): grpc.ClientUnaryCall;
  slow(req: Buffer, md: grpc.Metadata, options: grpc.CallOptions, cb: grpc.requestCallback<Buffer>): grpc.ClientUnaryCall;
};

const EchoClientCtor = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');

/** Channel options that let a client send and take messages of any size. */
export const LARGE_MESSAGES = { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 };

/** A client of the test service at `address`, cleartext (h2c) or TLS with `ca` trusted for the name `a.test`. */
export function echoClient(address: string, ca?: Buffer): EchoClient {
  const credentials = ca ? grpc.credentials.createSsl(ca) : grpc.credentials.createInsecure();
  const options = ca ? { ...LARGE_MESSAGES, 'grpc.ssl_target_name_override': 'a.test', 'grpc.default_authority': 'a.test' } : LARGE_MESSAGES;
  return new EchoClientCtor(address, credentials, options) as unknown as EchoClient;
}

/** What the backend saw of one call. */
export interface SeenCall {
  readonly method: string;
  readonly metadata: grpc.Metadata;
  readonly deadline: grpc.Deadline;
  cancelled: boolean;
  /** Resolves when the call is cancelled. */
  readonly cancellation: Promise<void>;
}

/** A running backend. */
export interface EchoBackend {
  readonly port: number;
  readonly calls: SeenCall[];
  /** How many times a server-streaming write returned false (the client held it back). */
  blockedWrites: number;
  stop(): Promise<void>;
}

function seen(calls: SeenCall[], name: string, call: { metadata: grpc.Metadata; getDeadline(): grpc.Deadline; on(event: 'cancelled', fn: () => void): unknown }): SeenCall {
  let cancelled!: () => void;
  const entry: SeenCall = { method: name, metadata: call.metadata, deadline: call.getDeadline(), cancelled: false, cancellation: new Promise<void>((r) => (cancelled = r)) };
  call.on('cancelled', () => {
    entry.cancelled = true;
    cancelled();
  });
  calls.push(entry);
  return entry;
}

/**
 * Starts the echo backend on loopback (TLS with `tls` when given). Messages: unary echoes with
 * `echo:` before; server streaming sends the request's first byte as a count N, then N messages
 * of `size` bytes (the request's bytes 1-4, big-endian; 16 when absent), each `[i, ...]`;
 * client streaming answers the concatenation; bidirectional echoes each message. Every call
 * sends initial metadata `x-backend: echo` and trailer `x-trailer: done`.
 */
export function startEchoBackend(tls?: { key: Buffer; cert: Buffer }): Promise<EchoBackend> {
  const server = new grpc.Server(LARGE_MESSAGES);
  const calls: SeenCall[] = [];
  const backend = { port: 0, calls, blockedWrites: 0, stop: () => new Promise<void>((r) => server.tryShutdown(() => r())) } as EchoBackend;
  const headers = () => {
    const md = new grpc.Metadata();
    md.set('x-backend', 'echo');
    return md;
  };
  const trailer = () => {
    const md = new grpc.Metadata();
    md.set('x-trailer', 'done');
    return md;
  };
  server.addService(ECHO_SERVICE, {
    unary: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      seen(calls, 'unary', call);
      call.sendMetadata(headers());
      cb(null, Buffer.concat([Buffer.from('echo:'), call.request]), trailer());
    },
    serverStream: async (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
      seen(calls, 'serverStream', call);
      call.sendMetadata(headers());
      const count = call.request[0] ?? 1;
      const size = call.request.length >= 5 ? call.request.readUInt32BE(1) : 16;
      for (let i = 0; i < count && !call.cancelled; i++) {
        const message = Buffer.alloc(size, i % 251);
        message[0] = i % 256;
        if (!call.write(message)) {
          backend.blockedWrites++;
          await new Promise((r) => call.once('drain', r));
        }
      }
      if (!call.cancelled) call.end(trailer());
    },
    clientStream: (call: grpc.ServerReadableStream<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      seen(calls, 'clientStream', call);
      call.sendMetadata(headers());
      const parts: Buffer[] = [];
      call.on('data', (d: Buffer) => parts.push(d));
      call.on('end', () => cb(null, Buffer.concat(parts), trailer()));
    },
    bidi: (call: grpc.ServerDuplexStream<Buffer, Buffer>) => {
      seen(calls, 'bidi', call);
      call.sendMetadata(headers());
      call.on('data', (d: Buffer) => call.write(d));
      call.on('end', () => call.end(trailer()));
    },
    fail: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      seen(calls, 'fail', call);
      cb({ code: grpc.status.NOT_FOUND, details: 'no such thing: ü', metadata: trailer() });
    },
    slow: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      seen(calls, 'slow', call);
      const timer = setTimeout(() => cb(null, Buffer.from('late')), 3000);
      call.on('cancelled', () => clearTimeout(timer));
    },
  });
  const credentials = tls ? grpc.ServerCredentials.createSsl(null, [{ private_key: tls.key, cert_chain: tls.cert }]) : grpc.ServerCredentials.createInsecure();
  return new Promise((resolve, reject) => {
    server.bindAsync('127.0.0.1:0', credentials, (err, port) => {
      if (err) return reject(err);
      (backend as { port: number }).port = port;
      resolve(backend);
    });
  });
}

/** A unary call as a promise: the response, the initial metadata and the status (trailers). */
export function unaryCall(
  client: EchoClient,
  name: 'unary' | 'fail' | 'slow',
  request: Buffer,
  options: grpc.CallOptions = {},
  md = new grpc.Metadata(),
): Promise<{ error: grpc.ServiceError | null; response: Buffer | undefined; metadata: grpc.Metadata | null; status: grpc.StatusObject | null }> {
  return new Promise((resolve) => {
    let metadata: grpc.Metadata | null = null;
    let status: grpc.StatusObject | null = null;
    let result: { error: grpc.ServiceError | null; response: Buffer | undefined } | null = null;
    const done = () => result && status && resolve({ ...result, metadata, status });
    const call = client[name](request, md, options, (error, response) => {
      result = { error, response };
      done();
    });
    call.on('metadata', (m) => (metadata = m));
    call.on('status', (s) => {
      status = s;
      done();
    });
  });
}
