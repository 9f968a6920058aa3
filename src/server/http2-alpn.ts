/**
 * HTTP/2 and HTTP/1.1 on one TLS socket (`listen 443 ssl http2`): the server offers `h2` and
 * `http/1.1` in ALPN, and each connection, once its handshake is done, goes where the client's
 * choice says: `h2` to the socket's HTTP/2 sessions, anything else (or no ALPN) to Node's
 * HTTP/1.1 server as before.
 */
import type { Server } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Http2Sessions } from './http2-sessions';

/** Takes over `server`'s 'secureConnection' listener (HTTPS's) and routes by ALPN. */
export function routeByAlpn(server: Server, h2: Http2Sessions): void {
  const http1 = server.listeners('secureConnection') as ((this: Server, socket: TLSSocket) => void)[];
  server.removeAllListeners('secureConnection');
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol === 'h2') h2.take(socket);
    else for (const listen of http1) listen.call(server, socket);
  });
}
