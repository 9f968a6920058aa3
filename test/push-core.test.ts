/**
 * The push core without sockets: message ids, the in-memory channel store, replay merging in
 * `Fanout`, the slow-subscriber queue and SSE framing.
 */
import type { BackendSink, ChannelInfo, PublishResult, PushBackend } from '../src/modules/push/backend';
import { channelIdProblem } from '../src/modules/push/channel-id';
import { Fanout, PushInputError } from '../src/modules/push/fanout';
import { MemoryBackend } from '../src/modules/push/memory-backend';
import { MemoryStore, type ChannelLimits } from '../src/modules/push/memory-store';
import { compareIds, IdClock, ID_ZERO, parseId, type MessageId, type PushMessage } from '../src/modules/push/message';
import { SendQueue, type Outlet } from '../src/modules/push/send-queue';
import { sseEvent } from '../src/modules/push/sse';
import { memoryLogger } from './helpers/static-conf';

const LIMITS: ChannelLimits = { bufferLength: 3, timeoutMs: 10_000 };
const message = (id: string, data = 'x', channel = 'c'): PushMessage => ({ id, channel, data: Buffer.from(data), contentType: '', time: Number(id.split('-')[0]) });

describe('message ids', () => {
  test('parse, format and order as Redis stream ids', () => {
    expect(parseId('1700000000000-3')).toEqual({ ms: 1700000000000, seq: 3 });
    expect(parseId('42')).toEqual({ ms: 42, seq: 0 });
    for (const bad of ['', '-1', '1-', 'a-1', '1-2-3', '1.5', ' 1']) expect(parseId(bad)).toBeNull();
    expect(compareIds({ ms: 1, seq: 9 }, { ms: 2, seq: 0 })).toBeLessThan(0);
    expect(compareIds({ ms: 2, seq: 1 }, { ms: 2, seq: 0 })).toBeGreaterThan(0);
  });

  test('the clock never goes back: same millisecond or an earlier one bumps the sequence', () => {
    const times = [100, 100, 99, 101];
    const clock = new IdClock(() => times.shift()!);
    expect([clock.next(), clock.next(), clock.next(), clock.next()]).toEqual([
      { ms: 100, seq: 0 }, { ms: 100, seq: 1 }, { ms: 100, seq: 2 }, { ms: 101, seq: 0 },
    ]);
  });

  test('channel ids: printable and bounded', () => {
    expect(channelIdProblem('room-1/a_b.c:d@e~f')).toBeNull();
    expect(channelIdProblem('')).toMatch(/empty/);
    expect(channelIdProblem('a b')).toMatch(/characters/);
    expect(channelIdProblem('é')).toMatch(/characters/);
    expect(channelIdProblem('x'.repeat(256))).toMatch(/longer than 255/);
  });
});

describe('MemoryStore', () => {
  let now = 1000;
  const store = () => new MemoryStore(() => now);
  beforeEach(() => (now = 1000));

  test('keeps the last message_buffer_length messages, replays after an id', () => {
    const s = store();
    const ids = ['a', 'b', 'c', 'd'].map((d) => s.append('c', Buffer.from(d), 'text/plain', LIMITS).id);
    expect(ids).toEqual(['1000-0', '1000-1', '1000-2', '1000-3']);
    expect(s.after('c', ID_ZERO).map((m) => m.data.toString())).toEqual(['b', 'c', 'd']);
    expect(s.after('c', parseId(ids[2])!).map((m) => m.data.toString())).toEqual(['d']);
    expect(s.after('c', parseId(ids[3])!)).toEqual([]);
    expect(s.info('c')).toEqual({ messages: 3, lastId: '1000-3', lastTime: 1000 });
    expect(s.after('other', ID_ZERO)).toEqual([]);
  });

  test('messages older than message_timeout are dropped, and the channel with them', () => {
    const s = store();
    s.append('c', Buffer.from('old'), '', { bufferLength: 10, timeoutMs: 500 });
    now = 1300;
    s.append('c', Buffer.from('new'), '', { bufferLength: 10, timeoutMs: 500 });
    now = 1600;
    expect(s.after('c', ID_ZERO).map((m) => m.data.toString())).toEqual(['new']);
    now = 1800;
    expect(s.info('c')).toBeNull();
    expect(s.size).toBe(0);
  });

  test('buffer length 0 keeps nothing, yet ids keep increasing', () => {
    const s = store();
    const a = s.append('c', Buffer.from('a'), '', { bufferLength: 0, timeoutMs: 1000 });
    const b = s.append('c', Buffer.from('b'), '', { bufferLength: 0, timeoutMs: 1000 });
    expect(compareIds(parseId(b.id)!, parseId(a.id)!)).toBeGreaterThan(0);
    expect(s.info('c')).toBeNull();
  });

  test('sweep forgets channels whose messages all expired', () => {
    const s = store();
    for (let i = 0; i < 5; i++) s.append(`c${i}`, Buffer.from('m'), '', { bufferLength: 1, timeoutMs: 100 });
    now = 2000;
    s.sweep();
    expect(s.size).toBe(0);
  });
});

