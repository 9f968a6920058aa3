/**
 * Push channels in Redis: two instances (a `Fanout` over a `RedisBackend` each, as two gateways)
 * share one real redis-server. Publishes reach both, replay and limits hold across them, and
 * when Redis goes away each instance still delivers its own publishes to its own subscribers.
 */
import { execFileSync } from 'node:child_process';
import type { PublishResult } from '../src/modules/push/backend';
import { Fanout } from '../src/modules/push/fanout';
import { compareIds, parseId, type PushMessage } from '../src/modules/push/message';
import { RedisBackend, RedisUnavailableError } from '../src/modules/push/redis-backend';
import type { PushSubscription } from '../src/types';
import { freePort, RedisServer } from './helpers/redis-server';
import { memoryLogger } from './helpers/static-conf';
import { waitFor } from './helpers/ws-harness';

interface Instance {
  readonly backend: RedisBackend;
  readonly fanout: Fanout;
  readonly log: ReturnType<typeof memoryLogger>;
}

let redis: RedisServer;
const instances: Instance[] = [];
let a: Instance;
let b: Instance;
let channelSeq = 0;

/** A channel no other test uses. */
const fresh = (name: string) => `${name}-${++channelSeq}`;

function instance(options: ConstructorParameters<typeof RedisBackend>[2] = {}): Instance {
  const log = memoryLogger();
  const backend = new RedisBackend(redis.url, log, options);
  const created = { backend, fanout: new Fanout(backend, log), log };
  instances.push(created);
  return created;
}

/** A subscriber that keeps what it gets. */
async function listen(on: Instance, channel: string, lastId?: string) {
  const got: PushMessage[] = [];
  const closed: string[] = [];
  const sub: PushSubscription = await on.fanout.subscribe(channel, (m) => got.push(m), { lastId, onClose: (why) => closed.push(why) });
  return { got, closed, sub, ids: () => got.map((m) => m.id), texts: () => got.map((m) => m.data.toString()) };
}

function redisCli(...args: string[]): string {
  return execFileSync('redis-cli', ['-p', String(redis.port), ...args], { encoding: 'utf8' }).trim();
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  redis = await RedisServer.start();
  a = instance();
  b = instance();
  await waitFor(() => a.backend.connected && b.backend.connected);
});

afterAll(async () => {
  await Promise.all(instances.map((i) => i.fanout.close()));
  await redis?.close();
});

