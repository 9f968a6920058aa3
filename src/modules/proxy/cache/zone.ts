/**
 * One keys zone as a worker sees it: the disk store every worker shares, and what this worker
 * keeps beside it: how often a key was asked for (`proxy_cache_min_uses`), the fetches it has
 * under way, the entries read since the manager's last pass. The fetch of an entry is marked
 * for the other workers by a lock file beside the entry (`<hash>.lock`, created exclusively),
 * so that `proxy_cache_lock` and `proxy_cache_use_stale updating` hold across workers: the
 * disk is the one place all of them see without a round trip through the master, which a
 * hit would otherwise pay on every request.
 */
import { promises as fsp } from 'node:fs';
import type { Logger } from '../../../types';
import { keyHash } from './key';
import { CacheManager } from './manager';
import type { CachePathConf } from './module';
import { DiskStore } from './store';

/** A fetch from the upstream under way for one entry. */
export interface Update {
  /** Settles when the fetch is over, whichever way. */
  readonly done: Promise<void>;
  release(): void;
}

/** Uses counted per key, at most this many keys (the oldest forgotten first). */
const MAX_COUNTED = 10_000;

/** A zone's per-worker state. */
export class CacheZone {
  readonly store: DiskStore;
  private readonly uses = new Map<string, number>();
  /** The md5 of the keys asked for lately (at most MAX_COUNTED, the oldest forgotten first). */
  private readonly hashes = new Map<string, string>();
  private readonly updates = new Map<string, Update>();
  /** Entries read since the manager's last pass (their files' times are touched then). */
  readonly touched = new Set<string>();
  private readonly manager: CacheManager;

  constructor(conf: CachePathConf, log: Logger) {
    this.store = new DiskStore(conf, log);
    this.manager = new CacheManager(this);
  }

  /** The md5 of `key` (the entry's file name), made once per key asked for lately. */
  hashOf(key: string): string {
    let hash = this.hashes.get(key);
    if (hash === undefined) {
      hash = keyHash(key);
      if (this.hashes.size >= MAX_COUNTED) this.hashes.delete(this.hashes.keys().next().value as string);
      this.hashes.set(key, hash);
    }
    return hash;
  }

  /** Counts one more request of `hash`; returns the count. */
  use(hash: string): number {
    const n = (this.uses.get(hash) ?? 0) + 1;
    this.uses.delete(hash);
    this.uses.set(hash, n);
    if (this.uses.size > MAX_COUNTED) this.uses.delete(this.uses.keys().next().value as string);
    return n;
  }

  /** Forgets a key's uses (it is stored now). */
  stored(hash: string): void {
    this.uses.delete(hash);
  }

  /** The entry was served: the manager keeps it from `inactive` for a while more. */
  read(hash: string): void {
    this.touched.add(hash);
  }

  /** This worker's fetch of `hash` under way, if any. */
  localUpdate(hash: string): Update | undefined {
    return this.updates.get(hash);
  }

  /**
   * Whether some worker is fetching `hash`: this one, or another that holds the lock file,
   * made no longer than `ageMs` ago (an older one is a fetch that died).
   */
  async updating(hash: string, ageMs: number): Promise<boolean> {
    if (this.updates.has(hash)) return true;
    try {
      const stat = await fsp.stat(`${this.store.fileOf(hash)}.lock`);
      return Date.now() - stat.mtimeMs < ageMs;
    } catch {
      return false;
    }
  }

  /**
   * Begins a fetch of `hash` as its one fetcher, or returns null when a worker already fetches
   * it (within `ageMs`). A lock file that cannot be made for another reason (the directory
   * cannot be written) does not stop the fetch.
   */
  async begin(hash: string, ageMs: number): Promise<Update | null> {
    if (this.updates.has(hash)) return null;
    const lock = `${this.store.fileOf(hash)}.lock`;
    let owned = false;
    try {
      await fsp.mkdir(lock.slice(0, lock.lastIndexOf('/')), { recursive: true });
      await (await fsp.open(lock, 'wx')).close();
      owned = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        const stat = await fsp.stat(lock).catch(() => null);
        if (stat && Date.now() - stat.mtimeMs < ageMs) return null;
        // A lock older than proxy_cache_lock_age: its fetch is taken over.
        await fsp.utimes(lock, new Date(), new Date()).catch(() => {});
        owned = true;
      }
    }
    if (this.updates.has(hash)) return null;
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    const update: Update = {
      done,
      release: () => {
        if (this.updates.get(hash) !== update) return;
        this.updates.delete(hash);
        if (owned) void fsp.unlink(lock).catch(() => {});
        release();
      },
    };
    this.updates.set(hash, update);
    return update;
  }

  /** Stops the manager (the worker is closing). */
  close(): void {
    this.manager.stop();
  }
}

const zones = new Map<string, CacheZone>();
/** The same zones by their conf (one lookup per request, without making the name). */
const zonesByConf = new WeakMap<CachePathConf, CacheZone>();

/** The zone of `conf` in this process, made when first asked for (every location naming it shares it). */
export function zoneOf(conf: CachePathConf, log: Logger): CacheZone {
  let zone = zonesByConf.get(conf);
  if (zone !== undefined) return zone;
  const id = `${conf.name}\0${conf.dir}`;
  zone = zones.get(id);
  if (!zone) zones.set(id, (zone = new CacheZone(conf, log)));
  zonesByConf.set(conf, zone);
  return zone;
}
