/**
 * A request body read whole, within `client_max_body_size`: what a push publisher publishes,
 * and what the proxy sends upstream when it buffers the request as nginx does (for an
 * upstream's retries, and for a chunked body, whose size is only known once read, so that one
 * over the limit is refused with 413 before the upstream sees a byte).
 */
import type { IncomingMessage } from 'node:http';
import { HttpError } from './errors';
import type { Logger } from './types';

/** How a body is read: `client_max_body_size` (0: no limit) and `client_body_timeout` (0: none). */
export interface BodyLimits {
  readonly limit: number;
  /** ms allowed between two reads of the body, as nginx's `client_body_timeout`. */
  readonly timeoutMs: number;
  readonly log?: Logger;
}

/**
 * The whole body. Over `limit` bytes it rejects with 413 at once, logs nginx's line, and drains
 * the rest unread; a client silent for `timeoutMs` in the middle of it gets 408 (the connection
 * is closed without an answer, as nginx does) with nginx's info line. A body already read (an
 * internal redirect) is empty.
 */
export function readBody(req: IncomingMessage, { limit, timeoutMs, log }: BodyLimits): Promise<Buffer> {
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const request = () => `client: ${req.socket.remoteAddress ?? '-'}, request: "${req.method} ${req.url} HTTP/${req.httpVersion}"`;
    const timer = timeoutMs > 0 ? setTimeout(() => {
      req.off('data', onData);
      log?.info(`client timed out (110: Connection timed out) while reading client request body, ${request()}`);
      reject(new HttpError(408, 'GW_BODY_TIMEOUT', 'client timed out while reading client request body'));
    }, timeoutMs) : null;
    const onData = (chunk: Buffer) => {
      timer?.refresh();
      size += chunk.length;
      if (limit && size > limit) {
        if (timer) clearTimeout(timer);
        req.off('data', onData);
        req.resume();
        log?.error(`client intended to send too large chunked body: ${size} bytes, ${request()}`);
        reject(new HttpError(413, 'GW_BODY_TOO_LARGE', `client intended to send too large chunked body: ${size} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    const settled = () => timer && clearTimeout(timer);
    req.on('data', onData);
    req.once('end', () => {
      settled();
      resolve(Buffer.concat(chunks));
    });
    req.once('error', (err) => {
      settled();
      reject(new HttpError(400, 'GW_BODY_ERROR', err.message));
    });
    req.once('close', () => {
      settled();
      if (!req.readableEnded) reject(new HttpError(499, 'GW_CLIENT_CLOSED'));
    });
  });
}

/** Whether the body must be read before proxying: chunked (no length known) and a limit to keep. */
export function mustReadFirst(req: IncomingMessage, limit: number): boolean {
  return limit > 0 && !req.readableEnded && req.headers['transfer-encoding'] !== undefined;
}

/** Whether the client announced a body: a Content-Length or a Transfer-Encoding (HTTP/1.1 has no other way). */
export function hasBody(req: IncomingMessage): boolean {
  return req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
}
