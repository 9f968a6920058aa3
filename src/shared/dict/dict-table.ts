/**
 * One shared dictionary laid out in one block of memory (OpenResty's `lua_shared_dict`): a hash
 * table of nodes, an LRU list through them, and an allocator, all at fixed offsets in the block,
 * so that every process that maps the same memory reads and writes the same table. Every call
 * takes the block's lock (`DictLock`) for its whole length, as OpenResty's take the zone's mutex:
 * calls are synchronous and atomic with respect to every worker.
 *
 * Layout (byte offsets; all 32-bit fields, so a dict is under 2 GiB):
 * - 0: the lock's own 64 bytes (a process-shared robust mutex; `dict-memory.ts`);
 * - 64: the header (magic, bucket count, LRU head and tail, bump pointer, heap end, count,
 *   the dirty flag, the free lists, one per block size class);
 * - 256: the buckets, one 32-bit node offset each (0: empty);
 * - then the heap: blocks of 64 << class bytes, carved from a bump pointer; a freed block goes
 *   to its class's free list; a block of a larger class is split when its own class has none.
 *
 * A node: hash-chain next, LRU prev and next, its class, expiry (ms since the epoch, 0: never),
 * hash, the user's flags, the value's type, key and value lengths, a number (or a list's tail and
 * length), then the key's and the value's bytes. A list element is a block of its own.
 */
import type { SharedDict, SharedDictEntry as DictEntry, SharedDictIncrResult as DictIncrResult, SharedDictPushResult, SharedDictValue as DictValue, SharedDictWriteResult as DictWriteResult } from '../../types';

/** What a dictionary's calls lock with. */
export interface DictLock {
  /** Takes the lock; true when its previous holder died holding it (the table may be half written). */
  lock(): boolean;
  unlock(): void;
}

const MAGIC = 0x53484431; // "SHD1"
/** Where the header starts (after the lock), where the buckets start. */
const HEADER = 16; // i32 index of byte 64
const H_MAGIC = HEADER;
const H_BUCKETS = HEADER + 1;
const H_LRU_HEAD = HEADER + 2;
const H_LRU_TAIL = HEADER + 3;
const H_BUMP = HEADER + 4;
const H_HEAP_END = HEADER + 5;
const H_COUNT = HEADER + 6;
const H_DIRTY = HEADER + 7;
const H_HEAP_START = HEADER + 8;
const H_FREE = HEADER + 16; // class free lists: i32 indices 32..63
const CLASSES = 26; // 64 B << 25 = 2 GiB
const BUCKETS_AT = 256;
const MIN_BLOCK = 64;

/** A node's fields, as i32 indices from the node's i32 index. */
const N_NEXT = 0;
const N_PREV = 1;
const N_LRU_NEXT = 2;
const N_CLASS = 3;
/** Expiry: f64 at byte 16. */
const N_HASH = 6;
const N_FLAGS = 7;
const N_TYPE = 8;
const N_KEY_LEN = 9;
const N_VALUE_LEN = 10;
/** A list's head (i32 at byte 44), tail (48), length (52); a number or boolean: f64 at byte 48. */
const N_LIST_HEAD = 11;
const N_LIST_TAIL = 12;
const N_LIST_LEN = 13;
const NODE_HEADER = 56;

/** A list element's fields: next, prev, class, type, length; number at byte 24, bytes at 32. */
const E_NEXT = 0;
const E_PREV = 1;
const E_CLASS = 2;
const E_TYPE = 3;
const E_LEN = 4;
const ELEMENT_HEADER = 32;

const T_STRING = 1;
const T_NUMBER = 2;
const T_BOOLEAN = 3;
const T_LIST = 4;

/** OpenResty's largest key. */
export const MAX_KEY_BYTES = 65535;
/** The smallest dictionary (OpenResty refuses a `lua_shared_dict` of 8191 bytes or less). */
export const MIN_DICT_SIZE = 8192;
/** How many valid entries a write may evict, as OpenResty's. */
const MAX_EVICTIONS = 30;

/** The block class that holds `bytes`. */
function classOf(bytes: number): number {
  let c = 0;
  while (MIN_BLOCK << c < bytes) c++;
  return c;
}

