/**
 * The worker's side of stopping to accept (src/server/accept-gate.ts), on stand-ins for Node's
 * listening servers: past 7/8 of worker_connections the listening handle's native close runs
 * (the worker stays on the master's shared handle); at 3/4 cluster's wrapper runs and the server
 * listens again; the master's 'hold' makes a stopped worker accept until full, 'release' lets it
 * stop again.
 */
import { EventEmitter } from 'node:events';
import type { Server } from 'node:net';
import { AcceptGate, pauseThreshold, resumeThreshold, type AcceptPeers } from '../src/server/accept-gate';
import type { Logger } from '../src/types';

/** A listening server as a cluster worker has it: a handle whose own `close` is cluster's wrapper. */
class FakeServer extends EventEmitter {
  calls: string[] = [];
  _handle: { close(): void } | null = null;

  /** As Node's: listening while it has a handle. */
  get listening(): boolean {
    return this._handle !== null;
  }

  constructor() {
    super();
    this.listenNow();
  }

  private listenNow(): void {
    const calls = this.calls;
    const native = { close: () => calls.push('native close') };
    const handle = Object.create(native) as { close(): void };
    handle.close = () => calls.push('cluster close');
    this._handle = handle;
  }

  listen(options: unknown): this {
    this.calls.push(`listen ${JSON.stringify(options)}`);
    setImmediate(() => {
      this.listenNow();
      this.emit('listening');
    });
    return this;
  }
}

const quiet: Logger = { debug() {}, info() {}, notice() {}, warn() {}, error() {}, crit() {} };
const flush = () => new Promise((resolve) => setImmediate(resolve));

function setUp() {
  const told: string[] = [];
  let advise: (advice: 'hold' | 'release') => void = () => {};
  const peers: AcceptPeers = {
    paused: () => told.push('paused'),
    resumed: () => told.push('resumed'),
    onAdvice: (listener) => (advise = listener),
  };
  const servers = [new FakeServer(), new FakeServer()];
  let open = 0;
  const gate = new AcceptGate(
    servers.map((server, i) => ({ server: server as unknown as Server, options: { port: i } })),
    peers,
    40,
    () => open,
    quiet,
  );
  const accept = (n: number) => {
    for (let i = 0; i < n; i++) gate.opened(++open);
  };
  const close = (n: number) => {
    for (let i = 0; i < n; i++) gate.closed(--open);
  };
  return { gate, servers, told, accept, close, advise: (a: 'hold' | 'release') => advise(a) };
}

test('thresholds: more than 7/8 stops, 3/4 resumes', () => {
  expect([pauseThreshold(40), resumeThreshold(40)]).toEqual([35, 30]);
  expect([pauseThreshold(19500), resumeThreshold(19500)]).toEqual([17062, 14625]);
});

test('past 7/8 every listener is closed natively, the worker left on the master; at 3/4 it listens again', async () => {
  const { gate, servers, told, accept, close } = setUp();
  accept(35);
  expect(gate.paused).toBe(false);
  accept(1);
  expect(gate.paused).toBe(true);
  expect(servers.map((s) => [s.calls, s._handle])).toEqual([
    [['native close'], null],
    [['native close'], null],
  ]);
  expect(told).toEqual(['paused']);
  close(5);
  expect(servers[0].calls).toEqual(['native close']);
  close(1);
  await flush();
  expect(servers.map((s) => s.calls)).toEqual([
    ['native close', 'cluster close', 'listen {"port":0}'],
    ['native close', 'cluster close', 'listen {"port":1}'],
  ]);
  expect(told).toEqual(['paused', 'resumed']);
  expect(gate.paused).toBe(false);
});

test("the master's hold: a stopped worker accepts until full, then may stop again once released", async () => {
  const { gate, servers, told, accept, advise } = setUp();
  accept(36);
  advise('hold');
  await flush();
  expect(gate.paused).toBe(false);
  expect(told).toEqual(['paused', 'resumed']);
  accept(4);
  expect(gate.paused).toBe(false);
  advise('release');
  expect(gate.paused).toBe(true);
  expect(told).toEqual(['paused', 'resumed', 'paused']);
  expect(servers[0].calls.filter((c) => c === 'native close')).toHaveLength(2);
});

test('stop (drain) while stopped: the listeners leave the master now and are not listened again', async () => {
  const { gate, servers, accept, close } = setUp();
  accept(36);
  gate.stop();
  expect(servers.map((s) => s.calls)).toEqual([
    ['native close', 'cluster close'],
    ['native close', 'cluster close'],
  ]);
  close(20);
  await flush();
  expect(servers[0].calls).toEqual(['native close', 'cluster close']);
});
