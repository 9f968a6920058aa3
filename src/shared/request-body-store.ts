/**
 * A request body read whole before the upstream hears of it (nginx's `proxy_request_buffering
 * on`, its default): up to `client_body_buffer_size` in memory, past that in a temporary file
 * under `client_body_temp_path`, which is unlinked as soon as it is open (nginx's way), so
 * nothing is left on disk whatever becomes of the request; its descriptor is closed by
 * `dispose`, or by the store itself when the read fails. The body can be sent again from its
 * start for each attempt (an upstream's retries). The file is written and read with blocking
 * calls, as nginx's are without aio.
 */
import { closeSync, mkdirSync, openSync, readSync, unlinkSync, writevSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { HttpError } from '../errors';
import { BODY_CODES, BodyWatch, logBodyFailure, requestContext, type BodyLimits } from './request-body';

/** Where and how much of a body is kept. */
export interface StoreOptions extends BodyLimits {
  /** `client_body_buffer_size`: bytes kept in memory; a longer body goes to a file. */
  readonly bufferSize: number;
  /** `client_body_temp_path`: the directory of the temporary files (made when first needed). */
  readonly tempPath: string;
}

/** A body read whole. */
export interface StoredBody {
  readonly length: number;
  /** The body, when it is in memory (null: in a file). */
  readonly memory: Buffer | null;
  /**
   * Writes the whole body into `destination` and ends it. Returns the stream that feeds it
   * (to watch for backpressure, and to destroy if the exchange ends first), or null when the
   * body went in one write.
   */
  sendTo(destination: Writable): Readable | null;
  /** Lets go of the memory or the file (once the exchange that sends it is over). */
  dispose(): void;
}

/** A body in memory. */
class MemoryBody implements StoredBody {
  constructor(private readonly buffer: Buffer) {
    this.memory = buffer;
  }

  readonly memory: Buffer;

  get length(): number {
    return this.buffer.length;
  }

  sendTo(destination: Writable): null {
    destination.end(this.buffer);
    return null;
  }

  dispose(): void {}
}

/** A body already in memory (read whole by a script), as a stored one. */
export function storedInMemory(buffer: Buffer): StoredBody {
  return new MemoryBody(buffer);
}

/** A body in an unlinked temporary file. */
class FileBody implements StoredBody {
  readonly memory = null;

  constructor(
    private readonly file: TempFile,
    readonly length: number,
  ) {}

  sendTo(destination: Writable): Readable {
    const stream = new FileSlice(this.file, this.length);
    stream.once('error', (err) => destination.destroy(err));
    stream.pipe(destination);
    return stream;
  }

  dispose(): void {
    this.file.close();
  }
}

const EMPTY = new MemoryBody(Buffer.alloc(0));

/** Temporary files made by this process, for unique names. */
let fileCount = 0;
/** The directories already made, once per process each. */
const madeDirs = new Set<string>();

/**
 * A temporary file opened for one body (a request body, a proxied response spilled past the
 * memory buffers) and unlinked at once: only its descriptor remains.
 * Written and read with blocking calls, as nginx does without aio: a write to the page cache
 * takes microseconds, less than a round trip through the thread pool, and a descriptor that
 * no call is using can be closed at any moment.
 */
export class TempFile {
  private position = 0;
  private closed = false;

  private constructor(
    private readonly fd: number,
    /** Its name while it had one (nginx's warning names it). */
    readonly name: string,
  ) {}

  /** Makes the directory if needed, then the file; throws what `mkdir`, `open` or `unlink` threw. */
  static create(dir: string): TempFile {
    if (!madeDirs.has(dir)) {
      makeDirs(dir);
      madeDirs.add(dir);
    }
    const name = path.join(dir, `${process.pid}-${++fileCount}`);
    const fd = openSync(name, 'wx+', 0o600);
    try {
      unlinkSync(name);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    return new TempFile(fd, name);
  }

  /** Appends every byte of `chunks` (a write may take less than it was given). */
  append(chunks: readonly Buffer[]): void {
    let rest = chunks;
    while (rest.length) {
      const written = writevSync(this.fd, rest as Buffer[], this.position);
      this.position += written;
      rest = after(rest, written);
    }
  }

  /** Reads up to `length` bytes at `position` into a new buffer (empty once closed or past the end). */
  read(position: number, length: number): Buffer {
    if (this.closed || length <= 0) return Buffer.alloc(0);
    const buffer = Buffer.allocUnsafe(length);
    const bytes = readSync(this.fd, buffer, 0, length, position);
    return bytes === length ? buffer : buffer.subarray(0, bytes);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
  }
}

/**
 * `mkdir -p`, one component at a time: Node's own recursive mkdirSync never returns on a path
 * like /proc/self/x (ENOENT from a directory that exists), which would hang the worker.
 */
function makeDirs(dir: string): void {
  const parent = path.dirname(dir);
  try {
    mkdirSync(dir, 0o700);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'ENOENT' || parent === dir) throw err;
    makeDirs(parent);
    mkdirSync(dir, 0o700);
  }
}

/** What is left of `chunks` once its first `bytes` are gone. */
function after(chunks: readonly Buffer[], bytes: number): Buffer[] {
  let skip = bytes;
  const left: Buffer[] = [];
  for (const chunk of chunks) {
    if (skip >= chunk.length) skip -= chunk.length;
    else {
      left.push(skip ? chunk.subarray(skip) : chunk);
      skip = 0;
    }
  }
  return left;
}

/** The first `length` bytes of a temporary file, from the start, as a stream; the file stays open. */
class FileSlice extends Readable {
  private position = 0;

  constructor(
    private readonly file: TempFile,
    private readonly length: number,
  ) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _read(size: number): void {
    const wanted = Math.min(size, this.length - this.position);
    if (wanted <= 0) {
      this.push(null);
      return;
    }
    let piece: Buffer;
    try {
      piece = this.file.read(this.position, wanted);
    } catch (err) {
      this.destroy(err as Error);
      return;
    }
    if (piece.length === 0) {
      this.destroy(new Error('the request body file is shorter than the body'));
      return;
    }
    this.position += piece.length;
    this.push(piece);
  }
}

/**
 * Reads the body of `req` whole under `options` (see `BodyWatch`): resolves with it, or rejects
 * with the `HttpError` to answer (408, 413, 400, 499; 500 when the file cannot be written, with
 * nginx's `crit` line), each logged as nginx logs it. A body already read (an internal
 * redirect) is empty.
 */
export function storeBody(req: IncomingMessage, options: StoreOptions): Promise<StoredBody> {
  if (req.readableEnded) return Promise.resolve(EMPTY);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let file: TempFile | null = null;
    let over = false;

    const fail = (err: HttpError) => {
      if (over) return;
      over = true;
      watch.stop();
      req.off('data', onData);
      req.off('end', onEnd);
      req.resume();
      file?.close();
      if (err.status !== 500) logBodyFailure(options.log, err, err.code === BODY_CODES.timeout ? ' while reading client request body' : '', requestContext(req));
      reject(err);
    };
    const watch = new BodyWatch(req, options, fail);

    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      watch.data(chunk.length);
      if (over || (!file && size <= options.bufferSize)) return;
      try {
        if (!file) {
          file = TempFile.create(options.tempPath);
          // nginx's warning, which tells how often client_body_buffer_size is too small.
          options.log?.warn(`a client request body is buffered to a temporary file ${file.name}${requestContext(req)}`);
        }
        file.append(chunks.splice(0));
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        options.log?.crit(`${e.syscall ?? 'write'}() "${e.path ?? options.tempPath}" failed (${e.code ?? e.message})${requestContext(req)}`);
        fail(new HttpError(500, 'GW_BODY_TEMP_FILE', 'cannot write the request body to a temporary file'));
      }
    };
    const onEnd = () => {
      if (over) return;
      over = true;
      watch.stop();
      resolve(file ? new FileBody(file, size) : chunks.length === 1 ? new MemoryBody(chunks[0]) : new MemoryBody(Buffer.concat(chunks, size)));
    };
    req.on('data', onData);
    req.once('end', onEnd);
  });
}
