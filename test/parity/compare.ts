/**
 * What the parity suite compares, and how: each response is reduced to its aspects (status
 * line, the headers that matter, body, framing), with only what must differ normalized away
 * (the server's name and version, also in the length of a built-in page, each side's own port
 * numbers, the multipart boundary; gzip bodies are compared uncompressed). Dates are not
 * compared, except Last-Modified: both serve the same files, so ETags are compared whole.
 */
import zlib from 'node:zlib';
import type { RawReply } from './client';

/** Headers compared on every response (lower case); `x-*` headers are compared too. */
export const COMPARED_HEADERS = [
  'location',
  'content-type',
  'content-length',
  'content-range',
  'etag',
  'last-modified',
  'content-encoding',
  'vary',
  'allow',
  'accept-ranges',
  'cache-control',
  'server',
  'www-authenticate',
  'set-cookie',
  'keep-alive',
] as const;

/** One compared part of a response: `status`, `reason`, `body`, `framing` or a header name. */
export type Aspect = 'status' | 'reason' | 'interim' | 'body' | 'framing' | 'expires' | (typeof COMPARED_HEADERS)[number] | `x-${string}`;

/**
 * `Expires` as seconds after the response's `Date` (`Date+3600`): the two servers answer in
 * different seconds. A date more than a year away (`epoch`, `max`) is kept as it is.
 */
function expiresAspect(expires: readonly string[], date: string | undefined): string {
  if (expires.length === 0) return '(absent)';
  return expires
    .map((value) => {
      const at = Date.parse(value);
      const now = date === undefined ? NaN : Date.parse(date);
      if (Number.isNaN(at) || Number.isNaN(now) || Math.abs(at - now) > 366 * 86_400_000) return value;
      return `Date${at - now >= 0 ? '+' : ''}${(at - now) / 1000}`;
    })
    .join('\n');
}

/** The normalized aspects of one response. */
export type Aspects = Map<Aspect, string>;

/** One side: its name (whose signature it must carry) and its ports (written `:PORT<slot>`). */
export interface SideInfo {
  readonly name: 'nginx' | 'gateway';
  readonly ports: readonly number[];
}

/** The side's signature, as the `Server` header carries it: its name, maybe a version. */
const signatureOf = (side: SideInfo) => new RegExp(`^${side.name}(/[0-9][0-9A-Za-z.+-]*)?$`);
/** The side's signature at the foot of a built-in page. */
const pageSignatureOf = (side: SideInfo) => new RegExp(`<hr><center>${side.name}(/[0-9][0-9A-Za-z.+-]*)?</center>`, 'g');

function normalizeSignature(value: string, side: SideInfo): string {
  const m = signatureOf(side).exec(value);
  return m ? `SERVER${m[1] ? '/VERSION' : ''}` : value;
}

function normalizePorts(text: string, side: SideInfo): string {
  return text.replace(/:(\d{2,5})(?!\d)/g, (all, port: string) => {
    const slot = side.ports.indexOf(Number(port));
    return slot < 0 ? all : `:PORT${slot}`;
  });
}

/** The body as text for comparison: printable as is, else hex; long bodies are kept whole. */
function bodyText(body: Buffer): string {
  const text = body.toString('latin1');
  // eslint-disable-next-line no-control-regex
  return /^[\x09\x0a\x0d\x20-\x7e\x80-\xff]*$/.test(text) ? text : `hex:${body.toString('hex')}`;
}

/** The body with its page signature written as SERVER(/VERSION), and how many bytes that removed. */
function normalizePage(text: string, side: SideInfo): { text: string; shrunk: number } {
  let shrunk = 0;
  const out = text.replace(pageSignatureOf(side), (all: string, version?: string) => {
    const replacement = `<hr><center>SERVER${version ? '/VERSION' : ''}</center>`;
    shrunk += all.length - replacement.length;
    return replacement;
  });
  return { text: out, shrunk };
}

/**
 * Reduces a reply to its aspects, normalized. A built-in page's length depends on the
 * signature, so Content-Length is compared as if the page were signed SERVER/VERSION; a HEAD
 * reply has no body to look at, so `twin` (the same request as a GET) tells.
 */
