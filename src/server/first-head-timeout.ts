/**
 * nginx's `client_header_timeout` for a connection's first request: its timer starts at the
 * accept and is not restarted by what arrives, so the TLS handshake, the wait for a first byte
 * and the whole first head share it. Node's headersTimeout runs from the first byte instead;
 * it still times every later request (from its first byte, as nginx's keep-alive handler
 * does). One timer per connection, cleared by the first head.
 */
import type { Socket } from 'node:net';

const FIRST_HEAD = Symbol('gateway.firstHeadTimer');

/** An accepted socket, with its first-head timer while it runs; a TLS socket points at its TCP socket (`_parent`). */
type TimedSocket = Socket & { [FIRST_HEAD]?: NodeJS.Timeout | null; _parent?: TimedSocket | null };

/**
 * Starts the timer on an accepted connection: `onTimeout` runs unless a head is complete within
 * `ms`. The caller clears it (`firstHeadDone`) when the connection closes.
 */
export function armFirstHead(socket: Socket, ms: number, onTimeout: (socket: Socket) => void): void {
  if (ms <= 0) return;
  const timed = socket as TimedSocket;
  timed[FIRST_HEAD] = setTimeout(() => {
    timed[FIRST_HEAD] = null;
    onTimeout(socket);
  }, ms);
}

/** A head arrived (or was refused) on `socket`, the TCP socket or the TLS socket over it. */
export function firstHeadDone(socket: object): void {
  const timed = ((socket as TimedSocket)._parent ?? socket) as TimedSocket;
  const timer = timed[FIRST_HEAD];
  if (timer) {
    clearTimeout(timer);
    timed[FIRST_HEAD] = null;
  }
}
