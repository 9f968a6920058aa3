/**
 * Two real gateways share push channels through one redis-server (`push_redis_url`): one with a
 * master and two workers, one single process (`master_process: off`). A POST to a publisher on
 * either reaches EventSource and WebSocket subscribers on both; when Redis dies, each gateway's
 * publishes reach its own subscribers only (`"local": true`) and the channel state is 503.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { startGateway, type GatewayProcess } from './helpers/gateway-process';
import { request } from './helpers/http-client';
import { sseSubscribe, wsSubscribe } from './helpers/push-clients';
import { RedisServer } from './helpers/redis-server';
import { waitFor } from './helpers/ws-harness';

const conf = (redisUrl: string, processes: string) => `
${processes}
error_log: stderr notice
pid: off
http:
  push_redis_url: ${redisUrl}
  servers:
    - listen: "127.0.0.1:0"
      locations:
        - location: ~ ^/pub/(\\w+)$
          handler: push-publisher
          channel: $1
        - location: ~ ^/sub/(\\w+)$
          handler: push-subscriber
          channel: $1
        - location: ~ ^/bigpub/(\\w+)$
          handler: push-publisher
          channel: $1
          client_max_body_size: 128m
`;

const publish = async (port: number, channel: string, body: string) => {
  const res = await request(port, `/pub/${channel}`, { method: 'POST', body, headers: { 'Content-Type': 'text/plain' } });
  return { status: res.status, json: res.status < 300 ? JSON.parse(res.body.toString()) : null };
};

/** Waits until the channel counts `n` subscribers (every gateway's subscription is live). */
const subscribed = (port: number, channel: string, n: number) =>
  waitFor(async () => {
    const res = await request(port, `/pub/${channel}`);
    return res.status === 200 && JSON.parse(res.body.toString()).subscribers === n;
  }, 10000);

let redis: RedisServer;
let a: GatewayProcess;
let b: GatewayProcess;

beforeAll(async () => {
  redis = await RedisServer.start();
  a = await startGateway(conf(redis.url, 'worker_processes: 2'));
  b = await startGateway(conf(redis.url, 'master_process: off'));
}, 30000);

afterAll(async () => {
  await Promise.all([a?.stop(), b?.stop()]);
  await redis?.close();
});

test('a POST on one gateway reaches EventSource and WebSocket subscribers on both, with one id', async () => {
  const sseOnB = await sseSubscribe(b.ports[0], '/sub/room');
  const wsOnA = await wsSubscribe(a.ports[0], '/sub/room');
  try {
    await subscribed(a.ports[0], 'room', 2);
    const first = await publish(a.ports[0], 'room', 'hello from A');
    expect(first.status).toBe(201);
    expect(first.json).toEqual({ channel: 'room', id: expect.stringMatching(/^\d+-\d+$/), subscribers: 2, messages: 1 });
    const second = await publish(b.ports[0], 'room', 'hello from B');
    expect(second.json).toMatchObject({ subscribers: 2, messages: 2 });
    expect(await sseOnB.waitFor(2)).toEqual([
      { id: first.json.id, data: 'hello from A' },
      { id: second.json.id, data: 'hello from B' },
    ]);
    expect((await wsOnA.waitFor(2)).map((m) => m.data)).toEqual(['hello from A', 'hello from B']);

    // An EventSource coming back to the other gateway is replayed what it missed.
    const back = await sseSubscribe(a.ports[0], '/sub/room', { 'Last-Event-ID': first.json.id });
    expect(await back.waitFor(1)).toEqual([{ id: second.json.id, data: 'hello from B' }]);
    back.close();

    // DELETE on one gateway ends the subscribers of both.
    expect((await request(b.ports[0], '/pub/room', { method: 'DELETE' })).status).toBe(200);
    await Promise.all([sseOnB.ended, wsOnA.ended]);
  } finally {
    sseOnB.close();
    wsOnA.close();
  }
});

