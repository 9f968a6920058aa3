/**
 * The slice module (`slice 256k`, `proxy_set_header Range $slice_range`) against the real
 * `bin/gateway` and a loopback backend that honours Range (a file of 3,000,000 bytes: 12
 * slices, the last one short): a whole GET is a 200 of the whole built from one Range per
 * slice; a ranged GET is a 206 that fetched only the slices it needs; with proxy_cache each
 * slice is its own entry (a second GET is a HIT per slice, `log_subrequest on`); a slow client
 * holds the slices back (backpressure); a backend that ignores Range is passed through (200);
 * an ETag that changes, a wrong Content-Range, a slice that is not a 206 cut the response with
 * nginx's line; a client that leaves mid-stream leaves no descriptor behind.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { expectLogged, startGateway, type GatewayProcess } from './helpers/gateway-process';
import { closeServer, listen, portOf, until } from './helpers/proxy-peers';
import { fdTotal, workerPids } from './helpers/push-clients';

const SLICE = 256 * 1024;
const DATA = randomBytes(3_000_000);
const SMALL = DATA;
/** Larger than what the kernel's socket buffers on loopback absorb (about 4 MiB): 64 slices. */
const BIG = randomBytes(64 * SLICE);

/** The Range header of each backend request, by path. */
const ranges = new Map<string, string[]>();
const rangesOf = (p: string) => ranges.get(p) ?? [];

const backend = http.createServer((req, res) => {
  const url = req.url ?? '/';
  const range = req.headers.range ?? '-';
  ranges.set(url, [...rangesOf(url), range]);
  const m = /^bytes=(\d+)-(\d*)$/.exec(range);
  const DATA = url.startsWith('/big') ? BIG : SMALL;
  if (url.startsWith('/ignore') || !m) return void res.writeHead(200, { 'Content-Length': DATA.length, ETag: '"v1"' }).end(DATA);
  const start = Number(m[1]);
  const last = Math.min(m[2] ? Number(m[2]) : DATA.length - 1, DATA.length - 1);
  if (start >= DATA.length) return void res.writeHead(416, { 'Content-Range': `bytes */${DATA.length}`, 'Content-Length': 0 }).end();
  let contentRange = `bytes ${start}-${last}/${DATA.length}`;
  if (url.startsWith('/badrange') && start > 0) contentRange = `bytes ${start + 1}-${last}/${DATA.length}`;
  if (url.startsWith('/status') && start > 0) return void res.writeHead(500, { 'Content-Length': 1 }).end('x');
  const etag = url.startsWith('/etag') && start > 0 ? '"v2"' : '"v1"';
  res.writeHead(206, { 'Content-Range': contentRange, 'Content-Length': last - start + 1, ETag: etag, 'Accept-Ranges': 'bytes', 'Cache-Control': 'max-age=3600' });
  res.end(DATA.subarray(start, last + 1));
});

const conf = (backendPort: number) => `
worker_processes 1;
error_log stderr info;
events {}
http {
  log_format slices '$uri $status $upstream_cache_status $slice_range';
  proxy_cache_path cache levels=1:2 keys_zone=slices:1m;
  server {
    listen 127.0.0.1:0;
    slice 256k;
    location / {
      proxy_pass http://127.0.0.1:${backendPort};
      proxy_set_header Range $slice_range;
    }
    location /cached/ {
      access_log logs/cache.log slices;
      log_subrequest on;
      proxy_pass http://127.0.0.1:${backendPort};
      proxy_set_header Range $slice_range;
      proxy_cache slices;
      proxy_cache_key $uri$slice_range;
    }
  }
}
`;

interface Got {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  /** The response ended before its Content-Length (the connection was cut). */
  readonly cut: boolean;
}

/** A GET read to its end (or its cut). */
function get(port: number, uri: string, headers: Record<string, string> = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: uri, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      const done = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), cut: !res.complete });
      res.on('end', done);
      res.on('error', done);
      res.on('aborted', done);
    });
    req.on('error', reject);
  });
}

/** The Range header of every slice from `start` to `end` (exclusive). */
function sliceRanges(first: number, last: number): string[] {
  const out: string[] = [];
  for (let i = first; i <= last; i++) out.push(`bytes=${i * SLICE}-${(i + 1) * SLICE - 1}`);
  return out;
}

