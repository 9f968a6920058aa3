/**
 * The counters of every worker, added up. nginx keeps its stub_status counters in shared
 * memory; Node's workers share none, so they ask over the cluster channel instead:
 *
 * 1. the worker serving `/status` (or `/metrics`) sends `metrics-ask` to the master;
 * 2. the master sends `metrics-collect` to every live worker (every generation, as nginx's
 *    shared counters include workers that are shutting down) and waits for their
 *    `metrics-part` answers, at most COLLECT_TIMEOUT_MS (a worker that does not answer is left out);
 * 3. the master sends the sum back in `metrics-sum`.
 *
 * Counters survive their worker, as nginx's shared ones do: a worker that stops sends its last
 * counters (`metrics-final`), and the master keeps the counts of workers that are gone (for a
 * worker that died, those of the last scrape), less what was open, and adds them to every sum.
 *
 * With `master_process off` the one process answers from its own counters.
 */
import cluster, { type Worker } from 'node:cluster';
import { sendToMaster, sendToWorker } from '../../shared/ipc';
import { closedPart, mergeSnapshots, snapshot, type Snapshot } from './counters';

/** How long the master waits for the workers' parts. */
const COLLECT_TIMEOUT_MS = 1000;
/** How long a worker waits for the master's sum. */
const ASK_TIMEOUT_MS = 3000;

/** The messages of this exchange, beside the master's own `ready`/`quit`. */
export type MetricsMessage =
  | { type: 'metrics-ask'; id: number }
  | { type: 'metrics-collect'; id: number }
  | { type: 'metrics-part'; id: number; snapshot: Snapshot }
  | { type: 'metrics-sum'; id: number; snapshot: Snapshot }
  | { type: 'metrics-final'; snapshot: Snapshot };

let nextId = 1;
const asked = new Map<number, (sum: Snapshot | null) => void>();

/** The counters of the whole gateway (null when the master did not answer in time). */
export function collect(): Promise<Snapshot | null> {
  if (!cluster.isWorker || !process.send) return Promise.resolve(mergeSnapshots([snapshot()]));
  const id = nextId++;
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      asked.delete(id);
      resolve(null);
    }, ASK_TIMEOUT_MS);
    asked.set(id, (sum) => {
      clearTimeout(timer);
      asked.delete(id);
      resolve(sum);
    });
    // A channel that cannot carry the question answers "not in time" at once.
    sendToMaster({ type: 'metrics-ask', id } satisfies MetricsMessage).catch(() => asked.get(id)?.(null));
  });
}

/** In a worker: answers the master's `metrics-collect` and takes its `metrics-sum`. */
export function answerInWorker(): void {
  process.on('message', (msg: MetricsMessage) => {
    if (msg?.type === 'metrics-collect') sendToMaster({ type: 'metrics-part', id: msg.id, snapshot: snapshot() } satisfies MetricsMessage).catch(ignore);
    else if (msg?.type === 'metrics-sum') asked.get(msg.id)?.(msg.snapshot);
  });
}

/** In a stopping worker: hands its last counters to the master (resolves once sent, or at once without a master). */
export function sendFinal(): Promise<void> {
  if (!cluster.isWorker || !process.send || !process.connected) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 500);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    sendToMaster({ type: 'metrics-final', snapshot: snapshot() } satisfies MetricsMessage).then(done, done);
  });
}

/** In the master: answers every worker's `metrics-ask` with the sum of all workers' counters. */
export function serveInMaster(): void {
  let nextRound = 1;
  const rounds = new Map<number, (worker: Worker, part: Snapshot) => void>();
  /** Each live worker's latest counters; what the gone ones counted, summed. */
  const latest = new Map<Worker, Snapshot>();
  let retired: Snapshot | null = null;
  cluster.on('exit', (worker: Worker) => {
    const last = latest.get(worker);
    latest.delete(worker);
    if (last) retired = mergeSnapshots(retired ? [retired, closedPart(last)] : [closedPart(last)]);
  });
  cluster.on('message', (worker: Worker, msg: MetricsMessage) => {
    if (msg?.type === 'metrics-part' || msg?.type === 'metrics-final') latest.set(worker, msg.snapshot);
    if (msg?.type === 'metrics-part') {
      rounds.get(msg.id)?.(worker, msg.snapshot);
      return;
    }
    if (msg?.type !== 'metrics-ask') return;
    const round = nextRound++;
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => !!w && w.isConnected());
    const parts = new Map<Worker, Snapshot>();
    const finish = () => {
      clearTimeout(timer);
      rounds.delete(round);
      const all = retired ? [...parts.values(), retired] : [...parts.values()];
      sendToWorker(worker, { type: 'metrics-sum', id: msg.id, snapshot: mergeSnapshots(all) } satisfies MetricsMessage).catch(ignore);
    };
    const timer = setTimeout(finish, COLLECT_TIMEOUT_MS);
    rounds.set(round, (from, part) => {
      parts.set(from, part);
      if (parts.size === workers.length) finish();
    });
    // A worker that cannot be asked is not waited for.
    for (const w of workers) {
      sendToWorker(w, { type: 'metrics-collect', id: round } satisfies MetricsMessage).catch(() => {
        workers.splice(workers.indexOf(w), 1);
        if (rounds.has(round) && parts.size === workers.length) finish();
      });
    }
  });
}

/** A send whose failure needs nothing done: the other side is gone. */
function ignore(): void {}
