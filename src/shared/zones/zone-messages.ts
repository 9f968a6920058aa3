/**
 * What a worker and the master say about zones over the cluster channel. A worker's calls of
 * one turn of its event loop go in one message (`zone-calls`), and the master answers them in
 * one (`zone-replies`): a message costs a write, a read and a (de)serialization on each side,
 * whatever it carries. On the wire each call and each reply is a flat array of numbers and
 * strings: the channel's serializer (V8's) takes 3 to 4 times longer over objects (measured:
 * some 3.6 µs a check as objects, 1.3 as arrays, for a batch of 24).
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

/** A call or a reply as it crosses the channel. */
type Wire = readonly (string | number | readonly ZoneSpec[])[];

export type ZoneMessage = { readonly type: 'zone-calls'; readonly calls: readonly Wire[] } | { readonly type: 'zone-replies'; readonly replies: readonly Wire[] };

export function isZoneMessage(msg: unknown): msg is ZoneMessage {
  const type = (msg as { type?: unknown } | null)?.type;
  return type === 'zone-calls' || type === 'zone-replies';
}

const enum Op {
  Declare,
  Req,
  Conn,
  Release,
}

const enum Answer {
  Null,
  Declined,
  Passed,
  Delayed,
  Busy,
  NoMemory,
  ConnPassed,
  ConnBusy,
  ConnNoMemory,
  Error,
}

/** Slots as `zone key where epoch` quadruples (where 0: local, 1: Redis; epoch -1: none). */
function putSlots(out: (string | number)[], slots: readonly ConnSlot[]): void {
  for (const s of slots) out.push(s.zone, s.key, s.where === 'redis' ? 1 : 0, s.epoch ?? -1);
}

function takeSlots(w: Wire, from: number): ConnSlot[] {
  const slots: ConnSlot[] = [];
  for (let i = from; i + 3 < w.length; i += 4) {
    const epoch = w[i + 3] as number;
    slots.push(epoch < 0 ? { zone: w[i] as string, key: w[i + 1] as string, where: w[i + 2] === 1 ? 'redis' : 'local' } : { zone: w[i] as string, key: w[i + 1] as string, where: 'local', epoch });
  }
  return slots;
}

export function encodeCall(call: ZoneCall): Wire {
  switch (call.op) {
    case 'declare':
      return [Op.Declare, call.id, call.specs];
    case 'req': {
      const out: (string | number)[] = [Op.Req, call.id];
      for (const l of call.limits) out.push(l.zone, l.key, l.burst, l.delay);
      return out;
    }
    case 'conn': {
      const out: (string | number)[] = [Op.Conn, call.id];
      for (const l of call.limits) out.push(l.zone, l.key, l.conn);
      return out;
    }
    case 'release': {
      const out: (string | number)[] = [Op.Release, 0];
      putSlots(out, call.slots);
      return out;
    }
  }
}

export function decodeCall(w: Wire): ZoneCall {
  const id = w[1] as number;
  switch (w[0] as Op) {
    case Op.Declare:
      return { op: 'declare', id, specs: w[2] as readonly ZoneSpec[] };
    case Op.Req: {
      const limits: ReqLimit[] = [];
      for (let i = 2; i + 3 < w.length; i += 4) limits.push({ zone: w[i] as string, key: w[i + 1] as string, burst: w[i + 2] as number, delay: w[i + 3] as number });
      return { op: 'req', id, limits };
    }
    case Op.Conn: {
      const limits: ConnLimit[] = [];
      for (let i = 2; i + 2 < w.length; i += 3) limits.push({ zone: w[i] as string, key: w[i + 1] as string, conn: w[i + 2] as number });
      return { op: 'conn', id, limits };
    }
    default:
      return { op: 'release', id: 0, slots: takeSlots(w, 2) };
  }
}

export function encodeReply(reply: ZoneReply): Wire {
  const { id, value } = reply;
  if (reply.error !== undefined) return [id, Answer.Error, reply.error];
  if (!value) return [id, Answer.Null];
  switch (value.kind) {
    case 'declined':
      return [id, Answer.Declined];
    case 'delayed':
      return [id, Answer.Delayed, value.delayMs, value.excess, value.zone];
    case 'busy':
      return 'excess' in value ? [id, Answer.Busy, value.excess, value.zone] : [id, Answer.ConnBusy, value.zone];
    case 'nomem':
      // limit_req's and limit_conn's are alike: the caller knows which it asked.
      return [id, Answer.NoMemory, value.zone];
    case 'passed': {
      if (!('slots' in value)) return [id, Answer.Passed];
      const out: (string | number)[] = [id, Answer.ConnPassed, value.counted ? 1 : 0];
      putSlots(out, value.slots);
      return out;
    }
  }
}

export function decodeReply(w: Wire): ZoneReply {
  const id = w[0] as number;
  switch (w[1] as Answer) {
    case Answer.Error:
      return { id, error: w[2] as string };
    case Answer.Declined:
      return { id, value: { kind: 'declined' } };
    case Answer.Passed:
      return { id, value: { kind: 'passed' } };
    case Answer.Delayed:
      return { id, value: { kind: 'delayed', delayMs: w[2] as number, excess: w[3] as number, zone: w[4] as string } };
    case Answer.Busy:
      return { id, value: { kind: 'busy', excess: w[2] as number, zone: w[3] as string } };
    case Answer.ConnBusy:
      return { id, value: { kind: 'busy', zone: w[2] as string } };
    case Answer.NoMemory:
    case Answer.ConnNoMemory:
      return { id, value: { kind: 'nomem', zone: w[2] as string } };
    case Answer.ConnPassed:
      return { id, value: { kind: 'passed', counted: w[2] === 1, slots: takeSlots(w, 3) } };
    default:
      return { id, value: null };
  }
}
