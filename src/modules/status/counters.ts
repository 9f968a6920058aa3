/**
 * The process's counters, as nginx's stub_status keeps them, plus per-location counts for the
 * Prometheus metrics. Everything on the hot path is a few integer increments on objects built
 * once per location at start (`registerLocation`); no label is resolved and nothing is
 * allocated per request. `snapshot()` copies the counters out as plain data for the master to
 * add up across workers (`mergeSnapshots`).
 *
 * Connection states follow nginx: a connection is *reading* from its accept until its first
 * request head is parsed (Node's parser does not say when the first byte arrives, so a
 * connection that has sent nothing yet counts as reading, where nginx counts it waiting),
 * *writing* while a request on it is being served (an upgraded WebSocket or tunnel stays
 * writing until it closes), and *waiting* otherwise (idle keep-alive): active - reading - writing.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { LocationConf, ServerConf } from '../../config/model';

/** Upper bounds (seconds) of the request latency histogram's buckets; +Inf is implied. */
export const LATENCY_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The process-wide connection counters (nginx's stub_status numbers, waiting aside). */
export interface ConnectionCounts {
  active: number;
  accepted: number;
  handled: number;
  requests: number;
  reading: number;
  writing: number;
}

const connections: ConnectionCounts = { active: 0, accepted: 0, handled: 0, requests: 0, reading: 0, writing: 0 };

/** The counters of one location (or of a server's own settings, when no location matched). */
export class LocationCounters {
  /** Responses by status class: index 0 for 1xx ... 4 for 5xx. */
  readonly statuses = [0, 0, 0, 0, 0];
  /** Requests per latency bucket (not cumulative); the last slot is +Inf. */
  readonly latencyBuckets = new Array<number>(LATENCY_BUCKETS.length + 1).fill(0);
  latencySum = 0;
  latencyCount = 0;
  wsOpen = 0;
  wsFramesIn = 0;
  wsFramesOut = 0;
  wsBytesIn = 0;
  wsBytesOut = 0;
  /** WebSocket closes by the peer's close code (1006: no close frame). */
  readonly closeCodes = new Map<number, number>();
  /** Proxy failures by kind (`connect`, `timeout`, `reset`, `closed`, `invalid`, `error`). */
  readonly upstreamErrors = new Map<string, number>();
  /** Push: subscribers connected here now, messages published here, sent to subscribers here. */
  pushSubscribers = 0;
  pushPublished = 0;
  pushDelivered = 0;
  /** Push: messages a slow subscriber's `drop_oldest` dropped; subscribers closed for falling behind. */
  pushDropped = 0;
  pushOverflowClosed = 0;

  constructor(
    readonly server: string,
    readonly location: string,
  ) {}

  /** A response ended (`status` 499 when none was sent), `seconds` after the request came. */
  response(status: number, seconds: number): void {
    const klass = Math.floor(status / 100) - 1;
    if (klass >= 0 && klass < 5) this.statuses[klass]++;
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]) i++;
    this.latencyBuckets[i]++;
    this.latencySum += seconds;
    this.latencyCount++;
  }

  /** An upgrade request ended with `status` (101 once an upgraded connection closed): no latency. */
  upgradeEnded(status: number): void {
    const klass = Math.floor(status / 100) - 1;
    if (klass >= 0 && klass < 5) this.statuses[klass]++;
  }

  /** A WebSocket frame (a message, reassembled, or a control frame) went `in` or out. */
  frame(inbound: boolean, payloadBytes: number): void {
    if (inbound) {
      this.wsFramesIn++;
      this.wsBytesIn += payloadBytes;
    } else {
      this.wsFramesOut++;
      this.wsBytesOut += payloadBytes;
    }
  }

  wsOpened(): void {
    this.wsOpen++;
  }

  /** A WebSocket closed with the peer's `code` (1005: a close frame without one, 1006: none). */
  wsClosed(code: number): void {
    this.wsOpen--;
    this.closeCodes.set(code, (this.closeCodes.get(code) ?? 0) + 1);
  }

  /** A proxy failure; `code` is the proxy's `GW_UPSTREAM_*` code. */
  upstreamError(code: string): void {
    const kind = code.startsWith('GW_UPSTREAM_') ? code.slice('GW_UPSTREAM_'.length).toLowerCase() : code;
    this.upstreamErrors.set(kind, (this.upstreamErrors.get(kind) ?? 0) + 1);
  }
}

