/**
 * The response header lines of a cached entry as one location serves them, made once per
 * entry kept in memory instead of once per hit: the upstream's lines with the location's
 * hidden ones dropped, grouped by name and checked once as `appendHeader` would check them, so
 * that a hit puts them straight into the response's header table (as a static file's
 * prepared headers are). A location's per-request rewriting (`proxy_redirect`,
 * `proxy_cookie_*`) still runs on every hit; when it changes a line, the hit sets the lines it
 * returns one by one instead.
 */
import { validateHeaderName, validateHeaderValue, type ServerResponse } from 'node:http';
import { headerTableOf } from '../../../http/header-table';
import type { HeaderLine } from '../headers';

/** One header name's values, as the response's table keeps them. */
type Field = readonly [key: string, name: string, values: readonly string[]];

/** An entry's header lines for one location, checked and grouped. */
export interface PreparedHead {
  /** What they were made for (a location's cache). */
  readonly owner: object;
  /** The lines the client gets before any per-request rewriting. */
  readonly lines: readonly HeaderLine[];
  readonly fields: readonly Field[];
  /** Whether the lines pass a `Server` (the gateway's own is removed then). */
  readonly server: boolean;
  /** Whether a line is one the location's per-request rewriting may change. */
  readonly rewritable: boolean;
}

/** Heads kept per entry: one per location serving it (a key shared by locations), the oldest dropped past this. */
const HEADS_PER_ENTRY = 4;
const preparedByEntry = new WeakMap<object, PreparedHead[]>();

/**
 * The head of `entry` (an entry kept in memory: the same object on every hit) for `owner`:
 * the one made before for the same owner, else made now of `lines()` and kept beside the entry.
 */
export function preparedHeadOf(entry: object, owner: object, lines: () => readonly HeaderLine[], rewritten: ReadonlySet<string>): PreparedHead | null {
  const kept = preparedByEntry.get(entry);
  if (kept !== undefined) {
    for (const head of kept) if (head.owner === owner) return head;
  }
  const made = prepareHead(owner, lines(), rewritten);
  if (made === null) return null;
  if (kept === undefined) preparedByEntry.set(entry, [made]);
  else {
    if (kept.length >= HEADS_PER_ENTRY) kept.shift();
    kept.push(made);
  }
  return made;
}

/** `lines` prepared for `owner` (whose rewriting may change lines named in `rewritten`), or null when a name or value would not pass Node's checks (the caller sets them one by one, failing as before). */
export function prepareHead(owner: object, lines: readonly HeaderLine[], rewritten: ReadonlySet<string>): PreparedHead | null {
  const byKey = new Map<string, { name: string; values: string[] }>();
  try {
    for (const [name, value] of lines) {
      validateHeaderName(name);
      validateHeaderValue(name, value);
      const key = name.toLowerCase();
      const field = byKey.get(key);
      if (field) field.values.push(value);
      else byKey.set(key, { name, values: [value] });
    }
  } catch {
    return null;
  }
  const fields = [...byKey].map(([key, { name, values }]): Field => [key, name, values]);
  return { owner, lines, fields, server: byKey.has('server'), rewritable: [...byKey.keys()].some((key) => rewritten.has(key)) };
}

/**
 * Sets the prepared lines on `res`, as `appendHeader` of each line would: a name the response
 * already has is appended to it; the others go straight into its header table (fresh pairs,
 * since `appendHeader` changes a pair in place).
 */
export function setPreparedHead(res: ServerResponse, head: PreparedHead): void {
  const table = headerTableOf(res) as Record<string, [string, string | string[]]> | null;
  if (table === null) {
    for (const [name, value] of head.lines) res.appendHeader(name, value);
    return;
  }
  for (const [key, name, values] of head.fields) {
    if (table[key] !== undefined) for (const value of values) res.appendHeader(name, value);
    else table[key] = [name, values.length === 1 ? values[0] : [...values]];
  }
}
