/**
 * The master's side of shared zones: it holds the zones (in its memory, or in Redis with
 * `zone_redis_url`) and answers every worker's checks over the cluster channel, so a limit
 * holds whichever worker takes a request, and the zones outlive reloads (new workers find the
 * old workers' counts). It remembers which worker holds which `limit_conn` slots: a worker that
 * exits (killed, crashed, or done draining) has every slot it still held given back.
 */
import cluster, { type Worker } from 'node:cluster';
import { sendToWorker } from '../ipc';
import type { Logger } from '../../types';
import { decodeCall, encodeReply, isZoneMessage, type ZoneCall, type ZoneMessage, type ZoneReply } from './zone-messages';
import { LocalZones } from './local-zones';
import type { MemoryZones } from './memory-zones';
import type { ConnSlot, ZoneBackend } from './zone-types';

/** A slot's identity in a worker's holdings. */
const slotId = (slot: ConnSlot) => `${slot.where}\0${slot.zone}\0${slot.key}`;

export class ZoneHub {
  /** Per worker, the slots it holds, each with how many times. */
  private readonly held = new Map<Worker, Map<string, { slot: ConnSlot; n: number }>>();
  private readonly onMessage = (worker: Worker, msg: unknown) => {
    if (isZoneMessage(msg)) this.serve(worker, msg);
  };
  private readonly onExit = (worker: Worker) => this.forget(worker);

  constructor(
    private backend: ZoneBackend,
    private readonly log: Logger,
  ) {
    cluster.on('message', this.onMessage);
    cluster.on('exit', this.onExit);
  }

  /** Serves zones from `backend` from now on (a reload changed `zone_redis_url`). */
  async replace(backend: ZoneBackend): Promise<void> {
    const old = this.backend;
    this.backend = backend;
    // Slots held in the old store cannot be given back there once it is gone: they are forgotten.
    for (const slots of this.held.values()) slots.clear();
    await old.close();
  }

  async close(): Promise<void> {
    cluster.off('message', this.onMessage);
    cluster.off('exit', this.onExit);
    await this.backend.close();
  }

  /** Serves one message of calls; the answers go back together, once all are done. */
  private serve(worker: Worker, msg: ZoneMessage): void {
    if (msg.type !== 'zone-calls') return;
    const calls = msg.calls.map(decodeCall);
    if (this.backend instanceof LocalZones) return this.serveNow(worker, calls, this.backend.store);
    const answers: Promise<ZoneReply>[] = [];
    for (const call of calls) {
      if (call.op === 'release') {
        this.release(worker, call.slots);
        continue;
      }
      answers.push(
        this.run(worker, call).then(
          (value) => ({ id: call.id, value }),
          (err: Error) => ({ id: call.id, error: err.message }),
        ),
      );
    }
    if (answers.length === 0) return;
    void Promise.all(answers).then((replies) => this.send(worker, { type: 'zone-replies', replies: replies.map(encodeReply) }));
  }

  /** The same, against the master's memory: answered in this turn, without a promise per call. */
  private serveNow(worker: Worker, calls: readonly ZoneCall[], store: MemoryZones): void {
    const replies: ReturnType<typeof encodeReply>[] = [];
    for (const call of calls) {
      switch (call.op) {
        case 'release':
          this.release(worker, call.slots);
          break;
        case 'declare':
          store.declare(call.specs);
          replies.push(encodeReply({ id: call.id, value: null }));
          break;
        case 'req':
          replies.push(encodeReply({ id: call.id, value: store.limitReq(call.limits) }));
          break;
        case 'conn': {
          const outcome = store.acquireConn(call.limits);
          if (outcome.kind === 'passed' && outcome.slots.length) this.hold(worker, outcome.slots);
          replies.push(encodeReply({ id: call.id, value: outcome }));
          break;
        }
      }
    }
    if (replies.length) this.send(worker, { type: 'zone-replies', replies });
  }

  private send(worker: Worker, msg: ZoneMessage): void {
    if (worker.isConnected()) sendToWorker(worker, msg).catch(() => {});
  }

  private run(worker: Worker, call: Exclude<ZoneCall, { op: 'release' }>): Promise<ZoneReply['value']> {
    switch (call.op) {
      case 'declare':
        return this.backend.declare(call.specs).then(() => null);
      case 'req':
        return this.backend.limitReq(call.limits);
      case 'conn':
        return this.backend.acquireConn(call.limits).then((outcome) => {
          if (outcome.kind === 'passed' && outcome.slots.length) {
            // A worker that exited while its call was served: its slots go back at once.
            if (!worker.isConnected()) this.backend.releaseConn(outcome.slots);
            else this.hold(worker, outcome.slots);
          }
          return outcome;
        });
    }
  }

  private hold(worker: Worker, slots: readonly ConnSlot[]): void {
    let held = this.held.get(worker);
    if (!held) this.held.set(worker, (held = new Map()));
    for (const slot of slots) {
      const id = slotId(slot);
      const entry = held.get(id);
      if (entry) entry.n++;
      else held.set(id, { slot, n: 1 });
    }
  }

  /** Gives back slots `worker` held (a slot it does not hold, from a store since replaced, is ignored). */
  private release(worker: Worker, slots: readonly ConnSlot[]): void {
    const held = this.held.get(worker);
    if (!held) return;
    const back: ConnSlot[] = [];
    for (const slot of slots) {
      const id = slotId(slot);
      const entry = held.get(id);
      if (!entry) continue;
      if (--entry.n === 0) held.delete(id);
      back.push(entry.slot);
    }
    if (back.length) this.backend.releaseConn(back);
  }

  /** A worker exited: every slot it still held is given back. */
  private forget(worker: Worker): void {
    const held = this.held.get(worker);
    this.held.delete(worker);
    if (!held || held.size === 0) return;
    const back: ConnSlot[] = [];
    for (const { slot, n } of held.values()) for (let i = 0; i < n; i++) back.push(slot);
    this.log.notice(`zones: worker process ${worker.process.pid} exited holding ${back.length} limit_conn slot${back.length === 1 ? '' : 's'}; released`);
    this.backend.releaseConn(back);
  }
}
