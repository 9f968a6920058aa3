/**
 * The slice module's byte arithmetic, pure: where the first slice starts for a client's Range
 * (ngx_http_slice_get_start), the `$slice_range` text, an upstream's Content-Range read as
 * nginx reads it (ngx_http_slice_parse_content_range), and the client's Range applied to the
 * whole as nginx's range filter does for a sliced response (one range only: `single_range`).
 */

/** `bytes=START-END` of the slice that starts at `start`. */
export function sliceRangeText(start: number, size: number): string {
  return `bytes=${start}-${start + size - 1}`;
}

/**
 * The first byte the client wants, for the first slice: the start of a `bytes=N-...` Range;
 * 0 with If-Range, for a suffix range, several ranges or anything else.
 */
export function wantedStart(range: string | undefined, ifRange: string | undefined): number {
  if (ifRange !== undefined || range === undefined || range.length < 7 || range.slice(0, 6).toLowerCase() !== 'bytes=') return 0;
  const rest = range.slice(6);
  if (rest.includes(',')) return 0;
  const digits = /^ *(\d*)/.exec(rest)![1];
  if (digits === '') return 0;
  const start = Number(digits);
  return Number.isSafeInteger(start) ? start : 0;
}

/** A Content-Range read: `start` and `end` (exclusive), `complete` -1 for `*`. */
export interface ContentRange {
  readonly start: number;
  readonly end: number;
  readonly complete: number;
}

/** `bytes START-END/COMPLETE` (spaces allowed between the parts, as nginx), or null when it is not one. */
export function parseContentRange(value: string | undefined): ContentRange | null {
  if (value === undefined) return null;
  const m = /^bytes +(\d+) *- *(\d+) *\/ *(\d+|\*) *$/.exec(value);
  if (!m) return null;
  const start = Number(m[1]);
  const end = Number(m[2]) + 1;
  const complete = m[3] === '*' ? -1 : Number(m[3]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || !Number.isSafeInteger(complete)) return null;
  return { start, end, complete };
}

/** What the client's Range makes of a whole of `length` bytes: all of it, one range (`end` exclusive), or 416. */
export type ClientRange = { readonly kind: 'whole' } | { readonly kind: 'range'; readonly start: number; readonly end: number } | { readonly kind: 'unsatisfiable' };

const WHOLE: ClientRange = { kind: 'whole' };
const UNSATISFIABLE: ClientRange = { kind: 'unsatisfiable' };

/** The validators If-Range is compared with. */
export interface Validators {
  readonly etag: string | undefined;
  readonly lastModified: string | undefined;
}

/**
 * nginx's range filter on a sliced response (ngx_http_range_header_filter and
 * ngx_http_range_parse with one range allowed): no `bytes=` Range, or an If-Range that does not
 * match (an entity tag exactly, else the Last-Modified date), is the whole; a second range is
 * the whole too.
 */
export function clientRange(range: string | undefined, ifRange: string | undefined, validators: Validators, length: number): ClientRange {
  if (range === undefined || range.length < 7 || range.slice(0, 6).toLowerCase() !== 'bytes=') return WHOLE;
  if (ifRange !== undefined && !ifRangeHolds(ifRange, validators)) return WHOLE;
  let found: { start: number; end: number } | null = null;
  let p = 6;
  const at = () => range.charCodeAt(p);
  const digit = () => p < range.length && at() >= 48 && at() <= 57;
  const spaces = () => {
    while (range[p] === ' ') p++;
  };
  const number = (): number | null => {
    let n = 0;
    while (digit()) {
      n = n * 10 + (at() - 48);
      if (!Number.isSafeInteger(n)) return null;
      p++;
    }
    return n;
  };
  for (;;) {
    let start = 0;
    let end = 0;
    let suffix = false;
    let open = false;
    spaces();
    if (range[p] !== '-') {
      if (!digit()) return UNSATISFIABLE;
      const n = number();
      if (n === null) return UNSATISFIABLE;
      start = n;
      spaces();
      if (range[p++] !== '-') return UNSATISFIABLE;
      spaces();
      if (range[p] === ',' || p >= range.length) {
        end = length;
        open = true;
      }
    } else {
      suffix = true;
      p++;
    }
    if (!open) {
      if (!digit()) return UNSATISFIABLE;
      const n = number();
      if (n === null) return UNSATISFIABLE;
      end = n;
      spaces();
      if (range[p] !== ',' && p < range.length) return UNSATISFIABLE;
      if (suffix) {
        start = end < length ? length - end : 0;
        end = length - 1;
      }
      end = end >= length ? length : end + 1;
    }
    if (start < end) {
      // single_range: a second range makes nginx send the whole.
      if (found) return WHOLE;
      found = { start, end };
    } else if (start === 0) {
      return WHOLE;
    }
    if (range[p++] !== ',') break;
  }
  return found ? { kind: 'range', ...found } : UNSATISFIABLE;
}

/** If-Range: an entity tag (ends with `"`) must equal the ETag; a date, the Last-Modified. */
function ifRangeHolds(ifRange: string, { etag, lastModified }: Validators): boolean {
  if (ifRange.length >= 2 && ifRange.endsWith('"')) return etag !== undefined && etag === ifRange;
  if (lastModified === undefined) return false;
  const wanted = Date.parse(ifRange);
  return !Number.isNaN(wanted) && wanted === Date.parse(lastModified);
}
