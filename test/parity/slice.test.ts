/**
 * Parity of the slice module: nginx and the gateway with `slice 256k` and `proxy_set_header
 * Range $slice_range` in front of the same backend, which honours Range over a file of
 * 1,000,000 bytes (4 slices): a whole GET (200 of the whole, Accept-Ranges), one range in the
 * middle, a suffix range, two ranges (the whole), a range the whole cannot satisfy (the 416
 * page), a start past the end (the backend's own 416 passed on), If-Range that matches and one
 * that does not, HEAD, a backend that ignores Range (its 200 as it is), and a first slice whose
 * Content-Range is wrong (the connection closed with nothing sent).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { defineParityCases } from './run';
import { loc, type SiteModel } from './site';

/** The file: a byte pattern that shows where a piece came from. */
const DATA = Buffer.from(Array.from({ length: 1_000_000 }, (_, i) => 65 + ((i * 7 + (i >> 10)) % 26)));

let backend: http.Server;

beforeAll(async () => {
  backend = http.createServer((req, res) => {
    const url = req.url ?? '/';
    const m = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const validators = { ETag: '"v1"', 'Last-Modified': 'Tue, 14 Nov 2023 22:13:20 GMT', 'Content-Type': 'application/octet-stream' };
    if (url.startsWith('/slice/ignore') || !m) return void res.writeHead(200, { ...validators, 'Content-Length': DATA.length }).end(req.method === 'HEAD' ? undefined : DATA);
    const start = Number(m[1]);
    const last = Math.min(m[2] ? Number(m[2]) : DATA.length - 1, DATA.length - 1);
    if (start >= DATA.length) return void res.writeHead(416, { 'Content-Range': `bytes */${DATA.length}`, 'Content-Length': 0 }).end();
    const contentRange = url.startsWith('/slice/badfirst') ? 'bytes 1-2/3' : `bytes ${start}-${last}/${DATA.length}`;
    res.writeHead(206, { ...validators, 'Content-Range': contentRange, 'Content-Length': last - start + 1, 'Accept-Ranges': 'bytes' });
    res.end(req.method === 'HEAD' ? undefined : DATA.subarray(start, last + 1));
  });
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
});

afterAll(() => new Promise((resolve) => backend.close(resolve)));

function site(): SiteModel {
  const port = (backend.address() as AddressInfo).port;
  return {
    servers: [{ locations: [loc('/slice/', { slice: '256k', proxy_pass: `http://127.0.0.1:${port}`, proxy_set_header: 'Range $slice_range' })] }],
  };
}

defineParityCases([
  {
    title: 'slice',
    site,
    requests: [
      { name: 'a whole GET: 200 of the whole length from 4 slices', target: '/slice/file' },
      { name: 'one range across slices: 206', target: '/slice/file', headers: { Range: 'bytes=300000-600000' } },
      { name: 'an open range: 206 to the end', target: '/slice/file', headers: { Range: 'bytes=700000-' } },
      { name: 'a suffix range', target: '/slice/file', headers: { Range: 'bytes=-1000' } },
      { name: 'two ranges: the whole (one range only when sliced)', target: '/slice/file', headers: { Range: 'bytes=0-10,20-30' } },
      { name: 'a range the whole cannot satisfy: the 416 page', target: '/slice/file', headers: { Range: 'bytes=600000-300000' } },
      { name: 'a start past the end: the backend 416 passed on', target: '/slice/file', headers: { Range: 'bytes=2000000-' } },
      { name: 'If-Range that matches the ETag: the range', target: '/slice/file', headers: { Range: 'bytes=10-20', 'If-Range': '"v1"' } },
      { name: 'If-Range that does not match: the whole', target: '/slice/file', headers: { Range: 'bytes=10-20', 'If-Range': '"v0"' } },
      { name: 'If-Range with the Last-Modified date: the range', target: '/slice/file', headers: { Range: 'bytes=500000-500099', 'If-Range': 'Tue, 14 Nov 2023 22:13:20 GMT' } },
      { name: 'HEAD: the whole length', target: '/slice/file', method: 'HEAD' },
      { name: 'a backend that ignores Range: its 200 as it is', target: '/slice/ignore' },
      { name: 'a first slice with a wrong Content-Range: closed, nothing sent', target: '/slice/badfirst' },
    ],
  },
]);
