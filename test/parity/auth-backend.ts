/**
 * An authentication service for the auth_request cases, behind both nginx and the gateway.
 * It answers at once from the request head (it never waits for a body: nginx sends the
 * client's Content-Length with no body), by path: `/auth/ok` (200 with `X-User: alice`),
 * `/auth/204`, `/auth/401` (with `WWW-Authenticate` and `X-User: bob`), `/auth/401-two` (two
 * challenges), `/auth/403`, `/auth/302`, `/auth/500`, `/auth/slow` (200 after `SLOW_MS`),
 * `/auth/reset` (the connection reset), `/auth/hang` (no answer), `/auth/slow-body` (200 at
 * once, its body over a second). Every 2xx carries `X-Seen`: what it received (method,
 * target, header lines in order but the request line's version) in base64, so a
 * response shows what each proxy sent to the auth service.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** How late `/auth/slow` answers. */
export const SLOW_MS = 1500;

/** A running auth service. */
export interface AuthBackend {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** Requests it received, as `METHOD target`. */
  readonly seen: string[];
  /** Connections open now. */
  open(): number;
  close(): Promise<void>;
}

/** What the service saw of a request, one line each, in base64 (a header value). */
function seenOf(req: http.IncomingMessage): string {
  let dump = `${req.method} ${req.url}\n`;
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) dump += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\n`;
  return Buffer.from(dump).toString('base64');
}

/** Starts the service on 127.0.0.1, port 0. */
export async function startAuthBackend(): Promise<AuthBackend> {
  const seen: string[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    const path = (req.url ?? '/').split('?')[0];
    const ok = (status = 200) => {
      if (status === 204) return void res.writeHead(204, { 'X-User': 'alice', 'X-Seen': seenOf(req) }).end();
      res.writeHead(status, { 'X-User': 'alice', 'X-Seen': seenOf(req), 'Content-Type': 'text/plain', 'Content-Length': '9' });
      res.end('welcome!\n');
    };
    switch (path) {
      case '/auth/ok':
        return ok();
      case '/auth/204':
        return ok(204);
      case '/auth/401':
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="auth"', 'X-User': 'bob', 'Content-Length': '3' });
        return void res.end('no\n');
      case '/auth/401-two':
        res.writeHead(401, ['WWW-Authenticate', 'Basic realm="first"', 'WWW-Authenticate', 'Bearer realm="second"', 'Content-Length', '3']);
        return void res.end('no\n');
      case '/auth/403':
        res.writeHead(403, { 'Content-Length': '3' });
        return void res.end('no\n');
      case '/auth/302':
        res.writeHead(302, { Location: 'http://login.test/', 'Content-Length': '0' });
        return void res.end();
      case '/auth/500':
        res.writeHead(500, { 'Content-Length': '0' });
        return void res.end();
      case '/auth/slow':
        return void setTimeout(ok, SLOW_MS);
      case '/auth/reset':
        return void req.socket.resetAndDestroy();
      case '/auth/hang':
        return;
      case '/auth/slow-body':
        res.writeHead(200, { 'X-User': 'carol', 'Content-Type': 'text/plain', 'Content-Length': '4' });
        res.write('ab');
        return void setTimeout(() => res.end('cd'), 1000);
      default:
        res.writeHead(404, { 'Content-Length': '0' });
        return void res.end();
    }
  });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    open: () => sockets.size,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