describe('the slice module in the gateway process', () => {
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

  test('a whole GET: 200 of the whole length, the right bytes, one Range per slice', async () => {
    const r = await get(port, '/whole');
    expect([r.status, r.headers['content-length'], r.headers['accept-ranges'], r.headers['content-range'], r.headers.etag]).toEqual([200, '3000000', 'bytes', undefined, '"v1"']);
    expect(r.body.equals(DATA)).toBe(true);
    expect(rangesOf('/whole')).toEqual(sliceRanges(0, 11));
  });

  test('a ranged GET in the middle: 206 with its Content-Range, only the slices it needs fetched', async () => {
    const r = await get(port, '/middle', { Range: 'bytes=600000-1100000' });
    expect([r.status, r.headers['content-length'], r.headers['content-range']]).toEqual([206, '500001', 'bytes 600000-1100000/3000000']);
    expect(r.body.equals(DATA.subarray(600000, 1100001))).toBe(true);
    expect(rangesOf('/middle')).toEqual(sliceRanges(2, 4));
    // A suffix range: the first slice (nginx takes 0 for it), then the last one only.
    const tail = await get(port, '/tail', { Range: 'bytes=-1000' });
    expect([tail.status, tail.headers['content-range']]).toEqual([206, 'bytes 2999000-2999999/3000000']);
    expect(tail.body.equals(DATA.subarray(2999000))).toBe(true);
    expect(rangesOf('/tail')).toEqual(sliceRanges(0, 0).concat(sliceRanges(11, 11)));
    // Two ranges are the whole (nginx's single_range); a range the whole cannot hold is nginx's 416 page.
    const two = await get(port, '/two', { Range: 'bytes=0-10,20-30' });
    expect([two.status, two.body.length]).toEqual([200, DATA.length]);
    const bad = await get(port, '/bad', { Range: 'bytes=600000-300000' });
    expect([bad.status, bad.headers['content-range'], bad.headers['content-type'], bad.headers.etag]).toEqual([416, 'bytes */3000000', 'text/html', undefined]);
    expect(bad.body.toString()).toContain('<h1>416 Requested Range Not Satisfiable</h1>');
    expect(rangesOf('/bad')).toEqual(sliceRanges(2, 2));
  });

  test('with proxy_cache each slice is its own entry: the second GET is a HIT per slice', async () => {
    const first = await get(port, '/cached/file');
    expect([first.status, first.body.equals(DATA)]).toEqual([200, true]);
    expect(rangesOf('/cached/file')).toEqual(sliceRanges(0, 11));
    const second = await get(port, '/cached/file');
    expect([second.status, second.body.equals(DATA)]).toEqual([200, true]);
    expect(rangesOf('/cached/file')).toHaveLength(12);
    const log = path.join(gw.prefix, 'logs/cache.log');
    expect(await until(() => readFileSync(log, 'utf8').trim().split('\n').length >= 24)).toBe(true);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    // Each request: its 11 slice subrequests, then the main request's own line (its own slice's status).
    const statuses = (from: number) => lines.slice(from, from + 12).map((l) => l.split(' ')[2]);
    expect(statuses(0)).toEqual(Array(12).fill('MISS'));
    expect(statuses(12)).toEqual(Array(12).fill('HIT'));
    expect(lines.slice(12, 23).map((l) => l.split(' ')[3])).toEqual(sliceRanges(1, 11));
  });

  test('a slow client holds the slices back: the next slice is asked for only as the client reads', async () => {
    const chunks: Buffer[] = [];
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/big', agent: false }, resolve).on('error', reject);
    });
    res.pause();
    await new Promise((r) => setTimeout(r, 700));
    // The kernel's buffers on loopback hold about 4 MiB (16 slices): not the 64.
    const asked = rangesOf('/big').length;
    expect(asked).toBeLessThanOrEqual(24);
    await new Promise((r) => setTimeout(r, 300));
    expect(rangesOf('/big').length).toBe(asked);
    res.on('data', (c: Buffer) => chunks.push(c));
    res.resume();
    await new Promise((r) => res.on('end', r));
    expect(Buffer.concat(chunks).equals(BIG)).toBe(true);
    expect(rangesOf('/big')).toEqual(sliceRanges(0, 63));
  });

  test('a backend that ignores Range: its 200 goes to the client as it is, one request', async () => {
    const r = await get(port, '/ignore');
    expect([r.status, r.headers['content-length'], r.headers['accept-ranges'], r.body.equals(DATA)]).toEqual([200, '3000000', undefined, true]);
    expect(rangesOf('/ignore')).toEqual(sliceRanges(0, 0));
  });

  test.each([
    ['/etag', 'etag mismatch in slice response while reading response header from upstream'],
    ['/badrange', 'unexpected range in slice response: 262145-524288 while reading response header from upstream'],
    ['/status', 'unexpected status code 500 in slice response while reading response header from upstream'],
  ])('%s: the second slice is refused, the response is cut after the first, nginx\'s line', async (uri, line) => {
    const r = await get(port, uri);
    expect([r.status, r.headers['content-length'], r.cut, r.body.length]).toEqual([200, '3000000', true, SLICE]);
    expect(r.body.equals(DATA.subarray(0, SLICE))).toBe(true);
    expect(rangesOf(uri)).toEqual(sliceRanges(0, 1));
    await expectLogged(gw, new RegExp(`${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, client: 127\\.0\\.0\\.1, server: , request: "GET ${uri} HTTP/1\\.1", subrequest: "${uri}"`));
  });

  test('a client that leaves mid-stream: the slice being fetched stops, no descriptor is left', async () => {
    const pids = workerPids(gw.child.pid!);
    await get(port, '/warm');
    const baseline = fdTotal(pids);
    await new Promise<void>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/leave', agent: false }, (res) => {
        let got = 0;
        res.on('data', (c: Buffer) => {
          got += c.length;
          if (got > SLICE + 10000) {
            req.destroy();
            resolve();
          }
        });
      });
      req.on('error', () => resolve());
      setTimeout(() => reject(new Error('no data')), 5000).unref();
    });
    expect(await until(() => fdTotal(pids) <= baseline)).toBe(true);
    expect(rangesOf('/leave').length).toBeLessThan(12);
  });
});
