/** What a worker and the master say about zones over the cluster channel. */
import type { ConnLimit, ConnOutcome, ConnSlot, ReqLimit, ReqOutcome, ZoneSpec } from './zone-types';

export type ZoneMessage =
  | { readonly type: 'zone-declare'; readonly id: number; readonly specs: readonly ZoneSpec[] }
  | { readonly type: 'zone-req'; readonly id: number; readonly limits: readonly ReqLimit[] }
  | { readonly type: 'zone-conn'; readonly id: number; readonly limits: readonly ConnLimit[] }
  | { readonly type: 'zone-release'; readonly slots: readonly ConnSlot[] }
  | { readonly type: 'zone-reply'; readonly id: number; readonly value?: ReqOutcome | ConnOutcome | null; readonly error?: string };

export function isZoneMessage(msg: unknown): msg is ZoneMessage {
  const type = (msg as { type?: unknown } | null)?.type;
  return typeof type === 'string' && type.startsWith('zone-');
}
