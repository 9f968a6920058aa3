/**
 * How the bytes a WebSocket's socket reads reach ws's frame parser (its `Receiver`): in slices
 * when a read holds a run of small frames, so that a session that has stopped taking frames
 * stops parsing them too.
 *
 * ws writes each read (up to 64 KiB) to its Receiver at once, and the Receiver emits every
 * frame in it before it returns: pausing the socket stops the next read, not the rest of this
 * one. A client flooding pings (6 to 11 bytes each) puts 6,000-11,000 frames in one read, each
 * kept by the session's queue as an object and a Buffer view (about 140 bytes): 1-1.5 MB of
 * heap per flooding connection, and 50 of them took a worker from 86 to 260 MiB (RSS). nginx's
 * lua-resty-websocket reads frames through a 4 KiB buffer (`lua_socket_buffer_size`) and
 * parses one when the script asks for one.
 *
 * So a read that starts with a small frame and is longer than `SLICE` goes to the Receiver
 * `SLICE` bytes at a time, and what is left when the session pauses is kept (one Buffer view)
 * until it resumes. A read that starts inside or at the start of a large frame (126 bytes or
 * more) goes whole, as ws would write it: a large message split across writes is copied
 * together (the first version, which looked only at the read's first bytes, split the reads of
 * the 50 x 16 KiB echo that start inside a message: 1.20x the CPU per message). The parse is
 * ws's either way: only where a write ends changes.
 */
import type { Duplex, Writable } from 'node:stream';

/** The largest slice of a run of small frames given to the Receiver at once (nginx's lua_socket_buffer_size). */
export const SLICE = 4096;

/** What the feed needs of a session: whether it takes frames now, and where the rest of a read waits. */
export interface FeedState {
  /** True while the session's queue is past its high-water mark (the socket is paused). */
  readonly receivePaused: boolean;
  /** The rest of a read not yet given to the Receiver, or null. */
  pendingInput: Buffer | null;
}

/** The sockets whose 'end' and 'close' hand over what is kept (those that were paused inside a read: floods, not every connection). */
const flushOnEnd = new WeakSet<Duplex>();

/** ws's WebSocket as the feed sees it (the parts @types/ws leaves out). */
interface WsInternals {
  readonly _receiver: Writable;
  readonly _socket: Duplex;
  readonly session: FeedState | null;
}

/** ws's symbol on a socket pointing back at its WebSocket, found on the first socket. */
let kWebSocket: symbol | undefined;

function wsOf(socket: Duplex): WsInternals | undefined {
  if (kWebSocket === undefined) return undefined;
  return (socket as unknown as Record<symbol, WsInternals | undefined>)[kWebSocket];
}

/**
 * Puts the feed in place of ws's own `'data'` listener on the WebSocket's socket (set by
 * `setSocket`). False, with ws's listener left, when it cannot be found (a ws that changed).
 */
export function feedInSlices(webSocket: object): boolean {
  const ws = webSocket as WsInternals;
  const socket = ws._socket;
  const wsListener = socket.listeners('data').find((listener) => listener.name === 'socketOnData');
  if (!wsListener) return false;
  kWebSocket ??= Object.getOwnPropertySymbols(socket).find((symbol) => symbol.description === 'websocket');
  if (kWebSocket === undefined || wsOf(socket) !== ws) return false;
  socket.off('data', wsListener as (...args: unknown[]) => void);
  socket.on('data', onData);
  return true;
}

/** Gives the Receiver what was kept of the last read, now that the session takes frames again. */
export function resumeFeed(webSocket: object): void {
  const ws = webSocket as WsInternals;
  const state = ws.session;
  if (!state?.pendingInput) return;
  const rest = state.pendingInput;
  state.pendingInput = null;
  feed(ws, state, rest);
}

/** The socket's 'data' listener (shared: the socket leads to its WebSocket and session). */
function onData(this: Duplex, chunk: Buffer): void {
  const ws = wsOf(this);
  const state = ws?.session;
  if (!ws || !state) return;
  if (state.pendingInput) {
    // A read that came after the pause: kept behind the rest, in order.
    state.pendingInput = Buffer.concat([state.pendingInput, chunk]);
    return;
  }
  feed(ws, state, chunk);
}

function feed(ws: WsInternals, state: FeedState, chunk: Buffer): void {
  const receiver = ws._receiver;
  if (chunk.length <= SLICE || !smallFramesFirst(receiver as ReceiverInternals, chunk)) {
    write(ws, receiver, chunk);
    return;
  }
  let at = 0;
  while (at < chunk.length) {
    if (state.receivePaused) {
      keep(ws, state, chunk.subarray(at));
      return;
    }
    const end = Math.min(chunk.length, at + SLICE);
    if (!write(ws, receiver, chunk.subarray(at, end))) return;
    at = end;
  }
}

/** ws's Receiver state that tells whether it is inside a frame, and how large that frame is. */
interface ReceiverInternals extends Writable {
  readonly _state: number;
  readonly _bufferedBytes: number;
  readonly _payloadLength: number;
}

/** ws's Receiver between two frames (`GET_INFO`). */
const BETWEEN_FRAMES = 0;

/**
 * Whether the read starts with a small frame (payload under 126 bytes): the frame the Receiver
 * is inside, or else the read's first. A read inside or at the start of a large message goes
 * whole: split, ws would copy the message's parts together.
 */
function smallFramesFirst(receiver: ReceiverInternals, chunk: Buffer): boolean {
  if (receiver._state !== BETWEEN_FRAMES || receiver._bufferedBytes > 0) return receiver._payloadLength < 126;
  return (chunk[1] & 0x7f) < 126;
}

/**
 * ws's `socketOnData` for one slice: the Receiver's backpressure pauses the socket. False when
 * the Receiver takes nothing more (a close frame or a protocol error ended it: ws drops the rest).
 */
function write(ws: WsInternals, receiver: Writable, slice: Buffer): boolean {
  if (receiver.writableEnded || receiver.errored) return false;
  if (!receiver.write(slice)) ws._socket.pause();
  return !(receiver.writableEnded || receiver.errored);
}

/** Keeps the rest of a read; an 'end' or 'close' before the session resumes hands it over whole (ws's own rule for a paused socket). */
function keep(ws: WsInternals, state: FeedState, rest: Buffer): void {
  state.pendingInput = rest;
  ws._socket.pause();
  if (flushOnEnd.has(ws._socket)) return;
  flushOnEnd.add(ws._socket);
  ws._socket.prependListener('end', flushPending);
  ws._socket.prependListener('close', flushPending);
}

function flushPending(this: Duplex): void {
  const ws = wsOf(this);
  const state = ws?.session;
  if (!ws || !state?.pendingInput) return;
  const rest = state.pendingInput;
  state.pendingInput = null;
  write(ws, ws._receiver, rest);
}
