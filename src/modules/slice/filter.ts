/**
 * The slice module's response filter for a location with `slice` set (nginx's
 * ngx_http_slice_filter_module, first in the header chain, with what nginx's range filter then
 * does to a sliced response). Where the main request read `$slice_range`, its response must be
 * the 206 of the first slice: checked (slice-header.ts), it becomes the whole, a 200 of the
 * complete length (Accept-Ranges: bytes), or the client's one range, a 206 with its
 * Content-Range (a range that cannot be satisfied: nginx's 416 page), and its body is made of
 * the slices (slice-body.ts). A main response that is not a 206 (a backend that ignores Range)
 * goes to the client as it is; one whose slice header is wrong is cut before anything is sent,
 * as nginx closes the connection.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform } from 'node:stream';
import { errorPageHtml } from '../../http/status';
import type { BodyTransform, LocationModule, RequestContext, ResponseFilter } from '../../types';
import { sliceModule } from './module';
import { clientRange, type ClientRange } from './ranges';
import { SliceBody } from './slice-body';
import { SLICE, sliceOf, type SliceContext } from './slice-context';
import { checkSlice, headerString, logSliceError, type Headers } from './slice-header';

const WHOLE: ClientRange = { kind: 'whole' };

export const sliceFilter: LocationModule = {
  name: 'slice',
  filter(location): ResponseFilter | null {
    const size = location.confs.get(sliceModule).slice;
    if (size === 0) return null;
    return {
      name: `slice ${size}`,
      // The body may be made of slices: known only once `$slice_range` was read.
      mayTransform: () => true,
      header: (res, status, req, ctx) => sliced(res, status, req, ctx),
    };
  },
};

/** The main response's header, when it is sliced: its headers made the client's, and its body's plan. */
function sliced(res: ServerResponse, status: number, req: IncomingMessage, ctx: RequestContext): BodyTransform | null {
  const slice = sliceOf(ctx);
  if (!slice || req !== ctx.mainRequest) return null;
  if (status !== 206) {
    // Not sliced after all (nginx: the main request's context is dropped).
    delete ctx.data[SLICE];
    return null;
  }
  const headers = res.getHeaders() as Headers;
  const check = checkSlice(slice, headers);
  if (!check.ok) {
    logSliceError(ctx, check.error, 'reading response header from upstream', null);
    res.destroy();
    return null;
  }
  const { start: firstOffset, complete } = check.range;
  res.removeHeader('content-range');
  res.removeHeader('accept-ranges');
  res.statusCode = 200;
  res.setHeader('Content-Length', complete);
  // A body the filters will compress takes no range (nginx's gzip filter turns the range filter off).
  const range = ctx.transforms(String(res.getHeader('content-type') ?? ''), complete)
    ? WHOLE
    : clientRange(headerString(req.headers, 'range'), headerString(req.headers, 'if-range'), { etag: headerString(headers, 'etag'), lastModified: headerString(headers, 'last-modified') }, complete);
  if (range.kind === 'unsatisfiable') return notSatisfiable(res, complete, ctx);
  let from = 0;
  let to = complete;
  if (range.kind === 'range') {
    res.statusCode = 206;
    res.setHeader('Content-Range', `bytes ${range.start}-${range.end - 1}/${complete}`);
    res.setHeader('Content-Length', range.end - range.start);
    from = range.start;
    to = range.end;
    // The range starts past the next slice (an If-Range made the first slice the first): the slices before it are skipped.
    if (slice.start + slice.size <= from) slice.start = slice.size * Math.floor(from / slice.size);
  } else {
    res.setHeader('Accept-Ranges', 'bytes');
  }
  slice.end = to;
  if (req.method === 'HEAD') return null;
  // Each slice's subrequest shares the main request's variables: its cache status stays the main request's own.
  const cacheStatus = ctx.variable('upstream_cache_status');
  const afterSlice = () => ctx.setVariable('upstream_cache_status', cacheStatus);
  return { stream: () => new SliceBody({ slice, req, ctx, firstOffset, from, to, afterSlice }) };
}

/**
 * nginx's range filter on a range the whole cannot satisfy: its 416 page with `Content-Range:
 * bytes * /LENGTH`, the slice's own headers gone, and no other slice fetched.
 */
function notSatisfiable(res: ServerResponse, complete: number, ctx: RequestContext): BodyTransform {
  const slice: SliceContext | undefined = sliceOf(ctx);
  if (slice) slice.end = slice.start;
  for (const name of res.getHeaderNames()) if (name !== 'server') res.removeHeader(name);
  const page = Buffer.from(errorPageHtml(416, String(res.getHeader('server') ?? 'nginx')));
  res.statusCode = 416;
  res.setHeader('Content-Type', 'text/html');
  res.setHeader('Content-Length', page.length);
  res.setHeader('Content-Range', `bytes */${complete}`);
  return {
    stream: () =>
      new Transform({
        transform: (_chunk, _encoding, callback) => callback(),
        flush: (callback) => callback(null, page),
      }),
  };
}
