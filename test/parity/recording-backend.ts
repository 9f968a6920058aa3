/**
 * The backend behind both nginx and the gateway in the proxy parity cases: it answers with
 * what it received (the request line's method and target, every header line as sent, in
 * order, and the body), so comparing the two responses compares what each proxy sent
 * upstream. The HTTP version of the request line comes back in `X-Upstream-Version`. A few
 * paths answer otherwise: `.../redirect?to=URL` (a 302 with Location and Refresh, `BACKEND`
 * in URL standing for this backend's own `http://127.0.0.1:PORT`), `.../headers` (headers
 * nginx hides or passes), `.../hop` (hop-by-hop headers).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A running recording backend. */
export interface RecordingBackend {
  /** `http://127.0.0.1:PORT`, for `proxy_pass`. */
  readonly url: string;
  /** Requests it received, as `METHOD target`. */
  readonly seen: string[];
  close(): Promise<void>;
}

/** Starts the backend on 127.0.0.1, port 0. */
export async function startRecordingBackend(): Promise<RecordingBackend> {
  const seen: string[] = [];
  let self = '';
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
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
      res.writeHead(200, [...version, 'Content-Type', 'text/plain', 'Content-Length', String(Buffer.byteLength(dump, 'latin1'))]);
      res.end(dump, 'latin1');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  self = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: self,
    seen,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
