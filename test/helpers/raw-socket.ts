/**
 * A raw TCP client for tests of the HTTP front: it writes bytes as given, keeps everything it
 * receives, and tells when the server closed, in ms since it connected. Also the gateway's
 * open descriptors (/proc/<pid>/fd) and a wait for a line in its error log.
 */
import { readdirSync } from 'node:fs';
import net from 'node:net';

/** One raw connection. */
export interface RawConnection {
  readonly socket: net.Socket;
  /** What arrived so far, as latin1 text. */
  received(): string;
  /** Resolves with the ms from connect to the server's close (its FIN, a reset or the end). */
  readonly closed: Promise<number>;
  /** The ms since the connection was made. */
  elapsed(): number;
}

/**
 * Connects to `host`:`port` (127.0.0.1 by default) and writes `bytes` (if any) once connected;
 * `from` is the local address to connect from (any of 127.0.0.0/8), so that the server's log
 * lines name this client.
 */
export function rawConnect(port: number, bytes?: string | Buffer, from?: string, host = '127.0.0.1'): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host, allowHalfOpen: true, localAddress: from });
    let data = '';
    let start = 0;
    const elapsed = () => performance.now() - start;
    const closed = new Promise<number>((done) => {
      socket.on('end', () => done(elapsed()));
      socket.on('close', () => done(elapsed()));
    });
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('latin1')));
    socket.once('connect', () => {
      start = performance.now();
      socket.off('error', reject);
      socket.on('error', () => {});
      if (bytes !== undefined) socket.write(bytes);
      resolve({ socket, received: () => data, closed, elapsed });
    });
    socket.once('error', reject);
  });
}

/** The HTTP status lines in `text`, in order. */
export function statusLines(text: string): string[] {
  return [...text.matchAll(/HTTP\/1\.1 (\d{3})[^\r\n]*\r\n/g)].map((m) => m[1]);
}

/** The number of open descriptors of process `pid`. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Polls `check` every 25 ms until it holds or `ms` pass; resolves with whether it held. */
export async function eventually(check: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = performance.now() + ms;
  while (!check()) {
    if (performance.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
  return true;
}

/** Resolves with the ms (from `since`) at which `log()` first contains `text`; rejects after `ms`. */
export async function logged(log: () => string, text: string | RegExp, since: number, ms = 10000): Promise<number> {
  const found = () => (typeof text === 'string' ? log().includes(text) : text.test(log()));
  if (!(await eventually(found, ms))) throw new Error(`not logged within ${ms} ms: ${text}\n${log().slice(-2000)}`);
  return performance.now() - since;
}
