/**
 * Push channels end to end: the gateway as a process with two workers, EventSource and
 * WebSocket subscribers, HTTP publishing, replay, slow subscribers, a dying worker, bad input.
 */
import http from 'node:http';
import WebSocket from 'ws';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { request } from './helpers/http-client';
import { connectionOwner, fdTotal, sseSubscribe, workerPids, wsSubscribe, type Subscriber } from './helpers/push-clients';

const SITE = `
worker_processes: 2
error_log: stderr notice
pid: off
http:
  servers:
    - listen: 127.0.0.1:0
      access_log: off
      locations:
        - location: ~ ^/sub/([\\w-]+)$
          handler: push-subscriber
          channel: $1
        - location: = /sub-q
          handler: push-subscriber
          channel: $arg_id
        - location: ~ ^/sse-only/(\\w+)$
          handler: push-subscriber
          channel: $1
          subscriber_types: eventsource
        - location: ~ ^/slow/(\\w+)$
          handler: push-subscriber
          channel: $1
          send_buffer: 64k
          overflow: close
        - location: ~ ^/lossy/(\\w+)$
          handler: push-subscriber
          channel: $1
          send_buffer: 64k
          overflow: drop_oldest
        - location: ~ ^/pub/([\\w-]+)$
          handler: push-publisher
          channel: $1
          message_buffer_length: 5
          client_max_body_size: 512k
        - location: ~ ^/bigpub/(\\w+)$
          handler: push-publisher
          channel: $1
          client_max_body_size: 64m
        - location: = /pub-q
          handler: push-publisher
          channel: $arg_id
        - location: ~ ^/secret/(\\w+)$
          handler: push-publisher
          channel: $1
          secret: s3cret
        - location: ~ ^/closed/(\\w+)$
          handler: push-publisher
          channel: $1
          deny: all
        - location: ~ ^/slowpub/(\\w+)$
          handler: push-publisher
          channel: $1
          client_body_timeout: 300ms
        - location: ~ ^/pinged/(\\w+)$
          handler: push-subscriber
          channel: $1
          ping_interval: 100ms
        - location: = /metrics
          handler: metrics
`;

let gw: GatewayProcess;
let port: number;
const open: Subscriber[] = [];

beforeAll(async () => {
  gw = await startGateway(SITE);
  port = gw.ports[0];
});

afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

afterAll(async () => {
  if (process.env.SHOW_GATEWAY_LOG) console.log(gw.stderr());
  await gw.stop();
});

const publish = async (channel: string, body: string | Buffer, headers: Record<string, string> = {}) => {
  const res = await request(port, `/pub/${channel}`, { method: 'POST', body, headers });
  return { status: res.status, json: res.status < 300 ? JSON.parse(res.body.toString()) : null, res };
};
const sse = async (path: string, headers?: Record<string, string>) => {
  const s = await sseSubscribe(port, path, headers);
  open.push(s);
  return s;
};
const ws = async (path: string) => {
  const s = await wsSubscribe(port, path);
  open.push(s);
  return s;
};

/** Waits until the channel's subscriber count (as the publisher reports it) is `n`. */
async function subscribersAre(channel: string, n: number): Promise<void> {
  for (let i = 0; i < 250; i++) {
    const res = await request(port, `/pub/${channel}`);
    const count = res.status === 200 ? JSON.parse(res.body.toString()).subscribers : 0;
    if (count === n) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`channel ${channel} never had ${n} subscribers`);
}

