/**
 * Runs one site twice, on loopback: real nginx (found on PATH or at /usr/sbin/nginx) and the
 * gateway (`bin/gateway`, built by `npm run build`), both with the same prefix, the same files
 * and the same MIME types file, each on its own free ports. nginx missing is an error, never
 * a skip: the suite must not pass without its oracle.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startGateway, type GatewayProcess } from '../helpers/gateway-process';
import { MIME_TYPES, renderGateway, renderNginx, slotsOf, type SiteModel } from './site';

/** A file of the site: its content, or a symbolic link to `symlink` (written as given). */
export type SiteFile = string | Buffer | { readonly symlink: string };

/** Where one side listens: the port of each slot, and the address of each slot. */
export interface Side {
  readonly name: 'nginx' | 'gateway';
  readonly ports: readonly number[];
  readonly hosts: readonly string[];
}

/** Both servers of one site, running. */
export interface Pair {
  /** The shared prefix: the site's files are under it. */
  readonly prefix: string;
  readonly nginx: Side;
  readonly gateway: Side;
  /** Everything nginx wrote to stderr so far (its error log). */
  nginxLog(): string;
  /** Everything the gateway wrote to stderr so far. */
  gatewayLog(): string;
  stop(): Promise<void>;
}

/** The content of the file kept outside every root: no response may ever contain it. */
export const SECRET = 'TOP-SECRET-7f3a9c: this file is outside the document root';

/** The nginx binary: `nginx` on PATH, else Debian's /usr/sbin/nginx. Throws when there is none. */
export function findNginx(): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'nginx');
    if (dir && existsSync(candidate)) return candidate;
  }
  if (existsSync('/usr/sbin/nginx')) return '/usr/sbin/nginx';
  throw new Error('the parity suite needs nginx: install Debian\'s nginx-extras (npm test\'s pretest does it as root)');
}

/** A socket bound to a free port on `host` (port 0), kept open until the caller closes it. */
function bindFree(host: string): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => resolve(server));
  });
}

/**
 * Free ports for both sides' slots, all distinct: every probe socket stays bound until all
 * are chosen (closed one by one, the kernel could hand the same port out twice).
 */
async function portsFor(slots: Map<number, boolean>): Promise<{ ports: number[]; hosts: string[] }[]> {
  const probes: net.Server[] = [];
  try {
    const sides = [];
    for (let side = 0; side < 2; side++) {
      const ports: number[] = [];
      const hosts: string[] = [];
      for (const [slot, ipv6] of [...slots].sort((a, b) => a[0] - b[0])) {
        hosts[slot] = ipv6 ? '::1' : '127.0.0.1';
        const probe = await bindFree(hosts[slot]);
        probes.push(probe);
        ports[slot] = (probe.address() as net.AddressInfo).port;
      }
      sides.push({ ports, hosts });
    }
    return sides;
  } finally {
    await Promise.all(probes.map((p) => new Promise((resolve) => p.close(resolve))));
  }
}

function writeFiles(prefix: string, files: Readonly<Record<string, SiteFile>>): void {
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(prefix, name);
    mkdirSync(path.dirname(file), { recursive: true });
    if (typeof content === 'object' && !Buffer.isBuffer(content)) symlinkSync(content.symlink, file);
    else writeFileSync(file, content);
  }
}

/** Resolves once `host:port` accepts a connection; rejects after `ms`. */
async function waitForPort(host: string, port: number, ms: number, exited: () => string | null): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const failure = exited();
    if (failure !== null) throw new Error(failure);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, host, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function startNginx(binary: string, conf: string, prefix: string, side: { ports: number[]; hosts: string[] }) {
  const check = spawnSync(binary, ['-t', '-p', `${prefix}/`, '-c', conf, '-e', 'stderr'], { encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`nginx rejects the rendered config:\n${check.stderr}`);
  const child: ChildProcess = spawn(binary, ['-p', `${prefix}/`, '-c', conf, '-e', 'stderr'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr!.on('data', (d: Buffer) => (log += d));
  const exited = () => (child.exitCode !== null || child.signalCode !== null ? `nginx exited (${child.exitCode ?? child.signalCode}):\n${log}` : null);
  for (const [slot, port] of side.ports.entries()) if (port !== undefined) await waitForPort(side.hosts[slot], port, 5000, exited);
  return { child, log: () => log };
}

/** Stops nginx by its PID (SIGQUIT after SIGTERM would be graceful; tests want it gone now). */
function stopNginx(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    process.kill(child.pid!, 'SIGTERM');
  });
}

/**
 * Starts nginx and the gateway on `site`, with `files` written under a fresh prefix (plus
 * `secret.txt` at the prefix's top, outside any root the cases use, and the types file);
 * `prepare` runs on the prefix once the files are written. A start that fails (another
 * process took a chosen port in between) is tried again on new ports, up to three times.
 */
export async function startPair(site: SiteModel, files: Readonly<Record<string, SiteFile>>, prepare?: (prefix: string) => void): Promise<Pair> {
  const failures: string[] = [];
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await startPairOnce(site, files, prepare);
    } catch (err) {
      if (/needs nginx|rejects the rendered config/.test(String(err))) throw err;
      failures.push(`attempt ${attempt}: ${(err as Error).message}`);
    }
  }
  throw new Error(`nginx and the gateway did not start:\n${failures.join('\n')}`);
}

async function startPairOnce(site: SiteModel, files: Readonly<Record<string, SiteFile>>, prepare?: (prefix: string) => void): Promise<Pair> {
  const binary = findNginx();
  const prefix = mkdtempSync(path.join(os.tmpdir(), 'gateway-parity-'));
  const mimeTypes = path.join(prefix, 'mime.types');
  let nginx: Awaited<ReturnType<typeof startNginx>> | null = null;
  let gateway: GatewayProcess | null = null;
  const slots = slotsOf(site);
  const [nginxSide, gatewaySide] = await portsFor(slots);
  try {
    writeFiles(prefix, { 'mime.types': MIME_TYPES, 'secret.txt': SECRET, ...files });
    prepare?.(prefix);
    mkdirSync(path.join(prefix, 'nginx-temp'));
    const conf = path.join(prefix, 'nginx.conf');
    writeFileSync(conf, renderNginx(site, { prefix, mimeTypes }, nginxSide.ports));
    nginx = await startNginx(binary, conf, prefix, nginxSide);
    const yaml = renderGateway(site, { prefix, mimeTypes }, gatewaySide.ports);
    gateway = await startGateway(yaml, { prefix, listeners: slots.size });
  } catch (err) {
    if (nginx) await stopNginx(nginx.child);
    rmSync(prefix, { recursive: true, force: true });
    throw err;
  }
  const [n, g] = [nginx, gateway];
  return {
    prefix,
    nginx: { name: 'nginx', ...nginxSide },
    gateway: { name: 'gateway', ...gatewaySide },
    nginxLog: () => n.log(),
    gatewayLog: () => g.stderr(),
    async stop() {
      await Promise.all([stopNginx(n.child), g.stop()]);
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}
