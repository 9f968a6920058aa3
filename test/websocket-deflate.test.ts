/**
 * permessage-deflate (RFC 7692) on the gateway's own WebSockets (`websocket_deflate`), with the
 * gateway as a process: negotiated where it is on and not where it is off, over HTTP/1.1 and an
 * HTTP/2 stream (RFC 8441); the echo round-trips compressed messages; messages below
 * `websocket_deflate_threshold` go uncompressed (RSV1 read raw); a compressed frame where
 * nothing was negotiated is a protocol error (1002); a decompression bomb closes with 1009 and
 * leaves the worker serving, its memory and descriptors near their baseline; the settings are
 * checked at load with nginx's wording; Chromium negotiates it on the seed's page.
 */
import { readFileSync } from 'node:fs';
import zlib from 'node:zlib';
import WebSocket from 'ws';
import { makePrefix, runCli, ROOT, seedConfigForTest, startGateway, type GatewayProcess } from './helpers/gateway-process';
import { connectH2, H2WsClient } from './helpers/h2-websocket-client';
import { launchChromium } from './helpers/headless-chromium';
import { freePort } from './helpers/ports';
import { fdTotal, workerPids } from './helpers/push-clients';
import { closePayload, encodeFrame, Opcode, RawClient, seedRequest, type ServerFrame } from './helpers/ws-raw-client';
import { waitFor } from './helpers/ws-harness';

const THRESHOLD = 64;
const OFFER = 'permessage-deflate; client_max_window_bits';
const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

const site = (h2Port: number): string => `
worker_processes: 1
error_log: stderr info
pid: off
http:
  servers:
    - listen: 127.0.0.1:0
      locations:
        - location: /s
          handler: websocket-script
          script: echo
          websocket_deflate: on
          websocket_deflate_threshold: ${THRESHOLD}
        - location: /off
          handler: websocket-script
          script: echo
    - listen: "127.0.0.1:${h2Port} http2"
      http2_websocket: on
      locations:
        - location: /s
          handler: websocket-script
          script: echo
          websocket_deflate: on
          websocket_deflate_threshold: ${THRESHOLD}
`;

/** A message's payload as permessage-deflate sends it: raw deflate, sync-flushed, trailer dropped. */
function deflated(data: Buffer): Buffer {
  const out = zlib.deflateRawSync(data, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - TRAILER.length);
}

function inflated(payload: Buffer): Buffer {
  return zlib.inflateRawSync(Buffer.concat([payload, TRAILER]), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
}

/** Text of `size` bytes that compresses as a page does. */
function text(size: number): string {
  return 'the gateway echoes websocket messages like nginx with lua-resty-websocket '.repeat(Math.ceil(size / 74)).slice(0, size);
}

function closeCode(frame: ServerFrame): number {
  expect(frame.opcode).toBe(Opcode.CLOSE);
  return frame.payload.readUInt16BE(0);
}

function rssKiB(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

let gw: GatewayProcess;
let port: number;
let h2Port: number;
beforeAll(async () => {
  h2Port = await freePort();
  gw = await startGateway(site(h2Port), { listeners: 2 });
  port = gw.ports[0];
});
afterAll(() => gw.stop());

/** A `ws` client (which offers permessage-deflate by default); resolves with it and the 101's extensions header. */
function connect(path: string, options: WebSocket.ClientOptions = {}): Promise<{ ws: WebSocket; extensions: string | undefined }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, options);
    let extensions: string | undefined;
    ws.once('upgrade', (res) => (extensions = res.headers['sec-websocket-extensions'] as string | undefined));
    ws.once('open', () => resolve({ ws, extensions }));
    ws.once('error', reject);
  });
}

function echo(ws: WebSocket, data: string | Buffer): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => {
    ws.once('message', (reply, isBinary) => resolve({ data: reply as Buffer, isBinary }));
    ws.send(data);
  });
}

async function closeClient(ws: WebSocket): Promise<void> {
  const closed = new Promise((resolve) => ws.once('close', resolve));
  ws.close();
  await closed;
}

/** A raw connection to `path` with the seed's handshake, offering `extensions` if given. */
async function openRaw(path: string, extensions?: string): Promise<RawClient> {
  const request = seedRequest(extensions ? { 'Sec-WebSocket-Extensions': extensions } : {}).replace(' http://192.168.65.138/s ', ` ${path} `);
  const client = RawClient.open(port, request);
  expect((await client.responseHead()).split('\r\n')[0]).toBe('HTTP/1.1 101 Switching Protocols');
  return client;
}

