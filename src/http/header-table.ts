/**
 * Response headers whose name and value were checked once (a constant, or a value prepared and
 * checked when a file entered the open file cache), put straight into the response's header
 * table: what `setHeader` stores, without its per-call checks of the name and the value (six
 * headers of a static response: about 1 µs of the request's CPU on this machine's Node 20).
 * Node keeps a ServerResponse's headers under an internal symbol, `kOutHeaders`, as
 * `{ lowercased name: [name, value] }` (the HTTP/2 response keeps its own under the same
 * key, src/http/http2-response.ts); where it cannot be found (another Node), `setHeader` does
 * the job.
 */
import { OutgoingMessage, validateHeaderValue, type ServerResponse } from 'node:http';

/** Node's own symbol for an outgoing message's header table, or null when this Node has none. */
export const OUT_HEADERS: symbol | null = findOutHeaders();

function findOutHeaders(): symbol | null {
  const probe = new OutgoingMessage();
  const symbol = Object.getOwnPropertySymbols(probe).find((s) => s.description === 'kOutHeaders');
  // The table starts as null; setHeader makes it an object: check that it is the table setHeader fills.
  if (!symbol || (probe as unknown as Record<symbol, unknown>)[symbol] !== null) return null;
  probe.setHeader('X-Probe', 'one');
  const table = (probe as unknown as Record<symbol, Record<string, unknown>>)[symbol];
  const entry = table?.['x-probe'];
  return Array.isArray(entry) && entry[0] === 'X-Probe' && entry[1] === 'one' ? symbol : null;
}

/** A header checked once, for `setCheckedHeader`. */
export interface CheckedHeader {
  /** The name as it goes out. */
  readonly name: string;
  /** The name lowercased: the table's key. */
  readonly key: string;
  readonly value: string;
}

/** Checks `value` as `setHeader` would (throws Node's ERR_INVALID_CHAR), once. */
export function checkedHeader(name: string, value: string): CheckedHeader {
  validateHeaderValue(name, value);
  return { name, key: name.toLowerCase(), value };
}

/**
 * Sets a header that was checked once, as `res.setHeader(header.name, header.value)` would
 * (before the header is sent, replacing a header of the same name).
 */
export function setCheckedHeader(res: ServerResponse, header: CheckedHeader): void {
  setCheckedValue(res, header.key, header.name, header.value);
}

/** A response's header table: lowercased name -> [name, value], as setHeader stores them. */
export type HeaderTable = Record<string, [string, string]>;

/**
 * The header table of `res`, made if it has none yet, for several checked headers in a row
 * (`table[key] = [name, value]` is what setHeader stores); null where there is none to write to
 * (the header is sent, another Node): then `setHeader` does the job.
 */
export function headerTableOf(res: ServerResponse): HeaderTable | null {
  if (OUT_HEADERS === null || res.headersSent) return null;
  const fields = res as unknown as Record<symbol, HeaderTable | null | undefined>;
  const table = fields[OUT_HEADERS];
  if (table === undefined) return null;
  return table ?? (fields[OUT_HEADERS] = Object.create(null) as HeaderTable);
}

/** Sets `name` (lowercased: `key`) to a `value` already checked, as `setHeader` would. */
export function setCheckedValue(res: ServerResponse, key: string, name: string, value: string): void {
  const table = headerTableOf(res);
  if (table === null) res.setHeader(name, value);
  else table[key] = [name, value];
}

/** Node's own tests of a header name (a token) and of a value (no control characters but tab), as `setHeader` applies them. */
const TOKEN = /^[\^_\x60a-zA-Z\-0-9!#$%&'*+.|~]+$/;
const INVALID_VALUE_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

/** Whether `setHeader(name, value)` would take this line (what it would throw on, without the throw). */
export function isWritableHeader(name: string, value: string): boolean {
  return TOKEN.test(name) && !INVALID_VALUE_CHAR.test(value);
}

/**
 * Appends header lines already checked with `isWritableHeader`, as `appendHeader` would: a name
 * not set yet goes straight into the table, one already there through `appendHeader`.
 */
export function appendCheckedLines(res: ServerResponse, lines: readonly (readonly [string, string])[]): void {
  const table = headerTableOf(res) as Record<string, [string, string | string[]]> | null;
  for (const [name, value] of lines) {
    const key = name.toLowerCase();
    if (table === null || table[key] !== undefined) res.appendHeader(name, value);
    else table[key] = [name, value];
  }
}
