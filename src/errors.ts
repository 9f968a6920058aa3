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
 * `[emerg] unknown directive "foo" in conf/site.yaml:12:3`.
 */
export class ConfigError extends Error {
  readonly code = 'GW_ERR_CONFIG';
  constructor(
    readonly reason: string,
    readonly position?: Position,
  ) {
    super(position ? `${reason} in ${formatPosition(position)}` : reason);
    this.name = 'ConfigError';
  }
}

/** `file:line:col`, the way editors and compilers point at a place. */
export function formatPosition(p: Position): string {
  return `${p.file}:${p.line}:${p.col}`;
}

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
