/**
 * Cleartext HTTP/2 beside HTTP/1.1 on one socket (`listen 80 http2`, `http2 on`), as nginx
 * 1.25 tells them apart: a connection whose first bytes are HTTP/2's preface is HTTP/2 with
 * prior knowledge (h2c), any other is HTTP/1.x. The bytes read to decide are put back before
 * the chosen server takes the connection.
 */
import type { Socket } from 'node:net';
import { HTTP2_PREFACE } from './http2-sessions';

/** Where a cleartext connection goes once its first bytes are known. */
export interface PrefaceRoutes {
  http2(socket: Socket): void;
  http1(socket: Socket): void;
}

/** The connection's 'error' while its first bytes are awaited: nothing owns the socket yet. */
function destroyOnError(this: Socket): void {
  this.destroy();
}

/**
 * Reads until the bytes so far are either HTTP/2's whole preface or not a beginning of it, then
 * hands the connection over. A client that closes first is just closed.
 */
export function routeByPreface(socket: Socket, routes: PrefaceRoutes): void {
  let seen: Buffer | null = null;
  socket.on('error', destroyOnError);
  const onEnd = () => socket.destroy();
  socket.once('end', onEnd);
  const onData = (chunk: Buffer) => {
    seen = seen ? Buffer.concat([seen, chunk]) : chunk;
    const n = Math.min(seen.length, HTTP2_PREFACE.length);
    const beginsPreface = seen.compare(HTTP2_PREFACE, 0, n, 0, n) === 0;
    if (beginsPreface && seen.length < HTTP2_PREFACE.length) return;
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('error', destroyOnError);
    socket.pause();
    socket.unshift(seen);
    if (beginsPreface) routes.http2(socket);
    else {
      routes.http1(socket);
      socket.resume();
    }
  };
  socket.on('data', onData);
}
