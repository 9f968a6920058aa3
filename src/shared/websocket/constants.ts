/**
 * The WebSocket part's magic values in one place: RFC 6455 close codes, lua-resty-websocket's
 * defaults, the session's internal limits and the stable error codes its failures carry.
 */
import type { ErrorCode as CatalogueCode } from '../../errors';

/** Close status codes of RFC 6455 section 7.4.1 that the gateway sends or reports. */
export const CloseCode = {
  /** Normal closure. */
  NORMAL: 1000,
  /** The endpoint is going away (server shutdown, page navigated away). */
  GOING_AWAY: 1001,
  /** The peer broke the protocol (unmasked frame, bad opcode, RSV bits, bad close code...). */
  PROTOCOL_ERROR: 1002,
  /** The endpoint cannot accept this kind of data. */
  UNSUPPORTED_DATA: 1003,
  /** Reported, never sent: the close frame carried no status code. */
  NO_STATUS: 1005,
  /** Reported, never sent: the connection closed without a close frame. */
  ABNORMAL: 1006,
  /** A text message or close reason that is not valid UTF-8. */
  INVALID_PAYLOAD: 1007,
  /** The message violates the endpoint's policy. */
  POLICY_VIOLATION: 1008,
  /** The message is bigger than `max_payload_len`. */
  MESSAGE_TOO_BIG: 1009,
  /** The server hit an unexpected condition. */
  INTERNAL_ERROR: 1011,
} as const;

/** lua-resty-websocket's default `max_payload_len` (and our default `max_send_len`). */
export const DEFAULT_MAX_PAYLOAD_LEN = 65535;

/** The largest payload of a control frame (ping, pong, close), RFC 6455 section 5.5. */
export const MAX_CONTROL_PAYLOAD = 125;

/** The largest close reason: a control payload minus the two bytes of the status code. */
export const MAX_CLOSE_REASON = MAX_CONTROL_PAYLOAD - 2;

/**
 * How long the closing handshake may take once a close frame has been sent: past it the
 * socket is destroyed (ws's own default is 30 s).
 */
export const CLOSE_TIMEOUT_MS = 5000;

/** Received frames queued before the socket is paused (backpressure on a slow script). */
export const QUEUE_HIGH_WATER = 64;

/** The queue length at which a paused socket is resumed. */
export const QUEUE_LOW_WATER = 8;

/**
 * Frames a script may take from the queue in a row before `recvFrame` lets the event loop turn
 * (one read of 64 KiB holds some 6,000 small frames: a ping flood answered without a pause held
 * the worker for tens of ms per read, and a static response beside five floods took one chunk
 * every 300 ms).
 */
export const FRAME_BURST = 32;

/**
 * The stable `code` strings of `WebSocketError`; tests and callers match these, not messages.
 * The matching lua-resty-websocket error string is the error's `reason`.
 */
export const ErrorCode = {
  /** The connection is gone (closed by either side, reset, or after a close frame). */
  CLOSED: 'GW_WS_CLOSED',
  /** The peer broke the protocol; ws has already closed with 1002, 1007 or 1009. */
  PROTOCOL: 'GW_WS_PROTOCOL',
  /** A send bigger than `max_send_len`, or a control frame over 125 bytes. */
  PAYLOAD_TOO_BIG: 'GW_WS_PAYLOAD_TOO_BIG',
  /** `sendClose` with a status code that may not be sent on the wire. */
  BAD_CLOSE_CODE: 'GW_WS_BAD_CLOSE_CODE',
  /** `recvFrame` called while another `recvFrame` is still waiting. */
  BUSY: 'GW_WS_BUSY',
} as const satisfies Record<string, CatalogueCode>;

/** One of the `ErrorCode` values. */
export type WebSocketErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Whether `code` may be sent in a close frame (RFC 6455 section 7.4; the same rule as ws). */
export function isSendableCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  );
}

/** The size of a server frame's header (unmasked) for a payload of `length` bytes. */
export function frameHeaderLength(length: number): number {
  if (length < 126) return 2;
  return length < 65536 ? 4 : 10;
}

/** The GUID a Sec-WebSocket-Key is hashed with into its Sec-WebSocket-Accept (RFC 6455 1.3). */
export const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/**
 * permessage-deflate (RFC 7692) defaults and bounds of the `websocket_deflate_*` directives.
 * The threshold is ws's default; the window bits stop at 9 because zlib makes a raw deflate
 * stream of 8 bits a 9-bit one, which a peer held to 256 bytes could not inflate; the memory
 * level is zlib's range.
 */
export const Deflate = {
  /** Messages shorter than this many bytes go uncompressed (ws's `threshold` default). */
  DEFAULT_THRESHOLD: 1024,
  MIN_WINDOW_BITS: 9,
  MAX_WINDOW_BITS: 15,
  MIN_MEM_LEVEL: 1,
  MAX_MEM_LEVEL: 9,
  MIN_COMP_LEVEL: 1,
  MAX_COMP_LEVEL: 9,
} as const;
