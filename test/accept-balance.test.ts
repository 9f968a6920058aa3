/**
 * A worker nearly full stops accepting and its sibling takes the new connections (nginx's
 * `ngx_accept_disabled`, `src/server/accept-gate.ts`): with 2 workers of 40
 * `worker_connections`, 60 WebSockets opened at once are all served, though one worker alone
 * could not hold them (before, the worker that won the accepts took more than it could hold and
 * closed the rest: "40 worker_connections are not enough"). Once they leave, the workers'
 * descriptors are back at their baseline; a reload with them open drops none.
 */
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import WebSocket from 'ws';
import { startGateway, waitForWorkers, type GatewayProcess } from './helpers/gateway-process';
import { closeAll, connectionOwner, echoAll, fdTotal, workerPids } from './helpers/push-clients';

const WORKER_CONNECTIONS = 40;
const OPEN = 60;

const YAML = `
worker_processes: 2
error_log: stderr info
pid: off
events:
  worker_connections: ${WORKER_CONNECTIONS}
http:
  access_log: "off"
  servers:
    - listen: 127.0.0.1:0
      locations:
        - location: /s
          handler: websocket-script
          script: echo
          timeout: 50000
`;

/** The same with a second listener (a static location) that a reload may drop. */
const TWO_LISTENERS = `${YAML}    - listen: 127.0.0.2:0
      locations:
        - location: /
          return: 200 ok
`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function until(check: () => boolean, what: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Opens `count` WebSockets at once; resolves with those that opened and how many failed. */
async function openAtOnce(port: number, count: number): Promise<{ open: WebSocket[]; failed: number }> {
  const attempts = Array.from(
    { length: count },
    () =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/s`, { perMessageDeflate: false });
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
        ws.once('close', () => reject(new Error('closed before it opened')));
      }),
  );
  const settled = await Promise.allSettled(attempts);
  const open = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  return { open, failed: count - open.length };
}

/** How many of `clients` each worker holds. */
function perWorker(gw: GatewayProcess, clients: readonly WebSocket[]): Map<number | null, number> {
  const pids = workerPids(gw.child.pid!);
  const counts = new Map<number | null, number>();
  for (const ws of clients) {
    const local = (ws as unknown as { _socket: { localPort: number } })._socket.localPort;
    const owner = connectionOwner(gw.ports[0], local, pids);
    counts.set(owner, (counts.get(owner) ?? 0) + 1);
  }
  return counts;
}

describe('a nearly full worker leaves new connections to its sibling', () => {
  let gw: GatewayProcess;
  let clients: WebSocket[] = [];

  beforeEach(async () => {
    gw = await startGateway(YAML);
    await waitForWorkers(gw, 2);
  });

  afterEach(async () => {
    await closeAll(clients);
    clients = [];
    await gw.stop();
  });

  test('more connections than one worker holds, opened at once, are all served; descriptors back at baseline after', async () => {
    const pids = workerPids(gw.child.pid!);
    const baseline = fdTotal(pids);
    const { open, failed } = await openAtOnce(gw.ports[0], OPEN);
    clients = open;
    expect({ failed, notEnough: gw.stderr().includes('worker_connections are not enough') }).toEqual({ failed: 0, notEnough: false });
    expect(await echoAll(clients)).toBe(0);
    const counts = perWorker(gw, clients);
    for (const held of counts.values()) expect(held).toBeLessThanOrEqual(WORKER_CONNECTIONS);
    expect(counts.has(null)).toBe(false);
    await closeAll(clients);
    clients = [];
    await until(() => fdTotal(pids) <= baseline, `the workers' descriptors back at ${baseline} (now ${fdTotal(pids)})`, 10000);
    // Both workers accept again: a second round is served the same.
    const again = await openAtOnce(gw.ports[0], OPEN);
    clients = again.open;
    expect(again.failed).toBe(0);
    expect(await echoAll(clients)).toBe(0);
  });

  test('when both are full, the last to stop accepts until full and closes the rest, as nginx; none waits unserved', async () => {
    const pids = workerPids(gw.child.pid!);
    const baseline = fdTotal(pids);
    const { open, failed } = await openAtOnce(gw.ports[0], 2 * WORKER_CONNECTIONS + 10);
    clients = open;
    // Between 2 x 7/8 and 2 x 40 are held; every other attempt was closed, none left waiting.
    expect(open.length).toBeGreaterThanOrEqual(2 * 35);
    expect(open.length + failed).toBe(2 * WORKER_CONNECTIONS + 10);
    expect(gw.stderr()).toContain('worker_connections are not enough');
    expect(await echoAll(clients)).toBe(0);
    for (const held of perWorker(gw, clients).values()) expect(held).toBeLessThanOrEqual(WORKER_CONNECTIONS);
    await closeAll(clients);
    clients = [];
    await until(() => fdTotal(pids) <= baseline, `the workers' descriptors back at ${baseline} (now ${fdTotal(pids)})`, 10000);
    // Both accept again once they have room.
    const again = await openAtOnce(gw.ports[0], OPEN);
    clients = again.open;
    expect(again.failed).toBe(0);
    expect(await echoAll(clients)).toBe(0);
  });

  test('a listener a reload drops is closed, though a worker that stopped accepting on it still drains', async () => {
    await gw.stop();
    gw = await startGateway(TWO_LISTENERS, { listeners: 2 });
    await waitForWorkers(gw, 2);
    // More than both can hold below 7/8: one of them stops accepting.
    const { open, failed } = await openAtOnce(gw.ports[0], 2 * 35 + 2);
    clients = open;
    expect(failed).toBe(0);
    await until(() => gw.stderr().includes('stopped accepting'), 'a worker to stop accepting', 5000);
    // The new configuration keeps the first listener only (port 0 again: cluster hands the new
    // workers the same socket).
    writeFileSync(path.join(gw.prefix, 'conf', 'test.yaml'), YAML);
    process.kill(gw.child.pid!, 'SIGHUP');
    await until(() => gw.stderr().includes('reload: new worker processes ready'), 'the new workers', 20000);
    // The old workers still hold their WebSockets.
    expect(await echoAll(clients)).toBe(0);
    // The old workers leave the dropped listener as they begin to drain: it refuses within a few
    // seconds (before, a stopped worker kept it open, connected and never served, until it exited).
    let outcome = '';
    const deadline = Date.now() + 8000;
    while (outcome !== 'ECONNREFUSED' && Date.now() < deadline) {
      outcome = await new Promise<string>((resolve) => {
        const socket = net.connect(gw.ports[1], '127.0.0.2');
        socket.once('connect', () => {
          socket.destroy();
          resolve('connected');
        });
        socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      });
      if (outcome !== 'ECONNREFUSED') await sleep(200);
    }
    expect(outcome).toBe('ECONNREFUSED');
  });

  test('a reload with them open drops none, and the new workers take new ones', async () => {
    const { open, failed } = await openAtOnce(gw.ports[0], OPEN);
    clients = open;
    expect(failed).toBe(0);
    const oldPids = workerPids(gw.child.pid!);
    process.kill(gw.child.pid!, 'SIGHUP');
    await until(() => gw.stderr().includes('reload: new worker processes ready'), 'the new workers', 20000);
    expect(await echoAll(clients)).toBe(0);
    for (const pid of oldPids) expect(workerPids(gw.child.pid!)).toContain(pid);
    const fresh = await openAtOnce(gw.ports[0], OPEN);
    clients.push(...fresh.open);
    expect(fresh.failed).toBe(0);
    expect(await echoAll(fresh.open)).toBe(0);
    expect(gw.stderr()).not.toContain('worker_connections are not enough');
  });
});
