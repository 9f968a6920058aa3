/**
 * An example body filter script (OpenResty's `body_filter_by_lua` over `ngx.arg[1]` with
 * `ngx.re.gsub`): in front of the built-in proxy, rewrites the absolute links of an HTML page that
 * point at the backend's own origin (`href="http://backend:9001/..."`, `src='...'`, unquoted too)
 * into the gateway's public origin, chunk by chunk as the page streams.
 *
 *   - location: /
 *     proxy_pass: http://backend
 *     proxy_set_header: { Host: $host, Accept-Encoding: '""' }   # the page must come uncompressed
 *     body_filter_by: { script: rewrite-links, options: { from: "http://backend:9001", to: "https://www.example.com" } }
 *
 * Without `to`, the public origin is the one the client asked for (`$scheme://$http_host`).
 *
 * A link cut across two chunks is still rewritten: between chunks the filter keeps only the
 * tail of the text that could still become the start of a link (`href = "http://back`), a few
 * dozen bytes at most, never the whole body. Content-Length: this filter changes the length, so
 * it does not say `keepsLength`; the gateway drops the header (what OpenResty users do with
 * `ngx.header.content_length = nil` in a `header_filter_by_lua`), the response goes out chunked (or gzipped, when `gzip` is on in the
 * location: the built-in filters run after this one). Only `text/html` responses that are not
 * already compressed are touched; the others pass as they are.
 */
import { definePhaseScript, type ScriptRequest } from 'gateway';

interface RewriteLinksOptions {
  /** The backend's origin as its pages write it, e.g. `http://backend:9001`. */
  readonly from: string;
  /** The public origin, or null for the one of each request. */
  readonly to: string | null;
  /** An attribute that names the backend's origin, ending where the origin ends. */
  readonly link: RegExp;
  /** The tail of the text that could still become the start of a link (anchored at the end). */
  readonly partial: RegExp;
  /** The longest such tail. */
  readonly longest: number;
}

/** The attributes whose value is a link. */
const ATTRIBUTES = ['href', 'src', 'action'];
/** Blanks allowed around `=` (bounded: the tail kept between chunks is bounded too). */
const BLANKS = '[ \\t\\r\\n]{0,8}';

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** A regular expression source matching every non-empty prefix of `text`: `a(?:b(?:c)?)?`. */
function prefixes(text: string): string {
  let source = '';
  for (let i = text.length - 1; i >= 0; i--) source = `${escape(text[i])}${source ? `(?:${source})?` : ''}`;
  return source;
}

/** The two expressions of one backend origin, built once at load. */
function expressions(from: string): { link: RegExp; partial: RegExp; longest: number } {
  const names = ATTRIBUTES.join('|');
  const head = `(?<![\\w-])(?:${names})${BLANKS}=${BLANKS}["']?`;
  // The origin ends where a path, a query, a fragment, the quote or the tag begins: never a
  // longer host that starts with the same letters (`http://backend:90011`, `http://backend.evil`).
  const link = new RegExp(`(${head})${escape(from)}(?=[/?#"'\\s>])`, 'gi');
  // What may still grow into a link in the next chunk: part of an attribute's name, the name and
  // blanks, `=`, a quote, part of the origin, or the whole origin not yet followed by its end.
  const partial = new RegExp(`(?<![\\w-])(?:${ATTRIBUTES.map(prefixes).join('|')}|(?:${names})${BLANKS}(?:=${BLANKS}(?:["']?(?:${prefixes(from)})?)?)?)$`, 'gi');
  // The longest such tail: only that much of a chunk's end is searched.
  const longest = Math.max(...ATTRIBUTES.map((a) => a.length)) + 8 + 1 + 8 + 1 + from.length;
  return { link, partial, longest };
}

/** One response's state, kept on `r.ctx` between its chunks. */
interface Stream {
  /** Off for a response that is not uncompressed HTML. */
  readonly on: boolean;
  readonly to: string;
  /** What is kept between chunks. */
  carry: Carry;
}

const STREAM = Symbol('rewrite-links');

function streamOf(r: ScriptRequest, options: RewriteLinksOptions): Stream {
  let stream = r.ctx[STREAM] as Stream | undefined;
  if (!stream) {
    const type = String(r.responseHeader('content-type') ?? '');
    // The encoding the page came with (the backend's, as `$upstream_http_content_encoding`): the
    // response's own says `gzip` already when the location's gzip, which runs after, compresses it.
    const encoding = r.var.upstream_http_content_encoding || 'identity';
    const on = /^text\/html\b/i.test(type) && encoding.toLowerCase() === 'identity';
    const to = options.to ?? `${r.var.scheme}://${r.var.http_host || r.var.host}`;
    stream = { on, to, carry: NOTHING_HELD };
    r.ctx[STREAM] = stream;
  }
  return stream;
}

/** What is kept of a response between two chunks (latin1 text: one character per byte). */
export interface Carry {
  /** The byte sent just before `held`: whether a name there starts a word (`data-href` is no `href`). */
  readonly before: string;
  /** The tail that could be the start of a link, held back for the next chunk. */
  readonly held: string;
}

export const NOTHING_HELD: Carry = { before: '', held: '' };

/**
 * Rewrites the links of the held text and the new chunk, and splits off what must wait for the
 * next chunk: the text to send and what is kept. Pure (exported for the unit test).
 */
export function rewriteChunk(carry: Carry, chunk: string, eof: boolean, to: string, options: Pick<RewriteLinksOptions, 'link' | 'partial' | 'longest'>): { out: string; carry: Carry } {
  // The byte before is context only (sent already): the look-behinds see it, nothing rewrites it.
  const text = carry.before + carry.held + chunk;
  const start = carry.before.length;
  let out = '';
  let last = start;
  options.link.lastIndex = start;
  for (let m = options.link.exec(text); m; m = options.link.exec(text)) {
    out += text.slice(last, m.index) + m[1] + to;
    last = m.index + m[0].length;
  }
  if (eof) return { out: out + text.slice(last), carry: NOTHING_HELD };
  // The earliest start of a possible link in what follows the last rewritten one, searched in the
  // last `longest` bytes only.
  options.partial.lastIndex = Math.max(last, text.length - options.longest);
  const held = options.partial.exec(text);
  const cut = held ? held.index : text.length;
  return { out: out + text.slice(last, cut), carry: { before: cut > 0 ? text[cut - 1] : carry.before, held: text.slice(cut) } };
}

export default definePhaseScript<RewriteLinksOptions>({
  configure(raw, cx) {
    const { from, to } = raw;
    if (typeof from !== 'string' || !/^https?:\/\/[A-Za-z0-9.:[\]-]+$/.test(from)) return cx.error('"from" must be the backend\'s origin, e.g. http://backend:9001', 'from');
    if (to !== undefined && (typeof to !== 'string' || !/^https?:\/\/[A-Za-z0-9.:[\]-]+$/.test(to))) return cx.error('"to" must be an origin, e.g. https://www.example.com', 'to');
    return { from, to: (to as string | undefined) ?? null, ...expressions(from) };
  },
  bodyFilter(chunk, eof, r, options) {
    const stream = streamOf(r, options);
    if (!stream.on) return undefined;
    // latin1: one character per byte, so a multi-byte character cut by the chunk comes out whole.
    const { out, carry } = rewriteChunk(stream.carry, chunk.toString('latin1'), eof, stream.to, options);
    stream.carry = carry;
    return Buffer.from(out, 'latin1');
  },
});
