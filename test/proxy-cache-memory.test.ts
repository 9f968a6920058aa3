/**
 * proxy_cache entries kept in a worker's memory (cache/memory.ts, cache/prepared-head.ts):
 * the memory holds what was read, within its budget, least recently served dropped first, and
 * never outlives its file's version; the gateway (one worker, real backend) serves a hit from
 * memory with the same head and body as from disk, and sees an entry another process replaced,
 * removed or corrupted on disk within the recheck bound (never a wrong body).
 */
import { createHash } from 'node:crypto';
import { promises as fsPromises, mkdtempSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import http, { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { EntryMeta } from '../src/modules/proxy/cache/entry';
import { budgetOf, ENTRY_OVERHEAD, EntryMemory, identityOf, MAX_ENTRY, RECHECK_MS } from '../src/modules/proxy/cache/memory';
import { prepareHead, preparedHeadOf, setPreparedHead } from '../src/modules/proxy/cache/prepared-head';
import { keyHash } from '../src/modules/proxy/cache/key';
import type { CachedEntry } from '../src/modules/proxy/cache/entry';
import { DiskStore } from '../src/modules/proxy/cache/store';
import type { Logger } from '../src/types';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { closeServer, listen, portOf, request, until } from './helpers/proxy-peers';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('EntryMemory', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'cache-memory-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** An entry of `bytes` body bytes, in a file of its own. */
  function entryOn(name: string, bytes: number, key = name): { entry: CachedEntry; file: string } {
    const file = path.join(dir, name);
    const body = Buffer.alloc(bytes, 'a');
    writeFileSync(file, body);
    const meta: EntryMeta = { key, status: 200, reason: 'OK', headers: [], validUntil: Date.now() + 60_000, storedAt: Date.now(), lastModified: null, etag: null, vary: [] };
    return { entry: { meta, file, bodyLength: bytes, body, stream: () => { throw new Error('not streamed'); } }, file };
  }
  const keep = (memory: EntryMemory, name: string, bytes: number) => {
    const { entry, file } = entryOn(name, bytes);
    memory.keep(name, entry, identityOf(statSync(file)), bytes);
    return entry;
  };

  test('keeps what was read; forgets it once its file is replaced, changed in place or removed', async () => {
    const memory = new EntryMemory(budgetOf(0));
    const entry = keep(memory, 'a', 100);
    expect(memory.get('a', 'a')).toBe(entry);
    expect(memory.get('a', 'another key')).toBeNull();
    // Replaced by a rename (another worker's new entry): a new inode.
    const next = path.join(dir, 'a.next');
    writeFileSync(next, Buffer.alloc(100, 'b'));
    renameSync(next, path.join(dir, 'a'));
    expect(memory.get('a', 'a')).toBeNull();
    expect(memory.size).toBe(0);
    // Changed in place, same size.
    keep(memory, 'b', 100);
    // File times tick with the kernel's coarse clock (a few ms): a write a tick later shows.
    await sleep(20);
    writeFileSync(path.join(dir, 'b'), Buffer.alloc(100, 'c'));
    expect(memory.get('b', 'b')).toBeNull();
    // Removed.
    keep(memory, 'c', 100);
    unlinkSync(path.join(dir, 'c'));
    expect(memory.get('c', 'c')).toBeNull();
  });

  test('a fresh hit looks at the file at most every RECHECK_MS; a lookup with `get` always does', async () => {
    const memory = new EntryMemory(budgetOf(0));
    const entry = keep(memory, 'r', 10);
    const now = Date.now();
    unlinkSync(path.join(dir, 'r'));
    expect(memory.recent('r', 'r', now)).toBe(entry);
    expect(memory.recent('r', 'r', now + RECHECK_MS)).toBeNull();
    keep(memory, 's', 10);
    unlinkSync(path.join(dir, 's'));
    expect(memory.get('s', 's')).toBeNull();
  });

  test('bounded: entries over MAX_ENTRY are not kept; past the budget (each entry with its overhead) the least recently served go first', () => {
    const memory = new EntryMemory(budgetOf(0));
    keep(memory, 'big', MAX_ENTRY + 1);
    expect(memory.size).toBe(0);
    const size = 60 * 1024;
    const count = Math.floor(budgetOf(0) / (size + ENTRY_OVERHEAD));
    for (let i = 0; i < count; i++) keep(memory, `e${i}`, size);
    expect(memory.size).toBe(count * (size + ENTRY_OVERHEAD));
    // e0 served again: e1 is now the least recently served.
    expect(memory.get('e0', 'e0')).not.toBeNull();
    keep(memory, 'one-more', size);
    expect(memory.size).toBeLessThanOrEqual(budgetOf(0));
    expect(memory.get('e0', 'e0')).not.toBeNull();
    expect(memory.get('e1', 'e1')).toBeNull();
    expect(memory.get('one-more', 'one-more')).not.toBeNull();
  });

  test('the budget follows keys_zone, within 1 MiB and 64 MiB', () => {
    expect([budgetOf(1024), budgetOf(10 * 1024 * 1024), budgetOf(1024 * 1024 * 1024)]).toEqual([1024 * 1024, 10 * 1024 * 1024, 64 * 1024 * 1024]);
  });
});

describe('DiskStore reads', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'cache-store-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const lines: string[] = [];
  const log: Logger = { debug: () => {}, info: () => {}, notice: () => {}, warn: () => {}, error: (m) => lines.push(m), crit: (m) => lines.push(m) };
  const key = 'http://backend/a';
  const meta: EntryMeta = { key, status: 200, reason: 'OK', headers: ['Content-Type', 'text/plain'], validUntil: Date.now() + 60_000, storedAt: Date.now(), lastModified: null, etag: null, vary: [] };

  async function store(disk: DiskStore, hash: string, body: string): Promise<void> {
    const writer = disk.writer(hash, meta);
    writer.write(Buffer.from(body));
    writer.end();
    await writer.done;
  }

  test('reads of one entry at once share one read of its file; the next come from memory; a new entry is read anew', async () => {
    const disk = new DiskStore({ name: 'z', dir, levels: [1, 2], zoneSize: 1024 * 1024, inactive: 600_000, maxSize: 0, useTempPath: true, managerSleep: 50 }, log);
    const hash = keyHash(key);
    await store(disk, hash, 'first');
    const open = jest.spyOn(fsPromises, 'open');
    try {
      const reads = await Promise.all(Array.from({ length: 20 }, () => disk.read(hash, key)));
      expect(open).toHaveBeenCalledTimes(1);
      expect(reads.every((r) => r === reads[0])).toBe(true);
      expect(reads[0]!.body!.toString()).toBe('first');
      expect((await disk.read(hash, key))!.body!.toString()).toBe('first');
      expect(open).toHaveBeenCalledTimes(1);
      await store(disk, hash, 'second');
      open.mockClear();
      expect((await disk.read(hash, key))!.body!.toString()).toBe('second');
      expect(open.mock.calls.filter(([file]) => String(file).endsWith(hash))).toHaveLength(1);
    } finally {
      open.mockRestore();
    }
    expect(lines).toEqual([]);
  });

  test('a read begun before this worker replaced the entry is not kept in memory (a fresh hit would serve the old one)', async () => {
    const disk = new DiskStore({ name: 'z', dir, levels: [1, 2], zoneSize: 1024 * 1024, inactive: 600_000, maxSize: 0, useTempPath: true, managerSleep: 50 }, log);
    const hash = keyHash(`${key}/race`);
    const raceMeta = { ...meta, key: `${key}/race` };
    const write = async (body: string) => {
      const writer = disk.writer(hash, raceMeta);
      writer.write(Buffer.from(body));
      writer.end();
      await writer.done;
    };
    await write('old');
    // The first read opens the old file, then waits before its stat until the new entry is in place.
    const realOpen = fsPromises.open.bind(fsPromises);
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let opened = false;
    const open = jest.spyOn(fsPromises, 'open').mockImplementationOnce(async (...args: Parameters<typeof fsPromises.open>) => {
      const handle = await realOpen(...args);
      const stat = handle.stat.bind(handle);
      handle.stat = (async (options?: { bigint?: false }) => {
        await gate;
        return stat(options);
      }) as typeof handle.stat;
      opened = true;
      return handle;
    });
    try {
      const first = disk.read(hash, `${key}/race`);
      expect(await until(() => opened)).toBe(true);
      open.mockRestore();
      await write('new');
      release();
      expect((await first)?.body?.toString()).toBe('old');
      expect(disk.readNow(hash, `${key}/race`, Date.now())?.body?.toString() ?? null).toBeNull();
      expect((await disk.read(hash, `${key}/race`))?.body?.toString()).toBe('new');
      expect(disk.readNow(hash, `${key}/race`, Date.now())?.body?.toString()).toBe('new');
    } finally {
      open.mockRestore();
      release();
    }
  });
});

