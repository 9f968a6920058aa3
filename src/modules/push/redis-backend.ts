/**
 * Channels in Redis (`push_redis_url`), shared by every gateway that names the same Redis: each
 * gateway's master (or its single process, with `master_process off`) holds one `RedisBackend`
 * for all its subscribers. A publish on any gateway is stored once, gets one id, and reaches the
 * subscribers of every gateway.
 *
 * Key layout (`<channel>` is the channel id as is; no hash tags, for one Redis, not a cluster):
 * - `gateway:push:stream:<channel>`: a stream, the channel's kept messages. Ids are Redis's own
 *   (`XADD *`, `<ms>-<seq>`, the format of `message.ts`); each entry has the fields `x` (when it
 *   expires, ms since the epoch), `t` (content type) and `d` (the data, binary). Trimmed on each
 *   publish to `message_buffer_length` (exact MAXLEN) and of expired entries at its front; the
 *   key expires `message_timeout` (at least 1 s) after the last publish. With a buffer length of
 *   0 the stream stays, empty, for that time, so that ids keep increasing.
 * - `gateway:push:subscribers:<channel>`: a hash, each gateway's (instance's) subscriber count
 *   on the channel. Counts of instances whose heartbeat is gone are not counted, and dropped by
 *   the next publish or delete.
 * - `gateway:push:instance:<instance>`: an instance's heartbeat (a random id per backend),
 *   expiring 15 s after its last refresh (every 5 s). A crashed gateway's subscribers stop
 *   counting once it expires.
 * - Pub/sub channel `gateway:push:channel:<channel>` (`gateway:push:db<n>:channel:<channel>`
 *   for a database n other than 0, as pub/sub ignores databases): every publish and delete, for
 *   the instances with subscribers on the channel (they SUBSCRIBE on a connection of their own).
 *   A message is `m<id>\n<content type length>\n<content type><data>`, a deletion `d`; a
 *   message over 64 KiB goes by reference, `r<id>\n<content type length>\n<content type><data
 *   length>`, its data in `gateway:push:data:<channel>:<id>` for a minute, fetched by each
 *   instance (Redis cuts off a pub/sub connection that falls 32 MB behind).
 * Publish, info, delete and replay are one Lua script each, so a publish is stored and sent
 * atomically and a subscriber that listens before it reads the backlog misses nothing. The
 * scripts read instance keys they are not given as KEYS: one Redis (or a primary with
 * replicas), not a Redis Cluster. A channel's count of a crashed gateway stays in its hash,
 * uncounted, until the channel's next publish or delete.
 *
 * When Redis cannot be reached (faults): a publish goes to this instance's own subscribers
 * only, with an id of this instance (`local: true` in its result, `messages: 0`); it is neither
 * queued for later nor kept for replay, and the other gateways never see it. A subscriber still
 * subscribes (its count reaches Redis once it is back); a replay (`after`) finds nothing, so a
 * client that comes back with a last id gets live messages from then on. `info` and `delete`
 * fail (`RedisUnavailableError`; the handlers answer 503). The outage is logged once (error),
 * the recovery once (notice); reconnection retries with a backoff capped at 2 s, and then this
 * instance's counts are written and its channels subscribed again.
 */
import { randomBytes } from 'node:crypto';
import { Redis, redisAddress, type RedisOptions } from '../../shared/redis';
import type { Logger } from '../../types';
import type { BackendSink, ChannelInfo, PublishResult, PushBackend } from './backend';
import type { ChannelLimits } from './memory-store';
import { formatId, IdClock, parseId, transferBudgetMs, type MessageId, type PushMessage } from './message';
import { DATA, DATA_TTL_MS, INLINE_LIMIT, INSTANCE, LUA_AFTER, LUA_DELETE, LUA_INFO, LUA_PUBLISH, PREFIX, STREAM, SUBSCRIBERS, type PushCommands } from './redis-scripts';


/** An instance's heartbeat lives this long after each refresh, refreshed this often. */
const HEARTBEAT_TTL_S = 15;
const HEARTBEAT_INTERVAL_MS = 5000;

/** Tunables, for tests. */
export interface RedisBackendOptions {
  /** Seconds an instance's heartbeat outlives its last refresh (15). */
  readonly heartbeatTtlS?: number;
  /** How often the heartbeat is refreshed (5000 ms). */
  readonly heartbeatIntervalMs?: number;
}
/**
 * How long a command may take before it fails (and a publish goes local); a large message's
 * publish or fetch gets the time its data may take on top (`transferBudgetMs`).
 */