/** A backend whose replay answer the test releases, to publish while a subscriber catches up. */
class GatedBackend implements PushBackend {
  readonly inner = new MemoryBackend();
  gate: Promise<void> = Promise.resolve();
  attach(sink: BackendSink): void {
    this.inner.attach(sink);
  }
  publish(channel: string, data: Buffer, contentType: string, limits: ChannelLimits): Promise<PublishResult> {
    return this.inner.publish(channel, data, contentType, limits);
  }
  async after(channel: string, after: MessageId): Promise<PushMessage[]> {
    const backlog = await this.inner.after(channel, after);
    await this.gate;
    return backlog;
  }
  info(channel: string): Promise<ChannelInfo | null> {
    return this.inner.info(channel);
  }
  delete(channel: string): Promise<number | null> {
    return this.inner.delete(channel);
  }
  subscribers(channel: string, count: number): Promise<void> {
    return this.inner.subscribers(channel, count);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

describe('Fanout', () => {
  const log = memoryLogger();
  const texts = (got: PushMessage[]) => got.map((m) => m.data.toString());

  test('publish reaches every subscriber of the channel, and only them; counts follow', async () => {
    const fanout = new Fanout(new MemoryBackend(), log);
    const a: PushMessage[] = [];
    const b: PushMessage[] = [];
    const other: PushMessage[] = [];
    const sa = await fanout.subscribe('room', (m) => a.push(m));
    await fanout.subscribe('room', (m) => b.push(m));
    await fanout.subscribe('elsewhere', (m) => other.push(m));
    const result = await fanout.publish('room', 'hi', { contentType: 'text/plain' });
    expect(result).toMatchObject({ subscribers: 2, messages: 1 });
    expect([texts(a), texts(b), texts(other)]).toEqual([['hi'], ['hi'], []]);
    expect(a[0]).toMatchObject({ id: result.id, channel: 'room', contentType: 'text/plain' });
    sa.unsubscribe();
    sa.unsubscribe();
    expect((await fanout.publish('room', 'again')).subscribers).toBe(1);
    expect(texts(a)).toEqual(['hi']);
    expect((await fanout.info('room'))?.subscribers).toBe(1);
    await fanout.close();
  });

  test('replay after a last id, then live; a message published during the replay comes once, in order', async () => {
    const backend = new GatedBackend();
    const fanout = new Fanout(backend, log);
    const first = await fanout.publish('c', 'one');
    await fanout.publish('c', 'two');
    let release!: () => void;
    backend.gate = new Promise((r) => (release = r));
    const got: PushMessage[] = [];
    const subscribing = fanout.subscribe('c', (m) => got.push(m), { lastId: first.id });
    await new Promise((r) => setImmediate(r));
    await fanout.publish('c', 'three');
    expect(got).toEqual([]);
    release();
    await subscribing;
    await fanout.publish('c', 'four');
    expect(texts(got)).toEqual(['two', 'three', 'four']);
    await fanout.close();
  });

  test('a live copy of a backlog message that arrives after the catch-up is dropped (Redis: two connections)', async () => {
    const backend = new GatedBackend();
    const fanout = new Fanout(backend, log);
    const first = await fanout.publish('c', 'one');
    // A subscriber already there, so that the backend delivers live messages of the channel.
    await fanout.subscribe('c', () => {});
    const got: PushMessage[] = [];
    // The replay has 'two'; its live copy comes on the other connection only after the replay's answer.
    let late: PushMessage | null = null;
    const sink = fanout as unknown as { message(m: PushMessage): void };
    backend.inner.attach({ message: (m) => (late = m), deleted: () => {} });
    await fanout.publish('c', 'two');
    backend.inner.attach(fanout);
    await fanout.subscribe('c', (m) => got.push(m), { lastId: first.id });
    sink.message(late!);
    await fanout.publish('c', 'three');
    expect(texts(got)).toEqual(['two', 'three']);
    await fanout.close();
  });

  test('last id 0 replays the whole buffer; a malformed one or a bad channel is an input error', async () => {
    const fanout = new Fanout(new MemoryBackend(), log);
    await fanout.publish('c', 'a', { bufferLength: 2 });
    await fanout.publish('c', 'b', { bufferLength: 2 });
    await fanout.publish('c', 'c', { bufferLength: 2 });
    const got: PushMessage[] = [];
    await fanout.subscribe('c', (m) => got.push(m), { lastId: '0' });
    expect(texts(got)).toEqual(['b', 'c']);
    await expect(fanout.subscribe('c', () => {}, { lastId: 'yesterday' })).rejects.toBeInstanceOf(PushInputError);
    await expect(fanout.publish('bad channel', 'x')).rejects.toThrow(PushInputError);
    expect(fanout.localSubscribers('c')).toBe(1);
    await fanout.close();
  });

  test('delete closes the subscribers and forgets the channel; a throwing subscriber does not stop the others', async () => {
    const lines: string[] = [];
    const fanout = new Fanout(new MemoryBackend(), memoryLogger(lines));
    const closed: string[] = [];
    const got: string[] = [];
    await fanout.subscribe('c', () => {
      throw new Error('boom');
    });
    await fanout.subscribe('c', (m) => got.push(m.data.toString()), { onClose: (why) => closed.push(why) });
    await fanout.publish('c', 'x');
    expect(got).toEqual(['x']);
    expect(lines.join('\n')).toMatch(/boom/);
    expect(await fanout.delete('c')).toBe(2);
    expect(closed).toEqual(['deleted']);
    expect(await fanout.info('c')).toBeNull();
    expect(await fanout.delete('c')).toBeNull();
    expect(fanout.localSubscribers()).toBe(0);
    await fanout.close();
  });
});

describe('SendQueue', () => {
  /** An outlet whose buffered bytes the test controls. */
  const outlet = () => {
    const o = { bufferedBytes: 0, written: [] as string[], overflowCode: 0 } as { bufferedBytes: number; written: string[]; overflowCode: number } & Outlet;
    o.buffered = () => o.bufferedBytes;
    o.write = (m) => {
      o.written.push(m.data.toString());
      o.bufferedBytes += m.data.length;
    };
    o.overflow = (code) => (o.overflowCode = code);
    return o;
  };
  const events = () => ({ drops: 0, closes: 0, dropped(n: number) { this.drops += n; }, overflowClosed() { this.closes++; } });

  test('under the limit messages go at once; an idle connection takes even a bigger one', () => {
    const o = outlet();
    const e = events();
    const q = new SendQueue(o, 10, { kind: 'close', code: 1013 }, e);
    q.push(message('1-0', 'abcd'));
    q.push(message('1-1', 'efgh'));
    expect(o.written).toEqual(['abcd', 'efgh']);
    o.bufferedBytes = 0;
    q.push(message('1-2', 'larger than ten bytes'));
    expect(o.written).toHaveLength(3);
    expect(e.closes).toBe(0);
  });

  test('close: the first message past the limit closes the subscriber with its code', () => {
    const o = outlet();
    const e = events();
    const q = new SendQueue(o, 10, { kind: 'close', code: 1008 }, e);
    q.push(message('1-0', 'abcdefgh'));
    q.push(message('1-1', 'ijk'));
    q.push(message('1-2', 'l'));
    expect(o.written).toEqual(['abcdefgh']);
    expect([o.overflowCode, e.closes]).toEqual([1008, 1]);
  });

  test('drop_oldest: held messages are dropped oldest first, the rest sent in order on drain', () => {
    const o = outlet();
    const e = events();
    const q = new SendQueue(o, 9, { kind: 'drop_oldest' }, e);
    q.push(message('1-0', 'abcdefgh'));
    for (const [i, d] of ['11', '22', '33'].entries()) q.push(message(`2-${i}`, d));
    expect(o.written).toEqual(['abcdefgh']);
    expect(e.drops).toBe(2);
    o.bufferedBytes = 0;
    q.drained();
    expect(o.written).toEqual(['abcdefgh', '33']);
    q.push(message('3-0', '44'));
    expect(o.written.at(-1)).toBe('44');
  });

  test('a replay goes out whole and does not count: only what waits behind it does', () => {
    const o = outlet();
    const e = events();
    const q = new SendQueue(o, 10, { kind: 'close', code: 1013 }, e);
    for (const d of ['replay one', 'replay two', 'replay three']) q.replay(message('1-0', d));
    q.push(message('2-0', 'live'));
    expect(o.written).toEqual(['replay one', 'replay two', 'replay three', 'live']);
    o.bufferedBytes -= 30;
    q.push(message('2-1', 'live again'));
    expect(e.closes).toBe(1);
    expect(o.written).toHaveLength(4);
  });

  test('drop_oldest keeps the newest even when it alone is over the limit', () => {
    const o = outlet();
    const e = events();
    const q = new SendQueue(o, 4, { kind: 'drop_oldest' }, e);
    q.push(message('1-0', 'abc'));
    q.push(message('1-1', 'much too long'));
    expect(o.written).toEqual(['abc']);
    o.bufferedBytes = 0;
    q.drained();
    expect(o.written).toEqual(['abc', 'much too long']);
    q.close();
    q.push(message('1-2', 'x'));
    expect(o.written).toHaveLength(2);
  });
});

test('SSE framing: id, one data line per line of the message', () => {
  expect(sseEvent(message('5-1', 'one\ntwo\r\nthree\rfour'))).toBe('id: 5-1\ndata: one\ndata: two\ndata: three\ndata: four\n\n');
  expect(sseEvent(message('5-2', ''))).toBe('id: 5-2\ndata: \n\n');
});
