/**
 * Small entries a worker keeps in memory beside their files, so that a hit is answered in the
 * same turn without opening, reading and closing the file. The file stays the truth every
 * worker shares: a kept entry is compared with its file's identity (inode, size, mtime, ctime:
 * one stat, about 1 µs) before it is served, so an entry another worker replaced (a rename
 * gives a new inode), removed (the manager's `inactive` or `max_size`, a purge), or that was
 * changed in place (a corrupted file) is read from disk again, never served from memory. A
 * fresh hit may skip the stat when the last one is less than `RECHECK_MS` old: a change by
 * another worker is then seen within that bound (this worker's own writes and removals are
 * seen at once). The manager's touch of a served entry (its mtime) sends it back to the disk
 * once, about once a second. What is kept is bounded: entries up to `MAX_ENTRY` bytes,
 * `budget` bytes in all per worker and zone (each entry counted with `ENTRY_OVERHEAD`), the
 * least recently served dropped first.
 */
import { statSync, type Stats } from 'node:fs';
import type { CachedEntry } from './entry';

/** An entry larger than this (head, metadata and body) is not kept in memory. */
export const MAX_ENTRY = 64 * 1024;
/** The most a worker keeps in memory per zone, whatever the keys zone's size. */
const MAX_BUDGET = 64 * 1024 * 1024;
/** The least, for a small keys zone. */
const MIN_BUDGET = 1024 * 1024;
/** What a kept entry costs besides its file's bytes (its decoded metadata, its records): about 1.2 KB measured for a small one. */
export const ENTRY_OVERHEAD = 1024;
/** How long a kept entry's last check holds for a fresh hit, ms. */
export const RECHECK_MS = 100;

/** What identifies one version of an entry's file. */
export interface FileIdentity {
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly ctimeMs: number;
}

/** A kept entry: the entry as read, the identity of the file it was read from, its cost, when its file was last checked. */
interface Kept {
  readonly entry: CachedEntry;
  readonly identity: FileIdentity;
  readonly bytes: number;
  checkedAt: number;
}

/** The identity of a file's stat. */
export function identityOf(stat: Stats): FileIdentity {
  return { ino: stat.ino, size: stat.size, mtimeMs: stat.mtimeMs, ctimeMs: stat.ctimeMs };
}

/** The memory budget of a zone whose `keys_zone` is `zoneSize` bytes: as much, within bounds. */
export function budgetOf(zoneSize: number): number {
  return Math.min(MAX_BUDGET, Math.max(MIN_BUDGET, zoneSize));
}

/** One zone's entries kept in this worker's memory, least recently served first. */
export class EntryMemory {
  /** By hash; a Map keeps insertion order, and a hit moves its entry to the end. */
  private readonly kept = new Map<string, Kept>();
  private total = 0;

  constructor(private readonly budget: number) {}

  /** The bytes kept now (each entry's file bytes and ENTRY_OVERHEAD). */
  get size(): number {
    return this.total;
  }

  /**
   * The kept entry of `hash` if its file is still the one it was read from (checked now);
   * otherwise it is forgotten and null returned (the caller reads the disk).
   */
  get(hash: string, key: string, now = Date.now()): CachedEntry | null {
    const kept = this.kept.get(hash);
    if (kept === undefined || kept.entry.meta.key !== key) return null;
    return this.checked(hash, kept, now);
  }

  /**
   * The kept entry of `hash` for a fresh hit: as `get`, though the file is not looked at again
   * when it was less than `RECHECK_MS` ago.
   */
  recent(hash: string, key: string, now: number): CachedEntry | null {
    const kept = this.kept.get(hash);
    if (kept === undefined || kept.entry.meta.key !== key) return null;
    if (now - kept.checkedAt >= RECHECK_MS) return this.checked(hash, kept, now);
    this.served(hash, kept);
    return kept.entry;
  }

  /** The entry of `kept` if its file's identity is unchanged (then it counts as served), else null (forgotten). */
  private checked(hash: string, kept: Kept, now: number): CachedEntry | null {
    let stat: Stats | undefined;
    try {
      stat = statSync(kept.entry.file, { throwIfNoEntry: false });
    } catch {
      stat = undefined;
    }
    const id = kept.identity;
    if (stat === undefined || stat.ino !== id.ino || stat.size !== id.size || stat.mtimeMs !== id.mtimeMs || stat.ctimeMs !== id.ctimeMs) {
      this.forget(hash);
      return null;
    }
    kept.checkedAt = now;
    this.served(hash, kept);
    return kept.entry;
  }

  /** The most recently served goes last: the first in the map is the one to drop. */
  private served(hash: string, kept: Kept): void {
    this.kept.delete(hash);
    this.kept.set(hash, kept);
  }

  /** Keeps `entry` (whole, `bytes` long in its file of `identity`), dropping the least recently served past the budget. */
  keep(hash: string, entry: CachedEntry, identity: FileIdentity, bytes: number, now = Date.now()): void {
    if (entry.body === null || bytes > MAX_ENTRY) return;
    const cost = bytes + ENTRY_OVERHEAD;
    if (cost > this.budget) return;
    this.forget(hash);
    this.kept.set(hash, { entry, identity, bytes: cost, checkedAt: now });
    this.total += cost;
    while (this.total > this.budget) this.forget(this.kept.keys().next().value as string);
  }

  /** Forgets the entry of `hash` (replaced, removed, or found changed). */
  forget(hash: string): void {
    const kept = this.kept.get(hash);
    if (kept === undefined) return;
    this.kept.delete(hash);
    this.total -= kept.bytes;
  }
}
