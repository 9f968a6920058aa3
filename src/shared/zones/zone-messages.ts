/**
 * What a worker and the master say about zones over the cluster channel. A worker's calls of
 * one turn of its event loop go in one message (`zone-calls`), and the master answers them in
 * one (`zone-replies`): a message costs a write, a read and a (de)serialization on each side,
 * whatever it carries.
 */
import type { ConnLimit, ConnOutcome, ConnSlot, ReqLimit, ReqOutcome, ZoneSpec } from './zone-types';

/** One call; `id` 0 for a release, which waits for no answer. */
export type ZoneCall =
  | { readonly op: 'declare'; readonly id: number; readonly specs: readonly ZoneSpec[] }
  | { readonly op: 'req'; readonly id: number; readonly limits: readonly ReqLimit[] }
  | { readonly op: 'conn'; readonly id: number; readonly limits: readonly ConnLimit[] }
  | { readonly op: 'release'; readonly id: 0; readonly slots: readonly ConnSlot[] };

/** One answer: the call's id, its value or its error. */
export interface ZoneReply {
  readonly id: number;
  readonly value?: ReqOutcome | ConnOutcome | null;
  readonly error?: string;
}

export type ZoneMessage = { readonly type: 'zone-calls'; readonly calls: readonly ZoneCall[] } | { readonly type: 'zone-replies'; readonly replies: readonly ZoneReply[] };

export function isZoneMessage(msg: unknown): msg is ZoneMessage {
  const type = (msg as { type?: unknown } | null)?.type;
  return type === 'zone-calls' || type === 'zone-replies';
}
