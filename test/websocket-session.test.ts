/**
 * The `websocket-script` handler and its session, driven by the `ws` client against a real
 * server on port 0: the seed's echo loop, lua-resty's recv/send semantics, the 101 response.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import websocketScript from '../src/modules/websocket-script/websocket-script';
import type { ConfigContext, WebSocketScript, WebSocketSession } from '../src/types';
import { ErrorCode } from '../src/shared/websocket/constants';
import { WebSocketAcceptor, type SessionEnd } from '../src/shared/websocket/session';
import { RawClient, Opcode, closePayload, encodeFrame, seedRequest } from './helpers/ws-raw-client';
import { startWsServer, waitFor, wsOptions, type WsHarness } from './helpers/ws-harness';
import { compileValue } from '../src/http/variables';
import { moduleConfs } from './helpers/module-confs';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const VERSION: string = require('../package.json').version;

/** Opens a client; `setup` runs before the handshake so no early message is missed. */
function connect(h: WsHarness, setup: (ws: WebSocket) => void = () => {}): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${h.port}/s`);
  setup(ws);
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data: data as Buffer, isBinary })));
}

function closeEvent(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

describe('websocket-script with the echo script', () => {
  let h: WsHarness;
  beforeEach(async () => {
    h = await startWsServer();
  });
  afterEach(() => h.close());

  test('echoes a text message as text', async () => {
    const ws = await connect(h);
    ws.send('hello, 2014');
    expect(await nextMessage(ws)).toEqual({ data: Buffer.from('hello, 2014'), isBinary: false });
    ws.close();
  });

  test('echoes a binary message as binary', async () => {
    const ws = await connect(h);
    const payload = Buffer.from([0, 1, 2, 0xfe, 0xff]);
    ws.send(payload);
    expect(await nextMessage(ws)).toEqual({ data: payload, isBinary: true });
    ws.close();
  });

  test('answers a ping with a pong carrying the same payload', async () => {
    const ws = await connect(h);
    const pong = new Promise<Buffer>((resolve) => ws.once('pong', resolve));
    ws.ping('are you there');
    expect((await pong).toString()).toBe('are you there');
    ws.close();
  });

  test('echoes the client close code and reason, then records 101 and the frame bytes', async () => {
    const ws = await connect(h);
    ws.send('hello');
    await nextMessage(ws); // 2 + 5 bytes
    const closed = closeEvent(ws);
    ws.close(4001, 'bye'); // echoed: 2 + 2 + 3 bytes
    expect(await closed).toEqual({ code: 4001, reason: 'bye' });
    await waitFor(() => h.outcomes.length === 1);
    expect(h.outcomes[0]).toEqual({ status: 101, bytesSent: 14 });
    await waitFor(async () => (await h.connections()) === 0);
  });

  test('answers 101 with the RFC 6455 Sec-WebSocket-Accept and the Server header', async () => {
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const req = http.get({
        host: '127.0.0.1',
        port: h.port,
        path: '/s',
        headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Key': key, 'Sec-WebSocket-Version': '13' },
      });
      req.on('upgrade', (response, socket) => {
        socket.destroy();
        resolve(response);
      });
      req.on('error', reject);
    });
    expect(res.statusCode).toBe(101);
    expect(res.headers['sec-websocket-accept']).toBe(createHash('sha1').update(key + GUID).digest('base64'));
    expect(res.headers['sec-websocket-accept']).toBe('s3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    expect(res.headers.server).toBe(`gateway/${VERSION}`);
    expect(res.headers.date).toBeDefined();
  });

  test('answers a plain GET (no Upgrade) with 400', async () => {
    const status = await new Promise<number | undefined>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: h.port, path: '/s' }, (res) => {
        res.resume();
        resolve(res.statusCode);
      }).on('error', reject);
    });
    expect(status).toBe(400);
  });
});

describe('websocket-script limits and timeouts', () => {
  let h: WsHarness | undefined;
  afterEach(() => h?.close());

  test('a receive timeout makes the echo script ping, and the connection stays open', async () => {
    h = await startWsServer(wsOptions({ timeoutMs: 30 }));
    const ws = await connect(h);
    const ping = new Promise<Buffer>((resolve) => ws.once('ping', resolve));
    expect((await ping).length).toBe(0);
    await waitFor(() => h!.logs.includes('info: client ponged')); // ws answers pings by itself
    ws.send('still here');
    expect((await nextMessage(ws)).data.toString()).toBe('still here');
    ws.close();
  });

  test('a message over max_payload_len closes with 1009', async () => {
    h = await startWsServer(wsOptions({ maxPayloadLen: 16 }));
    const ws = await connect(h);
    const closed = closeEvent(ws);
    ws.send(Buffer.alloc(17));
    expect((await closed).code).toBe(1009);
    await waitFor(() => h!.logs.some((l) => l.startsWith('error: failed to receive frame:')));
  });
});

describe('the session API, through small scripts', () => {
  let h: WsHarness | undefined;
  afterEach(() => h?.close());

  /** Runs `script` for one connection; resolves with what it recorded. */
  type Recording = (ws: WebSocketSession, record: unknown[]) => Promise<void>;
  async function run(script: Recording, client: (ws: WebSocket) => void, overrides = {}): Promise<unknown[]> {
    const seen: unknown[] = [];
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const wrapped: WebSocketScript = async (ws) => {
      try {
        await script(ws, seen);
      } finally {
        done();
      }
    };
    h = await startWsServer(wsOptions({ script: wrapped, ...overrides }));
    await connect(h, client);
    await finished;
    return seen;
  }

  test('recvFrame returns null on timeout (not fatal), then rejects with GW_WS_CLOSED once closed', async () => {
    const seen = await run(
      async (ws, record) => {
        ws.setTimeout(20);
        record.push(await ws.recvFrame(), ws.lastError, ws.fatal);
        await ws.sendText('timed out'); // the client closes when it sees this
        ws.setTimeout(0);
        const frame = await ws.recvFrame();
        record.push(frame?.type, frame?.code, frame?.data.toString());
        await ws.recvFrame().catch((err) => record.push(err.code, err.message, ws.lastError, ws.fatal));
        await ws.sendText('late').catch((err) => record.push(err.code));
        record.push(await ws.sendClose()); // the close was already echoed: harmless
      },
      (ws) => ws.once('message', () => ws.close(1000, 'done')),
    );
    expect(seen).toEqual([
      null, 'timeout', false,
      'close', 1000, 'done',
      ErrorCode.CLOSED, 'failed to receive frame: closed', 'closed', true,
      ErrorCode.CLOSED,
      0,
    ]);
  });

  test('a receive timeout longer than a timer can wait waits (Node would fire it after 1 ms)', async () => {
    const seen = await run(
      async (ws, record) => {
        ws.setTimeout(2 ** 40);
        const frame = await ws.recvFrame();
        record.push(frame?.type, frame?.data.toString(), ws.lastError);
      },
      (ws) => setTimeout(() => ws.send('after 100 ms'), 100),
    );
    expect(seen).toEqual(['text', 'after 100 ms', null]);
  });

  test('sends resolve with the frame size; max_send_len rejects with GW_WS_PAYLOAD_TOO_BIG', async () => {
    let received: string[] = [];
    const seen = await run(
      async (ws, record) => {
        await ws.sendText('x'.repeat(200)).catch((err) => record.push(err.code, err.reason));
        await ws.sendPing(Buffer.alloc(126)).catch((err) => record.push(err.code));
        await ws.sendClose(1005).catch((err) => record.push(err.code));
        record.push(await ws.sendText('ok'), await ws.sendBinary(Buffer.alloc(130)), await ws.sendClose(4000, 'end'));
      },
      (ws) => ws.on('message', (data) => (received = [...received, data.toString()])),
      { maxSendLen: 150 },
    );
    expect(seen).toEqual([
      ErrorCode.PAYLOAD_TOO_BIG, 'payload too big',
      ErrorCode.PAYLOAD_TOO_BIG,
      ErrorCode.BAD_CLOSE_CODE,
      2 + 2, 4 + 130, 2 + 2 + 3,
    ]);
    await waitFor(() => received.length === 2);
    expect(received[0]).toBe('ok');
  });

  test('a second recvFrame while one waits rejects with GW_WS_BUSY, without being fatal', async () => {
    const seen = await run(
      async (ws, record) => {
        const first = ws.recvFrame();
        await ws.recvFrame().catch((err) => record.push(err.code, ws.fatal));
        await ws.sendText('go');
        record.push((await first)?.data.toString());
      },
      (ws) => ws.once('message', () => ws.send('first')),
    );
    expect(seen).toEqual([ErrorCode.BUSY, false, 'first']);
  });

  test('frames queued past the high-water mark (socket paused) all arrive, in order', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const count = 300;
    const seen = await run(
      async (ws, record) => {
        await gate;
        for (let i = 0; i < count; i++) record.push((await ws.recvFrame())?.data.toString());
      },
      (ws) => ws.once('open', async () => {
        for (let i = 0; i < count; i++) await new Promise((done) => ws.send(String(i), done));
        release();
      }),
    );
    expect(seen).toEqual(Array.from({ length: count }, (_, i) => String(i)));
  });

  test('sends wait for drain when the client does not read, and all arrive', async () => {
    const frames = 200;
    let received = 0;
    const seen = await run(
      async (ws, record) => {
        let total = 0;
        for (let i = 0; i < frames; i++) total += await ws.sendBinary(Buffer.alloc(60000));
        record.push(total);
      },
      (ws) => {
        ws.on('message', () => received++);
        ws.once('open', () => {
          ws.pause(); // the server's socket fills up: its sends must wait for 'drain'
          setImmediate(() => ws.resume());
        });
      },
    );
    expect(seen).toEqual([frames * (4 + 60000)]);
    await waitFor(() => received === frames);
  });

  test('a send waiting for drain rejects with GW_WS_CLOSED when the client goes away', async () => {
    let client!: WebSocket;
    const seen = await run(
      async (ws, record) => {
        try {
          for (;;) {
            let sent = false;
            const send = ws.sendBinary(Buffer.alloc(60000)).then(() => (sent = true));
            await new Promise((resolve) => setImmediate(resolve));
            if (!sent) client.terminate(); // this send waits for 'drain': the client vanishes
            await send;
          }
        } catch (err) {
          record.push((err as { code: string }).code, ws.fatal);
        }
      },
      (ws) => {
        client = ws;
        ws.once('open', () => ws.pause());
      },
    );
    expect(seen).toEqual([ErrorCode.CLOSED, true]);
  });

  test('a script that throws is logged and its connection dropped', async () => {
    h = await startWsServer(wsOptions({ scriptName: 'broken', script: async () => { throw new Error('boom'); } }));
    const ws = await connect(h);
    expect((await closeEvent(ws)).code).toBe(1006);
    await waitFor(() => h!.logs.some((l) => l.startsWith('error: websocket script "broken" failed: Error: boom')));
  });

  test('a script that returns gets a clean close', async () => {
    h = await startWsServer(wsOptions({ script: async () => {} }));
    const ws = await connect(h);
    expect((await closeEvent(ws)).code).toBe(1005);
    await waitFor(() => h!.outcomes.length === 1);
    expect(h.outcomes[0]).toEqual({ status: 101, bytesSent: 2 });
  });
});

describe('WebSocketAcceptor', () => {
  test('a closing handshake the peer never answers ends with the socket destroyed', async () => {
    const acceptor = new WebSocketAcceptor({ maxPayload: 1024, closeTimeoutMs: 20 });
    const ends: Promise<SessionEnd>[] = [];
    const server = http.createServer();
    server.on('upgrade', async (req, socket, head) => {
      const session = await acceptor.accept(req, socket, head, { timeoutMs: 0 });
      if (!session) return;
      ends.push(session.closed);
      await session.sendClose(1001, 'going away');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = RawClient.open((server.address() as AddressInfo).port, seedRequest());
    const frame = await client.nextFrame(); // the close, which this client never answers
    expect([frame.opcode, frame.payload.readUInt16BE(0), frame.payload.subarray(2).toString()]).toEqual([8, 1001, 'going away']);
    await client.closed;
    expect(await ends[0]).toEqual({ code: 1006, bodyBytesSent: 2 + 2 + 10 });
    acceptor.close();
    await new Promise((resolve) => server.close(resolve));
  });
});

describe('a run of small frames in one read', () => {
  /**
   * 6,000 pings (6 bytes each) then a text message, in one write: ws's Receiver used to parse
   * a whole read at once, so a session that takes no frame queued all 6,000 (1-1.5 MB of heap
   * per flooding connection). Now it parses 4 KiB at a time while it is paused, and keeps the
   * rest of the read as bytes; every frame still comes, in order, and a close after them too.
   */
  test('is parsed only as the session takes frames, and none is lost', async () => {
    const acceptor = new WebSocketAcceptor({ maxPayload: 1024 });
    const sessions: WebSocketSession[] = [];
    const server = http.createServer();
    server.on('upgrade', async (req, socket, head) => {
      const session = await acceptor.accept(req, socket, head, { timeoutMs: 0 });
      if (session) sessions.push(session);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = RawClient.open((server.address() as AddressInfo).port, seedRequest());
    await client.responseHead();
    await waitFor(() => sessions.length === 1);
    const session = sessions[0];
    const PINGS = 6000;
    const ping = encodeFrame(Opcode.PING);
    client.send(Buffer.concat([...Array(PINGS).fill(ping), encodeFrame(Opcode.TEXT, 'after the pings'), encodeFrame(Opcode.CLOSE, closePayload(1000))]));
    await new Promise((resolve) => setTimeout(resolve, 300));
    // At most the high-water mark plus one 4 KiB slice of frames, not the read's 6,000.
    const queued = (session as unknown as { queue: unknown[] }).queue.length;
    expect(queued).toBeGreaterThanOrEqual(64);
    expect(queued).toBeLessThanOrEqual(64 + Math.ceil(4096 / ping.length));
    const types: string[] = [];
    for (;;) {
      const frame = await session.recvFrame();
      types.push(frame!.type === 'text' ? `text ${frame!.data.toString()}` : frame!.type);
      if (frame!.type === 'close') break;
    }
    expect(types.length).toBe(PINGS + 2);
    expect(types.slice(0, PINGS).every((type) => type === 'ping')).toBe(true);
    expect(types.slice(PINGS)).toEqual(['text after the pings', 'close']);
    await client.finish();
    acceptor.close();
    await new Promise((resolve) => server.close(resolve));
  });
});

describe('sends to a client that reads nothing', () => {
  /**
   * lua-resty's send returns once its bytes are written: a script answering a ping flood stops
   * at the first pong the kernel cannot take. The session used to wait only past the socket's
   * 16 KiB high-water mark: some 2,300 pongs of 7 bytes queued in userland per connection.
   */
  test('wait as soon as the kernel does not take their bytes: nothing piles up in userland', async () => {
    const acceptor = new WebSocketAcceptor({ maxPayload: 1024 });
    const accepted: { session: WebSocketSession; socket: import('node:stream').Duplex }[] = [];
    const server = http.createServer();
    server.on('upgrade', async (req, socket, head) => {
      const session = await acceptor.accept(req, socket, head, { timeoutMs: 0 });
      if (session) accepted.push({ session, socket });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
    client.on('error', () => {});
    client.pause();
    client.write(seedRequest());
    await waitFor(() => accepted.length === 1);
    const { session, socket } = accepted[0];
    let sent = 0;
    let pumping = true;
    const pump = (async () => {
      while (pumping) {
        await session.sendPong('flood');
        sent++;
      }
    })().catch(() => undefined);
    // The kernel's buffers fill (a few MB on loopback), then the pump waits on its last pong.
    let last = -1;
    while (sent !== last) {
      last = sent;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(sent).toBeGreaterThan(1000);
    expect(socket.writableLength).toBeLessThanOrEqual(7);
    pumping = false;
    client.destroy();
    await pump;
    acceptor.close();
    await new Promise((resolve) => server.close(resolve));
  });
});

describe('configure', () => {
  function cx(raw: Record<string, unknown>, prefix = process.cwd()): ConfigContext {
    const fail = (reason: string): never => {
      throw new Error(reason);
    };
    const get = (key: string) => raw[key] as never;
    return {
      location: { confs: moduleConfs() } as unknown as ConfigContext['location'],
      prefix,
      handlersDir: path.join(prefix, 'handlers'),
      captureNames: new Set(),
      error: fail,
      time: get,
      size: get,
      flag: get,
      string: get,
      integer: get,
      resolve: (p) => path.resolve(prefix, p),
      compile: (text: string) => compileValue(text),
    };
  }
  const configure = (raw: Record<string, unknown>, prefix?: string) => websocketScript.configure(raw, cx(raw, prefix));

  test('reads the seed location with lua-resty defaults', () => {
    const opts = configure({ script: 'echo', timeout: 50000, lua_socket_log_errors: true });
    expect(opts).toMatchObject({ scriptName: 'echo', timeoutMs: 50000, maxPayloadLen: 65535, maxSendLen: 65535, options: {} });
    expect(typeof opts.script).toBe('function');
  });

  test('rejects a missing script, an unknown one, a module without a function, and non-map options', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'gw-ws-'));
    writeFileSync(path.join(dir, 'not-a-script.js'), 'module.exports = { default: 42 };');
    writeFileSync(path.join(dir, 'ok.js'), 'module.exports = async () => {};');
    writeFileSync(path.join(dir, 'throws.js'), "throw new Error('broken module\\nsecond line');");
    expect(() => configure({})).toThrow('"script" directive is required');
    expect(() => configure({ script: 'nope' }, dir)).toThrow('script "nope" not found');
    expect(() => configure({ script: 'not-a-script.js' }, dir)).toThrow('must export a function');
    expect(() => configure({ script: 'echo', options: [1] })).toThrow('"options" must be a map');
    expect(() => configure({ script: 'throws.js' }, dir)).toThrow(/cannot load script "throws.js" \(.*\): broken module$/);
    expect(() => configure({ script: 'toString' }, dir)).toThrow('not found');
    expect(typeof configure({ script: 'ok.js' }, dir).script).toBe('function');
    rmSync(dir, { recursive: true, force: true });
  });
});
