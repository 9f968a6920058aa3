/**
 * nginx's `open_file_cache`, for a process that cannot keep descriptors cheaply: per path,
 * what a lookup learned (the file's stat, or the error), and the whole content of a small
 * file, so a hot small file is served without touching the disk. An entry is trusted for
 * `open_file_cache_valid`, then revalidated with one stat; it is dropped when unused for
 * `inactive`, and the least recently used entry goes when `max` is reached. One cache per
 * `open_file_cache` directive (locations that inherit it share it), one per worker process.
 */
import type { OpenFileCacheConf } from '../config/values';

/** What a stat of a path said, as the static handler needs it. */
export interface FileInfo {
  readonly isFile: boolean;
  readonly isDir: boolean;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
  readonly ino: number;
  readonly dev: number;
}

/** A failed lookup, kept as the errno error it was. */
export interface CachedError {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly path: string;
}

/** One path's entry. */
export interface CacheEntry {
  info: FileInfo | null;
  error: CachedError | null;
  /** The whole file, for regular files up to `SMALL_FILE_MAX` once used `min_uses` times. */
  content: Buffer | null;
  /** When the entry was last checked against the disk (ms, monotonic). */
  validatedAt: number;
  /** When it was last looked up (ms, monotonic). */
  usedAt: number;
  /** Lookups within `inactive` of each other. */
  uses: number;
}

/** Files up to this size are kept whole in memory. */
export const SMALL_FILE_MAX = 64 * 1024;

/** A file as it is now, as a key: another content has another identity (what `sameFile` compares). */
export function fileIdentity(info: FileInfo): string {
  return `${info.dev}:${info.ino}:${info.size}:${info.mtimeMs}:${info.ctimeMs}`;
}

/** Whether two stats describe the same unchanged file. */
export function sameFile(a: FileInfo, b: FileInfo): boolean {
  return a.ino === b.ino && a.dev === b.dev && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.isDir === b.isDir;
}

/** The entries of one `open_file_cache max=N inactive=T`. */
export class OpenFileCache {
  private readonly entries = new Map<string, CacheEntry>();
  /** The entry at the most recent end of `entries`, if it is still there. */
  private newest: CacheEntry | null = null;

  constructor(
    readonly max: number,
    readonly inactiveMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Entries held now. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * The entry for `key`, counted as used and moved to the most recent end; undefined when
   * there is none or it was unused for `inactive` (then it is dropped).
   */
  lookup(key: string): CacheEntry | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    const now = this.now();
    if (now - entry.usedAt > this.inactiveMs) {
      this.remove(key);
      return undefined;
    }
    entry.usedAt = now;
    entry.uses++;
    // The most recent entry is already at its end (a hot file asked for again and again).
    if (entry !== this.newest) {
      this.entries.delete(key);
      this.entries.set(key, entry);
      this.newest = entry;
    }
    return entry;
  }

  /** Stores `entry` as just used and validated; evicts the inactive, then the least recently used. */
  store(key: string, entry: Omit<CacheEntry, 'validatedAt' | 'usedAt'>): CacheEntry {
    const now = this.now();
    const stored: CacheEntry = { ...entry, validatedAt: now, usedAt: now };
    this.entries.delete(key);
    this.entries.set(key, stored);
    this.newest = stored;
    for (const [k, e] of this.entries) {
      if (this.entries.size <= this.max && now - e.usedAt <= this.inactiveMs) break;
      this.remove(k);
    }
    return stored;
  }

  /** Marks `entry` as just checked against the disk. */
  validated(entry: CacheEntry): void {
    entry.validatedAt = this.now();
  }

  /** True when `entry` may be used without asking the disk (`open_file_cache_valid`). */
  fresh(entry: CacheEntry, validMs: number): boolean {
    return this.now() - entry.validatedAt < validMs;
  }

  /** Forgets `key`. */
  remove(key: string): void {
    if (this.entries.get(key) === this.newest) this.newest = null;
    this.entries.delete(key);
  }
}

const caches = new WeakMap<OpenFileCacheConf, OpenFileCache>();

/** The cache of one `open_file_cache` directive (shared by the locations inheriting it), or null for `off`. */
export function cacheFor(conf: OpenFileCacheConf | null): OpenFileCache | null {
  if (!conf) return null;
  let cache = caches.get(conf);
  if (!cache) caches.set(conf, (cache = new OpenFileCache(conf.max, conf.inactive)));
  return cache;
}
