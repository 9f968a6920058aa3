/**
 * The link-rewriting body filter as a user runs it: conf/examples/rewrite-links.yaml with
 * handlers/rewrite-links.ts, two workers, a real backend that sends a large HTML page in many
 * small writes (links cut across them), with and without gzip. And the filter's pure step
 * (rewriteChunk) cut at every byte of a page: the same output however the page is split.
 */
import http from 'node:http';
import zlib from 'node:zlib';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, runCli, startGateway, type GatewayProcess } from './helpers/gateway-process';
import { closeServer, listen, portOf } from './helpers/proxy-peers';
import rewriteLinks, { NOTHING_HELD, rewriteChunk, type Carry } from '../handlers/rewrite-links';
import { exampleConf } from './helpers/example-conf';

const PUBLIC = 'https://www.example.com';
/** The public origin the example takes from a request to http://www.example.com (no `to:`). */
const ASKED = 'http://www.example.com';

/** A page with `n` links of every form, some that must stay (text, longer hosts, other attributes). */
function page(origin: string, to: string, n: number): string {
  const parts = ['<!doctype html>\n<html><head><title>links</title>\n'];
  for (let i = 0; i < n; i++) {
    parts.push(
      `<p id="p${i}"><a href="${to}/page/${i}">page ${i}</a> <img SRC='${to}/img/${i}.png' alt="é ${i}">`,
      ` <form action = ${to}?q=${i}></form> <a data-href="${origin}/kept/${i}">kept</a>`,
      ` written ${origin}/text/${i} in the text, <a href="${origin}1/longer">x</a> <a href="${origin}.evil/">y</a></p>\n`,
    );
  }
  parts.push('</html>\n');
  return parts.join('');
}

describe('rewriteChunk: a link cut anywhere is rewritten, and nothing else', () => {
  const from = 'http://backend:9001';
  const options = (rewriteLinks as unknown as { configure(raw: object, cx: object): Parameters<typeof rewriteChunk>[4] }).configure(
    { from, to: PUBLIC },
    { error: (m: string) => { throw new Error(m); } },
  );
  const input = page(from, from, 3);
  const expected = page(from, PUBLIC, 3);

  test('cut in two at every byte', () => {
    for (let cut = 0; cut <= input.length; cut++) {
      const a = rewriteChunk(NOTHING_HELD, input.slice(0, cut), false, PUBLIC, options);
      const b = rewriteChunk(a.carry, input.slice(cut), true, PUBLIC, options);
      expect(a.out + b.out).toBe(expected);
    }
  });

  test('one byte at a time: the kept tail stays short', () => {
    let carry: Carry = NOTHING_HELD;
    let out = '';
    let longest = 0;
    for (const ch of input) {
      const step = rewriteChunk(carry, ch, false, PUBLIC, options);
      out += step.out;
      carry = step.carry;
      longest = Math.max(longest, carry.held.length);
    }
    out += rewriteChunk(carry, '', true, PUBLIC, options).out;
    expect(out).toBe(expected);
    expect(longest).toBeGreaterThanOrEqual('href="http://backend:9001'.length);
    expect(longest).toBeLessThanOrEqual(options.longest);
  });
});

/** The example moved to free ports, gzip on or off in its location. */
function example(backend: number, gzip: boolean): string {
  return exampleConf('rewrite-links.yaml', [
    ['127.0.0.1:9001', `127.0.0.1:${backend}`],
    ['gzip: on', `gzip: ${gzip ? 'on' : 'off'}`],
  ]);
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function get(port: number, pathname: string, headers: Record<string, string> = {}, onData?: (text: string) => void): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: pathname, headers: { Host: 'www.example.com', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        onData?.(Buffer.concat(chunks).toString('latin1'));
      });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

