/**
 * The cache manager (src/modules/proxy/cache/manager.ts) on a real directory: `inactive` and
 * `max_size` as nginx's manager applies them (an entry's file time is its last use; the least
 * recently used go first), the entries a worker served kept from `inactive`, and one walker per
 * directory however many workers manage it (the lease), taken over when its holder goes quiet.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CacheManager, LEASE_FILE } from '../src/modules/proxy/cache/manager';
import type { CachePathConf } from '../src/modules/proxy/cache/module';
import { DiskStore } from '../src/modules/proxy/cache/store';
import type { Logger } from '../src/types';

const log = { error() {}, warn() {}, notice() {}, info() {}, debug() {}, crit() {}, alert() {}, emerg() {} } as unknown as Logger;
const MIN = 60_000;
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'gw-cache-manager-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function storeOf(conf: Partial<CachePathConf> = {}): DiskStore {
  return new DiskStore({ name: 'z', dir, levels: [1, 2], zoneSize: 1024 * 1024, inactive: 10 * MIN, maxSize: 0, useTempPath: true, managerSleep: 50, ...conf }, log);
}

/** An entry file of `size` bytes last used at `usedAt` (ms since the epoch). */
function entry(hash: string, size: number, usedAt: number): void {
  const sub = path.join(dir, hash.slice(-1), hash.slice(-3, -1));
  mkdirSync(sub, { recursive: true });
  const file = path.join(sub, hash);
  writeFileSync(file, Buffer.alloc(size));
  utimesSync(file, usedAt / 1000, usedAt / 1000);
}

/** The entries left, sorted. */
function entries(): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
    .filter((e) => e.isFile() && !e.name.endsWith('.lock'))
    .map((e) => e.name)
    .sort();
}

const hash = (n: number) => n.toString(16).padStart(32, '0');

test('inactive: an entry unused that long is removed, a recent one and one served since the last pass stay', async () => {
  const now = Date.now();
  entry(hash(1), 10, now - 11 * MIN);
  entry(hash(2), 10, now - 11 * MIN);
  entry(hash(3), 10, now - MIN);
  const zone = { store: storeOf(), touched: new Set([hash(2)]) };
  await new CacheManager(zone, 1, false).pass(now);
  expect(entries()).toEqual([hash(2), hash(3)]);
});

test('max_size: past it, the least recently used go until it fits', async () => {
  const now = Date.now();
  for (let i = 1; i <= 5; i++) entry(hash(i), 1000, now - (10 - i) * 1000);
  const zone = { store: storeOf({ maxSize: 3000 }), touched: new Set<string>() };
  await new CacheManager(zone, 1, false).pass(now);
  expect(entries()).toEqual([hash(3), hash(4), hash(5)]);
});

test('two workers on one directory: one walks; the other takes over once the lease is stale', async () => {
  const now = Date.now();
  const store = storeOf();
  const a = new CacheManager({ store, touched: new Set() }, 101, false);
  const b = new CacheManager({ store, touched: new Set() }, 102, false);
  for (let pass = 0; pass < 3; pass++) {
    await a.pass(now + pass * 100_000);
    await b.pass(now + pass * 100_000);
  }
  expect([a.walks, b.walks]).toEqual([3, 0]);
  // The holder is gone: after a few passes without it, the other walks.
  entry(hash(7), 10, now - 20 * MIN);
  const later = now + 1_000_000;
  utimesSync(path.join(dir, LEASE_FILE), (later - 10_000) / 1000, (later - 10_000) / 1000);
  await b.pass(later);
  expect(b.walks).toBe(1);
  expect(entries()).toEqual([]);
  await a.pass(later + 100);
  expect(a.walks).toBe(3);
});

test('a walk waits for some multiple of the last one: passes in quick succession walk once', async () => {
  for (let i = 0; i < 300; i++) entry(hash(i), 10, Date.now());
  const m = new CacheManager({ store: storeOf(), touched: new Set() }, 1, false);
  const now = Date.now();
  await m.pass(now);
  await m.pass(now + 1);
  expect(m.walks).toBe(1);
  await m.pass(now + 10 * MIN);
  expect(m.walks).toBe(2);
});
