/**
 * The open file cache and the file access layer in process, on real files with a fake clock:
 * LRU and `inactive` eviction, `open_file_cache_valid` revalidation by stat, `min_uses`,
 * `open_file_cache_errors`, and the `disable_symlinks from=` arithmetic.
 */
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileAccess, symlinksFrom, type OpenedFile } from '../src/shared/file-access';
import { OpenFileCache, SMALL_FILE_MAX } from '../src/shared/open-file-cache';

const noVariables = { evaluate: () => '' };

describe('OpenFileCache', () => {
  let now = 0;
  const entry = { info: null, error: null, content: null, uses: 1 };

  test('the least recently used entry goes when max is reached', () => {
    const cache = new OpenFileCache(2, 60_000, () => now);
    cache.store('a', entry);
    cache.store('b', entry);
    expect(cache.lookup('a')).toBeDefined();
    cache.store('c', entry);
    expect([cache.lookup('a') !== undefined, cache.lookup('b'), cache.lookup('c') !== undefined]).toEqual([true, undefined, true]);
    expect(cache.size).toBe(2);
  });
  test('repeated lookups of the newest entry keep the order exact', () => {
    const cache = new OpenFileCache(2, 60_000, () => now);
    cache.store('a', entry);
    cache.store('b', entry);
    cache.lookup('a');
    cache.lookup('a');
    cache.lookup('b');
    cache.lookup('b');
    cache.store('c', entry);
    expect([cache.lookup('a'), cache.lookup('b') !== undefined, cache.lookup('c') !== undefined]).toEqual([undefined, true, true]);
  });
  test('an entry unused for inactive is dropped; lookups count uses', () => {
    now = 0;
    const cache = new OpenFileCache(10, 1000, () => now);
    cache.store('a', entry);
    now = 500;
    expect(cache.lookup('a')?.uses).toBe(2);
    now = 1400;
    expect(cache.lookup('a')?.uses).toBe(3);
    now = 2500;
    expect(cache.lookup('a')).toBeUndefined();
    expect(cache.size).toBe(0);
  });
  test('fresh for valid after the last check', () => {
    now = 0;
    const cache = new OpenFileCache(10, 60_000, () => now);
    const stored = cache.store('a', entry);
    now = 99;
    expect(cache.fresh(stored, 100)).toBe(true);
    now = 100;
    expect(cache.fresh(stored, 100)).toBe(false);
    cache.validated(stored);
    expect(cache.fresh(stored, 100)).toBe(true);
  });
});

describe('FileAccess with a cache', () => {
  let dir: string;
  let now = 0;
  const file = () => path.join(dir, 'small.txt');
  const access = (options: { validMs?: number; minUses?: number; cacheErrors?: boolean } = {}) =>
    new FileAccess({
      disableSymlinks: 'off',
      from: null,
      cache: new OpenFileCache(10, 60_000, () => now),
      validMs: options.validMs ?? 1000,
      minUses: options.minUses ?? 1,
      cacheErrors: options.cacheErrors ?? false,
    });
  const text = async (opened: OpenedFile) => {
    if (opened.content) return opened.content.toString();
    const data = await opened.fh.readFile();
    await opened.fh.close();
    return data.toString();
  };
  beforeEach(() => {
    now = 0;
    dir = mkdtempSync(path.join(os.tmpdir(), 'gateway-ofc-'));
    writeFileSync(file(), 'one');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('a small file is kept whole: within valid it is served even once deleted', async () => {
    const files = access();
    const first = await files.open(file(), noVariables);
    expect([first.content?.toString(), first.fh]).toEqual(['one', null]);
    unlinkSync(file());
    now = 999;
    expect(await text(await files.open(file(), noVariables))).toBe('one');
    now = 1000;
    await expect(files.open(file(), noVariables)).rejects.toMatchObject({ code: 'ENOENT' });
  });
  test('past valid one stat revalidates: unchanged keeps the content, changed reads it again', async () => {
    const files = access();
    await files.open(file(), noVariables);
    now = 1500;
    const same = await files.open(file(), noVariables);
    expect(same.content?.toString()).toBe('one');
    writeFileSync(file(), 'two!');
    now = 1600;
    expect(await text(await files.open(file(), noVariables))).toBe('one');
    now = 2600;
    expect(await text(await files.open(file(), noVariables))).toBe('two!');
  });
  test('min_uses: the content is kept from the Nth use on', async () => {
    const files = access({ minUses: 3 });
    const opened = [];
    for (let i = 0; i < 3; i++) opened.push(await files.open(file(), noVariables));
    expect(opened.map((o) => o.content !== null)).toEqual([false, false, true]);
    await Promise.all(opened.map((o) => o.fh?.close()));
  });
  test('a file above the small size is always an open descriptor', async () => {
    writeFileSync(file(), Buffer.alloc(SMALL_FILE_MAX + 1, 'x'));
    const files = access();
    for (let i = 0; i < 2; i++) {
      const opened = await files.open(file(), noVariables);
      expect([opened.content, opened.info.size]).toEqual([null, SMALL_FILE_MAX + 1]);
      await opened.fh?.close();
    }
  });
  test('open_file_cache_errors: a missing file stays missing within valid; off, it is looked up again', async () => {
    const missing = path.join(dir, 'later.txt');
    const withErrors = access({ cacheErrors: true });
    const without = access();
    for (const files of [withErrors, without]) await expect(files.probe(missing, noVariables)).rejects.toMatchObject({ code: 'ENOENT' });
    writeFileSync(missing, 'here');
    await expect(withErrors.probe(missing, noVariables)).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await without.probe(missing, noVariables)).size).toBe(4);
    now = 1000;
    expect((await withErrors.probe(missing, noVariables)).isFile).toBe(true);
  });
});

describe('symlinksFrom (nginx disable_symlinks_from)', () => {
  test.each([
    ['/var/www/a.html', '/var/www', 8],
    ['/var/www/a.html', '/var/www/', 8],
    ['/var/www/a.html', '/var/w', 0],
    ['/var/www/a.html', '/srv', 0],
    ['/var/www', '/var/www', -1],
    ['/var/www/a.html', '', 0],
  ])('%s from %s', (file, from, expected) => expect(symlinksFrom(file, from)).toBe(expected));
});
