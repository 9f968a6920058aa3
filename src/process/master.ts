/**
 * The master process, as nginx's: it holds the pid file, forks `worker_processes` workers
 * (node:cluster; they share the listening sockets and accept on them directly), restarts a
 * worker that dies, and answers signals: HUP reloads (check the new configuration, start new
 * workers with it, then let the old ones drain), QUIT quits gracefully, TERM/INT stop at once,
 * USR1 reopens the logs.
 *
 * A reload never puts the master at risk: the new configuration is checked in a child process
 * under a timeout (`check-process.ts`), new workers must be ready within a timeout, and until
 * both succeed the serving generation keeps serving while the master goes on reaping and
 * replacing workers and answering signals. New workers build their configuration from exactly
 * the files the check read (`config-handoff.ts`).
 */
import cluster, { type Worker } from 'node:cluster';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { checkInChild, type RunningCheck } from './check-process';
import { masterView, type MasterConf } from './master-conf';
import type { MainConf } from '../config/model';
import type { ConfigSources, SourcesSnapshot } from '../config/sources';
import { handOffSources } from './config-handoff';
import { sendToWorker } from '../shared/ipc';
import { createErrorLog, LogFiles } from '../shared/log';
import { serveInMaster } from '../modules/status/aggregate';
import { storeBackend } from '../modules/push/channels';
import { PushHub } from '../modules/push/hub';
import { ZoneHub } from '../shared/zones/zone-hub';
import { storeZones } from '../shared/zones/zones';
import { DictKeeper } from '../shared/dict/shared-dicts';
import { newTicketSecret, TICKET_SECRET_ENV } from '../modules/ssl/ticket-keys';
import { WORKER_ID_ENV } from '../server/runtime';
import type { Logger } from '../types';
import { version } from '../http/version';
import { runWorker, type WorkerMessage } from './worker';
import { workerExecArgv } from './worker-v8-options';
import { AcceptTurns, type AcceptTurnMessage } from './accept-turns';

/** The environment variable that sets how long new workers may take to be ready (ms). */
export const WORKER_START_TIMEOUT_ENV = 'GATEWAY_WORKER_START_TIMEOUT_MS';

/** How long new workers may take to be ready by default (ms). */
const DEFAULT_WORKER_START_TIMEOUT_MS = 60_000;

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
    await new Master({ conf: masterView(conf), snapshot: sources.toSnapshot() }, log, files).start();
  } catch (err) {
    log.crit((err as Error).message);
    await files.close();
    throw err;
  }
}

/** A checked configuration as the master keeps it: its own part, and the files workers build theirs from. */
interface Checked {
  readonly conf: MasterConf;
  readonly snapshot: SourcesSnapshot;
}

/** The master: one generation of workers serves; older generations drain. */
class Master {
  private generation = 0;
  private current = new Set<Worker>();
  private stopping = false;
  private reloading = false;
  private reloadPending = false;
  private push: PushHub | null = null;
  private zones: ZoneHub | null = null;
  /** The shared dictionaries' memory: created here, inherited by every worker, kept across reloads. */
  private readonly dicts = new DictKeeper();
  /**
   * The TLS ticket secret of each checked configuration: one per generation of workers, so a
   * ticket one worker made resumes on another, and a reload makes a new one (as nginx's keys,
   * made with its SSL contexts in the master).
   */
  private readonly ticketSecrets = new WeakMap<Checked, string>();
  /** Each worker's number (`ngx.worker.id`): 0 to count - 1 in each generation; a replacement takes the dead one's. */
  private readonly workerIds = new Map<Worker, number>();
  /** Which workers stopped accepting, being nearly full (`accept-turns.ts`). */
  private readonly acceptTurns = new AcceptTurns();
  /** The reload check under way, stopped if the master stops. */
  private check: RunningCheck | null = null;
  private readonly workerStartTimeoutMs = positiveEnv(WORKER_START_TIMEOUT_ENV, DEFAULT_WORKER_START_TIMEOUT_MS);

