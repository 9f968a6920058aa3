/**
 * A request body read whole, within `client_max_body_size`: what a push publisher publishes,
 * and what the proxy sends upstream when it buffers the request as nginx does (for an
 * upstream's retries, and for a chunked body, whose size is only known once read, so that one
 * over the limit is refused with 413 before the upstream sees a byte).
 */
import type { IncomingMessage } from 'node:http';
import { HttpError } from './errors';
import type { Logger } from './types';

/**
 * The whole body; over `limit` bytes (0: no limit) it rejects with 413 at once, logs nginx's
 * line, and drains the rest unread. A body already read (an internal redirect) is empty.
 */
export function readBody(req: IncomingMessage, limit: number, log?: Logger): Promise<Buffer> {
  if (req.readableEnded) return Promise.resolve(Buffer.alloc(0));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (limit && size > limit) {
        req.off('data', onData);
        req.resume();
        log?.error(`client intended to send too large chunked body: ${size} bytes, client: ${req.socket.remoteAddress ?? '-'}, request: "${req.method} ${req.url} HTTP/${req.httpVersion}"`);
        reject(new HttpError(413, 'GW_BODY_TOO_LARGE', `client intended to send too large chunked body: ${size} bytes`));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', (err) => reject(new HttpError(400, 'GW_BODY_ERROR', err.message)));
    req.once('close', () => !req.readableEnded && reject(new HttpError(499, 'GW_CLIENT_CLOSED')));
  });
}

/** Whether the body must be read before proxying: chunked (no length known) and a limit to keep. */
export function mustReadFirst(req: IncomingMessage, limit: number): boolean {
  return limit > 0 && !req.readableEnded && req.headers['transfer-encoding'] !== undefined;
}