describe('negotiation', () => {
  test('a client offering permessage-deflate gets it where websocket_deflate is on', async () => {
    const { ws, extensions } = await connect('/s');
    expect(extensions).toBe('permessage-deflate');
    expect(ws.extensions).toBe('permessage-deflate');
    await closeClient(ws);
  });

  test('and not where it is off (no Sec-WebSocket-Extensions in the 101)', async () => {
    const { ws, extensions } = await connect('/off');
    expect(extensions).toBeUndefined();
    expect(ws.extensions).toBe('');
    await closeClient(ws);
  });

  test('a client that offers nothing gets nothing, and is echoed as before', async () => {
    const { ws, extensions } = await connect('/s', { perMessageDeflate: false });
    expect(extensions).toBeUndefined();
    expect((await echo(ws, text(4000))).data.toString()).toBe(text(4000));
    await closeClient(ws);
  });
});

describe('echo through permessage-deflate', () => {
  test('text and binary messages, small and large, round-trip', async () => {
    const { ws } = await connect('/s');
    for (const size of [1, THRESHOLD - 1, THRESHOLD, 16384, 65535]) {
      expect(await echo(ws, text(size))).toEqual({ data: Buffer.from(text(size)), isBinary: false });
      const binary = Buffer.from(text(size));
      binary[0] = 0xff;
      expect(await echo(ws, binary)).toEqual({ data: binary, isBinary: true });
    }
    await closeClient(ws);
  });

  test('messages below the threshold go uncompressed (RSV1 clear), the others compressed (RSV1 set)', async () => {
    const client = await openRaw('/s', OFFER);
    expect((await client.responseHead()).split('\r\n')).toContain('Sec-WebSocket-Extensions: permessage-deflate');
    client.send(encodeFrame(Opcode.TEXT, text(THRESHOLD - 1)));
    expect(await client.nextFrame()).toEqual({ fin: true, opcode: Opcode.TEXT, payload: Buffer.from(text(THRESHOLD - 1)) });
    client.send(encodeFrame(Opcode.TEXT, text(1000)));
    const big = await client.nextFrame();
    expect([big.opcode, big.compressed]).toEqual([Opcode.TEXT, true]);
    expect(big.payload.length).toBeLessThan(200);
    expect(inflated(big.payload).toString()).toBe(text(1000));
    // A compressed message from the client is inflated, and echoed (compressed again: 1000 bytes).
    client.send(encodeFrame(Opcode.BINARY, deflated(Buffer.from(text(1000))), { rsv: 4 }));
    const binary = await client.nextFrame();
    expect([binary.opcode, binary.compressed]).toEqual([Opcode.BINARY, true]);
    client.send(encodeFrame(Opcode.CLOSE, closePayload(1000)));
    expect(closeCode(await client.nextFrame())).toBe(1000);
    await client.finish();
  });

  test('over an HTTP/2 stream (RFC 8441): negotiated in the 200, messages compressed past the threshold', async () => {
    const { session } = await connectH2(h2Port, '127.0.0.1', 'http');
    try {
      const stream = H2WsClient.open(session, '/s', { ':scheme': 'http', 'sec-websocket-extensions': OFFER });
      const response = await stream.response;
      expect([response[':status'], response['sec-websocket-extensions']]).toEqual([200, 'permessage-deflate']);
      stream.send(encodeFrame(Opcode.TEXT, 'short'));
      expect(await stream.nextFrame()).toEqual({ fin: true, opcode: Opcode.TEXT, payload: Buffer.from('short') });
      stream.send(encodeFrame(Opcode.TEXT, deflated(Buffer.from(text(2000))), { rsv: 4 }));
      const big = await stream.nextFrame();
      expect([big.opcode, big.compressed]).toEqual([Opcode.TEXT, true]);
      expect(inflated(big.payload).toString()).toBe(text(2000));
      // Without an offer, nothing is negotiated on the stream either.
      const plain = H2WsClient.open(session, '/s', { ':scheme': 'http' });
      expect((await plain.response)['sec-websocket-extensions']).toBeUndefined();
      plain.send(encodeFrame(Opcode.TEXT, text(2000)));
      expect((await plain.nextFrame()).compressed).toBeUndefined();
      // An offer ws cannot accept is refused with ws's 400, on the stream.
      const bad = H2WsClient.open(session, '/s', { ':scheme': 'http', 'sec-websocket-extensions': 'permessage-deflate; server_max_window_bits=99' });
      expect((await bad.response)[':status']).toBe(400);
      await Promise.all([stream.finish(), plain.finish(), bad.closed]);
    } finally {
      await new Promise<void>((resolve) => session.close(resolve));
    }
  });
});