  constructor(
    /** The serving configuration: what every worker of this generation (and a replacement) builds. */
    private serving: Checked,
    private log: Logger,
    private readonly files: LogFiles,
  ) {}

  private get conf(): MasterConf {
    return this.serving.conf;
  }

  async start(): Promise<void> {
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    // Push messages carry Buffers between the master and its workers; workers start without
    // V8's memory reducer (worker-v8-options.ts).
    cluster.setupPrimary({ serialization: 'advanced', execArgv: workerExecArgv(process.execArgv) });
    cluster.on('exit', (worker, code, signal) => this.onExit(worker, code, signal));
    // stub_status and metrics: a worker asks, the master sums every worker's counters.
    serveInMaster();
    // Push channels: the master holds them, so every worker shares them and they outlive reloads.
    this.push = new PushHub(storeBackend(this.conf.http.pushRedisUrl, this.log), this.log);
    // Shared zones (limit_req, limit_conn): the master holds them for every worker, across reloads.
    this.zones = new ZoneHub(storeZones(this.conf.http.zoneRedisUrl, this.log), this.log);
    // Signals are answered from the start: a HUP that comes while workers start is a reload.
    process.once('SIGTERM', () => this.stop(false));
    process.once('SIGINT', () => this.stop(false));
    process.once('SIGQUIT', () => this.stop(true));
    process.on('SIGHUP', () => void this.reload());
    process.on('SIGUSR1', () => this.reopen());
    writePid(this.conf);
    try {
      this.current = await this.spawnGeneration(this.serving);
    } catch (err) {
      removePid(this.conf);
      throw err;
    }
    this.runPendingReload();
    this.log.notice(`gateway/${version} master process ${process.pid} started with ${this.conf.workerProcesses} worker processes`);
  }

  /** Forks one worker of generation `generation` that builds its configuration from `checked`. */
  private fork(checked: Checked, generation: number, id: number): Worker {
    const dicts = this.dicts.prepare(checked.conf.http.sharedDicts);
    cluster.setupPrimary({ stdio: ['inherit', 'inherit', 'inherit', 'ipc', ...dicts.stdio] });
    let ticketSecret = this.ticketSecrets.get(checked);
    if (!ticketSecret) this.ticketSecrets.set(checked, (ticketSecret = newTicketSecret()));
    const worker = cluster.fork({ ...checked.conf.workerEnv, GATEWAY_GENERATION: String(generation), [WORKER_ID_ENV]: String(id), [TICKET_SECRET_ENV]: ticketSecret, ...dicts.env });
    this.workerIds.set(worker, id);
    this.acceptTurns.watch(worker);
    worker.on('message', (msg: AcceptTurnMessage) => this.acceptTurns.answer(worker, msg, this.current));
    handOffSources(worker, checked.snapshot);
    return worker;
  }

  /**
   * Forks a generation of workers; resolves when all are ready, rejects (and kills them) if one
   * dies first or they are not all ready within the start timeout.
   */
  private spawnGeneration(checked: Checked): Promise<Set<Worker>> {
    const generation = ++this.generation;
    const workers = new Set<Worker>();
    return new Promise((resolve, reject) => {
      let ready = 0;
      let settled = false;
      const fail = (reason: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        for (const w of workers) w.process.kill('SIGKILL');
        reject(new Error(reason));
      };
      const timer = setTimeout(() => fail(`worker processes were not ready within ${this.workerStartTimeoutMs} ms`), this.workerStartTimeoutMs);
      for (let i = 0; i < checked.conf.workerProcesses; i++) {
        const worker = this.fork(checked, generation, i);
        workers.add(worker);
        const failed = (code: number | null, signal: string | null) =>
          fail(`worker process ${worker.process.pid} ${signal ? `was killed by ${signal}` : `exited with code ${code}`} while starting`);
        worker.once('exit', failed);
        worker.on('message', (msg: WorkerMessage) => {
          if (msg?.type !== 'ready') return;
          worker.off('exit', failed);
          if (++ready === workers.size && !settled) {
            settled = true;
            clearTimeout(timer);
            resolve(workers);
          }
        });
      }
    });
  }

