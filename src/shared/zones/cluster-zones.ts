/**
 * A worker's zones: every check is done by the master (`ZoneHub`), which holds the zones for
 * all workers. A call carries an id and waits for the master's reply with that id; the calls
 * of one turn of the event loop go together in one message (`zone-messages.ts`).
 */
import { sendToMaster } from '../ipc';
import { decodeReply, encodeCall, isZoneMessage, type ZoneCall, type ZoneMessage } from './zone-messages';
import type { ConnLimit, ConnOutcome, ConnSlot, ReqLimit, ReqOutcome, ZoneBackend, ZoneSpec } from './zone-types';

/** How long a call may wait for the master before it fails (checked once a second, not per call). */
const CALL_TIMEOUT_MS = 5000;

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  readonly sent: number;
}

export class ClusterZones implements ZoneBackend {
  private nextId = 1;
  private readonly calls = new Map<number, Pending>();
  /** Calls of this turn, sent together once its I/O callbacks have run. */
  private queued: ZoneCall[] = [];
  private flushing: NodeJS.Immediate | null = null;
  private readonly listener = (msg: unknown) => this.receive(msg);
  private readonly sweep: NodeJS.Timeout;

  constructor() {
    process.on('message', this.listener);
    this.sweep = setInterval(() => this.expire(), 1000).unref();
  }

  declare(specs: readonly ZoneSpec[]): Promise<void> {
    return this.call({ op: 'declare', id: this.nextId++, specs }) as Promise<void>;
  }

  limitReq(limits: readonly ReqLimit[]): Promise<ReqOutcome> {
    return this.call({ op: 'req', id: this.nextId++, limits }) as Promise<ReqOutcome>;
  }

  acquireConn(limits: readonly ConnLimit[]): Promise<ConnOutcome> {
    return this.call({ op: 'conn', id: this.nextId++, limits }) as Promise<ConnOutcome>;
  }

  releaseConn(slots: readonly ConnSlot[]): void {
    this.enqueue({ op: 'release', id: 0, slots });
  }

  async close(): Promise<void> {
    process.off('message', this.listener);
    clearInterval(this.sweep);
    this.flush();
    for (const call of this.calls.values()) call.reject(new Error('zones: the worker is stopping'));
    this.calls.clear();
  }

  private call(call: ZoneCall): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.calls.set(call.id, { resolve, reject, sent: Date.now() });
      this.enqueue(call);
    });
  }

  private enqueue(call: ZoneCall): void {
    this.queued.push(call);
    this.flushing ??= setImmediate(() => this.flush());
  }

  private flush(): void {
    if (this.flushing) clearImmediate(this.flushing);
    this.flushing = null;
    const calls = this.queued;
    if (calls.length === 0) return;
    this.queued = [];
    // A worker whose channel is gone holds nothing: the master released its slots when it exited.
    sendToMaster({ type: 'zone-calls', calls: calls.map(encodeCall) } satisfies ZoneMessage).catch((err: Error) => {
      for (const call of calls) {
        const pending = this.calls.get(call.id);
        if (!pending) continue;
        this.calls.delete(call.id);
        pending.reject(new Error(`zones: no channel to the master process (${err.message})`));
      }
    });
  }

  private receive(msg: unknown): void {
    if (!isZoneMessage(msg) || msg.type !== 'zone-replies') return;
    for (const wire of msg.replies) {
      const reply = decodeReply(wire);
      const call = this.calls.get(reply.id);
      if (!call) continue;
      this.calls.delete(reply.id);
      if (reply.error !== undefined) call.reject(new Error(reply.error));
      else call.resolve(reply.value);
    }
  }

  private expire(): void {
    const before = Date.now() - CALL_TIMEOUT_MS;
    for (const [id, call] of this.calls) {
      if (call.sent > before) continue;
      this.calls.delete(id);
      call.reject(new Error('zones: the master process did not answer in time'));
    }
  }
}
