/**
 * Channels in this process only: the backend of a gateway run with `master_process off`, and
 * the master's own backend (its "process" being all its workers) when no Redis is configured.
 */
import type { BackendSink, ChannelInfo, PublishResult, PushBackend } from './backend';
import { MemoryStore, type ChannelLimits } from './memory-store';
import type { MessageId, PushMessage } from './message';

/** How often expired messages are dropped from channels nobody touches. */
const SWEEP_INTERVAL_MS = 5000;

export class MemoryBackend implements PushBackend {
  private readonly store: MemoryStore;
  private readonly counts = new Map<string, number>();
  private sink: BackendSink | null = null;
  private readonly sweeper: NodeJS.Timeout;

  constructor(now: () => number = Date.now) {
    this.store = new MemoryStore(now);
    this.sweeper = setInterval(() => this.store.sweep(), SWEEP_INTERVAL_MS).unref();
  }

  attach(sink: BackendSink): void {
    this.sink = sink;
  }

  async publish(channel: string, data: Buffer, contentType: string, limits: ChannelLimits): Promise<PublishResult> {
    const message = this.store.append(channel, data, contentType, limits);
    const subscribers = this.counts.get(channel) ?? 0;
    if (subscribers > 0) this.sink?.message(message);
    return { id: message.id, subscribers, messages: this.store.info(channel)?.messages ?? 0 };
  }

  async after(channel: string, after: MessageId): Promise<PushMessage[]> {
    return this.store.after(channel, after);
  }

  async info(channel: string): Promise<ChannelInfo | null> {
    const stored = this.store.info(channel);
    const subscribers = this.counts.get(channel) ?? 0;
    if (!stored && subscribers === 0) return null;
    return { channel, messages: stored?.messages ?? 0, subscribers, lastId: stored?.lastId ?? null, lastTime: stored?.lastTime ?? null };
  }

  async delete(channel: string): Promise<number | null> {
    const existed = this.store.delete(channel);
    const subscribers = this.counts.get(channel) ?? 0;
    if (subscribers > 0) this.sink?.deleted(channel);
    return existed || subscribers > 0 ? subscribers : null;
  }

  async subscribers(channel: string, count: number): Promise<void> {
    if (count > 0) this.counts.set(channel, count);
    else this.counts.delete(channel);
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
  }
}