/** A dictionary over `memory`, shared by every process that maps it. */
export class DictTable implements SharedDict {
  private readonly i32: Int32Array;
  private readonly f64: Float64Array;
  private readonly bytes: Buffer;
  private scratch = Buffer.alloc(1024);
  /** The key last encoded into `scratch`: its byte length and hash. */
  private keyLen = 0;
  private keyHash = 0;

  constructor(
    readonly name: string,
    memory: ArrayBuffer,
    private readonly mutex: DictLock,
    /** Told when a process died holding the lock in the middle of a write: the dict was emptied. */
    private readonly onRecovered: (what: string) => void = () => {},
    /** The clock, ms since the epoch (tests move it). */
    private readonly now: () => number = Date.now,
  ) {
    this.i32 = new Int32Array(memory);
    this.f64 = new Float64Array(memory);
    this.bytes = Buffer.from(memory);
    if (this.i32[H_MAGIC] !== MAGIC) this.format();
  }

  /** The dictionary's size in bytes (`capacity`). */
  capacity(): number {
    return this.bytes.length;
  }

  /** Bytes that new entries can still take without evicting: the never-used heap and the free blocks (`free_space`). */
  freeSpace(): number {
    return this.locked(() => {
      let free = this.i32[H_HEAP_END] - this.i32[H_BUMP];
      for (let c = 0; c < CLASSES; c++) for (let b = this.i32[H_FREE + c]; b !== 0; b = this.i32[b >> 2]) free += MIN_BLOCK << c;
      return free;
    });
  }

  /** `get`: the value, or null when missing or expired. */
  get(key: string): DictValue | null {
    this.encodeKey(key);
    this.lock();
    try {
      const node = this.find();
      if (node === 0 || this.expired(node)) return null;
      this.touch(node);
      return this.readValue(node);
    } finally {
      this.mutex.unlock();
    }
  }

  getEntry(key: string): DictEntry | null {
    return this.entry(key, false);
  }

  getStale(key: string): DictEntry | null {
    return this.entry(key, true);
  }

  set(key: string, value: DictValue | null, ttl = 0, flags = 0): DictWriteResult {
    return this.write('set', key, value, ttl, flags, false);
  }

  safeSet(key: string, value: DictValue | null, ttl = 0, flags = 0): DictWriteResult {
    return this.write('set', key, value, ttl, flags, true);
  }

  add(key: string, value: DictValue, ttl = 0, flags = 0): DictWriteResult {
    return this.write('add', key, value, ttl, flags, false);
  }

  safeAdd(key: string, value: DictValue, ttl = 0, flags = 0): DictWriteResult {
    return this.write('add', key, value, ttl, flags, true);
  }

  replace(key: string, value: DictValue, ttl = 0, flags = 0): DictWriteResult {
    return this.write('replace', key, value, ttl, flags, false);
  }

  getKeys(max = 1024): string[] {
    return this.keys(max);
  }

  lpush(key: string, value: string | number): SharedDictPushResult {
    return this.push(key, value, true);
  }

  rpush(key: string, value: string | number): SharedDictPushResult {
    return this.push(key, value, false);
  }

  lpop(key: string): string | number | null {
    return this.pop(key, true);
  }

  rpop(key: string): string | number | null {
    return this.pop(key, false);
  }

  /** `get` with the flags; `stale` tells an expired entry not yet removed (`get_stale`), which only `stale` asks for. */
  private entry(key: string, stale: boolean): DictEntry | null {
    this.encodeKey(key);
    this.lock();
    try {
      const node = this.find();
      if (node === 0) return null;
      const expired = this.expired(node);
      if (expired && !stale) return null;
      if (!expired) this.touch(node);
      return { value: this.readValue(node), flags: this.i32[(node >> 2) + N_FLAGS] >>> 0, stale: expired };
    } finally {
      this.mutex.unlock();
    }
  }

