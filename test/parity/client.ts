/**
 * The parity suite's client: the same request bytes to both servers over a raw TCP socket,
 * and the response parsed as sent (status line, headers in order, body de-chunked), so
 * malformed requests and odd responses (HTTP/0.9, no response at all) compare as they are.
 */
import net from 'node:net';

/** One request: either built from its parts, or `raw` bytes sent as they are. */
export interface RequestSpec {
  readonly method?: string;
  /** The request target, sent as written (no encoding). */
  readonly target?: string;
  /** `HTTP/1.1` unless told. */
  readonly version?: string;
  /** The Host header; null sends none. Default: `localhost`. */
  readonly host?: string | null;
  readonly headers?: Readonly<Record<string, string>>;
  /** Bytes sent as they are, instead of a built request. */
  readonly raw?: string | Buffer;
  /** The port slot to send to (default 0). */
  readonly slot?: number;
  /** Half-close the connection once the request is written (for requests a server waits on). */
  readonly halfClose?: boolean;
}

/** A response as it came off the socket. */
export interface RawReply {
  /** null when the server closed without a status line (or sent an HTTP/0.9 body). */
  readonly status: number | null;
  readonly reason: string;
  /** Header fields in order, names lower-cased. */
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Buffer;
  /** What was wrong with the framing (Content-Length vs bytes received), or null. */
  readonly framing: string | null;
  /** The statuses of interim responses before it (`100`). */
  readonly interim: readonly number[];
  /** Bytes received in all. */
  readonly bytes: number;
}

/** The request bytes for `spec`, with `Connection: close` so each server ends the exchange. */
export function requestBytes(spec: RequestSpec): Buffer {
  if (spec.raw !== undefined) return Buffer.isBuffer(spec.raw) ? spec.raw : Buffer.from(spec.raw, 'latin1');
  const version = spec.version ?? 'HTTP/1.1';
  const lines = [`${spec.method ?? 'GET'} ${spec.target ?? '/'} ${version}`];
  const host = spec.host === undefined ? 'localhost' : spec.host;
  if (host !== null) lines.push(`Host: ${host}`);
  const headers = { Connection: 'close', ...spec.headers };
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
}

/** Sends `bytes` to `host:port` and reads the response until it is complete or the socket ends. */
export function exchange(host: string, port: number, bytes: Buffer, isHead: boolean, halfClose = false, timeoutMs = 5000): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const socket = net.connect({ port, host, allowHalfOpen: true }, () => (halfClose ? socket.end(bytes) : socket.write(bytes)));
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(parseResponse(Buffer.concat(chunks), isHead, true));
    };
    const timer = setTimeout(finish, timeoutMs);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      const reply = parseResponse(Buffer.concat(chunks), isHead, false);
      if (reply) {
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        resolve(reply);
      }
    });
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A reset after a complete response (a server closing with unread input) is not a failure.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') finish();
      else if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(err);
      }
    });
  });
}

/**
 * Parses a response. With `ended` false, returns null until it is complete (by Content-Length
 * or the last chunk); with `ended` true, takes what there is.
 */
export function parseResponse(data: Buffer, isHead: boolean, ended: true): RawReply;
export function parseResponse(data: Buffer, isHead: boolean, ended: boolean): RawReply | null;
export function parseResponse(all: Buffer, isHead: boolean, ended: boolean): RawReply | null {
  // Interim responses (`100 Continue`) come first; they are kept by status only.
  const interim: number[] = [];
  let data = all;
  for (let m; (m = /^HTTP\/\d\.\d (1\d\d)[^\r\n]*\r\n/.exec(data.subarray(0, 200).toString('latin1'))) && m[1] !== '101'; ) {
    const end = data.indexOf('\r\n\r\n');
    if (end < 0) break;
    interim.push(Number(m[1]));
    data = data.subarray(end + 4);
  }
  const headEnd = data.indexOf('\r\n\r\n');
  const statusLine = /^HTTP\/\d\.\d (\d{3})(?: ([^\r\n]*))?\r\n/.exec(data.subarray(0, Math.min(data.length, 200)).toString('latin1'));
  if (!statusLine || headEnd < 0) {
    if (!ended) return null;
    return { status: null, reason: '', headers: [], body: data, framing: null, interim, bytes: all.length };
  }
  const status = Number(statusLine[1]);
  const headers = data
    .subarray(statusLine[0].length, headEnd)
    .toString('latin1')
    .split('\r\n')
    .filter(Boolean)
    .map((line) => {
      const colon = line.indexOf(':');
      return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()] as const;
    });
  const rest = data.subarray(headEnd + 4);
  const base = { status, reason: statusLine[2] ?? '', headers, interim, bytes: all.length };
  const noBody = isHead || status === 204 || status === 304 || (status >= 100 && status < 200);
  if (noBody) return { ...base, body: Buffer.alloc(0), framing: rest.length ? `${rest.length} bytes after a bodiless response` : null };
  const get = (name: string) => headers.find(([n]) => n === name)?.[1];
  if (get('transfer-encoding')?.toLowerCase() === 'chunked') {
    const body = dechunk(rest);
    if (body === null) return ended ? { ...base, body: rest, framing: 'incomplete chunked body' } : null;
    return { ...base, body, framing: null };
  }
  const length = get('content-length');
  if (length !== undefined) {
    const n = Number(length);
    if (rest.length < n) return ended ? { ...base, body: rest, framing: `Content-Length ${n}, got ${rest.length} bytes` } : null;
    return { ...base, body: rest.subarray(0, n), framing: rest.length > n ? `${rest.length - n} bytes after the body` : null };
  }
  return ended ? { ...base, body: rest, framing: null } : null;
}

/** The body of a complete chunked encoding, or null while incomplete. */
function dechunk(data: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) return null;
    const size = parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (Number.isNaN(size)) return null;
    if (size === 0) return data.indexOf('\r\n', lineEnd + 2) < 0 ? null : Buffer.concat(parts);
    if (data.length < lineEnd + 2 + size + 2) return null;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}
