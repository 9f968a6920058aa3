/**
 * `listen ... proxy_protocol`: an accepted connection must start with a PROXY header (v1 or v2,
 * `http/proxy-protocol.ts`) before its HTTP or TLS bytes. Its first read is taken here, the
 * header judged on it as nginx 1.22 does, and what follows the header is put back into the
 * socket before Node's HTTP (or TLS) server takes the connection; the header's addresses stay
 * on the TCP socket for the variables and realip. A connection whose first read is not a
 * header is closed with nginx's error line. The wait for that first read is the accept's
 * `client_header_timeout` (the first-head timer covers it).
 */
import type { Socket } from 'node:net';
import { readProxyHeader, type ProxyAddresses } from '../http/proxy-protocol';

const ADDRESSES = Symbol('gateway.proxyProtocol');
const HEADER_LENGTH = Symbol('gateway.proxyProtocolLength');
const AWAITING = Symbol('gateway.awaitingProxyHeader');

/** A TCP socket with what its PROXY header said; a TLS socket points at its TCP socket (`_parent`). */
type ProxiedSocket = Socket & {
  [ADDRESSES]?: ProxyAddresses | null;
  [HEADER_LENGTH]?: number;
  [AWAITING]?: boolean;
  _parent?: ProxiedSocket | null;
};

/** What to do once the header is read, or refused. */
export interface ProxyHeaderOutcome {
  /** The header was read: hand the connection over (its next bytes are the client's). */
  accepted(socket: Socket): void;
  /** The first read was not a header: `error` is nginx's line (null: nginx writes none). The socket is destroyed after. */
  refused(socket: Socket, error: string | null): void;
  /** The client closed its side before sending anything. The socket is destroyed after. */
  ended(socket: Socket): void;
}

/** The connection's 'error' while its header is awaited: nothing owns the socket yet. */
function destroyOnError(this: Socket): void {
  this.destroy();
}

/**
 * Reads the PROXY header from `socket`'s first read. `tls`: the connection goes on to a TLS
 * server, which reads what was put back itself (a plain HTTP server needs the socket resumed).
 */
export function readProxyProtocol(socket: Socket, tls: boolean, outcome: ProxyHeaderOutcome): void {
  const proxied = socket as ProxiedSocket;
  proxied[AWAITING] = true;
  socket.on('error', destroyOnError);
  const onEnd = () => {
    proxied[AWAITING] = false;
    outcome.ended(socket);
    socket.destroy();
  };
  socket.once('end', onEnd);
  socket.once('data', (chunk: Buffer) => {
    socket.pause();
    socket.off('end', onEnd);
    proxied[AWAITING] = false;
    const header = readProxyHeader(chunk);
    if (!header.ok) {
      outcome.refused(socket, header.error);
      socket.destroy();
      return;
    }
    proxied[ADDRESSES] = header.addresses;
    proxied[HEADER_LENGTH] = header.length;
    if (header.length < chunk.length) socket.unshift(chunk.subarray(header.length));
    if (!tls) socket.off('error', destroyOnError);
    outcome.accepted(socket);
    if (!tls) socket.resume();
  });
}

/** What the PROXY header of `socket`'s connection said (the TCP socket, or the TLS socket over it); null when none or no addresses. */
export function proxyAddressesOf(socket: object): ProxyAddresses | null {
  const proxied = socket as ProxiedSocket;
  return (proxied._parent ?? proxied)[ADDRESSES] ?? null;
}

/** The PROXY header's length on `socket` (0 without one): the bytes read before the client's own. */
export function proxyHeaderLength(socket: object): number {
  const proxied = socket as ProxiedSocket;
  return (proxied._parent ?? proxied)[HEADER_LENGTH] ?? 0;
}

/** Whether `socket` is still waiting for its PROXY header (nginx's "while reading PROXY protocol"). */
export function awaitingProxyHeader(socket: object): boolean {
  return (socket as ProxiedSocket)[AWAITING] === true;
}