describe('two instances over one Redis', () => {
  test('a publish on one reaches the subscribers of both, with one id', async () => {
    const channel = fresh('both');
    const onA = await listen(a, channel);
    const onB = await listen(b, channel);
    const result = await a.fanout.publish(channel, 'hello', { contentType: 'text/plain' });
    expect(result).toEqual({ id: expect.stringMatching(/^\d+-\d+$/), subscribers: 2, messages: 1 });
    expect(result.local).toBeUndefined();
    await waitFor(() => onA.got.length === 1 && onB.got.length === 1);
    for (const got of [onA.got, onB.got]) {
      expect(got[0]).toMatchObject({ id: result.id, channel, contentType: 'text/plain' });
      expect(got[0].data.toString()).toBe('hello');
      expect(got[0].time).toBe(Number(result.id.split('-')[0]));
    }
    const back = await b.fanout.publish(channel, 'back');
    await waitFor(() => onA.got.length === 2 && onB.got.length === 2);
    expect(onA.ids()).toEqual(onB.ids());
    expect(onA.ids()[1]).toBe(back.id);
    onA.sub.unsubscribe();
    onB.sub.unsubscribe();
  });

  test('subscriber totals add up across instances', async () => {
    const channel = fresh('totals');
    const subs = [await listen(a, channel), await listen(a, channel), await listen(b, channel)];
    expect((await a.fanout.publish(channel, 'x')).subscribers).toBe(3);
    expect(await b.fanout.info(channel)).toMatchObject({ channel, subscribers: 3, messages: 1 });
    subs[0].sub.unsubscribe();
    await waitFor(async () => (await a.fanout.info(channel))?.subscribers === 2);
    expect((await b.fanout.publish(channel, 'y')).subscribers).toBe(2);
    subs[1].sub.unsubscribe();
    subs[2].sub.unsubscribe();
    await waitFor(async () => (await a.fanout.info(channel))?.subscribers === 0);
    expect(await a.fanout.info(channel)).toMatchObject({ messages: 2, subscribers: 0 });
    expect(redisCli('EXISTS', `gateway:push:subscribers:${channel}`)).toBe('0');
  });

  test('info: null for an unknown channel; last id and time of the newest message', async () => {
    const channel = fresh('info');
    expect(await a.fanout.info(channel)).toBeNull();
    await a.fanout.publish(channel, '1');
    const last = await b.fanout.publish(channel, '2');
    expect(await a.fanout.info(channel)).toEqual({ channel, messages: 2, subscribers: 0, lastId: last.id, lastTime: Number(last.id.split('-')[0]) });
  });

  test('replay with a last id across instances: in order, once each, then live', async () => {
    const channel = fresh('replay');
    const published: PublishResult[] = [];
    for (let i = 0; i < 5; i++) published.push(await (i % 2 ? b : a).fanout.publish(channel, `m${i}`));
    const late = await listen(b, channel, published[1].id);
    expect(late.texts()).toEqual(['m2', 'm3', 'm4']);
    const all = await listen(a, channel, '0');
    expect(all.texts()).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
    await a.fanout.publish(channel, 'm5');
    await waitFor(() => late.got.length === 4 && all.got.length === 6);
    expect(late.texts()).toEqual(['m2', 'm3', 'm4', 'm5']);
    late.sub.unsubscribe();
    all.sub.unsubscribe();
  });

  test('a subscriber joining during a stream of publishes misses none and gets none twice', async () => {
    const channel = fresh('merge');
    const limits = { bufferLength: 1000 };
    const first = await a.fanout.publish(channel, 'start', limits);
    let stop = false;
    const publisher = (async () => {
      let i = 0;
      while (!stop) await b.fanout.publish(channel, `n${i++}`, limits);
    })();
    await sleep(20);
    const joiner = await listen(a, channel, first.id);
    await sleep(20);
    stop = true;
    await publisher;
    const last = (await b.fanout.publish(channel, 'end', limits)).id;
    await waitFor(() => joiner.ids().includes(last));
    const texts = joiner.texts();
    expect(texts[texts.length - 1]).toBe('end');
    const numbered = texts.slice(0, -1).map((t) => Number(t.slice(1)));
    expect(numbered.length).toBeGreaterThan(0);
    expect(numbered).toEqual(numbered.map((_, i) => i));
    joiner.sub.unsubscribe();
  });

  test('message_buffer_length trims across instances; 0 keeps nothing but ids keep increasing', async () => {
    const channel = fresh('buffer');
    let result: PublishResult | undefined;
    for (let i = 0; i < 5; i++) result = await (i % 2 ? b : a).fanout.publish(channel, `m${i}`, { bufferLength: 3 });
    expect(result!.messages).toBe(3);
    const replay = await listen(b, channel, '0');
    expect(replay.texts()).toEqual(['m2', 'm3', 'm4']);
    replay.sub.unsubscribe();

    const none = fresh('nobuffer');
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await (i % 2 ? b : a).fanout.publish(none, `z${i}`, { bufferLength: 0 });
      expect(r.messages).toBe(0);
      ids.push(r.id);
    }
    for (let i = 1; i < ids.length; i++) expect(compareIds(parseId(ids[i])!, parseId(ids[i - 1])!)).toBeGreaterThan(0);
    expect(await a.fanout.info(none)).toBeNull();
    expect((await listen(a, none, '0')).got).toEqual([]);
    expect(redisCli('XLEN', `gateway:push:stream:${none}`)).toBe('0');
  });

  test('message_timeout: expired messages are not replayed nor counted; the key expires', async () => {
    const channel = fresh('timeout');
    await a.fanout.publish(channel, 'old', { timeoutMs: 150 });
    expect(Number(redisCli('PTTL', `gateway:push:stream:${channel}`))).toBeGreaterThan(0);
    await sleep(250);
    expect(await b.fanout.info(channel)).toBeNull();
    const r = await b.fanout.publish(channel, 'new', { timeoutMs: 60_000 });
    expect(r.messages).toBe(1);
    const replay = await listen(a, channel, '0');
    expect(replay.texts()).toEqual(['new']);
    replay.sub.unsubscribe();

    const gone = fresh('abandoned');
    await a.fanout.publish(gone, 'bye', { timeoutMs: 100 });
    await waitFor(() => redisCli('EXISTS', `gateway:push:stream:${gone}`) === '0');
  });

  test('large messages go through pub/sub by reference: delivered whole and in order, the data key expires', async () => {
    const channel = fresh('large');
    const live = await listen(b, channel);
    const big = Buffer.alloc(3 * 1024 * 1024, 'L');
    const first = await a.fanout.publish(channel, big, { contentType: 'text/plain' });
    // Published right behind it, a small message must not overtake the large one being fetched.
    const second = await a.fanout.publish(channel, Buffer.from('small after'));
    await waitFor(() => live.got.length === 2);
    expect(live.ids()).toEqual([first.id, second.id]);
    expect(live.got[0].data.equals(big)).toBe(true);
    expect(live.got[0].contentType).toBe('text/plain');
    expect(redisCli('PTTL', `gateway:push:data:${channel}:${first.id}`)).toMatch(/^[1-9]\d*$/);
    expect(redisCli('EXISTS', `gateway:push:data:${channel}:${second.id}`)).toBe('0');
    // The subscriber connections were not cut off (Redis's pub/sub output limit is never reached).
    expect(b.log.lines.join('\n')).not.toMatch(/unreachable|could not be fetched/);
    live.sub.unsubscribe();
  });

  test('binary data and content types survive, live and replayed', async () => {
    const channel = fresh('binary');
    const data = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
    const live = await listen(b, channel);
    const { id } = await a.fanout.publish(channel, data, { contentType: 'application/octet-stream; name="ü\n"' });
    await waitFor(() => live.got.length === 1);
    expect(live.got[0].data.equals(data)).toBe(true);
    expect(live.got[0].contentType).toBe('application/octet-stream; name="ü\n"');
    const replay = await listen(a, channel, '0');
    expect(replay.got).toHaveLength(1);
    expect(replay.got[0]).toMatchObject({ id, contentType: 'application/octet-stream; name="ü\n"' });
    expect(replay.got[0].data.equals(data)).toBe(true);
    const empty = await a.fanout.publish(channel, Buffer.alloc(0));
    await waitFor(() => live.got.length === 2);
    expect(live.got[1]).toMatchObject({ id: empty.id, contentType: '' });
    expect(live.got[1].data.length).toBe(0);
    live.sub.unsubscribe();
    replay.sub.unsubscribe();
  });

  test('delete closes the subscribers of both instances and drops the messages', async () => {
    const channel = fresh('delete');
    await a.fanout.publish(channel, 'kept');
    const onA = await listen(a, channel);
    const onB = await listen(b, channel);
    expect(await b.fanout.delete(channel)).toBe(2);
    await waitFor(() => onA.closed.length === 1 && onB.closed.length === 1);
    expect(onA.closed).toEqual(['deleted']);
    await waitFor(async () => (await a.fanout.info(channel)) === null);
    expect(a.fanout.localSubscribers(channel) + b.fanout.localSubscribers(channel)).toBe(0);
    expect(await a.fanout.delete(channel)).toBeNull();
    expect(await a.fanout.delete(fresh('never'))).toBeNull();
    const kept = fresh('kept-only');
    await b.fanout.publish(kept, 'x');
    expect(await a.fanout.delete(kept)).toBe(0);
  });

  test("a gone instance's subscribers stop counting once its heartbeat expires; a live one writes its counts again", async () => {
    const c = instance({ heartbeatIntervalMs: 100 });
    await waitFor(() => c.backend.connected);
    const channel = fresh('heartbeat');
    const onC = await listen(c, channel);
    expect((await a.fanout.publish(channel, '1')).subscribers).toBe(1);
    // As if c had stalled past its heartbeat: its count is no longer counted, and is pruned.
    redisCli('DEL', `gateway:push:instance:${c.backend.instance}`);
    expect((await a.fanout.publish(channel, '2')).subscribers).toBe(0);
    // Its next heartbeat finds the key gone and writes its counts again.
    await waitFor(async () => (await a.fanout.info(channel))?.subscribers === 1);
    onC.sub.unsubscribe();
    await c.fanout.close();
    expect(redisCli('EXISTS', `gateway:push:instance:${c.backend.instance}`)).toBe('0');
  });

  test('close removes the instance: its counts and heartbeat', async () => {
    const d = instance();
    await waitFor(() => d.backend.connected);
    const channel = fresh('close');
    await listen(d, channel);
    await listen(a, channel);
    expect((await b.fanout.info(channel))?.subscribers).toBe(2);
    await d.fanout.close();
    expect((await b.fanout.info(channel))?.subscribers).toBe(1);
    expect(redisCli('EXISTS', `gateway:push:instance:${d.backend.instance}`)).toBe('0');
  });
});

