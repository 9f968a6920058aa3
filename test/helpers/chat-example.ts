/**
 * conf/examples/chat.yaml as the tests run it (a free loopback port, its error log on stderr),
 * and which of its two workers holds a client's connection.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { ROOT, startGateway, type GatewayProcess } from './gateway-process';
import { connectionOwner, workerPids } from './push-clients';

/** Starts the chat example with both its workers listening. */
export function startChatExample(): Promise<GatewayProcess> {
  const yaml = readFileSync(path.join(ROOT, 'conf/examples/chat.yaml'), 'utf8');
  const moved = yaml
    .replace('listen: 8083', 'listen: "127.0.0.1:0"')
    .replace('error_log: logs/error.log info', 'error_log: stderr info\npid: off')
    .replace('http:\n', 'http:\n  access_log: "off"\n');
  if (!moved.includes('127.0.0.1:0') || !moved.includes('pid: off') || !/^worker_processes: 2\b/m.test(moved)) {
    throw new Error('conf/examples/chat.yaml changed: update test/helpers/chat-example.ts');
  }
  // Each worker logs its "listening on": wait for both, so either may take a connection.
  return startGateway(moved, { prefix: ROOT, listeners: 2 });
}

/** The worker that holds the server side of the connection from `clientPort` (null: none found). */
export function workerOf(gw: GatewayProcess, clientPort: number): number | null {
  return connectionOwner(gw.ports[0], clientPort, workerPids(gw.child.pid!));
}

/** The client ports of the gateway's established connections (to tell a browser's new one). */
export function clientPorts(gw: GatewayProcess): Set<number> {
  const local = `:${gw.ports[0].toString(16).toUpperCase().padStart(4, '0')}`;
  const ports = new Set<number>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // local address, remote address, state 01: ESTABLISHED.
    if (f.length > 3 && f[1].endsWith(local) && f[3] === '01') ports.add(parseInt(f[2].split(':')[1], 16));
  }
  return ports;
}

/** Resolves once `check` holds, polling every 20 ms; rejects after `ms` saying what it waited for. */
export async function until(check: () => boolean, what: string, ms = 10000): Promise<void> {
  for (const end = Date.now() + ms; !check(); ) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
