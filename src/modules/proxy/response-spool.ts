/**
 * nginx's buffered proxying ahead of a slow client: the upstream's response is read into
 * memory up to `proxy_buffer_size` + `proxy_buffers` (what the client's response holds
 * unsent), then into a temporary file under `proxy_temp_path` up to
 * `proxy_max_temp_file_size`, so the upstream is read at its own pace and let go as soon as
 * its response is whole; the client is fed from the file as it takes more. Past the file's
 * limit (or with `proxy_max_temp_file_size 0`, or a file that cannot be made) the upstream is
 * held back until the client has taken what is waiting: backpressure, as nginx's synchronous
 * passing. The file is unlinked at once and closed when the response is over.
 */
import type { ServerResponse } from 'node:http';
import { TempFile } from '../../shared/request-body-store';
import type { Logger } from '../../types';

/** How much a response may be read ahead of its client. */
export interface SpoolLimits {
  /** Bytes waiting in memory before the file is used (`proxy_buffer_size` + `proxy_buffers`). */
  readonly memory: number;
  /** Bytes the file may hold (`proxy_max_temp_file_size`; 0: no file). */
  readonly file: number;
  /** `proxy_temp_path`: the directory of the files (made when first needed). */
  readonly tempPath: string;
}

/** A location's limits from its `proxy_buffer_size`, `proxy_buffers`, `proxy_max_temp_file_size` and `proxy_temp_path`. */
export function spoolLimits(conf: { readonly proxyBufferSize: number; readonly proxyBuffers: { readonly number: number; readonly size: number }; readonly proxyMaxTempFileSize: number; readonly proxyTempPath: string }): SpoolLimits {
  return { memory: conf.proxyBufferSize + conf.proxyBuffers.number * conf.proxyBuffers.size, file: conf.proxyMaxTempFileSize, tempPath: conf.proxyTempPath };
}

/** What is read back from the file per write to the client. */
const PIECE = 64 * 1024;

/** A response's body on its way to a slow client: memory, then a file, in order. */
export class ResponseSpool {
  private file: TempFile | null = null;
  /** Bytes written to the file, and read back from it (to the client). */
  private written = 0;
  private sent = 0;
  private ended = false;
  private fileFailed = false;
  private disposed = false;
  /** What may wait unsent in the response before the file is used (at least what makes it emit 'drain'). */
  private readonly memory: number;
  /** Called once the upstream may be read again after `write` said no. */
  private waiting: (() => void) | null = null;

  constructor(
    private readonly res: ServerResponse,
    private readonly limits: SpoolLimits,
    private readonly log: Logger,
  ) {
    this.memory = Math.max(limits.memory, res.writableHighWaterMark || 0);
    res.on('drain', () => this.pump());
    res.once('close', () => this.dispose());
  }

  /** The bytes in the file not yet sent. */
  get spilled(): number {
    return this.written - this.sent;
  }

  /**
   * Takes one chunk of the body: true when the upstream may go on being read, false when it
   * must wait for `onRoom`'s call (memory and file are full, or there is no file).
   */
  write(chunk: Buffer): boolean {
    // A client gone (proxy_ignore_client_abort reads on): nothing more is kept.
    if (this.disposed) return true;
    if (this.spilled === 0 && this.res.writableLength <= this.memory) {
      this.res.write(chunk);
      return true;
    }
    if (this.spilled === 0 && (this.limits.file === 0 || this.fileFailed)) {
      // No file: the chunk waits in the response's own buffer, the upstream waits for the client.
      this.res.write(chunk);
      return false;
    }
    if (this.written + chunk.length > this.limits.file || !this.open()) {
      if (this.spilled === 0) {
        this.res.write(chunk);
        return false;
      }
      // The file is full: the chunk goes in anyway (a chunk is at most one read), then the upstream waits.
      this.file!.append([chunk]);
      this.written += chunk.length;
      return false;
    }
    this.file!.append([chunk]);
    this.written += chunk.length;
    return true;
  }

  /** `fn` is called once the upstream may be read again (the file drained, or the client took what was waiting). */
  onRoom(fn: () => void): void {
    this.waiting = fn;
  }

  /** The upstream's body is whole: the response ends once the client has the rest. */
  end(): void {
    this.ended = true;
    this.pump();
  }

  /** Closes the file (the response is over, whichever way). */
  dispose(): void {
    this.disposed = true;
    this.file?.close();
    this.file = null;
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.();
  }

  /** Feeds the client from the file while it takes more; then lets the upstream go on, or ends. */
  private pump(): void {
    if (this.disposed) return;
    while (this.spilled > 0 && this.res.writableLength <= this.memory) {
      const piece = this.file!.read(this.sent, Math.min(PIECE, this.spilled));
      if (piece.length === 0) {
        this.res.destroy(new Error('the response file is shorter than what was written to it'));
        return;
      }
      this.sent += piece.length;
      this.res.write(piece);
    }
    if (this.spilled > 0) return;
    // The file is drained: it is written again from its start.
    this.written = this.sent = 0;
    if (this.ended) {
      if (!this.res.writableEnded) this.res.end();
      return;
    }
    const waiting = this.waiting;
    this.waiting = null;
    waiting?.();
  }

  /** The file, made when first needed; false (and one error line) when it cannot be. */
  private open(): boolean {
    if (this.file) return true;
    if (this.fileFailed) return false;
    try {
      this.file = TempFile.create(this.limits.tempPath);
      return true;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      this.fileFailed = true;
      this.log.crit(`${e.syscall ?? 'open'}() "${e.path ?? this.limits.tempPath}" failed (${e.code ?? e.message}) while reading upstream`);
      return false;
    }
  }
}
