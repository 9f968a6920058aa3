/**
 * What a request's connection says about it, for `$connection`, `$connection_requests` and
 * `$pipe`: the connection's serial number (per worker; nginx's counter is shared
 * by its workers), the request's number on it, whether it came while an earlier one was still
 * being answered (nginx's pipelined request). Kept on the socket
 * and on the request under symbols: no map to clean up.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ConnectionFacts } from '../http/variables';

const CONNECTION = Symbol('gateway.connectionFacts');
const FACTS = Symbol('gateway.requestFacts');

interface ConnectionState {
  readonly serial: number;
  requests: number;
  /** Requests answered now. */
  inFlight: number;
}

type Tracked = Duplex & { [CONNECTION]?: ConnectionState; _parent?: Duplex | null };
type Noted = IncomingMessage & { [FACTS]?: ConnectionFacts };

let serials = 0;

/** The facts of a request no connection counted (a subrequest's own message). */
const NONE: ConnectionFacts = { serial: 0, requests: 0, pipelined: false };

/** The connection a request came on: the TCP socket under a TLS one. */
function connectionOf(socket: Duplex): Tracked {
  return ((socket as Tracked)._parent ?? socket) as Tracked;
}

/** A request head was parsed: its number on the connection, and whether it was pipelined. */
export function requestArrived(req: IncomingMessage): void {
  const conn = connectionOf(req.socket);
  const state = (conn[CONNECTION] ??= { serial: ++serials, requests: 0, inFlight: 0 });
  state.requests++;
  (req as Noted)[FACTS] = { serial: state.serial, requests: state.requests, pipelined: state.inFlight > 0 };
  state.inFlight++;
}

/** The request `requestArrived` noted has been answered. */
export function requestAnswered(req: IncomingMessage): void {
  const state = connectionOf(req.socket)[CONNECTION];
  if (state && state.inFlight > 0) state.inFlight--;
}

/** The facts `requestArrived` noted for a request. */
export function connectionFactsOf(req: IncomingMessage): ConnectionFacts {
  return (req as Noted)[FACTS] ?? NONE;
}
