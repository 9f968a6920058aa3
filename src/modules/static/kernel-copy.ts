/**
 * A large file's bytes sent by the kernel, sendfile(2) from the open file to the response's
 * socket, where nothing else stands between them: an HTTP/1.x response on a plain TCP or Unix
 * socket (not TLS, not an HTTP/2 stream) whose writes no filter hooked (gzip, limit_rate, a body
 * filter script, a subrequest's capture). Each call sends what the socket takes now; what it
 * does not take goes through Node's own writes, which wait for the socket (send_timeout
 * watches them as before). On this machine a 1 MiB file costs about a third of the CPU of
 * reading it into buffers and writing them (see the static files commits).
 */
import type { ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { sendFile } from '../../shared/native';

/** What the gateway reads of a net.Socket beside its public API. */
type PlainSocket = Socket & {
  _handle?: { fd?: number; writeQueueSize?: number } | null;
  _httpMessage?: ServerResponse | null;
  encrypted?: boolean;
};

/** Node's own `bytesWritten` getter: what went through the socket's handle, and what waits. */
const nodeBytesWritten = Object.getOwnPropertyDescriptor(Socket.prototype, 'bytesWritten')?.get as ((this: Socket) => number | undefined) | undefined;

/** Bytes sendfile(2) put on each socket, which Node's count (kept by its handle) never sees. */
const directBytes = new WeakMap<Socket, number>();

/**
 * Counts `bytes` sent on `socket` by sendfile(2) in its `bytesWritten` (which `$bytes_sent`
 * and `$body_bytes_sent` are made from): the socket's first such bytes give it a getter of its
 * own, Node's count plus these.
 */
function countDirect(socket: Socket, bytes: number): void {
  const before = directBytes.get(socket);
  directBytes.set(socket, (before ?? 0) + bytes);
  if (before !== undefined || !nodeBytesWritten) return;
  Object.defineProperty(socket, 'bytesWritten', {
    configurable: true,
    get(this: Socket) {
      const counted = nodeBytesWritten.call(this);
      return counted === undefined ? counted : counted + (directBytes.get(this) ?? 0);
    },
  });
}

/**
 * The response's socket when its body may be sent with sendfile(2): a plain socket this
 * response owns, whose writes are Node's own; else null.
 */
export function directSocket(res: ServerResponse): PlainSocket | null {
  const socket = res.socket as PlainSocket | null;
  if (!socket || socket.encrypted || socket._httpMessage !== res || socket.destroyed) return null;
  // A filter that hooks the body (gzip, limit_rate, a script) puts its own write on the response.
  if (Object.hasOwn(res, 'write') || Object.hasOwn(res, 'end')) return null;
  const fd = socket._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? socket : null;
}

/** Whether nothing waits in Node's or libuv's queues of `socket`: bytes the kernel sends now would not overtake anything. */
function idle(socket: PlainSocket): boolean {
  return socket.writableLength === 0 && socket._handle?.writeQueueSize === 0;
}

/**
 * Sends as much of `count` bytes of `fileFd` from `offset` as the socket takes now, after the
 * response's header (flushed here first). Returns the bytes sent (0: none now: the socket is
 * busy or full, the file ended, or an error the next ordinary write will meet), or null when
 * sendfile(2) cannot be used at all (then never again for this response).
 */
export function sendDirect(res: ServerResponse, socket: PlainSocket, fileFd: number, offset: number, count: number): number | null {
  if (!idle(socket) || socket.destroyed) return 0;
  if (!(res as unknown as { _headerSent: boolean })._headerSent) {
    res.flushHeaders();
    if (!idle(socket)) return 0;
  }
  let total = 0;
  while (total < count) {
    const sent = sendFile(socket._handle!.fd!, fileFd, offset + total, count - total);
    if (sent === null) return total > 0 ? total : null;
    if (sent <= 0) break;
    total += sent;
  }
  if (total > 0) countDirect(socket, total);
  return total;
}
