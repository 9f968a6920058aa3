/**
 * A zone's entries on disk (the disk is the truth every worker shares): read with one open
 * and one stat for a small entry (its head says its length; the stat is the identity of the
 * version kept in this worker's memory, memory.ts, which serves the next hits), written to a temporary file in
 * the entry's directory and renamed into place once whole, so a reader sees an old entry or
 * a new one, never half of one. A file that is not an entry, names another key or is shorter
 * than it says is a miss. A directory that cannot be written is one error line; responses go
 * on uncached.
 */
import { createReadStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../../../types';
import { bodyLengthField, decodeHead, decodeMeta, encodeHead, HEAD_SIZE, MAGIC, type CachedEntry, type EntryMeta } from './entry';
import { entryPath } from './key';
import { budgetOf, EntryMemory, identityOf, MAX_ENTRY } from './memory';
import type { CachePathConf } from './module';

/** Entries whose head and body fit in this are read in one go (and kept in memory). */
const WHOLE_READ = MAX_ENTRY;

/** A response being copied into the cache: `end` renames it into place, `abort` drops it. */
export interface EntryWriter {
  write(chunk: Buffer): void;
  end(): void;
  abort(): void;
  /** Settles once the entry is in place or dropped. */
  readonly done: Promise<void>;
}

/** A read of an entry file under way, shared by the reads of the same entry meanwhile. */
interface Reading {
  readonly key: string;
  read: Promise<CachedEntry | null>;
}

let sequence = 0;

/** One `proxy_cache_path` zone's files. */
export class DiskStore {
  private failing = false;
  /**
   * Entries of this worker whose body is whole but whose file is not yet in place: a read of
   * one waits for it, as nginx's entry is in place by the time its client has the last byte.
   */
  private readonly finishing = new Map<string, Promise<void>>();
  /** The small entries read, kept in this worker's memory beside their files. */
  private readonly memory: EntryMemory;
  /** The reads of entry files under way, by hash: a read of the same entry meanwhile shares it. */
  private readonly reading = new Map<string, Reading>();

  constructor(
    readonly conf: CachePathConf,
    private readonly log: Logger,
  ) {
    this.memory = new EntryMemory(budgetOf(conf.zoneSize));
  }

  /** The entry file of a hash. */
  fileOf(hash: string): string {
    return entryPath(this.conf.dir, this.conf.levels, hash);
  }

  /**
   * The entry of `hash` for `key` kept in memory, for a fresh hit, if its file is still the
   * one it was read from (checked at most every `RECHECK_MS`) and no write of it by this worker
   * is finishing; else null (`read` looks on disk). In the same turn.
   */
  readNow(hash: string, key: string, now: number): CachedEntry | null {
    return this.finishing.has(hash) ? null : this.memory.recent(hash, key, now);
  }

  /**
   * The entry of `hash` if it is on disk, whole, and stored for `key`; null otherwise. Reads of
   * the same entry at once share one read of the file (the requests in flight when a kept entry
   * is found changed would otherwise each open it).
   */
  async read(hash: string, key: string): Promise<CachedEntry | null> {
    const pending = this.finishing.get(hash);
    if (pending) await pending;
    const kept = this.memory.get(hash, key);
    if (kept) return kept;
    const current = this.reading.get(hash);
    if (current !== undefined && current.key === key) return current.read;
    const reading: Reading = { key, read: Promise.resolve(null) };
    this.reading.set(hash, reading);
    reading.read = this.readFile(hash, key, reading).finally(() => {
      if (this.reading.get(hash) === reading) this.reading.delete(hash);
    });
    return reading.read;
  }

  /**
   * One read of the entry file of `hash`, kept in memory when small, unless the entry was
   * replaced or removed by this worker meanwhile (`reading` is no longer the current read: what
   * it read may be the old file).
   */
  private async readFile(hash: string, key: string, reading: Reading): Promise<CachedEntry | null> {
    const file = this.fileOf(hash);
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(file, 'r');
    } catch {
      return null;
    }
    try {
      // The identity before the bytes: a change after it makes the kept entry's next stat differ.
      const stat = await handle.stat();
      const first = Buffer.allocUnsafe(WHOLE_READ);
      const { bytesRead } = await handle.read(first, 0, WHOLE_READ, 0);
      const lengths = decodeHead(first.subarray(0, bytesRead));
      if (!lengths) return null;
      const bodyOffset = HEAD_SIZE + lengths.metaLength;
      const total = bodyOffset + lengths.bodyLength;
      let metaBytes: Buffer;
      if (bodyOffset <= bytesRead) metaBytes = first.subarray(HEAD_SIZE, bodyOffset);
      else {
        metaBytes = Buffer.allocUnsafe(lengths.metaLength);
        const more = await handle.read(metaBytes, 0, lengths.metaLength, HEAD_SIZE);
        if (more.bytesRead !== lengths.metaLength) return null;
      }
      const meta = decodeMeta(metaBytes, key);
      if (!meta) return null;
      if (total <= WHOLE_READ) {
        // Exactly as long as it says: a shorter or longer file is not this entry.
        if (bytesRead !== total) return null;
        const entry = { meta, file, bodyLength: lengths.bodyLength, body: Buffer.from(first.subarray(bodyOffset, total)), stream: () => createReadStream(file) };
        if (stat.size === total && this.reading.get(hash) === reading) this.memory.keep(hash, entry, identityOf(stat), total);
        return entry;
      }
      if (stat.size !== total) return null;
      return { meta, file, bodyLength: lengths.bodyLength, body: null, stream: () => createReadStream(file, { start: bodyOffset, end: total - 1 }) };
    } catch {
      return null;
    } finally {
      await handle.close().catch(() => {});
    }
  }

  /** A writer for a new entry of `hash`; a directory that cannot be written drops it (said once). */
  writer(hash: string, meta: EntryMeta): EntryWriter {
    const file = this.fileOf(hash);
    const temp = `${file}.${process.pid}.${++sequence}.tmp`;
    let handle: fsp.FileHandle | null = null;
    let broken = false;
    const fail = (err: unknown) => {
      if (!broken) this.failed(err, temp);
      broken = true;
    };
    const head = encodeHead(meta, 0);
    let chain: Promise<unknown> = fsp
      .mkdir(path.dirname(file), { recursive: true })
      .then(() => fsp.open(temp, 'w', 0o600))
      .then((h) => {
        handle = h;
        this.failing = false;
        return h.write(head, 0, head.length, 0);
      })
      .catch(fail);
    let position = head.length;
    let length = 0;
    const close = () => (handle ? handle.close().catch(() => {}) : undefined);
    const drop = () => {
      broken = true;
      chain = chain.then(close).then(() => handle && fsp.unlink(temp)).catch(() => {}).then(settle);
    };
    let settle!: () => void;
    const done = new Promise<void>((resolve) => (settle = resolve));
    return {
      done,
      write: (chunk) => {
        if (broken) return;
        const at = position;
        position += chunk.length;
        length += chunk.length;
        chain = chain
          .then(async () => {
            if (!broken) await handle!.write(chunk, 0, chunk.length, at);
          })
          .catch(fail);
      },
      end: () => {
        if (broken) return drop();
        this.finishing.set(hash, done);
        void done.then(() => {
          if (this.finishing.get(hash) === done) this.finishing.delete(hash);
        });
        const field = bodyLengthField(length);
        chain = chain
          .then(async () => {
            if (!broken) await handle!.write(field, 0, field.length, MAGIC.length);
          })
          .catch(fail)
          .then(close)
          .then(() => (broken ? handle && fsp.unlink(temp) : fsp.rename(temp, file)))
          .then(() => this.forget(hash))
          .catch((err) => {
            fail(err);
            return fsp.unlink(temp).catch(() => {});
          })
          .then(settle);
      },
      abort: drop,
    };
  }

  /** Writes `entry` again with new metadata (a revalidation's new validity), its body kept. */
  async rewrite(hash: string, entry: CachedEntry, meta: EntryMeta): Promise<void> {
    const writer = this.writer(hash, meta);
    try {
      if (entry.body) writer.write(entry.body);
      else for await (const chunk of entry.stream()) writer.write(chunk as Buffer);
      writer.end();
    } catch {
      writer.abort();
    }
    await writer.done;
  }

  /** Removes an entry (a corrupted one, one the manager expires). */
  async remove(hash: string): Promise<void> {
    await fsp.unlink(this.fileOf(hash)).catch(() => {});
    this.forget(hash);
  }

  /**
   * Forgets what this worker keeps of `hash` (its file was replaced or removed): the copy in
   * memory, and a read under way, which a later read does not share (it may have read the old file).
   */
  forget(hash: string): void {
    this.memory.forget(hash);
    this.reading.delete(hash);
  }

  private failed(err: unknown, file: string): void {
    if (this.failing) return;
    this.failing = true;
    const e = err as NodeJS.ErrnoException;
    this.log.error(`${e.syscall ?? 'open'}() "${e.path ?? file}" failed (${e.errno ? -e.errno : 0}: ${e.message.replace(/^[A-Z]+: /, '').replace(/, \w+ .*$/, '')}), responses of cache "${this.conf.name}" are not stored`);
  }
}
