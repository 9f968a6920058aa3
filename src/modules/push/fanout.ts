/**
 * A process's push channels as handlers and scripts use them (`PushChannels`): the local
 * subscribers of each channel, fed from the process's backend. A subscriber that gives a last
 * id gets what it missed first, then live messages, in order and once each: it listens before
 * it reads the backlog, holds live messages back meanwhile, and drops those the backlog had.
 */
import type { Logger, PushChannels, PublishOptions, PushSubscription, SubscribeOptions } from '../../types';
import type { BackendSink, ChannelInfo, PublishResult, PushBackend } from './backend';
import { channelIdProblem } from './channel-id';
import type { ChannelLimits } from './memory-store';
import { compareIds, parseId, parseLastId, type MessageId, type PushMessage } from './message';

/** A channel id, message or last id that cannot be used: the caller answers 400. */
export class PushInputError extends Error {}

/** One local subscriber. */
class LocalSubscriber {
  /** Live messages held back while the backlog is read; null once live. */
  private held: PushMessage[] | null;
  /**
   * After a backlog: the newest id delivered, until a live message passes it. Live messages
   * come on another connection than the backlog (Redis), so one the backlog had may still
   * arrive after the catch-up; it is dropped.
   */
  private floor: MessageId | null = null;
  closed = false;

  constructor(
    private readonly onMessage: (message: PushMessage) => void,
    readonly onClose: SubscribeOptions['onClose'],
    catchingUp: boolean,
    private readonly log: Logger,
  ) {
    this.held = catchingUp ? [] : null;
  }

  offer(message: PushMessage): void {
    if (this.held) {
      this.held.push(message);
      return;
    }
    if (this.floor) {
      if (!this.newer(message, this.floor)) return;
      this.floor = null;
    }
    this.deliver(message);
  }

  /** Delivers the backlog, then what came meanwhile and is newer, then goes live. */
  catchUp(backlog: readonly PushMessage[], after: MessageId): void {
    let last = after;
    for (const message of backlog) {
      this.deliver(message);
      last = parseId(message.id) ?? last;
    }
    const held = this.held ?? [];
    this.held = null;
    for (const message of held) {
      if (!this.newer(message, last)) continue;
      this.deliver(message);
      last = parseId(message.id) ?? last;
    }
    this.floor = backlog.length > 0 ? last : null;
  }

  /** Whether `message` comes after `id` (a message without a readable id always does). */
  private newer(message: PushMessage, id: MessageId): boolean {
    const own = parseId(message.id);
    return !own || compareIds(own, id) > 0;
  }

  private deliver(message: PushMessage): void {
    if (this.closed) return;
    try {
      this.onMessage(message);
    } catch (err) {
      this.log.error(`push subscriber of channel "${message.channel}" failed on message ${message.id}: ${(err as Error)?.stack ?? err}`);
    }
  }
}

/** The `PushChannels` of one process. */
export class Fanout implements PushChannels, BackendSink {
  private readonly channels = new Map<string, Set<LocalSubscriber>>();

  constructor(
    private readonly backend: PushBackend,
    private readonly log: Logger,
    private readonly defaults: ChannelLimits = { bufferLength: 10, timeoutMs: 3_600_000 },
  ) {
    backend.attach(this);
  }

  async publish(channel: string, data: string | Buffer, options: PublishOptions = {}): Promise<PublishResult> {
    checkChannel(channel);
    const limits = {
      bufferLength: options.bufferLength ?? this.defaults.bufferLength,
      timeoutMs: options.timeoutMs ?? this.defaults.timeoutMs,
    };
    const body = typeof data === 'string' ? Buffer.from(data) : data;
    return this.backend.publish(channel, body, options.contentType ?? '', limits);
  }

  async subscribe(channel: string, onMessage: (message: PushMessage) => void, options: SubscribeOptions = {}): Promise<PushSubscription> {
    checkChannel(channel);
    const after = options.lastId === undefined ? null : lastIdOrThrow(options.lastId);
    const subscriber = new LocalSubscriber(onMessage, options.onClose, after !== null, this.log);
    let set = this.channels.get(channel);
    if (!set) this.channels.set(channel, (set = new Set()));
    set.add(subscriber);
    const subscription = { unsubscribe: () => this.remove(channel, subscriber) };
    try {
      await this.backend.subscribers(channel, set.size);
      if (after && !subscriber.closed) subscriber.catchUp(await this.backend.after(channel, after), after);
    } catch (err) {
      subscription.unsubscribe();
      throw err;
    }
    return subscription;
  }

  async info(channel: string): Promise<ChannelInfo | null> {
    checkChannel(channel);
    return this.backend.info(channel);
  }

  async delete(channel: string): Promise<number | null> {
    checkChannel(channel);
    return this.backend.delete(channel);
  }

  /** Subscribers in this process, on one channel or on all. */
  localSubscribers(channel?: string): number {
    if (channel !== undefined) return this.channels.get(channel)?.size ?? 0;
    let n = 0;
    for (const set of this.channels.values()) n += set.size;
    return n;
  }

  message(message: PushMessage): void {
    const set = this.channels.get(message.channel);
    if (set) for (const subscriber of set) subscriber.offer(message);
  }

  deleted(channel: string): void {
    const set = this.channels.get(channel);
    if (!set) return;
    this.channels.delete(channel);
    void this.backend.subscribers(channel, 0).catch(() => {});
    for (const subscriber of set) {
      subscriber.closed = true;
      subscriber.onClose?.('deleted');
    }
  }

  close(): Promise<void> {
    return this.backend.close();
  }

  private remove(channel: string, subscriber: LocalSubscriber): void {
    if (subscriber.closed) return;
    subscriber.closed = true;
    const set = this.channels.get(channel);
    if (!set?.delete(subscriber)) return;
    if (set.size === 0) this.channels.delete(channel);
    this.backend.subscribers(channel, set.size).catch((err) => this.log.error(`push: ${(err as Error).message}`));
  }
}

function checkChannel(channel: string): void {
  const problem = channelIdProblem(channel);
  if (problem) throw new PushInputError(`${problem}: "${channel.slice(0, 64)}"`);
}

/** A subscriber's last id, or an input error. */
function lastIdOrThrow(text: string): MessageId {
  const id = parseLastId(text);
  if (!id) throw new PushInputError(`malformed last message id "${text.slice(0, 64)}"`);
  return id;
}
