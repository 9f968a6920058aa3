/**
 * The master process, as nginx's: it holds the pid file, forks `worker_processes` workers
 * (node:cluster; they share the listening sockets and accept on them directly), restarts a
 * worker that dies, and answers signals: HUP reloads (check the new configuration, start new
 * workers with it, then let the old ones drain), QUIT quits gracefully, TERM/INT stop at once,
 * USR1 reopens the logs.
 */
import cluster, { type Worker } from 'node:cluster';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from './config/build';
import type { MainConf } from './config/model';
import { ConfigSources } from './config/sources';
import { sendToWorker } from './ipc';
import { createErrorLog, LogFiles } from './log';
import { serveInMaster } from './metrics/aggregate';
import { storeBackend } from './push/channels';
import { PushHub } from './push/hub';
import type { Logger } from './types';
import { version } from './version';
import { runWorker, type WorkerMessage } from './worker';

/** Starts the gateway: master and workers, a worker, or one process. Resolves once it serves. */
export async function run(conf: MainConf, sources: ConfigSources): Promise<void> {
  const files = new LogFiles();
  const log = createErrorLog(conf.errorLog, files);
  process.on('uncaughtException', (err) => log.crit(`uncaught exception: ${err.stack ?? err}`));
  process.on('unhandledRejection', (err) => log.crit(`unhandled rejection: ${(err as Error)?.stack ?? err}`));
  try {
    if (cluster.isWorker) return await runWorker(conf, log, files);
    if (!conf.masterProcess) {
      await runWorker(conf, log, files, () => removePid(conf));
      writePid(conf);
      return;
    }
    await new Master(conf, sources, log, files).start();
  } catch (err) {
    log.crit((err as Error).message);
    await files.close();
    throw err;
  }
}

/** The master: one generation of workers serves; older generations drain. */
class Master {
  private generation = 0;
  private current = new Set<Worker>();
  private stopping = false;
  private reloading = false;
  private reloadPending = false;
  private push: PushHub | null = null;

  constructor(
    private conf: MainConf,
    /** The files `conf` was read from: what every worker of this generation loads. */
    private sources: ConfigSources,
    private log: Logger,
    private readonly files: LogFiles,
  ) {}

  async start(): Promise<void> {
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    // Push messages carry Buffers between the master and its workers.
    cluster.setupPrimary({ serialization: 'advanced' });
    cluster.on('exit', (worker, code, signal) => this.onExit(worker, code, signal));
    // stub_status and metrics: a worker asks, the master sums every worker's counters.
    serveInMaster();
    // Push channels: the master holds them, so every worker shares them and they outlive reloads.
    this.push = new PushHub(storeBackend(this.conf, this.log), this.log);
    // Signals are answered from the start: a HUP that comes while workers start is a reload.
    process.once('SIGTERM', () => this.stop(false));
    process.once('SIGINT', () => this.stop(false));
    process.once('SIGQUIT', () => this.stop(true));
    process.on('SIGHUP', () => void this.reload());
    process.on('SIGUSR1', () => this.reopen());
    writePid(this.conf);
    try {
      this.current = await this.spawnGeneration();
    } catch (err) {
      removePid(this.conf);
      throw err;
    }
    this.runPendingReload();
    this.log.notice(`gateway/${version} master process ${process.pid} started with ${this.conf.workerProcesses} worker processes`);
  }

  /** Forks a generation of workers; resolves when all are ready, rejects if one dies first. */
  private spawnGeneration(): Promise<Set<Worker>> {
    const generation = ++this.generation;
    const workers = new Set<Worker>();
    return new Promise((resolve, reject) => {
      let ready = 0;
      for (let i = 0; i < this.conf.workerProcesses; i++) {
        const worker = cluster.fork({ GATEWAY_GENERATION: String(generation), ...this.sources.toEnv() });
        workers.add(worker);
        const failed = (code: number | null) => {
          for (const w of workers) w.process.kill('SIGTERM');
          reject(new Error(`worker process ${worker.process.pid} exited with code ${code} while starting`));
        };
        worker.once('exit', failed);
        worker.on('message', (msg: WorkerMessage) => {
          if (msg.type !== 'ready') return;
          worker.off('exit', failed);
          if (++ready === workers.size) resolve(workers);
        });
      }
    });
  }

