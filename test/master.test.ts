/** Running like nginx: the pid file, worker processes sharing the socket, a dead worker replaced, -s stop/quit/reopen. */
import { existsSync, readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { startGateway, runCli, waitForWorkers } from './helpers/gateway-process';
import { request } from './helpers/http-client';

const conf = (workers: number) => `
worker_processes: ${workers}
error_log: stderr notice
pid: logs/gateway.pid
http:
  access_log: logs/access.log
  servers:
    - listen: "127.0.0.1:0"
      locations:
        - { location: /, return: "200 $pid" }
`;

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 20));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

test('master and one worker: pid file written, -s reopen reopens logs, -s stop removes the pid file', async () => {
  const gw = await startGateway(conf(1));
  const pidFile = path.join(gw.prefix, 'logs/gateway.pid');
  try {
    expect(Number(readFileSync(pidFile, 'utf8'))).toBe(gw.child.pid);
    const workerPid = (await request(gw.ports[0], '/')).body.toString();
    expect(workerPid).not.toBe(String(gw.child.pid));
    expect(gw.stderr()).toContain(`worker process ${workerPid} started`);
    const log = path.join(gw.prefix, 'logs/access.log');
    await until(() => existsSync(log) && readFileSync(log, 'utf8').includes('"GET / HTTP/1.1" 200'), 'the access log');
    renameSync(log, `${log}.1`);
    expect((await runCli(['-p', gw.prefix, '-c', 'conf/test.yaml', '-s', 'reopen'])).code).toBe(0);
    await new Promise((r) => setTimeout(r, 200));
    await request(gw.ports[0], '/after-reopen');
    await until(() => existsSync(log) && readFileSync(log, 'utf8').includes('/after-reopen'), 'the reopened log');
    expect(readFileSync(`${log}.1`, 'utf8')).not.toContain('/after-reopen');
    const exited = new Promise((r) => gw.child.once('exit', r));
    expect((await runCli(['-p', gw.prefix, '-c', 'conf/test.yaml', '-s', 'stop'])).code).toBe(0);
    await exited;
    expect(existsSync(pidFile)).toBe(false);
  } finally {
    await gw.stop();
  }
});

test('worker_processes 2: both serve the shared socket, a killed worker is replaced, quit drains', async () => {
  const gw = await startGateway(conf(2));
  try {
    const pids = new Set<string>();
    for (let i = 0; i < 200 && pids.size < 2; i++) pids.add((await request(gw.ports[0], '/')).body.toString());
    expect(pids.size).toBe(2);
    expect(pids.has(String(gw.child.pid))).toBe(false);
    await waitForWorkers(gw, 2, 20000);
    const victim = Number([...pids][0]);
    process.kill(victim, 'SIGKILL');
    await until(() => new RegExp(`worker process ${victim} exited on signal SIGKILL; starting a new one`).test(gw.stderr()), 'the restart');
    await until(() => (gw.stderr().match(/worker process \d+ started/g) ?? []).length >= 3, 'the new worker');
    const after = new Set<string>();
    for (let i = 0; i < 200 && after.size < 2; i++) after.add((await request(gw.ports[0], '/')).body.toString());
    expect(after.size).toBe(2);
    expect(after.has(String(victim))).toBe(false);
    const exited = new Promise<number | null>((r) => gw.child.once('exit', r));
    gw.child.kill('SIGQUIT');
    expect(await exited).toBe(0);
    expect(existsSync(path.join(gw.prefix, 'logs/gateway.pid'))).toBe(false);
  } finally {
    await gw.stop();
  }
});

test('master_process off: one process serves, as nginx\'s debugging mode', async () => {
  const gw = await startGateway(conf(1).replace('worker_processes: 1', 'master_process: off'));
  try {
    expect((await request(gw.ports[0], '/')).body.toString()).toBe(String(gw.child.pid));
    expect(Number(readFileSync(path.join(gw.prefix, 'logs/gateway.pid'), 'utf8'))).toBe(gw.child.pid);
  } finally {
    await gw.stop();
  }
});

test('a gateway whose stderr reader went away keeps serving, drops its log lines, and stops on TERM', async () => {
  const gw = await startGateway(`
worker_processes: 1
error_log: stderr info
pid: off
http:
  access_log: "off"
  servers:
    - listen: "127.0.0.1:0"
      root: html
      locations:
        - { location: /ok, return: "200 ok" }
        - { location: / }
`);
  const exited = new Promise<number | null>((resolve) => gw.child.once('exit', (code) => resolve(code)));
  try {
    await waitForWorkers(gw, 1);
    // The pipe's reader closes: every error log line is now an EPIPE in both processes (each
    // missing file logs "open() ... failed"). Unhandled, that error became an uncaught exception
    // whose own line failed again, without end: a core spun and SIGTERM was never handled.
    gw.child.stderr!.destroy();
    // Bounded, so that a spinning gateway fails the test here and is killed below.
    const within = <T>(what: Promise<T>) => Promise.race([what, new Promise<string>((resolve) => setTimeout(() => resolve('no answer in 5 s'), 5000))]);
    for (let i = 0; i < 3; i++) expect(await within(request(gw.ports[0], `/missing-${i}.html`).then((res) => res.status))).toBe(404);
    expect(await within(request(gw.ports[0], '/ok').then((res) => res.body.toString()))).toBe('ok');
    gw.child.kill('SIGTERM');
    expect(await within(exited)).toBe(0);
  } finally {
    for (const pid of workerPidsOf(gw.child.pid!)) process.kill(pid, 'SIGKILL');
    if (gw.child.exitCode === null && gw.child.signalCode === null) gw.child.kill('SIGKILL');
    await exited;
    await gw.stop();
  }
}, 40000);

/** The pids of the master's children still running (none once it has exited). */
function workerPidsOf(master: number): number[] {
  try {
    return readFileSync(`/proc/${master}/task/${master}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}