  /**
   * `set`, `safe_set`, `add`, `safe_add`, `replace`: a null value deletes (OpenResty's nil);
   * `ttl` in seconds, 0: never expires. `safe` refuses to evict valid entries (`no memory`).
   */
  private write(mode: 'set' | 'add' | 'replace', key: string, value: DictValue | null, ttl: number, flags: number, safe: boolean): DictWriteResult {
    checkTtl(ttl);
    const data = value === null ? null : encodeValue(value);
    this.encodeKey(key);
    return this.mutating(() => {
      const node = this.find();
      const live = node !== 0 && !this.expired(node);
      if (mode === 'add' && live) return { ok: false, err: 'exists', forcible: false };
      if (mode === 'replace' && !live) return { ok: false, err: 'not found', forcible: false };
      if (data === null) {
        if (node !== 0) this.remove(node);
        return OK;
      }
      const expires = ttl > 0 ? this.now() + ttl * 1000 : 0;
      const need = NODE_HEADER + this.keyLen + data.length;
      if (node !== 0 && this.i32[(node >> 2) + N_TYPE] !== T_LIST && MIN_BLOCK << this.i32[(node >> 2) + N_CLASS] >= need) {
        this.fill(node, data, expires, flags);
        this.touch(node);
        return OK;
      }
      if (node !== 0) this.remove(node);
      const { block, forcible } = this.allocate(need, safe);
      if (block === 0) return { ok: false, err: 'no memory', forcible };
      this.insert(block);
      this.fill(block, data, expires, flags);
      return forcible ? FORCIBLE : OK;
    });
  }

  /** `incr`: adds `by` to a number; a missing (or expired) key starts from `init` when given, with `initTtl`. */
  incr(key: string, by: number, init: number | null = null, initTtl = 0): DictIncrResult {
    checkTtl(initTtl);
    if (typeof by !== 'number' || Number.isNaN(by)) throw new TypeError('cannot add a value that is not a number');
    this.encodeKey(key);
    return this.mutating(() => {
      const node = this.find();
      if (node !== 0 && !this.expired(node)) {
        const n = node >> 2;
        if (this.i32[n + N_TYPE] !== T_NUMBER) return { value: null, err: 'not a number', forcible: false };
        const value = this.f64[(node >> 3) + 6] + by;
        this.f64[(node >> 3) + 6] = value;
        this.touch(node);
        return { value, err: null, forcible: false };
      }
      if (init === null) return { value: null, err: 'not found', forcible: false };
      if (node !== 0) this.remove(node);
      const value = init + by;
      const { block, forcible } = this.allocate(NODE_HEADER + this.keyLen, false);
      if (block === 0) return { value: null, err: 'no memory', forcible };
      this.insert(block);
      this.fill(block, { type: T_NUMBER, number: value, length: 0, text: '' }, initTtl > 0 ? this.now() + initTtl * 1000 : 0, 0);
      return { value, err: null, forcible };
    });
  }

  /** `delete`. */
  delete(key: string): void {
    this.encodeKey(key);
    this.mutating(() => {
      const node = this.find();
      if (node !== 0) this.remove(node);
    });
  }

  /** `ttl`: seconds left (0: never expires), null when missing or expired. */
  ttl(key: string): number | null {
    this.encodeKey(key);
    return this.locked(() => {
      const node = this.find();
      if (node === 0 || this.expired(node)) return null;
      const expires = this.f64[(node >> 3) + 2];
      return expires === 0 ? 0 : Math.max(0, (expires - this.now()) / 1000);
    });
  }

  /** `expire`: sets a live key's ttl (0: never expires); false when missing or expired. */
  expire(key: string, ttl: number): boolean {
    checkTtl(ttl);
    this.encodeKey(key);
    return this.mutating(() => {
      const node = this.find();
      if (node === 0 || this.expired(node)) return false;
      this.f64[(node >> 3) + 2] = ttl > 0 ? this.now() + ttl * 1000 : 0;
      return true;
    });
  }

  /** `flush_all`: every entry expires now; up to three at the LRU tail are freed at once, the others on later writes or `flush_expired` (OpenResty's). */
  flushAll(): void {
    this.mutating(() => {
      for (let node = this.i32[H_LRU_HEAD]; node !== 0; node = this.i32[(node >> 2) + N_LRU_NEXT]) this.f64[(node >> 3) + 2] = 1;
      // As OpenResty's: the tail entries are freed at once (up to three).
      this.evict(true);
    });
  }

