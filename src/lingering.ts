/**
 * nginx's discarding of a request body that no handler read (ngx_http_discard_request_body):
 * the response goes out at once, then the rest of the body is read and thrown away, waiting
 * at most `lingering_timeout` for each read and `lingering_time` in all. A body read to its
 * end leaves the connection as the response said (kept alive for the next request, or
 * closed); a client that stops sending, or drags on past `lingering_time`, is closed without a
 * word. After a response that closes the connection, the close waits for the same discarding
 * (nginx sends its FIN only then), so a client still sending is not reset before it read the
 * answer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { markClosing } from './pipeline';

/** `lingering_time` and `lingering_timeout`, in ms. */
export interface LingeringLimits {
  readonly timeMs: number;
  readonly timeoutMs: number;
}

/** Node's server socket: its server (for `keepAliveTimeout`) and the response it is writing. */
type ServerSocket = Socket & { server?: { keepAliveTimeout?: number }; _httpMessage?: ServerResponse | null };

/** Sockets reading a body only to throw it away. */
const lingering = new WeakSet<object>();

/** Whether `socket` is reading a body only to throw it away: what breaks there ends the connection, unanswered. */
export function isLingering(socket: object): boolean {
  return lingering.has(socket);
}

/**
 * Arranges the discarding of `req`'s body if it is still coming when `res` has gone out. Called
 * before the response can finish, for a request that announced a body. Node has by then
 * resumed the request to drop what comes, and either armed `keepalive_timeout` or is about to
 * close the connection (`destroySoon`): lingering takes over from both.
 */
export function discardUnreadBody(req: IncomingMessage, res: ServerResponse, limits: LingeringLimits): void {
  res.prependOnceListener('finish', () => {
    if (req.complete) return;
    const socket = req.socket as ServerSocket;
    if ((res as ServerResponse & { _last?: boolean })._last) {
      markClosing(socket);
      socket.destroySoon = () => linger(req, socket, limits, () => Socket.prototype.destroySoon.call(socket));
      return;
    }
    // Node arms keepalive_timeout after this listener; lingering_timeout replaces it just after.
    queueMicrotask(() =>
      linger(req, socket, limits, () => {
        const keepalive = socket.server?.keepAliveTimeout ?? 0;
        if (!socket._httpMessage && !socket.destroyed) socket.setTimeout(keepalive);
      }),
    );
  });
}

/** Reads `req` to its end and then runs `done`; closes the connection on either limit. */
function linger(req: IncomingMessage, socket: ServerSocket, limits: LingeringLimits, done: () => void): void {
  if (socket.destroyed) return;
  if (req.complete) {
    done();
    return;
  }
  lingering.add(socket);
  // Node's server closes a connection whose timeout fires with nobody listening for it.
  socket.setTimeout(limits.timeoutMs);
  const cap = setTimeout(() => socket.destroy(), limits.timeMs);
  const settle = () => {
    clearTimeout(cap);
    lingering.delete(socket);
  };
  if (req.listenerCount('data') === 0) req.resume();
  req.once('end', () => {
    settle();
    done();
  });
  socket.once('close', settle);
}
