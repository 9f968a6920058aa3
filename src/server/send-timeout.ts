/**
 * nginx's `send_timeout` for every response, whatever its handler: a client that takes nothing
 * of what is waiting for it for that long is closed, with nginx's info line ("client timed
 * out ... while sending response to client"). As in nginx the clock runs only while a write
 * is blocked and starts over at each write the client takes.
 *
 * Nothing is done per write: one sweep for the whole process, every 100 ms (started with the
 * first response in flight, stopped when there is none), looks at the bytes each response's
 * connection still holds in libuv's write queue, not yet taken by the kernel; a response whose
 * queue has not moved since the sweep that first saw it so is timed from that sweep. A close
 * comes between `send_timeout` and `send_timeout` plus one period after the client's last read.
 */
import { Http2Response } from '../http/http2-messages';
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** How often blocked responses are looked at: the precision of the timeout. */
export const SWEEP_MS = 100;

/** What the sweep asks of a response's request (`T`, the dispatcher's request state). */
export interface SendPolicy<T> {
  /** The location's `send_timeout` in ms (0: none); read at each sweep, as an internal redirect may change it. */
  timeoutMs(request: T): number;
  /** The timeout passed: log and close. */
  timedOut(res: ServerResponse, request: T): void;
}

/**
 * A response in flight, as the sweep follows it: where it sits in the list, and the queue it
 * last saw blocked (its size, and since when it has not moved; 0: not blocked).
 */
export interface Watched<T> {
  readonly res: ServerResponse;
  readonly request: T;
  /** Its place in the list, -1 once forgotten. */
  slot: number;
  queued: number;
  since: number;
}

/** A socket as Node builds it: a TLS socket writes through the TCP socket it wraps (`_parent`). */
type WrappedSocket = Socket & { _parent?: Socket | null; _handle?: { writeQueueSize?: number } | null };

/** The bytes a connection's writes still hold in libuv, not yet taken by the kernel. */
function queuedBytes(socket: Socket): number {
  const tcp = (socket as WrappedSocket)._parent ?? socket;
  return (tcp as WrappedSocket)._handle?.writeQueueSize ?? 0;
}

/**
 * Every response in flight in this process, swept for blocked writes. They are kept in a plain
 * list, each knowing its place (one taken out is replaced by the last). With a Map, set and
 * deleted at every request, a worker promoted about 5 KB per small proxied request now and then
 * (test/worker-heap-after-idle.test.ts failed 2 runs of 3; without the Map, none of 6): our
 * reading, not traced inside V8, is that the Map's replaced hash tables stay linked to their
 * successors for its iterators, so one table that lived long enough to be old held every later
 * one, and the requests they listed, through every scavenge until the next full GC.
 */
export class SendTimeouts<T> {
  private readonly inFlight: Watched<T>[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly policy: SendPolicy<T>,
    private readonly periodMs = SWEEP_MS,
  ) {}

  /** Watches `res` until `forget` is given what this returns (at its 'close'). */
  watch(res: ServerResponse, request: T): Watched<T> {
    const watched: Watched<T> = { res, request, slot: this.inFlight.length, queued: 0, since: 0 };
    this.inFlight.push(watched);
    if (this.timer === null) {
      this.timer = setInterval(() => this.sweep(performance.now()), this.periodMs);
      this.timer.unref();
    }
    return watched;
  }

  forget(watched: Watched<T>): void {
    const slot = watched.slot;
    if (slot < 0) return;
    watched.slot = -1;
    const last = this.inFlight.pop()!;
    if (last !== watched) {
      this.inFlight[slot] = last;
      last.slot = slot;
    }
  }

  /** One look at every response in flight (public for tests). */
  sweep(now: number): void {
    if (this.inFlight.length === 0) {
      this.stop();
      return;
    }
    // Backwards: a response timed out is forgotten, and the last one takes its place.
    for (let i = this.inFlight.length - 1; i >= 0; i--) {
      const watched = this.inFlight[i];
      if (!watched) continue;
      const { res, request } = watched;
      const socket = res.socket;
      // An HTTP/2 stream waits on its own flow-control window: what it has not handed on yet.
      const queued = res instanceof Http2Response ? (res.stream.destroyed ? 0 : res.stream.writableLength) : socket && !socket.destroyed ? queuedBytes(socket) : 0;
      if (queued === 0) {
        watched.queued = 0;
      } else if (watched.queued !== queued) {
        watched.queued = queued;
        watched.since = now;
      } else {
        const limit = this.policy.timeoutMs(request);
        if (limit > 0 && now - watched.since >= limit) {
          this.forget(watched);
          this.policy.timedOut(res, request);
        }
      }
    }
  }

  /** Stops the sweep (at shutdown; it starts again with the next response). */
  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}
