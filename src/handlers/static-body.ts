/**
 * Sending a static file's body once the response is planned: a whole file, one range or a
 * `multipart/byteranges` body, either streamed from an open descriptor (a client that goes
 * away closes it) or sliced from content the open file cache holds.
 */
import type { FileHandle } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { ByteRange, MultipartLayout } from './static-response';
import { formatBoundary } from './static-response';

/**
 * How much of a large file one read takes: each read is a thread-pool round trip and a stream
 * chunk, so 256 KiB reads cost a quarter of what 64 KiB ones (the stream default) do, for at
 * most 256 KiB held per response in flight.
 */
const READ_CHUNK = 256 * 1024;

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
  return pipeBody(fh.createReadStream({ start: plan.range.start, end: plan.range.end, highWaterMark: READ_CHUNK }), res, length, onError, describe);
}
