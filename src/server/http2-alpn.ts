/**
 * HTTP/2 and HTTP/1.1 on one TLS socket (`listen 443 ssl http2`, or `http2 on` in the server
 * the client names): ALPN chooses `h2` where the server speaks it and the client offers it,
 * else `http/1.1`; a client that offers neither is refused with a fatal alert, as nginx's
 * ALPN callback refuses it. Each connection, once its handshake is done, goes where the choice
 * says: `h2` to the socket's HTTP/2 sessions, anything else (or no ALPN) to Node's HTTP/1.1
 * server as before.
 */
import type { Server } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Http2Sessions } from './http2-sessions';
import type { ListenerRuntime } from './runtime';

/** What nginx offers for HTTP/1.x, in its order of preference. */
const HTTP1 = ['http/1.1', 'http/1.0'];

/** The TLS server's ALPN choice for a listening socket that speaks HTTP/2 (Node's `ALPNCallback`). */
export function alpnChoice(listener: ListenerRuntime): (offer: { servername: string; protocols: string[] }) => string | undefined {
  return ({ servername, protocols }) => {
    if (protocols.includes('h2') && listener.speaksHttp2(servername || null)) return 'h2';
    return HTTP1.find((protocol) => protocols.includes(protocol));
  };
}

/** Takes over `server`'s 'secureConnection' listener (HTTPS's) and routes by ALPN. */
export function routeByAlpn(server: Server, h2: Http2Sessions): void {
  const http1 = server.listeners('secureConnection') as ((this: Server, socket: TLSSocket) => void)[];
  server.removeAllListeners('secureConnection');
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol === 'h2') h2.take(socket);
    else for (const listen of http1) listen.call(server, socket);
  });
}
