/**
 * `disable_symlinks` and `open_file_cache` with the gateway as a process. Statuses and log
 * lines for symlinks are what nginx 1.22 gives for the same tree and configuration: a link as
 * the last component is ELOOP (403), a link as a directory component is ENOTDIR (404).
 */
import { lchownSync, mkdirSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { request } from './helpers/http-client';

const SITE = `
error_log: stderr info
pid: off
http:
  access_log: "off"
  default_type: text/plain
  servers:
    - listen: "127.0.0.1:0"
      root: site
      locations:
        - { location: /sl/, disable_symlinks: "on" }
        - { location: /slo/, disable_symlinks: if_not_owner }
        - { location: /sltf/, disable_symlinks: "on", try_files: $uri =404 }
        - { location: /slgz/, disable_symlinks: "on", gzip_static: "on" }
        - { location: /plain/ }
        - { location: /lr/, root: linkroot, disable_symlinks: "on" }
        - { location: /lr2/, root: linkroot, disable_symlinks: "on from=$document_root" }
        - location: /cache/
          open_file_cache: max=100 inactive=1m
          open_file_cache_valid: 1m
          open_file_cache_errors: "on"
        - location: /fresh/
          open_file_cache: max=100 inactive=1m
          open_file_cache_valid: 100ms
`;

const BIG = Buffer.alloc(200 * 1024, 'b');
const FILES = {
  'site/sl/real.txt': 'real\n',
  'site/sl/idx/real.html': 'index target\n',
  'site/sltf/real.txt': 'real\n',
  'site/slgz/a.txt': 'plain\n',
  'site/slgz/real.gz': 'not really gzip',
  'site/slo/real.txt': 'real\n',
  'site/plain/real.txt': 'real\n',
  'site/dir/f.txt': 'in dir\n',
  'realroot/lr/a.txt': 'lr\n',
  'realroot/lr2/a.txt': 'lr2\n',
  'site/cache/a.txt': 'one',
  'site/cache/big.bin': BIG,
  'site/cache/r.txt': '0123456789',
  'site/cache/d/index.html': 'cached index\n',
  'site/fresh/a.txt': 'one',
};

describe('static directives', () => {
  let gw: GatewayProcess;
  let port: number;
  const at = (p: string) => path.join(gw.prefix, p);
  beforeAll(async () => {
    gw = await startGateway(SITE, { files: FILES });
    port = gw.ports[0];
    symlinkSync('real.txt', at('site/sl/link.txt'));
    symlinkSync('real.txt', at('site/sltf/link.txt'));
    symlinkSync('real.txt', at('site/plain/link.txt'));
    symlinkSync('real.gz', at('site/slgz/a.txt.gz'));
    symlinkSync('real.html', at('site/sl/idx/index.html'));
    symlinkSync('../dir', at('site/sl/dirlink'));
    symlinkSync('../dir', at('site/slo/dirlink'));
    symlinkSync('real.txt', at('site/slo/theirs.txt'));
    symlinkSync('realroot', at('linkroot'));
    if (process.getuid?.() === 0) lchownSync(at('site/slo/theirs.txt'), 65534, 65534);
  });
  afterAll(() => gw.stop());

  /** The worker's log reaches the test through the master: wait for a line. */
  const logged = async (text: string) => {
    for (let i = 0; i < 100 && !gw.stderr().includes(text); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(gw.stderr()).toContain(text);
  };
  const get = async (uri: string, headers: Record<string, string> = {}, method = 'GET') => {
    const r = await request(port, uri, { headers, method });
    return { status: r.status, body: r.body.toString(), headers: r.headers };
  };

  describe('disable_symlinks', () => {
    test('on: a file reached through no link is served', async () => {
      expect(await get('/sl/real.txt')).toMatchObject({ status: 200, body: 'real\n' });
    });
    test('on: a link as the last component is 403, logged as nginx logs it', async () => {
      expect((await get('/sl/link.txt')).status).toBe(403);
      await logged(`openat() "${at('site/sl/link.txt')}" failed (40: Too many levels of symbolic links)`);
    });
    test('on: a link as a directory component is 404 (ENOTDIR)', async () => {
      expect((await get('/sl/dirlink/f.txt')).status).toBe(404);
      await logged(`openat() "${at('site/sl/dirlink/f.txt')}" failed (20: Not a directory)`);
    });
    test('on: an index file that is a link is 403', async () => {
      expect((await get('/sl/idx/')).status).toBe(403);
    });
    test('off (the default) follows links', async () => {
      expect(await get('/plain/link.txt')).toMatchObject({ status: 200, body: 'real\n' });
    });
    test('the root itself through a link: refused, unless from= leaves it unchecked', async () => {
      expect((await get('/lr/a.txt')).status).toBe(404);
      expect(await get('/lr2/a.txt')).toMatchObject({ status: 200, body: 'lr2\n' });
    });
    test('try_files skips a link (logged), then its fallback answers', async () => {
      expect(await get('/sltf/real.txt')).toMatchObject({ status: 200, body: 'real\n' });
      expect((await get('/sltf/link.txt')).status).toBe(404);
      await logged(`[crit]`);
      await logged(`openat() "${at('site/sltf/link.txt')}" failed (40: Too many levels of symbolic links)`);
    });
    test('gzip_static does not take a .gz that is a link; the file is served', async () => {
      const r = await get('/slgz/a.txt', { 'Accept-Encoding': 'gzip' });
      expect([r.status, r.headers['content-encoding'], r.body]).toEqual([200, undefined, 'plain\n']);
    });
    test('if_not_owner: a link owned as its target is followed, another owner is 403', async () => {
      expect(await get('/slo/dirlink/f.txt')).toMatchObject({ status: 200, body: 'in dir\n' });
      if (process.getuid?.() !== 0) return; // changing a link's owner needs root
      expect((await get('/slo/theirs.txt')).status).toBe(403);
    });
  });

  describe('open_file_cache', () => {
    test('a changed file is seen once open_file_cache_valid (100ms here) has passed', async () => {
      expect((await get('/fresh/a.txt')).body).toBe('one');
      writeFileSync(at('site/fresh/a.txt'), 'two, longer');
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(await get('/fresh/a.txt')).toMatchObject({ status: 200, body: 'two, longer', headers: { 'content-length': '11' } });
      writeFileSync(at('site/fresh/a.txt'), 'six, longer');
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect((await get('/fresh/a.txt')).body).toBe('six, longer');
    });
    test('within open_file_cache_valid a small file comes from memory: not even deleting it shows', async () => {
      const first = await get('/cache/a.txt');
      expect(first).toMatchObject({ status: 200, body: 'one' });
      unlinkSync(at('site/cache/a.txt'));
      const again = await get('/cache/a.txt');
      expect([again.status, again.body, again.headers.etag, again.headers['last-modified']]).toEqual([200, 'one', first.headers.etag, first.headers['last-modified']]);
    });
    test('HEAD, 304 and ranges from memory', async () => {
      const whole = await get('/cache/r.txt');
      const head = await get('/cache/r.txt', {}, 'HEAD');
      expect([head.status, head.headers['content-length'], head.body]).toEqual([200, '10', '']);
      expect((await get('/cache/r.txt', { 'If-None-Match': String(whole.headers.etag) })).status).toBe(304);
      expect(await get('/cache/r.txt', { Range: 'bytes=2-4' })).toMatchObject({ status: 206, body: '234' });
      const multi = await get('/cache/r.txt', { Range: 'bytes=0-0,8-' });
      expect(multi.status).toBe(206);
      const boundary = /boundary=(\d+)/.exec(String(multi.headers['content-type']))![1];
      expect(multi.body).toBe(
        `\r\n--${boundary}\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-0/10\r\n\r\n0` +
          `\r\n--${boundary}\r\nContent-Type: text/plain\r\nContent-Range: bytes 8-9/10\r\n\r\n89\r\n--${boundary}--\r\n`,
      );
      expect(multi.headers['content-length']).toBe(String(Buffer.byteLength(multi.body)));
    });
    test('a large file is streamed, whole or in ranges', async () => {
      const r = await request(port, '/cache/big.bin');
      expect([r.status, r.body.equals(BIG)]).toEqual([200, true]);
      expect((await get('/cache/big.bin', { Range: 'bytes=204799-' })).body).toBe('b');
    });
    test('open_file_cache_errors on: a missing file stays missing within the validity', async () => {
      expect((await get('/cache/later.txt')).status).toBe(404);
      writeFileSync(at('site/cache/later.txt'), 'now here');
      expect((await get('/cache/later.txt')).status).toBe(404);
    });
    test('directories: the redirect and the index', async () => {
      expect((await get('/cache/d')).status).toBe(301);
      expect(await get('/cache/d/')).toMatchObject({ status: 200, body: 'cached index\n' });
      mkdirSync(at('site/cache/e'));
      expect((await get('/cache/e/')).status).toBe(403);
    });
  });
});
