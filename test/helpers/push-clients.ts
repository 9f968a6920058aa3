/**
 * Push subscribers for tests: an EventSource-like SSE reader and a WebSocket subscriber, each
 * collecting what arrives; and which worker process holds a client's connection (from
 * /proc/net/tcp and the workers' file descriptors).
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import WebSocket from 'ws';

/** One received event (SSE) or message (WebSocket). */
export interface Received {
  readonly id: string | null;
  readonly data: string;
  readonly binary?: boolean;
}

/** A subscriber that collects what it receives. */
export interface Subscriber {
  readonly received: Received[];
  /** The client's local port (to find its worker). */
  readonly localPort: number;
  /** Resolves once `n` messages have arrived (rejects after `ms`). */
  waitFor(n: number, ms?: number): Promise<Received[]>;
  /** Resolves once the server has ended the stream or closed the WebSocket. */
  readonly ended: Promise<{ code?: number; reason?: string }>;
  close(): void;
}

function waiter(received: Received[], onChange: Set<() => void>) {
  return (n: number, ms = 5000) =>
    new Promise<Received[]>((resolve, reject) => {
      const check = () => {
        if (received.length < n) return;
        onChange.delete(check);
        clearTimeout(timer);
        resolve(received.slice(0, n));
      };
      const timer = setTimeout(() => {
        onChange.delete(check);
        const shown = received.map((r) => (r.data.length > 40 ? `${r.data.slice(0, 40)}...(${r.data.length})` : r.data));
        reject(new Error(`got ${received.length} of ${n} messages: ${JSON.stringify(shown)}`));
      }, ms);
      onChange.add(check);
      check();
    });
}

/** Opens an SSE stream; resolves with the subscriber once the 200 head arrived, rejects with the status otherwise. */
export function sseSubscribe(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<Subscriber & { status: number; headers: http.IncomingHttpHeaders; stall(): void }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, headers: { Accept: 'text/event-stream', ...headers } }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(Object.assign(new Error(`status ${res.statusCode}`), { status: res.statusCode }));
        return;
      }
      const received: Received[] = [];
      const onChange = new Set<() => void>();
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let id: string | null = null;
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('id: ')) id = line.slice(4);
            else if (line.startsWith('data: ')) data.push(line.slice(6));
          }
          if (data.length > 0) received.push({ id, data: data.join('\n') });
        }
        for (const f of [...onChange]) f();
      });
      const ended = new Promise<{ code?: number }>((done) => res.once('close', () => done({})));
      // A server that cuts the stream off is an end like any other here.
      res.on('error', () => {});
      req.on('error', () => {});
      resolve({
        status: res.statusCode,
        headers: res.headers,
        received,
        localPort: (req.socket!.address() as AddressInfo).port,
        waitFor: waiter(received, onChange),
        ended,
        close: () => req.destroy(),
        /** Stops reading: the server's send buffer fills up. */
        stall: () => {
          res.pause();
          res.socket.pause();
        },
      });
    });
    req.on('error', reject);
  });
}

/** Opens a WebSocket subscriber; resolves once it is open. */
export function wsSubscribe(port: number, path: string): Promise<Subscriber & { ws: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`);
    const received: Received[] = [];
    const onChange = new Set<() => void>();
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      received.push({ id: null, data: isBinary ? data.toString('hex') : data.toString(), binary: isBinary });
      for (const f of [...onChange]) f();
    });
    const ended = new Promise<{ code?: number; reason?: string }>((done) => ws.once('close', (code, reason) => done({ code, reason: reason.toString() })));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`status ${res.statusCode}`), { status: res.statusCode })));
    ws.once('open', () =>
      resolve({ ws, received, localPort: (ws as unknown as { _socket: { localPort: number } })._socket.localPort, waitFor: waiter(received, onChange), ended, close: () => ws.terminate() }),
    );
  });
}

/** The worker processes of a gateway master. */
export function workerPids(masterPid: number): number[] {
  return readFileSync(`/proc/${masterPid}/task/${masterPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
}

/** The pid among `pids` that holds the server side of the connection from client port `clientPort` to `serverPort`. */
export function connectionOwner(serverPort: number, clientPort: number, pids: readonly number[]): number | null {
  const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
  let inode: string | null = null;
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 9 && f[1].endsWith(`:${hex(serverPort)}`) && f[2].endsWith(`:${hex(clientPort)}`)) inode = f[9];
  }
  if (!inode) return null;
  for (const pid of pids) {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) === `socket:[${inode}]`) return pid;
      } catch {
        // The descriptor closed meanwhile.
      }
    }
  }
  return null;
}

/** Open descriptors of the given processes, together. */
export function fdTotal(pids: readonly number[]): number {
  return pids.reduce((n, pid) => n + readdirSync(`/proc/${pid}/fd`).length, 0);
}

/** Each client sends one text and waits for it back (10 s at most); resolves with how many failed (a client closed or not open fails). */
export async function echoAll(clients: readonly WebSocket[]): Promise<number> {
  const ok = await Promise.all(
    clients.map(
      (ws, i) =>
        new Promise<boolean>((resolve) => {
          const text = `echo ${i}`;
          const timer = setTimeout(() => resolve(false), 10000);
          ws.once('message', (data) => {
            clearTimeout(timer);
            resolve(String(data) === text);
          });
          ws.once('close', () => resolve(false));
          if (ws.readyState === WebSocket.OPEN) ws.send(text);
          else resolve(false);
        }),
    ),
  );
  return ok.filter((x) => !x).length;
}

/** Terminates every client and waits until each is closed. */
export async function closeAll(clients: readonly WebSocket[]): Promise<void> {
  await Promise.all(
    clients.map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          ws.once('close', () => resolve());
          ws.terminate();
        }),
    ),
  );
}
