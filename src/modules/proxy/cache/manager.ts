/**
 * nginx's cache manager, run in each worker: every `manager_sleep` (at least a second) the
 * entries this worker served since the last pass have their file times touched (the file's
 * mtime is the entry's last use), then the zone's directory is walked: entries unused for
 * `inactive` are removed, and past `max_size` the least recently used go until it fits.
 * Workers walking at once is harmless: a file removed twice is removed once.
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

/** The manager of one zone in one worker. */
export class CacheManager {
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(private readonly zone: ManagedZone) {
    const pause = Math.max(MIN_PAUSE, Math.min(zone.store.conf.managerSleep, zone.store.conf.inactive / 4));
    this.timer = setInterval(() => void this.pass(), pause);
    this.timer.unref();
  }

  /** One pass: touch what was read, then remove what is inactive or over `max_size`. */
  async pass(now = Date.now()): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const { store } = this.zone;
      const touched = [...this.zone.touched];
      this.zone.touched.clear();
      const at = new Date(now);
      for (const hash of touched) await fsp.utimes(store.fileOf(hash), at, at).catch(() => {});
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
        total += f.size;
        if (!temp) kept.push(f);
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
    } finally {
      this.running = false;
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
