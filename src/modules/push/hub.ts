/**
 * The master's side of push channels: it holds the one backend (in memory, or Redis) and serves
 * the workers' calls to it; it counts each worker's subscribers per channel and forwards a
 * channel's messages to the workers that have subscribers there. A worker that dies takes only
 * its own subscribers with it; channels and their kept messages live on in the master, across
 * reloads.
 */
import cluster, { type Worker } from 'node:cluster';
import { sendToWorker } from '../../shared/ipc';
import type { Logger } from '../../types';
import type { BackendSink, PushBackend } from './backend';
import { isPushMessage, type PushClusterMessage } from './cluster-messages';
import type { ChannelLimits } from './memory-store';
import type { MessageId, PushMessage } from './message';

export class PushHub implements BackendSink {
  /** Subscribers per channel, per worker. */
  private readonly counts = new Map<Worker, Map<string, number>>();
  /** Subscribers per channel, all workers together. */
  private readonly totals = new Map<string, number>();

  constructor(
    private backend: PushBackend,
    private readonly log: Logger,
  ) {
    backend.attach(this);
    cluster.on('message', (worker, msg) => {
      if (isPushMessage(msg) && msg.type === 'push-call') void this.serve(worker, msg);
    });
    cluster.on('exit', (worker) => this.forget(worker));
  }

  /** Serves channels from `backend` from now on (a reload changed `push_redis_url`). */
  async replace(backend: PushBackend): Promise<void> {
    const old = this.backend;
    this.backend = backend;
    backend.attach(this);
    await Promise.allSettled([...this.totals].map(([channel, n]) => backend.subscribers(channel, n)));
    await old.close();
  }

  close(): Promise<void> {
    return this.backend.close();
  }

  message(message: PushMessage): void {
    this.each(message.channel, { type: 'push-message', message });
  }

  deleted(channel: string): void {
    this.each(channel, { type: 'push-deleted', channel });
  }

  private each(channel: string, msg: PushClusterMessage): void {
    for (const [worker, channels] of this.counts) {
      if (!channels.has(channel) || !worker.isConnected()) continue;
      sendToWorker(worker, msg).catch((err: Error) => this.log.info(`push: could not reach worker process ${worker.process.pid}: ${err.message}`));
    }
  }

  private async serve(worker: Worker, call: Extract<PushClusterMessage, { type: 'push-call' }>): Promise<void> {
    let reply: PushClusterMessage;
    try {
      reply = { type: 'push-reply', id: call.id, value: await this.run(worker, call.op, call.args) };
    } catch (err) {
      reply = { type: 'push-reply', id: call.id, error: (err as Error).message };
    }
    // A worker that went away meanwhile waits for no answer.
    if (worker.isConnected()) await sendToWorker(worker, reply).catch(() => {});
  }

  private run(worker: Worker, op: string, args: unknown[]): Promise<unknown> {
    const b = this.backend;
    switch (op) {
      case 'publish':
        return b.publish(args[0] as string, args[1] as Buffer, args[2] as string, args[3] as ChannelLimits);
      case 'after':
        return b.after(args[0] as string, args[1] as MessageId);
      case 'info':
        return b.info(args[0] as string);
      case 'delete':
        return b.delete(args[0] as string);
      case 'subscribers':
        return this.count(worker, args[0] as string, args[1] as number);
      default:
        return Promise.reject(new Error(`push: unknown operation "${op}"`));
    }
  }

  /** Records `worker`'s count on `channel` and tells the backend the new total. */
  private count(worker: Worker, channel: string, n: number): Promise<void> {
    let channels = this.counts.get(worker);
    if (!channels) this.counts.set(worker, (channels = new Map()));
    const before = channels.get(channel) ?? 0;
    if (n > 0) channels.set(channel, n);
    else channels.delete(channel);
    const total = (this.totals.get(channel) ?? 0) - before + n;
    if (total > 0) this.totals.set(channel, total);
    else this.totals.delete(channel);
    return this.backend.subscribers(channel, total);
  }

  /** A worker exited: its subscribers are gone, the others stay. */
  private forget(worker: Worker): void {
    const channels = this.counts.get(worker);
    if (!channels) return;
    for (const [channel] of [...channels]) {
      void this.count(worker, channel, 0).catch((err) => this.log.error(`push: ${(err as Error).message}`));
    }
    this.counts.delete(worker);
  }
}