async function metric(name: string): Promise<number> {
  const body = (await request(port, '/metrics')).body.toString();
  return body
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`))
    .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
}

test('publishing with nobody there: 202, kept for replay; channel info; unknown channels 404', async () => {
  const first = await publish('lonely', 'one', { 'Content-Type': 'text/plain' });
  expect(first.status).toBe(202);
  expect(first.json).toMatchObject({ channel: 'lonely', subscribers: 0, messages: 1 });
  expect(first.json.id).toMatch(/^\d+-\d+$/);
  const info = await request(port, '/pub/lonely');
  expect(info.status).toBe(200);
  expect(info.headers['content-type']).toBe('application/json');
  expect(JSON.parse(info.body.toString())).toEqual({ channel: 'lonely', messages: 1, subscribers: 0, last_message_id: first.json.id, last_message_time: expect.any(Number) });
  expect((await request(port, '/pub/lonely', { method: 'HEAD' })).body.length).toBe(0);
  expect((await request(port, '/pub/nobody-here')).status).toBe(404);
  expect((await request(port, '/pub/nobody-here', { method: 'DELETE' })).status).toBe(404);
  expect((await request(port, '/pub/lonely', { method: 'DELETE' })).status).toBe(200);
  expect((await request(port, '/pub/lonely')).status).toBe(404);
});

test('an EventSource and a WebSocket subscriber get the same message with the same id; 201 counts them', async () => {
  const a = await sse('/sub/news');
  expect(a.headers['content-type']).toBe('text/event-stream; charset=utf-8');
  expect(a.headers['cache-control']).toBe('no-cache');
  const b = await ws('/sub/news');
  await subscribersAre('news', 2);
  const sent = await publish('news', 'line one\nline two');
  expect(sent.status).toBe(201);
  expect(sent.json.subscribers).toBe(2);
  const [event] = await a.waitFor(1);
  expect(event).toEqual({ id: sent.json.id, data: 'line one\nline two' });
  expect((await b.waitFor(1))[0]).toEqual({ id: null, data: 'line one\nline two', binary: false });
  // Data that is not UTF-8 goes to WebSockets as a binary frame.
  await publish('news', Buffer.from([0xff, 0x00, 0xfe]));
  expect((await b.waitFor(2))[1]).toEqual({ id: null, data: 'ff00fe', binary: true });
});

test('replay: Last-Event-ID and ?last_id= get what was missed, in order, then live messages, once each', async () => {
  const ids: string[] = [];
  for (const text of ['m1', 'm2', 'm3']) ids.push((await publish('replay', text)).json.id);
  const again = await sse('/sub/replay', { 'Last-Event-ID': ids[0] });
  expect((await again.waitFor(2)).map((e) => e.data)).toEqual(['m2', 'm3']);
  const socket = await ws(`/sub/replay?last_id=${ids[1]}`);
  expect((await socket.waitFor(1)).map((e) => e.data)).toEqual(['m3']);
  const all = await ws('/sub/replay?last_id=0');
  expect((await all.waitFor(3)).map((e) => e.data)).toEqual(['m1', 'm2', 'm3']);
  await subscribersAre('replay', 3);
  await publish('replay', 'm4');
  expect((await again.waitFor(3)).map((e) => e.data)).toEqual(['m2', 'm3', 'm4']);
  expect((await socket.waitFor(2)).map((e) => e.data)).toEqual(['m3', 'm4']);
  expect((await all.waitFor(4)).map((e) => e.data)).toEqual(['m1', 'm2', 'm3', 'm4']);
  // message_buffer_length 5: the oldest go.
  for (const text of ['m5', 'm6', 'm7']) await publish('replay', text);
  const late = await sse('/sub/replay', { 'Last-Event-ID': '0' });
  expect((await late.waitFor(5)).map((e) => e.data)).toEqual(['m3', 'm4', 'm5', 'm6', 'm7']);
});

test('a publish on any worker reaches subscribers on both workers; a worker that dies takes only its own', async () => {
  const pids = workerPids(gw.child.pid!);
  expect(pids).toHaveLength(2);
  const subscribers: { sub: Subscriber; pid: number | null }[] = [];
  for (let i = 0; i < 60 && new Set(subscribers.map((s) => s.pid)).size < 2; i++) {
    const sub = i % 2 ? await sse('/sub/both') : await ws('/sub/both');
    subscribers.push({ sub, pid: connectionOwner(port, sub.localPort, pids) });
  }
  expect(new Set(subscribers.map((s) => s.pid))).toEqual(new Set(pids));
  await subscribersAre('both', subscribers.length);
  for (let i = 0; i < 4; i++) await publish('both', `to all ${i}`);
  for (const { sub } of subscribers) expect((await sub.waitFor(4)).map((e) => e.data)).toEqual(['to all 0', 'to all 1', 'to all 2', 'to all 3']);

  const victim = subscribers[0].pid!;
  const survivors = subscribers.filter((s) => s.pid !== victim);
  process.kill(victim, 'SIGKILL');
  await Promise.all(subscribers.filter((s) => s.pid === victim).map((s) => s.sub.ended));
  await subscribersAre('both', survivors.length);
  const after = await publish('both', 'after the crash');
  expect(after.json.subscribers).toBe(survivors.length);
  for (const { sub } of survivors) expect((await sub.waitFor(5))[4].data).toBe('after the crash');
  // The master replaced the worker; the channel kept its messages (they live in the master).
  for (let i = 0; i < 250 && workerPids(gw.child.pid!).length < 2; i++) await new Promise((r) => setTimeout(r, 20));
  const replayed = await sse('/sub/both', { 'Last-Event-ID': '0' });
  expect((await replayed.waitFor(5)).map((e) => e.data).at(-1)).toBe('after the crash');
});

test('a publish of megabytes through a worker is answered for what it did: 201 once, delivered once', async () => {
  // The worker's channel to the master reports backpressure on a large message; that is
  // "queued", not "failed": the publish must not be answered 503 (a client would retry it).
  const sub = await ws('/sub/huge');
  await subscribersAre('huge', 1);
  for (const size of [600 * 1024, 4 * 1024 * 1024, 48 * 1024 * 1024]) {
    const body = Buffer.alloc(size, 'x');
    const res = await request(port, '/bigpub/huge', { method: 'POST', body });
    expect(res.status).toBe(201);
    expect(JSON.parse(res.body.toString())).toMatchObject({ channel: 'huge', subscribers: 1 });
  }
  const got = await sub.waitFor(3);
  expect(got.map((m) => m.data.length)).toEqual([600 * 1024, 4 * 1024 * 1024, 48 * 1024 * 1024]);
}, 60000);

test('ping_interval: an idle WebSocket subscriber gets pings, an idle event stream gets comments', async () => {
  const socket = await ws('/pinged/quiet');
  await new Promise<void>((resolve) => socket.ws.once('ping', () => resolve()));
  const raw = await new Promise<string>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/pinged/quiet', agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        if (text.includes(': ping')) {
          req.destroy();
          resolve(text);
        }
      });
    });
    req.on('error', reject);
  });
  expect(raw).toBe(': ping\n\n');
});

test('DELETE closes every subscriber of the channel: WebSocket 1000, the event stream ends', async () => {
  const a = await ws('/sub/doomed');
  const b = await sse('/sub/doomed');
  await subscribersAre('doomed', 2);
  const res = await request(port, '/pub/doomed', { method: 'DELETE' });
  expect(JSON.parse(res.body.toString())).toEqual({ channel: 'doomed', subscribers: 2 });
  expect(await a.ended).toEqual({ code: 1000, reason: 'channel deleted' });
  await b.ended;
  await subscribersAre('doomed', 0);
});

test('bad input: channel ids, last ids, sizes, secrets and methods get clear statuses', async () => {
  expect((await request(port, '/pub-q?id=has%20space', { method: 'POST', body: 'x' })).status).toBe(400);
  expect((await request(port, '/pub-q', { method: 'POST', body: 'x' })).status).toBe(400);
  expect((await request(port, `/pub-q?id=${'x'.repeat(300)}`)).status).toBe(400);
  await expect(sseSubscribe(port, '/sub-q?id=a,b')).rejects.toMatchObject({ status: 400 });
  await expect(sseSubscribe(port, '/sub/x', { 'Last-Event-ID': 'yesterday' })).rejects.toMatchObject({ status: 400 });
  await expect(wsSubscribe(port, '/sub/x?last_id=1-2-3')).rejects.toMatchObject({ status: 400 });
  await expect(wsSubscribe(port, '/sse-only/x')).rejects.toMatchObject({ status: 400 });
  expect((await publish('big', Buffer.alloc(600 * 1024, 'a'))).status).toBe(413);
  // A chunked body over the limit is refused as it arrives, too.
  const chunked = await new Promise<number>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/pub/big', method: 'POST', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    for (let i = 0; i < 10; i++) req.write(Buffer.alloc(64 * 1024, 'b'));
    req.end();
  });
  expect(chunked).toBe(413);
  expect((await request(port, '/pub/big')).status).toBe(404);
  expect((await request(port, '/secret/x', { method: 'POST', body: 'x' })).status).toBe(403);
  expect((await request(port, '/secret/x', { method: 'POST', body: 'x', headers: { Authorization: 'Bearer wrong' } })).status).toBe(403);
  expect((await request(port, '/secret/x', { method: 'POST', body: 'x', headers: { Authorization: 'Bearer s3cret' } })).status).toBe(202);
  expect((await request(port, '/closed/refused', { method: 'POST', body: 'x' })).status).toBe(403);
  expect((await request(port, '/pub/refused')).status).toBe(404);
  const patch = await request(port, '/pub/x', { method: 'PATCH' });
  expect(patch.status).toBe(405);
  expect(patch.headers.allow).toBe('GET, HEAD, POST, PUT, DELETE');
  expect((await request(port, '/sub/x', { method: 'POST', body: 'x' })).status).toBe(405);
  expect(gw.child.exitCode).toBeNull();
});

test('a publisher whose body stalls past client_body_timeout is closed without an answer, and nothing is published', async () => {
  const outcome = await new Promise<string>((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/slowpub/stalled', method: 'POST', agent: false }, (res) => resolve(`status ${res.statusCode}`));
    req.on('error', (err) => resolve(`closed (${(err as NodeJS.ErrnoException).code ?? err.message})`));
    req.write('the start of a body that never ends');
  });
  expect(outcome).toMatch(/^closed/);
  expect((await request(port, '/pub/stalled')).status).toBe(404);
});

/** A WebSocket subscriber that stops reading at once (its socket paused). */
async function stalled(path: string): Promise<Subscriber & { ws: WebSocket; resume(): void }> {
  const s = await ws(path);
  const socket = (s.ws as unknown as { _socket: import('node:net').Socket })._socket;
  socket.pause();
  return Object.assign(s, { resume: () => socket.resume() });
}

test('a slow subscriber with overflow close is closed with 1013; the others go on', async () => {
  const closesBefore = await metric('gateway_push_overflow_closes_total');
  const slow = await stalled('/slow/flood');
  const fast = await ws('/slow/flood');
  await subscribersAre('flood', 2);
  const big = Buffer.alloc(256 * 1024, 'z').toString();
  for (let i = 0; i < 60 && (await metric('gateway_push_overflow_closes_total')) === closesBefore; i++) {
    await publish('flood', `${i}:${big}`);
    await fast.waitFor(i + 1);
  }
  expect(await metric('gateway_push_overflow_closes_total')).toBe(closesBefore + 1);
  slow.resume();
  expect((await slow.ended).code).toBe(1013);
  await subscribersAre('flood', 1);
  const before = fast.received.length;
  await publish('flood', 'still here');
  expect((await fast.waitFor(before + 1)).at(-1)?.data).toBe('still here');
}, 30_000);

test('a slow EventSource with overflow close is cut off, and can come back for what it missed', async () => {
  const closesBefore = await metric('gateway_push_overflow_closes_total');
  const slow = await sse('/slow/sseflood');
  await subscribersAre('sseflood', 1);
  slow.stall();
  const big = Buffer.alloc(256 * 1024, 'y').toString();
  const ids: string[] = [];
  for (let i = 0; i < 60 && (await metric('gateway_push_overflow_closes_total')) === closesBefore; i++) ids.push((await publish('sseflood', `${i}:${big}`)).json.id);
  expect(await metric('gateway_push_overflow_closes_total')).toBe(closesBefore + 1);
  await subscribersAre('sseflood', 0);
  // The replay is written whole, past send_buffer: only what waits behind it counts.
  const back = await sse('/sub/sseflood', { 'Last-Event-ID': ids[0] });
  const kept = Math.min(5, ids.length - 1); // the publisher's message_buffer_length
  const replayed = await back.waitFor(kept);
  expect(replayed.map((e) => e.id)).toEqual(ids.slice(-kept));
}, 30_000);

test('a slow subscriber with drop_oldest loses the oldest held messages, keeps order and the newest', async () => {
  const droppedBefore = await metric('gateway_push_messages_dropped_total');
  const slow = await stalled('/lossy/stream');
  await subscribersAre('stream', 1);
  const big = Buffer.alloc(128 * 1024, 'z').toString();
  let sent = 0;
  while (sent < 200 && (await metric('gateway_push_messages_dropped_total')) < droppedBefore + 5) await publish('stream', `${sent++}:${big}`);
  await publish('stream', `${sent++}:last`);
  slow.resume();
  const got = await new Promise<number[]>((resolve) => {
    const check = setInterval(() => {
      const last = slow.received.at(-1);
      if (last?.data.endsWith(':last')) {
        clearInterval(check);
        resolve(slow.received.map((r) => Number(r.data.split(':')[0])));
      }
    }, 20);
  });
  expect(got.length).toBeLessThan(sent);
  expect(got.at(-1)).toBe(sent - 1);
  expect([...got].sort((x, y) => x - y)).toEqual(got);
  expect(new Set(got).size).toBe(got.length);
  expect(await metric('gateway_push_messages_dropped_total')).toBeGreaterThanOrEqual(droppedBefore + sent - got.length);
}, 30_000);

test('subscribers that leave give back their descriptors; the counts follow', async () => {
  const pids = workerPids(gw.child.pid!);
  const before = fdTotal(pids);
  const subs = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? sse('/sub/churn') : ws('/sub/churn'))));
  await subscribersAre('churn', 20);
  expect(await metric('gateway_push_subscribers')).toBeGreaterThanOrEqual(20);
  for (const s of subs) s.close();
  await subscribersAre('churn', 0);
  for (let i = 0; i < 250 && fdTotal(pids) > before; i++) await new Promise((r) => setTimeout(r, 20));
  expect(fdTotal(pids)).toBeLessThanOrEqual(before);
});

test('a reload keeps channels: old subscribers still get messages, new ones are replayed what came before', async () => {
  const before = await sse('/sub/reload');
  await subscribersAre('reload', 1);
  await publish('reload', 'before the reload');
  await before.waitFor(1);
  const oldWorkers = workerPids(gw.child.pid!);
  process.kill(gw.child.pid!, 'SIGHUP');
  for (let i = 0; i < 500; i++) {
    const now = workerPids(gw.child.pid!);
    if (now.filter((p) => !oldWorkers.includes(p)).length === 2) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  expect(workerPids(gw.child.pid!).filter((p) => !oldWorkers.includes(p))).toHaveLength(2);
  const after = await sse('/sub/reload', { 'Last-Event-ID': '0' });
  expect((await after.waitFor(1)).map((e) => e.data)).toEqual(['before the reload']);
  await subscribersAre('reload', 2);
  await publish('reload', 'after the reload');
  expect((await before.waitFor(2)).map((e) => e.data)).toEqual(['before the reload', 'after the reload']);
  expect((await after.waitFor(2)).map((e) => e.data)).toEqual(['before the reload', 'after the reload']);
});
