/**
 * nginx's autoindex: a directory listing as ngx_http_autoindex_module renders it with its
 * defaults (`autoindex_format html`, `autoindex_exact_size on`, `autoindex_localtime off`).
 * `renderAutoindex` is pure; `readListing` reads the directory.
 */
import { lstat, readdir, stat } from 'node:fs/promises';
import { isComponentByte, percentEncode } from '../static/http';

/** One listed entry. */
export interface ListingEntry {
  readonly name: string;
  readonly isDir: boolean;
  readonly size: number;
  /** Modification time in milliseconds since the epoch. */
  readonly mtimeMs: number;
}

/** nginx's NGX_HTTP_AUTOINDEX_NAME_LEN: names are padded or cut to this many bytes. */
const NAME_WIDTH = 50;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `<`, `>`, `&` and `"` as HTML entities. */
export function escapeHtml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => (c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : '&quot;'));
}

/** UTF-8 bytes as a latin1 string: one character per byte, so widths and cuts are in bytes. */
function bytes(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** `23-Nov-2026 20:39`, in GMT. */
export function listingDate(mtimeMs: number): string {
  const d = new Date(Math.floor(mtimeMs / 1000) * 1000);
  return (
    `${pad2(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ` +
    `${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}`
  );
}

/** Directories first, then by name in byte order (nginx's `ngx_strcmp`). */
export function compareEntries(a: ListingEntry, b: ListingEntry): number {
  if (a.isDir !== b.isDir) return a.isDir ? -1 : 1;
  const x = bytes(a.name);
  const y = bytes(b.name);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** One listing line, without its CRLF. Widths count bytes, as nginx does without `charset utf-8`. */
function renderLine(entry: ListingEntry): string {
  const href = percentEncode(entry.name, isComponentByte) + (entry.isDir ? '/' : '');
  const name = bytes(entry.name);
  let len = name.length;
  let text: string;
  if (len > NAME_WIDTH) {
    text = `${escapeHtml(name.slice(0, NAME_WIDTH - 3))}..&gt;</a>`;
  } else {
    text = escapeHtml(name);
    if (entry.isDir && len < NAME_WIDTH) {
      text += '/';
      len++;
    }
    text += '</a>' + ' '.repeat(NAME_WIDTH - len);
  }
  const size = entry.isDir ? '-' : String(entry.size);
  return `<a href="${href}">${text} ${listingDate(entry.mtimeMs)} ${size.padStart(19)}`;
}

/**
 * The listing page for `uri` (the decoded request path, ending in `/`), as the bytes nginx
 * sends. Entries are sorted here; hidden ones are expected to be filtered out already.
 */
export function renderAutoindex(uri: string, entries: readonly ListingEntry[]): Buffer {
  const title = escapeHtml(bytes(uri));
  const lines = [...entries].sort(compareEntries).map((e) => renderLine(e) + '\r\n');
  const page =
    `<html>\r\n<head><title>Index of ${title}</title></head>\r\n<body>\r\n` +
    `<h1>Index of ${title}</h1><hr><pre><a href="../">../</a>\r\n` +
    lines.join('') +
    '</pre><hr></body>\r\n</html>\r\n';
  return Buffer.from(page, 'latin1');
}

/**
 * Reads a directory for the listing: names starting with a dot are skipped; each entry is
 * stat()ed through symlinks, and a dangling or looping link is described by lstat(), as nginx
 * does. Errors reject with the system error (the caller maps it to 403/404/500).
 */
export async function readListing(dir: string): Promise<ListingEntry[]> {
  const names = (await readdir(dir)).filter((name) => !name.startsWith('.'));
  const entries = await Promise.all(names.map((name) => describe(dir, name)));
  return entries.filter((e): e is ListingEntry => e !== null);
}

async function describe(dir: string, name: string): Promise<ListingEntry | null> {
  const file = dir.endsWith('/') ? dir + name : `${dir}/${name}`;
  let info;
  try {
    info = await stat(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ELOOP') throw err;
    try {
      info = await lstat(file);
    } catch {
      return null; // removed while listing
    }
  }
  return { name, isDir: info.isDirectory(), size: info.size, mtimeMs: info.mtimeMs };
}