const COMMAND_TIMEOUT_MS = 2000;

/** `promise`, or a rejection once `ms` have passed. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('Command timed out')), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** Redis cannot be reached: the operation cannot be done now (the handlers answer 503). */
export class RedisUnavailableError extends Error {
  readonly code = 'EPUSHUNAVAILABLE';
}


/** The pub/sub channel prefix of the URL's database. */
function pubsubPrefix(url: string): string {
  const db = /^\/(\d+)$/.exec(new URL(url).pathname)?.[1];
  return db === undefined || Number(db) === 0 ? `${PREFIX}channel:` : `${PREFIX}db${Number(db)}:channel:`;
}

/** Resolves true once `redis` is ready, false after `ms` or when it fails first. */
function whenReady(redis: Redis, ms: number): Promise<boolean> {
  if (redis.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (ok: boolean) => {
      clearTimeout(timer);
      redis.off('ready', onReady);
      redis.off('close', onClose);
      resolve(ok);
    };
    const onReady = () => done(true);
    const onClose = () => done(false);
    const timer = setTimeout(() => done(false), ms);
    redis.on('ready', onReady);
    redis.on('close', onClose);
  });
}

/** A reply error (Redis refused the command), as opposed to the connection failing. */
function isReplyError(err: unknown): boolean {
  return (err as Error)?.name === 'ReplyError';
}

export class RedisBackend implements PushBackend {
  /** This backend's id among all instances sharing the Redis. */
  readonly instance = randomBytes(8).toString('hex');
  readonly address: string;
  /** Prefix of the channels' pub/sub channels. */
  private readonly pubsub: string;
  private readonly cmd: Redis & PushCommands;
  /**
   * Large messages' publishes and fetches, on a connection of their own without ioredis's
   * command timeout (each gets one for its size): a 100 MB write neither holds the small
   * commands back nor looks like an outage.
   */
  private readonly bulk: Redis & PushCommands;
  private readonly sub: Redis;
  /** Per channel, the delivery of a message whose data is being fetched: later ones wait behind it. */
  private readonly deliveries = new Map<string, Promise<void>>();
  private sink: BackendSink | null = null;
  /** This instance's subscribers per channel (only channels with some). */
  private readonly counts = new Map<string, number>();
  /** Channels whose count may still be in Redis though it is 0 here (written while Redis was away). */
  private readonly stale = new Set<string>();
  /** Channels subscribed on `sub` (acknowledged). */
  private readonly subscribed = new Set<string>();
  /** Per channel, the last queued change of its count/subscription: changes run in order. */
  private readonly queues = new Map<string, Promise<void>>();
  private readonly clock = new IdClock();
  private readonly heartbeat: NodeJS.Timeout;
  private readonly heartbeatTtlS: number;
  /** The outage was logged and the recovery is not yet. */
  private down = false;
  private closing = false;

  constructor(
    url: string,
    private readonly log: Logger,
    options: RedisBackendOptions = {},
  ) {
    this.address = redisAddress(url);
    this.pubsub = pubsubPrefix(url);
    this.heartbeatTtlS = options.heartbeatTtlS ?? HEARTBEAT_TTL_S;
    const common: RedisOptions = {
      retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      autoResubscribe: false,
      connectTimeout: 2000,
      commandTimeout: COMMAND_TIMEOUT_MS,
      disableClientInfo: true,
    };
    this.cmd = new Redis(url, { ...common, connectionName: `gateway-push-${this.instance}` }) as Redis & PushCommands;
    this.bulk = new Redis(url, { ...common, connectionName: `gateway-push-bulk-${this.instance}`, commandTimeout: undefined }) as Redis & PushCommands;
    this.sub = new Redis(url, { ...common, connectionName: `gateway-push-sub-${this.instance}`, commandTimeout: undefined });
    for (const connection of [this.cmd, this.bulk]) connection.defineCommand('gatewayPushPublish', { numberOfKeys: 3, lua: LUA_PUBLISH });
    this.cmd.defineCommand('gatewayPushInfo', { numberOfKeys: 2, lua: LUA_INFO });
    this.cmd.defineCommand('gatewayPushAfter', { numberOfKeys: 1, lua: LUA_AFTER });
    this.cmd.defineCommand('gatewayPushDelete', { numberOfKeys: 2, lua: LUA_DELETE });

    this.cmd.on('error', (err: Error) => this.unreachable(err.message));
    this.cmd.on('close', () => this.unreachable('connection closed'));
    this.cmd.on('ready', () => void this.restore());
    for (const connection of [this.sub, this.bulk]) {
      connection.on('error', () => {
        // Reported through the command connection, which fails alike.
      });
    }
    this.sub.on('close', () => this.subscribed.clear());
    this.sub.on('ready', () => void this.resubscribe());
    this.sub.on('messageBuffer', (channel: Buffer, message: Buffer) => this.receive(channel, message));
    this.heartbeat = setInterval(() => void this.beat(), options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS).unref();
  }