  /** A worker of the serving generation that dies is replaced, as nginx does. */
  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    if (!this.current.has(worker) || this.stopping) return;
    this.current.delete(worker);
    this.log.error(`worker process ${worker.process.pid} exited ${signal ? `on signal ${signal}` : `with code ${code}`}; starting a new one`);
    const replacement = cluster.fork({ GATEWAY_GENERATION: String(this.generation), ...this.sources.toEnv() });
    this.current.add(replacement);
  }

  /** HUP: check the file again; on success new workers start and the old ones drain. */
  private async reload(): Promise<void> {
    if (this.stopping) return;
    if (this.reloading || this.current.size === 0) {
      // A HUP while workers start (or another reload runs) is done right after.
      this.reloadPending = true;
      return;
    }
    this.reloading = true;
    try {
      let next: MainConf;
      const nextSources = new ConfigSources();
      try {
        next = loadConfig({ file: this.conf.file, prefix: this.conf.prefix, sources: nextSources });
      } catch (err) {
        this.log.error(`reload: ${(err as Error).message}; the old configuration keeps serving`);
        return;
      }
      this.log.notice('reload: configuration checked, starting new worker processes');
      const previous = { conf: this.conf, sources: this.sources };
      this.conf = next;
      this.sources = nextSources;
      let fresh: Set<Worker>;
      try {
        fresh = await this.spawnGeneration();
      } catch (err) {
        this.conf = previous.conf;
        this.sources = previous.sources;
        this.log.error(`reload: ${(err as Error).message}; the old configuration keeps serving`);
        return;
      }
      if (next.http.pushRedisUrl !== previous.conf.http.pushRedisUrl) await this.push?.replace(storeBackend(next, this.log));
      const old = this.current;
      this.current = fresh;
      for (const worker of old) this.quit(worker);
      this.log.notice(`reload: new worker processes ready, ${old.size} old ones shutting down gracefully`);
    } finally {
      this.reloading = false;
      this.runPendingReload();
    }
  }

  private runPendingReload(): void {
    if (!this.reloadPending) return;
    this.reloadPending = false;
    void this.reload();
  }

  /** Asks a worker to drain and exit; one that cannot be asked (its channel is gone) is told by signal. */
  private quit(worker: Worker): void {
    sendToWorker(worker, { type: 'quit' } satisfies WorkerMessage).catch(() => worker.process.kill('SIGQUIT'));
  }

  private reopen(): void {
    this.files.reopen();
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGUSR1');
  }

  /** QUIT: every worker drains, then the master exits; TERM: workers exit at once. */
  private stop(graceful: boolean): void {
    this.stopping = true;
    this.log.notice(graceful ? 'gracefully shutting down' : 'exiting');
    const exitWhenAlone = () => {
      if (Object.keys(cluster.workers ?? {}).length > 0) return;
      removePid(this.conf);
      void Promise.allSettled([this.push?.close()]).then(() => this.files.close()).then(() => process.exit(0));
    };
    cluster.on('exit', () => setImmediate(exitWhenAlone));
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (!worker) continue;
      if (graceful) this.quit(worker);
      else worker.process.kill('SIGTERM');
    }
    exitWhenAlone();
  }
}

function writePid(conf: MainConf): void {
  if (!conf.pid) return;
  mkdirSync(path.dirname(conf.pid), { recursive: true });
  writeFileSync(conf.pid, `${process.pid}\n`);
}

function removePid(conf: MainConf): void {
  if (conf.pid) rmSync(conf.pid, { force: true });
}
