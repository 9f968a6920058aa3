/**
 * Where push channels live, as one process sees it. A `PushBackend` stores messages and carries
 * them to every process with subscribers on their channel: `MemoryBackend` in this process
 * alone, `ClusterBackend` through the master (which holds a backend of its own), `RedisBackend`
 * through Redis. `Fanout` is the only user of a backend: it keeps the local subscribers and
 * tells the backend how many there are per channel.
 */
import type { ChannelInfo, PublishResult } from '../../types';
import type { ChannelLimits } from './memory-store';
import type { MessageId, PushMessage } from './message';

export type { ChannelInfo, PublishResult };

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