  attach(sink: BackendSink): void {
    this.sink = sink;
  }

  /** Whether commands can be sent now. */
  get connected(): boolean {
    return this.cmd.status === 'ready';
  }

  async publish(channel: string, data: Buffer, contentType: string, limits: ChannelLimits): Promise<PublishResult> {
    const large = data.length > INLINE_LIMIT;
    if (this.connected && (!large || this.bulk.status === 'ready')) {
      try {
        const published = (large ? this.bulk : this.cmd).gatewayPushPublish(
          STREAM + channel,
          SUBSCRIBERS + channel,
          `${DATA}${channel}:`,
          data,
          contentType,
          String(Math.max(0, Math.floor(limits.bufferLength))),
          String(Math.max(0, Math.floor(limits.timeoutMs))),
          this.pubsub + channel,
          INSTANCE,
          String(INLINE_LIMIT),
          String(DATA_TTL_MS),
        );
        const [id, subscribers, messages] = large ? await within(published, COMMAND_TIMEOUT_MS + transferBudgetMs(data.length)) : await published;
        this.reachable();
        return { id: String(id), subscribers: Number(subscribers), messages: Number(messages) };
      } catch (err) {
        if (isReplyError(err)) throw new Error(`push: Redis at ${this.address} refused a publish: ${(err as Error).message}`);
        // The connection failed (or Redis did not answer in time): this gateway's subscribers still get it.
        this.unreachable((err as Error)?.message ?? String(err));
      }
    }
    return this.publishLocally(channel, data, contentType);
  }

  async after(channel: string, after: MessageId): Promise<PushMessage[]> {
    if (!this.connected) return [];
    const flat = await this.cmd.gatewayPushAfterBuffer(STREAM + channel, `(${formatId(after)}`).catch((err) => this.failed(err, 'read channel'));
    const out: PushMessage[] = [];
    for (let i = 0; i + 2 < flat.length; i += 3) {
      const id = flat[i].toString();
      out.push({ id, channel, data: flat[i + 2], contentType: flat[i + 1].toString(), time: parseId(id)?.ms ?? 0 });
    }
    return out;
  }

  async info(channel: string): Promise<ChannelInfo | null> {
    this.check();
    const [messages, subscribers, lastId] = await this.cmd.gatewayPushInfo(STREAM + channel, SUBSCRIBERS + channel, INSTANCE).catch((err) => this.failed(err, 'read channel'));
    if (Number(messages) === 0 && Number(subscribers) === 0) return null;
    const last = lastId ? String(lastId) : null;
    return { channel, messages: Number(messages), subscribers: Number(subscribers), lastId: last, lastTime: last ? (parseId(last)?.ms ?? null) : null };
  }

  async delete(channel: string): Promise<number | null> {
    this.check();
    const [had, subscribers] = await this.cmd.gatewayPushDelete(STREAM + channel, SUBSCRIBERS + channel, this.pubsub + channel, INSTANCE).catch((err) => this.failed(err, 'delete channel'));
    return Number(had) === 1 || Number(subscribers) > 0 ? Number(subscribers) : null;
  }

  subscribers(channel: string, count: number): Promise<void> {
    if (count > 0) this.counts.set(channel, count);
    else this.counts.delete(channel);
    const next = (this.queues.get(channel) ?? Promise.resolve()).then(() => this.sync(channel));
    const settled: Promise<void> = next.then(
      () => this.settle(channel, settled),
      () => this.settle(channel, settled),
    );
    this.queues.set(channel, settled);
    return next;
  }

