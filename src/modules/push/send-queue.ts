/**
 * What keeps one slow subscriber from slowing the others or growing memory without bound: a
 * message goes to the connection at once while its send buffer (bytes handed over, not yet on
 * the wire) stays under the limit. Past the limit the subscriber's `overflow` policy decides:
 * `close` ends the connection (the client reconnects with its last id and is replayed what it
 * missed), `drop_oldest` holds messages here and drops the oldest held ones to stay under the
 * limit (the newest is always kept). A connection with nothing waiting takes any message, so
 * one larger than the limit goes out alone. A replay (the messages a subscriber asked for with
 * its last id) is written whole and does not count against the limit: only what waits behind
 * it does.
 */
import type { PushMessage } from './message';

/** What a subscriber does once its send buffer is full. */
export type OverflowPolicy = { readonly kind: 'drop_oldest' } | { readonly kind: 'close'; readonly code: number };

/** The connection a queue writes to. */
export interface Outlet {
  /** Bytes handed to the connection and not yet sent. */
  buffered(): number;
  write(message: PushMessage): void;
  /** Ends the connection because it fell behind (`code` for a WebSocket close frame). */
  overflow(code: number): void;
}

/** What a queue reports, for the metrics. */
export interface QueueEvents {
  dropped(count: number): void;
  overflowClosed(): void;
}

/** One subscriber's outgoing messages. */
export class SendQueue {
  private readonly held: PushMessage[] = [];
  private heldBytes = 0;
  private closed = false;
  /** Replayed bytes still waiting on the connection (they went first, so they leave first). */
  private replayBytes = 0;
  /** What the connection had waiting after our last look, to tell how much has left since. */
  private lastWaiting = 0;

  constructor(
    private readonly outlet: Outlet,
    private readonly limit: number,
    private readonly policy: OverflowPolicy,
    private readonly events: QueueEvents,
  ) {}

  /** Writes a replayed message: at once, whatever is waiting. */
  replay(message: PushMessage): void {
    if (this.closed) return;
    this.buffered();
    this.replayBytes += message.data.length;
    this.write(message);
  }

  push(message: PushMessage): void {
    if (this.closed) return;
    const size = message.data.length;
    const buffered = this.buffered();
    // An idle connection takes any message, even one larger than the limit.
    if (this.held.length === 0 && (buffered === 0 || buffered + size <= this.limit)) {
      this.write(message);
      return;
    }
    if (this.policy.kind === 'close') {
      this.closed = true;
      this.events.overflowClosed();
      this.outlet.overflow(this.policy.code);
      return;
    }
    this.held.push(message);
    this.heldBytes += size;
    let dropped = 0;
    while (this.held.length > 1 && this.buffered() + this.heldBytes > this.limit) {
      this.heldBytes -= this.held.shift()!.data.length;
      dropped++;
    }
    if (dropped > 0) this.events.dropped(dropped);
  }

  /** The connection's buffer emptied: sends what was held, as far as the limit allows. */
  drained(): void {
    while (this.held.length > 0 && !this.closed) {
      const next = this.held[0];
      const buffered = this.buffered();
      if (buffered > 0 && buffered + next.data.length > this.limit) return;
      this.held.shift();
      this.heldBytes -= next.data.length;
      this.write(next);
    }
  }

  private write(message: PushMessage): void {
    this.outlet.write(message);
    this.lastWaiting = this.outlet.buffered();
  }

  /** Bytes waiting on the connection behind the replay. */
  private buffered(): number {
    const waiting = this.outlet.buffered();
    this.replayBytes = Math.max(0, this.replayBytes - Math.max(0, this.lastWaiting - waiting));
    this.lastWaiting = waiting;
    return Math.max(0, waiting - this.replayBytes);
  }

  /** The connection ended: nothing more is sent, what was held is let go. */
  close(): void {
    this.closed = true;
    this.held.length = 0;
    this.heldBytes = 0;
  }
}
