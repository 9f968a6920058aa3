/**
 * Where an entry lives, as nginx lays its cache out: the md5 of the key in hex is the file
 * name, and `levels=1:2` takes the subdirectory names from the end of it
 * (`/cache/c/29/b7f54b2df7773722d382f4809d65029c`). Pure.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';

/** The md5 of a cache key, in hex (nginx's file name). */
export function keyHash(key: string): string {
  return createHash('md5').update(key).digest('hex');
}

/** The entry file of a hash under `dir` with `levels`. */
export function entryPath(dir: string, levels: readonly number[], hash: string): string {
  const parts: string[] = [];
  let end = hash.length;
  for (const level of levels) {
    parts.push(hash.slice(end - level, end));
    end -= level;
  }
  return path.join(dir, ...parts, hash);
}
