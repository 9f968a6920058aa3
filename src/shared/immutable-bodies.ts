/**
 * Response bodies whose bytes never change (a small file the open file cache holds: a changed
 * file gets a new Buffer), and what was made of them once: their gzip, by compression level.
 * Kept beside the Buffer in a WeakMap, so it goes when the cache lets the file go.
 */
const bodies = new WeakMap<Buffer, Map<number, Buffer>>();

/** Says that `body`'s bytes will never change; returns it. */
export function markImmutable(body: Buffer): Buffer {
  if (!bodies.has(body)) bodies.set(body, new Map());
  return body;
}

/**
 * The gzip of `body` at `level`: made by `compress` once for an immutable body, then reused;
 * made every time for any other.
 */
export function gzipOf(body: Buffer, level: number, compress: () => Buffer): Buffer {
  const made = bodies.get(body);
  if (!made) return compress();
  let gzip = made.get(level);
  if (!gzip) {
    gzip = compress();
    made.set(level, gzip);
  }
  return gzip;
}
