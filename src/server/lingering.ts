/**
 * nginx's discarding of a request body that no handler read (ngx_http_discard_request_body):
 * the response goes out at once, then the rest of the body is read and thrown away, waiting
 * at most `lingering_timeout` for each read and `lingering_time` in all. A body read to its
 * end leaves the connection as the response said (kept alive for the next request, or
 * closed); a client that stops sending, or drags on past `lingering_time`, is closed without a
 * word. After a response that closes the connection, the close waits for the same discarding
 * (nginx sends its FIN only then), so a client still sending is not reset before it read the
 * answer.
 *
 * A body that came in the same read as its head is parsed only after the response is out
 * (Node runs what the handler queued first): whether it is still coming is asked once that read
 * is parsed whole (setImmediate), which for most requests finds it complete and does nothing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { markClosing } from './pipeline';

/** `lingering_time` and `lingering_timeout`, in ms. */
export interface LingeringLimits {
  readonly timeMs: number;
  readonly timeoutMs: number;
}

const BODY = Symbol('gateway.lingeringBody');

/**
 * Node's server socket: its server (for `keepAliveTimeout`), the response it is writing, and
 * the last request with a body served on it, with its limits.
 */
type ServerSocket = Socket & {
  server?: { keepAliveTimeout?: number };
  _httpMessage?: ServerResponse | null;
  [BODY]?: { req: IncomingMessage; limits: LingeringLimits };
};

/** Sockets reading a body only to throw it away. */
const lingering = new WeakSet<object>();

/** Whether `socket` is reading a body only to throw it away: what breaks there ends the connection, unanswered. */
export function isLingering(socket: object): boolean {
  return lingering.has(socket);
}

/**
 * For a request that announced a body, before its response can finish: a response that closes
 * the connection then waits for the body (Node ends the connection with `destroySoon`, which
 * this replaces on the socket, once).
 */
export function watchBody(req: IncomingMessage, limits: LingeringLimits): void {
  const socket = req.socket as ServerSocket;
  socket[BODY] = { req, limits };
  if (socket.destroySoon !== destroySoonAfterBody) socket.destroySoon = destroySoonAfterBody;
}

/**
 * After a response on a kept-alive connection (its 'close'): a body still coming is read and
 * dropped, `lingering_timeout` replacing Node's `keepalive_timeout` until it ends.
 */
export function afterResponse(req: IncomingMessage, limits: LingeringLimits): void {
  if (!req.complete) setImmediate(lingerKeptAlive, req, limits);
}

function lingerKeptAlive(req: IncomingMessage, limits: LingeringLimits): void {
  const socket = req.socket as ServerSocket;
  if (req.complete || socket.destroyed || socket.writableEnded || isLingering(socket)) return;
  linger(req, socket, limits, () => {
    const keepalive = socket.server?.keepAliveTimeout ?? 0;
    if (!socket._httpMessage && !socket.destroyed) socket.setTimeout(keepalive);
  });
}

/** The socket's `destroySoon` once a request with a body was served on it: the close waits for that body. */
function destroySoonAfterBody(this: ServerSocket): void {
  const body = this[BODY];
  const close = () => Socket.prototype.destroySoon.call(this);
  if (!body || body.req.complete) return close();
  markClosing(this);
  setImmediate(() => (body.req.complete ? close() : linger(body.req, this, body.limits, close)));
}

/** Reads `req` to its end and then runs `done`; closes the connection on either limit. */
function linger(req: IncomingMessage, socket: ServerSocket, limits: LingeringLimits, done: () => void): void {
  if (socket.destroyed) return;
  lingering.add(socket);
  // Node's server closes a connection whose timeout fires with nobody listening for it.
  socket.setTimeout(limits.timeoutMs);
  const cap = setTimeout(() => socket.destroy(), limits.timeMs);
  const settle = () => {
    clearTimeout(cap);
    lingering.delete(socket);
    socket.off('close', settle);
  };
  if (req.listenerCount('data') === 0) req.resume();
  req.once('end', () => {
    settle();
    done();
  });
  socket.once('close', settle);
}
