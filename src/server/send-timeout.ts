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

/** A queue seen blocked: its size, and since when it has not moved. */
interface Stall {
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

/** Every response in flight in this process, swept for blocked writes. */
export class SendTimeouts<T> {
  private readonly inFlight = new Map<ServerResponse, T>();
  private readonly stalls = new Map<ServerResponse, Stall>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly policy: SendPolicy<T>,
    private readonly periodMs = SWEEP_MS,
  ) {}

  /** Watches `res` until `forget` (its 'close'). */
  watch(res: ServerResponse, request: T): void {
    this.inFlight.set(res, request);
    if (this.timer === null) {
      this.timer = setInterval(() => this.sweep(performance.now()), this.periodMs);
      this.timer.unref();
    }
  }

  forget(res: ServerResponse): void {
    this.inFlight.delete(res);
    this.stalls.delete(res);
  }

  /** One look at every response in flight (public for tests). */
  sweep(now: number): void {
    if (this.inFlight.size === 0) {
      this.stop();
      return;
    }
    for (const [res, request] of this.inFlight) {
      const socket = res.socket;
      // An HTTP/2 stream waits on its own flow-control window: what it has not handed on yet.
      const queued = res instanceof Http2Response ? (res.stream.destroyed ? 0 : res.stream.writableLength) : socket && !socket.destroyed ? queuedBytes(socket) : 0;
      const stall = this.stalls.get(res);
      if (queued === 0) {
        if (stall) this.stalls.delete(res);
      } else if (!stall || stall.queued !== queued) {
        this.stalls.set(res, { queued, since: now });
      } else {
        const limit = this.policy.timeoutMs(request);
        if (limit > 0 && now - stall.since >= limit) {
          this.forget(res);
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