const locations = new Set<LocationCounters>();
const byLocation = new WeakMap<LocationConf, LocationCounters>();

/** Builds (once, at start) the counters of a location, labelled by its server and match. */
export function registerLocation(server: ServerConf, location: LocationConf): LocationCounters {
  let counters = byLocation.get(location);
  if (!counters) {
    const label = location === server.serverLocation ? '' : location.name;
    counters = new LocationCounters(server.primaryName || '_', label);
    byLocation.set(location, counters);
    locations.add(counters);
  }
  return counters;
}

/** The counters `registerLocation` built for a location (for handlers, at create). */
export function countersOf(location: LocationConf): LocationCounters | undefined {
  return byLocation.get(location);
}

/** Per-connection phase, kept on the socket: FRESH, CLOSED, or the requests in flight (0: idle). */
const PHASE = Symbol('gateway.connectionPhase');
const FRESH = -1;
const CLOSED = -2;
type Tracked = Socket & { [PHASE]?: number };

/**
 * A connection arrived (`handled`: false when worker_connections turned it away). The caller
 * calls `connectionClosed` once a handled socket has closed (from the one 'close' listener it
 * has anyway, so that a connection carries no listener of its own for the counters).
 */
export function connectionAccepted(socket: Socket, handled: boolean): void {
  connections.accepted++;
  if (!handled) return;
  connections.handled++;
  connections.active++;
  connections.reading++;
  (socket as Tracked)[PHASE] = FRESH;
}

/** A socket `connectionAccepted` counted as handled has closed. */
export function connectionClosed(socket: Socket): void {
  const conn = socket as Tracked;
  const phase = conn[PHASE];
  if (phase === FRESH) connections.reading--;
  else if (phase !== undefined && phase > 0) connections.writing--;
  conn[PHASE] = CLOSED;
  connections.active--;
}

/** The connection a request came on: the TCP socket under a TLS one. */
function tracked(socket: Duplex): Tracked {
  return ((socket as Duplex & { _parent?: Tracked | null })._parent ?? socket) as Tracked;
}

/** A request head was parsed on `socket` (an HTTP request or an upgrade). */
export function requestStarted(socket: Duplex): void {
  connections.requests++;
  const conn = tracked(socket);
  const phase = conn[PHASE];
  if (phase === undefined || phase === CLOSED) return;
  if (phase === FRESH) {
    connections.reading--;
    conn[PHASE] = 0;
  }
  if (conn[PHASE]! === 0) connections.writing++;
  conn[PHASE]!++;
}

/** The request `requestStarted` counted is over (its response ended, or its upgrade closed). */
export function requestEnded(socket: Duplex): void {
  const conn = tracked(socket);
  const phase = conn[PHASE];
  if (phase === undefined || phase <= 0) return;
  conn[PHASE] = phase - 1;
  if (phase === 1) connections.writing--;
}

/** One process's counters as plain data. */
export interface Snapshot {
  /** How many processes' counters are summed in here. */
  processes: number;
  connections: ConnectionCounts;
  locations: LocationSnapshot[];
  peers: PeerSnapshot[];
}

/** One upstream peer as this process's balancer sees it (summed: over the processes). */
export interface PeerSnapshot {
  upstream: string;
  peer: string;
  /** 1 when the balancer may choose it now (not `down`, not out for its failures). */
  usable: number;
  /** Requests on it now. */
  active: number;
}

let peerSource: () => PeerSnapshot[] = () => [];

/** The proxy registers where upstream peer states come from (the metrics never import handlers). */
export function setPeerSource(source: () => PeerSnapshot[]): void {
  peerSource = source;
}

