/**
 * A request body read whole before the upstream hears of it (nginx's `proxy_request_buffering
 * on`, its default): up to `client_body_buffer_size` in memory, past that in a temporary file
 * under `client_body_temp_path`, which is unlinked as soon as it is open (nginx's way), so
 * nothing is left on disk whatever becomes of the request; its descriptor is closed by
 * `dispose`, or by the store itself when the read fails. The body can be sent again from its
 * start for each attempt (an upstream's retries).
 */
import { close, open, read, writev } from 'node:fs';
import { mkdir, unlink } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { HttpError } from './errors';
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
  constructor(private readonly buffer: Buffer) {}

  get length(): number {
    return this.buffer.length;
  }

  sendTo(destination: Writable): null {
    destination.end(this.buffer);
    return null;
  }

  dispose(): void {}
}

/** A body in an unlinked temporary file. */
class FileBody implements StoredBody {
  constructor(
    private readonly file: TempFile,
    readonly length: number,
  ) {}

  sendTo(destination: Writable): Readable {
    const stream = this.file.reader(this.length);
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
/** The directories already made (or being made), once per process each. */
const madeDirs = new Map<string, Promise<unknown>>();

/**
 * A temporary file opened for one body and unlinked at once: only its descriptor remains.
 * The descriptor is closed once `close` was called and no write or read is in flight (a read
 * still running on a closed descriptor number could read a file opened since under it).
 */
class TempFile {
  private position = 0;
  /** Writes and readers in flight. */
  private using = 0;
  private closing = false;

  private constructor(
    private readonly fd: number,
    private readonly name: string,
  ) {}

  /** Makes the directory if needed, then the file; rejects with what `mkdir`, `open` or `unlink` failed with. */
  static async create(dir: string): Promise<TempFile> {
    let made = madeDirs.get(dir);
    if (!made) madeDirs.set(dir, (made = mkdir(dir, { recursive: true, mode: 0o700 })));
    try {
      await made;
    } catch (err) {
      madeDirs.delete(dir);
      throw err;
    }
    const name = path.join(dir, `${process.pid}-${++fileCount}`);
    const fd = await new Promise<number>((resolve, reject) => open(name, 'wx+', 0o600, (err, fd) => (err ? reject(err) : resolve(fd))));
    try {
      await unlink(name);
    } catch (err) {
      close(fd, () => {});
      throw err;
    }
    return new TempFile(fd, name);
  }

  /** Appends `chunks` in one write. */
  async append(chunks: Buffer[]): Promise<void> {
    let length = 0;
    for (const chunk of chunks) length += chunk.length;
    const at = this.position;
    this.position += length;
    this.using++;
    try {
      await writeAll(this.fd, chunks, at);
    } finally {
      this.release();
    }
  }

  /** A stream of the first `length` bytes, from the start; the descriptor stays open for the next. */
  reader(length: number): Readable {
    this.using++;
    const stream = new FileSlice(this.fd, length);
    // 'close' comes once no read is in flight, whether the stream ended or was destroyed.
    stream.once('close', () => this.release());
    return stream;
  }

  close(): void {
    if (this.closing) return;
    this.closing = true;
    if (this.using === 0) this.closeNow();
  }

  private release(): void {
    if (--this.using === 0 && this.closing) this.closeNow();
  }

  private closeNow(): void {
    this.using = -1;
    close(this.fd, () => {});
  }
}

/**
 * The first `length` bytes of a descriptor it does not own (fs's ReadStream closes its
 * descriptor when destroyed, even without autoClose): positioned reads, and a `close` that
 * waits for the read in flight.
 */
class FileSlice extends Readable {
  private position = 0;
  private inFlight = false;
  /** A destroy waiting for the read in flight. */
  private waitingDestroy: (() => void) | null = null;

  constructor(
    private readonly fd: number,
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
    const buffer = Buffer.allocUnsafe(wanted);
    this.inFlight = true;
    read(this.fd, buffer, 0, wanted, this.position, (err, bytes) => {
      this.inFlight = false;
      const waiting = this.waitingDestroy;
      if (waiting) return waiting();
      if (err) return this.destroy(err);
      if (bytes === 0) return this.destroy(new Error('the request body file is shorter than the body'));
      this.position += bytes;
      this.push(bytes === wanted ? buffer : buffer.subarray(0, bytes));
    });
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (!this.inFlight) return callback(err);
    this.waitingDestroy = () => callback(err);
  }
}

/** Writes every byte of `chunks` at `position` (a write may take less than it was given). */
async function writeAll(fd: number, chunks: Buffer[], position: number): Promise<void> {
  let rest = chunks;
  let at = position;
  while (rest.length) {
    const written = await new Promise<number>((resolve, reject) => writev(fd, rest, at, (err, bytes) => (err ? reject(err) : resolve(bytes))));
    at += written;
    let skip = written;
    const left: Buffer[] = [];
    for (const chunk of rest) {
      if (skip >= chunk.length) skip -= chunk.length;
      else {
        left.push(skip ? chunk.subarray(skip) : chunk);
        skip = 0;
      }
    }
    rest = left;
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
    /** Set while the file is being made or written: the body waits, the client's timer too. */
    let busy = false;
    let ended = false;
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

    const done = () => {
      if (over) return;
      over = true;
      watch.stop();
      resolve(file ? new FileBody(file, size) : chunks.length === 1 ? new MemoryBody(chunks[0]) : new MemoryBody(Buffer.concat(chunks, size)));
    };

    /** Writes what is held in memory to the file (made first if needed), the body paused meanwhile. */
    const spill = () => {
      busy = true;
      req.pause();
      watch.pause();
      const pending = chunks.splice(0);
      const ready = file ? Promise.resolve(file) : TempFile.create(options.tempPath);
      ready
        .then(async (made) => {
          if (over) return made.close();
          file = made;
          await made.append(pending);
          busy = false;
          if (over) return;
          // Pieces that came while paused (already read from the socket) go next.
          if (chunks.length) return spill();
          if (ended) return done();
          watch.resume();
          req.resume();
        })
        .catch((err: NodeJS.ErrnoException) => {
          busy = false;
          options.log?.crit(`${err.syscall ?? 'write'}() "${err.path ?? options.tempPath}" failed (${err.code ?? err.message})${requestContext(req)}`);
          fail(new HttpError(500, 'GW_BODY_TEMP_FILE', 'cannot write the request body to a temporary file'));
        });
    };

    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
      watch.data(chunk.length);
      if (!over && !busy && (file || size > options.bufferSize)) spill();
    };
    const onEnd = () => {
      ended = true;
      if (!busy) done();
    };
    req.on('data', onData);
    req.once('end', onEnd);
  });
}
