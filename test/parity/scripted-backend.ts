/**
 * A backend for parity cases that need a chosen answer: the query string says what to send.
 * `status=N` (default 200), `h=Name:value` (repeatable, in order), `body=text` (default none
 * for 204/304, else `METHOD target\n`). With no `Content-Length` among the `h`s, the body's
 * own length is sent. `loop` adds `X-Accel-Redirect` naming the request's own target (a
 * redirect that comes back forever). Every request is recorded as `METHOD target` in `seen`.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** A running scripted backend. */
export interface ScriptedBackend {
  /** `http://127.0.0.1:PORT`, for `proxy_pass`. */
  readonly url: string;
  /** Requests it received, as `METHOD target`. */
  readonly seen: string[];
  close(): Promise<void>;
}

/** Starts the backend on 127.0.0.1, port 0. */
export async function startScriptedBackend(): Promise<ScriptedBackend> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => {
      const query = new URL(req.url ?? '/', 'http://x').searchParams;
      const status = Number(query.get('status') ?? 200);
      const headers: string[] = [];
      for (const h of query.getAll('h')) {
        const colon = h.indexOf(':');
        headers.push(h.slice(0, colon).trim(), h.slice(colon + 1).trim());
      }
      if (query.has('loop')) headers.push('X-Accel-Redirect', req.url ?? '/');
      const bodiless = status === 204 || status === 304 || req.method === 'HEAD';
      const body = query.get('body') ?? (bodiless ? '' : `${req.method} ${req.url}\n`);
      if (!headers.some((h, i) => i % 2 === 0 && /^content-length$/i.test(h)) && !bodiless) headers.push('Content-Length', String(Buffer.byteLength(body)));
      res.writeHead(status, headers);
      res.end(bodiless ? undefined : body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
