/**
 * Push messages and their ids. An id is `<ms>-<seq>`, as Redis stream ids are: the publish
 * time in milliseconds and a sequence number within that millisecond, so ids of one channel
 * are strictly increasing wherever the channel lives (this process, the master, Redis), and a
 * subscriber can say "after this one" (`Last-Event-ID`, `last_id`).
 */

export type { PushMessage } from '../../types';

/** A parsed message id. */
export interface MessageId {
  readonly ms: number;
  readonly seq: number;
}

/** The id before every id: `last_id=0` asks for the whole buffer. */
export const ID_ZERO: MessageId = Object.freeze({ ms: 0, seq: 0 });

const ID_FORMAT = /^(\d{1,15})(?:-(\d{1,15}))?$/;

/** Parses `<ms>-<seq>` (or a bare `<ms>`, seq 0); null when the text is not an id. */
export function parseId(text: string): MessageId | null {
  const m = ID_FORMAT.exec(text);
  return m ? { ms: Number(m[1]), seq: m[2] === undefined ? 0 : Number(m[2]) } : null;
}

/** A subscriber's last id (`Last-Event-ID`, `last_id`): `<ms>-<seq>`, or `0` for all that is kept; null when malformed. */
export function parseLastId(text: string): MessageId | null {
  return text === '0' ? ID_ZERO : parseId(text.trim());
}

export function formatId(id: MessageId): string {
  return `${id.ms}-${id.seq}`;
}

/** Negative when `a` comes before `b`, 0 when equal, positive after. */
export function compareIds(a: MessageId, b: MessageId): number {
  return a.ms - b.ms || a.seq - b.seq;
}

/** Hands out increasing ids from a clock, as Redis does for a stream: never back in time. */
export class IdClock {
  private last: MessageId = ID_ZERO;

  constructor(private readonly now: () => number = Date.now) {}

  next(): MessageId {
    const ms = this.now();
    this.last = ms > this.last.ms ? { ms, seq: 0 } : { ms: this.last.ms, seq: this.last.seq + 1 };
    return this.last;
  }
}

/**
 * The slowest rate a message's data is assumed to move at between the processes and the store
 * (bytes per second): what a large message adds to the time an operation on it is allowed.
 */
const SLOWEST_TRANSFER_RATE = 8 * 1024 * 1024;

/** The time, in ms, a message of `bytes` may take to move beyond the fixed timeouts. */
export function transferBudgetMs(bytes: number): number {
  return Math.ceil((bytes / SLOWEST_TRANSFER_RATE) * 1000);
}
