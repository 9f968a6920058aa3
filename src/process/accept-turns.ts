/**
 * The master's part in workers stopping to accept when nearly full (`server/accept-gate.ts`): a
 * worker that stopped says so, and one that listens again says so. When every worker of the
 * serving generation has stopped, the master tells the last one to stop to accept again and to
 * keep accepting until it is full ('hold': it closes what does not fit, as nginx's workers do,
 * rather than every connection waiting in the backlog while a worker still has room); once
 * another worker accepts again, it tells that one it may stop again ('release').
 *
 * A stopped worker stays registered on the master's shared handle of each listening socket, so
 * the socket and its queued connections stay open however many workers have stopped.
 */
import type { Worker } from 'node:cluster';
import { sendToMaster, sendToWorker } from '../shared/ipc';
import type { AcceptPeers } from '../server/accept-gate';

/** What a worker and the master say about accepting. */
export type AcceptTurnMessage =
  | { type: 'accept-paused' }
  | { type: 'accept-resumed' }
  | { type: 'accept-advice'; advice: 'hold' | 'release' };

/** The worker's side: tells the master over the cluster channel, and hears its advice. */
export function masterAsPeers(): AcceptPeers {
  const tell = (msg: AcceptTurnMessage) => void sendToMaster(msg).catch(() => {});
  return {
    paused: () => tell({ type: 'accept-paused' }),
    resumed: () => tell({ type: 'accept-resumed' }),
    onAdvice(listener) {
      process.on('message', (msg: AcceptTurnMessage) => {
        if (msg?.type === 'accept-advice') listener(msg.advice);
      });
    },
  };
}

/** The master's side: which workers stopped, and which one it holds open. */
export class AcceptTurns {
  private readonly stopped = new Set<Worker>();
  /** Workers that listen (cluster's 'listening': their first server was handed its socket). */
  private readonly listening = new WeakSet<Worker>();
  /** The worker told to accept until full, every other having stopped. */
  private held: Worker | null = null;

  /** Follows a new worker: it counts as accepting once it listens. */
  watch(worker: Worker): void {
    worker.once('listening', () => this.listening.add(worker));
  }

  /** Takes `msg` if it is about accepting, given the serving generation's workers. */
  answer(worker: Worker, msg: AcceptTurnMessage, serving: ReadonlySet<Worker>): void {
    if (msg?.type === 'accept-paused') {
      this.stopped.add(worker);
      if (this.held === worker) this.held = null;
      if (!this.anyAccepts(serving)) this.advise(worker, 'hold');
    } else if (msg?.type === 'accept-resumed') {
      this.stopped.delete(worker);
      const held = this.held;
      if (held && held !== worker && serving.has(worker)) {
        this.held = null;
        this.advise(held, 'release');
      }
    }
  }

  /** A worker that exited. */
  forget(worker: Worker): void {
    this.stopped.delete(worker);
    if (this.held === worker) this.held = null;
  }

  private advise(worker: Worker, advice: 'hold' | 'release'): void {
    if (advice === 'hold') this.held = worker;
    sendToWorker(worker, { type: 'accept-advice', advice } satisfies AcceptTurnMessage).catch(() => {
      if (this.held === worker) this.held = null;
    });
  }

  /** Whether a worker of the serving generation listens and has not stopped. */
  private anyAccepts(serving: ReadonlySet<Worker>): boolean {
    for (const worker of serving) {
      if (!this.stopped.has(worker) && this.listening.has(worker) && worker.isConnected()) return true;
    }
    return false;
  }
}
