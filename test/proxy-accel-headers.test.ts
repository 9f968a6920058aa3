/**
 * The upstream's `X-Accel-Limit-Rate`, `X-Accel-Buffering` and `X-Accel-Charset` with the
 * gateway as a process over loopback (the parity cases, test/parity/proxy-accel.test.ts, compare
 * the headers with nginx's; these check what a response does not show): the body paced at the
 * rate the upstream names, in a server where no rate is written (the body's writes hooked only
 * when the upstream names one), an X-Accel-Redirect's file too (read from disk: the sendfile(2)
 * path otherwise); a rate of 0 over the location's `limit_rate`; `proxy_ignore_headers
 * X-Accel-Buffering` keeping the response buffered (so paced); `$limit_rate` in the access log;
 * nginx's error line for a charset the configuration does not know. Lower bounds only, generous
 * slack: the gateway's pacer takes 2.0 s for 200 KB at 100 KiB/s; nginx 1.22 took 1.37 s proxied
 * and 2.0 s after an X-Accel-Redirect here (its write filter allows a second's worth from the
 * whole second the request started in), and sent an unbuffered one in 3 ms.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { request } from './helpers/http-client';

const KB = 1024;
const BIG = Buffer.alloc(200 * KB, 'x');
const RATE = String(100 * KB);

/** The header lines the backend adds for each path's last segment. */
const ANSWERS: Record<string, readonly string[]> = {
  rate: ['X-Accel-Limit-Rate', RATE],
  zero: ['X-Accel-Limit-Rate', '0'],
  unbuffered: ['X-Accel-Limit-Rate', RATE, 'X-Accel-Buffering', 'no'],
  redirect: ['X-Accel-Limit-Rate', RATE, 'X-Accel-Redirect', '/protected/big.bin'],
  unknown: ['X-Accel-Charset', 'x-unknown'],
};

/** A backend answering every request with `BIG` at once, with the header lines its path asks for. */
function backend(): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const extra = ANSWERS[(req.url ?? '').split('/').pop() ?? ''] ?? [];
    res.writeHead(200, ['Content-Type', 'text/plain', 'Content-Length', String(BIG.length), ...extra]);
    res.end(BIG);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

describe("the upstream's X-Accel-Limit-Rate, X-Accel-Buffering and X-Accel-Charset", () => {
  let gw: GatewayProcess;
  let port: number;
  let upstream: http.Server;
  beforeAll(async () => {
    upstream = await backend();
    const url = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    gw = await startGateway(
      `
error_log: stderr info
pid: off
http:
  log_format: { rates: '$uri $limit_rate' }
  access_log: logs/rates.log rates
  servers:
    - listen: "127.0.0.1:0"
      root: site
      locations:
        - location: /p/
          proxy_pass: ${url}
        - location: /ignored/
          proxy_pass: ${url}
          proxy_ignore_headers: X-Accel-Limit-Rate
        - location: /buffered/
          proxy_pass: ${url}
          proxy_ignore_headers: X-Accel-Buffering
        - location: /protected/
          internal: ""
        - location: /known/
          charset: utf-8
    # A server where a rate is written: its responses' writes are hooked from the start.
    - listen: "127.0.0.1:0"
      server_name: limited.test
      locations:
        - location: /limited/
          proxy_pass: ${url}
          limit_rate: 100k
`,
      { files: { 'site/protected/big.bin': BIG } },
    );
    port = gw.ports[0];
  });
  afterAll(async () => {
    await gw?.stop();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  /** The rate the access log gave `uri` (`$limit_rate` once the response is over). */
  async function loggedRate(uri: string): Promise<string | undefined> {
    for (let i = 0; i < 50; i++) {
      const line = readFileSync(path.join(gw.prefix, 'logs/rates.log'), 'utf8').split('\n').find((l) => l.startsWith(`${uri} `));
      if (line) return line.slice(uri.length + 1);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return undefined;
  }

  /** The time a GET of `target` takes to be read whole, in ms, and the response. */
  async function timed(target: string, host = 'localhost'): Promise<{ ms: number; body: Buffer; status: number }> {
    const start = performance.now();
    const res = await request(port, target, { headers: { Host: host } });
    return { ms: performance.now() - start, body: res.body, status: res.status };
  }

  test('paced at the rate it names (200 KB at 100 KiB/s: at least 1.5 s), also after an X-Accel-Redirect, and where X-Accel-Buffering is ignored', async () => {
    const runs = await Promise.all([timed('/p/rate'), timed('/p/redirect'), timed('/buffered/unbuffered')]);
    for (const { ms, body, status } of runs) {
      expect(status).toBe(200);
      expect(body.equals(BIG)).toBe(true);
      expect(ms).toBeGreaterThanOrEqual(1500);
    }
    expect(await loggedRate('/p/rate')).toBe(RATE);
    expect(await loggedRate('/protected/big.bin')).toBe(RATE);
    expect(await loggedRate('/buffered/unbuffered')).toBe(RATE);
  });

  test("0 over the location's limit_rate: unpaced; ignored, an unbuffered response: no rate", async () => {
    for (const target of ['/limited/zero', '/ignored/rate', '/p/unbuffered']) {
      const { body, status } = await timed(target, target.startsWith('/limited/') ? 'limited.test' : 'localhost');
      expect(status).toBe(200);
      expect(body.equals(BIG)).toBe(true);
      expect(await loggedRate(target)).toBe('0');
    }
  });

  test("a charset the configuration does not know: nginx's error line, the Content-Type as it was", async () => {
    const res = await request(port, '/p/unknown');
    expect(res.headers['content-type']).toBe('text/plain');
    expect(res.headers['x-accel-charset']).toBeUndefined();
    expect(gw.stderr()).toMatch(/\[error\] .*unknown charset "x-unknown" to override/);
  });
});
