/**
 * Loopback ports for the tests' own servers: a free one, and waiting until a started process
 * (nginx, a backend) listens on one.
 */
import type { ChildProcess } from 'node:child_process';
import net from 'node:net';

/** A free loopback port: listen on 0, note it, close. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

/** Resolves once 127.0.0.1:`port` accepts a connection; throws when `child` exits first or after 5 s. */
export async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${child.spawnfile} exited with ${child.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`${child.spawnfile} does not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
