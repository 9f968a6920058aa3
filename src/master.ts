/**
 * Running a configuration like nginx: one process for `worker_processes 1`, else a master
 * (node:cluster) with N workers sharing the listening sockets, restarted when they die; the
 * pid file; signals TERM/INT (stop), QUIT (graceful quit), USR1 (reopen logs), HUP (reload).
 */
import cluster from 'node:cluster';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { MainConf } from './config/model';
import { createErrorLog, LogFiles } from './log';
import { Gateway } from './server';
import type { Logger } from './types';
import { version } from './version';

/** Starts the gateway in this process, or as master and workers. Resolves once it serves. */
export async function run(conf: MainConf): Promise<void> {
  const files = new LogFiles();
  const log = createErrorLog(conf.errorLog, files);
  process.on('uncaughtException', (err) => log.crit(`uncaught exception: ${err.stack ?? err}`));
  process.on('unhandledRejection', (err) => log.crit(`unhandled rejection: ${(err as Error)?.stack ?? err}`));
  if (cluster.isPrimary && conf.workerProcesses > 1) return runMaster(conf, log, files);
  const gateway = new Gateway(conf, log, files);
  try {
    await gateway.start();
  } catch (err) {
    log.crit((err as Error).message);
    await files.close();
    throw err;
  }
  if (cluster.isPrimary) writePid(conf);
  log.notice(`gateway/${version} started, ${cluster.isPrimary ? 'single process' : `worker ${process.pid}`}`);
  const exit = async (graceful: boolean) => {
    log.notice(graceful ? 'gracefully shutting down' : 'exiting');
    await (graceful ? gateway.drain() : gateway.close());
    if (cluster.isPrimary) removePid(conf);
    await files.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void exit(false));
  process.once('SIGINT', () => void exit(false));
  process.once('SIGQUIT', () => void exit(true));
  process.on('SIGUSR1', () => files.reopen());
  process.on('SIGHUP', () => log.warn('reload is not implemented yet: restart the gateway to apply a new configuration'));
  if (!cluster.isPrimary) process.on('message', (msg) => msg === 'quit' && void exit(true));
}

function runMaster(conf: MainConf, log: Logger, files: LogFiles): Promise<void> {
  let stopping = false;
  const fork = () => cluster.fork();
  for (let i = 0; i < conf.workerProcesses; i++) fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    log.error(`worker process ${worker.process.pid} exited with code ${code ?? signal}; starting a new one`);
    fork();
  });
  const stop = (signal: NodeJS.Signals) => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (signal === 'SIGQUIT') worker?.send('quit');
      else worker?.process.kill('SIGTERM');
    }
    const done = () => {
      if (Object.keys(cluster.workers ?? {}).length > 0) return;
      removePid(conf);
      void files.close().then(() => process.exit(0));
    };
    cluster.on('exit', done);
    done();
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGTERM'));
  process.once('SIGQUIT', () => stop('SIGQUIT'));
  process.on('SIGUSR1', () => {
    files.reopen();
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGUSR1');
  });
  process.on('SIGHUP', () => log.warn('reload is not implemented yet: restart the gateway to apply a new configuration'));
  writePid(conf);
  log.notice(`gateway/${version} master started with ${conf.workerProcesses} worker processes`);
  return new Promise((resolve) => {
    let online = 0;
    cluster.on('listening', () => ++online === conf.workerProcesses && resolve());
  });
}

function writePid(conf: MainConf): void {
  if (!conf.pid) return;
  mkdirSync(path.dirname(conf.pid), { recursive: true });
  writeFileSync(conf.pid, `${process.pid}\n`);
}

function removePid(conf: MainConf): void {
  if (conf.pid) rmSync(conf.pid, { force: true });
}