describe('bad input', () => {
  test('a compressed frame where permessage-deflate was not negotiated closes with 1002', async () => {
    for (const [path, offer] of [['/off', OFFER], ['/s', undefined]] as const) {
      const client = await openRaw(path, offer);
      client.send(encodeFrame(Opcode.TEXT, deflated(Buffer.from(text(500))), { rsv: 4 }));
      expect(closeCode(await client.nextFrame())).toBe(1002);
      await client.ended;
      await client.finish();
    }
  });

  test('a decompression bomb (10 KiB that inflate to 10 MiB) closes with 1009; the worker serves on, memory and descriptors near baseline', async () => {
    const [worker] = workerPids(gw.child.pid!);
    const bomb = encodeFrame(Opcode.BINARY, deflated(Buffer.alloc(10 * 1024 * 1024)), { rsv: 4 });
    expect(bomb.length).toBeLessThan(65535); // under max_payload_len as sent
    const explode = async (): Promise<void> => {
      const client = await openRaw('/s', OFFER);
      client.send(bomb);
      expect(closeCode(await client.nextFrame())).toBe(1009);
      await client.ended;
      await client.finish();
    };
    const fds = fdTotal([worker]);
    await explode(); // warms the worker's zlib paths before the memory baseline
    const rss = rssKiB(worker);
    for (let round = 0; round < 10; round++) await Promise.all(Array.from({ length: 5 }, explode));
    const { ws } = await connect('/s');
    expect((await echo(ws, text(3000))).data.toString()).toBe(text(3000));
    await closeClient(ws);
    await waitFor(() => fdTotal([worker]) === fds);
    // 50 bombs would be 500 MiB inflated; ws stops each at max_payload_len.
    expect(rssKiB(worker) - rss).toBeLessThan(32 * 1024);
    expect(workerPids(gw.child.pid!)).toEqual([worker]);
  });
});

describe('configuration', () => {
  async function check(line: string): Promise<string> {
    const prefix = makePrefix({
      'conf/t.yaml': `http:\n  servers:\n    - listen: 127.0.0.1:0\n      locations:\n        - location: /s\n          handler: websocket-script\n          script: echo\n          ${line}\n`,
    });
    const { code, stderr } = await runCli(['-t', '-p', prefix, '-c', `${prefix}/conf/t.yaml`]);
    expect(code).toBe(1);
    return stderr;
  }

  test.each([
    ['websocket_deflate: maybe', /invalid value "maybe", it must be "on" or "off" in "websocket_deflate".*t\.yaml:8:30/],
    ['websocket_deflate_window_bits: 8', /value must be between 9 and 15.*t\.yaml:8:42/],
    ['websocket_deflate_window_bits: 16', /value must be between 9 and 15.*t\.yaml:8:42/],
    ['websocket_deflate_mem_level: 10', /value must be between 1 and 9.*t\.yaml:8:40/],
    ['websocket_deflate_comp_level: 0', /value must be between 1 and 9.*t\.yaml:8:41/],
    ['websocket_deflate_threshold: 1q', /invalid size "1q" in "websocket_deflate_threshold".*t\.yaml:8:40/],
  ])('%s is refused at load with file:line:column', async (line, message) => {
    expect(await check(line)).toMatch(message);
  });
});

describe('Chromium on the seed page', () => {
  test('negotiates permessage-deflate where /s has it on, and the echo works', async () => {
    const yaml = seedConfigForTest().replace('script: echo ', 'websocket_deflate: on\n          script: echo ');
    expect(yaml).toContain('websocket_deflate: on');
    const seed = await startGateway(yaml, { prefix: ROOT });
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${seed.ports[0]}/websocket.html`);
      await page.getByRole('button', { name: 'Connect', exact: true }).click();
      await page.waitForFunction(() => document.getElementById('log')!.textContent!.includes('connected'));
      expect(await page.evaluate(() => (window as unknown as { ws: WebSocket }).ws.extensions)).toBe('permessage-deflate');
      const message = text(3000);
      await page.locator('#text').fill(message);
      await page.getByRole('button', { name: 'Send' }).click();
      await page.waitForFunction((t) => [...document.querySelectorAll('#log li')].some((li) => li.textContent === `recv: ${t}`), message);
      await page.close();
    } finally {
      await browser.close();
      await seed.stop();
    }
  }, 60000);
});
