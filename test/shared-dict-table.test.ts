/**
 * The shared dictionary's table (`src/shared/dict/dict-table.ts`) over plain memory: OpenResty's
 * ngx.shared.DICT calls one by one, expiry on a clock the test moves, LRU eviction when full
 * (set evicts and says `forcible`, safe_set says `no memory`), never past its size, lists, and a
 * lock whose holder died in the middle of a write.
 */
import { DictTable, MIN_DICT_SIZE } from '../src/shared/dict/dict-table';
import { createSharedMemory, mapShared } from '../src/shared/native';

let clock = 1_000_000;
const lock = { died: false, lock() { const d = this.died; this.died = false; return d; }, unlock() {} };

function table(size = 64 * 1024, memory = new ArrayBuffer(size), recovered: string[] = []): DictTable {
  return new DictTable('d', memory, lock, (what) => recovered.push(what), () => clock);
}

describe('shared dict table', () => {
  test('get, set, flags, types, delete', () => {
    const d = table();
    expect(d.get('a')).toBeNull();
    expect(d.set('a', 'hello', 0, 7)).toEqual({ ok: true, err: null, forcible: false });
    expect(d.get('a')).toBe('hello');
    expect(d.getEntry('a')).toEqual({ value: 'hello', flags: 7, stale: false });
    d.set('n', 3.5);
    d.set('t', true);
    d.set('f', false);
    d.set('u', 'héllo ✓');
    expect([d.get('n'), d.get('t'), d.get('f'), d.get('u')]).toEqual([3.5, true, false, 'héllo ✓']);
    d.set('a', 'a much longer value than the first one, so it takes another block');
    expect(d.get('a')).toBe('a much longer value than the first one, so it takes another block');
    d.set('a', null);
    expect(d.get('a')).toBeNull();
    d.delete('n');
    expect(d.get('n')).toBeNull();
    expect(d.size()).toBe(3);
    expect(() => d.get('')).toThrow('empty key');
    expect(() => d.get('x'.repeat(65536))).toThrow('key too long');
    expect(() => d.set('k', {} as never)).toThrow('bad value type');
    expect(() => d.set('k', 'v', -1)).toThrow('bad "exptime" argument');
  });

  test('add, replace, safe_add', () => {
    const d = table();
    expect(d.add('k', 1).ok).toBe(true);
    expect(d.add('k', 2)).toEqual({ ok: false, err: 'exists', forcible: false });
    expect(d.replace('missing', 1)).toEqual({ ok: false, err: 'not found', forcible: false });
    expect(d.replace('k', 5).ok).toBe(true);
    expect(d.get('k')).toBe(5);
    expect(d.safeAdd('j', 'x').ok).toBe(true);
  });

  test('ttl, expire, get_stale, add over an expired key, flush_all, flush_expired', () => {
    const d = table();
    d.set('k', 'v', 2);
    expect(d.ttl('k')).toBeCloseTo(2, 3);
    clock += 500;
    expect(d.ttl('k')).toBeCloseTo(1.5, 3);
    expect(d.ttl('missing')).toBeNull();
    d.set('forever', 1);
    expect(d.ttl('forever')).toBe(0);
    clock += 1500;
    expect(d.get('k')).toBeNull();
    expect(d.getStale('k')).toEqual({ value: 'v', flags: 0, stale: true });
    expect(d.replace('k', 'w').err).toBe('not found');
    expect(d.add('k', 'w').ok).toBe(true);
    expect(d.expire('k', 0.1)).toBe(true);
    expect(d.expire('missing', 1)).toBe(false);
    clock += 100;
    expect(d.get('k')).toBeNull();
    expect(d.expire('forever', 10)).toBe(true);
    expect(d.ttl('forever')).toBeCloseTo(10, 3);
    for (const k of ['x', 'y', 'z']) d.set(k, k);
    // flush_all: every entry expires; up to three at the LRU tail are freed at once, as OpenResty's.
    d.flushAll();
    expect(d.get('forever')).toBeNull();
    expect(d.getKeys(0)).toEqual([]);
    expect(d.size()).toBe(2);
    expect(d.flushExpired(1)).toBe(1);
    expect(d.flushExpired()).toBe(1);
    expect(d.size()).toBe(0);
  });

  test('incr: a number, init and init_ttl, not found, not a number', () => {
    const d = table();
    expect(d.incr('c', 1)).toEqual({ value: null, err: 'not found', forcible: false });
    expect(d.incr('c', 1, 10, 1)).toEqual({ value: 11, err: null, forcible: false });
    expect(d.incr('c', -2.5, 10)).toEqual({ value: 8.5, err: null, forcible: false });
    expect(d.ttl('c')).toBeCloseTo(1, 3);
    clock += 1000;
    expect(d.incr('c', 1, 0).value).toBe(1);
    expect(d.ttl('c')).toBe(0);
    d.set('s', 'text');
    expect(d.incr('s', 1).err).toBe('not a number');
  });

  test('get_keys: live keys, least recently used first (as OpenResty 1.22 lists them), max', () => {
    const d = table();
    for (const k of ['a', 'b', 'c']) d.set(k, k);
    d.get('a');
    expect(d.getKeys()).toEqual(['b', 'c', 'a']);
    expect(d.getKeys(2)).toEqual(['b', 'c']);
  });

  test('lists: lpush, rpush, lpop, rpop, llen; a list is not a value', () => {
    const d = table();
    expect(d.rpush('l', 'b')).toEqual({ length: 1, err: null });
    expect(d.lpush('l', 'a').length).toBe(2);
    expect(d.rpush('l', 3).length).toBe(3);
    expect(d.llen('l')).toBe(3);
    expect(() => d.get('l')).toThrow('value is a list');
    expect(d.lpop('l')).toBe('a');
    expect(d.rpop('l')).toBe(3);
    expect(d.rpop('l')).toBe('b');
    expect(d.rpop('l')).toBeNull();
    expect(d.llen('l')).toBe(0);
    expect(d.size()).toBe(0);
    // A list emptied from its right end is freed once: its element's block is not handed out twice.
    d.rpush('r', 'only');
    expect(d.rpop('r')).toBe('only');
    d.set('p', '1');
    d.set('q', '2');
    expect([d.get('p'), d.get('q')]).toEqual(['1', '2']);
    expect(d.freeSpace()).toBeGreaterThan(0);
    d.set('v', 'x');
    expect(d.lpush('v', 'y')).toEqual({ length: null, err: 'value not a list' });
    expect(() => d.llen('v')).toThrow('value not a list');
  });

  test('full: set evicts the least recently used (forcible), safe_set and safe_add refuse; the size never grows', () => {
    const d = table(MIN_DICT_SIZE);
    const value = 'x'.repeat(100);
    let n = 0;
    while (d.set(`k${n}`, value).forcible === false) n++;
    // k0 was evicted to make room for k<n>; every later key evicted in order.
    expect(d.get('k0')).toBeNull();
    expect(d.get(`k${n}`)).toBe(value);
    expect(n).toBeGreaterThan(20);
    d.get('k1');
    const next = d.set('new', value);
    expect(next.forcible).toBe(true);
    expect(d.get('k1')).toBe(value);
    expect(d.get('k2')).toBeNull();
    expect(d.safeSet('other', value)).toEqual({ ok: false, err: 'no memory', forcible: false });
    expect(d.safeAdd('other', value).err).toBe('no memory');
    expect(d.freeSpace()).toBeLessThan(256);
    expect(d.capacity()).toBe(MIN_DICT_SIZE);
    // A value larger than the whole dict: no memory, after evicting at most 30 entries.
    const before = d.size();
    expect(d.set('huge', 'y'.repeat(MIN_DICT_SIZE)).err).toBe('no memory');
    expect(before - d.size()).toBeLessThanOrEqual(30);
  });

  test('expired entries at the tail go before valid ones', () => {
    const d = table(MIN_DICT_SIZE);
    const value = 'x'.repeat(100);
    d.set('old', value, 1);
    let n = 0;
    while (d.freeSpace() >= 256) d.set(`k${n++}`, value);
    clock += 1000;
    expect(d.set('new', value).forcible).toBe(false);
    expect(d.get('k0')).toBe(value);
  });

  test('freed memory is reused: a larger block is split for smaller values', () => {
    const d = table(MIN_DICT_SIZE);
    d.set('big', 'z'.repeat(2000));
    const free = d.freeSpace();
    d.delete('big');
    for (let i = 0; i < 10; i++) d.set(`s${i}`, 'v');
    expect(d.freeSpace()).toBeGreaterThan(free);
  });

  test('a process that died holding the lock: a clean table is kept, a half-written one is emptied', () => {
    const memory = new ArrayBuffer(MIN_DICT_SIZE);
    const recovered: string[] = [];
    const d = table(MIN_DICT_SIZE, memory, recovered);
    d.set('k', 'v');
    lock.died = true;
    expect(d.get('k')).toBe('v');
    expect(recovered).toEqual([]);
    new Int32Array(memory)[23] = 1; // the dirty flag a write in the middle leaves
    lock.died = true;
    expect(d.get('k')).toBeNull();
    expect(recovered[0]).toMatch(/died holding the lock of shared dict "d" while writing; the dict was emptied/);
    d.set('k', 'again');
    expect(d.get('k')).toBe('again');
  });

  test('two mappings of one memory file see the same table', () => {
    const { fd, mapping } = createSharedMemory('test', MIN_DICT_SIZE);
    const a = new DictTable('d', mapping.memory, mapping);
    const second = mapShared(fd, MIN_DICT_SIZE);
    const b = new DictTable('d', second.memory, second);
    a.set('k', 'from a');
    expect(b.get('k')).toBe('from a');
    b.incr('n', 2, 40);
    expect(a.get('n')).toBe(42);
  });
});
