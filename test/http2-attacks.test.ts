/**
 * HTTP/2 attacks against the real `bin/gateway` (master and one worker, h2c), each written here
 * with raw frames (test/helpers/h2-frames.ts), each bounded in time: the attacking connection
 * is closed (or its stream refused) as nginx 1.22 closes it, a second client is answered during
 * the attack, and afterwards the worker's descriptors are back to their baseline and its memory
 * near it. What nginx 1.22.1 did with the same attack (run by hand) is in each test's name.
 */
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { fdTotal, workerPids } from './helpers/push-clients';
import { eventually } from './helpers/raw-socket';
import {
  ERROR, FRAME, SETTING, RawH2, continuation, data, getFields, headerBlock, headers, indexed, literal, literalIndexed, ping, rstStream, settings, windowUpdate,
} from './helpers/h2-frames';

/** How long an attack runs at most. */
const ATTACK_MS = 1500;

/** The worker's resident memory, in bytes. */
function rss(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) * 1024;
}

/** One GET of /ret on a fresh HTTP/2 connection (Node's client); resolves with its status, 0 on failure. */
function goodRequest(port: number): Promise<number> {
  return new Promise((resolve) => {
    const client = http2.connect(`http://127.0.0.1:${port}`);
    client.on('error', () => resolve(0));
    const req = client.request({ ':path': '/ret' });
    req.setTimeout(3000, () => req.close());
    req.on('response', (h) => {
      req.resume();
      req.on('end', () => {
        client.close();
        resolve(Number(h[':status']));
      });
    });
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** Writes `batch()` over and over (yielding to the loop in between) until `ms` pass or the server closes. */
async function flood(conn: RawH2, batch: () => Buffer[], ms = ATTACK_MS): Promise<number> {
  const start = performance.now();
  let batches = 0;
  while (!conn.closed && performance.now() - start < ms) {
    // A server that stops reading ends the flood (its socket buffers are full): the test then sees what it does.
    if (!conn.send(...batch()) && !(await drained(conn))) break;
    batches++;
    await new Promise((r) => setImmediate(r));
  }
  return batches;
}

/** Whether the socket drained (or closed) within a second. */
function drained(conn: RawH2): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), 1000);
    const done = () => {
      clearTimeout(timer);
      resolve(true);
    };
    conn.socket.once('drain', done).once('close', done);
  });
}

const POST_ECHO = headerBlock([[':method', 'POST'], [':scheme', 'http'], [':authority', 'x'], [':path', '/slow'], ['content-length', '5']]);