  /** `flush_expired`: removes expired entries, at most `max` (0: all); how many went. */
  flushExpired(max = 0): number {
    return this.mutating(() => {
      let removed = 0;
      for (let node = this.i32[H_LRU_TAIL]; node !== 0; ) {
        const prev = this.i32[(node >> 2) + N_PREV];
        if (this.expired(node)) {
          this.remove(node);
          if (++removed === max) break;
        }
        node = prev;
      }
      return removed;
    });
  }

  /** `get_keys`: live keys, least recently used first as OpenResty's, at most `max` (0: all; OpenResty's default 1024). */
  private keys(max: number): string[] {
    return this.locked(() => {
      const out: string[] = [];
      for (let node = this.i32[H_LRU_TAIL]; node !== 0 && (max === 0 || out.length < max); node = this.i32[(node >> 2) + N_PREV]) {
        if (!this.expired(node)) out.push(this.bytes.toString('utf8', node + NODE_HEADER, node + NODE_HEADER + this.i32[(node >> 2) + N_KEY_LEN]));
      }
      return out;
    });
  }

  /** `lpush` / `rpush`: the list's new length; `value is not a list` for a key holding a value. */
  private push(key: string, value: string | number, left: boolean): SharedDictPushResult {
    if (typeof value !== 'string' && typeof value !== 'number') throw new TypeError('a list holds strings and numbers');
    const data = encodeValue(value);
    this.encodeKey(key);
    return this.mutating(() => {
      let node = this.find();
      if (node !== 0 && this.expired(node)) {
        this.remove(node);
        node = 0;
      }
      if (node !== 0 && this.i32[(node >> 2) + N_TYPE] !== T_LIST) return { length: null, err: 'value not a list' };
      if (node === 0) {
        node = this.allocate(NODE_HEADER + this.keyLen, false).block;
        if (node === 0) return { length: null, err: 'no memory' };
        this.insert(node);
        this.fill(node, { type: T_LIST, number: 0, length: 0, text: '' }, 0, 0);
      }
      const n = node >> 2;
      // The list's own node must not be evicted to make room for its element.
      this.unlinkLru(node);
      const element = this.allocate(ELEMENT_HEADER + data.length, false).block;
      this.linkLruHead(node);
      if (element === 0) {
        if (this.i32[n + N_LIST_LEN] === 0) this.remove(node);
        return { length: null, err: 'no memory' };
      }
      const e = element >> 2;
      this.i32[e + E_TYPE] = data.type;
      this.i32[e + E_LEN] = data.length;
      if (data.type === T_NUMBER) this.f64[(element >> 3) + 3] = data.number;
      else this.bytes.write(data.text, element + ELEMENT_HEADER, data.length, 'utf8');
      const head = this.i32[n + N_LIST_HEAD];
      const tail = this.i32[n + N_LIST_TAIL];
      if (left) {
        this.i32[e + E_PREV] = 0;
        this.i32[e + E_NEXT] = head;
        if (head !== 0) this.i32[(head >> 2) + E_PREV] = element;
        else this.i32[n + N_LIST_TAIL] = element;
        this.i32[n + N_LIST_HEAD] = element;
      } else {
        this.i32[e + E_NEXT] = 0;
        this.i32[e + E_PREV] = tail;
        if (tail !== 0) this.i32[(tail >> 2) + E_NEXT] = element;
        else this.i32[n + N_LIST_HEAD] = element;
        this.i32[n + N_LIST_TAIL] = element;
      }
      return { length: ++this.i32[n + N_LIST_LEN], err: null };
    });
  }

