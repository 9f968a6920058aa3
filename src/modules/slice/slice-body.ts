/**
 * The body of a sliced response (nginx's slice body filter with the range body filter behind
 * it): the main request's own slice, then each next slice fetched by a subrequest of the same
 * location (nginx's NGX_HTTP_SUBREQUEST_CLONE: its content handler, so each slice has its own
 * `$slice_range` and its own cache entry), one after another, each checked (slice-header.ts)
 * and streamed in order with backpressure: a slice is read only as fast as the client takes
 * the response. Bytes outside the client's range are dropped. A slice that fails cuts the
 * response (the stream errs, and the response is destroyed).
 */
import type { IncomingMessage } from 'node:http';
import { Transform, Writable, type TransformCallback } from 'node:stream';
import type { RequestContext } from '../../types';
import { sliceRangeText } from './ranges';
import { SLICE, type SliceContext } from './slice-context';
import { checkSlice, logSliceError, unexpectedStatus } from './slice-header';

const EMPTY = Buffer.alloc(0);

/** What the body is made of. */
export interface SliceBodyPlan {
  readonly slice: SliceContext;
  readonly req: IncomingMessage;
  readonly ctx: RequestContext;
  /** The first byte of the main request's own slice. */
  readonly firstOffset: number;
  /** The bytes the client gets: `from` to `to` (exclusive) of the whole. */
  readonly from: number;
  readonly to: number;
  /** Called after each slice's subrequest (which shares the main request's variables). */
  readonly afterSlice: () => void;
}

/** The main response's body stream: its own slice in, every slice out. */
export class SliceBody extends Transform {
  private offset: number;
  /** The write callback held while the client is slow. */
  private held: (() => void) | null = null;
  /** The slice being fetched. */
  private sink: Writable | null = null;

  constructor(private readonly plan: SliceBodyPlan) {
    super();
    this.offset = plan.firstOffset;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    callback(null, this.trim(chunk));
  }

  /** The main request's slice is over: the next slices, then the end. */
  override _flush(callback: TransformCallback): void {
    this.rest().then(
      () => callback(),
      (err: Error) => callback(err),
    );
  }

  override _read(size: number): void {
    (Transform.prototype as unknown as { _read(n: number): void })._read.call(this, size);
    const held = this.held;
    this.held = null;
    held?.();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    // The client went away: the slice being fetched stops (its upstream request with it).
    this.sink?.destroy();
    this.held = null;
    super._destroy(err, callback);
  }

  /** The part of `chunk` (at `offset` in the whole) the client wants. */
  private trim(chunk: Buffer): Buffer {
    const start = this.offset;
    const end = start + chunk.length;
    this.offset = end;
    const from = Math.max(this.plan.from, start);
    const to = Math.min(this.plan.to, end);
    if (from >= to) return EMPTY;
    return from === start && to === end ? chunk : chunk.subarray(from - start, to - start);
  }

  /** A slice's bytes: pushed out, the next held back while the client is slow. */
  private passOn(chunk: Buffer, callback: () => void): void {
    const out = this.trim(chunk);
    if (out.length === 0 || this.push(out)) callback();
    else this.held = callback;
  }

  private async rest(): Promise<void> {
    const { slice, req, ctx } = this.plan;
    // A HEAD has no body to make.
    if (req.method === 'HEAD') return;
    while (slice.start < slice.end) {
      if (this.destroyed) return;
      slice.range = sliceRangeText(slice.start, slice.size);
      slice.active = false;
      this.offset = slice.start;
      await this.fetch(slice, req, ctx);
    }
  }

  /** One slice through a subrequest, into this stream; rejects when it failed (its line logged). */
  private async fetch(slice: SliceContext, req: IncomingMessage, ctx: RequestContext): Promise<void> {
    const body = new Writable({ write: (chunk: Buffer, _encoding, callback) => this.passOn(chunk, callback) });
    const done = new Promise<boolean>((resolve) => {
      body.once('finish', () => resolve(true));
      body.once('close', () => resolve(body.writableFinished));
    });
    this.sink = body;
    let refused = false;
    const result = await ctx.subrequest({
      method: req.method,
      uri: ctx.uri,
      args: ctx.args,
      clone: true,
      data: { [SLICE]: slice },
      sink: {
        body,
        header: (status, headers, sub) => {
          const check = status === 206 ? checkSlice(slice, headers) : { ok: false as const, error: unexpectedStatus(status) };
          if (check.ok) return true;
          refused = true;
          logSliceError(sub, check.error, 'reading response header from upstream', ctx.uri);
          return false;
        },
      },
    });
    this.plan.afterSlice();
    if (refused) throw new Error('slice refused');
    if (!slice.active && !this.destroyed) {
      logSliceError(ctx, 'missing slice response', 'sending to client', null);
      throw new Error('missing slice');
    }
    if (!body.writableEnded) {
      body.destroy();
      throw new Error(`slice cut (${result.status})`);
    }
    const whole = await done;
    this.sink = null;
    if (!whole) throw new Error('slice cut');
  }
}
