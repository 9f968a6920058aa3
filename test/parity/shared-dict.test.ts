/**
 * ngx.shared.DICT against OpenResty itself: one scenario (`shared-dict-scenario.lua`) run by
 * nginx-extras 1.22's Lua module in a 64k `lua_shared_dict`, and the same calls, line for line,
 * on the gateway's table of the same size. Every line must match, except the counts that depend
 * on the allocator (how many 100-byte entries a 64k dict holds: nginx's slab pages against the
 * gateway's size classes), which are compared loosely.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { DictTable } from '../../src/shared/dict/dict-table';
import { createSharedMemory } from '../../src/shared/native';
import type { SharedDictValue } from '../../src/types';
import { findNginx } from './pair';
import { freePort } from '../helpers/ports';

const SCENARIO = path.join(__dirname, 'shared-dict-scenario.lua');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Lua's tostring of each result, joined by spaces, as the scenario's `say`. */
function say(out: string[], ...values: unknown[]): void {
  out.push(values.map((v) => (v === null || v === undefined ? 'nil' : typeof v === 'number' && Number.isInteger(v) ? String(v) : String(v))).join(' '));
}

/** OpenResty's multiple results of a write, an incr, a push, a get with flags, a value or nil and err. */
const w = (r: { ok: boolean; err: string | null; forcible: boolean }) => [r.ok, r.err, r.forcible];
const inc = (r: { value: number | null; err: string | null; forcible: boolean }) => (r.value === null ? [null, r.err] : [r.value, null, r.forcible]);
const push = (r: { length: number | null; err: string | null }) => (r.length === null ? [null, r.err] : [r.length]);
const entry = (r: { value: SharedDictValue; flags: number; stale?: boolean } | null, stale = false) => (r === null ? [null] : stale ? [r.value, r.flags, r.stale] : r.flags ? [r.value, r.flags] : [r.value]);
const orErr = <T>(fn: () => T): unknown[] => {
  try {
    return [fn()];
  } catch (err) {
    return [null, (err as Error).message];
  }
};

/** The scenario's calls on the gateway's table. */
async function gatewayScenario(d: DictTable): Promise<string[]> {
  const o: string[] = [];
  say(o, 'incr-missing', ...inc(d.incr('c', 1)));
  say(o, 'incr-init', ...inc(d.incr('c', 1, 10)));
  say(o, 'incr-frac', inc(d.incr('c', 0.5))[0]);
  say(o, 'incr-neg', inc(d.incr('c', -20))[0]);
  d.set('s', 'text');
  say(o, 'incr-string', ...inc(d.incr('s', 1)));
  say(o, 'add-exists', ...w(d.add('s', 'x')));
  say(o, 'replace-missing', ...w(d.replace('nope', 'x')));
  say(o, 'safe-add', ...w(d.safeAdd('sa', 'v')));
  say(o, 'set-flags', ...w(d.set('f', 'val', 0, 42)));
  say(o, 'get-flags', ...entry(d.getEntry('f')));
  say(o, 'get-missing', d.get('nope'));
  say(o, 'set-number', d.set('n', 3.25).ok, d.get('n'));
  say(o, 'set-bool', d.set('b', false).ok, d.get('b'));
  say(o, 'set-nil', d.set('b', null).ok, d.get('b'));
  say(o, 'ttl-forever', d.ttl('f'));
  say(o, 'ttl-missing', ...(d.ttl('nope') === null ? [null, 'not found'] : [d.ttl('nope')]));
  say(o, 'expire-missing', ...(d.expire('nope', 1) ? [true] : [null, 'not found']));
  say(o, 'expire', d.expire('f', 100));
  d.flushAll();
  d.set('k1', 1);
  d.set('k2', 2);
  d.set('k3', 3);
  d.get('k1');
  say(o, 'keys', d.getKeys().join(','));
  say(o, 'keys-max', d.getKeys(2).join(','));
  say(o, 'rpush', ...push(d.rpush('l', 'b')));
  say(o, 'lpush', ...push(d.lpush('l', 'a')));
  say(o, 'rpush-num', ...push(d.rpush('l', 3)));
  say(o, 'llen', d.llen('l'));
  say(o, 'get-list', ...orErr(() => d.get('l')));
  say(o, 'lpop', d.lpop('l'));
  say(o, 'rpop', d.rpop('l'));
  say(o, 'rpop', d.rpop('l'));
  say(o, 'rpop-empty', d.rpop('l'));
  say(o, 'llen-missing', d.llen('l'));
  say(o, 'lpush-string', ...push(d.lpush('k1', 'x')));
  say(o, 'llen-string', ...orErr(() => d.llen('k1')));
  say(o, 'lpop-string', ...orErr(() => d.lpop('k1')));
  d.flushAll();
  say(o, 'keys-flushed', d.getKeys(0).length);
  say(o, 'stale', ...entry(d.getStale('k2'), true));
  say(o, 'add-over-expired', ...w(d.add('k2', 'new')));
  say(o, 'replace-expired', ...w(d.replace('k3', 'x')));
  say(o, 'incr-expired', ...inc(d.incr('k3', 1)));
  say(o, 'incr-expired-init', ...inc(d.incr('k3', 1, 5)));
  say(o, 'flush-expired', d.flushExpired());
  let forcible = 0;
  const big = 'x'.repeat(100);
  for (let i = 1; i <= 1000; i++) {
    if (d.set(`e${i}`, big).forcible) forcible++;
    if (i === 150) d.get('e1');
  }
  say(o, 'evict-e1-touched', d.get('e1') !== null, 'e2', d.get('e2') !== null, 'e1000', d.get('e1000') !== null);
  say(o, 'safe-set-full', ...w(d.safeSet('z', big)));
  say(o, 'held', d.getKeys(0).length, 'forcible', forcible);
  say(o, 'capacity', d.capacity(), 'free', d.freeSpace());
  d.set('st', 'old', 0.05, 3);
  await sleep(100);
  say(o, 'stale-ttl', ...entry(d.getStale('st'), true));
  d.set('st2', 'v2', 0, 4);
  d.flushAll();
  say(o, 'stale-flushed', ...entry(d.getStale('st2'), true));
  say(o, 'ttl-frac', d.set('tt', 1, 1.5).ok, d.ttl('tt')!.toFixed(1));
  return o;
}

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/' }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

