/**
 * How the static handler, `index`, `gzip_static` and `try_files` reach files: nginx's
 * `disable_symlinks` (every component of the path checked, as nginx's openat() walk does) and
 * `open_file_cache` (stat and small files' content kept per worker). Errors are Node's errno
 * errors (`code`, `errno`, `syscall`), so callers map them to statuses as nginx does.
 */
import { closeSync, constants as fsConstants, fstatSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { lstat, open, stat, type FileHandle } from 'node:fs/promises';
import type { DisableSymlinksConf, OpenFileCacheConf } from '../config/values';
import { compilePathTemplate, expandTemplate, type Evaluator, type PathTemplate } from './document-path';
import { cacheFor, sameFile, SMALL_FILE_MAX, type CachedError, type CacheEntry, type FileInfo, type OpenFileCache } from './open-file-cache';
import { markImmutable } from './immutable-bodies';

export type { FileInfo } from './open-file-cache';
export { fileIdentity } from './open-file-cache';

/** Opened without blocking, so a FIFO in the tree cannot stall a thread-pool thread. */
const OPEN_FLAGS = fsConstants.O_RDONLY | fsConstants.O_NONBLOCK;
const ERRNO: Record<string, number> = { ENOTDIR: 20, ELOOP: 40 };

/** An opened file: its stat, and either its whole content (from the cache) or an open descriptor the caller closes. */
export type OpenedFile =
  | { readonly info: FileInfo; readonly content: Buffer; readonly fh: null }
  | { readonly info: FileInfo; readonly content: null; readonly fh: FileHandle };

function infoOf(s: Stats): FileInfo {
  return { isFile: s.isFile(), isDir: s.isDirectory(), size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs, ino: s.ino, dev: s.dev };
}

function systemError(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${syscall} '${path}'`), { code, errno: -(ERRNO[code] ?? 0), syscall, path });
}

function toCached(err: unknown): CachedError | null {
  const e = err as NodeJS.ErrnoException;
  return e && typeof e.code === 'string' ? { code: e.code, errno: e.errno ?? 0, syscall: e.syscall ?? 'open', path: e.path ?? '' } : null;
}

/** The per-location settings, fixed at start. */
export interface FileAccessConf {
  readonly disableSymlinks: 'off' | 'on' | 'if_not_owner';
  /** `from=`: the leading part of a path that is not checked. */
  readonly from: PathTemplate | null;
  readonly cache: OpenFileCache | null;
  readonly validMs: number;
  readonly minUses: number;
  readonly cacheErrors: boolean;
}

/** The directives of a location that file access follows (the core module's). */
export interface FileLookupDirectives {
  readonly disableSymlinks: DisableSymlinksConf;
  readonly openFileCache: OpenFileCacheConf | null;
  readonly openFileCacheValid: number;
  readonly openFileCacheMinUses: number;
  readonly openFileCacheErrors: boolean;
}

/** The file access settings of a location (`captureNames`: the named captures `from=` may use). */
export function fileAccessConf(loc: FileLookupDirectives, captureNames?: ReadonlySet<string>): FileAccessConf {
  return {
    disableSymlinks: loc.disableSymlinks.mode,
    from: loc.disableSymlinks.from === null ? null : compilePathTemplate(loc.disableSymlinks.from, undefined, captureNames),
    cache: cacheFor(loc.openFileCache),
    validMs: loc.openFileCacheValid,
    minUses: loc.openFileCacheMinUses,
    cacheErrors: loc.openFileCacheErrors,
  };
}

/**
 * nginx's walk with `disable_symlinks on|if_not_owner`: each directory component after the
 * first `from` characters is opened without following a link (a link there is ENOTDIR, as
 * O_DIRECTORY|O_NOFOLLOW answers), or with `if_not_owner` followed only when the link and its
 * target have one owner (else ELOOP). Resolves once the directories are checked.
 */
async function checkDirectories(file: string, mode: 'on' | 'if_not_owner', from: number): Promise<void> {
  const ends: number[] = [];
  for (let i = file.indexOf('/', from + 1); i >= 0; i = file.indexOf('/', i + 1)) if (i > 0 && file[i - 1] !== '/') ends.push(i);
  const results = await Promise.allSettled(ends.map((end) => lstat(file.slice(0, end))));
  for (let k = 0; k < ends.length; k++) {
    const dir = file.slice(0, ends[k]);
    const result = results[k];
    if (result.status === 'rejected') throw Object.assign(result.reason as Error, { syscall: 'openat' });
    if (result.value.isSymbolicLink()) {
      if (mode === 'on') throw systemError('ENOTDIR', 'openat', dir);
      await checkOwner(dir, result.value);
    } else if (!result.value.isDirectory()) {
      throw systemError('ENOTDIR', 'openat', dir);
    }
  }
}

/** `if_not_owner`: a link whose target has another owner is ELOOP; a target that is not there is its error. */
async function checkOwner(link: string, linkStats: Stats): Promise<Stats> {
  let target: Stats;
  try {
    target = await stat(link);
  } catch (err) {
    throw Object.assign(err as Error, { syscall: 'openat' });
  }
  if (target.uid !== linkStats.uid) throw systemError('ELOOP', 'openat', link);
  return target;
}

/** Where the unchecked part of `file` ends for `from` (nginx's disable_symlinks_from), or -1 when it is all unchecked. */
export function symlinksFrom(file: string, from: string): number {
  if (from === '' || from.length > file.length || !file.startsWith(from)) return 0;
  if (from.length === file.length) return -1;
  if (file[from.length] === '/') return from.length;
  return file[from.length - 1] === '/' ? from.length - 1 : 0;
}

/** Stats `file` under `disable_symlinks` (its last component too): the probe of try_files and index. */
async function statChecked(file: string, mode: FileAccessConf['disableSymlinks'], from: number): Promise<FileInfo> {
  // Unchecked, one blocking stat (a page-cache hit, as nginx's) costs less than a thread-pool round trip.
  if (mode === 'off' || from < 0) return infoOf(statSync(file));
  const trimmed = file.length > 1 && file.endsWith('/') ? file.slice(0, -1) : file;
  await checkDirectories(trimmed, mode, from);
  const own = await lstat(trimmed).catch((err: unknown) => {
    throw Object.assign(err as Error, { syscall: 'openat' });
  });
  const slash = trimmed !== file;
  if (own.isSymbolicLink() && mode === 'on') throw systemError(slash ? 'ENOTDIR' : 'ELOOP', 'openat', file);
  const target = own.isSymbolicLink() ? await checkOwner(trimmed, own) : own;
  if (slash && !target.isDirectory()) throw systemError('ENOTDIR', 'openat', file);
  return infoOf(target);
}

/** Opens `file` under `disable_symlinks` and fstat()s it. */
async function openChecked(file: string, mode: FileAccessConf['disableSymlinks'], from: number): Promise<{ fh: FileHandle; info: FileInfo }> {
  const checked = mode !== 'off' && from >= 0;
  if (checked) await checkDirectories(file, mode, from);
  let fh: FileHandle;
  try {
    fh = await open(file, OPEN_FLAGS | (checked && mode === 'on' ? fsConstants.O_NOFOLLOW : 0));
  } catch (err) {
    throw Object.assign(err as Error, checked ? { syscall: 'openat' } : {});
  }
  try {
    const info = await fh.stat();
    if (checked && mode === 'if_not_owner') {
      const own = await lstat(file);
      if (own.isSymbolicLink() && own.uid !== info.uid) throw systemError('ELOOP', 'openat', file);
    }
    return { fh, info: infoOf(info) };
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
}

/**
 * nginx's way for a path without symlink checks: blocking open(), fstat() and, for a regular
 * file up to SMALL_FILE_MAX, one read() of the whole file and close(), all on this thread (a
 * page-cache hit costs a few µs; each thread-pool round trip costs tens). Null when the file
 * is not such a file (or shorter than fstat() said): the caller opens it as before.
 */
function readSmallSync(file: string): { info: FileInfo; content: Buffer } | null {
  const fd = openSync(file, OPEN_FLAGS);
  try {
    const info = infoOf(fstatSync(fd));
    if (!info.isFile || info.size > SMALL_FILE_MAX) return null;
    // The size fstat() said, as nginx reads it: one pread() for a file nobody is writing to.
    const buffer = Buffer.allocUnsafe(info.size);
    let total = 0;
    for (let n; total < info.size && (n = readSync(fd, buffer, total, info.size - total, total)) > 0; ) total += n;
    return total === info.size ? { info, content: buffer } : null;
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/** Reads a whole small file from its descriptor; null if it is not the size fstat() said. */
async function readWhole(fh: FileHandle, size: number): Promise<Buffer | null> {
  const buffer = Buffer.allocUnsafe(size + 1);
  let total = 0;
  for (;;) {
    const { bytesRead } = await fh.read(buffer, total, buffer.length - total, total);
    if (bytesRead === 0) break;
    total += bytesRead;
    if (total > size) return null;
  }
  return total === size ? buffer.subarray(0, size) : null;
}

function rethrow(error: CachedError): never {
  throw systemError(error.code, error.syscall, error.path);
}

/** Files as one location reaches them. */
export class FileAccess {
  constructor(private readonly conf: FileAccessConf) {}

  private key(file: string, from: number): string {
    return `${this.conf.disableSymlinks}:${from}:${file}`;
  }

  /** How much of `file` the symlink checks skip: `from=` expanded for this request. */
  private from(file: string, request: Evaluator): number {
    return this.conf.from === null ? 0 : symlinksFrom(file, expandTemplate(this.conf.from, request));
  }

  /**
   * What `file` is (a stat, after the symlink checks); served from the cache while fresh.
   * `request` evaluates the variables of `disable_symlinks from=`.
   */
  async probe(file: string, request: Evaluator): Promise<FileInfo> {
    return this.probeFrom(file, this.from(file, request));
  }

  private async probeFrom(file: string, from: number): Promise<FileInfo> {
    const { cache } = this.conf;
    if (!cache) return statChecked(file, this.conf.disableSymlinks, from);
    const key = this.key(file, from);
    const entry = cache.lookup(key);
    if (entry && cache.fresh(entry, this.conf.validMs)) {
      if (entry.error) rethrow(entry.error);
      if (entry.info) return entry.info;
    }
    try {
      const info = await statChecked(file, this.conf.disableSymlinks, from);
      this.remember(cache, key, entry, info);
      return info;
    } catch (err) {
      this.forget(cache, key, err, entry);
      throw err;
    }
  }

  /**
   * Opens `file`: a small hot file comes from memory, anything else as an open descriptor. A
   * fresh cache entry holding the file's bytes is answered at once, without a promise (the hot
   * path of every cached small file); anything else settles later, failures as a rejection.
   */
  open(file: string, request: Evaluator): OpenedFile | Promise<OpenedFile> {
    const from = this.from(file, request);
    const { cache } = this.conf;
    if (!cache) return this.openUncached(file, from);
    const key = this.key(file, from);
    const entry = cache.lookup(key);
    if (entry && entry.info && entry.content && cache.fresh(entry, this.conf.validMs)) return { info: entry.info, content: entry.content, fh: null };
    return this.openLookedUp(file, from, cache, key, entry);
  }

  /** `open` past a lookup that did not answer at once: a cached error, a stale or absent entry, a file not held in memory. */
  private async openLookedUp(file: string, from: number, cache: OpenFileCache, key: string, entry: CacheEntry | undefined): Promise<OpenedFile> {
    if (entry && cache.fresh(entry, this.conf.validMs)) {
      if (entry.error) rethrow(entry.error);
    } else if (entry?.info && entry.content) {
      // Past open_file_cache_valid: one stat says whether the kept content still holds.
      const content = entry.content;
      const info = await this.probeFrom(file, from);
      if (entry.content === content) return { info, content, fh: null };
    }
    let opened: OpenedFile;
    try {
      // Read into memory at once only when the cache will keep it (min_uses reached).
      opened = await this.openDescriptor(file, from, (entry ? entry.uses : 1) >= this.conf.minUses);
    } catch (err) {
      this.forget(cache, key, err, entry);
      throw err;
    }
    const stored = this.remember(cache, key, entry, opened.info);
    if (opened.content) {
      if (!stored.content && stored.uses >= this.conf.minUses) stored.content = markImmutable(opened.content);
      return opened;
    }
    if (stored.content || !opened.info.isFile || opened.info.size > SMALL_FILE_MAX || stored.uses < this.conf.minUses) return opened;
    const content = await readWhole(opened.fh!, opened.info.size).catch(() => null);
    if (!content) return opened;
    await opened.fh!.close().catch(() => undefined);
    stored.content = markImmutable(content);
    return { info: opened.info, content, fh: null };
  }

  /** Whether what `open` gives is kept by the open file cache (the same Buffer for the same file), not read anew each time. */
  get keepsContent(): boolean {
    return this.conf.cache !== null;
  }

  /** Without a cache: a small regular file without symlink checks is read at once (no promise), anything else as before. */
  private openUncached(file: string, from: number): OpenedFile | Promise<OpenedFile> {
    if (this.conf.disableSymlinks !== 'off' && from >= 0) return this.openDescriptor(file, from);
    let small: ReturnType<typeof readSmallSync>;
    try {
      small = readSmallSync(file);
    } catch (err) {
      return Promise.reject(err);
    }
    return small ? { info: small.info, content: small.content, fh: null } : this.openDescriptor(file, from, false);
  }

  /** The file's content (a small regular file without symlink checks, if `inMemory`), else an open descriptor. */
  private async openDescriptor(file: string, from: number, inMemory = true): Promise<OpenedFile> {
    if (inMemory && (this.conf.disableSymlinks === 'off' || from < 0)) {
      const small = readSmallSync(file);
      if (small) return { info: small.info, content: small.content, fh: null };
    }
    const { fh, info } = await openChecked(file, this.conf.disableSymlinks, from);
    return { info, fh, content: null };
  }

  /** Keeps what the disk said; content survives only if the file is unchanged. */
  private remember(cache: OpenFileCache, key: string, entry: CacheEntry | undefined, info: FileInfo): CacheEntry {
    if (entry?.info && sameFile(entry.info, info)) {
      cache.validated(entry);
      return entry;
    }
    if (entry) entry.content = null;
    return cache.store(key, { info, error: null, content: null, uses: entry ? entry.uses : 1 });
  }

  /** `open_file_cache_errors on` keeps a failed lookup; otherwise the entry goes. */
  private forget(cache: OpenFileCache, key: string, err: unknown, entry: CacheEntry | undefined): void {
    const error = toCached(err);
    if (this.conf.cacheErrors && error) cache.store(key, { info: null, error, content: null, uses: entry ? entry.uses : 1 });
    else cache.remove(key);
  }
}
