/**
 * A worker's backend: every operation is done by the master's backend (see `PushHub`), so a
 * publish on any worker reaches subscribers on all, with one sequence of ids per channel.
 */
import { sendToMaster } from '../../shared/ipc';
import type { BackendSink, ChannelInfo, PublishResult, PushBackend } from './backend';
import { isPushMessage, type PushClusterMessage, type PushOp } from './cluster-messages';
import type { ChannelLimits } from './memory-store';
import { transferBudgetMs, type MessageId, type PushMessage } from './message';

/**
 * How long a worker waits for the master's answer once its call is sent, before the operation
 * fails; a publish's data adds the time the master may take to store it (`transferBudgetMs`).
 */
const CALL_TIMEOUT_MS = 5000;

export class ClusterBackend implements PushBackend {
  private sink: BackendSink | null = null;
  private nextId = 1;
  private readonly calls = new Map<number, { resolve(value: unknown): void; reject(err: Error): void; timer: NodeJS.Timeout | null }>();
  private readonly listener = (msg: unknown) => this.receive(msg);

  constructor() {
    process.on('message', this.listener);
  }

  attach(sink: BackendSink): void {
    this.sink = sink;
  }

  publish(channel: string, data: Buffer, contentType: string, limits: ChannelLimits): Promise<PublishResult> {
    return this.call('publish', [channel, data, contentType, limits], transferBudgetMs(data.length)) as Promise<PublishResult>;
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
      if (call.timer) clearTimeout(call.timer);
      call.reject(new Error('push: the worker is stopping'));
    }
    this.calls.clear();
  }

  /**
   * Sends the call and waits for the master's reply. A send held back by the channel (a large
   * message) is queued, not failed: the reply's clock starts once the call has been handed over.
   */
  private call(op: PushOp, args: unknown[], extraMs = 0): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const call = { resolve, reject, timer: null as NodeJS.Timeout | null };
      this.calls.set(id, call);
      sendToMaster({ type: 'push-call', id, op, args } satisfies PushClusterMessage).then(
        () => {
          if (this.calls.get(id) !== call) return;
          call.timer = setTimeout(() => {
            this.calls.delete(id);
            reject(new Error(`push: the master did not answer "${op}" in time`));
          }, CALL_TIMEOUT_MS + extraMs);
        },
        (err: Error) => {
          if (this.calls.get(id) !== call) return;
          this.calls.delete(id);
          reject(new Error(`push: no channel to the master process (${err.message})`));
        },
      );
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
      if (call.timer) clearTimeout(call.timer);
      if (msg.error !== undefined) call.reject(new Error(msg.error));
      else call.resolve(msg.value);
    }
  }
}
