/**
 * A worker's backend: every operation is done by the master's backend (see `PushHub`), so a
 * publish on any worker reaches subscribers on all, with one sequence of ids per channel.
 */
import type { BackendSink, ChannelInfo, PublishResult, PushBackend } from './backend';
import { isPushMessage, type PushClusterMessage, type PushOp } from './cluster-messages';
import type { ChannelLimits } from './memory-store';
import type { MessageId, PushMessage } from './message';

/** How long a worker waits for the master's answer before the operation fails. */
const CALL_TIMEOUT_MS = 5000;

export class ClusterBackend implements PushBackend {
  private sink: BackendSink | null = null;
  private nextId = 1;
  private readonly calls = new Map<number, { resolve(value: unknown): void; reject(err: Error): void; timer: NodeJS.Timeout }>();
  private readonly listener = (msg: unknown) => this.receive(msg);

  constructor() {
    process.on('message', this.listener);
  }

  attach(sink: BackendSink): void {
    this.sink = sink;
  }

  publish(channel: string, data: Buffer, contentType: string, limits: ChannelLimits): Promise<PublishResult> {
    return this.call('publish', [channel, data, contentType, limits]) as Promise<PublishResult>;
  }

  after(channel: string, after: MessageId): Promise<PushMessage[]> {
    return this.call('after', [channel, after]) as Promise<PushMessage[]>;
  }

  info(channel: string): Promise<ChannelInfo | null> {
    return this.call('info', [channel]) as Promise<ChannelInfo | null>;
  }

  delete(channel: string): Promise<number | null> {
    return this.call('delete', [channel]) as Promise<number | null>;
  }

  async subscribers(channel: string, count: number): Promise<void> {
    await this.call('subscribers', [channel, count]);
  }

  async close(): Promise<void> {
    process.off('message', this.listener);
    for (const [, call] of this.calls) {
      clearTimeout(call.timer);
      call.reject(new Error('push: the worker is stopping'));
    }
    this.calls.clear();
  }

  private call(op: PushOp, args: unknown[]): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.calls.delete(id);
        reject(new Error(`push: the master did not answer "${op}" in time`));
      }, CALL_TIMEOUT_MS);
      this.calls.set(id, { resolve, reject, timer });
      const sent = process.send?.({ type: 'push-call', id, op, args } satisfies PushClusterMessage);
      if (!sent) {
        clearTimeout(timer);
        this.calls.delete(id);
        reject(new Error('push: no channel to the master process'));
      }
    });
  }

  private receive(msg: unknown): void {
    if (!isPushMessage(msg)) return;
    if (msg.type === 'push-message') this.sink?.message(msg.message);
    else if (msg.type === 'push-deleted') this.sink?.deleted(msg.channel);
    else if (msg.type === 'push-reply') {
      const call = this.calls.get(msg.id);
      if (!call) return;
      this.calls.delete(msg.id);
      clearTimeout(call.timer);
      if (msg.error !== undefined) call.reject(new Error(msg.error));
      else call.resolve(msg.value);
    }
  }
}