  /** `lpop` / `rpop`: the element, null when the list is empty or missing; throws for a key that is not a list. */
  private pop(key: string, left: boolean): string | number | null {
    this.encodeKey(key);
    return this.mutating(() => {
      const node = this.find();
      if (node === 0 || this.expired(node)) return null;
      const n = node >> 2;
      if (this.i32[n + N_TYPE] !== T_LIST) throw new TypeError('value not a list');
      const element = this.i32[n + (left ? N_LIST_HEAD : N_LIST_TAIL)];
      const e = element >> 2;
      const value = this.i32[e + E_TYPE] === T_NUMBER ? this.f64[(element >> 3) + 3] : this.bytes.toString('utf8', element + ELEMENT_HEADER, element + ELEMENT_HEADER + this.i32[e + E_LEN]);
      const next = this.i32[e + (left ? E_NEXT : E_PREV)];
      if (next !== 0) this.i32[(next >> 2) + (left ? E_PREV : E_NEXT)] = 0;
      else this.i32[n + (left ? N_LIST_TAIL : N_LIST_HEAD)] = 0; // the list is empty: both ends
      this.i32[n + (left ? N_LIST_HEAD : N_LIST_TAIL)] = next;
      this.free(element, this.i32[e + E_CLASS]);
      if (--this.i32[n + N_LIST_LEN] === 0) this.remove(node);
      else this.touch(node);
      return value;
    });
  }

  /** `llen`: the list's length, 0 when missing; throws for a key that is not a list. */
  llen(key: string): number {
    this.encodeKey(key);
    return this.locked(() => {
      const node = this.find();
      if (node === 0 || this.expired(node)) return 0;
      if (this.i32[(node >> 2) + N_TYPE] !== T_LIST) throw new TypeError('value not a list');
      return this.i32[(node >> 2) + N_LIST_LEN];
    });
  }

  /** Live and expired entries the table holds (tests, `gateway` diagnostics). */
  size(): number {
    return this.i32[H_COUNT];
  }

  // ---- the table, under the lock ----

  private lock(): void {
    if (this.mutex.lock() && this.i32[H_DIRTY] !== 0) {
      this.format();
      this.onRecovered(`a process died holding the lock of shared dict "${this.name}" while writing; the dict was emptied`);
    }
  }

  private locked<T>(fn: () => T): T {
    this.lock();
    try {
      return fn();
    } finally {
      this.mutex.unlock();
    }
  }

  /** A write: marked dirty while it runs, so a process that dies in the middle leaves a sign of it. */
  private mutating<T>(fn: () => T): T {
    this.lock();
    this.i32[H_DIRTY] = 1;
    try {
      return fn();
    } finally {
      this.i32[H_DIRTY] = 0;
      this.mutex.unlock();
    }
  }

  /** Lays out an empty table (the lock's bytes are left alone). */
  private format(): void {
    const size = this.bytes.length;
    if (size < MIN_DICT_SIZE) throw new RangeError(`shared dict "${this.name}" is smaller than ${MIN_DICT_SIZE} bytes`);
    let buckets = 8;
    while (buckets * 512 < size && buckets < 1 << 20) buckets <<= 1;
    const heapStart = Math.ceil((BUCKETS_AT + buckets * 4) / 8) * 8;
    this.i32.fill(0, HEADER, (BUCKETS_AT >> 2) + buckets);
    this.i32[H_BUCKETS] = buckets;
    this.i32[H_BUMP] = heapStart;
    this.i32[H_HEAP_START] = heapStart;
    this.i32[H_HEAP_END] = Math.min(size, 0x7ffffff8) & ~7;
    this.i32[H_MAGIC] = MAGIC;
  }

  /** Encodes `key` into the scratch buffer with its hash. */
  private encodeKey(key: string): void {
    if (typeof key !== 'string') throw new TypeError('the key must be a string');
    if (key.length === 0) throw new TypeError('empty key');
    if (key.length * 3 > this.scratch.length) this.scratch = Buffer.alloc(Math.min(key.length * 3, MAX_KEY_BYTES * 3));
    const length = this.scratch.write(key, 0, 'utf8');
    if (length > MAX_KEY_BYTES || length === this.scratch.length) throw new TypeError('key too long');
    let h = 0x811c9dc5;
    for (let i = 0; i < length; i++) h = Math.imul(h ^ this.scratch[i], 0x01000193);
    this.keyLen = length;
    this.keyHash = h | 0;
  }

