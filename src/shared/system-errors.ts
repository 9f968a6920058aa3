/** System errors as nginx words them in its error log, and the status a failed open gets. */

const STRERROR: Record<string, [number, string]> = {
  ENOENT: [2, 'No such file or directory'],
  EIO: [5, 'Input/output error'],
  EACCES: [13, 'Permission denied'],
  ENOTDIR: [20, 'Not a directory'],
  EISDIR: [21, 'Is a directory'],
  ENFILE: [23, 'Too many open files in system'],
  EMFILE: [24, 'Too many open files'],
  ENAMETOOLONG: [36, 'File name too long'],
  ELOOP: [40, 'Too many levels of symbolic links'],
  EMLINK: [31, 'Too many links'],
};

/** A system error as nginx writes it in the error log: `2: No such file or directory`. */
export function describeSystemError(err: NodeJS.ErrnoException): string {
  const known = err.code ? STRERROR[err.code] : undefined;
  if (known) return `${known[0]}: ${known[1]}`;
  const errno = err.errno !== undefined ? Math.abs(err.errno) : '?';
  return `${errno}: ${err.code ?? err.message}`;
}

/** The status nginx's static module answers for a failed open: 404, 403 or 500. */
export function statusForOpenError(code: string | undefined): 404 | 403 | 500 {
  if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG') return 404;
  if (code === 'EACCES' || code === 'ELOOP' || code === 'EMLINK') return 403;
  return 500;
}
