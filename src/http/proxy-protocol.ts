/**
 * The PROXY protocol header a load balancer (HAProxy, a cloud balancer) sends before the
 * client's bytes, version 1 (text) and 2 (binary), read as nginx 1.22's
 * `ngx_proxy_protocol_read` reads it: from the connection's first read, which must hold the
 * whole header (nginx does not wait for the rest of one cut in two: it is a broken header).
 * Pure: bytes in, the addresses and the header's length out, or why the connection is closed.
 *
 * No npm package was taken for this: `proxy-protocol-js` parses v1 with a regular expression
 * over a string without checking addresses or ports, and neither it nor
 * `@balena/proxy-protocol-parser` tells a header nginx takes from one it refuses.
 */
import { inet4Text, inet6Text } from './inet-text';

/** What a PROXY header says of the client's connection to the balancer. */
export interface ProxyAddresses {
  /** `$proxy_protocol_addr`: the client's address, as sent (v1) or written by nginx's rules (v2). */
  readonly sourceAddress: string;
  /** `$proxy_protocol_port`. */
  readonly sourcePort: number;
  /** `$proxy_protocol_server_addr`: the address the client connected to. */
  readonly destinationAddress: string;
  /** `$proxy_protocol_server_port`. */
  readonly destinationPort: number;
}

/**
 * A header read: its `length` in bytes (what follows is the client's), and its addresses, null
 * when it carries none nginx keeps (`PROXY UNKNOWN`, a v2 `LOCAL` command, a transport other
 * than a stream, a family other than IPv4 and IPv6).
 */
export interface ProxyHeader {
  readonly ok: true;
  readonly length: number;
  readonly addresses: ProxyAddresses | null;
}

/** A header refused: the connection is closed, with nginx's error line when nginx writes one. */
export interface BrokenProxyHeader {
  readonly ok: false;
  /** `broken header: "..."`, `unknown PROXY protocol version: 3`, `header is too large`, or null (nginx closes silently). */
  readonly error: string | null;
}

/** v2's 12-byte signature. */
const V2_SIGNATURE = Buffer.from('\r\n\r\n\0\r\nQUIT\n', 'latin1');
/** v2's fixed part: the signature, version and command, family and transport, length. */
const V2_HEADER = 16;
/** What of a refused first read the error line shows: nginx's read buffer (`client_header_buffer_size` 1k). */
export const SHOWN_BYTES = 1024;

const CR = 0x0d;
const LF = 0x0a;
const SPACE = 0x20;

/** Reads the PROXY header at the start of `data`, the connection's first read. */
export function readProxyHeader(data: Buffer): ProxyHeader | BrokenProxyHeader {
  if (data.length >= V2_HEADER && data.compare(V2_SIGNATURE, 0, V2_SIGNATURE.length, 0, V2_SIGNATURE.length) === 0) return readV2(data);
  const last = data.length;
  if (last < 8 || data.toString('latin1', 0, 6) !== 'PROXY ') return broken(data);
  let p = 6;
  if (last - p >= 7 && data.toString('latin1', p, p + 7) === 'UNKNOWN') {
    for (p += 7; p < last - 1; p++) if (data[p] === CR && data[p + 1] === LF) return { ok: true, length: p + 2, addresses: null };
    return broken(data);
  }
  if (last - p < 5 || data.toString('latin1', p, p + 3) !== 'TCP' || (data[p + 3] !== 0x34 && data[p + 3] !== 0x36) || data[p + 4] !== SPACE) return broken(data);
  p += 5;
  const source = readAddress(data, p);
  if (source < 0) return broken(data);
  const destination = readAddress(data, source + 1);
  if (destination < 0) return broken(data);
  const sourcePort = readPort(data, destination + 1, SPACE);
  if (sourcePort.end < 0) return broken(data);
  const destinationPort = readPort(data, sourcePort.end + 1, CR);
  if (destinationPort.end < 0) return broken(data);
  const lf = destinationPort.end + 1;
  if (lf >= last || data[lf] !== LF) return broken(data);
  return {
    ok: true,
    length: lf + 1,
    addresses: {
      sourceAddress: data.toString('latin1', p, source),
      sourcePort: sourcePort.value,
      destinationAddress: data.toString('latin1', source + 1, destination),
      destinationPort: destinationPort.value,
    },
  };
}

/** nginx's `broken header` line: what was read, as it came (up to nginx's 1k buffer), control bytes escaped. */
function broken(data: Buffer): BrokenProxyHeader {
  return { ok: false, error: `broken header: "${shown(data.subarray(0, SHOWN_BYTES))}"` };
}

/** Bytes for a log line: printable ASCII as it is, the rest as `\xNN` (a header must not write lines of its own into the log). */
function shown(bytes: Buffer): string {
  let out = '';
  for (const b of bytes) out += b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
  return out;
}

/**
 * nginx's `ngx_proxy_protocol_read_addr`: hex digits, `.` and `:` up to a space; the index of
 * that space, or -1 (another character, or the end of the read).
 */
function readAddress(data: Buffer, start: number): number {
  for (let p = start; p < data.length; p++) {
    const c = data[p];
    if (c === SPACE) return p;
    const hex = (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66);
    if (!hex && c !== 0x2e && c !== 0x3a) return -1;
  }
  return -1;
}

/** nginx's `ngx_proxy_protocol_read_port`: decimal digits up to `separator`, 0 to 65535; `end` is the separator's index, or -1. */
function readPort(data: Buffer, start: number, separator: number): { value: number; end: number } {
  let value = 0;
  for (let p = start; p < data.length; p++) {
    const c = data[p];
    if (c === separator) return p > start && value <= 65535 ? { value, end: p } : { value: 0, end: -1 };
    if (c < 0x30 || c > 0x39) return { value: 0, end: -1 };
    // Past 65535 the value is refused whatever follows; keep it from growing without bound.
    value = Math.min(value * 10 + (c - 0x30), 65536);
  }
  return { value: 0, end: -1 };
}

/** nginx's `ngx_proxy_protocol_v2_read`. */
function readV2(data: Buffer): ProxyHeader | BrokenProxyHeader {
  const version = data[12] >> 4;
  if (version !== 2) return { ok: false, error: `unknown PROXY protocol version: ${version}` };
  const length = data.readUInt16BE(14);
  if (data.length - V2_HEADER < length) return { ok: false, error: 'header is too large' };
  const end = V2_HEADER + length;
  const command = data[12] & 0x0f;
  const transport = data[13] & 0x0f;
  // Only PROXY over a stream carries addresses nginx keeps; LOCAL (health checks) and others are skipped.
  if (command !== 1 || transport !== 1) return { ok: true, length: end, addresses: null };
  const family = data[13] >> 4;
  const at = V2_HEADER;
  if (family === 1) {
    if (length < 12) return { ok: false, error: null };
    return {
      ok: true,
      length: end,
      addresses: {
        sourceAddress: inet4Text(data.readUInt32BE(at)),
        destinationAddress: inet4Text(data.readUInt32BE(at + 4)),
        sourcePort: data.readUInt16BE(at + 8),
        destinationPort: data.readUInt16BE(at + 10),
      },
    };
  }
  if (family === 2) {
    if (length < 36) return { ok: false, error: null };
    return {
      ok: true,
      length: end,
      addresses: {
        sourceAddress: inet6Text(data, at),
        destinationAddress: inet6Text(data, at + 16),
        sourcePort: data.readUInt16BE(at + 32),
        destinationPort: data.readUInt16BE(at + 34),
      },
    };
  }
  return { ok: true, length: end, addresses: null };
}