describe('HTTP/2 under attack (h2c, master and one worker)', () => {
  let gw: GatewayProcess;
  let port: number;
  let worker: number;
  let baselineFds: number;
  let baselineRss: number;

  beforeAll(async () => {
    gw = await startGateway(
      `worker_processes: 1\nerror_log: stderr info\npid: "off"\nhttp:\n  access_log: "off"\n  client_body_timeout: 1s\n  client_header_timeout: 2s\n` +
        `  servers:\n    - listen: 127.0.0.1:0 http2\n      http2_max_concurrent_streams: 16\n      locations:\n` +
        `        - { location: /ret, return: '200 "ret\\n"' }\n` +
        `        - { location: /slow, handler: push-publisher, channel: slow }\n`,
    );
    port = gw.ports[0];
    [worker] = workerPids(gw.child.pid!);
    // Whatever the first requests open for good is open before the baseline.
    for (let i = 0; i < 3; i++) expect(await goodRequest(port)).toBe(200);
    await eventually(() => false, 300);
    baselineFds = fdTotal([worker]);
    baselineRss = rss(worker);
  });
  afterAll(() => gw.stop());

  /** Runs `attack` while a good client asks every 100 ms; then the descriptors and memory come back. */
  async function underAttack(attack: () => Promise<void>): Promise<{ served: number[] }> {
    const served: number[] = [];
    let attacking = true;
    const good = (async () => {
      while (attacking) {
        served.push(await goodRequest(port));
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      await attack();
    } finally {
      attacking = false;
      // An attack that failed midway leaves no connection behind for the next one's baseline.
      RawH2.closeAll();
    }
    await good;
    expect(await eventually(() => fdTotal([worker]) <= baselineFds, 5000)).toBe(true);
    // Memory: near its baseline once the attack is over (the heap may keep some of what it grew to).
    expect(rss(worker)).toBeLessThan(baselineRss + 64 * 1024 * 1024);
    expect(served.length).toBeGreaterThan(0);
    expect(served.every((s) => s === 200)).toBe(true);
    return { served };
  }

  test('streams past http2_max_concurrent_streams: the connection is closed with GOAWAY (nginx: each refused with REFUSED_STREAM)', async () => {
    await underAttack(async () => {
      const conn = await RawH2.connect(port);
      await conn.until(() => conn.frames.find((f) => f.type === FRAME.SETTINGS));
      const frames = Array.from({ length: 40 }, (_, i) => headers(1 + 2 * i, POST_ECHO, { endStream: false }));
      conn.send(...frames);
      await conn.until(() => (conn.closed ? true : null), 3000);
      expect(conn.goaway()).not.toBeNull();
      expect(conn.closed).toBe(true);
      conn.close();
    });
  });

  test('rapid reset (CVE-2023-44487, HEADERS + RST_STREAM in a loop): GOAWAY and closed (nginx: GOAWAY, closed)', async () => {
    await underAttack(async () => {
      const conn = await RawH2.connect(port);
      const block = headerBlock(getFields('/ret'));
      let id = 1;
      await flood(conn, () => {
        const out: Buffer[] = [];
        for (let i = 0; i < 100; i++, id += 2) out.push(headers(id, block), rstStream(id));
        return out;
      }, 5000);
      // A loaded machine may leave resets queued when the flood stops: the server works through them.
      await conn.until(() => (conn.closed ? true : null), 10000);
      // Closed is what ends the attack; its GOAWAY (ENHANCE_YOUR_CALM) may be lost when the
      // connection closes behind a loaded machine's write queue, so it is not required here.
      expect(conn.closed).toBe(true);
    });
  });

  test('CONTINUATION flood (no END_HEADERS, ever): closed (nginx: GOAWAY PROTOCOL_ERROR)', async () => {
    await underAttack(async () => {
      const conn = await RawH2.connect(port);
      conn.send(headers(1, headerBlock(getFields('/ret')), { endHeaders: false }));
      let n = 0;
      await flood(conn, () => Array.from({ length: 50 }, () => continuation(1, literal(`x-${n++}`, 'v'.repeat(100)))), 5000);
      expect(conn.closed).toBe(true);
    });
  });

  test('empty CONTINUATION frames without end: closed (nginx: GOAWAY PROTOCOL_ERROR)', async () => {
    await underAttack(async () => {
      const conn = await RawH2.connect(port);
      conn.send(headers(1, headerBlock(getFields('/ret')), { endHeaders: false }));
      await flood(conn, () => Array.from({ length: 50 }, () => continuation(1, Buffer.alloc(0))), 5000);
      expect(conn.closed).toBe(true);
    });
  });

  test('HPACK bomb (one 4 KB entry in the dynamic table, referred to 4000 times): the stream reset ENHANCE_YOUR_CALM (nginx: GOAWAY ENHANCE_YOUR_CALM)', async () => {
    await underAttack(async () => {
      const conn = await RawH2.connect(port);
      const block = Buffer.concat([headerBlock(getFields('/ret')), literalIndexed('x-big', 'a'.repeat(4000)), ...Array.from({ length: 4000 }, () => indexed(62))]);
      const frames: Buffer[] = [];
      for (let at = 0; at < block.length; at += 16384) {
        const last = at + 16384 >= block.length;
        frames.push(at === 0 ? headers(1, block.subarray(0, 16384), { endHeaders: last }) : continuation(1, block.subarray(at, at + 16384), last));
      }
      conn.send(...frames);
      const outcome = await conn.outcome(1, 3000);
      expect([{ reset: ERROR.ENHANCE_YOUR_CALM }, { goaway: ERROR.ENHANCE_YOUR_CALM }]).toContainEqual(outcome);
      conn.close();
    });
  });

  test('PING flood from a client that reads nothing: closed (nginx: closed once its output piles up)', async () => {
    await underAttack(async () => {
      const conn = await RawH2.connect(port);
      conn.socket.pause();
      await flood(conn, () => Array.from({ length: 500 }, () => ping()), 5000);
      expect(conn.closed).toBe(true);
    });
  });

  test('SETTINGS flood from a client that reads nothing: closed (nginx: GOAWAY, closed)', async () => {
    await underAttack(async () => {
      const conn = await RawH2.connect(port);
      conn.socket.pause();
      await flood(conn, () => Array.from({ length: 500 }, () => settings([[SETTING.INITIAL_WINDOW_SIZE, 65535]])), 5000);
      expect(conn.closed).toBe(true);
    });
  });

  test('WINDOW_UPDATE flood: the worker serves others meanwhile; an overflowing window closes the connection with GOAWAY (nginx: FLOW_CONTROL_ERROR; its flood check also closes a long flood)', async () => {
    await underAttack(async () => {
      const conn = await RawH2.connect(port);
      await flood(conn, () => Array.from({ length: 500 }, () => windowUpdate(0, 1)));
      conn.send(windowUpdate(0, 0x7fffffff));
      await conn.until(() => (conn.closed ? true : null), 3000);
      expect(conn.closed).toBe(true);
      // Node reports nghttp2's flow control error as INTERNAL_ERROR.
      expect(conn.goaway()?.code).toBe(ERROR.INTERNAL_ERROR);
    });
  });

  test('a stream that never sends its body: reset after client_body_timeout (nginx: RST_STREAM after client_body_timeout)', async () => {
    await underAttack(async () => {
      const conn = await RawH2.connect(port);
      const start = performance.now();
      conn.send(headers(1, POST_ECHO, { endStream: false }), data(1, 'ab', false));
      const outcome = await conn.outcome(1, 4000);
      const after = performance.now() - start;
      expect(outcome).toHaveProperty('reset');
      expect(after).toBeGreaterThan(900);
      expect(after).toBeLessThan(3000);
      conn.close();
    });
  });

  test('a connection that opens no stream: GOAWAY and closed after client_header_timeout (nginx: the same)', async () => {
    const conn = await RawH2.connect(port);
    const start = performance.now();
    await conn.until(() => (conn.closed ? true : null), 5000);
    const after = performance.now() - start;
    expect(conn.closed).toBe(true);
    expect(conn.goaway()?.code).toBe(ERROR.NO_ERROR);
    expect(after).toBeGreaterThan(1900);
    expect(after).toBeLessThan(3500);
  });
});
