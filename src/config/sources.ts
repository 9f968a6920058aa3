/**
 * The files a configuration is read from (the YAML file, its includes, `types` files), kept as
 * read. The master has a configuration checked and hands the very same text to its workers, as
 * nginx's workers inherit what the master parsed: a file edited after the check (and not yet
 * reloaded) never reaches a worker that starts or restarts in the meantime.
 *
 * Reading is bounded: only regular files (not a directory, a FIFO, `/dev/zero`...), each at
 * most `MAX_FILE_BYTES`, all together at most `MAX_TOTAL_BYTES`.
 */
import { closeSync, constants, fstatSync, openSync, readSync, readdirSync } from 'node:fs';

/** The largest configuration file read (bytes); a YAML file takes some 80 times its size in memory to parse. */
export const MAX_FILE_BYTES = 16 * 1024 * 1024;

/** The largest configuration read in all, every included file together (bytes). */
export const MAX_TOTAL_BYTES = 24 * 1024 * 1024;

/** What a master hands its workers: every file's text and every listed folder, by `file:` and `dir:` key. */
export type SourcesSnapshot = Readonly<Record<string, string | readonly string[]>>;

/** A file that cannot be taken as configuration; `code` as `fs` errors have it. */
export class SourceError extends Error {
  constructor(
    message: string,
    readonly code: 'EGW_NOT_REGULAR' | 'EGW_TOO_LARGE' | 'EGW_NOT_CHECKED',
  ) {
    super(message);
  }
}

/** Reads configuration files and folder listings, from disk or from a snapshot. */
export class ConfigSources {
  private readonly seen: Record<string, string | readonly string[]> = {};
  private totalBytes = 0;

  constructor(private readonly snapshot: SourcesSnapshot | null = null) {}

  /**
   * A file's text. Throws as `fs` does when it cannot be opened (an `Error` with a `code`), or a
   * `SourceError` when it is not a regular file or is too large.
   */
  readFile(file: string): string {
    const key = `file:${file}`;
    if (Object.hasOwn(this.seen, key)) return this.seen[key] as string;
    const text = this.snapshot ? (this.fromSnapshot(key) as string) : readRegularFile(file, MAX_FILE_BYTES);
    this.totalBytes += Buffer.byteLength(text);
    if (this.totalBytes > MAX_TOTAL_BYTES) {
      throw new SourceError(`the configuration is larger than ${MAX_TOTAL_BYTES} bytes in all (with "${file}")`, 'EGW_TOO_LARGE');
    }
    this.seen[key] = text;
    return text;
  }

  /** A folder's entries (for `include` with `*`). */
  readDir(dir: string): string[] {
    const names = this.snapshot ? (this.fromSnapshot(`dir:${dir}`) as string[]) : readdirSync(dir);
    this.seen[`dir:${dir}`] = names;
    return [...names];
  }

  /** Everything read so far: what a worker of this configuration reads instead of the disk. */
  toSnapshot(): SourcesSnapshot {
    return { ...this.seen };
  }

  private fromSnapshot(key: string): string | readonly string[] {
    const value = this.snapshot![key];
    if (value === undefined) throw new SourceError(`${key.slice(key.indexOf(':') + 1)} is not in the checked configuration`, 'EGW_NOT_CHECKED');
    return value;
  }
}

/**
 * Reads a regular file of at most `max` bytes as UTF-8. Opened without blocking (a FIFO with no
 * writer would block `open` for ever), then checked by its descriptor; read to its end, not to
 * the size `fstat` tells (files in /proc tell 0), and never past `max`.
 */
function readRegularFile(file: string, max: number): string {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = fstatSync(fd);
    if (stat.isDirectory()) throw Object.assign(new Error(`EISDIR: "${file}" is a directory`), { code: 'EISDIR' });
    if (!stat.isFile()) throw new SourceError(`"${file}" is not a regular file`, 'EGW_NOT_REGULAR');
    if (stat.size > max) throw new SourceError(`"${file}" is larger than ${max} bytes`, 'EGW_TOO_LARGE');
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(64 * 1024, max + 1 - length));
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      length += n;
      if (length > max) throw new SourceError(`"${file}" is larger than ${max} bytes`, 'EGW_TOO_LARGE');
    }
    return Buffer.concat(chunks, length).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
