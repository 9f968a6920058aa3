/**
 * The WebSocket handshake of an extended CONNECT (RFC 8441): the checks ws makes of an
 * HTTP/1.1 upgrade, less those HTTP/2 has made already (the method, `:protocol`) and less the
 * key (a stream has no Sec-WebSocket-Key: the stream is the handshake's proof), and the
 * subprotocol ws would pick (the first one offered). Pure: the request's headers in, the
 * answer's fields or the refusal out.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** RFC 7230's token characters: what a subprotocol name is made of. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** What the handshake of one extended CONNECT comes to. */
export type StreamHandshake =
  /** Accepted: the subprotocol chosen, if the client offered one. */
  | { readonly accepted: true; readonly protocol: string | null }
  /** Refused with ws's status and reason (and the versions it speaks, for a wrong version). */
  | { readonly accepted: false; readonly status: number; readonly reason: string; readonly lines: readonly (readonly [string, string])[] };

/**
 * Checks an extended CONNECT's WebSocket fields as ws checks an upgrade's: `:protocol`
 * websocket, version 13 (or 8, which ws also speaks), a well-formed subprotocol list.
 */
export function streamHandshake(headers: IncomingHttpHeaders): StreamHandshake {
  if (headers.upgrade?.toLowerCase() !== 'websocket') return refused(400, 'Invalid Upgrade header');
  const version = Number(headers['sec-websocket-version']);
  if (version !== 13 && version !== 8) return refused(400, 'Missing or invalid Sec-WebSocket-Version header', [['sec-websocket-version', '13, 8']]);
  const offered = headers['sec-websocket-protocol'];
  if (offered === undefined) return { accepted: true, protocol: null };
  const names = offered.split(',').map((name) => name.trim());
  if (!names.every((name) => TOKEN.test(name)) || new Set(names).size !== names.length) return refused(400, 'Invalid Sec-WebSocket-Protocol header');
  return { accepted: true, protocol: names[0] };
}

function refused(status: number, reason: string, lines: readonly (readonly [string, string])[] = []): StreamHandshake {
  return { accepted: false, status, reason, lines };
}