  /** A worker of the serving generation that dies is replaced, as nginx does. */
  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    const id = this.workerIds.get(worker) ?? 0;
    this.workerIds.delete(worker);
    this.acceptTurns.forget(worker);
    if (!this.current.has(worker) || this.stopping) return;
    this.current.delete(worker);
    this.log.error(`worker process ${worker.process.pid} exited ${signal ? `on signal ${signal}` : `with code ${code}`}; starting a new one`);
    this.current.add(this.fork(this.serving, this.generation, id));
  }

  /**
   * HUP: check the file again in a child process; on success new workers start with exactly
   * what was checked and the old ones drain. On any failure the serving generation stays.
   */
  private async reload(): Promise<void> {
    if (this.stopping) return;
    if (this.reloading || this.current.size === 0) {
      // A HUP while workers start (or another reload runs) is done right after.
      this.reloadPending = true;
      return;
    }
    this.reloading = true;
    try {
      const check = checkInChild({ file: this.conf.file, prefix: this.conf.prefix });
      this.check = check;
      this.log.notice(`reload: checking the configuration in process ${check.pid}`);
      const reply = await check.reply;
      this.check = null;
      if (this.stopping) return;
      if (!reply.ok) {
        this.log.error(`reload: ${reply.reason}; the old configuration keeps serving`);
        return;
      }
      for (const warning of reply.conf.warnings) this.log.warn(warning);
      this.log.notice('reload: configuration checked, starting new worker processes');
      const next: Checked = { conf: reply.conf, snapshot: reply.snapshot };
      let fresh: Set<Worker>;
      try {
        fresh = await this.spawnGeneration(next);
      } catch (err) {
        if (!this.stopping) this.log.error(`reload: ${(err as Error).message}; the old configuration keeps serving`);
        this.dicts.keepOnly(this.conf.http.sharedDicts);
        return;
      }
      if (this.stopping) return;
      const previous = this.serving;
      this.serving = next;
      if (next.conf.http.pushRedisUrl !== previous.conf.http.pushRedisUrl) await this.push?.replace(storeBackend(next.conf.http.pushRedisUrl, this.log));
      if (next.conf.http.zoneRedisUrl !== previous.conf.http.zoneRedisUrl) await this.zones?.replace(storeZones(next.conf.http.zoneRedisUrl, this.log));
      this.dicts.keepOnly(next.conf.http.sharedDicts);
      const old = this.current;
      this.current = fresh;
      for (const worker of old) this.quit(worker);
      this.log.notice(`reload: new worker processes ready, ${old.size} old ones shutting down gracefully`);
    } finally {
      this.check = null;
      this.reloading = false;
      this.runPendingReload();
    }
  }

  private runPendingReload(): void {
    if (!this.reloadPending || this.stopping) return;
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
    this.check?.cancel();
    this.log.notice(graceful ? 'gracefully shutting down' : 'exiting');
    const exitWhenAlone = () => {
      if (Object.keys(cluster.workers ?? {}).length > 0) return;
      removePid(this.conf);
      void Promise.allSettled([this.push?.close(), this.zones?.close()]).then(() => this.files.close()).then(() => process.exit(0));
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

/** A positive integer from the environment variable `name`, or `fallback`. */
function positiveEnv(name: string, fallback: number): number {
  const value = Number(process.env[name]);
  return Number.isSafeInteger(value) && value > 0 ? value : fallback;
}

function writePid(conf: { readonly pid: string | null }): void {
  if (!conf.pid) return;
  mkdirSync(path.dirname(conf.pid), { recursive: true });
  writeFileSync(conf.pid, `${process.pid}\n`);
}

function removePid(conf: { readonly pid: string | null }): void {
  if (conf.pid) rmSync(conf.pid, { force: true });
}