describe('prepared head', () => {
  /** The raw head a Node server sends after `respond`. */
  async function rawHead(respond: (res: ServerResponse) => void): Promise<string[]> {
    const server = createServer((_req, res) => {
      res.setHeader('X-Before', 'set first');
      respond(res);
      res.writeHead(200);
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      return await new Promise<string[]>((resolve, reject) => {
        http.get({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', agent: false }, (res) => {
          res.resume();
          resolve(res.rawHeaders.filter((_, i, all) => !/^date$/i.test(all[i - (i % 2)])));
        }).on('error', reject);
      });
    } finally {
      server.close();
    }
  }

  const lines = [['Content-Type', 'text/plain'], ['X-Multi', 'a'], ['x-before', 'upstream'], ['X-MULTI', 'b'], ['Cache-Control', 'max-age=60']] as const;

  test('goes out as appendHeader of each line would, repeats and names the response had included', async () => {
    const head = prepareHead({}, lines, new Set())!;
    expect(head.rewritable).toBe(false);
    const prepared = await rawHead((res) => setPreparedHead(res, head));
    const appended = await rawHead((res) => {
      for (const [name, value] of lines) res.appendHeader(name, value);
    });
    expect(prepared).toEqual(appended);
    expect(prepared.join('|')).toContain('X-Before|set first|X-Before|upstream|Content-Type|text/plain|X-Multi|a|X-Multi|b|Cache-Control|max-age=60');
  });

  test('made once per entry and location: two locations serving one entry keep their own', () => {
    const entry = {};
    const [first, second] = [{}, {}];
    let made = 0;
    const of = (owner: object, hidden: string) => preparedHeadOf(entry, owner, () => (made++, lines.filter(([name]) => name.toLowerCase() !== hidden)), new Set());
    const heads = [of(first, 'x-multi'), of(second, 'content-type'), of(first, 'x-multi'), of(second, 'content-type')];
    expect(made).toBe(2);
    expect(heads[2]).toBe(heads[0]);
    expect(heads[3]).toBe(heads[1]);
    expect(heads[0]!.lines.map(([name]) => name)).not.toContain('X-Multi');
    expect(heads[1]!.lines.map(([name]) => name)).toContain('X-Multi');
  });

  test('a line Node would refuse is not prepared; a line the location rewrites is noted', () => {
    expect(prepareHead({}, [['X-Bad', 'a\u0000b']], new Set())).toBeNull();
    expect(prepareHead({}, [['Location', '/x']], new Set(['location']))!.rewritable).toBe(true);
  });
});

/** What the backend saw, by path. */
const seen = new Map<string, number>();
const backend = http.createServer((req, res) => {
  const url = req.url ?? '/';
  const n = (seen.get(url) ?? 0) + 1;
  seen.set(url, n);
  const headers: [string, string][] = [['Content-Type', 'text/plain'], ['X-Multi', 'one'], ['X-Multi', 'two'], ['X-Accel-Expires', '60'], ['Server', 'backend']];
  if (url.startsWith('/moved')) headers.push(['Location', `http://127.0.0.1:${portOf(backend)}/moved/there`]);
  res.writeHead(200, headers.flat());
  res.end(`${url} #${n}`);
});

const conf = (backendPort: number) => `
worker_processes 1;
error_log stderr info;
events {}
http {
  access_log logs/access.log;
  proxy_cache_path cache levels=1:2 keys_zone=mem:1m;
  server {
    listen 127.0.0.1:0;
    add_header X-Cache $upstream_cache_status always;
    add_header X-Multi added;
    location / {
      proxy_pass http://127.0.0.1:${backendPort};
      proxy_cache mem;
      proxy_cache_valid 200 1m;
    }
    location /moved/ {
      proxy_pass http://127.0.0.1:${backendPort};
      proxy_cache mem;
      proxy_redirect http://127.0.0.1:${backendPort}/moved/ /elsewhere/;
    }
    location /server/ {
      proxy_pass http://127.0.0.1:${backendPort};
      proxy_cache mem;
      proxy_pass_header Server;
    }
  }
}
`;

/** One response's status line and raw headers (Date left out) and body. */
function rawGet(port: number, uri: string): Promise<{ head: string[]; body: string; cache: string }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: uri, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const head = [`${res.statusCode} ${res.statusMessage}`];
        for (let i = 0; i < res.rawHeaders.length; i += 2) if (!/^date$/i.test(res.rawHeaders[i])) head.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
        resolve({ head, body: Buffer.concat(chunks).toString(), cache: String(res.headers['x-cache']) });
      });
    }).on('error', reject);
  });
}