/** Lines whose numbers depend on the allocator: the gateway's may differ from nginx's. */
const ALLOCATOR_LINES = new Set(['held', 'capacity', 'safe-set-full']);

describe('ngx.shared.DICT parity with OpenResty (nginx-extras)', () => {
  test('the scenario gives the same lines', async () => {
    const prefix = mkdtempSync(path.join(os.tmpdir(), 'gateway-shdict-'));
    mkdirSync(path.join(prefix, 'logs'));
    const port = await freePort();
    writeFileSync(path.join(prefix, 'nginx.conf'), `
load_module /usr/share/nginx/modules/ndk_http_module.so;
load_module /usr/share/nginx/modules/ngx_http_lua_module.so;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log;
daemon off;
master_process off;
events {}
http {
  lua_shared_dict d 64k;
  access_log off;
  server { listen 127.0.0.1:${port}; location / { content_by_lua_file ${SCENARIO}; } }
}
`);
    const nginx = spawn(findNginx(), ['-p', prefix, '-c', path.join(prefix, 'nginx.conf')], { stdio: 'ignore' });
    try {
      let lua = '';
      for (let i = 0; i < 50 && !lua; i++) {
        await sleep(100);
        lua = await get(port).catch(() => '');
      }
      const { mapping } = createSharedMemory('parity', 64 * 1024);
      const ours = await gatewayScenario(new DictTable('d', mapping.memory, mapping));
      const theirs = lua.trimEnd().split('\n');
      expect(ours.length).toBe(theirs.length);
      const strict = (lines: string[]) => lines.filter((l) => !ALLOCATOR_LINES.has(l.split(' ')[0]));
      expect(strict(ours)).toEqual(strict(theirs));
      // Both evict the least recently used: the oldest keys went, the newest stayed; neither holds more than its size.
      const held = (lines: string[]) => Number(lines.find((l) => l.startsWith('held '))!.split(' ')[1]);
      expect(held(ours)).toBeGreaterThan(held(theirs) / 2);
      expect(held(ours)).toBeLessThan(held(theirs) * 2);
      expect(ours.find((l) => l.startsWith('safe-set-full'))).toBe(theirs.find((l) => l.startsWith('safe-set-full')));
    } finally {
      nginx.kill('SIGTERM');
      rmSync(prefix, { recursive: true, force: true });
    }
  });
});
