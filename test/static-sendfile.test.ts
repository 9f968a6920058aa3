/**
 * Large static files sent with sendfile(2) (src/modules/static/kernel-copy.ts), against the real
 * `bin/gateway` process: the bytes are the file's (whole, a range, one response after another on
 * a kept-alive connection), `$body_bytes_sent` and `$bytes_sent` count what the kernel sent, a
 * client that asks for gzip still gets it (no sendfile under a body filter), and a client that
 * goes away in the middle leaves no descriptor behind. (The slow reader that send_timeout must
 * not cut is test/client-timeouts.test.ts's.)
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { eventually, fdCount, rawConnect } from './helpers/raw-socket';

const MB = 1024 * 1024;
/** A file far larger than what the open file cache keeps in memory, every byte telling its place. */
const BIG = Buffer.from(Array.from({ length: 3 * MB }, (_, i) => (i * 7 + (i >> 12)) & 0xff));
const TEXT = Buffer.from('<p>a large page of text</p>\n'.repeat(40000));

let gw: GatewayProcess;

beforeAll(async () => {
  gw = await startGateway(
    `master_process: "off"\nerror_log: stderr info\npid: "off"\nhttp:\n` +
      `  log_format: { counts: '$request $status $body_bytes_sent $bytes_sent' }\n` +
      `  access_log: logs/access.log counts\n` +
      `  open_file_cache: max=100 inactive=20s\n  gzip: on\n` +
      `  servers:\n    - listen: 127.0.0.1:0\n      root: www\n      locations:\n        - { location: /, handler: static }\n`,
    { files: { 'www/big.bin': BIG, 'www/page.html': TEXT } },
  );
});
afterAll(() => gw.stop());

/** Sends `requests` on one connection; resolves with what came back once `count` whole responses did. */
async function exchange(requests: string, count: number): Promise<Buffer> {
  const conn = await rawConnect(gw.ports[0], requests);
  const whole = () => {
    const raw = Buffer.from(conn.received(), 'latin1');
    const got = responses(raw);
    return got.length === count && got[count - 1].body.length === Number(/\r\nContent-Length: (\d+)/i.exec(got[count - 1].head)![1]);
  };
  await eventually(whole, 10000);
  conn.socket.destroy();
  return Buffer.from(conn.received(), 'latin1');
}

/** The responses in `raw`, each split at its head, bodies by their Content-Length. */
function responses(raw: Buffer): { head: string; body: Buffer }[] {
  const out: { head: string; body: Buffer }[] = [];
  for (let at = 0; at < raw.length; ) {
    const end = raw.indexOf('\r\n\r\n', at);
    if (end < 0) break;
    const head = raw.subarray(at, end).toString('latin1');
    const length = Number(/\r\nContent-Length: (\d+)/i.exec(head)![1]);
    out.push({ head, body: raw.subarray(end + 4, end + 4 + length) });
    at = end + 4 + length;
  }
  return out;
}

async function accessLines(count: number): Promise<string[]> {
  const file = path.join(gw.prefix, 'logs/access.log');
  const read = () => readFileSync(file, 'utf8').trim().split('\n');
  await eventually(() => read().length >= count);
  return read();
}

test('two whole files and a range on one kept-alive connection: the file\'s bytes, counted in the access log', async () => {
  const ask = (extra = '') => `GET /big.bin HTTP/1.1\r\nHost: x\r\n${extra}\r\n`;
  const raw = await exchange(ask() + ask('Range: bytes=1000-2099999\r\n') + ask(), 3);
  const [first, range, last] = responses(raw);
  expect(first.head).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  expect(first.body.equals(BIG)).toBe(true);
  expect(range.head).toMatch(/^HTTP\/1\.1 206 Partial Content\r\n[^]*Content-Range: bytes 1000-2099999\/3145728/);
  expect(range.body.equals(BIG.subarray(1000, 2100000))).toBe(true);
  expect(last.body.equals(BIG)).toBe(true);
  const lines = (await accessLines(3)).slice(-3);
  expect(lines.map((l) => l.split(' ').slice(0, 5).join(' '))).toEqual([
    `GET /big.bin HTTP/1.1 200 ${BIG.length}`,
    `GET /big.bin HTTP/1.1 206 2099000`,
    `GET /big.bin HTTP/1.1 200 ${BIG.length}`,
  ]);
  // $bytes_sent: the body and the head as it went out.
  for (const [i, line] of lines.entries()) expect(Number(line.split(' ')[5])).toBe([first, range, last][i].head.length + 4 + [first, range, last][i].body.length);
});

test('a client that asks for gzip gets the large page compressed', async () => {
  const conn = await rawConnect(gw.ports[0], `GET /page.html HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n`);
  await conn.closed;
  const text = Buffer.from(conn.received(), 'latin1');
  const end = text.indexOf('\r\n\r\n');
  expect(text.subarray(0, end).toString()).toContain('Content-Encoding: gzip');
  // Chunked: the chunks' sizes are hex lines between them.
  const chunks: Buffer[] = [];
  for (let at = end + 4; ; ) {
    const eol = text.indexOf('\r\n', at);
    const size = parseInt(text.subarray(at, eol).toString(), 16);
    if (size === 0) break;
    chunks.push(text.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  expect(gunzipSync(Buffer.concat(chunks)).equals(TEXT)).toBe(true);
});

test('a client gone in the middle of a large file leaves no descriptor open', async () => {
  const pid = gw.child.pid!;
  // Warm: the access log and the cache are open before the baseline.
  await exchange(`GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, 1);
  await new Promise((r) => setTimeout(r, 200));
  const baseline = fdCount(pid);
  for (let i = 0; i < 5; i++) {
    const conn = await rawConnect(gw.ports[0]);
    conn.socket.pause();
    conn.socket.write('GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => setTimeout(r, 100));
    conn.socket.destroy();
  }
  expect(await eventually(() => fdCount(pid) === baseline, 5000)).toBe(true);
  expect(gw.stderr()).not.toMatch(/\[(crit|alert|emerg)\]/);
});