  /** The channel's queue of changes is empty once its last one is done. */
  private settle(channel: string, done: Promise<void>): void {
    if (this.queues.get(channel) === done) this.queues.delete(channel);
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.heartbeat);
    if (this.connected) {
      const pipeline = this.cmd.pipeline();
      for (const channel of new Set([...this.counts.keys(), ...this.stale])) pipeline.hdel(SUBSCRIBERS + channel, this.instance);
      pipeline.del(INSTANCE + this.instance);
      await pipeline.exec().catch(() => {});
    }
    await Promise.all([this.sub, this.cmd, this.bulk].map((r) => (r.status === 'ready' ? r.quit().catch(() => r.disconnect()) : r.disconnect())));
  }

  /** Delivers a publish to this instance's subscribers only (Redis is away). */
  private publishLocally(channel: string, data: Buffer, contentType: string): PublishResult {
    const id = this.clock.next();
    const subscribers = this.counts.get(channel) ?? 0;
    const message: PushMessage = { id: formatId(id), channel, data, contentType, time: id.ms };
    if (subscribers > 0) this.sink?.message(message);
    return { id: message.id, subscribers, messages: 0, local: true };
  }

  /** Brings Redis in line with this instance's count on `channel`: its hash field and subscription. */
  private async sync(channel: string): Promise<void> {
    const count = this.counts.get(channel) ?? 0;
    if (this.closing) return;
    if (this.connected) {
      try {
        if (count > 0) await this.cmd.hset(SUBSCRIBERS + channel, this.instance, String(count));
        else await this.cmd.hdel(SUBSCRIBERS + channel, this.instance);
        this.stale.delete(channel);
      } catch (err) {
        if (isReplyError(err)) throw new Error(`push: Redis at ${this.address}: ${(err as Error).message}`);
        if (count === 0) this.stale.add(channel);
      }
    } else if (count === 0) {
      this.stale.add(channel);
    }
    // While Redis is away, the subscriber connection's 'ready' subscribes every channel with
    // subscribers; when only that connection is not ready yet (starting, reconnecting), it is
    // awaited a little, so that a subscriber listens before it reads the backlog.
    if (this.sub.status !== 'ready' && !(count > 0 && this.connected && (await whenReady(this.sub, COMMAND_TIMEOUT_MS)))) return;
    try {
      if (count > 0 && !this.subscribed.has(channel)) {
        await this.sub.subscribe(this.pubsub + channel);
        this.subscribed.add(channel);
      } else if (count === 0 && this.subscribed.has(channel)) {
        this.subscribed.delete(channel);
        await this.sub.unsubscribe(this.pubsub + channel);
      }
    } catch (err) {
      if (isReplyError(err)) throw new Error(`push: Redis at ${this.address}: ${(err as Error).message}`);
    }
  }

  /** Every channel with subscribers here, subscribed again on a new subscriber connection. */
  private async resubscribe(): Promise<void> {
    this.subscribed.clear();
    const channels = [...this.counts.keys()];
    if (channels.length === 0) return;
    try {
      await this.sub.subscribe(...channels.map((c) => this.pubsub + c));
      for (const c of channels) if (this.counts.has(c)) this.subscribed.add(c);
      // Channels that lost their subscribers meanwhile.
      const gone = channels.filter((c) => !this.counts.has(c));
      if (gone.length > 0) {
        await this.sub.unsubscribe(...gone.map((c) => this.pubsub + c));
        for (const c of gone) this.subscribed.delete(c);
      }
    } catch {
      // The connection failed again: its next 'ready' tries again.
    }
  }

  /** The command connection is (again) ready: heartbeat and counts written again. */
  private async restore(): Promise<void> {
    this.reachable();
    await this.writeState().catch(() => {});
  }

  /** Redis answers: the recovery from an outage is logged. */
  private reachable(): void {
    if (!this.down || this.closing) return;
    this.down = false;
    this.log.notice(`push: Redis at ${this.address} reachable again; channels shared again`);
  }

  private async writeState(): Promise<void> {
    const pipeline = this.cmd.pipeline();
    pipeline.set(INSTANCE + this.instance, '1', 'EX', this.heartbeatTtlS);
    for (const [channel, count] of this.counts) pipeline.hset(SUBSCRIBERS + channel, this.instance, String(count));
    const stale = [...this.stale].filter((c) => !this.counts.has(c));
    for (const channel of stale) pipeline.hdel(SUBSCRIBERS + channel, this.instance);
    const results = await pipeline.exec();
    if (results?.every(([err]) => !err)) for (const channel of stale) if (!this.counts.has(channel)) this.stale.delete(channel);
  }

  /** Refreshes the heartbeat; when it had expired (a long stall, Redis restarted), writes the counts again. */
  private async beat(): Promise<void> {
    if (!this.connected || this.closing) return;
    try {
      const refreshed = await this.cmd.set(INSTANCE + this.instance, '1', 'EX', this.heartbeatTtlS, 'XX');
      if (refreshed === null) await this.writeState();
    } catch {
      // A failing connection is reported by its own events.
    }
  }

  private unreachable(reason: string): void {
    if (this.closing || this.down) return;
    this.down = true;
    this.log.error(`push: Redis at ${this.address} unreachable (${reason}); publishing to local subscribers only`);
  }

  /**
   * A pub/sub message: a deletion, a message with its data, or a large message's reference
   * whose data is fetched first. A channel's messages are delivered in the order published:
   * while one's data is being fetched, those after it wait.
   */
  private receive(pubsub: Buffer, payload: Buffer): void {
    const name = pubsub.toString();
    if (!name.startsWith(this.pubsub)) return;
    const channel = name.slice(this.pubsub.length);
    const event = parsePubsubPayload(channel, payload);
    if (!event) return;
    const pending = this.deliveries.get(channel);
    if (!pending && event.kind !== 'reference') {
      this.deliver(channel, event);
      return;
    }
    const next = (pending ?? Promise.resolve()).then(async () => this.deliver(channel, event.kind === 'reference' ? await this.fetch(channel, event) : event));
    this.deliveries.set(channel, next);
    void next.finally(() => this.deliveries.get(channel) === next && this.deliveries.delete(channel));
  }

  private deliver(channel: string, event: PubsubEvent | null): void {
    if (event?.kind === 'deleted') this.sink?.deleted(channel);
    else if (event?.kind === 'message') this.sink?.message(event.message);
  }

  /** A large message's data, from its key; null (logged) when it cannot be had. */
  private async fetch(channel: string, ref: Extract<PubsubEvent, { kind: 'reference' }>): Promise<PubsubEvent | null> {
    try {
      const data = await within(this.bulk.getBuffer(`${DATA}${channel}:${ref.id}`), COMMAND_TIMEOUT_MS + transferBudgetMs(ref.size));
      if (data) return { kind: 'message', message: { id: ref.id, channel, data, contentType: ref.contentType, time: ref.time } };
      this.log.error(`push: message ${ref.id} of channel "${channel}" expired in Redis before it could be fetched`);
    } catch (err) {
      this.log.error(`push: message ${ref.id} of channel "${channel}" could not be fetched from Redis at ${this.address} (${(err as Error).message})`);
    }
    return null;
  }

  private check(): void {
    if (!this.connected) throw new RedisUnavailableError(`push: Redis at ${this.address} is unreachable`);
  }

  private failed(err: unknown, what: string): never {
    if (isReplyError(err)) throw new Error(`push: Redis at ${this.address} could not ${what}: ${(err as Error).message}`);
    throw new RedisUnavailableError(`push: Redis at ${this.address} is unreachable (${(err as Error)?.message ?? err})`);
  }
}

