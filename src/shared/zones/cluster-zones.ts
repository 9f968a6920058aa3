/**
 * A worker's zones: every check is done by the master (`ZoneHub`), which holds the zones for
 * all workers. A call carries an id and waits for the master's reply with that id.
 */
import { sendToMaster } from '../ipc';
import { isZoneMessage, type ZoneMessage } from './zone-messages';
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
  private readonly listener = (msg: unknown) => this.receive(msg);
  private readonly sweep: NodeJS.Timeout;

  constructor() {
    process.on('message', this.listener);
    this.sweep = setInterval(() => this.expire(), 1000).unref();
  }

  declare(specs: readonly ZoneSpec[]): Promise<void> {
    return this.call((id) => ({ type: 'zone-declare', id, specs })) as Promise<void>;
  }

  limitReq(limits: readonly ReqLimit[]): Promise<ReqOutcome> {
    return this.call((id) => ({ type: 'zone-req', id, limits })) as Promise<ReqOutcome>;
  }

  acquireConn(limits: readonly ConnLimit[]): Promise<ConnOutcome> {
    return this.call((id) => ({ type: 'zone-conn', id, limits })) as Promise<ConnOutcome>;
  }

  releaseConn(slots: readonly ConnSlot[]): void {
    // A worker whose channel is gone holds nothing: the master released its slots when it exited.
    sendToMaster({ type: 'zone-release', slots } satisfies ZoneMessage).catch(() => {});
  }

  async close(): Promise<void> {
    process.off('message', this.listener);
    clearInterval(this.sweep);
    for (const call of this.calls.values()) call.reject(new Error('zones: the worker is stopping'));
    this.calls.clear();
  }

  private call(message: (id: number) => ZoneMessage): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.calls.set(id, { resolve, reject, sent: Date.now() });
      sendToMaster(message(id)).catch((err: Error) => {
        if (!this.calls.delete(id)) return;
        reject(new Error(`zones: no channel to the master process (${err.message})`));
      });
    });
  }

  private receive(msg: unknown): void {
    if (!isZoneMessage(msg) || msg.type !== 'zone-reply') return;
    const call = this.calls.get(msg.id);
    if (!call) return;
    this.calls.delete(msg.id);
    if (msg.error !== undefined) call.reject(new Error(msg.error));
    else call.resolve(msg.value);
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
