/**
 * Pure planning of a static file's response: the conditional checks, then the Range header
 * (parsed by range-parser, the only importer of it), as nginx's not_modified and range
 * filters do. The plan says which status, which headers and which bytes; static.ts does the I/O.
 */
import type { IncomingHttpHeaders } from 'node:http';
import rangeParser from 'range-parser';
import { httpDate } from '../../http/dates';
import { checkPreconditions, ifRangeAllows, makeEtag, type Validators } from './http';

/** An inclusive byte range, as in `Content-Range`. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/** What the Range header asks for, once judged against the file. */
export type RangeSelection =
  | { readonly kind: 'whole' }
  | { readonly kind: 'ranges'; readonly ranges: readonly ByteRange[] }
  | { readonly kind: 'unsatisfiable' };

/**
 * Judges a Range header against a file of `size` bytes: no header, another unit, an empty file, or ranges adding up to more than the file (nginx's rule against
 * amplification) -> the whole file; a malformed set or no satisfiable range -> unsatisfiable. Ranges are kept
 * in request order and not merged (range-parser's `combine: false`), as nginx sends them.
 */
export function selectRanges(header: string | undefined, size: number): RangeSelection {
  if (header === undefined || !/^bytes=/i.test(header) || size === 0) return { kind: 'whole' };
  // nginx reads the first Range header; Node joins repeated ones with ", ".
  const first = header.split(/,\s*bytes=/i)[0];
  // nginx ignores an empty set (`bytes=`), and serves a suffix longer than the file whole.
  if (/^bytes=\s*$/i.test(first)) return { kind: 'whole' };
  const clamped = first.replace(/(=|,)\s*-(\d+)/g, (_, sep: string, n: string) => `${sep}-${Math.min(Number(n), size)}`);
  const parsed = rangeParser(size, clamped, { combine: false });
  // nginx answers a malformed `bytes=` set as it answers an unsatisfiable one: 416.
  if (parsed === -2 || parsed === -1) return { kind: 'unsatisfiable' };
  const ranges = parsed.map(({ start, end }) => ({ start, end }));
  const total = ranges.reduce((sum, r) => sum + r.end - r.start + 1, 0);
  return total > size ? { kind: 'whole' } : { kind: 'ranges', ranges };
}

/** One part of a `multipart/byteranges` body: its boundary and headers, then the bytes. */
export interface MultipartPart extends ByteRange {
  readonly head: string;
}

/** The exact layout of a `multipart/byteranges` body, nginx's byte for byte. */
export interface MultipartLayout {
  readonly boundary: string;
  readonly parts: readonly MultipartPart[];
  /** The closing delimiter, `CRLF--boundary--CRLF`. */
  readonly tail: string;
  /** The body's length in bytes: the Content-Length. */
  readonly length: number;
}

/** nginx's boundary: a number, zero-padded to 20 digits. */
export function formatBoundary(n: number): string {
  return String(n).padStart(20, '0');
}

/**
 * Lays out a multipart body as nginx does: each part is `CRLF--boundary CRLF Content-Type CRLF
 * Content-Range CRLF CRLF data`, and the body ends with `CRLF--boundary--CRLF`.
 */
export function multipartLayout(
  ranges: readonly ByteRange[],
  size: number,
  contentType: string,
  boundary: string,
): MultipartLayout {
  let length = 0;
  const parts = ranges.map(({ start, end }) => {
    const head =
      `\r\n--${boundary}\r\nContent-Type: ${contentType}\r\n` + `Content-Range: bytes ${start}-${end}/${size}\r\n\r\n`;
    length += Buffer.byteLength(head) + end - start + 1;
    return { head, start, end };
  });
  const tail = `\r\n--${boundary}--\r\n`;
  return { boundary, parts, tail, length: length + Buffer.byteLength(tail) };
}

/** What the handler knows of the file it serves. */
export interface FileFacts {
  readonly size: number;
  /** Modification time, whole seconds since the epoch. */
  readonly mtime: number;
  readonly contentType: string;
  /** The `etag` directive. */
  readonly etag: boolean;
  /** The `if_modified_since` directive. */
  readonly ifModifiedSince: 'off' | 'exact' | 'before';
}

type Headers = Record<string, string>;

/** The response to send for a file, decided before any byte of it is read. */
export type ResponsePlan =
  | { readonly kind: 'precondition-failed' }
  | { readonly kind: 'not-modified'; readonly headers: Headers }
  | { readonly kind: 'unsatisfiable'; readonly headers: Headers }
  | { readonly kind: 'body'; readonly status: 200 | 206; readonly headers: Headers; readonly range: ByteRange | null }
  | { readonly kind: 'multipart'; readonly headers: Headers; readonly layout: MultipartLayout };

/**
 * Plans the response to a GET or HEAD of a file: 412, 304, 416, 200, 206 or a multipart 206,
 * with nginx's headers for each (304 keeps only Last-Modified and ETag; 206 has no
 * Accept-Ranges). `boundary` is called only when a multipart body is needed.
 */
export function planResponse(headers: IncomingHttpHeaders, file: FileFacts, boundary: () => string): ResponsePlan {
  const validators: Validators = { mtime: file.mtime, etag: file.etag ? makeEtag(file.mtime, file.size) : null };
  const validatorHeaders: Headers = { 'Last-Modified': httpDate(file.mtime) };
  if (validators.etag !== null) validatorHeaders.ETag = validators.etag;

  const precondition = checkPreconditions(headers, validators, file.ifModifiedSince);
  if (precondition === 'failed') return { kind: 'precondition-failed' };
  if (precondition === 'not-modified') return { kind: 'not-modified', headers: validatorHeaders };

  const ifRange = headers['if-range'];
  const ifRangeValue = Array.isArray(ifRange) ? ifRange.join(', ') : ifRange;
  const selection = ifRangeAllows(ifRangeValue, validators)
    ? selectRanges(headers.range, file.size)
    : ({ kind: 'whole' } as const);

  if (selection.kind === 'unsatisfiable') {
    return { kind: 'unsatisfiable', headers: { 'Content-Range': `bytes */${file.size}` } };
  }
  if (selection.kind === 'whole') {
    return {
      kind: 'body',
      status: 200,
      headers: {
        'Content-Type': file.contentType,
        'Content-Length': String(file.size),
        ...validatorHeaders,
        'Accept-Ranges': 'bytes',
      },
      range: null,
    };
  }
  const { ranges } = selection;
  if (ranges.length === 1) {
    const [range] = ranges;
    return {
      kind: 'body',
      status: 206,
      headers: {
        'Content-Type': file.contentType,
        'Content-Length': String(range.end - range.start + 1),
        ...validatorHeaders,
        'Content-Range': `bytes ${range.start}-${range.end}/${file.size}`,
      },
      range,
    };
  }
  const layout = multipartLayout(ranges, file.size, file.contentType, boundary());
  return {
    kind: 'multipart',
    headers: {
      'Content-Type': `multipart/byteranges; boundary=${layout.boundary}`,
      'Content-Length': String(layout.length),
      ...validatorHeaders,
    },
    layout,
  };
}