test('a 100 MB publish through a worker is stored and shared: no false outage, delivered on both gateways', async () => {
  const onA = await wsSubscribe(a.ports[0], '/sub/huge');
  const onB = await wsSubscribe(b.ports[0], '/sub/huge');
  try {
    await subscribed(a.ports[0], 'huge', 2);
    const size = 100 * 1024 * 1024;
    const res = await request(a.ports[0], '/bigpub/huge', { method: 'POST', body: Buffer.alloc(size, 'h') });
    expect(res.status).toBe(201);
    expect(JSON.parse(res.body.toString())).toMatchObject({ channel: 'huge', subscribers: 2, messages: 1 });
    expect(JSON.parse(res.body.toString()).local).toBeUndefined();
    for (const sub of [onA, onB]) expect((await sub.waitFor(1, 20000)).map((m) => m.data.length)).toEqual([size]);
    // Small operations right after still see Redis there.
    expect((await publish(b.ports[0], 'huge', 'small')).json).toMatchObject({ subscribers: 2, messages: 2 });
    expect(a.stderr()).not.toMatch(/unreachable/);
    expect(b.stderr()).not.toMatch(/unreachable/);
  } finally {
    onA.close();
    onB.close();
  }
}, 60000);

test('Redis killed: each gateway publishes to its own subscribers only; shared again once it is back', async () => {
  const onA = await sseSubscribe(a.ports[0], '/sub/fault');
  const onB = await wsSubscribe(b.ports[0], '/sub/fault');
  const texts = (s: { received: { data: string }[] }) => s.received.map((m) => m.data);
  try {
    await subscribed(b.ports[0], 'fault', 2);
    await redis.stop('SIGKILL');
    await waitFor(() => /push: Redis at 127\.0\.0\.1:\d+ unreachable/.test(a.stderr()) && /push: Redis at 127\.0\.0\.1:\d+ unreachable/.test(b.stderr()), 10000);

    const local = await publish(a.ports[0], 'fault', 'A alone');
    expect(local.status).toBe(201);
    expect(local.json).toMatchObject({ channel: 'fault', subscribers: 1, messages: 0, local: true });
    expect(await onA.waitFor(1)).toEqual([{ id: local.json.id, data: 'A alone' }]);
    expect((await request(a.ports[0], '/pub/fault')).status).toBe(503);
    expect((await request(b.ports[0], '/pub/fault', { method: 'DELETE' })).status).toBe(503);
    expect(a.stderr().match(/unreachable \(/g)).toHaveLength(1);

    await redis.restart();
    await subscribed(a.ports[0], 'fault', 2);
    // Each gateway's subscriber connection subscribes again on its own time: publish until both hear.
    await waitFor(async () => {
      await publish(b.ports[0], 'fault', 'shared again');
      await new Promise((r) => setTimeout(r, 50));
      return texts(onA).includes('shared again') && texts(onB).includes('shared again');
    }, 15000);
    expect(texts(onB)).not.toContain('A alone');
    expect(a.stderr()).toMatch(/push: Redis at 127\.0\.0\.1:\d+ reachable again/);
  } finally {
    onA.close();
    onB.close();
  }
}, 60000);

test('a reload that sets push_redis_url moves the channels to Redis: the subscribers kept by the old workers hear the other gateway', async () => {
  const alone = await startGateway(conf(redis.url, 'worker_processes: 2').replace(/^ {2}push_redis_url: .*\n/m, ''));
  try {
    const sub = await sseSubscribe(alone.ports[0], '/sub/moved');
    try {
      await subscribed(alone.ports[0], 'moved', 1);
      // Not shared yet: the other gateway's channel of that name is another channel.
      expect((await publish(b.ports[0], 'moved', 'before')).json).toMatchObject({ subscribers: 0 });
      writeFileSync(path.join(alone.prefix, 'conf/test.yaml'), conf(redis.url, 'worker_processes: 2'));
      process.kill(alone.child.pid!, 'SIGHUP');
      await waitFor(() => /reload: new worker processes ready/.test(alone.stderr()), 15000);
      await subscribed(b.ports[0], 'moved', 1);
      const shared = await publish(b.ports[0], 'moved', 'after');
      expect(shared.json).toMatchObject({ subscribers: 1 });
      expect((await sub.waitFor(1)).map((m) => m.data)).toEqual(['after']);
    } finally {
      sub.close();
    }
  } finally {
    await alone.stop();
  }
}, 60000);