/** One location's counters as plain data. */
export interface LocationSnapshot {
  server: string;
  location: string;
  statuses: number[];
  latencyBuckets: number[];
  latencySum: number;
  latencyCount: number;
  wsOpen: number;
  wsFramesIn: number;
  wsFramesOut: number;
  wsBytesIn: number;
  wsBytesOut: number;
  closeCodes: Record<string, number>;
  upstreamErrors: Record<string, number>;
  pushSubscribers: number;
  pushPublished: number;
  pushDelivered: number;
  pushDropped: number;
  pushOverflowClosed: number;
}

/** This process's counters, copied. */
export function snapshot(): Snapshot {
  return {
    processes: 1,
    connections: { ...connections },
    locations: [...locations].map((l) => ({
      server: l.server,
      location: l.location,
      statuses: [...l.statuses],
      latencyBuckets: [...l.latencyBuckets],
      latencySum: l.latencySum,
      latencyCount: l.latencyCount,
      wsOpen: l.wsOpen,
      wsFramesIn: l.wsFramesIn,
      wsFramesOut: l.wsFramesOut,
      wsBytesIn: l.wsBytesIn,
      wsBytesOut: l.wsBytesOut,
      closeCodes: Object.fromEntries(l.closeCodes),
      upstreamErrors: Object.fromEntries(l.upstreamErrors),
      pushSubscribers: l.pushSubscribers,
      pushPublished: l.pushPublished,
      pushDelivered: l.pushDelivered,
      pushDropped: l.pushDropped,
      pushOverflowClosed: l.pushOverflowClosed,
    })),
    peers: peerSource(),
  };
}

/** What a worker that is gone still contributes: its counts, without open connections or sessions. */
export function closedPart(last: Snapshot): Snapshot {
  return {
    processes: 0,
    connections: { ...last.connections, active: 0, reading: 0, writing: 0 },
    locations: last.locations.map((l) => ({ ...l, wsOpen: 0, pushSubscribers: 0 })),
    peers: [],
  };
}

/** The plain numbers of a location's snapshot, added field by field when snapshots are summed. */
const SUMMED_FIELDS = [
  'latencySum', 'latencyCount', 'wsOpen', 'wsFramesIn', 'wsFramesOut', 'wsBytesIn', 'wsBytesOut',
  'pushSubscribers', 'pushPublished', 'pushDelivered', 'pushDropped', 'pushOverflowClosed',
] as const satisfies readonly (keyof LocationSnapshot)[];

/** Adds snapshots up; locations with the same server and location labels are summed. */
export function mergeSnapshots(parts: readonly Snapshot[]): Snapshot {
  const total: Snapshot = { processes: 0, connections: { active: 0, accepted: 0, handled: 0, requests: 0, reading: 0, writing: 0 }, locations: [], peers: [] };
  const index = new Map<string, LocationSnapshot>();
  const peers = new Map<string, PeerSnapshot>();
  for (const part of parts) {
    total.processes += part.processes;
    for (const key of Object.keys(total.connections) as (keyof ConnectionCounts)[]) total.connections[key] += part.connections[key];
    for (const l of part.locations) {
      const key = `${l.server}\0${l.location}`;
      const into = index.get(key);
      if (!into) {
        const copy = { ...l, statuses: [...l.statuses], latencyBuckets: [...l.latencyBuckets], closeCodes: { ...l.closeCodes }, upstreamErrors: { ...l.upstreamErrors } };
        index.set(key, copy);
        total.locations.push(copy);
        continue;
      }
      l.statuses.forEach((n, i) => (into.statuses[i] += n));
      l.latencyBuckets.forEach((n, i) => (into.latencyBuckets[i] += n));
      for (const field of SUMMED_FIELDS) into[field] += l[field];
      for (const [code, n] of Object.entries(l.closeCodes)) into.closeCodes[code] = (into.closeCodes[code] ?? 0) + n;
      for (const [kind, n] of Object.entries(l.upstreamErrors)) into.upstreamErrors[kind] = (into.upstreamErrors[kind] ?? 0) + n;
    }
    for (const p of part.peers ?? []) {
      const key = `${p.upstream}\0${p.peer}`;
      const into = peers.get(key);
      if (into) {
        into.usable += p.usable;
        into.active += p.active;
      } else {
        const copy = { ...p };
        peers.set(key, copy);
        total.peers.push(copy);
      }
    }
  }
  return total;
}