  /** The node of the encoded key, or 0. */
  private find(): number {
    const bucket = (BUCKETS_AT >> 2) + (this.keyHash & (this.i32[H_BUCKETS] - 1));
    for (let node = this.i32[bucket]; node !== 0; node = this.i32[(node >> 2) + N_NEXT]) {
      const n = node >> 2;
      if (this.i32[n + N_HASH] !== this.keyHash || this.i32[n + N_KEY_LEN] !== this.keyLen) continue;
      const at = node + NODE_HEADER;
      let same = true;
      for (let i = 0; i < this.keyLen; i++) {
        if (this.bytes[at + i] !== this.scratch[i]) {
          same = false;
          break;
        }
      }
      if (same) return node;
    }
    return 0;
  }

  private expired(node: number): boolean {
    const expires = this.f64[(node >> 3) + 2];
    return expires !== 0 && expires <= this.now();
  }

  private readValue(node: number): DictValue {
    const n = node >> 2;
    switch (this.i32[n + N_TYPE]) {
      case T_NUMBER:
        return this.f64[(node >> 3) + 6];
      case T_BOOLEAN:
        return this.f64[(node >> 3) + 6] !== 0;
      case T_LIST:
        throw new TypeError('value is a list');
      default: {
        const at = node + NODE_HEADER + this.i32[n + N_KEY_LEN];
        return this.bytes.toString('utf8', at, at + this.i32[n + N_VALUE_LEN]);
      }
    }
  }

  /** Writes the encoded key and `data` into `node`. */
  private fill(node: number, data: Encoded, expires: number, flags: number): void {
    const n = node >> 2;
    this.i32[n + N_HASH] = this.keyHash;
    this.i32[n + N_KEY_LEN] = this.keyLen;
    this.i32[n + N_FLAGS] = flags | 0;
    this.i32[n + N_TYPE] = data.type;
    this.i32[n + N_VALUE_LEN] = data.length;
    this.f64[(node >> 3) + 2] = expires;
    this.scratch.copy(this.bytes, node + NODE_HEADER, 0, this.keyLen);
    if (data.type === T_STRING) this.bytes.write(data.text, node + NODE_HEADER + this.keyLen, data.length, 'utf8');
    else if (data.type === T_LIST) {
      this.i32[n + N_LIST_HEAD] = 0;
      this.i32[n + N_LIST_TAIL] = 0;
      this.i32[n + N_LIST_LEN] = 0;
    } else this.f64[(node >> 3) + 6] = data.number;
  }

  /** Links a new node into its bucket and at the head of the LRU list. */
  private insert(node: number): void {
    const bucket = (BUCKETS_AT >> 2) + (this.keyHash & (this.i32[H_BUCKETS] - 1));
    this.i32[(node >> 2) + N_NEXT] = this.i32[bucket];
    this.i32[bucket] = node;
    this.linkLruHead(node);
    this.i32[H_COUNT]++;
  }

  /** Unlinks a node from its bucket and the LRU list, frees it and its list's elements. */
  private remove(node: number): void {
    const n = node >> 2;
    const bucket = (BUCKETS_AT >> 2) + (this.i32[n + N_HASH] & (this.i32[H_BUCKETS] - 1));
    if (this.i32[bucket] === node) this.i32[bucket] = this.i32[n + N_NEXT];
    else {
      let at = this.i32[bucket];
      while (this.i32[(at >> 2) + N_NEXT] !== node) at = this.i32[(at >> 2) + N_NEXT];
      this.i32[(at >> 2) + N_NEXT] = this.i32[n + N_NEXT];
    }
    this.unlinkLru(node);
    if (this.i32[n + N_TYPE] === T_LIST) {
      for (let e = this.i32[n + N_LIST_HEAD]; e !== 0; ) {
        const next = this.i32[(e >> 2) + E_NEXT];
        this.free(e, this.i32[(e >> 2) + E_CLASS]);
        e = next;
      }
    }
    this.free(node, this.i32[n + N_CLASS]);
    this.i32[H_COUNT]--;
  }

  /** Makes a node the most recently used. */
  private touch(node: number): void {
    if (this.i32[H_LRU_HEAD] === node) return;
    this.unlinkLru(node);
    this.linkLruHead(node);
  }

  private linkLruHead(node: number): void {
    const n = node >> 2;
    const head = this.i32[H_LRU_HEAD];
    this.i32[n + N_PREV] = 0;
    this.i32[n + N_LRU_NEXT] = head;
    if (head !== 0) this.i32[(head >> 2) + N_PREV] = node;
    else this.i32[H_LRU_TAIL] = node;
    this.i32[H_LRU_HEAD] = node;
  }

