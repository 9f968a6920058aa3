/**
 * Sending a static file's body once the response is planned: a whole file, one range or a
 * `multipart/byteranges` body, either streamed from an open descriptor (a client that goes
 * away closes it) or sliced from content the open file cache holds.
 */
import type { FileHandle } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { ByteRange, MultipartLayout } from './response';
import { formatBoundary } from './response';
import { drained } from '../../shared/drained';
import { directSocket, sendDirect } from './kernel-copy';

/**
 * How much of a large file one read takes: each read is a thread-pool round trip, so 256 KiB
 * reads cost a quarter of what 64 KiB ones (the stream default) do.
 */
const READ_CHUNK = 256 * 1024;

/**
 * Read buffers no write holds any more, reused by the next reads of any response: a fresh
 * 256 KiB Buffer per read is external memory that drives V8's major collections. At most
 * SPARE_MAX are kept.
 */
const spare: Buffer[] = [];
const SPARE_MAX = 8;

function takeChunk(): Buffer {
  return spare.pop() ?? Buffer.allocUnsafeSlow(READ_CHUNK);
}

function giveBack(buffer: Buffer): void {
  if (spare.length < SPARE_MAX) spare.push(buffer);
}


let boundaryCounter = 0;
/** The next multipart boundary: a process-wide counter, 20 digits, as nginx's temp numbers. */
export function nextBoundary(): string {
  boundaryCounter = (boundaryCounter % Number.MAX_SAFE_INTEGER) + 1;
  return formatBoundary(boundaryCounter);
}

/** What to send: one range of the file (or all of it), or a multipart layout. */
export type BodyPlan = { readonly range: ByteRange } | { readonly layout: MultipartLayout };

/**
 * Pipes a body to the response and settles when the response is closed. A client that goes
 * away destroys the source (closing its descriptor); a read error, or a file that turned out
 * shorter than announced, destroys the response, as nginx drops the connection.
 */
function pipeBody(source: Readable, res: ServerResponse, length: number, onError: (reason: string) => void, describe: (err: unknown) => string): Promise<void> {
  return new Promise((resolve) => {
    if (res.destroyed) {
      source.destroy();
      resolve();
      return;
    }
    let sent = 0;
    source.on('data', (chunk: Buffer) => (sent += chunk.length));
    source.once('error', (err) => {
      onError(describe(err));
      res.destroy();
    });
    source.once('end', () => {
      if (sent === length) res.end();
      else {
        onError(`read ${sent} of ${length} bytes, the file was truncated`);
        res.destroy();
      }
    });
    res.once('close', () => {
      source.destroy();
      resolve();
    });
    source.pipe(res, { end: false });
  });
}

/**
 * A multipart body read from one open file, closed when the stream closes (also when it is
 * destroyed before its first read, which a generator's `finally` would miss).
 */
function multipartStream(fh: FileHandle, layout: MultipartLayout): Readable {
  async function* parts(): AsyncGenerator<Buffer> {
    for (const part of layout.parts) {
      yield Buffer.from(part.head);
      yield* fh.createReadStream({ start: part.start, end: part.end, autoClose: false });
    }
    yield Buffer.from(layout.tail);
  }
  const body = Readable.from(parts(), { objectMode: false });
  body.once('close', () => void fh.close().catch(() => undefined));
  return body;
}

/** The multipart body built from bytes in memory. */
function multipartBuffer(content: Buffer, layout: MultipartLayout): Buffer {
  const chunks: Buffer[] = [];
  for (const part of layout.parts) chunks.push(Buffer.from(part.head), content.subarray(part.start, part.end + 1));
  chunks.push(Buffer.from(layout.tail));
  return Buffer.concat(chunks);
}

/** Sends the bytes of `plan` from cached content; the response ends with them. */
export function sendFromMemory(res: ServerResponse, content: Buffer, plan: BodyPlan): void {
  if ('layout' in plan) res.end(multipartBuffer(content, plan.layout));
  else if (plan.range.start === 0 && plan.range.end === content.length - 1) res.end(content);
  else res.end(content.subarray(plan.range.start, plan.range.end + 1));
}

/**
 * Streams the bytes of `plan` from `fh`, which this takes over (it is closed when the body
 * ends or the client goes away). `length` is the announced Content-Length.
 */
export function sendFromFile(
  res: ServerResponse,
  fh: FileHandle,
  plan: BodyPlan,
  length: number,
  onError: (reason: string) => void,
  describe: (err: unknown) => string,
): Promise<void> {
  if ('layout' in plan) return pipeBody(multipartStream(fh, plan.layout), res, length, onError, describe);
  return sendRange(res, fh, plan.range, onError, describe);
}

/**
 * Sends one range of `fh`, which this closes when the response closes: where the socket allows
 * it (kernel-copy.ts), what the socket takes at once is sent by sendfile(2); else, and for what
 * it did not take, each read goes into a reused buffer and is written at once (the buffer goes
 * back when the write is done); the next read waits while the response holds more than its
 * high-water mark. A read error, or a file shorter than announced, destroys the response, as
 * nginx drops the connection.
 */
function sendRange(res: ServerResponse, fh: FileHandle, range: ByteRange, onError: (reason: string) => void, describe: (err: unknown) => string): Promise<void> {
  return new Promise((resolve) => {
    let closed = res.destroyed;
    const close = () => {
      closed = true;
      void fh.close().catch(() => undefined);
      resolve();
    };
    if (closed) return close();
    res.once('close', close);
    const fail = (reason: string) => {
      onError(reason);
      res.destroy();
    };
    let direct = directSocket(res);
    void (async () => {
      for (let at = range.start; at <= range.end && !closed; ) {
        if (direct) {
          // What the socket takes at once goes by sendfile(2); the rest, once it is full, by reads
          // and writes that wait for it (send_timeout watches those).
          const sent = sendDirect(res, direct, fh.fd, at, range.end - at + 1);
          direct = null;
          if (sent !== null && sent > 0) {
            at += sent;
            continue;
          }
        }
        const buffer = takeChunk();
        const { bytesRead } = await fh.read(buffer, 0, Math.min(READ_CHUNK, range.end - at + 1), at);
        if (closed) return giveBack(buffer);
        if (bytesRead === 0) return fail(`read ${at - range.start} of ${range.end - range.start + 1} bytes, the file was truncated`);
        at += bytesRead;
        if (!res.write(buffer.subarray(0, bytesRead), () => giveBack(buffer))) await drained(res);
      }
      if (!closed) res.end();
    })().catch((err: unknown) => {
      if (!closed) fail(describe(err));
    });
  });
}
