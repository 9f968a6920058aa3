/**
 * The backend behind both nginx and the gateway in the proxy parity cases: it answers with
 * what it received (the request line's method and target, every header line as sent, in
 * order, and the body), so comparing the two responses compares what each proxy sent
 * upstream. The HTTP version of the request line comes back in `X-Upstream-Version`. A few
 * paths answer otherwise: `.../redirect?to=URL` (a 302 with Location and Refresh, `BACKEND`
 * in URL standing for this backend's own `http://127.0.0.1:PORT`), `.../headers` (headers
 * nginx hides or passes), `.../cookies?c=V&c=V` (a Set-Cookie line per `c`), `.../hop` (hop-by-hop headers), `.../slow` (the echo, half a second
 * late), `.../switch` (a 101 whatever was asked: a backend that switches protocols anyway).
 * Like an h2c server, it answers any upgrade request (`Upgrade` with `Connection: upgrade`)
 * with 101 (with a Set-Cookie line per `c` in its URL) and then answers what comes through the tunnel itself, unfiltered: each request
 * there gets `tunnelled: METHOD target`.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** A running recording backend. */
export interface RecordingBackend {
  /** `http://127.0.0.1:PORT`, for `proxy_pass`. */
  readonly url: string;
  /** Requests it received, as `METHOD target`. */
  readonly seen: string[];
  close(): Promise<void>;
}

/**
 * Writes a 101 on `socket` (a Set-Cookie line per `c` of `target`), then answers each request head that comes through it with
 * `tunnelled: METHOD target`: what a client reaches once a proxy tunnels it here.
 */
function switchProtocols(socket: Socket, upgrade: string | undefined, target = '/'): void {
  socket.on('error', () => {});
  const cookies = new URL(target, 'http://x').searchParams.getAll('c').map((c) => `Set-Cookie: ${c}\r\n`).join('');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${upgrade || 'h2c'}\r\nConnection: Upgrade\r\n${cookies}\r\n`);
  let pending = '';
  socket.on('data', (chunk: Buffer) => {
    pending += chunk.toString('latin1');
    for (let end; (end = pending.indexOf('\r\n\r\n')) >= 0; pending = pending.slice(end + 4)) {
      const body = `tunnelled: ${pending.slice(0, end).split('\r\n')[0].split(' ').slice(0, 2).join(' ')}\n`;
      socket.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    }
  });
}

/** Starts the backend on 127.0.0.1, port 0. */
export async function startRecordingBackend(): Promise<RecordingBackend> {
  const seen: string[] = [];
  let self = '';
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    if (req.url?.split('?')[0].endsWith('/switch')) return void switchProtocols(req.socket, req.headers.upgrade);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const version = ['X-Upstream-Version', req.httpVersion];
      if (url.pathname.endsWith('/redirect')) {
        const to = (url.searchParams.get('to') ?? '/').replace('BACKEND', self);
        res.writeHead(302, [...version, 'Location', to, 'Refresh', `3; url=${to}`, 'Content-Type', 'text/plain', 'Content-Length', '6']);
        return void res.end('moved\n');
      }
      if (url.pathname.endsWith('/cookies')) {
        const cookies = url.searchParams.getAll('c').flatMap((c) => ['Set-Cookie', c]);
        res.writeHead(200, [...version, ...cookies, 'Content-Type', 'text/plain', 'Content-Length', '8']);
        return void res.end('cookies\n');
      }
      if (url.pathname.endsWith('/headers')) {
        res.writeHead(200, [
          ...version, 'Server', 'backend/1', 'X-Pad', 'pad', 'X-Accel-Expires', '60', 'X-Accel-Buffering', 'no', 'X-Secret', 'hidden?', 'X-Powered-By', 'test',
          'Content-Type', 'text/plain', 'Content-Length', '3',
        ]);
        return void res.end('ok\n');
      }
      if (url.pathname.endsWith('/hop')) {
        res.writeHead(200, [...version, 'Connection', 'close, X-Hop', 'X-Hop', 'named in Connection', 'Keep-Alive', 'timeout=5', 'Content-Type', 'text/plain', 'Content-Length', '3']);
        return void res.end('ok\n');
      }
      let dump = `${req.method} ${req.url}\n`;
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) dump += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\n`;
      dump += `\n${Buffer.concat(chunks).toString('latin1')}`;
      const answer = () => {
        res.writeHead(200, [...version, 'Content-Type', 'text/plain', 'Content-Length', String(Buffer.byteLength(dump, 'latin1'))]);
        res.end(dump, 'latin1');
      };
      if (url.pathname.endsWith('/slow')) setTimeout(answer, 500);
      else answer();
    });
  });
  /** Sockets taken over by an upgrade: the server no longer counts them, `close` ends them. */
  const upgraded = new Set<Socket>();
  server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    seen.push(`${req.method} ${req.url} (upgrade: ${req.headers.upgrade})`);
    if (head.length) socket.unshift(head);
    switchProtocols(socket, req.headers.upgrade, req.url);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  self = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: self,
    seen,
    close: () => {
      server.closeAllConnections();
      for (const socket of upgraded) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
