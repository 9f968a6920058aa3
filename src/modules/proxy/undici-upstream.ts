/**
 * An upstream request on a peer's lean pool (undici, lean-pool.ts): a plain-HTTP/1.1 request
 * with no body to send, or one whole in memory. Its head is written here as Node's `ClientRequest` would write the
 * same lines (repeats grouped under the first name's case, values checked the same way), so
 * the upstream reads the same bytes on either path; its response is an `UpstreamResponse` the
 * exchange reads as it reads Node's: data, end, close, pause and resume (undici's parser stops
 * while the response is paused).
 */
import { EventEmitter } from 'node:events';
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { connectionTokens, groupHeaders, type HeaderLine } from './headers';
import type { LeanHandler, LeanPool } from './lean-pool';
import type { UpstreamCall, UpstreamListener, UpstreamResponse } from './upstream-call';

/** What Node's ClientRequest refuses in a request target (ERR_UNESCAPED_CHARACTERS). */
const INVALID_PATH = /[^\u0021-\u00ff]/;

/**
 * The request's head as it goes on the wire: the request line, then the lines as Node writes
 * them. Throws, as Node's `setHeader` does, on a header it refuses (a variable's CR or LF).
 */
export function requestHead(method: string, path: string, headers: readonly HeaderLine[]): string {
  if (INVALID_PATH.test(path)) throw new TypeError('Request path contains unescaped characters');
  let head = `${method} ${path} HTTP/1.1\r\n`;
  for (const [name, values] of groupHeaders(headers)) {
    validateHeaderName(name);
    for (const value of values) {
      validateHeaderValue(name, value);
      head += `${name}: ${value}\r\n`;
    }
  }
  return `${head}\r\n`;
}

/** Whether the lines carry a Content-Length of `length` (a body sent whole is framed by the head the exchange built). */
export function framedBy(headers: readonly HeaderLine[], length: number): boolean {
  for (const [name, value] of headers) if (name.length === 14 && name.toLowerCase() === 'content-length') return value === String(length);
  return false;
}

/** Whether the lines say the connection ends with this request (`Connection: close`). */
export function closesConnection(headers: readonly HeaderLine[]): boolean {
  for (const [name, value] of headers) if (name.length === 10 && name.toLowerCase() === 'connection' && connectionTokens(value).has('close')) return true;
  return false;
}

/** The response of a lean call, fed by undici's handler. */
class LeanResponse extends EventEmitter implements UpstreamResponse {
  statusCode = 0;
  statusMessage = '';
  rawHeaders: string[] = [];
  /** undici's handler does not say: a 1.0 status line is counted as long as a 1.1 one. */
  readonly httpVersion = '1.1';
  complete = false;
  private paused = false;
  private destroyed = false;
  private resumeParser: (() => void) | null = null;

  constructor(private readonly abort: () => void) {
    super();
  }

  /** undici's header: kept; `resume` restarts its parser after a pause. */
  head(status: number, raw: Buffer[], resume: () => void, text: string): void {
    this.statusCode = status;
    this.statusMessage = text;
    const lines = new Array<string>(raw.length);
    for (let i = 0; i < raw.length; i++) lines[i] = raw[i].toString('latin1');
    this.rawHeaders = lines;
    this.resumeParser = resume;
  }

  /** Whether the body may come (not paused). */
  get flowing(): boolean {
    return !this.paused && !this.destroyed;
  }

  /** A piece of the body: false stops undici's parser until `resume`. */
  data(chunk: Buffer): boolean {
    if (this.destroyed) return false;
    this.emit('data', chunk);
    return !this.paused;
  }

  /** The body is whole. */
  end(): void {
    if (this.destroyed) return;
    this.complete = true;
    this.emit('end');
    this.close();
  }

  /** The response broke off. */
  failed(err: Error): void {
    if (this.destroyed) return;
    if (this.listenerCount('error') > 0) this.emit('error', err);
    this.close();
  }

  pause(): this {
    this.paused = true;
    return this;
  }

  resume(): this {
    if (!this.paused) return this;
    this.paused = false;
    this.resumeParser?.();
    return this;
  }

  destroy(): this {
    if (this.destroyed) return this;
    if (!this.complete) this.abort();
    this.close();
    return this;
  }

  private close(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }
}

/** What a lean call sends. */
export interface LeanRequestPlan {
  readonly pool: LeanPool;
  readonly method: string;
  readonly path: string;
  /** The head from `requestHead`. */
  readonly head: string;
  /** `Connection: close`: the connection's last request. */
  readonly last: boolean;
  /** The body, whole in memory (its Content-Length is in the head), or null. */
  readonly body: Buffer | null;
}

/** Sends the request on the peer's lean pool; the listener hears of it as of a Node call. */
export function startLeanCall(plan: LeanRequestPlan, listener: UpstreamListener): UpstreamCall {
  let sent = false;
  let finished = false;
  let response: LeanResponse | null = null;
  let drop: () => void = () => {};
  const handler: LeanHandler = {
    onConnect: () => {},
    onRequestSent: () => {
      sent = true;
      if (!listener.isDone()) listener.sent();
    },
    onHeaders: (status, raw, resume, text) => {
      if (status < 200) {
        // undici hands on no 1xx but a 101 it did not ask for (failed as 'bad upgrade' before this).
        return true;
      }
      response = new LeanResponse(() => drop());
      response.head(status, raw, resume, text);
      if (listener.isDone()) {
        drop();
        return false;
      }
      listener.response(response);
      return response.flowing;
    },
    onData: (chunk) => response?.data(chunk) ?? false,
    onComplete: () => {
      finished = true;
      response?.end();
    },
    onError: (err) => {
      finished = true;
      // A 101 the request did not ask for: undici fails it before any header is handed on.
      if (!listener.isDone() && (err as { code?: string }).code === 'UND_ERR_SOCKET' && err.message === 'bad upgrade') listener.upgraded();
      else if (!listener.isDone()) listener.error(err);
      response?.failed(err);
    },
  };
  drop = plan.pool.dispatch(plan.method, plan.path, plan.head, plan.body, plan.last, listener, handler);
  return {
    bodyTarget: null,
    sentWhole: () => sent,
    destroy: () => {
      if (!finished) drop();
    },
  };
}