/** What a pub/sub message says: a channel deleted, a message, or a large message to fetch. */
type PubsubEvent =
  | { readonly kind: 'deleted' }
  | { readonly kind: 'message'; readonly message: PushMessage }
  | { readonly kind: 'reference'; readonly id: string; readonly contentType: string; readonly size: number; readonly time: number };

/**
 * Parses a pub/sub payload: `d`, or `m<id>\n<content type length>\n<content type><data>`, or
 * `r<id>\n<content type length>\n<content type><data length>`; null when malformed.
 */
function parsePubsubPayload(channel: string, payload: Buffer): PubsubEvent | null {
  if (payload.length === 0) return null;
  if (payload[0] === 0x64 /* d */) return { kind: 'deleted' };
  const kind = payload[0];
  if (kind !== 0x6d /* m */ && kind !== 0x72 /* r */) return null;
  const nl1 = payload.indexOf(0x0a, 1);
  const nl2 = nl1 < 0 ? -1 : payload.indexOf(0x0a, nl1 + 1);
  if (nl2 < 0) return null;
  const id = payload.subarray(1, nl1).toString();
  const ctLength = Number(payload.subarray(nl1 + 1, nl2).toString());
  const ctEnd = nl2 + 1 + ctLength;
  const parsed = parseId(id);
  if (!Number.isInteger(ctLength) || ctEnd > payload.length || !parsed) return null;
  const contentType = payload.subarray(nl2 + 1, ctEnd).toString();
  if (kind === 0x6d) return { kind: 'message', message: { id, channel, data: payload.subarray(ctEnd), contentType, time: parsed.ms } };
  const size = Number(payload.subarray(ctEnd).toString());
  return Number.isInteger(size) ? { kind: 'reference', id, contentType, size, time: parsed.ms } : null;
}
