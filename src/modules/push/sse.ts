/**
 * Server-Sent Events framing (the WHATWG EventSource format): each message is an `id:` line, one
 * `data:` line per line of the data, and a blank line; a comment line keeps an idle stream open
 * through proxies.
 */
import type { PushMessage } from './message';

/** The response head fields of an event stream. */
export const EVENT_STREAM_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/event-stream; charset=utf-8',
  'Cache-Control': 'no-cache',
  // Proxies in front (nginx among them) must not buffer the stream.
  'X-Accel-Buffering': 'no',
};

/** A comment the client ignores: sent every `ping_interval` to keep the stream alive. */
export const SSE_PING = Buffer.from(': ping\n\n');

/** nchan's first line of an event stream (a comment). */
export const NCHAN_SSE_HELLO = ': hi\n\n';
/** nchan's last line of an event stream whose channel was deleted. */
export const NCHAN_SSE_GONE = ':410: 410 Gone\n\n';

/** nchan's last line of an event stream that waited `nchan_subscriber_timeout` for a message. */
export const NCHAN_SSE_TIMEOUT = ':408: 408 Request Timeout\n\n';

/**
 * nchan's EventSource ping: a `:comment`, `event:` and `data:` line for each that is not empty
 * (the words as written: nchan reads no variables there), then a blank line; `:` alone when all are.
 */
export function nchanSsePing(comment: string, event: string, data: string): string {
  const lines = [comment && `:${comment}\n`, event && `event: ${event}\n`, data && `data: ${data}\n`].join('');
  return lines ? `${lines}\n` : ':\n\n';
}

/** The bytes of one event. CR LF, CR and LF all end a line in the data, as EventSource reads it. */
export function sseEvent(message: PushMessage): string {
  const lines = message.data.toString('utf8').split(/\r\n|\r|\n/);
  let out = `id: ${message.id}\n`;
  for (const line of lines) out += `data: ${line}\n`;
  return `${out}\n`;
}
