/**
 * A body paced at `rate` bytes per second after its first `after` bytes (nginx's write filter
 * under `limit_rate`): what the clock allows goes on at once, the rest waits on one timer per
 * response, a tenth of a second's worth at a time. While it waits, the writer is held back (the
 * transform takes no more until the chunk is out: the writer's `write` returns false).
 */
import { Transform, type TransformCallback } from 'node:stream';

/** The most a paced response sends at once once it waits: this fraction of a second's worth. */
const SLICES_PER_SECOND = 10;

export class Pacer extends Transform {
  private readonly start = performance.now();
  private sent = 0;
  private timer: NodeJS.Timeout | null = null;
  /** The rate, read at the first piece of the body (nginx's write filter reads the request's rate when it writes); 0: unpaced. */
  private rate = -1;
  private slice = 1;

  /** `rateNow` gives the request's rate when the body starts (an unbuffered proxied response has set it to 0 by then). */
  constructor(
    private readonly rateNow: () => number,
    private readonly after: number,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    if (this.rate < 0) {
      this.rate = this.rateNow();
      this.slice = Math.max(1, Math.ceil(this.rate / SLICES_PER_SECOND));
    }
    if (this.rate === 0) {
      done(null, Buffer.from(chunk));
      return;
    }
    // A copy: the writer may reuse its buffer as soon as `done` runs (the static handler's pool).
    this.pace(Buffer.from(chunk), done);
  }

  override _destroy(err: Error | null, done: (error: Error | null) => void): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    done(err);
  }

  /** Sends what the clock allows of `chunk`; the rest once it does. */
  private pace(chunk: Buffer, done: TransformCallback): void {
    const elapsed = performance.now() - this.start;
    const allowance = Math.floor(this.after + (this.rate * elapsed) / 1000) - this.sent;
    if (allowance >= chunk.length) {
      this.sent += chunk.length;
      this.push(chunk);
      done();
      return;
    }
    let rest = chunk;
    if (allowance > 0) {
      this.push(chunk.subarray(0, allowance));
      this.sent += allowance;
      rest = chunk.subarray(allowance);
    }
    // When the next slice (or the rest) is allowed.
    const due = ((this.sent + Math.min(rest.length, this.slice) - this.after) * 1000) / this.rate;
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.destroyed) this.pace(rest, done);
    }, Math.max(1, Math.ceil(due - elapsed)));
  }
}
