/**
 * A response's override charset (nginx's `r->headers_out.override_charset`, which the upstream's
 * `X-Accel-Charset` sets) and what nginx's charset filter makes of it: the destination charset
 * whatever `charset` and `charset_types` say, if the configuration knows the name (a `charset`
 * or `source_charset` names it, any case), else the error line `unknown charset "X" to override`
 * and nothing changes, not even what the location's `charset` would have done. The
 * Content-Type is read as nginx's upstream copy reads it (the type, then the value after the
 * first `charset=` parameter), and written as its header filter writes it.
 */

/**
 * The override charsets of responses being made, by response: it belongs to the response (nginx
 * keeps it in `r->headers_out`), so an internal redirect (`X-Accel-Redirect`) keeps it where
 * the request's module data (`ctx.data`) is forgotten.
 */
const overrides = new WeakMap<object, string>();

/** Sets the response's override charset (the proxy, from `X-Accel-Charset`). */
export function setOverrideCharset(res: object, name: string): void {
  overrides.set(res, name);
}

/** The response's override charset, if something set one that is not empty. */
export function overrideCharsetOf(res: object): string | undefined {
  return overrides.get(res) || undefined;
}

/** What the filter does with an override: the Content-Type to send (null: as it is) and an error line to log (null: none). */
export interface OverrideOutcome {
  readonly contentType: string | null;
  readonly error: string | null;
}

/** What the override asks of one response. */
export interface OverrideInput {
  /** The response's Content-Type (not empty). */
  readonly contentType: string;
  readonly status: number;
  /** The override charset, as the upstream wrote it. */
  readonly charset: string;
  /** The location's `source_charset` (null: off). */
  readonly sourceCharset: string | null;
  /** The charsets the configuration knows, lower case. */
  readonly known: ReadonlySet<string>;
  /** Whether the response has a Content-Encoding (nginx recodes no encoded body, and says nothing). */
  readonly encoded: boolean;
}

const UNCHANGED: OverrideOutcome = { contentType: null, error: null };

/** nginx's charset header filter with an override charset (ngx_http_destination_charset onwards). */
export function applyOverride(input: OverrideInput): OverrideOutcome {
  const { contentType, status, charset: dst, known } = input;
  if (!known.has(dst.toLowerCase())) return { contentType: null, error: `unknown charset "${dst}" to override` };
  const parsed = parseContentType(contentType);
  let value = contentType;
  let outCharset = parsed.charset;
  // nginx sets no charset on a 301 or 302 (old browsers took it for the next page's).
  const setCharset = () => {
    outCharset = status === 301 || status === 302 ? '' : dst;
  };
  const src = parsed.charset !== '' ? parsed.charset : input.sourceCharset;
  if (src === null) {
    setCharset();
  } else if (known.has(src.toLowerCase()) && src.toLowerCase() === dst.toLowerCase()) {
    // The same charset: the type keeps its other parameters, the charset is named as the override names it.
    value = value.slice(0, parsed.typeLength);
    setCharset();
  } else {
    // Another charset: recoding would need a charset_map (nginx says nothing of an encoded body in a charset it knows).
    if (input.encoded && known.has(src.toLowerCase())) return UNCHANGED;
    return { contentType: null, error: `no "charset_map" between the charsets "${src}" and "${dst}"` };
  }
  const written = parsed.typeLength === value.length && outCharset !== '' ? `${value}; charset=${outCharset}` : value;
  return written === contentType ? UNCHANGED : { contentType: written, error: null };
}

/**
 * A Content-Type as nginx's upstream copy reads it (ngx_http_upstream_copy_content_type): after
 * the first `;` (spaces skipped) that starts `charset=`, the rest of the value is the charset
 * (one pair of quotes dropped) and the type ends at that `;`; else the type is the whole value.
 */
export function parseContentType(value: string): { typeLength: number; charset: string } {
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) !== 0x3b) continue;
    let p = i + 1;
    while (value.charCodeAt(p) === 0x20) p++;
    if (p >= value.length) break;
    if (value.slice(p, p + 8).toLowerCase() !== 'charset=') {
      // nginx's scan goes on after the character it stopped at.
      i = p;
      continue;
    }
    p += 8;
    if (value.charCodeAt(p) === 0x22) p++;
    let end = value.length;
    if (value.charCodeAt(end - 1) === 0x22) end--;
    return { typeLength: i, charset: value.slice(p, Math.max(p, end)) };
  }
  return { typeLength: value.length, charset: '' };
}
