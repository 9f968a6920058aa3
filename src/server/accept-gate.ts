/**
 * A worker that is nearly full stops accepting, so that its siblings take the new connections
 * (nginx's `ngx_accept_disabled`: a worker past 7/8 of its `worker_connections` leaves the
 * accepting to the others until it has room again), and accepts again once it is back at 3/4.
 *
 * Node 20's workers share each listening socket (cluster's SCHED_NONE: the master binds it and
 * hands every worker a copy of the descriptor, kept on the master's shared handle while a worker
 * is registered on it). Node has no call that stops a listening handle from accepting, so:
 *
 * - to stop, the gate closes the worker's own copy of the descriptor with the handle's native
 *   `close` (not cluster's wrapper, which would also take the worker off the master's shared
 *   handle): the socket and the connections the kernel queued on it stay, held by the master and
 *   the siblings. Done within the accept that crossed the line, it also ends libuv's accept loop,
 *   so a burst is not taken whole by one worker.
 * - to resume, it calls cluster's wrapper (the master takes the worker off its shared handle;
 *   the descriptor is closed already) and listens again with the same options (the master hands
 *   the same socket back: another worker is on it, or a stopped one still registered).
 *
 * When every worker of the serving generation has stopped, the master tells the last to stop to
 * accept again and to keep accepting until it is full (`AcceptPeers`): it then closes what does
 * not fit ("worker_connections are not enough"), as nginx's workers do; the connections that
 * came meanwhile waited in the socket's backlog. Once a sibling accepts again, it may stop again.
 *
 * The common case costs one comparison per accepted and per closed connection.
 */
import type { Server } from 'node:net';
import type { Logger } from '../types';

/** Who else accepts on the same listening sockets: the master, told over the cluster channel. */
export interface AcceptPeers {
  /** Tells that this worker stopped accepting. */
  paused(): void;
  /** Tells that this worker accepts again (once every listener listens again). */
  resumed(): void;
  /** Sets what the master says: `hold` (accept until full: every other worker stopped), `release` (a sibling accepts again). */
  onAdvice(listener: (advice: 'hold' | 'release') => void): void;
}

/** A listening server and the options it was first listened with (listened with again on resume). */
export interface GatedServer {
  readonly server: Server;
  readonly options: Parameters<Server['listen']>[0];
}

/** The open connections past which a worker stops accepting: more than 7/8 of `worker_connections` (nginx's rule). */
export function pauseThreshold(workerConnections: number): number {
  return Math.floor((workerConnections * 7) / 8);
}

/** The open connections at or below which a stopped worker accepts again: 3/4 of `worker_connections`. */
export function resumeThreshold(workerConnections: number): number {
  return Math.floor((workerConnections * 3) / 4);
}

/** A listening handle as a cluster worker has it: `close` is cluster's wrapper, the prototype's the native one. */
interface ListenHandle {
  close(): void;
}

/** Node's listening server with the handle it accepts on (not in Node's public types). */
type HandleServer = Server & { _handle: ListenHandle | null };

type GateState = 'open' | 'held' | 'paused' | 'resuming' | 'stopped';

/** Stops and resumes accepting on every listening server of a worker, by its count of open connections. */
export class AcceptGate {
  private state: GateState = 'open';
  /** The master said: accept until full (set while resuming for it). */
  private hold = false;
  private readonly pauseAt: number;
  private readonly resumeAt: number;
  /** Each stopped server's handle, still registered with the master: its wrapper is called on resume. */
  private readonly registered = new Map<Server, ListenHandle>();

  constructor(
    private readonly servers: readonly GatedServer[],
    private readonly peers: AcceptPeers,
    workerConnections: number,
    /** The worker's open connections now (what `worker_connections` counts). */
    private readonly openNow: () => number,
    private readonly log: Logger,
  ) {
    this.pauseAt = pauseThreshold(workerConnections);
    this.resumeAt = resumeThreshold(workerConnections);
    peers.onAdvice((advice) => (advice === 'hold' ? this.holdOpen() : this.release()));
  }

  /** After a connection was accepted, with the count now open. */
  opened(open: number): void {
    if (open > this.pauseAt && this.state === 'open') this.pause(open);
  }

  /** After a connection closed, with the count now open. */
  closed(open: number): void {
    if (open > this.resumeAt) return;
    if (this.state === 'paused') this.resume(open);
    else if (this.state === 'held') this.state = 'open';
  }

  /** True while this worker does not accept. */
  get paused(): boolean {
    return this.state === 'paused' || this.state === 'resuming';
  }

  /**
   * For shutdown: nothing is paused or resumed any more. A stopped server stays closed and
   * leaves the master's shared handle now (were its socket dropped by a reload, the master
   * closes it rather than keep it for a worker that only drains).
   */
  stop(): void {
    this.state = 'stopped';
    for (const handle of this.registered.values()) handle.close();
    this.registered.clear();
  }

  private pause(open: number): void {
    this.state = 'paused';
    for (const { server } of this.servers) {
      const gated = server as HandleServer;
      const handle = gated._handle;
      if (!handle) continue;
      (Object.getPrototypeOf(handle) as ListenHandle).close.call(handle);
      gated._handle = null;
      this.registered.set(server, handle);
    }
    this.log.info(`${open} worker_connections in use: stopped accepting, other worker processes take new connections`);
    this.peers.paused();
  }

  /** The master: every other worker stopped, accept until full. */
  private holdOpen(): void {
    if (this.state === 'paused') {
      this.hold = true;
      this.resume(this.openNow());
    } else if (this.state === 'resuming') this.hold = true;
  }

  /** The master: a sibling accepts again, stop again if past the line. */
  private release(): void {
    this.hold = false;
    if (this.state !== 'held') return;
    this.state = 'open';
    this.opened(this.openNow());
  }

  private resume(open: number): void {
    this.state = 'resuming';
    let waiting = this.servers.length;
    let failed = false;
    const done = () => {
      if (--waiting > 0 || this.state !== 'resuming') return;
      if (failed) {
        // Tried again at the next close.
        this.state = 'paused';
        return;
      }
      this.state = this.hold ? 'held' : 'open';
      this.hold = false;
      this.peers.resumed();
      this.log.info(`${open} worker_connections in use: accepting again`);
      // Connections may have come (through a listener that was back first) meanwhile.
      this.opened(this.openNow());
    };
    for (const { server, options } of this.servers) {
      if (server.listening) {
        done();
        continue;
      }
      const handle = this.registered.get(server);
      this.registered.delete(server);
      // Cluster's wrapper: off the master's shared handle (its native close already ran).
      handle?.close();
      const onListening = () => {
        server.off('error', onError);
        done();
      };
      const onError = (err: Error) => {
        server.off('listening', onListening);
        (this.log.alert ?? this.log.crit).call(this.log, `could not listen again after stopping accepting: ${err.message}`);
        failed = true;
        done();
      };
      server.once('listening', onListening);
      server.once('error', onError);
      server.listen(options);
    }
  }
}
