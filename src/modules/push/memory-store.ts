/**
 * Channels held in this process's memory: for each, the last `message_buffer_length` messages
 * younger than `message_timeout`, for subscribers that come late or come back. Pure data: the
 * clock is passed in, nothing is sent anywhere.
 */
import { compareIds, formatId, IdClock, type MessageId, type PushMessage } from './message';

/** How long and how many messages a channel keeps (the publishing location's settings). */
export interface ChannelLimits {
  /** `message_buffer_length`: 0 keeps none. */
  readonly bufferLength: number;
  /** `message_timeout` in ms. */
  readonly timeoutMs: number;
}

/** What a channel holds now. */
export interface StoredChannelInfo {
  readonly messages: number;
  /** The newest kept message's id and time. */
  readonly lastId: string;
  readonly lastTime: number;
}

interface Entry {
  readonly message: PushMessage;
  readonly parsedId: MessageId;
  readonly expires: number;
}

interface Channel {
  entries: Entry[];
}

/** Every channel's message buffer in this process. */
export class MemoryStore {
  private readonly channels = new Map<string, Channel>();
  private readonly clock: IdClock;

  constructor(private readonly now: () => number = Date.now) {
    this.clock = new IdClock(now);
  }

  /** Stores a new message with the next id and returns it. */
  append(channel: string, data: Buffer, contentType: string, limits: ChannelLimits): PushMessage {
    const id = this.clock.next();
    const message: PushMessage = { id: formatId(id), channel, data, contentType, time: id.ms };
    if (limits.bufferLength === 0 || limits.timeoutMs <= 0) return message;
    let c = this.channels.get(channel);
    if (!c) this.channels.set(channel, (c = { entries: [] }));
    c.entries.push({ message, parsedId: id, expires: id.ms + limits.timeoutMs });
    if (c.entries.length > limits.bufferLength) c.entries.splice(0, c.entries.length - limits.bufferLength);
    this.expire(channel, c);
    return message;
  }

  /** The kept messages after `after`, oldest first. */
  after(channel: string, after: MessageId): PushMessage[] {
    const c = this.live(channel);
    if (!c) return [];
    let i = c.entries.length;
    while (i > 0 && compareIds(c.entries[i - 1].parsedId, after) > 0) i--;
    return c.entries.slice(i).map((e) => e.message);
  }

  info(channel: string): StoredChannelInfo | null {
    const c = this.live(channel);
    if (!c) return null;
    const last = c.entries[c.entries.length - 1].message;
    return { messages: c.entries.length, lastId: last.id, lastTime: last.time };
  }

  /** Forgets a channel; true when it held anything. */
  delete(channel: string): boolean {
    return this.channels.delete(channel);
  }

  /** Drops expired messages everywhere, and channels left with none. */
  sweep(): void {
    for (const [name, c] of this.channels) this.expire(name, c);
  }

  /** How many channels are held. */
  get size(): number {
    return this.channels.size;
  }

  private live(channel: string): Channel | null {
    const c = this.channels.get(channel);
    return c && this.expire(channel, c) ? c : null;
  }

  /** Drops the channel's expired messages; false (and the channel forgotten) once none is left. */
  private expire(name: string, c: Channel): boolean {
    const now = this.now();
    let drop = 0;
    while (drop < c.entries.length && c.entries[drop].expires <= now) drop++;
    if (drop > 0) c.entries.splice(0, drop);
    if (c.entries.length > 0) return true;
    this.channels.delete(name);
    return false;
  }
}
