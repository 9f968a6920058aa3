/**
 * What the exchange needs of one upstream request, whichever client makes it: Node's
 * `ClientRequest` on a keep-alive agent (node-upstream.ts: any request, a body streamed up,
 * HTTP/1.0's request line, TLS) or undici's `Client` from a peer's own pool (undici-upstream.ts:
 * a plain-HTTP/1.1 request with no body to send, the common case, at about half the CPU). The
 * exchange hears of the call through an `UpstreamListener` and reads its response as an
 * `UpstreamResponse`; nothing else of either client reaches it.
 */
import type { Writable } from 'node:stream';

// No getters in these: an object literal with an accessor gets a map of its own (maps live in
// the old generation), which would keep each request's graph alive until a full GC.

/** An upstream response as the exchange reads it (Node's `IncomingMessage` is one as it is). */
export interface UpstreamResponse {
  readonly statusCode?: number;
  readonly statusMessage?: string;
  /** The header lines as received: name, value, name, value..., case and repeats kept. */
  readonly rawHeaders: string[];
  /** `1.1`, `1.0`: what the status line said. */
  readonly httpVersion: string;
  /** Whether the body came whole. */
  readonly complete: boolean;
  on(event: 'data', listener: (chunk: Buffer) => void): this;
  on(event: 'end' | 'close', listener: () => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  once(event: 'end' | 'close', listener: () => void): this;
  /** Holds the body back (backpressure: the client takes no more, or the rate). */
  pause(): this;
  resume(): this;
  destroy(): this;
}

/** What an upstream call tells the exchange, in this order: connecting (if it must), connected, sent, response; error at any time. */
export interface UpstreamListener {
  /** Whether the exchange is over: a call that comes up late is dropped. */
  isDone(): boolean;
  /** A new connection is being made: nginx's connect timeout runs. */
  connecting(): void;
  /** The connection is up (made now, or a kept one): the request goes out. */
  connected(): void;
  /** The whole request is written. */
  sent(): void;
  /** The response header came. */
  response(res: UpstreamResponse): void;
  /** The call failed (before or after the response header). */
  error(err: unknown): void;
  /** A 101 the request did not ask for. */
  upgraded(): void;
}

/** One upstream request in flight. */
export interface UpstreamCall {
  /** Where the request's body is written (Node's request; null where no body is sent). */
  readonly bodyTarget: Writable | null;
  /** Whether the whole request was written. */
  sentWhole(): boolean;
  /** Takes the request down (its connection with it) unless it completed: then nothing. */
  destroy(): void;
}