describe('a hit from memory in the gateway process', () => {
  let gw: GatewayProcess;
  let port: number;

  beforeAll(async () => {
    await listen(backend);
    gw = await startGateway(conf(portOf(backend)), { confName: 'test.conf', files: { 'logs/.keep': '' } });
    port = gw.ports[0];
  });
  afterAll(async () => {
    await gw?.stop();
    await closeServer(backend);
  });

  const entryFile = (uri: string) => {
    const hash = createHash('md5').update(`http://127.0.0.1:${portOf(backend)}${uri}`).digest('hex');
    return path.join(gw.prefix, 'cache', hash.slice(-1), hash.slice(-3, -1), hash);
  };
  /** A MISS, then hits until the entry is in the worker's memory (the first hit reads the disk). */
  async function stored(uri: string): Promise<void> {
    expect((await rawGet(port, uri)).cache).toBe('MISS');
    expect(await until(() => statSync(entryFile(uri), { throwIfNoEntry: false }) !== undefined)).toBe(true);
    for (let i = 0; i < 2; i++) expect((await rawGet(port, uri)).cache).toBe('HIT');
  }

  test.each(['/same', '/moved/here', '/server/s'])('%s: the same status line, header lines and body from memory as from disk', async (uri) => {
    expect((await rawGet(port, uri)).cache).toBe('MISS');
    expect(await until(() => statSync(entryFile(uri), { throwIfNoEntry: false }) !== undefined)).toBe(true);
    const fromDisk = await rawGet(port, uri);
    const fromMemory = await rawGet(port, uri);
    expect(fromDisk.cache).toBe('HIT');
    expect(fromMemory).toEqual(fromDisk);
    expect(fromMemory.body).toBe(`${uri} #1`);
    // proxy_redirect rewrites the Location (per request, on the prepared lines).
    if (uri.startsWith('/moved')) expect(fromMemory.head.join('\n')).toMatch(/^Location: http:\/\/127\.0\.0\.1:\d+\/elsewhere\/there$/m);
  });

  test('an entry replaced on disk (as another worker renames its new one into place) is served new within the recheck bound', async () => {
    await stored('/replaced');
    const file = entryFile('/replaced');
    const next = Buffer.from(readFileSync(file).toString('latin1').replace('/replaced #1', '/replaced #9'), 'latin1');
    writeFileSync(`${file}.new`, next);
    renameSync(`${file}.new`, file);
    await sleep(RECHECK_MS + 50);
    const after = await rawGet(port, '/replaced');
    expect([after.cache, after.body]).toEqual(['HIT', '/replaced #9']);
  });

  test('an entry removed on disk (a purge, another worker`s manager) is a MISS within the recheck bound', async () => {
    await stored('/removed');
    unlinkSync(entryFile('/removed'));
    await sleep(RECHECK_MS + 50);
    const after = await rawGet(port, '/removed');
    expect([after.cache, after.body]).toEqual(['MISS', '/removed #2']);
  });

  test('an entry corrupted in place is never a wrong body: the kept one until the recheck, then a MISS', async () => {
    await stored('/corrupt');
    const file = entryFile('/corrupt');
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length - 2));
    const soon = await rawGet(port, '/corrupt');
    expect(['/corrupt #1', '/corrupt #2']).toContain(soon.body);
    await sleep(RECHECK_MS + 50);
    const after = await rawGet(port, '/corrupt');
    expect(after.body).toBe('/corrupt #2');
  });
});
