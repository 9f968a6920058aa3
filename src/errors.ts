/**
 * The gateway's two kinds of expected failure. Both carry a stable `code` so tests and callers
 * match codes, never messages.
 */

/** Where something stands in a configuration file (1-based line and column). */
export interface Position {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

/**
 * A configuration that does not check. Printed as one line, nginx's way:
 * `[emerg] unknown directive "foo" in conf/site.yaml:12:3`. The line is always one line and
 * readable: line breaks, control characters and invisible white space in it (a value's own, a
 * file name's) are written as escapes (`\n`, `\u00a0`), and a very long reason is cut in its
 * middle, as nginx cuts its error lines (NGX_MAX_ERROR_STR).
 */
export class ConfigError extends Error {
  readonly code = 'GW_ERR_CONFIG';
  readonly reason: string;
  constructor(
    reason: string,
    readonly position?: Position,
  ) {
    const shown = oneLine(reason);
    super(position ? `${shown} in ${oneLine(formatPosition(position))}` : shown);
    this.reason = shown;
    this.name = 'ConfigError';
  }
}

/** `file:line:col`, the way editors and compilers point at a place. */
export function formatPosition(p: Position): string {
  return `${p.file}:${p.line}:${p.col}`;
}

/** The longest reason shown whole; a longer one keeps its start and its end. */
const MAX_REASON_LENGTH = 1000;

/**
 * Characters never shown as they are: C0 and C1 controls but the tab, DEL, line and paragraph
 * separators, white space other than the space, and invisible format characters (U+FEFF...).
 */
const UNSHOWN = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u00a0\u00ad\u061c\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff\ufff9-\ufffb]/g;

/** `text` as one readable line of at most about MAX_REASON_LENGTH characters. */
export function oneLine(text: string): string {
  const escaped = text.replace(UNSHOWN, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
  if (escaped.length <= MAX_REASON_LENGTH) return escaped;
  const half = MAX_REASON_LENGTH / 2;
  // Never cut a surrogate pair in two.
  const head = escaped.slice(0, isHighSurrogate(escaped.charCodeAt(half - 1)) ? half - 1 : half);
  const tail = escaped.slice(isLowSurrogate(escaped.charCodeAt(escaped.length - half)) ? escaped.length - half + 1 : escaped.length - half);
  return `${head}...${tail}`;
}

const isHighSurrogate = (code: number) => code >= 0xd800 && code <= 0xdbff;
const isLowSurrogate = (code: number) => code >= 0xdc00 && code <= 0xdfff;

/**
 * A request that ends with an error status. Thrown (or rejected) by a handler, it is rendered
 * in one place as nginx's error page, or by the location's `error_page`.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string = `GW_HTTP_${status}`,
    message?: string,
    /** Extra response headers, e.g. `Content-Range` on 416 or `Location` on 301. */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message ?? `HTTP ${status}`);
    this.name = 'HttpError';
  }
}

/**
 * Thrown by a handler to have the request served again for another URI: nginx's internal
 * redirect (the `index` module, `try_files`). Locations are matched anew; a URI starting with
 * `@` names a named location. A request may be redirected 10 times, as in nginx.
 */
export class InternalRedirect extends Error {
  readonly code = 'GW_INTERNAL_REDIRECT';
  constructor(
    /** The new `$uri` (decoded, as `$uri` is), or `@name`. */
    readonly uri: string,
    /** The new `$args`. */
    readonly args: string,
  ) {
    super(`internal redirect to "${uri}"`);
    this.name = 'InternalRedirect';
  }
}
