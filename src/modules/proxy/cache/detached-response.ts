/**
 * The response of a background update (`proxy_cache_background_update`): the exchange writes
 * to it as to a client's, and it keeps nothing (the cache's copy is the point). The surface is
 * the part of `ServerResponse` the exchange uses.
 */
import { Writable } from 'node:stream';
import type { ServerResponse } from 'node:http';

class DetachedResponse extends Writable {
  headersSent = false;
  statusCode = 200;

  constructor() {
    super({ write: (_chunk, _encoding, callback) => callback() });
  }

  appendHeader(): this {
    return this;
  }
  setHeader(): this {
    return this;
  }
  removeHeader(): void {}
  getHeader(): undefined {
    return undefined;
  }
  writeHead(status: number): this {
    this.statusCode = status;
    this.headersSent = true;
    return this;
  }
  flushHeaders(): void {
    this.headersSent = true;
  }
}

/** A response that goes nowhere, shaped as a client's. */
export function detachedResponse(): ServerResponse {
  return new DetachedResponse() as unknown as ServerResponse;
}
