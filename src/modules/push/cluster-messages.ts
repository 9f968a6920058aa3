/**
 * What workers and the master say to each other about push channels, over the cluster channel
 * (advanced serialization, so message data travels as Buffers). A worker calls an operation of
 * the master's backend and gets its reply; the master sends the worker the messages and
 * deletions of the channels it has subscribers on.
 */
import type { PushMessage } from './message';

/** The backend operations a worker may call. */
export type PushOp = 'publish' | 'after' | 'info' | 'delete' | 'subscribers';

export type PushClusterMessage =
  | { type: 'push-call'; id: number; op: PushOp; args: unknown[] }
  | { type: 'push-reply'; id: number; value?: unknown; error?: string }
  | { type: 'push-message'; message: PushMessage }
  | { type: 'push-deleted'; channel: string };

/** True for the messages of this exchange (the cluster channel carries others too). */
export function isPushMessage(msg: unknown): msg is PushClusterMessage {
  const type = (msg as { type?: unknown } | null)?.type;
  return typeof type === 'string' && type.startsWith('push-');
}
