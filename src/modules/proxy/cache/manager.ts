/**
 * nginx's cache manager. Every `manager_sleep` (at least a second) each worker touches the
 * file times of the entries it served since its last pass (the file's mtime is the entry's last
 * use). One process at a time then walks the zone's directory: entries unused for `inactive`
 * are removed, and past `max_size` the least recently used go until it fits. nginx runs one
 * cache manager process; here the walker is whichever worker holds the zone's lease, a file
 * (`.manager.lock` at the top of the directory) naming its pid, kept fresh by every pass of its
 * holder and taken over once it is older than a few passes (the holder exited or hangs), so a
 * reload, a crash or a second gateway on the same directory leaves one walker. A walk costs a
 * stat per entry: the next one waits at least WALK_SPACING times as long as the last took, so a
 * large cache is not walked back to back. Two workers walking at once (both found the lease
 * stale) is harmless: a file removed twice is removed once.
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { DiskStore } from './store';

/** What the manager needs of a zone: its store, and the entries read since its last pass. */
export interface ManagedZone {
  readonly store: DiskStore;
  readonly touched: Set<string>;
}

/** The shortest pause between passes. */
const MIN_PAUSE = 1000;
/** A temporary file or lock left this long by a worker that died is removed. */
const STALE_TEMP = 60_000;
/** The walker's lease, at the top of the zone's directory (a `.lock`: never counted as an entry). */
export const LEASE_FILE = '.manager.lock';
/** A lease not refreshed for this many passes is taken over. */
const LEASE_PASSES = 3;
/** The time between two walks is at least this many times the last walk's. */
const WALK_SPACING = 10;

/** The manager of one zone in one worker. */
export class CacheManager {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private readonly pause: number;
  /** When this worker may walk next (its last walk's duration spaces them). */
  private nextWalk = 0;
  /** Walks this worker made (for tests and the debug log). */
  walks = 0;

  constructor(
    private readonly zone: ManagedZone,
    private readonly pid = process.pid,
    timed = true,
  ) {
    this.pause = Math.max(MIN_PAUSE, Math.min(zone.store.conf.managerSleep, zone.store.conf.inactive / 4));
    if (timed) {
      this.timer = setInterval(() => void this.pass(), this.pause);
      this.timer.unref();
    }
  }

  /** One pass: touch what was read; then, as the lease holder and when due, remove what is inactive or over `max_size`. */
  async pass(now = Date.now()): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const { store } = this.zone;
      const touched = [...this.zone.touched];
      this.zone.touched.clear();
      const at = new Date(now);
      for (const hash of touched) await fsp.utimes(store.fileOf(hash), at, at).catch(() => {});
      if (!(await this.holdLease(now)) || now < this.nextWalk) return;
      const started = performance.now();
      await this.walk(now);
      this.walks++;
      this.nextWalk = now + WALK_SPACING * (performance.now() - started);
    } finally {
      this.running = false;
    }
  }

  /** Whether this worker walks: it holds the lease (refreshed now), or took it over from a holder gone quiet. */
  private async holdLease(now: number): Promise<boolean> {
    const file = path.join(this.zone.store.conf.dir, LEASE_FILE);
    const mine = String(this.pid);
    const [holder, stat] = await Promise.all([fsp.readFile(file, 'latin1').catch(() => null), fsp.stat(file).catch(() => null)]);
    const fresh = stat !== null && now - stat.mtimeMs < LEASE_PASSES * this.pause;
    if (holder !== mine && fresh) return false;
    try {
      if (holder !== mine) await fsp.writeFile(file, mine, 'latin1');
      const at = new Date(now);
      await fsp.utimes(file, at, at);
      return true;
    } catch {
      // A directory that cannot be written: nothing is stored there, nothing to manage.
      return false;
    }
  }

  /** Removes entries unused for `inactive`, stale temporary files, and the least recently used past `max_size`. */
  private async walk(now: number): Promise<void> {
    const { store } = this.zone;
    const files: { file: string; size: number; mtime: number }[] = [];
    await walk(store.conf.dir, files);
    const { inactive, maxSize } = store.conf;
    let total = 0;
    const kept: typeof files = [];
    for (const f of files) {
      const name = path.basename(f.file);
      const temp = name.endsWith('.tmp') || name.endsWith('.lock');
      if (temp ? now - f.mtime > STALE_TEMP : now - f.mtime > inactive) {
        await fsp.unlink(f.file).catch(() => {});
        if (!temp) store.forget(name);
        continue;
      }
      // As nginx's zone counts its size: entries only (a file being written, a lock, the lease: not).
      if (temp) continue;
      total += f.size;
      kept.push(f);
    }
    if (maxSize && total > maxSize) {
      kept.sort((a, b) => a.mtime - b.mtime);
      for (const f of kept) {
        if (total <= maxSize) break;
        await fsp.unlink(f.file).catch(() => {});
        store.forget(path.basename(f.file));
        total -= f.size;
      }
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/** Every file under `dir`, with its size and mtime. */
async function walk(dir: string, out: { file: string; size: number; mtime: number }[]): Promise<void> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const file = path.join(dir, e.name);
    if (e.isDirectory()) await walk(file, out);
    else if (e.isFile()) {
      const stat = await fsp.stat(file).catch(() => null);
      if (stat) out.push({ file, size: stat.size, mtime: stat.mtimeMs });
    }
  }
}
