/**
 * Runs the real `bin/gateway` as a child process on a configuration written to a temporary
 * prefix, with listeners on port 0; learns the bound ports from its error log on stderr.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '../..');
export const GATEWAY_BIN = path.join(ROOT, 'bin/gateway');

/** A running gateway process. */
export interface GatewayProcess {
  readonly child: ChildProcess;
  /** The prefix (a temporary one holds the configuration at conf/test.yaml). */
  readonly prefix: string;
  /** Bound ports in listen order. */
  readonly ports: number[];
  /** Everything written to stderr so far. */
  stderr(): string;
  /** SIGTERM, wait for exit, remove the prefix unless `keep`. */
  stop(keep?: boolean): Promise<number | null>;
}

/**
 * Waits until the master says its `count` workers started (so that connections can be spread
 * over them); throws after `timeoutMs`.
 */
export async function waitForWorkers(gw: GatewayProcess, count: number, timeoutMs = 10000): Promise<void> {
  const started = new RegExp(`master process \\d+ started with ${count} worker processes`);
  const deadline = Date.now() + timeoutMs;
  while (!started.test(gw.stderr())) {
    if (Date.now() > deadline) throw new Error(`the ${count} workers did not start within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Expects the gateway's stderr to hold `what`, waiting up to `timeoutMs` (a worker writes its
 * log line after the answer went out).
 */
export async function expectLogged(gw: GatewayProcess, what: string | RegExp, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const found = () => (typeof what === 'string' ? gw.stderr().includes(what) : what.test(gw.stderr()));
  while (!found() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  if (typeof what === 'string') expect(gw.stderr()).toContain(what);
  else expect(gw.stderr()).toMatch(what);
}

/** Makes a temporary prefix with `files` (relative path -> content). */
export function makePrefix(files: Record<string, string | Buffer> = {}): string {
  const prefix = mkdtempSync(path.join(os.tmpdir(), 'gateway-test-'));
  for (const [name, content] of Object.entries(files)) {
    const file = path.join(prefix, name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
  return prefix;
}

/**
 * Runs `bin/gateway` with `args` and collects its exit code and output; `env` is added to the
 * environment (jest's `process.env` is the test file's own copy, which children do not see).
 */
export function runCli(args: string[], cwd = ROOT, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [GATEWAY_BIN, ...args], { cwd, env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Starts the gateway on `yaml` (its listeners should use port 0 and `error_log: stderr notice`
 * or lower), resolving once `listeners` sockets are bound; `env` is added to its environment.
 * `confName` names the configuration file (`test.yaml`; `test.conf` for nginx's syntax);
 * `nodeArgs` go to node before bin/gateway (V8's options, e.g. `--trace-gc`: workers inherit them).
 */
export async function startGateway(
  yaml: string,
  options: { files?: Record<string, string | Buffer>; listeners?: number; prefix?: string; uid?: number; env?: NodeJS.ProcessEnv; confName?: string; nodeArgs?: string[] } = {},
): Promise<GatewayProcess> {
  if (options.prefix && options.files) throw new Error('give files or a prefix, not both');
  const ownPrefix = !options.prefix;
  const prefix = options.prefix ?? makePrefix(options.files);
  // With a given prefix (the project itself), the configuration goes to a temporary folder.
  const confDir = ownPrefix ? path.join(prefix, 'conf') : mkdtempSync(path.join(os.tmpdir(), 'gateway-conf-'));
  const conf = path.join(confDir, options.confName ?? 'test.yaml');
  mkdirSync(path.dirname(conf), { recursive: true });
  writeFileSync(conf, yaml);
  const ids = options.uid === undefined ? {} : { uid: options.uid, gid: options.uid };
  if (ids.uid !== undefined) for (const dir of [prefix, confDir]) chmodSync(dir, 0o755);
  const env = { ...process.env, ...options.env };
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), GATEWAY_BIN, '-p', prefix, '-c', conf], { cwd: prefix, stdio: ['ignore', 'pipe', 'pipe'], env, ...ids });
  let stderr = '';
  const ports: number[] = [];
  const wanted = options.listeners ?? 1;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`gateway did not start (its error log must be on stderr at notice or lower):\n${stderr}`));
    }, 15000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
      for (const m of d.toString().matchAll(/listening on \S+ \((.*):(\d+)\)/g)) ports.push(Number(m[2]));
      if (ports.length >= wanted) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`gateway exited with ${code}:\n${stderr}`));
    });
  });
  child.removeAllListeners('exit');
  return {
    child,
    prefix,
    ports,
    stderr: () => stderr,
    stop: (keep = false) =>
      new Promise((resolve) => {
        const done = (code: number | null) => {
          if (!keep) rmSync(ownPrefix ? prefix : confDir, { recursive: true, force: true });
          resolve(code);
        };
        if (child.exitCode !== null || child.signalCode !== null) return done(child.exitCode);
        child.once('exit', (code) => done(code));
        child.kill('SIGTERM');
      }),
  };
}

/** conf/site.yaml with its listener moved to a free loopback port, its error log to stderr, no pid file. */
export function seedConfigForTest(): string {
  const yaml = readFileSync(path.join(ROOT, 'conf/site.yaml'), 'utf8');
  const moved = yaml
    .replace('listen: "8080 so_keepalive=2s:2s:8"', 'listen: "127.0.0.1:0 so_keepalive=2s:2s:8"')
    .replace('error_log: logs/error.log info', 'error_log: stderr info\npid: off');
  if (moved === yaml) throw new Error('conf/site.yaml changed: update this test');
  return moved;
}
