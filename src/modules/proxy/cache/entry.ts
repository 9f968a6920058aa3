/**
 * The file format of one cache entry: a fixed head (`GWCACHE1`, the body's length, the
 * metadata's length), the metadata as JSON (the key, the upstream's status and header lines,
 * the validity, the validators, the Vary values), then the body. The key kept inside tells a
 * collision or a foreign file from the entry sought; any mismatch is a miss. Pure.
 */
import type { ReadStream } from 'node:fs';

/** What an entry says about its response. */
export interface EntryMeta {
  /** The cache key as written (checked on every read). */
  readonly key: string;
  readonly status: number;
  readonly reason: string;
  /** The upstream's header lines, as it sent them (hidden and rewritten ones are dealt with per request). */
  readonly headers: readonly string[];
  /** Until when it is fresh, ms since the epoch. */
  validUntil: number;
  /** When it was stored (or last revalidated), ms since the epoch. */
  storedAt: number;
  readonly lastModified: string | null;
  readonly etag: string | null;
  /** The request header values the response varies on, by lower-case name. */
  readonly vary: readonly (readonly [string, string])[];
}

export const MAGIC = Buffer.from('GWCACHE1', 'latin1');
/** Magic, body length (8 bytes), metadata length (4 bytes). */
export const HEAD_SIZE = MAGIC.length + 12;

/** The head and metadata of an entry whose body is `bodyLength` long (may be filled in later with `bodyLengthField`). */
export function encodeHead(meta: EntryMeta, bodyLength: number): Buffer {
  const json = Buffer.from(JSON.stringify(meta), 'utf8');
  const head = Buffer.alloc(HEAD_SIZE);
  MAGIC.copy(head, 0);
  head.writeBigUInt64BE(BigInt(bodyLength), MAGIC.length);
  head.writeUInt32BE(json.length, MAGIC.length + 8);
  return Buffer.concat([head, json]);
}

/** The body length field, written once the body is whole, at `MAGIC.length`. */
export function bodyLengthField(length: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(length));
  return b;
}

/** The lengths a head says, or null when it is not an entry's. */
export function decodeHead(head: Buffer): { bodyLength: number; metaLength: number } | null {
  if (head.length < HEAD_SIZE || !head.subarray(0, MAGIC.length).equals(MAGIC)) return null;
  const bodyLength = Number(head.readBigUInt64BE(MAGIC.length));
  const metaLength = head.readUInt32BE(MAGIC.length + 8);
  if (!Number.isSafeInteger(bodyLength) || metaLength > 16 * 1024 * 1024) return null;
  return { bodyLength, metaLength };
}

/** The metadata, or null when it is not valid JSON of the right shape or names another key. */
export function decodeMeta(json: Buffer, key: string): EntryMeta | null {
  let meta: EntryMeta;
  try {
    meta = JSON.parse(json.toString('utf8')) as EntryMeta;
  } catch {
    return null;
  }
  if (!meta || meta.key !== key || typeof meta.status !== 'number' || !Array.isArray(meta.headers) || typeof meta.validUntil !== 'number' || !Array.isArray(meta.vary)) return null;
  return meta;
}

/** The value of the first header line named `name` (lower case), or null. */
export function headerOf(raw: readonly string[], name: string): string | null {
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i].toLowerCase() === name) return raw[i + 1];
  return null;
}

/** The request's values of the headers a response varies on. */
export function varyValues(names: readonly string[], headers: Readonly<Record<string, string | string[] | undefined>>): [string, string][] {
  return names.map((name) => {
    const v = headers[name];
    return [name, Array.isArray(v) ? v.join(', ') : (v ?? '')];
  });
}

/** Whether the request matches the Vary values an entry was stored with. */
export function varyMatches(meta: EntryMeta, headers: Readonly<Record<string, string | string[] | undefined>>): boolean {
  return varyValues(meta.vary.map(([n]) => n), headers).every(([name, value], i) => meta.vary[i][0] === name && meta.vary[i][1] === value);
}

/** An entry found on disk. */
export interface CachedEntry {
  readonly meta: EntryMeta;
  readonly file: string;
  readonly bodyLength: number;
  /** The body, when read whole; else `stream` opens it. */
  readonly body: Buffer | null;
  stream(): ReadStream;
}
