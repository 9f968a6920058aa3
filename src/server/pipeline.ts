/**
 * nginx serves a connection's requests one after another: a request pipelined behind another
 * is read once the one before it is answered, and nothing behind a response that closes the
 * connection is read at all. Node's parser reads ahead and hands pipelined requests, upgrades
 * and CONNECTs over at once; these hold them back until their turn, and drop them when the
 * connection closes first.
 */
import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** The response a connection is writing now (Node's `_httpMessage`), if any. */
type HttpSocket = Duplex & { _httpMessage?: ServerResponse | null };

/** Connections whose last response closes them, though they stay open a while (lingering). */
const closing = new WeakSet<object>();

/**
 * Says that `socket` closes after the response it just sent, while it stays open for something
 * else (reading the rest of a body to drop it): nothing it sends now is served.
 */
export function markClosing(socket: object): void {
  closing.add(socket);
}

/** Whether nothing more may be served on `socket`. */
function closed(socket: Duplex): boolean {
  return socket.destroyed || socket.writableEnded || closing.has(socket);
}

/**
 * Runs `serve` when `res` is this connection's turn: at once for the first request, else once
 * every response before it is done (Node gives the response its socket then). Behind a
 * response that closed the connection `serve` never runs: a response queued behind it never
 * gets the socket, and one Node parsed after it (Node reads on in the same chunk once that
 * response is out) finds the socket ended, or marked closing.
 */
export function inTurn(res: ServerResponse, serve: () => void): void {
  const socket = res.socket;
  if (!socket) res.once('socket', serve);
  else if (!closed(socket)) serve();
}

/**
 * Runs `then` once `socket` has no response in progress (or never, if it is destroyed first):
 * once the responses before have gone out, whatever they said about the connection.
 */
export function afterResponses(socket: Duplex, then: () => void): void {
  if (socket.destroyed) return;
  const current = (socket as HttpSocket)._httpMessage;
  if (!current) {
    then();
    return;
  }
  // 'close' comes after Node has handed the socket to the next queued response, if any.
  current.once('close', () => afterResponses(socket, then));
}

/**
 * Runs `then` once `socket` has no response in progress, or never if one of them closed the
 * connection: for what comes after a connection's pipelined responses (an upgrade, a CONNECT,
 * the answer to a head the parser refused).
 */
export function whenIdle(socket: Duplex, then: () => void): void {
  afterResponses(socket, () => {
    if (!closed(socket) && socket.writable) then();
  });
}
