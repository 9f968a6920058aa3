/**
 * The peers of the proxy tests: a client that reads whole answers, an uploader with
 * backpressure, a raw upgrade client, an echoing HTTP backend that misbehaves on some paths,
 * a `ws` backend, and small socket utilities (port 0, polling).
 */
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface Echo {
  method: string;
  url: string;
  headers: Record<string, string>;
  rawHeaders: string[];
  body: string;
  remotePort: number;
}

/** One request through a fresh connection (`Connection: close`), the whole answer. */
export function request(port: number, path: string, options: http.RequestOptions = {}, body?: string[]): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent: false, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    for (const chunk of body ?? []) req.write(chunk);
    req.end();
  });
}

/**
 * Uploads `chunks` x 64 KiB with backpressure; resolves with the status as soon as it comes,
 * or with the error code when the gateway hangs up first (Node's server has no lingering close).
 */
export function upload(port: number, path: string, chunks: number): Promise<number | string> {
  const chunk = 'x'.repeat(64 * 1024);
  return new Promise((resolve) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    let sent = 0;
    const pump = () => {
      while (sent < chunks && req.write(chunk)) sent++;
      if (sent >= chunks) req.end();
    };
    req.on('drain', pump);
    pump();
  });
}

/** A GET whose response is read to its end: 'complete', or 'cut' when the connection broke off first. */
export function responseOutcome(port: number, path: string): Promise<'complete' | 'cut'> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve('complete'));
      res.on('error', () => resolve('cut'));
      res.on('aborted', () => resolve('cut'));
    });
    req.on('error', () => resolve('cut'));
  });
}

/** The backend's echo in a reply. */
export const echoOf = (reply: Reply) => JSON.parse(reply.body) as Echo;

/** Writes an upgrade request on a raw socket; resolves with everything received once it closes. */
export function rawUpgrade(port: number, path: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('error', () => {});
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
  });
}

/** Listens on 127.0.0.1, port 0. */
export const listen = async <S extends net.Server>(server: S): Promise<S> => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
};
export const portOf = (server: net.Server) => (server.address() as AddressInfo).port;
/** Closes a server and every connection it still holds. */
export const closeServer = (server: http.Server | net.Server) => {
  if (server instanceof http.Server) server.closeAllConnections();
  return new Promise((resolve) => server.close(resolve));
};

/** Polls `check` every 20 ms, up to 100 times, until it holds; no timing is asserted. */
export async function until(check: () => boolean, rounds = 100): Promise<boolean> {
  for (let i = 0; i < rounds && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  return check();
}

/** The HTTP backend: echoes by default; a few paths misbehave on purpose. */
export function httpBackend() {
  const closedStreams: (() => void)[] = [];
  let streamClosed = new Promise<void>((r) => closedStreams.push(r));
  const server = http.createServer((req, res) => {
    res.on('error', () => {});
    switch (req.url) {
      case '/never':
      case '/no-read':
        // Never answered; once the gateway hangs up, let go of the socket (Node would keep it half-open).
        return void req.socket.once('end', () => req.socket.destroy());
      case '/destroy':
        return void req.socket.destroy();
      case '/reset':
        return void req.socket.resetAndDestroy();
      case '/stream':
        res.on('close', () => closedStreams.shift()?.());
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        return void res.write('first chunk');
      case '/cookies':
        res.writeHead(200, [
          'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'Server', 'backend/1.0', 'Connection', 'X-Hop',
          'X-Hop', 'dropped', 'X-Accel-Charset', 'utf-8', 'X-Pad', 'avoid', 'X-Kept', 'yes',
        ]);
        return void res.end('cookies');
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const echo: Echo = {
        method: req.method!,
        url: req.url!,
        headers: req.headers as Record<string, string>,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks).toString(),
        remotePort: req.socket.remotePort!,
      };
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(echo));
    });
  });
  return {
    server,
    /** Resolves when the backend's `/stream` response is closed. */
    nextStreamClosed: () => {
      const current = streamClosed;
      streamClosed = new Promise<void>((r) => closedStreams.push(r));
      return current;
    },
  };
}

/** The WebSocket backend: `/ws` echoes, `/terminate` drops after a message, `/forbidden` refuses, `/reset` resets. */
export function wsBackend() {
  const wss = new WebSocketServer({ noServer: true });
  const seen: http.IncomingHttpHeaders[] = [];
  const closes: (() => void)[] = [];
  /** Resolves when the next backend WebSocket closes. */
  const nextClose = () => new Promise<void>((resolve) => closes.push(resolve));
  const server = http.createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => {});
    seen.push(req.headers);
    if (req.url === '/reset') return void socket.resetAndDestroy();
    if (req.url === '/forbidden') {
      return void socket.end(
        'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nServer: backend\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nnope!\n\r\n0\r\n\r\n',
      );
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => {});
      ws.on('close', () => closes.shift()?.());
      ws.on('message', (data, isBinary) => (req.url === '/terminate' ? ws.terminate() : ws.send(data, { binary: isBinary })));
    });
  });
  return { server, wss, seen, nextClose };
}
