/**
 * What Node's parser does not say about a request head: the white space around a header value.
 * llhttp trims spaces and tabs; nginx trims only spaces, so `Transfer-Encoding:\tchunked` is
 * chunked to Node and unknown (501) to nginx, and `Content-Length:\t5` invalid (400). The
 * bytes are read from the parser's current chunk, during the 'request' event, and only for a
 * request that has one of those headers; a chunk is copied once, however many requests it
 * holds. A head split over several reads is seen from its last read only: a line that came in
 * an earlier one is taken as Node read it.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { TabPadding } from './request-head';

/** The headers whose padding matters to nginx's checks (request-head.ts). */
const WATCHED = new Set(['content-length', 'transfer-encoding']);

/** A server socket with Node's parser on it (`socket.parser`, internal but stable since Node 0.x). */
type ParsingSocket = Socket & { parser?: { getCurrentBuffer?: () => Buffer } | null };

/** The chunk last looked at on a connection, as text, or null when it holds no tab at all. */
interface Chunk {
  readonly bytesRead: number;
  readonly text: string | null;
}
const lastChunk = new WeakMap<Socket, Chunk>();

/** The padding of the requests that had a tab around a watched header's value. */
const padded = new WeakMap<IncomingMessage, ReadonlySet<string>>();

/**
 * Looks at the bytes of `req`'s head while the parser still holds them: call it from the
 * 'request' event, before any `await`. Cheap for a request without a body: nothing to look at.
 */
export function inspectRawHead(req: IncomingMessage): void {
  const headers = req.headers;
  if (headers['content-length'] === undefined && headers['transfer-encoding'] === undefined) return;
  const text = chunkText(req.socket as ParsingSocket);
  if (text === null) return;
  let found: Set<string> | null = null;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (WATCHED.has(name) && tabAround(text, raw[i], raw[i + 1])) (found ??= new Set()).add(name);
  }
  if (found) padded.set(req, found);
}

/** What `inspectRawHead` found for `req`: null when no watched header had a tab around its value. */
export function tabPaddingOf(req: IncomingMessage): TabPadding | null {
  const names = padded.get(req);
  return names ? (name) => names.has(name) : null;
}

/** The parser's current chunk as latin1 text (null: no tab in it, or no parser), copied once per chunk. */
function chunkText(socket: ParsingSocket): string | null {
  const parser = socket.parser;
  if (!parser?.getCurrentBuffer) return null;
  const bytesRead = socket.bytesRead;
  let chunk = lastChunk.get(socket);
  if (chunk?.bytesRead !== bytesRead) {
    const bytes = parser.getCurrentBuffer();
    chunk = { bytesRead, text: bytes.indexOf(9) < 0 ? null : bytes.toString('latin1') };
    lastChunk.set(socket, chunk);
  }
  return chunk.text;
}

/**
 * Whether `text` has a line `name:` whose value, less spaces and tabs around it, is `value`
 * and which had a tab among them. The name is matched as Node kept it (its case included).
 */
export function tabAround(text: string, name: string, value: string): boolean {
  const prefix = `${name}:`;
  for (let at = text.indexOf(prefix); at >= 0; at = text.indexOf(prefix, at + 1)) {
    if (at > 0 && text[at - 1] !== '\n') continue;
    const start = at + prefix.length;
    const end = text.indexOf('\r\n', start);
    const line = text.slice(start, end < 0 ? text.length : end);
    const trimmed = line.replace(/^[ \t]+/, '').replace(/[ \t]+$/, '');
    if (trimmed === value && /^[ \t]*\t|\t[ \t]*$/.test(line)) return true;
  }
  return false;
}