describe.each([false, true])('rewrite-links in front of the proxy (gzip %s), two workers', (gzip) => {
  let origin = '';
  // The held page: the backend stops after its 41st write until the client has seen a rewritten
  // link (`linkSeen`), whichever comes first (a promise, so that an early link is not missed).
  let linkSeen: Promise<void> = Promise.resolve();
  let releaseHeld: () => void = () => undefined;
  const backend = http.createServer(async (req, res) => {
    if (req.url === '/gzipped.html') return res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Encoding': 'gzip' }).end(zlib.gzipSync(`<a href="${origin}/z">`));
    if (req.url === '/plain.txt') return res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`see ${origin}/x href="${origin}/y"\n`);
    const body = Buffer.from(page(origin, origin, req.url === '/held.html' ? 50 : 1500), 'latin1');
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': body.length });
    // Many small writes of odd sizes, each on its own turn: links are cut all over.
    let at = 0;
    for (let i = 0; at < body.length; i++) {
      const size = 1 + ((i * 37) % 61);
      res.write(body.subarray(at, at + size));
      at += size;
      if (req.url === '/held.html' && i === 40) {
        // The rest waits for the client to have seen a rewritten link: the filter streams.
        releaseHeld();
        await linkSeen;
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    res.end();
  });
  let gw: GatewayProcess;
  let port: number;

  beforeAll(async () => {
    await listen(backend);
    origin = `http://127.0.0.1:${portOf(backend)}`;
    gw = await startGateway(example(portOf(backend), gzip), { prefix: ROOT });
    port = gw.ports[0];
  });
  afterAll(async () => {
    await gw?.stop();
    await closeServer(backend);
  });

  const decoded = (a: Answer) => (a.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(a.body) : a.body).toString('latin1');
  const accept: Record<string, string> = gzip ? { 'Accept-Encoding': 'gzip' } : {};

  test('gateway -t accepts the example as shipped', async () => {
    const r = await runCli(['-t', '-p', ROOT, '-c', path.join(ROOT, 'conf/examples/rewrite-links.yaml')]);
    expect(r.stderr).toMatch(/test is successful/);
    expect(r.code).toBe(0);
  });

  test('a large page in many small chunks: every link to the backend rewritten, nothing else, no Content-Length', async () => {
    const answers = await Promise.all([1, 2, 3, 4].map(() => get(port, '/page.html', accept)));
    for (const a of answers) {
      expect(a.status).toBe(200);
      expect(a.headers['content-length']).toBeUndefined();
      expect(a.headers['content-encoding']).toBe(gzip ? 'gzip' : undefined);
      expect(decoded(a)).toBe(page(origin, ASKED, 1500));
    }
  });

  // Without gzip only: gzip keeps a short start of the page until it has enough to compress (as nginx's).
  const unzipped = gzip ? () => undefined : test;
  unzipped('the page streams: a rewritten link reaches the client before the backend has sent the rest', async () => {
    const backendWaits = new Promise<void>((resolve) => (releaseHeld = resolve));
    let seen: () => void = () => undefined;
    linkSeen = new Promise<void>((resolve) => (seen = resolve));
    let early = '';
    const answer = get(port, '/held.html', {}, (text) => {
      if (!early && text.includes(`href="${ASKED}/page/0"`)) {
        early = text;
        seen();
      }
    });
    await backendWaits;
    const a = await answer;
    expect(early).toContain(`href="${ASKED}/page/0"`);
    expect(early.length).toBeLessThan(a.body.length);
    expect(a.body.toString('latin1')).toBe(page(origin, ASKED, 50));
  });

  test('a response that is not HTML passes as it is', async () => {
    const a = await get(port, '/plain.txt', accept);
    expect(decoded(a)).toBe(`see ${origin}/x href="${origin}/y"\n`);
  });

  test('a page the backend compressed passes as it is', async () => {
    const a = await get(port, '/gzipped.html', accept);
    expect(a.headers['content-encoding']).toBe('gzip');
    expect(zlib.gunzipSync(a.body).toString()).toBe(`<a href="${origin}/z">`);
  });
});

test('gateway -t: an option that is no origin is one line at its file:line:column', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'rewrite-links-'));
  const conf = path.join(dir, 'bad.yaml');
  writeFileSync(conf, readFileSync(path.join(ROOT, 'conf/examples/rewrite-links.yaml'), 'utf8').replace('from: http://127.0.0.1:9001', 'from: backend'));
  try {
    const r = await runCli(['-t', '-p', ROOT, '-c', conf]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(new RegExp(`"from" must be the backend's origin.* in ${conf.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
