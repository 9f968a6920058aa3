/**
 * One sliced response's state (nginx's ngx_http_slice_ctx_t), shared by the main request and
 * its slice subrequests through `ctx.data`: made when `$slice_range` is first read in the main
 * request, before its header (nginx's variable handler), so a location that slices but never
 * reads the variable passes responses through untouched.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestContext } from '../../types';
import { sliceModule } from './module';
import { sliceRangeText, wantedStart } from './ranges';

/** Where a request's slice state is kept in `ctx.data`. */
export const SLICE = Symbol('slice');

/** The slices of one response. */
export interface SliceContext {
  readonly size: number;
  /** The next slice's first byte (once a slice's header is checked: the byte after it). */
  start: number;
  /** Where the slices stop (exclusive): the client's range end, or the whole length. */
  end: number;
  /** The `$slice_range` of the slice being fetched. */
  range: string;
  /** The first slice's ETag: every other slice must have it. */
  etag: string | undefined;
  /** A slice's header was checked since the last one was asked for (nginx's `active`). */
  active: boolean;
}

/** The slice state of a request, or undefined. */
export function sliceOf(ctx: RequestContext): SliceContext | undefined {
  return ctx.data[SLICE] as SliceContext | undefined;
}

/**
 * `$slice_range` for a request: the slice being fetched; in the main request, before its header
 * and where `slice` is set, the first read makes the state (the slice holding the client's first
 * wanted byte). Empty elsewhere (nginx's not found).
 */
export function sliceRangeOf(req: IncomingMessage, res: ServerResponse | null, ctx: RequestContext): string {
  const existing = sliceOf(ctx);
  if (existing) return existing.range;
  if (req !== ctx.mainRequest || res?.headersSent) return '';
  const size = ctx.location.confs.get(sliceModule).slice;
  if (size === 0) return '';
  const start = size * Math.floor(wantedStart(headerText(req.headers.range), headerText(req.headers['if-range'])) / size);
  const slice: SliceContext = { size, start, end: 0, range: sliceRangeText(start, size), etag: undefined, active: false };
  ctx.data[SLICE] = slice;
  return slice.range;
}

function headerText(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