  private unlinkLru(node: number): void {
    const n = node >> 2;
    const prev = this.i32[n + N_PREV];
    const next = this.i32[n + N_LRU_NEXT];
    if (prev !== 0) this.i32[(prev >> 2) + N_LRU_NEXT] = next;
    else this.i32[H_LRU_HEAD] = next;
    if (next !== 0) this.i32[(next >> 2) + N_PREV] = prev;
    else this.i32[H_LRU_TAIL] = prev;
  }

  /**
   * A block of at least `bytes`, as OpenResty allocates a node: the expired entries at the LRU
   * tail go first (two at most); then, unless `safe`, the least recently used entries, valid or
   * not, one at a time, at most 30 (`forcible` when a valid one went). 0: no room.
   */
  private allocate(bytes: number, safe: boolean): { block: number; forcible: boolean } {
    const c = classOf(bytes);
    this.evict(false);
    let block = this.take(c);
    let forcible = false;
    for (let i = 0; block === 0 && !safe && i < MAX_EVICTIONS && this.i32[H_LRU_TAIL] !== 0; i++) {
      forcible = this.evict(true) || forcible;
      block = this.take(c);
    }
    return { block, forcible };
  }

  /**
   * OpenResty's `ngx_http_lua_shdict_expire`: removes expired entries from the LRU tail, two at
   * most; with `force`, the tail entry first whatever it is, then two more if expired. True when a
   * valid entry went.
   */
  private evict(force: boolean): boolean {
    let forced = false;
    for (let n = force ? 0 : 1; n < 3; n++) {
      const tail = this.i32[H_LRU_TAIL];
      if (tail === 0) break;
      const expired = this.expired(tail);
      if (n !== 0 && !expired) break;
      if (!expired) forced = true;
      this.remove(tail);
    }
    return forced;
  }

  /** A free block of class `c`: its free list, a larger free block split, or the bump pointer. */
  private take(c: number): number {
    const size = MIN_BLOCK << c;
    let block = this.i32[H_FREE + c];
    if (block !== 0) {
      this.i32[H_FREE + c] = this.i32[block >> 2];
    } else {
      let larger = c + 1;
      while (larger < CLASSES && this.i32[H_FREE + larger] === 0) larger++;
      if (larger < CLASSES) {
        block = this.i32[H_FREE + larger];
        this.i32[H_FREE + larger] = this.i32[block >> 2];
        // Its upper halves go to the free lists below it.
        for (let k = larger - 1; k >= c; k--) this.free(block + (MIN_BLOCK << k), k);
      } else {
        const bump = this.i32[H_BUMP];
        if (bump + size > this.i32[H_HEAP_END] || bump + size < 0) return 0;
        block = bump;
        this.i32[H_BUMP] = bump + size;
      }
    }
    this.i32[(block >> 2) + N_CLASS] = c;
    return block;
  }

  private free(block: number, c: number): void {
    this.i32[block >> 2] = this.i32[H_FREE + c];
    this.i32[(block >> 2) + N_CLASS] = c;
    this.i32[H_FREE + c] = block;
  }
}

interface Encoded {
  readonly type: number;
  readonly number: number;
  readonly length: number;
  readonly text: string;
}

const OK: DictWriteResult = Object.freeze({ ok: true, err: null, forcible: false });
const FORCIBLE: DictWriteResult = Object.freeze({ ok: true, err: null, forcible: true });

function encodeValue(value: DictValue): Encoded {
  switch (typeof value) {
    case 'string':
      return { type: T_STRING, number: 0, length: Buffer.byteLength(value, 'utf8'), text: value };
    case 'number':
      return { type: T_NUMBER, number: value, length: 0, text: '' };
    case 'boolean':
      return { type: T_BOOLEAN, number: value ? 1 : 0, length: 0, text: '' };
    default:
      throw new TypeError(`bad value type ${value === null ? 'null' : typeof value}`);
  }
}

function checkTtl(ttl: number): void {
  if (typeof ttl !== 'number' || !(ttl >= 0)) throw new RangeError('bad "exptime" argument');
}