export function aspectsOf(reply: RawReply, side: SideInfo, twin?: RawReply): Aspects {
  const out: Aspects = new Map();
  out.set('status', reply.status === null ? 'no response' : String(reply.status));
  out.set('reason', reply.reason);
  out.set('interim', reply.interim.join(' ') || 'none');
  out.set('framing', reply.framing ?? 'ok');
  const values = (name: string) => reply.headers.filter(([n]) => n === name).map(([, v]) => v);
  let boundary: string | null = null;
  const names = new Set<string>([...COMPARED_HEADERS, ...reply.headers.map(([n]) => n).filter((n) => n.startsWith('x-'))]);
  for (const name of names) {
    let list = values(name);
    if (name === 'server') list = list.map((v) => normalizeSignature(v, side));
    if (name === 'content-type') {
      boundary = list.map((v) => /boundary=([^;\s]+)/.exec(v)?.[1]).find(Boolean) ?? null;
      if (boundary) list = list.map((v) => v.replace(boundary!, 'BOUNDARY'));
    }
    list = list.map((v) => normalizePorts(v, side));
    out.set(name as Aspect, list.length === 0 ? '(absent)' : list.join('\n'));
  }
  out.set('expires', expiresAspect(values('expires'), values('date')[0]));
  let body = reply.body;
  let note = '';
  if (values('content-encoding').includes('gzip') && body.length) {
    try {
      body = zlib.gunzipSync(body);
      note = '(gunzipped) ';
    } catch {
      note = '(not valid gzip) ';
    }
  }
  const page = normalizePage(bodyText(body), side);
  let text = page.text;
  if (boundary) text = text.split(boundary).join('BOUNDARY');
  out.set('body', note + normalizePorts(text, side));
  let shrunk = page.shrunk;
  const length = values('content-length');
  if (twin && length.length === 1 && twin.body.length === Number(length[0])) shrunk = normalizePage(bodyText(twin.body), side).shrunk;
  if (shrunk && length.length === 1) out.set('content-length', String(Number(length[0]) - shrunk));
  return out;
}

/** One aspect that differs: its name and both values. */
export interface Difference {
  readonly aspect: Aspect;
  readonly nginx: string;
  readonly gateway: string;
}

/** The aspects whose normalized values differ, in a stable order. */
export function differences(nginx: Aspects, gateway: Aspects): Difference[] {
  const keys = new Set<Aspect>([...nginx.keys(), ...gateway.keys()]);
  const out: Difference[] = [];
  for (const aspect of keys) {
    const n = nginx.get(aspect) ?? '(absent)';
    const g = gateway.get(aspect) ?? '(absent)';
    if (n !== g) out.push({ aspect, nginx: n, gateway: g });
  }
  return out;
}

const clip = (text: string) => (text.length > 300 ? `${text.slice(0, 300)}... (${text.length} chars)` : text);

/** A difference as one readable line. */
export function describe(d: Difference): string {
  return `${d.aspect}: nginx ${JSON.stringify(clip(d.nginx))}, gateway ${JSON.stringify(clip(d.gateway))}`;
}

/**
 * Judges a response pair against the documented differences `differs` (aspect -> why):
 * every other aspect must be equal, and at least one documented aspect must still differ (a
 * difference that went away must have its marker removed). Returns the problems, empty when
 * parity holds.
 */
export function judge(found: readonly Difference[], differs: Readonly<Partial<Record<Aspect, string>>> = {}): string[] {
  const problems = found.filter((d) => !(d.aspect in differs)).map(describe);
  const marked = Object.keys(differs) as Aspect[];
  if (marked.length && !found.some((d) => d.aspect in differs)) {
    problems.push(`documented as differing in ${marked.join(', ')} ("${differs[marked[0]]}") but now equal: remove the marker`);
  }
  return problems;
}

/** The aspects a different status drags along (its page, type, length, validators). */
const WITH_STATUS: readonly Aspect[] = ['status', 'reason', 'content-type', 'content-length', 'content-range', 'etag', 'last-modified', 'content-encoding', 'vary', 'accept-ranges', 'location', 'server', 'body', 'framing'];

/** A documented difference of the whole response: the status and all that comes with it. */
export function wholeResponse(why: string): Partial<Record<Aspect, string>> {
  return Object.fromEntries(WITH_STATUS.map((a) => [a, why]));
}