test('gateways on another database of the same Redis share nothing with these', async () => {
  const log = memoryLogger();
  const other = new RedisBackend(`${redis.url}/1`, log);
  const fanout = new Fanout(other, log);
  instances.push({ backend: other, fanout, log });
  await waitFor(() => other.connected);
  const channel = fresh('db');
  const here = await listen(a, channel);
  const there: PushMessage[] = [];
  await fanout.subscribe(channel, (m) => there.push(m));
  expect((await fanout.publish(channel, 'db 1')).subscribers).toBe(1);
  expect((await a.fanout.publish(channel, 'db 0')).subscribers).toBe(1);
  await waitFor(() => here.got.length === 1 && there.length === 1);
  await sleep(50);
  expect(here.texts()).toEqual(['db 0']);
  expect(there.map((m) => m.data.toString())).toEqual(['db 1']);
  here.sub.unsubscribe();
});

describe('when Redis goes away', () => {
  test('each instance delivers its own publishes locally; both share again once Redis is back', async () => {
    const channel = fresh('fault');
    const onA = await listen(a, channel);
    const onB = await listen(b, channel);
    await a.fanout.publish(channel, 'before');
    await waitFor(() => onA.got.length === 1 && onB.got.length === 1);
    const errorsBefore = a.log.lines.filter((l) => l.startsWith('error:')).length;

    await redis.stop('SIGKILL');
    await waitFor(() => !a.backend.connected && !b.backend.connected);

    const local = await a.fanout.publish(channel, 'during');
    expect(local).toEqual({ id: expect.stringMatching(/^\d+-\d+$/), subscribers: 1, messages: 0, local: true });
    await waitFor(() => onA.got.length === 2);
    expect(onA.got[1]).toMatchObject({ id: local.id, channel });
    expect(onA.got[1].data.toString()).toBe('during');
    const again = await a.fanout.publish(channel, 'during 2');
    expect(again.local).toBe(true);
    expect(compareIds(parseId(again.id)!, parseId(local.id)!)).toBeGreaterThan(0);
    await waitFor(() => onA.got.length === 3);
    // Nobody here: delivered to none.
    expect(await a.fanout.publish(fresh('nobody'), 'x')).toMatchObject({ subscribers: 0, messages: 0, local: true });

    const errors = a.log.lines.filter((l) => l.startsWith('error:')).slice(errorsBefore);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBe(`error: push: Redis at 127.0.0.1:${redis.port} unreachable (connection closed); publishing to local subscribers only`);

    // info and delete cannot be answered; a replay finds nothing, so subscribing still works.
    await expect(a.fanout.info(channel)).rejects.toThrow(RedisUnavailableError);
    await expect(b.fanout.delete(channel)).rejects.toThrow(/Redis at 127\.0\.0\.1:\d+ is unreachable/);
    const joined = await listen(b, channel, '0');
    expect(joined.got).toEqual([]);
    const joinedLocal = await b.fanout.publish(channel, 'b alone');
    expect(joinedLocal).toMatchObject({ subscribers: 2, local: true });
    await waitFor(() => joined.got.length === 1 && onB.got.length === 2);
    expect(onA.texts()).toEqual(['before', 'during', 'during 2']);
    expect(onB.texts()).toEqual(['before', 'b alone']);

    await redis.restart();
    await waitFor(() => a.backend.connected && b.backend.connected, 15000);
    // Redis lost everything (nothing saved): the counts are written again, the channels subscribed again.
    await waitFor(async () => (await a.fanout.publish(fresh('probe'), 'p')).local !== true, 15000);
    // Each instance's subscriber connection subscribes again on its own time: probe until all hear.
    await waitFor(async () => {
      const before = [onA, onB, joined].map((s) => s.got.length);
      const r = await a.fanout.publish(channel, 'probe');
      if (r.subscribers !== 3) return false;
      await sleep(50);
      return [onA, onB, joined].every((s, i) => s.got.length > before[i]);
    }, 15000);
    const fromB = await b.fanout.publish(channel, 'after');
    expect(fromB).toMatchObject({ subscribers: 3 });
    expect(fromB.local).toBeUndefined();
    await waitFor(() => [onA, onB, joined].every((s) => s.texts().includes('after')));
    expect(a.log.lines).toContain(`notice: push: Redis at 127.0.0.1:${redis.port} reachable again; channels shared again`);
    expect(b.log.lines.filter((l) => l.startsWith('error:'))).toHaveLength(1);
    for (const s of [onA, onB, joined]) s.sub.unsubscribe();
  }, 60000);

  test('a gateway started while Redis is not there publishes locally and logs it once', async () => {
    const log = memoryLogger();
    const port = await freePort();
    const lonely = new RedisBackend(`redis://127.0.0.1:${port}`, log);
    const fanout = new Fanout(lonely, log);
    try {
      await waitFor(() => log.lines.some((l) => l.startsWith('error:')));
      const got: PushMessage[] = [];
      await fanout.subscribe('alone', (m) => got.push(m), { lastId: '0' });
      expect(await fanout.publish('alone', 'x')).toMatchObject({ subscribers: 1, messages: 0, local: true });
      expect(got.map((m) => m.data.toString())).toEqual(['x']);
      await sleep(500);
      expect(log.lines.filter((l) => l.startsWith('error:'))).toEqual([
        expect.stringMatching(new RegExp(`^error: push: Redis at 127\\.0\\.0\\.1:${port} unreachable \\(.*ECONNREFUSED.*\\); publishing to local subscribers only$`)),
      ]);
    } finally {
      await fanout.close();
    }
  });
});
