/**
 * One serving process: a worker under the master, or the whole gateway with `master_process
 * off`. It builds the Gateway, tells the master it is ready, and shuts down on the master's word
 * (graceful: drain) or on a signal.
 */
import cluster from 'node:cluster';
import type { MainConf } from '../config/model';
import type { LogFiles } from '../shared/log';
import { answerInWorker, sendFinal } from '../modules/status/aggregate';
import { sendToMaster } from '../shared/ipc';
import { describeError } from '../shared/timers';
import { Gateway } from '../server/gateway';
import type { Logger } from '../types';
import { version } from '../http/version';
import { coreModule } from '../modules/core/module';
import { processTuningModule } from '../modules/tuning/process-module';
import { setUpWorker } from '../modules/tuning/worker-setup';
import { masterAsPeers } from './accept-turns';
import { startQuietMemoryReducer } from './quiet-memory-reducer';

/** What the master and its workers say to each other over the cluster channel. */
export type WorkerMessage = { type: 'ready' } | { type: 'quit' };

/** Starts serving `conf` in this process. Rejects if a listener cannot be bound. */
export async function runWorker(conf: MainConf, log: Logger, files: LogFiles, onExit?: () => void): Promise<void> {
  // A script's error outside any request (a throw in its own setTimeout, a promise it left
  // floating) is logged and the worker keeps serving, as OpenResty logs an error in a detached
  // light thread: by default Node would end the process and every connection with it.
  process.on('uncaughtException', (err) => log.error(`uncaught exception (outside any request): ${describeError(err)}`));
  process.on('unhandledRejection', (err) => log.error(`unhandled rejection (outside any request): ${describeError(err)}`));
  const gateway = new Gateway(conf, log, files);
  // nginx's worker process init: under a master only (`master_process off` keeps the process as it is, as nginx).
  // Under a master with several workers, a nearly full worker leaves new connections to its siblings (accept-turns.ts).
  const peers = cluster.isWorker && conf.workerProcesses > 1 ? masterAsPeers() : undefined;
  await gateway.start(cluster.isWorker ? () => setUpWorker(conf.main.get(processTuningModule), tempPaths(conf), log) : undefined, peers);
  log.notice(`gateway/${version} ${cluster.isWorker ? `worker process ${process.pid} started` : 'started in a single process'}`);
  // Workers run without V8's memory reducer (worker-v8-options.ts): this one waits for quiet.
  const stopReducer = cluster.isWorker ? startQuietMemoryReducer(log) : () => {};
  let stopping = false;
  const stop = async (graceful: boolean) => {
    if (stopping && graceful) return;
    stopping = true;
    stopReducer();
    log.notice(graceful ? `worker process ${process.pid} is shutting down gracefully` : `worker process ${process.pid} exiting`);
    await (graceful ? gateway.drain(conf.workerShutdownTimeout) : gateway.close());
    onExit?.();
    await sendFinal();
    await files.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop(false));
  process.once('SIGINT', () => void stop(false));
  process.on('SIGQUIT', () => void stop(true));
  process.on('SIGUSR1', () => files.reopen());
  if (cluster.isWorker) {
    // The master decides about reloads; a worker ignores a HUP sent to the whole group.
    process.on('SIGHUP', () => {});
    process.on('message', (msg: WorkerMessage) => msg.type === 'quit' && void stop(true));
    answerInWorker();
    // Without the master's channel, nobody waits for this worker: it stops.
    await sendToMaster({ type: 'ready' } satisfies WorkerMessage).catch(() => stop(false));
  } else {
    process.on('SIGHUP', () => log.warn('reload needs the master process ("master_process off" is set): restart the gateway instead'));
  }
}

/** Every `client_body_temp_path` of the configuration: the directories a worker writes. */
function tempPaths(conf: MainConf): string[] {
  const paths = [conf.http.confs.get(coreModule).clientBodyTempPath];
  for (const server of conf.http.servers) {
    paths.push(server.confs.get(coreModule).clientBodyTempPath);
    for (const location of server.locations) paths.push(location.confs.get(coreModule).clientBodyTempPath);
  }
  return paths;
}
