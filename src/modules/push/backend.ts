/**
 * Where push channels live, as one process sees it. A `PushBackend` stores messages and carries
 * them to every process with subscribers on their channel: `MemoryBackend` in this process
 * alone, `ClusterBackend` through the master (which holds a backend of its own), `RedisBackend`
 * through Redis. `Fanout` is the only user of a backend: it keeps the local subscribers and
 * tells the backend how many there are per channel.
 */
import type { ChannelLimits } from './memory-store';
import type { MessageId, PushMessage } from './message';

/** What a publish did. */
export interface PublishResult {
  readonly id: string;
  /** Subscribers the message was sent to, everywhere the channel is shared. */
  readonly subscribers: number;
  /** Messages the channel now keeps for replay. */
  readonly messages: number;
  /**
   * True when the shared broker (Redis) was unreachable: the message went to this gateway's
   * subscribers only, with an id of this gateway, and is not kept for replay elsewhere.
   */
  readonly local?: boolean;
}

/** What a channel holds now; null from `info` when it has neither messages nor subscribers. */
export interface ChannelInfo {
  readonly channel: string;
  readonly messages: number;
  readonly subscribers: number;
  readonly lastId: string | null;
  /** The last kept message's time, ms since the epoch. */
  readonly lastTime: number | null;
}

/** Where a backend delivers what happens on the channels this process listens to. */
export interface BackendSink {
  message(message: PushMessage): void;
  /** The channel was deleted: its subscribers are to be closed. */
  deleted(channel: string): void;
}

/** A store and carrier of channels. */
export interface PushBackend {
  /** Where messages for channels with subscribers here arrive. Set once, before any other call. */
  attach(sink: BackendSink): void;
  /** Stores the message (with the next id) and sends it to every subscriber of the channel. */
  publish(channel: string, data: Buffer, contentType: string, limits: ChannelLimits): Promise<PublishResult>;
  /** The kept messages after `after`, oldest first. */
  after(channel: string, after: MessageId): Promise<PushMessage[]>;
  info(channel: string): Promise<ChannelInfo | null>;
  /** Drops the channel's messages and closes its subscribers everywhere: how many, or null when there was no such channel. */
  delete(channel: string): Promise<number | null>;
  /**
   * This process now has `count` subscribers on `channel` (0: none). Resolves once the channel's
   * messages flow to the sink (or, for 0, no longer need to).
   */
  subscribers(channel: string, count: number): Promise<void>;
  close(): Promise<void>;
}
