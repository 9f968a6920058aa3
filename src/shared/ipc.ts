/**
 * Messages between the master and its workers over the cluster channel, sent so that "queued"
 * and "failed" are told apart. `process.send` and `worker.send` return false when messages wait
 * behind others (a large one, a busy reader): that is backpressure, the message still goes.
 * Only the send's callback says whether it failed (the channel is closed, the message cannot be
 * serialized); without a callback such a failure would be an 'error' event nobody listens for.
 */
import type { Worker } from 'node:cluster';

/** Sends `message` to the master; resolves once it is handed to the channel, rejects if it cannot be sent. */
export function sendToMaster(message: unknown): Promise<void> {
  if (!process.send || !process.connected) return Promise.reject(new Error('no channel to the master process'));
  return new Promise((resolve, reject) => {
    try {
      process.send!(message, undefined, {}, (err: Error | null) => (err ? reject(err) : resolve()));
    } catch (err) {
      reject(err as Error);
    }
  });
}

/** Sends `message` to a worker; resolves once it is handed to the channel, rejects if it cannot be sent. */
export function sendToWorker(worker: Worker, message: unknown): Promise<void> {
  if (!worker.isConnected()) return Promise.reject(new Error(`worker process ${worker.process.pid} is not connected`));
  return new Promise((resolve, reject) => {
    try {
      worker.send(message as object, undefined, (err: Error | null) => (err ? reject(err) : resolve()));
    } catch (err) {
      reject(err as Error);
    }
  });
}
